"""Compiled inner loops of :class:`sketchkit.quantiles.KLL`.

State (owned by the sketch object and passed in; functions that can add a level return the
possibly reallocated arrays):

* ``buf0`` float64[B]: level 0, an input buffer filled in arrival order (``n0`` items). When it
  reaches ``B`` items it is sorted and compacted into level 1 at once.
* ``buf``  float64[C]: levels 1..L-1. Level ``h`` occupies ``buf[lv[h]:lv[h+1]]`` and is sorted;
  the free space is ``buf[0:lv[1]]`` (``lv[0] == lv[1]`` always: level 0 lives in ``buf0``).
  ``C = upper_capacity + B/2``: room for one level-0 compaction before the upper levels settle.
* ``lv``   int64[L+1]: level boundaries, ``lv[L] == C``.
* ``flips`` int64[L]: fresh coins drawn at each level (the error bound's input).
* ``pend`` int64[L]: -1, or the offset the next compaction of that level uses (the complement of
  the previous fresh coin: consecutive compactions of a level use opposite offsets).

Capacities of the upper levels: level ``h`` of ``L`` has depth ``d = L-1-h``; the top
``top`` levels hold ``k`` items and each level below holds ``floor(2c/3)`` of the one above, never
fewer than 8. After anything enters the upper levels, while they hold more than the sum of their
capacities, the lowest level at or over its capacity is compacted (lazy compaction). The schedule
depends on nothing but the sequence of (item, weight) arrivals, and a sorted chunk is the same
whatever sorted it (−0.0 is stored as 0.0 and NaN never enters), so a batch whose full level-0
chunks were sorted by numpy beforehand ends in exactly the state of the loop of single updates.
"""

from __future__ import annotations

import math

import numpy as np

from .._jit import njit

MIN_CAP = 8
_C1 = np.uint64(0x9E3779B97F4A7C15)
_C2 = np.uint64(0xD6E8FEB86659FD93)


