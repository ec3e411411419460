"""Compiled inner loops of the linear sketches (CountSketch, Count-Min).

Every kernel takes ``keys`` either as raw int64 items (``raw=True``: the item hash of
:mod:`sketchkit.hashing` is computed inline, saving a pass over memory) or as item hashes
(``raw=False``). Additive updates hash a chunk of items and then make one pass per row over
the chunk; updates whose result depends on order (conservative update, the heavy-hitter
candidates) stay item-major. An empty ``weights`` array means "every weight is 1".
"""

from __future__ import annotations

import numpy as np

from .._jit import njit

try:  # the C versions of the table kernels (see the end of this module)
    from .. import _pack
except ImportError:  # pragma: no cover - exercised by forcing _native = None in the tests
    _pack = None
from ..hashing import NUMBA_INT_BATCH, U0, U32, int_hash

U31BIT = np.uint64(1 << 31)


@njit(cache=True, inline="always")
def key_hash(keys, i, raw, item_seed):
    if raw:
        return int_hash(keys[i], item_seed)
    return np.uint64(keys[i])


@njit(cache=True, inline="always")
def bucket_sign(h, row_keys, r, width):
    """Bucket in [0, width) and sign of item hash ``h`` in row ``r`` (hashing spec item 4)."""
    v = h * row_keys[r, 0] + row_keys[r, 1]
    return np.intp(((v >> U32) * width) >> U32), (v & U31BIT) != U0


@njit(cache=True, inline="always")
def sort_small(vals):
    """In-place insertion sort: the arrays are one value per row, so short."""
    for a in range(1, vals.shape[0]):
        x = vals[a]
        j = a - 1
        while j >= 0 and vals[j] > x:
            vals[j + 1] = vals[j]
            j -= 1
        vals[j + 1] = x


CHUNK = 1024
U31 = np.uint64(31)
U1 = np.uint64(1)
LOW32 = np.uint64(0xFFFFFFFF)
S32 = np.int64(32)


@njit(cache=True, nogil=True)
def add_rows(table, row_keys, keys, raw, item_seed, weights, signed):
    # Hash a chunk of items, then walk it once per row: each pass touches one row of the
    # table only and its iterations are independent, measured 1.66x faster than item-major
    # order on 10⁷ Zipf int keys (integer additions commute, so the table is bit-identical
    # either way). Per row, the chunk's buckets (and signs) come first, in a loop of their
    # own that the compiler vectorises; the unit-weight adds then load two buckets (and two
    # signs) per word, with uint32 indices (no negative-index check). The chunk's keys and weights are
    # read through a slice indexed from 0: as keys[start + i], numba's negative-index check
    # kept the compiler from proving the reads contiguous and the hash loop gathered its keys.
    # W1 on one core (AMD EPYC, median CPU time, shared machine), CountSketch at 16 KiB /
    # 320 KiB: 157 / 143 M keys/s with the bucket and sign computed beside each add, 274 / 243
    # now; Count-Min 189 / 175 -> 323 / 284. Time on 10⁷ keys at 16 KiB: item hash 4 ms,
    # buckets 6 ms, signs 4 ms, adds 20 ms (+3 ms for loading the signs).
    depth, width = table.shape
    uw = np.uint64(width)
    unit = weights.shape[0] == 0
    n = keys.shape[0]
    hashes = np.empty(CHUNK, dtype=np.uint64)
    buckets = np.empty(CHUNK, dtype=np.uint32)  # width <= 2**31 - 1
    signs = np.empty(CHUNK, dtype=np.int32)
    bucket_pairs = buckets.view(np.uint64)  # element 2j and 2j+1 in one word (CHUNK is even)
    sign_pairs = signs.view(np.int64)  # the same two elements, in the same halves
    for start in range(0, n, CHUNK):
        m = min(n, start + CHUNK) - start
        part = keys[start : start + m]
        part_w = weights[start : start + m] if not unit else weights
        if raw:
            for i in range(m):
                hashes[i] = int_hash(part[i], item_seed)
        else:
            for i in range(m):
                hashes[i] = np.uint64(part[i])
        for r in range(depth):
            a = row_keys[r, 0]
            c = row_keys[r, 1]
            row = table[r]
            if signed:
                # bit 31 of v set: +1, clear: -1 (hashing spec item 4)
                for i in range(m):
                    v = hashes[i] * a + c
                    buckets[i] = ((v >> U32) * uw) >> U32
                    signs[i] = np.int32((v >> U31) & U1) * 2 - 1
                if unit:
                    # two items per load of each array: the adds run at the memory-access
                    # rate of the unsigned loop, not one extra load per item slower
                    for j in range(m >> 1):
                        bp = bucket_pairs[j]
                        sp = sign_pairs[j]
                        row[bp & LOW32] += np.int32(sp)
                        row[bp >> U32] += np.int32(sp >> S32)
                    if m & 1:
                        row[buckets[m - 1]] += signs[m - 1]
                else:
                    for i in range(m):
                        row[buckets[i]] += signs[i] * part_w[i]
            else:
                for i in range(m):
                    v = hashes[i] * a + c
                    buckets[i] = ((v >> U32) * uw) >> U32
                if unit:
                    for j in range(m >> 1):  # two buckets per load, as above
                        bp = bucket_pairs[j]
                        row[bp & LOW32] += 1
                        row[bp >> U32] += 1
                    if m & 1:
                        row[buckets[m - 1]] += 1
                else:
                    for i in range(m):
                        row[buckets[i]] += part_w[i]


