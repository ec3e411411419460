"""Byte codec for the tracked items of SpaceSaving and HeavyHitters.

Each item is a tag byte then its data: ``0`` int (8 bytes, little-endian, signed);
``1`` str (u32 length, UTF-8); ``2`` bytes (u32 length, raw). The tag keeps the type a user
put in, although a str and its UTF-8 bytes hash to the same item.
"""

from __future__ import annotations

import struct
from typing import Any

from .._format import Reader
from ..errors import CorruptSketchError
from ..hashing import encode_item

_INT, _STR, _BYTES = 0, 1, 2


def encode_items(items: list[Any]) -> bytes:
    parts = []
    for x in items:
        if isinstance(x, str):
            data = x.encode("utf-8")
            parts.append(struct.pack("<BI", _STR, len(data)) + data)
        elif isinstance(x, (bytes, bytearray, memoryview)):
            data = bytes(x)
            parts.append(struct.pack("<BI", _BYTES, len(data)) + data)
        else:
            parts.append(bytes([_INT]) + encode_item(x))
    return b"".join(parts)


def decode_items(reader: Reader, count: int) -> list[Any]:
    out: list[Any] = []
    for _ in range(count):
        (tag,) = reader.unpack("B")
        if tag == _INT:
            (value,) = reader.unpack("q")
            out.append(value)
        elif tag in (_STR, _BYTES):
            (length,) = reader.unpack("I")
            data = reader.raw(length)
            if tag == _STR:
                try:
                    out.append(data.decode("utf-8"))
                except UnicodeDecodeError:
                    raise CorruptSketchError("tracked item is not valid UTF-8") from None
            else:
                out.append(data)
        else:
            raise CorruptSketchError(f"unknown item tag {tag}")
    return out

