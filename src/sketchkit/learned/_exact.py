"""A table of at most ``capacity`` exact counters keyed by 64-bit item hashes (compiled kernels).

Open addressing with linear probing. A slot holds the item hash (uint64), its count (int32,
widened to int64 before the total absolute weight could pass 2**31 - 1, as the core sketches
widen their counters) and one flag byte (bit 0: used, bit 1: pure) — 13 bytes a slot. The array
has :func:`slots_for` ``(capacity)`` = ⌈capacity / 0.8⌉ slots when full, so the load factor never
passes 0.8 and a full table costs :func:`table_bytes` ``(capacity)`` ≈ 16.25 bytes per entry.
Until then it grows (doubling, capped at that size) with the entries actually inserted: a sketch
that admits few items stays small, and bytes that declare a huge capacity cannot make the reader
allocate it. Capacity 0 holds no array at all.

Entries are never removed, so a key found once stays found; ``pure`` says whether every
occurrence of the key went to its exact counter (False only after a merge, see :mod:`.sketches`).
"""

from __future__ import annotations

import numpy as np

from .._base import INT32_MAX
from .._jit import njit

USED = np.uint8(1)
PURE = np.uint8(2)
KEY_BYTES = 8
FLAG_BYTES = 1
MAX_LOAD_NUM, MAX_LOAD_DEN = 4, 5  # load factor ≤ 0.8
FIRST_SLOTS = 16
U32 = np.uint64(32)


