"""sketchkit: streaming data sketches with stated, tested guarantees.

The sketch classes are imported on first use (PEP 562 module ``__getattr__``), so that
``import sketchkit`` and ``sketchkit --help`` load neither numpy's heavier parts nor numba;
``sketchkit.CountSketch``, ``from sketchkit import CountSketch``, ``dir(sketchkit)`` and
``__all__`` behave as if everything were imported eagerly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    CorruptSketchError,
    CounterOverflowError,
    IncompatibleSketchError,
    InvalidItemError,
    InvalidParameterError,
    ItemTypeError,
    SerializationError,
    SketchError,
    UnsupportedVersionError,
    WrongSketchTypeError,
)

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from ._threads import get_threads, set_threads, threads
    from .cardinality import Distinct, ThetaSketch
    from .frequency import CountMin, CountSketch, DyadicHeavyHitters, HeavyHitters, SpaceSaving, TopRow
    from .hashing import DEFAULT_SEED
    from .quantiles import KLL, DDSketch
    from .similarity import FastSimilaritySketch, MinHash, MinHashLSH, OnePermMinHash, Shingling

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY = {
    "CountSketch": ".frequency",
    "CountMin": ".frequency",
    "SpaceSaving": ".frequency",
    "HeavyHitters": ".frequency",
    "DyadicHeavyHitters": ".frequency",
    "TopRow": ".frequency",
    "DEFAULT_SEED": ".hashing",
    "MinHash": ".similarity",
    "OnePermMinHash": ".similarity",
    "FastSimilaritySketch": ".similarity",
    "MinHashLSH": ".similarity",
    "Shingling": ".similarity",
    "Distinct": ".cardinality",
    "ThetaSketch": ".cardinality",
    "KLL": ".quantiles",
    "DDSketch": ".quantiles",
    "get_threads": "._threads",
    "set_threads": "._threads",
    "threads": "._threads",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def from_bytes(data: bytes | bytearray | memoryview) -> Any:
    """Rebuild any sketchkit sketch from its bytes (the class is read from the header)."""
    from . import _format, frequency  # noqa: F401  (frequency registers the core families)

    return _format.load(data)


__all__ = [
    "CountSketch",
    "CountMin",
    "SpaceSaving",
    "HeavyHitters",
    "DyadicHeavyHitters",
    "TopRow",
    "MinHash",
    "OnePermMinHash",
    "FastSimilaritySketch",
    "MinHashLSH",
    "Shingling",
    "Distinct",
    "ThetaSketch",
    "KLL",
    "DDSketch",
    "DEFAULT_SEED",
    "from_bytes",
    "get_threads",
    "set_threads",
    "threads",
    "SketchError",
    "InvalidParameterError",
    "ItemTypeError",
    "InvalidItemError",
    "IncompatibleSketchError",
    "CounterOverflowError",
    "SerializationError",
    "CorruptSketchError",
    "UnsupportedVersionError",
    "WrongSketchTypeError",
]
