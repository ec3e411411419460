"""Where a top-k summary keeps its tracked str/bytes items: their encodings in one arena.

A Python str object costs 49 bytes of header before its characters, plus an 8-byte list entry:
a 6-character token held as an object costs ~63 bytes, four times its slot. Here a slot holds a
reference of 8 bytes (u32 offset into the arena, i32 length with the type in its low bit, -1 for
"no object": an int item, recovered from its hash) and the arena holds the UTF-8 or raw bytes.
An item becomes a Python object again only when it is reported (``top``, bytes, merges).

A replaced item's bytes stay in the arena as garbage until an append finds no room; then the
arena is compacted if garbage is at least half the live bytes, else it grows by half. So the
arena holds at most ``ARENA_FACTOR`` times the largest live size it has had (items replaced by
int items or dropped leave their bytes until the next append that needs room), which is what
:data:`ITEM_PLAN_BYTES` charges per item when a budget for a full summary is planned.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import hashing
from ..errors import ItemTypeError
from ..hashing import encoded_buffer

NO_OBJECT = -1
REF_BYTES = 8  # u32 offset + i32 tagged length per slot
ARENA_FACTOR = 2.25  # live bytes x (1 + 1/2 garbage) x (1 + 1/2 growth)
TYPICAL_ENCODED = 8  # planning figure for one str item's UTF-8 bytes
ITEM_PLAN_BYTES = REF_BYTES + int(ARENA_FACTOR * TYPICAL_ENCODED + 0.5)


def _all_str(items: list[Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """The UTF-8 of a list of str, packed by the compiled helper, or None (another item type,
    a str without UTF-8, or no helper)."""
    pack = hashing._pack
    if pack is None or type(items) is not list or not items or type(items[0]) is not str:
        return None
    try:
        packed = pack.pack_str(items)
    except UnicodeEncodeError:
        return None
    if packed is None:
        return None
    return np.frombuffer(packed[0], dtype=np.uint8), np.frombuffer(packed[1], dtype=np.int64)


class ItemStore:
    """Per-slot str/bytes items in an arena (see the module docstring)."""

    __slots__ = ("_off", "_len", "_arena", "_used", "_garbage")

    def __init__(self, slots: int):
        self._off = np.zeros(slots, dtype=np.uint32)
        self._len = np.full(slots, NO_OBJECT, dtype=np.int32)
        self._arena = np.zeros(64, dtype=np.uint8)
        self._used = 0
        self._garbage = 0

    @property
    def nbytes(self) -> int:
        return int(self._off.nbytes + self._len.nbytes + self._arena.nbytes)

    def __len__(self) -> int:
        return self._off.shape[0]

    def resize(self, slots: int, keep: int) -> None:
        """Change the number of slots, keeping the first ``keep``."""
        off, ln = self._off, self._len
        for s in range(keep, off.shape[0]):  # dropped slots' bytes become garbage
            if ln[s] != NO_OBJECT:
                self._garbage += int(ln[s]) >> 1
        self._off = np.zeros(slots, dtype=np.uint32)
        self._len = np.full(slots, NO_OBJECT, dtype=np.int32)
        self._off[:keep] = off[:keep]
        self._len[:keep] = ln[:keep]

    def put(self, slot: int, item: Any) -> None:
        """Hold ``item`` (str or bytes-like) in ``slot``, or nothing for an int (None)."""
        old = int(self._len[slot])
        if old != NO_OBJECT:
            self._garbage += old >> 1
        if item is None or isinstance(item, (int, np.integer)):
            self._len[slot] = NO_OBJECT
            return
        if isinstance(item, str):
            data, tag = item.encode("utf-8"), 0
        elif isinstance(item, (bytes, bytearray, memoryview)):
            data, tag = bytes(item), 1
        else:
            raise ItemTypeError(f"cannot hold an item of type {type(item).__name__}")
        n = len(data)
        if self._used + n > self._arena.shape[0]:
            self._make_room(n, exclude=slot)
        self._arena[self._used : self._used + n] = np.frombuffer(data, dtype=np.uint8)
        self._off[slot] = self._used
        self._len[slot] = (n << 1) | tag
        self._used += n

    def put_many(self, slots: list[int], items: list[Any]) -> None:
        """``put`` for many distinct slots at once: one encoding pass (the compiled packer of
        :func:`sketchkit.hashing.encoded_buffer`) and one copy into the arena, instead of a
        Python call and a numpy copy per item (which cost as much as the SpaceSaving update
        itself on the demo's token stream)."""
        if not slots:
            return
        idx = np.asarray(slots, dtype=np.intp)
        old = self._len[idx]
        self._garbage += int((old[old != NO_OBJECT] >> 1).sum())
        self._len[idx] = NO_OBJECT
        packed = _all_str(items)
        if packed is not None:  # the common case, a text stream: every item a str, packed in C
            data, offsets = packed
            targets, tags = idx, 0
        else:
            keep = [i for i, x in enumerate(items) if x is not None and not isinstance(x, (int, np.integer))]
            if not keep:
                return
            objs = [items[i] for i in keep]
            for x in objs:
                if not isinstance(x, (str, bytes, bytearray, memoryview)):
                    raise ItemTypeError(f"cannot hold an item of type {type(x).__name__}")
            data, offsets = encoded_buffer(objs)
            tags = np.fromiter((0 if isinstance(x, str) else 1 for x in objs), dtype=np.int32, count=len(objs))
            targets = idx[keep]
        n = int(offsets[-1])
        if self._used + n > self._arena.shape[0]:
            self._make_room(n, exclude=-1)  # the target slots hold nothing now
        self._arena[self._used : self._used + n] = data
        self._off[targets] = (self._used + offsets[:-1]).astype(np.uint32)
        self._len[targets] = (np.diff(offsets).astype(np.int32) << 1) | tags
        self._used += n

    def get(self, slot: int) -> Any:
        """The item in ``slot``: a str or bytes, or None for an int item."""
        ln = int(self._len[slot])
        if ln == NO_OBJECT:
            return None
        start = int(self._off[slot])
        raw = self._arena[start : start + (ln >> 1)].tobytes()
        return raw if ln & 1 else raw.decode("utf-8")

    def items(self, size: int) -> list[Any]:
        """The items of slots ``0..size-1`` (None for int items): one copy of the arena and a
        slice per item, not a ``get`` per slot (a 1 MiB summary's top-k listing spent most of
        a second `sketchkit topk` there)."""
        out: list[Any] = [None] * size
        ln = self._len[:size]
        held = np.flatnonzero(ln != NO_OBJECT)
        if held.size == 0:
            return out
        data = self._arena[: self._used].tobytes()
        for s, start, tagged in zip(held.tolist(), self._off[held].tolist(), ln[held].tolist()):
            raw = data[start : start + (tagged >> 1)]
            out[s] = raw if tagged & 1 else raw.decode("utf-8")
        return out

    def _make_room(self, n: int, exclude: int) -> None:
        live = self._used - self._garbage
        if self._garbage >= max(live // 2, 64):
            self._compact(n, exclude)
        else:
            grown = np.zeros(max(64, int(1.5 * (self._used + n))), dtype=np.uint8)
            grown[: self._used] = self._arena[: self._used]
            self._arena = grown

    def _compact(self, n: int, exclude: int) -> None:
        """Copy the live spans into a fresh arena with room for ``n`` more bytes (``exclude``:
        the slot being rewritten, whose old bytes are already garbage)."""
        held = np.flatnonzero(self._len != NO_OBJECT)
        held = held[held != exclude]
        lengths = (self._len[held] >> 1).astype(np.int64)
        live = int(lengths.sum())
        arena = np.zeros(max(64, int(1.5 * (live + n))), dtype=np.uint8)
        if held.size:
            starts = self._off[held].astype(np.int64)
            new_starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            # gather every live byte in one fancy-indexing pass
            within = np.arange(live, dtype=np.int64) - np.repeat(new_starts, lengths)
            arena[:live] = self._arena[np.repeat(starts, lengths) + within]
            self._off[held] = new_starts.astype(np.uint32)
        if exclude >= 0 and self._len[exclude] != NO_OBJECT:
            self._len[exclude] = NO_OBJECT
        self._arena = arena
        self._used = live
        self._garbage = 0
