"""Compiled tracked-item set shared by SpaceSaving and HeavyHitters.

State of a set of capacity ``m`` (numpy arrays, so it serializes and pickles as data):

* ``keys[m]`` uint64 item hashes; ``counts[m]`` and ``errors[m]``, int32 while the total
  weight fits (promoted to int64 before it could overflow), so a slot costs 16 bytes;
* ``index[T]``: open-addressing table mapping a key to ``slot + 1`` (0 = empty), uint16 cells
  while ``m`` ≤ 65,534 (int32 beyond), ``T = m + m // 2 + 1`` cells (load at most 2/3: three
  bytes per slot); linear probing from the key's home cell (the multiply-shift reduction of its
  high 32 bits) in Robin Hood order (along a run, entries sit in the order of their home cells,
  so a search for an absent key stops early), with backward-shift deletion;
* ``meta[2]`` int64: ``[size, floor]``; ``floor`` bounds the count of any untracked item;
* the *eviction queue*: ``L = m/8`` entries (at least 16, at most m) of pushed count (the
  counts' type) and slot, holding the slots that come first in the eviction order (count, ties
  by slot number), and ``qmeta`` (heap size, valid, threshold count, run position, run end,
  threshold slot): every slot outside the queue is at or after the threshold in that order.

The queue is a sorted *run* of the L first slots, built by a rescan (a histogram of the
counts just above the minimum places each entry, no comparisons, when the smallest counts lie
within 256 of each other, as they do when most updates evict), consumed from the front, plus a
small binary heap, in the cells the run has consumed, of the items placed or re-queued since
at or below the threshold (each eviction frees a run cell before it can add a heap entry, so
the heap always fits). An eviction takes the smaller of the run's next entry and the heap's
top: no sift for the common eviction, where the new item lands above the threshold. The
rescan runs when both are exhausted: a few passes over the m slots per L evictions.

Why a queue and not a heap over every slot: the queue costs a byte per slot where a full heap
with back-pointers costs eight, and a tracked item's increment costs nothing (a full heap
sifts). Eviction still takes exactly the first slot in (count, slot) order, so which item goes
depends only on the state (the slot order is part of it: bytes list the items in slot order
and loading keeps it): the queue is derived state, rebuilt by a rescan whenever it runs empty
(or after a merge or a load), and round-tripped summaries evict exactly as the original would.
Entries go stale when their slot's count grows (counts only grow; a slot's item changes only
when it is evicted, as the queue's first entry, so a slot has at most one entry): a stale
entry reached is re-queued with its new count while that is still at or below the threshold,
and dropped otherwise.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit

try:  # the C versions of the SpaceSaving kernels (see the end of this module)
    from .. import _pack
except ImportError:  # pragma: no cover - exercised by forcing _native = None in the tests
    _pack = None
from ._kernels import bucket_sign, key_hash, sort_small

# queue meta: [heap entries, valid (0/1), threshold count, run position, run end, threshold slot]
_Q_N, _Q_VALID, _Q_THR, _Q_POS, _Q_END, _Q_THR_SLOT = 0, 1, 2, 3, 4, 5


def index_size(capacity: int) -> int:
    """Index cells for a capacity: a load of at most 2/3, and always one empty cell."""
    return capacity + capacity // 2 + 1


def index_dtype(capacity: int) -> type:
    """uint16 cells (slot + 1) while every slot number fits, else int32."""
    return np.uint16 if capacity <= INDEX16_MAX_SLOTS else np.int32


INDEX16_MAX_SLOTS = 0xFFFE


def queue_size(capacity: int) -> int:
    """Eviction-queue entries for a capacity: about m/8, at least 16 (or m). A rescan costs a
    few passes over the m slots and is due after at most L evictions."""
    return min(capacity, max(16, capacity // 8))


QUEUE_ENTRY_BYTES = 4 + 4  # pushed count (int32 like the counts until they widen), slot


def empty_state(capacity: int, dtype=np.int32) -> dict[str, np.ndarray]:
    q = queue_size(capacity)
    return {
        "keys": np.zeros(capacity, dtype=np.uint64),
        "counts": np.zeros(capacity, dtype=dtype),
        "errors": np.zeros(capacity, dtype=dtype),
        "index": np.zeros(index_size(capacity), dtype=index_dtype(capacity)),
        "meta": np.zeros(2, dtype=np.int64),
        "qcount": np.zeros(q + 1, dtype=dtype),  # + 1: the C rescan's spare cell
        "qslot": np.zeros(q + 1, dtype=np.int32),
        "qmeta": np.zeros(6, dtype=np.int64),
    }


#: the arrays every kernel takes, in this order (``state_args``)
KERNEL_ARRAYS = ("keys", "counts", "errors", "index", "meta", "qcount", "qslot", "qmeta")
#: the arrays ``nbytes`` counts (meta and qmeta are a few fixed words)
STATE_ARRAYS = ("keys", "counts", "errors", "index", "qcount", "qslot")


def state_args(state: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The state arrays in the order the kernels take them."""
    return [state[k] for k in KERNEL_ARRAYS]


