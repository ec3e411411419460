"""Robustness to adversarial and adaptive inputs: keyed sketches, robust estimators, trackers.

See ``docs/robustness.md`` for which sketch survives which threat model, and
:mod:`sketchkit.robust.attacks` for the attacks that test them.
"""

from ._siphash import keyed_hash_items, siphash24
from .keyed import KeyedCountMin, KeyedCountSketch, key_id, new_key

__all__ = [
    "KeyedCountSketch",
    "KeyedCountMin",
    "new_key",
    "key_id",
    "keyed_hash_items",
    "siphash24",
]