def level0_size(k: int) -> int:
    """B: the level-0 buffer, the smallest multiple of 8 that is at least k/2.25 (and 16). The
    first compaction happens after B items, so its error of one item is at most 2.25/k of the
    stream; a larger B amortises the work per compaction (the batch path's speed) at the cost
    of up to B items more in memory and bytes (B/2 on average)."""
    return int(max(16, 8 * -(-k // 18)))


def capacity_tables(k: int, top: int) -> tuple[np.ndarray, np.ndarray]:
    """``(capd, capsum)``: capacity of a level at each depth (0 = top) and the prefix sums, so
    the upper levels of an L-level sketch hold ``capsum[L-1]`` items."""
    capd = np.empty(64, dtype=np.int64)
    c = k
    for d in range(64):
        if d >= top and c > MIN_CAP:
            c = (2 * c) // 3
        capd[d] = max(c, MIN_CAP)
    capsum = np.zeros(65, dtype=np.int64)
    capsum[1:] = np.cumsum(capd)
    return capd, capsum


@njit(cache=True, nogil=True, inline="always")
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def _float_key(x):
    """An exact integer encoding of a finite float (mantissa as a 53-bit int, and exponent)."""
    m, e = math.frexp(x)
    return np.uint64(np.int64(m * 9007199254740992.0)) ^ (np.uint64(e + 1100) << np.uint64(53))


@njit(cache=True, nogil=True, inline="always")
def _coin(key, h, count, first, middle, last, n):
    """Fresh offset in {0, 1}: a keyed hash of (level, coin number, the run's length and its
    first, middle and last items). The items make sketches of different data draw different
    coins even when their coin numbers coincide (a merge of partitions)."""
    acc = _mix(key ^ (np.uint64(h) * _C1 + np.uint64(count) * _C2))
    acc = _mix(acc ^ (_float_key(first) + np.uint64(n)))
    acc = _mix(acc ^ _float_key(middle))
    acc = _mix(acc ^ _float_key(last))
    return np.int64(acc >> np.uint64(63))


@njit(cache=True, nogil=True, inline="always")
def _offset(flips, pend, h, key, run, s, e, force):
    """The offset for compacting the sorted ``run[s:e]`` at level ``h``."""
    if force >= 0:  # a deliberately biased sketch (tests show the statistical checks catch it)
        flips[h] += 1
        return force
    if pend[h] >= 0:
        o = pend[h]
        pend[h] = -1
    else:
        o = _coin(key, h, flips[h], run[s], run[(s + e) >> 1], run[e - 1], e - s)
        flips[h] += 1
        pend[h] = 1 - o
    return o


@njit(cache=True, nogil=True)
def grow(buf, lv, flips, pend, capd, capsum, half_b):
    """Add an empty level on top; the free space absorbs the added capacity."""
    n_levels = lv.shape[0] - 1
    size = buf.shape[0] - lv[1]
    new_len = max(capsum[n_levels], size) + half_b
    nbuf = np.empty(new_len, dtype=np.float64)
    shift = new_len - buf.shape[0]
    nbuf[lv[1] + shift :] = buf[lv[1] :]
    nlv = np.empty(n_levels + 2, dtype=np.int64)
    for i in range(n_levels + 1):
        nlv[i] = lv[i] + shift
    nlv[n_levels + 1] = new_len
    nflips = np.zeros(n_levels + 1, dtype=np.int64)
    nflips[:n_levels] = flips
    npend = np.full(n_levels + 1, -1, dtype=np.int64)
    npend[:n_levels] = pend
    return nbuf, nlv, nflips, npend


@njit(cache=True, nogil=True, inline="always")
def _merge_up(buf, lv, h, src, s0, p, scratch):
    """Merge the sorted run ``src[s0:s0+p]`` into level ``h`` from below; needs p free slots
    under level ``h`` (the levels between are moved by the caller), and the run must not lie in
    ``[lv[h] - p, lv[h+1])``. Level ``h`` is copied to ``scratch`` first, then the output is
    produced from both ends at once: two independent branch-free chains, since merging random
    runs is bound by each step's dependence on the previous one."""
    b = lv[h]
    c = lv[h + 1]
    m = c - b
    w = b - p
    if m == 0:
        for i in range(p):
            buf[w + i] = src[s0 + i]
        return
    for j in range(m):
        scratch[j] = buf[b + j]
    total = p + m
    i, j = 0, 0  # front: smallest first (run items before equal level items)
    i2, j2 = p - 1, m - 1  # back: largest first
    w2 = c - 1
    for _ in range(total >> 1):
        x = src[s0 + min(i, p - 1)]
        y = scratch[min(j, m - 1)]
        take_y = (j < m) & ((i >= p) | (y < x))
        buf[w] = y if take_y else x
        j += take_y
        i += 1 - take_y
        w += 1
        x2 = src[s0 + max(i2, 0)]
        y2 = scratch[max(j2, 0)]
        take_x = (i2 >= 0) & ((j2 < 0) | (x2 > y2))
        buf[w2] = x2 if take_x else y2
        i2 -= take_x
        j2 -= 1 - take_x
        w2 -= 1
    if total & 1:
        x = src[s0 + min(i, p - 1)]
        y = scratch[min(j, m - 1)]
        take_y = (j < m) & ((i >= p) | (y < x))
        buf[w] = y if take_y else x


@njit(cache=True, nogil=True, inline="always")
def compact(buf, lv, flips, pend, h, key, force, scratch):
    """Halve sorted level ``h >= 1`` into level ``h+1`` (which must exist).

    With an odd count the smallest item stays behind. Of the even run that remains, every
    other item (offset 0 or 1) moves up with double weight, merged into the sorted level
    above; the lower levels shift up into the freed space."""
    a = lv[h]
    b = lv[h + 1]
    n = b - a
    odd = n & 1
    s = a + odd
    p = (b - s) // 2
    o = _offset(flips, pend, h, key, buf, s, b, force)
    left = buf[a]
    for t in range(p):  # every other item, packed at the front of the run (reads stay ahead)
        buf[s + t] = buf[s + o + 2 * t]
    _merge_up(buf, lv, h + 1, buf, s, p, scratch)  # writes start at b - p = s + p, past the packed run
    new_up = b - p
    if odd:
        buf[new_up - 1] = left
    lo = lv[1]
    for t in range(a - 1, lo - 1, -1):  # levels 1..h-1 move up by p (overlapping ranges)
        buf[t + p] = buf[t]
    for t in range(h + 1):
        lv[t] += p
    lv[h + 1] = new_up


@njit(cache=True, nogil=True, inline="always")
def _settle_step(buf, lv, flips, pend, capd, capsum, key, force, scratch):
    """Compact until the upper levels fit their capacity: 0 when they do, 1 when the level to
    compact is the top one (the caller adds a level and calls again)."""
    n_levels = lv.shape[0] - 1
    while buf.shape[0] - lv[1] > capsum[n_levels - 1]:
        h = 1
        while h < n_levels - 1 and lv[h + 1] - lv[h] < capd[n_levels - 1 - h]:
            h += 1
        if h == n_levels - 1:
            return 1
        compact(buf, lv, flips, pend, h, key, force, scratch)
    return 0


@njit(cache=True, nogil=True)
def settle(buf, lv, flips, pend, capd, capsum, key, half_b, force):
    """While the upper levels hold more than their capacity, compact the lowest level at or
    over its own capacity (adding a level first when that is the top one)."""
    scratch = np.empty(buf.shape[0], dtype=np.float64)
    while _settle_step(buf, lv, flips, pend, capd, capsum, key, force, scratch):
        buf, lv, flips, pend = grow(buf, lv, flips, pend, capd, capsum, half_b)
        scratch = np.empty(buf.shape[0], dtype=np.float64)
        compact(buf, lv, flips, pend, lv.shape[0] - 3, key, force, scratch)
    return buf, lv, flips, pend


@njit(cache=True, nogil=True, inline="always")
def _promote0(run, buf, lv, flips, pend, key, force, scratch):
    """Level-0 half of a compaction: every other item of the sorted full ``run`` into level 1
    (which must exist and have room)."""
    o = _offset(flips, pend, 0, key, run, 0, run.shape[0], force)
    p = run.shape[0] // 2
    for t in range(p):
        run[t] = run[o + 2 * t]
    _merge_up(buf, lv, 1, run, 0, p, scratch)
    lv[0] -= p
    lv[1] -= p


@njit(cache=True, nogil=True)
def compact0(run, buf, lv, flips, pend, capd, capsum, key, half_b, force):
    """Compact a full, sorted level-0 run into level 1 and settle the upper levels."""
    if lv.shape[0] - 1 < 2:
        buf, lv, flips, pend = grow(buf, lv, flips, pend, capd, capsum, half_b)
    _promote0(run, buf, lv, flips, pend, key, force, np.empty(buf.shape[0], dtype=np.float64))
    return settle(buf, lv, flips, pend, capd, capsum, key, half_b, force)


@njit(cache=True, nogil=True)
def _insert(buf, lv, h, x):
    """Put ``x`` into sorted level ``h >= 1`` (after equal items); a free slot must exist."""
    lo = lv[h]
    hi = lv[h + 1]
    while lo < hi:  # first position holding an item > x
        mid = (lo + hi) >> 1
        if buf[mid] > x:
            hi = mid
        else:
            lo = mid + 1
    start = lv[1]
    for t in range(start, lo):
        buf[t - 1] = buf[t]
    buf[lo - 1] = x
    for t in range(h + 1):
        lv[t] -= 1


@njit(cache=True, nogil=True)
def update(buf0, n0, buf, lv, flips, pend, capd, capsum, key, force, values, weights, weighted):
    """Add ``values`` (finite float64, no −0.0) with int64 ``weights`` (ignored unless
    ``weighted``). An item of weight w enters level h for each set bit h of w, lowest bit first.
    Level 0 is compacted the moment it holds B items. Returns the new state and ``n0``."""
    big_b = buf0.shape[0]
    half_b = big_b // 2
    n = values.shape[0]
    for i in range(n):
        w = np.int64(1)
        if weighted:
            w = weights[i]
        x = values[i]
        h = 0
        while w > 0:
            if w & 1:
                if h == 0:
                    buf0[n0] = x
                    n0 += 1
                    if n0 == big_b:
                        buf0.sort()
                        buf, lv, flips, pend = compact0(buf0, buf, lv, flips, pend, capd, capsum, key, half_b, force)
                        n0 = 0
                else:
                    while lv.shape[0] - 1 <= h:
                        buf, lv, flips, pend = grow(buf, lv, flips, pend, capd, capsum, half_b)
                    _insert(buf, lv, h, x)
                    buf, lv, flips, pend = settle(buf, lv, flips, pend, capd, capsum, key, half_b, force)
            w >>= 1
            h += 1
    return buf, lv, flips, pend, n0


@njit(cache=True, nogil=True, inline="always")
def _promote0_and_compact1(run, buf, lv, flips, pend, capd, capsum, key, force, merged, scratch):
    """What ``_promote0`` then the first ``_settle_step`` compaction do when that compaction is
    of level 1 (the usual case: the promoted half-run fills level 1 past its capacity), without
    writing level 1 to ``buf`` in between. Returns False, having done only ``_promote0``, when
    the first settle step would do something else."""
    n_levels = lv.shape[0] - 1
    p0 = run.shape[0] // 2
    m1 = lv[2] - lv[1]
    over = buf.shape[0] - lv[1] + p0 > capsum[n_levels - 1]
    if not (over and n_levels > 2 and p0 + m1 >= capd[n_levels - 2]):
        _promote0(run, buf, lv, flips, pend, key, force, scratch)
        return False
    o0 = _offset(flips, pend, 0, key, run, 0, run.shape[0], force)
    for t in range(p0):
        run[t] = run[o0 + 2 * t]
    # level 1 after the promotion: the kept half merged with what level 1 held (a few items)
    i, j, w = 0, lv[1], 0
    c = lv[2]
    while i < p0:
        if j < c and buf[j] < run[i]:
            merged[w] = buf[j]
            j += 1
        else:
            merged[w] = run[i]
            i += 1
        w += 1
    while j < c:
        merged[w] = buf[j]
        j += 1
        w += 1
    n = p0 + m1
    odd = n & 1
    p1 = (n - odd) // 2
    o1 = _offset(flips, pend, 1, key, merged, odd, n, force)
    left = merged[0]
    for t in range(p1):
        merged[t] = merged[odd + o1 + 2 * t]
    _merge_up(buf, lv, 2, merged, 0, p1, scratch)
    new_up = lv[2] - p1
    if odd:
        buf[new_up - 1] = left
    lv[0] = new_up - odd
    lv[1] = new_up - odd
    lv[2] = new_up
    return True


@njit(cache=True, nogil=True)
def sorted_runs_until_growth(runs, start, resume, buf, lv, flips, pend, capd, capsum, key, force):
    """Compact rows ``start..`` of ``runs`` (full level-0 chunks, each already sorted) until one
    needs a new level; ``resume`` skips the level-0 half of the first row (done before the
    previous call stopped). Returns the row to go on with (len(runs) when finished)."""
    n_levels = lv.shape[0] - 1
    scratch = np.empty(buf.shape[0], dtype=np.float64)
    merged = np.empty(buf.shape[0], dtype=np.float64)
    for r in range(start, runs.shape[0]):
        if n_levels < 2:
            return r, 0
        if not (resume and r == start):
            _promote0_and_compact1(runs[r], buf, lv, flips, pend, capd, capsum, key, force, merged, scratch)
        if _settle_step(buf, lv, flips, pend, capd, capsum, key, force, scratch):
            return r, 1
    return runs.shape[0], 0


def update_sorted_runs(runs, buf, lv, flips, pend, capd, capsum, key, force):
    """Compact each row of ``runs`` in turn: the compiled loop runs until a level must be added,
    which happens here (rarely: once per doubling of the stream), then goes on."""
    half_b = runs.shape[1] // 2
    r, resume = 0, 0
    while True:
        r, resume = sorted_runs_until_growth(runs, r, resume, buf, lv, flips, pend, capd, capsum, key, force)
        if r >= runs.shape[0]:
            return buf, lv, flips, pend
        buf, lv, flips, pend = grow(buf, lv, flips, pend, capd, capsum, half_b)
        if resume:  # the top level was the one to compact: it now has a level above it
            compact(buf, lv, flips, pend, lv.shape[0] - 3, key, force, np.empty(buf.shape[0]))


@njit(cache=True, nogil=True)
def sorted_view(buf0, n0, buf, lv):
    """All retained items sorted, with their weights 2**h (ties keep level order)."""
    n_levels = lv.shape[0] - 1
    size = n0 + buf.shape[0] - lv[1]
    vals = np.empty(size, dtype=np.float64)
    wts = np.empty(size, dtype=np.int64)
    for t in range(n0):
        vals[t] = buf0[t]
        wts[t] = 1
    pos = n0
    for h in range(1, n_levels):
        for t in range(lv[h], lv[h + 1]):
            vals[pos] = buf[t]
            wts[pos] = np.int64(1) << np.int64(h)
            pos += 1
    order = np.argsort(vals, kind="mergesort")
    return vals[order], wts[order]
