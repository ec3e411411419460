"""Where a top-k summary keeps its tracked str/bytes items: short ones inline in their slot, the
encodings of longer ones in one arena.

A Python str object costs 49 bytes of header before its characters, plus an 8-byte list entry:
a 6-character token held as an object costs ~63 bytes, four times its slot. Here a slot holds 9
bytes: a length code ``_len`` (uint8: the length of an item of at most ``INLINE_MAX`` bytes,
``IN_ARENA`` for a longer one, ``NO_OBJECT`` for an int item, recovered from its hash; plus
``BYTES_FLAG`` for a bytes item) and ``_off`` (uint64: the item's UTF-8 or raw bytes themselves,
little-endian, when it is short, else its arena offset in the low 32 bits and its length in the
high 32). A token of up to 8 bytes (most words of a text) thus costs its 9 bytes and nothing
else. An item becomes a Python object again only when it is reported (``top``, bytes, merges).

A replaced long item's bytes stay in the arena as garbage until an append finds no room; then
the arena is compacted if garbage is at least half the live bytes, else it grows by half. So the
arena holds at most ``ARENA_FACTOR`` times the largest live size it has had (items replaced by
short or int items or dropped leave their bytes until the next append that needs room), and it
is empty until a long item arrives. A budget for a full summary of text tokens is planned with
:data:`ITEM_PLAN_BYTES` per item: the 9-byte reference and ``ARENA_FACTOR`` times
``TYPICAL_ARENA`` bytes, the arena bytes a tracked token has on average (its tokens longer than
8 bytes, spread over all: 4.1-4.4 live bytes per item for the standard library's tokens of
``sketchkit demo``, 1.8-3.2 for W2's, at 16 and 64 KiB).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import hashing
from ..errors import ItemTypeError
from ..hashing import encoded_buffer

INLINE_MAX = 8  # bytes held in the slot itself
IN_ARENA = 0x0E  # length code: in the arena (offset and length in _off)
NO_OBJECT = 0x0F  # length code: no object (an int item)
BYTES_FLAG = 0x10  # added to the length code of a bytes item
REF_BYTES = 8 + 1  # _off + _len per slot
ARENA_FACTOR = 2.25  # live bytes x (1 + 1/2 garbage) x (1 + 1/2 growth)
TYPICAL_ARENA = 4  # planning figure: a text token's average arena bytes (module docstring)
ITEM_PLAN_BYTES = REF_BYTES + int(ARENA_FACTOR * TYPICAL_ARENA + 0.5)
_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
# the low L bytes of a little-endian word, for L = 0..8
_MASKS = np.array([(1 << (8 * n)) - 1 for n in range(INLINE_MAX + 1)], dtype=np.uint64)


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


def _encode(item: Any) -> tuple[bytes, int]:
    if isinstance(item, str):
        return item.encode("utf-8"), 0
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item), BYTES_FLAG
    raise ItemTypeError(f"cannot hold an item of type {type(item).__name__}")


class ItemStore:
    """Per-slot str/bytes items, short ones inline, long ones in an arena (module docstring)."""

    __slots__ = ("_off", "_len", "_arena", "_used", "_garbage")

    def __init__(self, slots: int):
        self._off = np.zeros(slots, dtype=np.uint64)
        self._len = np.full(slots, NO_OBJECT, dtype=np.uint8)
        self._arena = np.zeros(0, dtype=np.uint8)
        self._used = 0
        self._garbage = 0

    @property
    def nbytes(self) -> int:
        return int(self._off.nbytes + self._len.nbytes + self._arena.nbytes)

    def __len__(self) -> int:
        return self._off.shape[0]

    def _arena_bytes(self, idx: np.ndarray) -> int:
        """Arena bytes of the slots ``idx`` (0 for inline and int items)."""
        held = idx[(self._len[idx] & 0x0F) == IN_ARENA]
        return int((self._off[held] >> _SHIFT32).sum()) if held.size else 0

    def resize(self, slots: int, keep: int) -> None:
        """Change the number of slots, keeping the first ``keep``."""
        self._garbage += self._arena_bytes(np.arange(keep, self._off.shape[0]))
        off, ln = self._off, self._len
        self._off = np.zeros(slots, dtype=np.uint64)
        self._len = np.full(slots, NO_OBJECT, dtype=np.uint8)
        self._off[:keep] = off[:keep]
        self._len[:keep] = ln[:keep]

    def put(self, slot: int, item: Any) -> None:
        """Hold ``item`` (str or bytes-like) in ``slot``, or nothing for an int (None)."""
        if int(self._len[slot]) & 0x0F == IN_ARENA:
            self._garbage += int(self._off[slot] >> _SHIFT32)
        self._len[slot] = NO_OBJECT
        if item is None or isinstance(item, (int, np.integer)):
            return
        data, flag = _encode(item)
        n = len(data)
        if n <= INLINE_MAX:
            self._off[slot] = int.from_bytes(data, "little")
            self._len[slot] = n | flag
            return
        if self._used + n > self._arena.shape[0]:
            self._make_room(n)
        self._arena[self._used : self._used + n] = np.frombuffer(data, dtype=np.uint8)
        self._off[slot] = self._used | (n << 32)
        self._len[slot] = IN_ARENA | flag
        self._used += n

    def put_many(self, slots: Any, items: list[Any]) -> None:
        """``put`` for many distinct slots at once: one encoding pass (the compiled packer of
        :func:`sketchkit.hashing.encoded_buffer`), the short items' bytes gathered into their
        slots and the long ones' copied into the arena in one go, instead of a Python call and
        a numpy copy per item (which cost as much as the SpaceSaving update itself on the
        demo's token stream)."""
        if len(slots) == 0:
            return
        idx = np.asarray(slots, dtype=np.intp)
        self._garbage += self._arena_bytes(idx)
        self._len[idx] = NO_OBJECT
        packed = _all_str(items)
        if packed is not None:  # the common case, a text stream: every item a str, packed in C
            data, offsets = packed
            targets, flags = idx, np.zeros(len(items), dtype=np.uint8)
        else:
            keep = [i for i, x in enumerate(items) if x is not None and not isinstance(x, (int, np.integer))]
            if not keep:
                return
            objs = [items[i] for i in keep]
            for x in objs:
                if not isinstance(x, (str, bytes, bytearray, memoryview)):
                    raise ItemTypeError(f"cannot hold an item of type {type(x).__name__}")
            data, offsets = encoded_buffer(objs)
            flags = np.fromiter((0 if isinstance(x, str) else BYTES_FLAG for x in objs), dtype=np.uint8,
                                count=len(objs))
            targets = idx[keep]
        starts = offsets[:-1]
        lengths = np.diff(offsets)
        short = lengths <= INLINE_MAX
        if short.any():  # each short item: the 8 bytes from its start, read as one word, masked
            s_start, s_len = starts[short], lengths[short]
            padded = np.concatenate([data, np.zeros(INLINE_MAX, dtype=np.uint8)])
            words = np.ndarray((padded.shape[0] - INLINE_MAX + 1,), dtype="<u8", buffer=padded, strides=(1,))
            self._off[targets[short]] = words[s_start] & _MASKS[s_len]
            self._len[targets[short]] = s_len.astype(np.uint8) | flags[short]
        long_ = ~short
        if long_.any():
            l_len = lengths[long_]
            n = int(l_len.sum())
            if self._used + n > self._arena.shape[0]:
                self._make_room(n)
            new_starts = self._used + np.concatenate(([0], np.cumsum(l_len)[:-1]))
            self._arena[self._used : self._used + n] = data[np.repeat(long_, lengths)]  # their bytes, in order
            self._off[targets[long_]] = new_starts.astype(np.uint64) | (l_len.astype(np.uint64) << _SHIFT32)
            self._len[targets[long_]] = IN_ARENA | flags[long_]
            self._used += n

    def get(self, slot: int) -> Any:
        """The item in ``slot``: a str or bytes, or None for an int item."""
        code = int(self._len[slot])
        if code == NO_OBJECT:
            return None
        ref = int(self._off[slot])
        if code & 0x0F == IN_ARENA:
            start = ref & 0xFFFFFFFF
            raw = self._arena[start : start + (ref >> 32)].tobytes()
        else:
            raw = ref.to_bytes(8, "little")[: code & 0x0F]
        return raw if code & BYTES_FLAG else raw.decode("utf-8")

    def items(self, size: int) -> list[Any]:
        """The items of slots ``0..size-1`` (None for int items): one copy of the arena and a
        slice per item, not a ``get`` per slot (a 1 MiB summary's top-k listing spent most of
        a second `sketchkit topk` there)."""
        out: list[Any] = [None] * size
        codes = self._len[:size]
        held = np.flatnonzero(codes != NO_OBJECT)
        if held.size == 0:
            return out
        arena = self._arena[: self._used].tobytes()
        inline = self._off[:size].astype("<u8").tobytes()
        for s, code, ref in zip(held.tolist(), codes[held].tolist(), self._off[held].tolist()):
            if code & 0x0F == IN_ARENA:
                start = ref & 0xFFFFFFFF
                raw = arena[start : start + (ref >> 32)]
            else:
                raw = inline[8 * s : 8 * s + (code & 0x0F)]
            out[s] = raw if code & BYTES_FLAG else raw.decode("utf-8")
        return out

    def _make_room(self, n: int) -> None:
        """Room for ``n`` more arena bytes (every slot being rewritten is already marked empty,
        its old bytes counted as garbage)."""
        live = self._used - self._garbage
        if self._garbage >= max(live // 2, 64):
            self._compact(n)
        else:
            grown = np.zeros(max(64, int(1.5 * (self._used + n))), dtype=np.uint8)
            grown[: self._used] = self._arena[: self._used]
            self._arena = grown

    def _compact(self, n: int) -> None:
        """Copy the live spans into a fresh arena with room for ``n`` more bytes."""
        held = np.flatnonzero((self._len & 0x0F) == IN_ARENA)
        refs = self._off[held]
        starts = (refs & _LOW32).astype(np.int64)
        lengths = (refs >> _SHIFT32).astype(np.int64)
        live = int(lengths.sum())
        arena = np.zeros(max(64, int(1.5 * (live + n))), dtype=np.uint8)
        if held.size:
            new_starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            arena[:live] = _gather(self._arena, starts, lengths)
            self._off[held] = new_starts.astype(np.uint64) | (lengths.astype(np.uint64) << _SHIFT32)
        self._arena = arena
        self._used = live
        self._garbage = 0


def _gather(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The spans ``buf[starts[i] : starts[i] + lengths[i]]`` one after another, in one
    fancy-indexing pass."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.uint8)
    new_starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    within = np.arange(total, dtype=np.int64) - np.repeat(new_starts, lengths)
    return buf[np.repeat(starts.astype(np.int64), lengths) + within]