def slots_for(capacity: int) -> int:
    """Slots of a full table of ``capacity`` entries: ⌈capacity · 5/4⌉ (load ≤ 0.8), 0 for 0."""
    return -(-int(capacity) * MAX_LOAD_DEN // MAX_LOAD_NUM)


def table_bytes(capacity: int, count_bytes: int = 4) -> int:
    """Bytes held by a full table of ``capacity`` entries with ``count_bytes``-byte counts."""
    return slots_for(capacity) * (KEY_BYTES + count_bytes + FLAG_BYTES)


@njit(cache=True, inline="always")
def _slot(h, n):
    # multiply-shift onto [0, n): the item hash is already uniform, its top 32 bits suffice (n < 2**32)
    return np.intp(((h >> U32) * np.uint64(n)) >> U32)


@njit(cache=True)
def find(tkeys, tflags, hkeys):
    """Position of each key in the table, or -1."""
    n = tkeys.shape[0]
    out = np.full(hkeys.shape[0], -1, dtype=np.intp)
    if n == 0:
        return out
    for i in range(hkeys.shape[0]):
        h = hkeys[i]
        p = _slot(h, n)
        while tflags[p] & USED:
            if tkeys[p] == h:
                out[i] = p
                break
            p += 1
            if p == n:
                p = 0
    return out


@njit(cache=True)
def route(tkeys, tcounts, tflags, size, capacity, hkeys, eligible, weights):
    """Add each item, in order, to its exact counter; insert eligible new keys while room remains.

    Returns ``(to_sketch, size, spilled)``: a mask of the items that go to the sketch instead,
    the new entry count, and whether an eligible item found the table full. Sequential on
    purpose: which keys get the last free slots depends on the order. The caller sized the
    table for every insertion this call can make.
    """
    n = tkeys.shape[0]
    unit = weights.shape[0] == 0
    to_sketch = np.zeros(hkeys.shape[0], dtype=np.bool_)
    spilled = False
    for i in range(hkeys.shape[0]):
        h = hkeys[i]
        w = 1 if unit else weights[i]
        p = -1
        found = False
        if n:
            p = _slot(h, n)
            while tflags[p] & USED:
                if tkeys[p] == h:
                    found = True
                    break
                p += 1
                if p == n:
                    p = 0
        if found:
            tcounts[p] += w
        elif eligible[i] and size < capacity:
            tflags[p] = USED | PURE
            tkeys[p] = h
            tcounts[p] = w
            size += 1
        else:
            if eligible[i]:
                spilled = True
            to_sketch[i] = True
    return to_sketch, size, spilled


class ExactTable:
    """Keys, counts and purity bits of at most ``capacity`` items (layout: module docstring)."""

    __slots__ = ("capacity", "keys", "counts", "flags", "size", "spilled")

    def __init__(self, capacity: int, count_dtype: type = np.int32):
        self.capacity = int(capacity)
        self.size = 0
        self.spilled = False
        self._allocate(min(FIRST_SLOTS, slots_for(self.capacity)), count_dtype)

    def _allocate(self, slots: int, count_dtype: type) -> None:
        self.keys = np.zeros(slots, dtype=np.uint64)
        self.counts = np.zeros(slots, dtype=count_dtype)
        self.flags = np.zeros(slots, dtype=np.uint8)

    @property
    def nbytes(self) -> int:
        """Bytes of the three arrays, empty slots included."""
        return int(self.keys.nbytes + self.counts.nbytes + self.flags.nbytes)

    @property
    def full_nbytes(self) -> int:
        """Bytes the table holds once it has ``capacity`` entries (its counts at their current width)."""
        return table_bytes(self.capacity, self.counts.dtype.itemsize)

    def widen(self, abs_total: int) -> None:
        """Counts become int64 once ``abs_total`` (a bound on any count's magnitude) passes int32."""
        if self.counts.dtype == np.int32 and abs_total > INT32_MAX:
            self.counts = self.counts.astype(np.int64)

    def _ensure(self, extra: int) -> None:
        """Make room for ``extra`` more entries (bounded by the capacity) at load ≤ 0.8."""
        need = min(self.capacity, self.size + int(extra))
        if need * MAX_LOAD_DEN <= len(self.keys) * MAX_LOAD_NUM:
            return
        final = slots_for(self.capacity)
        slots = max(len(self.keys), 1)
        while slots * MAX_LOAD_NUM < need * MAX_LOAD_DEN:
            slots *= 2
        slots = min(slots, final)
        keys, counts, pure = self.entries()
        self._allocate(slots, self.counts.dtype)
        self.size = 0
        if len(keys):
            self._insert(keys, counts, pure)

    def _insert(self, keys: np.ndarray, counts: np.ndarray, pure: np.ndarray) -> None:
        _, self.size, _ = route(self.keys, self.counts, self.flags, self.size, self.capacity, keys,
                                np.ones(len(keys), dtype=np.bool_), counts.astype(np.int64))
        pos = self.find(keys)
        self.flags[pos] = np.where(pure, USED | PURE, USED).astype(np.uint8)

    def route(self, hkeys: np.ndarray, eligible: np.ndarray, weights: np.ndarray, new_keys: int) -> np.ndarray:
        """Route a batch (see :func:`route`); returns the mask of items for the sketch.
        ``new_keys``: distinct eligible keys of the batch not yet in the table (room to make)."""
        self._ensure(new_keys)
        to_sketch, self.size, spilled = route(self.keys, self.counts, self.flags, self.size, self.capacity,
                                              hkeys, eligible, weights)
        self.spilled = self.spilled or bool(spilled)
        return to_sketch

    def find(self, hkeys: np.ndarray) -> np.ndarray:
        return find(self.keys, self.flags, hkeys)

    def counts_at(self, pos: np.ndarray) -> np.ndarray:
        return self.counts[pos].astype(np.int64)

    def pure_at(self, pos: np.ndarray) -> np.ndarray:
        return (self.flags[pos] & PURE) != 0

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keys, int64 counts, pure) sorted by key: the canonical, order-independent form."""
        idx = np.flatnonzero(self.flags & USED)
        idx = idx[np.argsort(self.keys[idx], kind="stable")]
        return self.keys[idx], self.counts[idx].astype(np.int64), (self.flags[idx] & PURE) != 0

    def insert_all(self, keys: np.ndarray, counts: np.ndarray, pure: np.ndarray) -> None:
        """Insert distinct new keys (no more than the free room) with their counts and purity bits."""
        if self.size + len(keys) > self.capacity:
            raise ValueError("exact table overflow")  # internal invariant; callers check first
        self._ensure(len(keys))
        self._insert(keys, counts, pure)
