"""Compiled tracked-item set shared by SpaceSaving and HeavyHitters.

State of a set of capacity ``m`` (numpy arrays, so it serializes and pickles as data):

* ``keys[m]`` uint64 item hashes; ``counts[m]`` and ``errors[m]``, int32 while the total
  weight fits (promoted to int64 before it could overflow), so a slot costs 16 bytes;
* ``index[T]`` int32: open-addressing table (linear probing, T a power of two ≥ 4m/3)
  mapping a key to ``slot + 1`` (0 = empty), with backward-shift deletion;
* ``meta[2]`` int64: ``[size, floor]``; ``floor`` bounds the count of any untracked item;
* the *eviction queue*: a small binary heap (``L ≈ m/32`` entries of pushed count, key and
  slot) holding the slots that are smallest in the total order ``(count, key)``, and the
  threshold ``(qthr_count, qthr_key)`` that every slot outside the queue is at or above.

Why a queue and not a heap over every slot: the queue costs under a byte per slot where a
full heap with back-pointers costs eight, and a tracked item's increment costs nothing (a
full heap sifts). Eviction still takes exactly the smallest ``(count, key)`` slot, so which
item goes never depends on history or memory layout: the queue is derived state, rebuilt by
a scan whenever it runs empty (or after a merge or a load), and round-tripped or merged
summaries evict exactly as a fresh one would. Entries go stale when their slot's count grows
(counts only grow): a stale entry popped is pushed back with its new count while that is
still below the threshold, and dropped otherwise.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit

try:  # the C versions of the SpaceSaving kernels (see the end of this module)
    from .. import _pack
except ImportError:  # pragma: no cover - exercised by forcing _native = None in the tests
    _pack = None
from ._kernels import bucket_sign, key_hash, sort_small

# queue meta: [entries, valid (0/1), threshold count]; the threshold key lives in qthr_key[0]
_Q_N, _Q_VALID, _Q_THR = 0, 1, 2


def index_size(capacity: int) -> int:
    need = max(2, (4 * capacity + 2) // 3 + 1)
    return 1 << (need - 1).bit_length()


def queue_size(capacity: int) -> int:
    """Eviction-queue entries for a capacity: about m/8, at least 16 (or m). A rescan costs a
    few passes over the m slots and is due after at most L evictions."""
    return min(capacity, max(16, capacity // 8))


QUEUE_ENTRY_BYTES = 8 + 8 + 4


def empty_state(capacity: int, dtype=np.int32) -> dict[str, np.ndarray]:
    q = queue_size(capacity)
    return {
        "keys": np.zeros(capacity, dtype=np.uint64),
        "counts": np.zeros(capacity, dtype=dtype),
        "errors": np.zeros(capacity, dtype=dtype),
        "index": np.zeros(index_size(capacity), dtype=np.int32),
        "meta": np.zeros(2, dtype=np.int64),
        "qcount": np.zeros(q, dtype=np.int64),
        "qkey": np.zeros(q, dtype=np.uint64),
        "qslot": np.zeros(q, dtype=np.int32),
        "qmeta": np.zeros(3, dtype=np.int64),
        "qthr_key": np.zeros(1, dtype=np.uint64),
    }


STATE_ARRAYS = ("keys", "counts", "errors", "index", "qcount", "qkey", "qslot")


# ----------------------------------------------------------------------------- index
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
def _find_many_jit(index, keys, hashes):
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


# ----------------------------------------------------------------------------- eviction queue
@njit(cache=True, inline="always")
def _before(c1, k1, c2, k2):
    return c1 < c2 or (c1 == c2 and k1 < k2)


@njit(cache=True)
def _q_push(qcount, qkey, qslot, qmeta, c, k, s):
    n = qmeta[_Q_N]
    if n == qcount.shape[0]:
        qmeta[_Q_VALID] = 0  # full: forget the queue, the next eviction rescans
        return
    i = n
    while i > 0:
        p = (i - 1) // 2
        if _before(c, k, qcount[p], qkey[p]):
            qcount[i] = qcount[p]
            qkey[i] = qkey[p]
            qslot[i] = qslot[p]
            i = p
        else:
            break
    qcount[i] = c
    qkey[i] = k
    qslot[i] = s
    qmeta[_Q_N] = n + 1


@njit(cache=True)
def _q_pop(qcount, qkey, qslot, qmeta):
    n = qmeta[_Q_N] - 1
    qmeta[_Q_N] = n
    c, k, s = qcount[n], qkey[n], qslot[n]
    i = 0
    while True:
        ch = 2 * i + 1
        if ch >= n:
            break
        if ch + 1 < n and _before(qcount[ch + 1], qkey[ch + 1], qcount[ch], qkey[ch]):
            ch += 1
        if _before(qcount[ch], qkey[ch], c, k):
            qcount[i] = qcount[ch]
            qkey[i] = qkey[ch]
            qslot[i] = qslot[ch]
            i = ch
        else:
            break
    if n > 0:
        qcount[i] = c
        qkey[i] = k
        qslot[i] = s


@njit(cache=True)
def _select(a, k):
    """The k-th smallest value of ``a`` (0-based; ``a`` is reordered): ``np.partition(a, k)[k]``
    by Hoare's quickselect, written out because numba's ``np.partition`` took about 5 s of a
    first run's compilation (the C copy in sketchkit._pack is the same loop)."""
    lo, hi = 0, a.shape[0] - 1
    while hi > lo:
        x = a[lo + (hi - lo) // 2]
        i, j = lo, hi
        while i <= j:
            while a[i] < x:
                i += 1
            while x < a[j]:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return a[k]
    return a[k]


@njit(cache=True)
def _q_rescan(keys, counts, size, qcount, qkey, qslot, qmeta, qthr_key):
    """Fill the queue with the ``L`` smallest live slots by ``(count, key)``: a few linear
    passes (selection, not sorting: the threshold level can hold most of the slots)."""
    take = min(qcount.shape[0], size)
    vals = np.empty(size, dtype=np.int64)
    for s in range(size):
        vals[s] = counts[s]
    thr = _select(vals, take - 1)  # vals is only written after this (slot numbers)
    qmeta[_Q_N] = 0
    qmeta[_Q_VALID] = 1
    n_at = 0
    for s in range(size):
        c = np.int64(counts[s])
        if c < thr:
            _q_push(qcount, qkey, qslot, qmeta, c, keys[s], s)
        elif c == thr:
            vals[n_at] = s  # reuse the buffer: slots at the threshold count
            n_at += 1
    room = take - qmeta[_Q_N]
    at_keys = np.empty(n_at, dtype=np.uint64)
    for j in range(n_at):
        at_keys[j] = keys[vals[j]]
    last = _select(at_keys, room - 1) if room < n_at else at_keys.max()
    for j in range(n_at):
        s = vals[j]
        if keys[s] <= last:
            _q_push(qcount, qkey, qslot, qmeta, thr, keys[s], s)
    qmeta[_Q_THR] = thr
    qthr_key[0] = last


@njit(cache=True)
def _min_slot(keys, counts, size, qcount, qkey, qslot, qmeta, qthr_key):
    """The live slot smallest in ``(count, key)``, left at the top of the queue."""
    while True:
        if qmeta[_Q_VALID] == 0 or qmeta[_Q_N] == 0:
            _q_rescan(keys, counts, size, qcount, qkey, qslot, qmeta, qthr_key)
        s = qslot[0]
        c = np.int64(counts[s])
        if c == qcount[0] and keys[s] == qkey[0]:
            return s
        k = keys[s]
        _q_pop(qcount, qkey, qslot, qmeta)
        if not _before(qmeta[_Q_THR], qthr_key[0], c, k):  # still at or below the threshold
            _q_push(qcount, qkey, qslot, qmeta, c, k, s)


@njit(cache=True)
def _note_placed(qcount, qkey, qslot, qmeta, qthr_key, c, k, s):
    """A slot got a new item: queue it if it falls at or below the threshold."""
    if qmeta[_Q_VALID] == 1 and not _before(qmeta[_Q_THR], qthr_key[0], c, k):
        _q_push(qcount, qkey, qslot, qmeta, c, k, s)


# ----------------------------------------------------------------------------- updates
@njit(cache=True)
def _place(keys, counts, errors, index, meta, qcount, qkey, qslot, qmeta, qthr_key, h, count, error, victim):
    """Give ``h`` a free slot, or ``victim`` (the minimum, at the top of the queue); return it."""
    size = meta[0]
    if size < keys.shape[0]:
        slot = size
        meta[0] = size + 1
    else:
        slot = victim
        _q_pop(qcount, qkey, qslot, qmeta)
        _index_remove(index, keys, keys[slot])
    keys[slot] = h
    counts[slot] = count
    errors[slot] = error
    _index_insert(index, h, slot)
    _note_placed(qcount, qkey, qslot, qmeta, qthr_key, count, h, slot)
    return slot


@njit(cache=True)
def _spacesaving_update_jit(keys, counts, errors, index, meta, qcount, qkey, qslot, qmeta, qthr_key,
                            items, raw, item_seed, weights):
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
            continue
        victim = -1
        if meta[0] < m:
            base = meta[1]
        else:
            victim = _min_slot(keys, counts, m, qcount, qkey, qslot, qmeta, qthr_key)
            base = np.int64(counts[victim])
            meta[1] = base  # the evicted count bounds every untracked item from now on
        s = _place(keys, counts, errors, index, meta, qcount, qkey, qslot, qmeta, qthr_key,
                   h, base + w, base, victim)
        placed[s] = i
    return placed


@njit(cache=True, inline="always")
def _add_item(table, row_keys, h, w, uw):
    for r in range(table.shape[0]):
        b, positive = bucket_sign(h, row_keys, r, uw)
        if positive:
            table[r, b] += w
        else:
            table[r, b] -= w


@njit(cache=True)
def _heavy_update_jit(table, row_keys, keys, counts, errors, index, meta, qcount, qkey, qslot, qmeta, qthr_key,
                      items, raw, item_seed, weights, admit_rank):
    """CountSketch update plus candidate maintenance (insertion-only weights ≥ 0).

    A tracked candidate's count is ``base + exact``: ``exact`` is its weight since admission
    (``count - error``), counted here and not in the sketch; ``base`` (stored as ``error``) the
    sketch's estimate, clipped at 0, of its count before admission. The sketch thus holds the
    stream minus the candidates' exact parts (an evicted candidate's part is added back). An
    untracked item is admitted when its new estimate beats the smallest candidate count (or
    there is room)."""
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
        slot = find(index, keys, h)
        if slot >= 0:  # a candidate is counted exactly, and only there
            counts[slot] += w
            continue
        for r in range(depth):
            b, positive = bucket_sign(h, row_keys, r, uw)
            if positive:
                table[r, b] += w
                vals[r] = np.int64(table[r, b])
            else:
                table[r, b] -= w
                vals[r] = -np.int64(table[r, b])
        sort_small(vals)
        base = vals[half] - w
        if base < 0:
            base = 0
        count = base + w
        victim = -1
        if meta[0] >= m:
            # Admit on the order statistic just below the median: a light item whose median
            # is inflated because a bare majority of its rows hit heavy items is refused.
            victim = _min_slot(keys, counts, m, qcount, qkey, qslot, qmeta, qthr_key)
            low_c = np.int64(counts[victim])
            probe = vals[admit_rank]
            if probe < low_c or (probe == low_c and h >= keys[victim]):
                continue
            # the evicted candidate's exact part goes back into the sketch, which from then
            # on holds its whole count again
            _add_item(table, row_keys, keys[victim], np.int64(counts[victim]) - np.int64(errors[victim]), uw)
        _add_item(table, row_keys, h, -w, uw)  # the admitting update is the first exact one
        s = _place(keys, counts, errors, index, meta, qcount, qkey, qslot, qmeta, qthr_key,
                   h, count, base, victim)
        placed[s] = i
    return placed


@njit(cache=True)
def _rebuild_index_jit(keys, size, index):
    """Index for slots ``0..size-1`` (after a merge, a load or a resize)."""
    index[:] = 0
    for s in range(size):
        _index_insert(index, keys[s], s)


# ----------------------------------------------------------------------------- C versions
# SpaceSaving's and HeavyHitters' updates, the index rebuild and the lookup also exist in C
# (sketchkit._pack, built at install): line-for-line copies of the kernels above, equal bit for
# bit on every state array (tests/test_native.py), as fast or faster, and with no compilation on
# a first run, which was most of the time of a first `sketchkit topk`.
_native = _pack if hasattr(_pack, "heavy_update") else None


def spacesaving_update(keys, counts, errors, index, meta, qcount, qkey, qslot, qmeta, qthr_key,
                       items, raw, item_seed, weights):
    """Metwally et al.'s update, weighted. Returns, per slot, the batch position of the last
    item placed in it (-1 where none was)."""
    if _native is None or items.dtype.itemsize != 8 or counts.dtype.itemsize not in (4, 8):
        return _spacesaving_update_jit(keys, counts, errors, index, meta, qcount, qkey, qslot, qmeta, qthr_key,
                                       items, raw, item_seed, weights)
    placed = np.full(keys.shape[0], -1, dtype=np.int64)
    _native.spacesaving_update(keys, counts, errors, index, meta, qcount, qkey, qslot, qmeta, qthr_key,
                               np.ascontiguousarray(items), bool(raw), int(item_seed),
                               np.ascontiguousarray(weights, dtype=np.int64), placed)
    return placed


def heavy_update(table, row_keys, keys, counts, errors, index, meta, qcount, qkey, qslot, qmeta, qthr_key,
                 items, raw, item_seed, weights, admit_rank):
    """CountSketch update plus candidate maintenance (see the numba kernel's docstring).
    Returns, per slot, the batch position of the last item placed in it (-1 where none was)."""
    if (_native is None or items.dtype.itemsize != 8 or counts.dtype.itemsize not in (4, 8) or table.ndim != 2
            or table.dtype.itemsize not in (4, 8) or table.dtype.kind != "i" or not table.flags.c_contiguous):
        return _heavy_update_jit(table, row_keys, keys, counts, errors, index, meta, qcount, qkey, qslot, qmeta,
                                 qthr_key, items, raw, item_seed, weights, admit_rank)
    placed = np.full(keys.shape[0], -1, dtype=np.int64)
    _native.heavy_update(table, np.ascontiguousarray(row_keys), keys, counts, errors, index, meta, qcount, qkey,
                         qslot, qmeta, qthr_key, np.ascontiguousarray(items), bool(raw), int(item_seed),
                         np.ascontiguousarray(weights, dtype=np.int64), int(admit_rank), placed)
    return placed


def find_many(index, keys, hashes):
    """Slot of each hash, -1 where untracked."""
    if _native is None:
        return _find_many_jit(index, keys, hashes)
    out = np.empty(hashes.shape[0], dtype=np.int64)
    _native.find_many(index, keys, np.ascontiguousarray(hashes, dtype=np.uint64), out)
    return out


def rebuild_index(keys, size, index):
    """Index for slots ``0..size-1`` (after a merge, a load or a resize)."""
    if _native is None:
        _rebuild_index_jit(keys, size, index)
    else:
        _native.rebuild_index(keys, int(size), index)


def state_of(keys, counts, errors, floor: int, allocated: int, dtype) -> dict[str, np.ndarray]:
    """A state of ``allocated`` slots holding these live slots (index built, queue invalid)."""
    size = len(keys)
    out = empty_state(allocated, dtype)
    out["keys"][:size] = keys
    out["counts"][:size] = counts
    out["errors"][:size] = errors
    out["meta"][:] = (size, floor)
    rebuild_index(out["keys"], size, out["index"])
    return out


def resized_state(state: dict[str, np.ndarray], allocated: int) -> dict[str, np.ndarray]:
    """The live slots of ``state`` in fresh arrays of ``allocated`` slots."""
    size, floor = (int(x) for x in state["meta"])
    return state_of(state["keys"][:size], state["counts"][:size], state["errors"][:size], floor, allocated,
                    state["counts"].dtype)
