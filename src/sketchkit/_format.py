"""The versioned byte format shared by every sketch.

All integers are little-endian. A serialized sketch is::

    offset  size  field
    0       4     magic  b"SKKT"
    4       1     format version (this library writes and reads 1)
    5       1     family id (assigned in sketchkit._ids; each family's module registers
                  its reader)
    6       2     flags (family specific)
    8       8     hash seed (uint64)
    16      8     payload length P (uint64)
    24      P     payload (family specific; documented in each family's module)
    24+P    4     CRC-32 (zlib) of bytes [0, 24+P)

The reader checks, in order: length, magic, checksum, version, family, payload length.
Arrays are only ever built from bytes actually present, so a crafted header cannot make the
reader allocate more than the input's own size.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np

from .errors import CorruptSketchError, UnsupportedVersionError, WrongSketchTypeError

MAGIC = b"SKKT"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<4sBBHQQ")
HEADER_SIZE = _HEADER.size
TRAILER_SIZE = 4

FAMILY_NAMES: dict[int, str] = {}
_REGISTRY: dict[int, Any] = {}
ENTRY_POINT_GROUP = "sketchkit.families"


def _lookup(family: int) -> Any:
    """The class registered for ``family``; an unknown id loads the extension packages that
    declare ``sketchkit.families`` entry points (a missing extra leaves the id unknown)."""
    if family not in _REGISTRY:
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if family in _REGISTRY:
                break
            try:
                ep.load()
            except ImportError:  # an extra is missing: its families stay unreadable
                continue
    return _REGISTRY.get(family)


def register(family: int, cls: Any) -> None:
    """Declare ``cls`` the reader of ``family`` (one class per family id)."""
    known = _REGISTRY.get(family)
    if known is not None and known is not cls and (known.__module__, known.__qualname__) != (
        cls.__module__,
        cls.__qualname__,
    ):  # the same class again (a module imported twice, a reload) replaces itself
        raise RuntimeError(f"family id {family} registered twice: {known.__qualname__} and {cls.__qualname__}")
    _REGISTRY[family] = cls
    FAMILY_NAMES[family] = cls.__name__


def pack(family: int, seed: int, payload: bytes, flags: int = 0) -> bytes:
    head = _HEADER.pack(MAGIC, FORMAT_VERSION, family, flags, seed, len(payload))
    body = head + payload
    return body + struct.pack("<I", zlib.crc32(body))


def unpack(data: Any) -> tuple[int, int, int, memoryview]:
    """Check ``data`` and return ``(family, flags, seed, payload)``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"sketch bytes must be bytes-like, got {type(data).__name__}")
    view = memoryview(data).cast("B")
    if len(view) < HEADER_SIZE + TRAILER_SIZE:
        raise CorruptSketchError(f"sketch bytes truncated: {len(view)} bytes, need at least 28")
    magic, version, family, flags, seed, length = _HEADER.unpack_from(view, 0)
    if magic != MAGIC:
        raise CorruptSketchError("not a sketchkit sketch (bad magic bytes)")
    if length != len(view) - HEADER_SIZE - TRAILER_SIZE:
        raise CorruptSketchError(
            f"sketch bytes truncated or padded: header says {length} payload bytes, "
            f"{len(view) - HEADER_SIZE - TRAILER_SIZE} present"
        )
    (crc,) = struct.unpack_from("<I", view, len(view) - TRAILER_SIZE)
    if zlib.crc32(view[: len(view) - TRAILER_SIZE]) != crc:
        raise CorruptSketchError("sketch bytes corrupted: checksum mismatch")
    if version > FORMAT_VERSION:
        raise UnsupportedVersionError(
            f"sketch written by format version {version}; this sketchkit reads up to {FORMAT_VERSION}"
        )
    if version < 1:
        raise CorruptSketchError(f"invalid format version {version}")
    if _lookup(family) is None:
        raise CorruptSketchError(f"unknown sketch family id {family}")
    return family, flags, seed, view[HEADER_SIZE : len(view) - TRAILER_SIZE]


def load(data: Any, expected: Any = None) -> Any:
    """Rebuild a sketch from bytes; with ``expected`` (a class) refuse other families."""
    family, flags, seed, payload = unpack(data)
    cls = _REGISTRY[family]
    if expected is not None and not issubclass(cls, expected):
        raise WrongSketchTypeError(f"bytes hold a {cls.__name__}, not a {expected.__name__}")
    reader = Reader(payload)
    obj = cls._from_payload(seed, flags, reader)
    reader.finish()
    return obj


class Reader:
    """Bounds-checked cursor over a payload; every shortfall is a CorruptSketchError."""

    def __init__(self, view: memoryview):
        self._view = view
        self._pos = 0

    def _take(self, n: int) -> memoryview:
        if n < 0 or self._pos + n > len(self._view):
            raise CorruptSketchError("sketch payload truncated or its sizes are inconsistent")
        chunk = self._view[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def unpack(self, fmt: str) -> tuple:
        st = struct.Struct("<" + fmt)
        return st.unpack(self._take(st.size))

    def array(self, dtype: Any, count: int) -> np.ndarray:
        dt = np.dtype(dtype).newbyteorder("<")
        raw = self._take(count * dt.itemsize)
        return np.frombuffer(raw, dtype=dt).astype(dt.newbyteorder("="), copy=True)

    def raw(self, n: int) -> bytes:
        return bytes(self._take(n))

    @property
    def remaining(self) -> int:
        return len(self._view) - self._pos

    def finish(self) -> None:
        if self._pos != len(self._view):
            raise CorruptSketchError(f"sketch payload has {len(self._view) - self._pos} unexpected trailing bytes")


def le_bytes(arr: np.ndarray) -> bytes:
    """Array contents as little-endian bytes, whatever the platform's byte order."""
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
