"""Compiled tracked-item set shared by SpaceSaving and HeavyHitters.

State of a set of capacity ``m`` (all numpy arrays, so it serializes and pickles as data):

* ``keys[m]`` uint64 item hashes, ``counts[m]`` and ``errors[m]`` int64 per slot;
* ``heap[m]`` int32: a binary min-heap of slots ordered by ``(count, key)`` — a total order,
  so which slot is "the minimum" never depends on insertion history or memory layout
  (round-tripped and merged sketches evict exactly as a fresh one would);
* ``pos[m]`` int32: each slot's place in the heap;
* ``index[T]`` int32: open-addressing table (linear probing, T a power of two ≥ 4m/3)
  mapping a key to ``slot + 1`` (0 = empty), with backward-shift deletion;
* ``meta[2]`` int64: ``[size, floor]``; ``floor`` bounds the count of any untracked item.

Counts only ever grow, so a changed slot only needs sifting down.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._kernels import bucket_sign, key_hash, sort_small

_U1 = np.uint64(1)


def index_size(capacity: int) -> int:
    need = max(2, (4 * capacity + 2) // 3 + 1)
    return 1 << (need - 1).bit_length()


def empty_state(capacity: int) -> dict[str, np.ndarray]:
    return {
        "keys": np.zeros(capacity, dtype=np.uint64),
        "counts": np.zeros(capacity, dtype=np.int64),
        "errors": np.zeros(capacity, dtype=np.int64),
        "heap": np.zeros(capacity, dtype=np.int32),
        "pos": np.zeros(capacity, dtype=np.int32),
        "index": np.zeros(index_size(capacity), dtype=np.int32),
        "meta": np.zeros(2, dtype=np.int64),
    }


@njit(cache=True, inline="always")
def _less(counts, keys, a, b):
    return counts[a] < counts[b] or (counts[a] == counts[b] and keys[a] < keys[b])


@njit(cache=True)
def _sift_down(heap, pos, counts, keys, i, size):
    slot = heap[i]
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and _less(counts, keys, heap[c + 1], heap[c]):
            c += 1
        if _less(counts, keys, heap[c], slot):
            heap[i] = heap[c]
            pos[heap[i]] = i
            i = c
        else:
            break
    heap[i] = slot
    pos[slot] = i


@njit(cache=True)
def _sift_up(heap, pos, counts, keys, i):
    slot = heap[i]
    while i > 0:
        p = (i - 1) // 2
        if _less(counts, keys, slot, heap[p]):
            heap[i] = heap[p]
            pos[heap[i]] = i
            i = p
        else:
            break
    heap[i] = slot
    pos[slot] = i


@njit(cache=True)
def find(index, keys, h):
    mask = index.shape[0] - 1
    i = np.intp(h & np.uint64(mask))
    while True:
        e = index[i]
        if e == 0:
            return -1
        if keys[e - 1] == h:
            return e - 1
        i = (i + 1) & mask


@njit(cache=True)
def find_many(index, keys, hashes):
    """Slot of each hash, -1 where untracked."""
    out = np.empty(hashes.shape[0], dtype=np.int64)
    for i in range(hashes.shape[0]):
        out[i] = find(index, keys, hashes[i])
    return out


@njit(cache=True)
def _index_insert(index, h, slot):
    mask = index.shape[0] - 1
    i = np.intp(h & np.uint64(mask))
    while index[i] != 0:
        i = (i + 1) & mask
    index[i] = slot + 1


@njit(cache=True)
def _index_remove(index, keys, h):
    mask = index.shape[0] - 1
    i = np.intp(h & np.uint64(mask))
    while keys[index[i] - 1] != h:
        i = (i + 1) & mask
    j = i
    while True:
        j = (j + 1) & mask
        e = index[j]
        if e == 0:
            break
        home = np.intp(keys[e - 1] & np.uint64(mask))
        # keep entry j where it is when its home lies cyclically in (i, j]
        if i <= j:
            stays = i < home <= j
        else:
            stays = home > i or home <= j
        if not stays:
            index[i] = e
            i = j
    index[i] = 0


@njit(cache=True)
def _place(keys, counts, errors, heap, pos, index, meta, h, count, error):
    """Give ``h`` a slot (a free one, else the minimum's); return the slot."""
    size = meta[0]
    m = keys.shape[0]
    if size < m:
        slot = size
        keys[slot] = h
        counts[slot] = count
        errors[slot] = error
        heap[size] = slot
        pos[slot] = size
        meta[0] = size + 1
        _sift_up(heap, pos, counts, keys, size)
    else:
        slot = heap[0]
        _index_remove(index, keys, keys[slot])
        keys[slot] = h
        counts[slot] = count
        errors[slot] = error
        _sift_down(heap, pos, counts, keys, 0, m)
    _index_insert(index, h, slot)
    return slot


@njit(cache=True)
def spacesaving_update(keys, counts, errors, heap, pos, index, meta, items, raw, item_seed, weights):
    """Metwally et al.'s update, weighted. Returns, per slot, the batch position of the last
    item placed in it (-1 where none was)."""
    n = items.shape[0]
    unit = weights.shape[0] == 0
    m = keys.shape[0]
    placed = np.full(m, -1, dtype=np.int64)
    for i in range(n):
        w = np.int64(1) if unit else weights[i]
        if w == 0:
            continue
        h = key_hash(items, i, raw, item_seed)
        slot = find(index, keys, h)
        if slot >= 0:
            counts[slot] += w
            _sift_down(heap, pos, counts, keys, pos[slot], meta[0])
            continue
        if meta[0] < m:
            base = meta[1]
        else:
            base = counts[heap[0]]
            meta[1] = base  # the evicted count bounds every untracked item from now on
        placed[_place(keys, counts, errors, heap, pos, index, meta, h, base + w, base)] = i
    return placed


@njit(cache=True)
def heavy_update(table, row_keys, keys, counts, errors, heap, pos, index, meta, items, raw, item_seed, weights,
                 admit_rank):
    """CountSketch update plus candidate maintenance (insertion-only weights ≥ 0).

    A tracked candidate's count is ``base + exact``: ``exact`` is its weight since admission
    (``count - error``), ``base`` (stored as ``error``) the sketch's estimate, clipped at 0,
    of its count before admission. An untracked item is admitted when its new estimate beats
    the smallest candidate count (or there is room)."""
    depth, width = table.shape
    uw = np.uint64(width)
    n = items.shape[0]
    unit = weights.shape[0] == 0
    vals = np.empty(depth, dtype=np.int64)
    half = depth // 2
    m = keys.shape[0]
    placed = np.full(m, -1, dtype=np.int64)
    for i in range(n):
        w = np.int64(1) if unit else weights[i]
        if w == 0:
            continue
        h = key_hash(items, i, raw, item_seed)
        for r in range(depth):
            b, positive = bucket_sign(h, row_keys, r, uw)
            if positive:
                table[r, b] += w
                vals[r] = np.int64(table[r, b])
            else:
                table[r, b] -= w
                vals[r] = -np.int64(table[r, b])
        slot = find(index, keys, h)
        if slot >= 0:
            counts[slot] += w
            _sift_down(heap, pos, counts, keys, pos[slot], meta[0])
            continue
        sort_small(vals)
        base = vals[half] - w
        if base < 0:
            base = 0
        count = base + w
        if meta[0] >= m:
            # Admit on the order statistic just below the median: a light item whose median
            # is inflated because a bare majority of its rows hit heavy items is refused.
            low = heap[0]
            probe = vals[admit_rank]
            if probe < counts[low] or (probe == counts[low] and h >= keys[low]):
                continue
        placed[_place(keys, counts, errors, heap, pos, index, meta, h, count, base)] = i
    return placed


@njit(cache=True)
def rebuild(keys, counts, errors, size, capacity):
    """Fresh heap, positions and index for slots ``0..size-1`` (after a merge or a load)."""
    out_keys = np.zeros(capacity, dtype=np.uint64)
    out_counts = np.zeros(capacity, dtype=np.int64)
    out_errors = np.zeros(capacity, dtype=np.int64)
    heap = np.zeros(capacity, dtype=np.int32)
    pos = np.zeros(capacity, dtype=np.int32)
    t = 2
    need = (4 * capacity + 2) // 3 + 1
    while t < need:
        t *= 2
    index = np.zeros(t, dtype=np.int32)
    for s in range(size):
        out_keys[s] = keys[s]
        out_counts[s] = counts[s]
        out_errors[s] = errors[s]
        heap[s] = s
        pos[s] = s
        _index_insert(index, keys[s], s)
    for i in range(size // 2 - 1, -1, -1):
        _sift_down(heap, pos, out_counts, out_keys, i, size)
    return out_keys, out_counts, out_errors, heap, pos, index


def record_items(placed: np.ndarray, batch, items: list) -> None:
    """Store in each slot the batch item placed there last (``placed`` from the kernels)."""
    slots = np.flatnonzero(placed >= 0)
    if slots.size == 0:
        return
    where = placed[slots]
    if isinstance(batch, np.ndarray):
        for s, v in zip(slots.tolist(), batch[where].tolist()):
            items[s] = v
    else:
        for s, p in zip(slots.tolist(), where.tolist()):
            items[s] = batch[p]