@njit(cache=True, nogil=True)
def _cs_update_jit(table, row_keys, keys, raw, item_seed, weights):
    add_rows(table, row_keys, keys, raw, item_seed, weights, True)


@njit(cache=True)
def _cs_estimate_jit(table, row_keys, keys, raw, item_seed):
    depth, width = table.shape
    uw = np.uint64(width)
    out = np.empty(keys.shape[0], dtype=np.int64)
    vals = np.empty(depth, dtype=np.int64)
    half = depth // 2
    for i in range(keys.shape[0]):
        h = key_hash(keys, i, raw, item_seed)
        for r in range(depth):
            b, pos = bucket_sign(h, row_keys, r, uw)
            c = np.int64(table[r, b])
            vals[r] = c if pos else -c
        sort_small(vals)
        out[i] = vals[half]
    return out


@njit(cache=True)
def _cs_row_values_jit(table, row_keys, keys, raw, item_seed):
    """Signed counter of each item in each row: shape (n, depth)."""
    depth, width = table.shape
    uw = np.uint64(width)
    out = np.empty((keys.shape[0], depth), dtype=np.int64)
    for i in range(keys.shape[0]):
        h = key_hash(keys, i, raw, item_seed)
        for r in range(depth):
            b, pos = bucket_sign(h, row_keys, r, uw)
            c = np.int64(table[r, b])
            out[i, r] = c if pos else -c
    return out


@njit(cache=True, nogil=True)
def _cm_update_jit(table, row_keys, keys, raw, item_seed, weights):
    # Conservative update (below) stays item-major: there the order of updates matters.
    add_rows(table, row_keys, keys, raw, item_seed, weights, False)


@njit(cache=True)
def _cm_update_conservative_jit(table, row_keys, keys, raw, item_seed, weights):
    # Estan & Varghese's conservative update: raise each counter only as far as the new
    # lower envelope min_r(C[r, h_r(x)]) + w requires. Insertion-only.
    depth, width = table.shape
    uw = np.uint64(width)
    unit = weights.shape[0] == 0
    idx = np.empty(depth, dtype=np.intp)
    for i in range(keys.shape[0]):
        h = key_hash(keys, i, raw, item_seed)
        w = 1 if unit else weights[i]
        lo = np.int64(0)
        for r in range(depth):
            b, _ = bucket_sign(h, row_keys, r, uw)
            idx[r] = b
            c = np.int64(table[r, b])
            if r == 0 or c < lo:
                lo = c
        target = lo + w
        for r in range(depth):
            if table[r, idx[r]] < target:
                table[r, idx[r]] = target


@njit(cache=True)
def _cm_estimate_jit(table, row_keys, keys, raw, item_seed):
    depth, width = table.shape
    uw = np.uint64(width)
    out = np.empty(keys.shape[0], dtype=np.int64)
    for i in range(keys.shape[0]):
        h = key_hash(keys, i, raw, item_seed)
        lo = np.int64(0)
        for r in range(depth):
            b, _ = bucket_sign(h, row_keys, r, uw)
            c = np.int64(table[r, b])
            if r == 0 or c < lo:
                lo = c
        out[i] = lo
    return out


