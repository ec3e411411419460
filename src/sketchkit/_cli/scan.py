"""Compiled scanner: split a UTF-8 byte chunk into words or lines and count the distinct ones.

Counting inside the chunk first turns millions of tokens into tens of thousands of
(item, count) pairs, so the Python side only touches distinct items: a weighted update of the
aggregated pairs leaves a linear sketch bit-identical to one update per token, and is an
equally valid (weighted) stream for the counter-based sketches.

Words are maximal runs of ASCII ``[A-Za-z0-9_]`` and non-ASCII bytes. A run that holds a
non-ASCII byte is flagged so that the caller re-splits it with the regex ``\\w+`` on the
decoded text: since ``\\w`` never matches an ASCII non-word character, this gives exactly
the tokens of ``re.findall(r"\\w+", text)``.

The kernels release the GIL, so chunks can be scanned on two threads while the main thread
updates the sketch.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit

try:  # the same three scanners in C (see the end of this module)
    from .. import _pack
except ImportError:  # pragma: no cover - exercised by forcing _native = None in the tests
    _pack = None

# The table's hash is private to one chunk and never reaches a sketch (sketches hash items
# themselves with sketchkit.hashing): FNV-1a folded into the scanning loop, so each byte is
# read once, measured 1.2x faster than calling the XXH64 of the hashing spec per token.
FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
MIX = np.uint64(0xFF51AFD7ED558CCD)
U33 = np.uint64(33)
NEWLINE = 10
U_SHIFT = np.uint64(20)  # slot from high bits: capacity stays below 2**44
CR = 13


def _word_bytes() -> np.ndarray:
    table = np.zeros(256, dtype=np.bool_)
    for b in b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_":
        table[b] = True
    table[128:] = True
    return table


# A lookup table, frozen into the kernel as a constant: measured 1.6x faster than comparisons.
WORD_BYTE = _word_bytes()


@njit(cache=True, inline="always")
def _fnv_span(buf, s, e):
    h = FNV_OFFSET
    for k in range(s, e):
        h = (h ^ np.uint64(buf[k])) * FNV_PRIME
    return h


@njit(cache=True, inline="always")
def _finish(h):
    # FNV-1a's high bits mix poorly for short keys; one multiply-xorshift round fixes the slot bits
    h ^= h >> U33
    return h * MIX


@njit(cache=True, inline="always")
def _same_span(buf, s1, e1, s2, e2):
    if e1 - s1 != e2 - s2:
        return False
    for k in range(e1 - s1):
        if buf[s1 + k] != buf[s2 + k]:
            return False
    return True


@njit(cache=True, nogil=True)
def _count_spans_jit(buf, lines):
    """Distinct spans of ``buf`` (words, or lines without their line ending) and their counts.

    Returns ``(starts, ends, counts)``, in order of first occurrence. Exact: equal hashes are
    confirmed byte by byte, so the table's hash only affects speed. Open addressing; the slot
    array keeps each hash beside its entry so that most probes touch one cache line.
    """
    n = buf.shape[0]
    cap = 1 << 14
    slot_hash = np.zeros(cap, dtype=np.uint64)
    slot_entry = np.full(cap, -1, dtype=np.int64)
    starts = np.empty(cap // 2 + 1, dtype=np.int64)
    ends = np.empty(cap // 2 + 1, dtype=np.int64)
    counts = np.zeros(cap // 2 + 1, dtype=np.int64)
    m = 0
    i = 0
    while i < n:
        h = FNV_OFFSET
        if lines:
            s = i
            while i < n and buf[i] != NEWLINE:
                h = (h ^ np.uint64(buf[i])) * FNV_PRIME
                i += 1
            e = i
            if e > s and buf[e - 1] == CR:
                e -= 1
                h = _fnv_span(buf, s, e)
            i += 1
        else:
            while i < n and not WORD_BYTE[buf[i]]:
                i += 1
            if i >= n:
                break
            s = i
            while i < n and WORD_BYTE[buf[i]]:
                h = (h ^ np.uint64(buf[i])) * FNV_PRIME
                i += 1
            e = i
        h = _finish(h)
        slot = np.int64(h >> U_SHIFT) & (cap - 1)
        while True:
            j = slot_entry[slot]
            if j < 0:
                slot_entry[slot] = m
                slot_hash[slot] = h
                starts[m] = s
                ends[m] = e
                counts[m] = 1
                m += 1
                break
            if slot_hash[slot] == h and _same_span(buf, starts[j], ends[j], s, e):
                counts[j] += 1
                break
            slot = (slot + 1) & (cap - 1)
        if 2 * m >= cap:  # keep the load factor under 1/2: double and re-insert
            old_hash, old_entry = slot_hash, slot_entry
            cap *= 2
            slot_hash = np.zeros(cap, dtype=np.uint64)
            slot_entry = np.full(cap, -1, dtype=np.int64)
            for k in range(old_entry.shape[0]):
                if old_entry[k] >= 0:
                    slot = np.int64(old_hash[k] >> U_SHIFT) & (cap - 1)
                    while slot_entry[slot] >= 0:
                        slot = (slot + 1) & (cap - 1)
                    slot_entry[slot] = old_entry[k]
                    slot_hash[slot] = old_hash[k]
            starts = _grow(starts, cap // 2 + 1)
            ends = _grow(ends, cap // 2 + 1)
            counts = _grow(counts, cap // 2 + 1)
    return starts[:m].copy(), ends[:m].copy(), counts[:m].copy()


@njit(cache=True)
def _grow(arr, size):
    out = np.zeros(size, dtype=arr.dtype)
    out[: arr.shape[0]] = arr
    return out


@njit(cache=True, nogil=True)
def _join_spans_jit(buf, starts, ends):
    """The spans joined by newlines (none contains one), and a flag per span: has a non-ASCII byte."""
    m = starts.shape[0]
    total = 0
    for j in range(m):
        total += ends[j] - starts[j] + 1
    out = np.empty(max(total - 1, 0), dtype=np.uint8)
    wide = np.zeros(m, dtype=np.bool_)
    p = 0
    for j in range(m):
        if j:
            out[p] = NEWLINE
            p += 1
        for k in range(starts[j], ends[j]):
            b = buf[k]
            out[p] = b
            p += 1
            if b >= 128:
                wide[j] = True
    return out, wide


@njit(cache=True, nogil=True)
def _first_invalid_utf8_jit(buf, start):
    """Offset of the first byte at or after ``start`` that starts an invalid UTF-8 sequence, or -1.

    Accepts exactly what Python's strict UTF-8 decoder accepts (no overlong forms, no
    surrogates, nothing above U+10FFFF), without building a string.
    """
    n = buf.shape[0]
    i = start
    while i < n:
        b = buf[i]
        if b < 0x80:
            i += 1
            continue
        lo, hi = 0x80, 0xBF
        if 0xC2 <= b <= 0xDF:
            need = 1
        elif b == 0xE0:
            need, lo = 2, 0xA0
        elif 0xE1 <= b <= 0xEC or b == 0xEE or b == 0xEF:
            need = 2
        elif b == 0xED:
            need, hi = 2, 0x9F
        elif b == 0xF0:
            need, lo = 3, 0x90
        elif 0xF1 <= b <= 0xF3:
            need = 3
        elif b == 0xF4:
            need, hi = 3, 0x8F
        else:
            return i
        if i + need >= n:
            return i
        c = buf[i + 1]
        if c < lo or c > hi:
            return i
        for k in range(2, need + 1):
            c = buf[i + k]
            if c < 0x80 or c > 0xBF:
                return i
        i += need + 1
    return -1


# The three scanners above also exist in C (sketchkit._pack, built at install): line-for-line
# copies, equal on every output (tests/test_native.py), releasing the GIL as the kernels do, and
# needing no compilation on a first run. The numba kernels serve when the extension is absent.
_native = _pack if hasattr(_pack, "count_spans") else None


def count_spans(buf, lines):
    """Distinct spans of ``buf`` (words, or lines without their line ending) and their counts:
    ``(starts, ends, counts)`` int64 arrays, in order of first occurrence."""
    if _native is None:
        return _count_spans_jit(buf, lines)
    starts, ends, counts = _native.count_spans(buf, bool(lines))
    return (np.frombuffer(starts, dtype=np.int64), np.frombuffer(ends, dtype=np.int64),
            np.frombuffer(counts, dtype=np.int64))


def join_spans(buf, starts, ends):
    """The spans joined by newlines (none contains one), and a flag per span: has a non-ASCII byte."""
    if _native is None:
        return _join_spans_jit(buf, starts, ends)
    joined, wide = _native.join_spans(buf, starts, ends)
    return np.frombuffer(joined, dtype=np.uint8), np.frombuffer(wide, dtype=np.bool_)


def first_invalid_utf8(buf, start):
    """Offset of the first byte at or after ``start`` that starts an invalid UTF-8 sequence, or -1
    (exactly what Python's strict UTF-8 decoder refuses)."""
    if _native is None:
        return _first_invalid_utf8_jit(buf, start)
    return _native.first_invalid_utf8(buf, int(start))