# ----------------------------------------------------------------------------- index
# Linear probing over T cells (any T > m) in Robin Hood order: along a run of occupied cells
# the entries sit in the order of their home cells, so a search stops at the first entry whose
# home lies past its own, and an insertion shifts the rest of the run one cell on.
@njit(cache=True, inline="always")
def _home(h, tsize):
    """A key's home cell: the multiply-shift reduction of its high 32 bits to ``tsize``."""
    return np.intp(((np.uint64(h) >> np.uint64(32)) * np.uint64(tsize)) >> np.uint64(32))


@njit(cache=True, inline="always")
def _dist(i, home, tsize):
    """How far cell ``i`` lies past ``home`` (cyclically)."""
    d = i - home
    return d + tsize if d < 0 else d


@njit(cache=True)
def find(index, keys, h):
    """The slot of ``h``, or ``-1 - p`` where ``p`` is the cell where ``h`` would go (empty, or
    the first entry whose home lies past h's)."""
    tsize = index.shape[0]
    i = _home(h, tsize)
    d = 0
    while True:
        e = np.intp(index[i])
        if e == 0:
            return -1 - i
        k = keys[e - 1]
        if k == h:
            return e - 1
        if _dist(i, _home(k, tsize), tsize) < d:
            return -1 - i
        i += 1
        if i == tsize:
            i = 0
        d += 1


@njit(cache=True)
def _find_many_jit(index, keys, hashes):
    """Slot of each hash, -1 where untracked."""
    out = np.empty(hashes.shape[0], dtype=np.int64)
    for i in range(hashes.shape[0]):
        out[i] = max(find(index, keys, hashes[i]), -1)
    return out


@njit(cache=True)
def _index_put(index, p, slot):
    """Put ``slot + 1`` into cell ``p`` (from ``find``), shifting the run from ``p`` one cell
    on; returns the cell after the one that was empty."""
    tsize = index.shape[0]
    carry = slot + 1
    i = p
    while True:
        e = index[i]
        index[i] = carry
        i += 1
        if i == tsize:
            i = 0
        if e == 0:
            return i
        carry = e


@njit(cache=True)
def _index_insert(index, keys, h, slot):
    _index_put(index, -1 - find(index, keys, h), slot)


@njit(cache=True)
def _index_cell(index, keys, h):
    """The cell holding ``h`` (which must be indexed)."""
    tsize = index.shape[0]
    i = _home(h, tsize)
    while keys[np.intp(index[i]) - 1] != h:
        i += 1
        if i == tsize:
            i = 0
    return i


@njit(cache=True)
def _index_clear(index, keys, i):
    """Empty cell ``i``: the entries after it that are past their home move one cell back."""
    tsize = index.shape[0]
    while True:
        j = 0 if i + 1 == tsize else i + 1
        e = np.intp(index[j])
        if e == 0 or _home(keys[e - 1], tsize) == j:
            break
        index[i] = e
        i = j
    index[i] = 0


# ----------------------------------------------------------------------------- eviction queue
@njit(cache=True, inline="always")
def _before(c1, s1, c2, s2):
    """The eviction order: by count, ties by slot number."""
    return c1 < c2 or (c1 == c2 and s1 < s2)


@njit(cache=True)
def _q_push(qcount, qslot, qmeta, c, s):
    """Push onto the heap, which may use the cells before the run's position."""
    n = qmeta[_Q_N]
    if n >= qmeta[_Q_POS]:
        qmeta[_Q_VALID] = 0  # no room: forget the queue, the next eviction rescans
        return
    i = n
    while i > 0:
        p = (i - 1) // 2
        if _before(c, s, qcount[p], qslot[p]):
            qcount[i] = qcount[p]
            qslot[i] = qslot[p]
            i = p
        else:
            break
    qcount[i] = c
    qslot[i] = s
    qmeta[_Q_N] = n + 1


@njit(cache=True)
def _q_sift_down(qcount, qslot, n, c, s):
    """Put ``(c, s)`` at the top of a heap of ``n`` entries and sift it down."""
    i = 0
    while True:
        ch = 2 * i + 1
        if ch >= n:
            break
        if ch + 1 < n and _before(qcount[ch + 1], qslot[ch + 1], qcount[ch], qslot[ch]):
            ch += 1
        if _before(qcount[ch], qslot[ch], c, s):
            qcount[i] = qcount[ch]
            qslot[i] = qslot[ch]
            i = ch
        else:
            break
    qcount[i] = c
    qslot[i] = s


