"""Compiled inner loops of the similarity sketches.

Signature values are uint32. ``EMPTY = 0xFFFFFFFF`` marks a slot (k-hash) or bin (one
permutation) that no item reached; a real value is clamped to ``0xFFFFFFFE``, so the sentinel
never collides with data (a 2**-32 chance per item of a shared top value, far below the
estimator's noise).

Text kernels read one UTF-8 buffer with ``n_docs + 1`` int64 offsets (see
:func:`sketchkit.hashing.encoded_buffer`) and build each document's shingle hashes on the fly:

* **words**: maximal runs of non-whitespace bytes (ASCII whitespace: space, ``\\t\\n\\v\\f\\r``);
  word ``w`` hashes to ``item_hash(w)`` (XXH64 of its UTF-8 bytes under the item key); an
  n-gram of word hashes ``h_1..h_n`` hashes to ``g_n`` where ``g_0`` is the n-gram key and
  ``g_j = mix64(g_{j-1} ^ h_j)`` (order-sensitive; no shingle string is ever built);
* **chars**: windows of ``n`` code points; the shingle hash is ``item_hash`` of the window's
  UTF-8 bytes, so it equals the hash of the n-gram string passed to ``update``.

A document with fewer than ``n`` words (characters) but at least one has one shingle: all of
them. A document with none has the empty set.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit
from ..hashing import U32, _xxh64_span, mix64_u

EMPTY = np.uint32(0xFFFFFFFF)
U_EMPTY = np.uint64(0xFFFFFFFF)
U_TOP = np.uint64(0xFFFFFFFE)
U_LO = np.uint64(0xFFFFFFFF)
U_GOLD = np.uint64(0x9E3779B97F4A7C15)
U1 = np.uint64(1)

MODE_WORDS = 0
MODE_CHARS = 1
METHOD_KHASH = 0
METHOD_OPH = 1
METHOD_FSS = 2


@njit(cache=True, inline="always")
def _clamp(v):
    return v if v < U_TOP else U_TOP


@njit(cache=True, inline="always")
def khash_one(sig, a, b, x):
    """Fold item hash ``x`` into a k-hash signature: slot i keeps min over items of the top
    32 bits of ``a_i * x + b_i`` (mod 2**64)."""
    for i in range(sig.shape[0]):
        v = _clamp((a[i] * x + b[i]) >> U32)
        if v < sig[i]:
            sig[i] = np.uint32(v)


@njit(cache=True, inline="always")
def oph_one(bins, x):
    """Fold item hash ``x`` into one-permutation bins: bin = top 32 bits scaled to [0, k)
    (Lemire's reduction), value = low 32 bits."""
    k = np.uint64(bins.shape[0])
    j = ((x >> U32) * k) >> U32
    v = _clamp(x & U_LO)
    if v < bins[j]:
        bins[j] = np.uint32(v)


@njit(cache=True, inline="always")
def round_bits(k):
    """Bits of a Fast Similarity Sketching value that hold the round (0 .. 2k - 1)."""
    bits = 1
    while (1 << bits) < 2 * k:
        bits += 1
    return bits


@njit(cache=True)
def fss_update(sig, hashes, key):
    """Fast Similarity Sketching (Dahlgaard, Knudsen & Thorup, FOCS 2017). Round j < k sends
    every item to a uniformly random bin; round k + i sends item x to bin (o(x) + i) mod k, so
    by round 2k every bin is hit. Item x's value in round j is ``j`` in the top bits and a
    fresh random fraction below, so earlier rounds always win; a bin keeps its minimum. Once
    every bin holds a value from a round before j, no later round can change anything: stop.
    The result is the minimum over all (item, round) values, a function of the set alone, so
    merging is an element-wise minimum and batches equal loops."""
    k = sig.shape[0]
    rb = round_bits(k)
    shift = np.uint64(32 - rb)
    frac = (U1 << shift) - U1
    uk = np.uint64(k)
    filled = 0
    for b in range(k):
        if sig[b] != EMPTY:
            filled += 1
    for j in range(2 * k):
        if filled == k:
            top = np.uint32(0)
            for b in range(k):
                if sig[b] > top:
                    top = sig[b]
            if (np.uint64(top) >> shift) < np.uint64(j):
                break
        rkey = mix64_u(key + np.uint64(j + 1) * U_GOLD)
        base = np.uint64(j) << shift
        for t in range(hashes.shape[0]):
            z = mix64_u(hashes[t] ^ rkey)
            if j < k:
                b = ((z >> U32) * uk) >> U32
            else:
                o = ((mix64_u(hashes[t] ^ key) >> U32) * uk) >> U32
                b = (o + np.uint64(j - k)) % uk
            v = _clamp(base | (z & frac))
            if v < sig[b]:
                if sig[b] == EMPTY:
                    filled += 1
                sig[b] = np.uint32(v)


@njit(cache=True)
def khash_update(sig, a, b, hashes):
    for t in range(hashes.shape[0]):
        khash_one(sig, a, b, hashes[t])


@njit(cache=True)
def oph_update(bins, hashes):
    for t in range(hashes.shape[0]):
        oph_one(bins, hashes[t])


@njit(cache=True, inline="always")
def probe(dkey, i, attempt, k):
    """Bin probed by empty bin ``i`` at ``attempt``: a data-independent sequence per bin."""
    z = mix64_u(dkey ^ (np.uint64(i) * U_GOLD) ^ (np.uint64(attempt) << U32))
    return np.intp(((z >> U32) * np.uint64(k)) >> U32)


@njit(cache=True)
def densify_into(bins, out, dkey):
    """Optimal densification (Shrivastava, ICML 2017): each empty bin walks its own hash
    sequence of bins until it meets a non-empty one and copies that value. All bins empty (the
    empty set): the output stays empty."""
    k = bins.shape[0]
    filled = 0
    for i in range(k):
        out[i] = bins[i]
        if bins[i] != EMPTY:
            filled += 1
    if filled == 0 or filled == k:
        return
    for i in range(k):
        if bins[i] == EMPTY:
            attempt = 0
            while True:
                j = probe(dkey, i, attempt, k)
                if bins[j] != EMPTY:
                    out[i] = bins[j]
                    break
                attempt += 1


@njit(cache=True)
def densify_rows(rows, dkey):
    out = np.empty_like(rows)
    for r in range(rows.shape[0]):
        densify_into(rows[r], out[r], dkey)
    return out


@njit(cache=True, inline="always")
def _is_space(c):
    return c == 32 or (9 <= c <= 13)


@njit(cache=True)
def _doc_shingles(buf, start, end, mode, n, item_seed, gkey, ring, out):
    """Shingle hashes of ``buf[start:end]`` written to ``out`` (long enough: one per byte at
    most, plus one); returns how many."""
    m = 0
    if mode == MODE_WORDS:
        count = 0
        p = start
        while p < end:
            while p < end and _is_space(buf[p]):
                p += 1
            if p >= end:
                break
            q = p
            while q < end and not _is_space(buf[q]):
                q += 1
            ring[count % n] = _xxh64_span(buf, p, q, item_seed)
            count += 1
            if count >= n:
                g = gkey
                for j in range(count - n, count):
                    g = mix64_u(g ^ ring[j % n])
                out[m] = g
                m += 1
            p = q
        if 0 < count < n:
            g = gkey
            for j in range(count):
                g = mix64_u(g ^ ring[j])
            out[m] = g
            m += 1
    else:
        # code point starts: bytes that are not UTF-8 continuation bytes (10xxxxxx)
        count = 0
        first = start
        pos = np.empty(n + 1, dtype=np.int64)
        p = start
        while p < end:
            if (buf[p] & 0xC0) != 0x80:
                pos[count % (n + 1)] = p
                count += 1
                if count > n:
                    s = pos[(count - n - 1) % (n + 1)]
                    out[m] = _xxh64_span(buf, s, p, item_seed)
                    m += 1
            p += 1
        if count >= n:
            s = pos[(count - n) % (n + 1)]
            out[m] = _xxh64_span(buf, s, end, item_seed)
            m += 1
        elif count > 0:
            out[m] = _xxh64_span(buf, first, end, item_seed)
            m += 1
    return m


@njit(cache=True)
def text_signatures(buf, offsets, mode, n, item_seed, gkey, method, a, b, k, fkey):
    """Raw signature rows (n_docs × k uint32, EMPTY where nothing landed) of every document."""
    n_docs = offsets.shape[0] - 1
    out = np.full((n_docs, k), EMPTY, dtype=np.uint32)
    longest = 0
    for d in range(n_docs):
        longest = max(longest, offsets[d + 1] - offsets[d])
    scratch = np.empty(longest + 1, dtype=np.uint64)
    ring = np.empty(n, dtype=np.uint64)
    for d in range(n_docs):
        m = _doc_shingles(buf, offsets[d], offsets[d + 1], mode, n, item_seed, gkey, ring, scratch)
        row = out[d]
        if method == METHOD_OPH:
            for t in range(m):
                oph_one(row, scratch[t])
        elif method == METHOD_FSS:
            if m:
                fss_update(row, scratch[:m], fkey)
        else:
            for t in range(m):
                khash_one(row, a, b, scratch[t])
    return out


@njit(cache=True)
def text_shingles(buf, offsets, mode, n, item_seed, gkey):
    """Every document's shingle hashes, flattened, with n_docs + 1 offsets (CSR)."""
    n_docs = offsets.shape[0] - 1
    total = offsets[n_docs] - offsets[0] + n_docs
    flat = np.empty(total, dtype=np.uint64)
    starts = np.zeros(n_docs + 1, dtype=np.int64)
    ring = np.empty(n, dtype=np.uint64)
    m = 0
    for d in range(n_docs):
        m += _doc_shingles(buf, offsets[d], offsets[d + 1], mode, n, item_seed, gkey, ring, flat[m:])
        starts[d + 1] = m
    return flat[:m].copy(), starts


@njit(cache=True)
def band_keys(sigs, bands, rows):
    """uint64 key of each (document, band): a hash of the band's ``rows`` values, salted by the
    band number so equal values in different bands do not meet."""
    n = sigs.shape[0]
    out = np.empty((n, bands), dtype=np.uint64)
    for d in range(n):
        for bnd in range(bands):
            g = mix64_u(np.uint64(bnd) + U_GOLD)
            base = bnd * rows
            for r in range(rows):
                g = mix64_u(g ^ np.uint64(sigs[d, base + r]))
            out[d, bnd] = g
    return out


@njit(cache=True)
def equal_fraction_pairs(sigs, left, right):
    """Share of equal slots between rows left[i] and right[i]."""
    out = np.empty(left.shape[0], dtype=np.float64)
    k = sigs.shape[1]
    for i in range(left.shape[0]):
        a = sigs[left[i]]
        b = sigs[right[i]]
        eq = 0
        for j in range(k):
            if a[j] == b[j]:
                eq += 1
        out[i] = eq / k
    return out
