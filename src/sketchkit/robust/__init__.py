"""Robustness to adversarial and adaptive inputs: keyed sketches, robust estimators, trackers.

* :class:`KeyedCountSketch`, :class:`KeyedCountMin` — secret-key hashing (SipHash-2-4): stops
  offline collision crafting by someone who knows the code and the seed.
* :class:`RobustCountSketch` — keyed CountSketch answering through a noisy median, with a
  measured query budget per copy and sketch switching past it.
* :class:`RobustTopK` — a public top-k list over stream windows on a :class:`RobustCountSketch`.
* :class:`NoisyMedianEstimator` — adaptive point queries on a CountSketch at equal memory.
* :class:`SwitchingTracker`, :class:`DPMedianTracker` — F₂ tracking under adaptive streams,
  at ``copies``× memory.

See ``docs/robustness.md`` for which sketch survives which threat model, and
:mod:`sketchkit.robust.attacks` for the attacks that test them.
"""

from ._siphash import keyed_hash_items, siphash24
from .keyed import KeyedCountMin, KeyedCountSketch, key_id, new_key
from .noisy_median import NoisyMedianEstimator, QueryBudgetWarning
from .robust_countsketch import QueryBudgetExhausted, RobustCountSketch
from .topk import RobustTopK
from .tracking import CopiesExhaustedError, DPMedianTracker, SwitchingTracker

__all__ = [
    "KeyedCountSketch",
    "KeyedCountMin",
    "new_key",
    "key_id",
    "keyed_hash_items",
    "siphash24",
    "RobustCountSketch",
    "QueryBudgetExhausted",
    "RobustTopK",
    "NoisyMedianEstimator",
    "QueryBudgetWarning",
    "SwitchingTracker",
    "DPMedianTracker",
    "CopiesExhaustedError",
]