@njit(cache=True)
def _q_pop(qcount, qslot, qmeta):
    n = qmeta[_Q_N] - 1
    qmeta[_Q_N] = n
    if n > 0:
        _q_sift_down(qcount, qslot, n, qcount[n], qslot[n])


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
def _q_rescan(counts, size, qcount, qslot, qmeta):
    """Refill the queue: the ``L`` live slots smallest in ``(count, slot)``, in that order, as
    the run; the heap empty. Two linear passes and a stable sort of the ``L`` by count (the C
    copy places them by a histogram of the counts instead when they lie close together: the
    same arrays, since the order is total)."""
    take = min(qcount.shape[0] - 1, size)  # the last cell is the C rescan's spare
    vals = np.empty(size, dtype=np.int64)
    for s in range(size):
        vals[s] = counts[s]
    thr = _select(vals, take - 1)
    below = 0
    for s in range(size):
        if counts[s] < thr:
            below += 1
    room = take - below
    n = 0
    at = 0
    thr_slot = -1
    for s in range(size):
        c = np.int64(counts[s])
        if c < thr or (c == thr and at < room):
            qcount[n] = c
            qslot[n] = s
            n += 1
            if c == thr:
                at += 1
                thr_slot = s
    order = np.argsort(qcount[:n], kind="mergesort")  # stable: slot order within a count
    qcount[:n] = qcount[:n][order]
    qslot[:n] = qslot[:n][order]
    qmeta[_Q_N] = 0
    qmeta[_Q_VALID] = 1
    qmeta[_Q_THR] = thr
    qmeta[_Q_POS] = 0
    qmeta[_Q_END] = n
    qmeta[_Q_THR_SLOT] = thr_slot


@njit(cache=True)
def _q_top(qcount, qslot, qmeta):
    """Where the queue's smallest entry is: the run's next (1), the heap's top (0), or none (-1)."""
    pos = qmeta[_Q_POS]
    if pos < qmeta[_Q_END]:
        if qmeta[_Q_N] > 0 and _before(qcount[0], qslot[0], qcount[pos], qslot[pos]):
            return 0
        return 1
    return 0 if qmeta[_Q_N] > 0 else -1


@njit(cache=True)
def _q_take_top(qcount, qslot, qmeta, from_run, requeue, c, s):
    """Remove the queue's smallest entry (from where ``_q_top`` says), and queue ``(c, s)``
    instead when ``requeue``."""
    if from_run:
        qmeta[_Q_POS] += 1
        if requeue:
            _q_push(qcount, qslot, qmeta, c, s)
    elif requeue:
        _q_sift_down(qcount, qslot, qmeta[_Q_N], c, s)
    else:
        _q_pop(qcount, qslot, qmeta)


@njit(cache=True, inline="always")
def _q_wants(qmeta, c, s):
    """``(c, s)`` falls at or below the threshold: it belongs in the queue."""
    return qmeta[_Q_VALID] == 1 and not _before(qmeta[_Q_THR], qmeta[_Q_THR_SLOT], c, s)


@njit(cache=True)
def _min_slot(counts, size, qcount, qslot, qmeta):
    """The live slot smallest in ``(count, slot)``, left as the queue's smallest entry."""
    while True:
        src = _q_top(qcount, qslot, qmeta) if qmeta[_Q_VALID] == 1 else -1
        if src < 0:
            _q_rescan(counts, size, qcount, qslot, qmeta)
            src = 1
        at = qmeta[_Q_POS] if src == 1 else 0
        s = qslot[at]
        c = np.int64(counts[s])
        if c == qcount[at]:
            return s
        # stale (its count grew): back in at its new count while that is at or below the
        # threshold, else out
        _q_take_top(qcount, qslot, qmeta, src == 1, _q_wants(qmeta, c, s), c, s)


