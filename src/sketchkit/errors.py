"""The one exception hierarchy of sketchkit.

Every error the library raises on purpose derives from :class:`SketchError`, and each
also derives from the built-in exception a Python user would expect (``ValueError`` or
``TypeError``), so ``except ValueError`` keeps working in code that predates sketchkit.

>>> issubclass(IncompatibleSketchError, ValueError)
True
"""

from __future__ import annotations

__all__ = [
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


class SketchError(Exception):
    """Base class of every error sketchkit raises on purpose."""


class InvalidParameterError(SketchError, ValueError):
    """A constructor or method argument is out of range (width 0, epsilon > 1, ...)."""


class ItemTypeError(SketchError, TypeError):
    """An item or weight has a type the frozen item encoding does not cover (float, None, ...)."""


class InvalidItemError(SketchError, ValueError):
    """An item has a supported type but no canonical encoding (an int outside int64, a str with
    a lone surrogate that UTF-8 cannot encode)."""


class IncompatibleSketchError(SketchError, ValueError):
    """Two sketches cannot be merged: different class, shape, seed or format version."""


class CounterOverflowError(SketchError, OverflowError):
    """An update would push a counter past the range of a signed 64-bit integer.

    Raised before any state changes, so the sketch is left exactly as it was.
    """


class SerializationError(SketchError, ValueError):
    """Base class of the errors :func:`sketchkit.from_bytes` raises on bad input."""


class CorruptSketchError(SerializationError):
    """The bytes are truncated, fail their checksum, or describe an impossible sketch."""


class UnsupportedVersionError(SerializationError):
    """The bytes were written by a newer format version than this library reads."""


class WrongSketchTypeError(SerializationError):
    """The bytes hold a valid sketch of another class than the one asked for."""
