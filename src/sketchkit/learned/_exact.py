"""A fixed-capacity table of exact counters keyed by 64-bit item hashes (compiled kernels).

Open addressing with linear probing over a power-of-two array at most half full, grown as
entries arrive. Entries are never removed, so a key found once stays found; ``pure[i]`` says whether every occurrence of
the key went to its exact counter (False only after a merge, see :mod:`.sketches`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

U33 = np.uint64(33)
MULT = np.uint64(0xFF51AFD7ED558CCD)


@njit(cache=True, inline="always")
def _slot(h, mask):
    # the item hash is already uniform; one multiply spreads its low bits for the mask
    return np.intp(((h ^ (h >> U33)) * MULT) & mask)


@njit(cache=True)
def find(tkeys, tused, hkeys):
    """Position of each key in the table, or -1."""
    mask = np.uint64(tkeys.shape[0] - 1)
    out = np.empty(hkeys.shape[0], dtype=np.intp)
    for i in range(hkeys.shape[0]):
        h = hkeys[i]
        p = _slot(h, mask)
        out[i] = -1
        while tused[p]:
            if tkeys[p] == h:
                out[i] = p
                break
            p = (p + 1) & np.intp(mask)
    return out


@njit(cache=True)
def route(tkeys, tused, tcounts, tpure, state, capacity, hkeys, eligible, weights):
    """Add each item, in order, to its exact counter; insert eligible new keys while room remains.

    ``state = [size, spilled]``. Returns a mask of the items that go to the sketch instead.
    Sequential on purpose: which keys get the last free slots depends on the order.
    """
    mask = np.uint64(tkeys.shape[0] - 1)
    unit = weights.shape[0] == 0
    to_sketch = np.zeros(hkeys.shape[0], dtype=np.bool_)
    for i in range(hkeys.shape[0]):
        h = hkeys[i]
        w = 1 if unit else weights[i]
        p = _slot(h, mask)
        found = False
        while tused[p]:
            if tkeys[p] == h:
                found = True
                break
            p = (p + 1) & np.intp(mask)
        if found:
            tcounts[p] += w
        elif eligible[i] and state[0] < capacity:
            tused[p] = True
            tkeys[p] = h
            tcounts[p] = w
            tpure[p] = True
            state[0] += 1
        else:
            if eligible[i]:
                state[1] = 1
            to_sketch[i] = True
    return to_sketch


class ExactTable:
    """Keys, counts and purity bits of at most ``capacity`` items.

    The arrays grow (doubling, at most half full) with the entries actually inserted, not with
    the capacity: a sketch that admits few items stays small, and bytes that declare a huge
    capacity cannot make the reader allocate it.
    """

    __slots__ = ("capacity", "keys", "used", "counts", "pure", "state")

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self._allocate(16)
        self.state = np.zeros(2, dtype=np.int64)

    def _allocate(self, size: int) -> None:
        self.keys = np.zeros(size, dtype=np.uint64)
        self.used = np.zeros(size, dtype=np.bool_)
        self.counts = np.zeros(size, dtype=np.int64)
        self.pure = np.zeros(size, dtype=np.bool_)

    def _ensure(self, extra: int) -> None:
        """Make room for ``extra`` more entries (bounded by the capacity) at load ≤ 1/2."""
        need = min(self.capacity, self.size + int(extra))
        if 2 * need <= len(self.keys):
            return
        size = len(self.keys)
        while size < 2 * need:
            size *= 2
        keys, counts, pure = self.entries()
        spilled = self.state[1]
        self._allocate(size)
        self.state[:] = 0
        if len(keys):
            route(self.keys, self.used, self.counts, self.pure, self.state, self.capacity, keys,
                  np.ones(len(keys), dtype=np.bool_), counts)
            self.pure[self.find(keys)] = pure
        self.state[1] = spilled

    @property
    def size(self) -> int:
        return int(self.state[0])

    @property
    def spilled(self) -> bool:
        """True once an eligible item went to the sketch because the table was full."""
        return bool(self.state[1])

    def route(self, hkeys: np.ndarray, eligible: np.ndarray, weights: np.ndarray) -> np.ndarray:
        self._ensure(int(np.count_nonzero(eligible)))
        return route(self.keys, self.used, self.counts, self.pure, self.state, self.capacity, hkeys, eligible, weights)

    def find(self, hkeys: np.ndarray) -> np.ndarray:
        return find(self.keys, self.used, hkeys)

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keys, counts, pure) sorted by key: the canonical, order-independent form."""
        idx = np.flatnonzero(self.used)
        order = np.argsort(self.keys[idx], kind="stable")
        idx = idx[order]
        return self.keys[idx], self.counts[idx], self.pure[idx]

    def insert_all(self, keys: np.ndarray, counts: np.ndarray, pure: np.ndarray) -> None:
        """Insert distinct new keys (no more than the free room) with their counts and purity bits."""
        if self.size + len(keys) > self.capacity:
            raise ValueError("exact table overflow")  # internal invariant; callers check first
        self.route(keys, np.ones(len(keys), dtype=np.bool_), counts)
        self.pure[self.find(keys)] = pure