# ----------------------------------------------------------------------------- updates
@njit(cache=True)
def _place(keys, counts, errors, index, meta, qcount, qslot, qmeta, h, count, error, victim, cell):
    """Give ``h`` (untracked; ``cell`` the cell where its search ended) a free slot, or
    ``victim`` (the minimum, the queue's smallest entry); return the slot. The new entry goes
    into ``cell`` before the victim's is deleted (``cell`` is where an insertion would put it
    now), the victim's slot already holding ``h`` so that the deletion's shift sees the new
    entry's true home."""
    size = meta[0]
    old = -1
    if size < keys.shape[0]:
        slot = size
        meta[0] = size + 1
    else:
        slot = victim
        old = _index_cell(index, keys, keys[slot])
    keys[slot] = h
    counts[slot] = count
    errors[slot] = error
    end = _index_put(index, cell, slot)
    if old >= 0:
        # the victim's cell moved on if it was in the shifted run [cell, end)
        tsize = index.shape[0]
        if _dist(old, cell, tsize) < _dist(end, cell, tsize):
            old = 0 if old + 1 == tsize else old + 1
        _index_clear(index, keys, old)
    queued = _q_wants(qmeta, count, slot)
    if victim >= 0:  # the victim is the queue's smallest entry (_min_slot): it goes
        _q_take_top(qcount, qslot, qmeta, _q_top(qcount, qslot, qmeta) == 1, queued, count, slot)
    elif queued:
        _q_push(qcount, qslot, qmeta, count, slot)
    return slot


@njit(cache=True)
def _spacesaving_update_jit(keys, counts, errors, index, meta, qcount, qslot, qmeta, items, raw, item_seed, weights):
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
            victim = _min_slot(counts, m, qcount, qslot, qmeta)
            base = np.int64(counts[victim])
            meta[1] = base  # the evicted count bounds every untracked item from now on
        s = _place(keys, counts, errors, index, meta, qcount, qslot, qmeta, h, base + w, base, victim, -1 - slot)
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
def _heavy_update_jit(table, row_keys, keys, counts, errors, index, meta, qcount, qslot, qmeta,
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
            victim = _min_slot(counts, m, qcount, qslot, qmeta)
            low_c = np.int64(counts[victim])
            probe = vals[admit_rank]
            if probe < low_c or (probe == low_c and h >= keys[victim]):
                continue
            # the evicted candidate's exact part goes back into the sketch, which from then
            # on holds its whole count again
            _add_item(table, row_keys, keys[victim], np.int64(counts[victim]) - np.int64(errors[victim]), uw)
        _add_item(table, row_keys, h, -w, uw)  # the admitting update is the first exact one
        s = _place(keys, counts, errors, index, meta, qcount, qslot, qmeta, h, count, base, victim, -1 - slot)
        placed[s] = i
    return placed


@njit(cache=True)
def _rebuild_index_jit(keys, size, index):
    """Index for slots ``0..size-1`` (after a merge, a load or a resize)."""
    index[:] = 0
    for s in range(size):
        _index_insert(index, keys, keys[s], s)


# ----------------------------------------------------------------------------- C versions
# SpaceSaving's and HeavyHitters' updates, the index rebuild and the lookup also exist in C
# (sketchkit._pack, built at install): line-for-line copies of the kernels above, equal bit for
# bit on every state array (tests/test_native.py), as fast or faster, and with no compilation on
# a first run, which was most of the time of a first `sketchkit topk`.
_native = _pack if hasattr(_pack, "heavy_update") else None


def spacesaving_update(keys, counts, errors, index, meta, qcount, qslot, qmeta, items, raw, item_seed, weights):
    """Metwally et al.'s update, weighted. Returns, per slot, the batch position of the last
    item placed in it (-1 where none was)."""
    if _native is None or items.dtype.itemsize != 8 or counts.dtype.itemsize not in (4, 8):
        return _spacesaving_update_jit(keys, counts, errors, index, meta, qcount, qslot, qmeta,
                                       items, raw, item_seed, weights)
    placed = np.full(keys.shape[0], -1, dtype=np.int64)
    _native.spacesaving_update(keys, counts, errors, index, meta, qcount, qslot, qmeta,
                               np.ascontiguousarray(items), bool(raw), int(item_seed),
                               np.ascontiguousarray(weights, dtype=np.int64), placed)
    return placed


def heavy_update(table, row_keys, keys, counts, errors, index, meta, qcount, qslot, qmeta,
                 items, raw, item_seed, weights, admit_rank):
    """CountSketch update plus candidate maintenance (see the numba kernel's docstring).
    Returns, per slot, the batch position of the last item placed in it (-1 where none was)."""
    if (_native is None or items.dtype.itemsize != 8 or counts.dtype.itemsize not in (4, 8) or table.ndim != 2
            or table.dtype.itemsize not in (4, 8) or table.dtype.kind != "i" or not table.flags.c_contiguous):
        return _heavy_update_jit(table, row_keys, keys, counts, errors, index, meta, qcount, qslot, qmeta,
                                 items, raw, item_seed, weights, admit_rank)
    placed = np.full(keys.shape[0], -1, dtype=np.int64)
    _native.heavy_update(table, np.ascontiguousarray(row_keys), keys, counts, errors, index, meta, qcount,
                         qslot, qmeta, np.ascontiguousarray(items), bool(raw), int(item_seed),
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
