"""sketchkit: streaming data sketches with stated, tested guarantees."""

from __future__ import annotations

from typing import Any

from . import _format
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
from .frequency import CountMin, CountSketch, DyadicHeavyHitters, HeavyHitters, SpaceSaving, TopRow
from .hashing import DEFAULT_SEED

__version__ = "0.1.0"


def from_bytes(data: bytes | bytearray | memoryview) -> Any:
    """Rebuild any sketchkit sketch from its bytes (the class is read from the header)."""
    return _format.load(data)


__all__ = [
    "CountSketch",
    "CountMin",
    "SpaceSaving",
    "HeavyHitters",
    "DyadicHeavyHitters",
    "TopRow",
    "DEFAULT_SEED",
    "from_bytes",
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