# ----------------------------------------------------------------------------- C versions
# The six table kernels above also exist in C (sketchkit._pack, built at install: the same
# loops, equal bit for bit, tests/test_native.py; they release the GIL as the numba ones do, for
# the update threads of sketchkit._threads). A first run of a CountSketch or Count-Min then
# compiles nothing, and a later one skips importing numba and loading its cache (about 1 s).
# Raw int64 batches from NUMBA_INT_BATCH keys on take the numba kernels, whose compilation such
# a batch repays: numba vectorises the inline int hash for the CPU it runs on and the scalar C
# build does not. The updates are the exception where the C updates' AVX-512 form runs (chosen
# at run time): on W1 it ran 0.94-1.11x numba's CountSketch and 1.05x its Count-Min (docs/
# BENCHMARKS.md), with nothing to compile.
_native = _pack if hasattr(_pack, "linear") else None
_OP = {"cs_update": 0, "cm_update": 1, "cm_conservative": 2, "cs_estimate": 3, "cm_estimate": 4, "cs_rows": 5}
_TABLE_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))
_KEY_DTYPES = (np.dtype(np.int64), np.dtype(np.uint64))
_NO_OUT = np.empty(0, dtype=np.int64)
_NO_WEIGHTS = np.empty(0, dtype=np.int64)


def _in_c(table, row_keys, keys, raw) -> bool:
    return (_native is not None and table.ndim == 2 and table.dtype in _TABLE_DTYPES and table.flags.c_contiguous
            and table.flags.writeable and keys.dtype in _KEY_DTYPES and row_keys.dtype == np.uint64
            and not (raw and keys.shape[0] >= NUMBA_INT_BATCH))


def _c(op, table, row_keys, keys, raw, item_seed, weights, out):
    _native.linear(_OP[op], table, np.ascontiguousarray(row_keys), np.ascontiguousarray(keys), bool(raw),
                   int(item_seed), np.ascontiguousarray(weights, dtype=np.int64), out)


def _update_in_c(table, row_keys, keys, raw) -> bool:
    return _in_c(table, row_keys, keys, raw) or (
        raw and _in_c(table, row_keys, keys, False) and _native.linear_isa() == "avx512")


def cs_update(table, row_keys, keys, raw, item_seed, weights):
    """CountSketch update: each item's signed weight into one counter per row."""
    if not _update_in_c(table, row_keys, keys, raw):
        return _cs_update_jit(table, row_keys, keys, raw, item_seed, weights)
    _c("cs_update", table, row_keys, keys, raw, item_seed, weights, _NO_OUT)


def cm_update(table, row_keys, keys, raw, item_seed, weights):
    """Count-Min update: each item's weight into one counter per row."""
    if not _update_in_c(table, row_keys, keys, raw):
        return _cm_update_jit(table, row_keys, keys, raw, item_seed, weights)
    _c("cm_update", table, row_keys, keys, raw, item_seed, weights, _NO_OUT)


def cm_update_conservative(table, row_keys, keys, raw, item_seed, weights):
    """Count-Min conservative update (item-major: order matters)."""
    if not _in_c(table, row_keys, keys, raw):
        return _cm_update_conservative_jit(table, row_keys, keys, raw, item_seed, weights)
    _c("cm_conservative", table, row_keys, keys, raw, item_seed, weights, _NO_OUT)


def cs_estimate(table, row_keys, keys, raw, item_seed):
    """Median-of-rows estimate of each item (int64)."""
    if not _in_c(table, row_keys, keys, raw):
        return _cs_estimate_jit(table, row_keys, keys, raw, item_seed)
    out = np.empty(keys.shape[0], dtype=np.int64)
    _c("cs_estimate", table, row_keys, keys, raw, item_seed, _NO_WEIGHTS, out)
    return out


def cs_row_values(table, row_keys, keys, raw, item_seed):
    """Signed counter of each item in each row: shape (n, depth)."""
    if not _in_c(table, row_keys, keys, raw):
        return _cs_row_values_jit(table, row_keys, keys, raw, item_seed)
    out = np.empty((keys.shape[0], table.shape[0]), dtype=np.int64)
    _c("cs_rows", table, row_keys, keys, raw, item_seed, _NO_WEIGHTS, out.reshape(-1))
    return out


def cm_estimate(table, row_keys, keys, raw, item_seed):
    """Minimum-of-rows estimate of each item (int64)."""
    if not _in_c(table, row_keys, keys, raw):
        return _cm_estimate_jit(table, row_keys, keys, raw, item_seed)
    out = np.empty(keys.shape[0], dtype=np.int64)
    _c("cm_estimate", table, row_keys, keys, raw, item_seed, _NO_WEIGHTS, out)
    return out
