"""Compiled kernels of the ExaLogLog sketch (Ertl, EDBT 2025, arXiv 2402.13726), t = 2, d = 20.

Register layout (28 bits, packed 16 registers per 7 uint64 words, little-endian bit order):
bits 20..27 hold ``u``, the largest update value seen (0: empty register); bit ``20 - j``
(j = 1..20) records that update value ``u - j`` occurred.

Update value of a 64-bit hash ``h`` at precision ``p``: register ``h >> (64 - p)``; the next
``t = 2`` bits ``s``; ``nlz`` = leading zeros of the remaining ``Q = 62 - p`` bits (``Q`` when
all are zero); ``k = 4 * nlz + s + 1``. Its probability is
``rho(k) = 2**-(3 + (k - 1) // 4)`` for ``k <= 4Q`` and ``2**-(Q + 2)`` for the last four values
(the paper's approximated geometric distribution with base ``2**(1/4)``).

Probabilities are kept as exact integers in units of ``2**-(64 - p)``: one register's whole
probability mass is ``2**(64 - p)`` units, all ``m = 2**p`` registers ``2**64``. ``alpha`` (the
units of update values whose arrival would change the state) is therefore exactly
``2**64 * mu``, where ``mu`` is the probability that the next new distinct item changes the
state: the martingale (HIP) estimator adds ``1 / mu`` at every state change (Ertl 2024, Alg. 2).
``alpha`` wraps to 0 only for an all-empty array (2**64), which the callers never hold in dense
mode.
"""

from __future__ import annotations

import numpy as np

from .._jit import LazyKernel, load_numba, njit
from ..hashing import U0, U1, U64, U_P1, int_hash

T = 2
D = 20
REG_BITS = 28
UD = np.uint64(D)
U2 = np.uint64(2)
U3 = np.uint64(3)
U28 = np.uint64(REG_BITS)
U36 = np.uint64(64 - REG_BITS)
U6 = np.uint64(6)
U63 = np.uint64(63)
MASK28 = np.uint64((1 << REG_BITS) - 1)
HMASK = np.uint64((1 << D) - 1)
HTOP = np.uint64(1 << D)
TWO64 = 18446744073709551616.0


class _LeadingZeros(LazyKernel):
    """numba's leading-zeros intrinsic as a lazy stand-in: the kernels that call it are built
    by sketchkit._jit, which builds (here: imports) the stand-ins they read first."""

    def __init__(self) -> None:
        self._built = None

    def build(self):
        if self._built is None:
            load_numba()
            from numba.cpython.unsafe.numbers import leading_zeros as lz

            self._built = lz
        return self._built


leading_zeros = _LeadingZeros()


def ready() -> None:
    """Load numba up front, for callers that want its import cost paid early (the kernels
    load it themselves on first use)."""


def words_for(p: int) -> int:
    """uint64 words holding 2**p packed 28-bit registers (p >= 4), plus one padding word."""
    return (REG_BITS << p) // 64 + 1


def max_value(p: int) -> int:
    """Largest update value at precision p: 4 * (62 - p) + 4."""
    return 4 * (62 - p) + 4


def rho_units(p: int) -> np.ndarray:
    """rho(k) in units of 2**-(64-p), k = 0..max_value(p) (index 0 unused: 0)."""
    q = 62 - p
    kmax = max_value(p)
    out = np.zeros(kmax + 1, dtype=np.uint64)
    for k in range(1, kmax + 1):
        j = (k - 1) >> 2
        out[k] = 1 << max(q - 1 - j, 0)
    return out


def coding_probabilities(p: int, lam_code: int) -> np.ndarray:
    """prob0[v] = P(update value v did not occur in a register), in units of 2**-16 and within
    [1, 2**16 - 1], at lambda = 2**(lam_code / 16) items per register: the model of the
    compact form (deterministic: one libm exp per value, then rounding)."""
    import math

    q = 62 - p
    kmax = max_value(p)
    out = np.zeros(kmax + 1, dtype=np.uint32)
    for v in range(1, kmax + 1):
        j = (v - 1) >> 2
        e = 3 + j if j < q else q + 2
        x = 2.0 ** ((lam_code - 16 * e) / 16.0)
        out[v] = min(max(round(65536.0 * math.exp(-x)), 1), 65535)
    return out


def tail_units(p: int) -> np.ndarray:
    """Units of all update values above u, u = 0..max_value(p)."""
    rho = rho_units(p)
    kmax = max_value(p)
    out = np.zeros(kmax + 1, dtype=np.uint64)
    acc = 0
    for u in range(kmax, -1, -1):
        out[u] = acc
        acc += int(rho[u])
    return out


# ------------------------------------------------------------------ register access
# The update kernels read a register as one 64-bit window over two aligned uint32 halves of
# the word array (a uint32 view; the array carries one padding word so the window of the last
# register stays inside it): one shift below 32 instead of a two-word branch, 2.5x faster
# (measured). The view assumes a little-endian machine, checked where the sketch is built.
U5 = np.uint64(5)
U31 = np.uint64(31)
U32_ = np.uint64(32)
LOW32 = np.uint64(0xFFFFFFFF)


@njit(cache=True, inline="always")
def get_reg(w32, i):
    pos = np.uint64(i) * U28
    k = pos >> U5
    off = pos & U31
    return ((np.uint64(w32[k]) | (np.uint64(w32[k + U1]) << U32_)) >> off) & MASK28


@njit(cache=True, inline="always")
def set_reg(w32, i, v):
    pos = np.uint64(i) * U28
    k = pos >> U5
    off = pos & U31
    old = np.uint64(w32[k]) | (np.uint64(w32[k + U1]) << U32_)
    new = (old & ~(MASK28 << off)) | (v << off)
    w32[k] = np.uint32(new & LOW32)
    w32[k + U1] = np.uint32(new >> U32_)


@njit(cache=True, inline="always")
def index_value(h, p):
    """(register index, update value) of hash h at precision p."""
    up = np.uint64(p)
    idx = h >> (U64 - up)
    s = (h >> (U64 - up - U2)) & U3
    rest = (h << (up + U2)) | (U1 << (up + U1))
    nlz = np.uint64(leading_zeros(rest))
    return idx, (nlz << U2) + s + U1


@njit(cache=True, inline="always")
def reg_after(r, k):
    """Register r after update value k (r itself when the state does not change)."""
    u = r >> UD
    if k > u:
        delta = k - u
        if u == U0 or delta > UD:
            return k << UD
        return (k << UD) | (((r & HMASK) | HTOP) >> delta)
    delta = u - k
    if delta == U0 or delta > UD:
        return r
    return r | (U1 << (UD - delta))


@njit(cache=True, inline="always")
def reg_merge(a, b):
    ua = a >> UD
    ub = b >> UD
    if ua < ub:
        a, b = b, a
        ua, ub = ub, ua
    if ub == U0:
        return a
    delta = ua - ub
    if delta == U0:
        return a | b
    if delta > UD:
        return a
    return a | (((b & HMASK) | HTOP) >> delta)


@njit(cache=True, inline="always")
def reg_units(r, rho, tail):
    """Units of update values whose arrival would change register r: those above u, and the
    values in the window below u (>= 1) whose bit is clear (visited clear bit by clear bit)."""
    u = r >> UD
    c = tail[u]
    if u <= U1:
        return c
    jmax = min(UD, u - U1)
    clear = (~r) & HMASK & ~((U1 << (UD - jmax)) - U1)
    while clear != U0:
        b = U63 - np.uint64(leading_zeros(clear))
        c += rho[u - UD + b]
        clear ^= U1 << b
    return c


CHUNK = 2048


@njit(cache=True, inline="always")
def fill_hashes(buf, keys, raw, item_seed, start, stop):
    # hashing a chunk apart from the register loop lets it vectorise (measured 2x overall);
    # the chunk is read through a slice indexed from 0, which lets LLVM see contiguous reads
    part = keys[start:stop]
    if raw:
        for i in range(part.shape[0]):
            buf[i] = int_hash(part[i], item_seed)
    else:
        for i in range(part.shape[0]):
            buf[i] = np.uint64(part[i])


@njit(cache=True, nogil=True)
def dense_update_hip(w32, p, keys, raw, item_seed, start, est_box, alpha_box, rho, tail):
    """Fold keys[start:] into the registers in order, keeping the martingale estimate
    ``est_box[0]`` and the exact state-change units ``alpha_box[0]``."""
    est = est_box[0]
    alpha = alpha_box[0]
    n = keys.shape[0]
    buf = np.empty(CHUNK, dtype=np.uint64)
    for c0 in range(start, n, CHUNK):
        c1 = min(n, c0 + CHUNK)
        fill_hashes(buf, keys, raw, item_seed, c0, c1)
        for i in range(c1 - c0):
            idx, k = index_value(buf[i], p)
            r = get_reg(w32, idx)
            r2 = reg_after(r, k)
            if r2 != r:
                set_reg(w32, idx, r2)
                # mu = alpha / 2**64; an all-empty array has alpha = 2**64 (stored as 0)
                est += TWO64 / float(alpha) if alpha != U0 else 1.0
                if k < (r >> UD):  # one clear history bit set: that value's mass leaves alpha
                    alpha -= rho[k]
                else:
                    alpha = alpha - reg_units(r, rho, tail) + reg_units(r2, rho, tail)
    est_box[0] = est
    alpha_box[0] = alpha


@njit(cache=True, nogil=True)
def dense_update_plain(w32, p, keys, raw, item_seed, start):
    """Fold keys[start:] into the registers (no martingale: merged sketches)."""
    n = keys.shape[0]
    buf = np.empty(CHUNK, dtype=np.uint64)
    for c0 in range(start, n, CHUNK):
        c1 = min(n, c0 + CHUNK)
        fill_hashes(buf, keys, raw, item_seed, c0, c1)
        for i in range(c1 - c0):
            idx, k = index_value(buf[i], p)
            r = get_reg(w32, idx)
            r2 = reg_after(r, k)
            if r2 != r:
                set_reg(w32, idx, r2)


@njit(cache=True, inline="always")
def reg_merge_nb(a, b):
    """reg_merge without data-dependent branches (merging two sketches of different streams
    mispredicts about every other register). Registers compare by u first, as u is in the
    top bits."""
    hi = max(a, b)
    lo = min(a, b)
    delta = min((hi >> UD) - (lo >> UD), U63)
    x = ((((lo & HMASK) | HTOP) >> delta) & HMASK) * np.uint64(lo != U0)
    return hi | x


@njit(cache=True, nogil=True)
def merge_words(dst, src, m):
    """dst = register-wise merge of dst and src. Written out for one group of 16 registers
    (7 words) so that every shift is a constant (variable shifts cost ~3x here)."""
    for g in range(m >> 4):
        b = g * 7
        a0 = dst[b + 0]
        s0 = src[b + 0]
        a1 = dst[b + 1]
        s1 = src[b + 1]
        a2 = dst[b + 2]
        s2 = src[b + 2]
        a3 = dst[b + 3]
        s3 = src[b + 3]
        a4 = dst[b + 4]
        s4 = src[b + 4]
        a5 = dst[b + 5]
        s5 = src[b + 5]
        a6 = dst[b + 6]
        s6 = src[b + 6]
        c0 = reg_merge_nb(a0 & MASK28, s0 & MASK28)
        c1 = reg_merge_nb((a0 >> np.uint64(28)) & MASK28, (s0 >> np.uint64(28)) & MASK28)
        c2 = reg_merge_nb(
            ((a0 >> np.uint64(56)) | (a1 << np.uint64(8))) & MASK28,
            ((s0 >> np.uint64(56)) | (s1 << np.uint64(8))) & MASK28,
        )
        c3 = reg_merge_nb((a1 >> np.uint64(20)) & MASK28, (s1 >> np.uint64(20)) & MASK28)
        c4 = reg_merge_nb(
            ((a1 >> np.uint64(48)) | (a2 << np.uint64(16))) & MASK28,
            ((s1 >> np.uint64(48)) | (s2 << np.uint64(16))) & MASK28,
        )
        c5 = reg_merge_nb((a2 >> np.uint64(12)) & MASK28, (s2 >> np.uint64(12)) & MASK28)
        c6 = reg_merge_nb(
            ((a2 >> np.uint64(40)) | (a3 << np.uint64(24))) & MASK28,
            ((s2 >> np.uint64(40)) | (s3 << np.uint64(24))) & MASK28,
        )
        c7 = reg_merge_nb((a3 >> np.uint64(4)) & MASK28, (s3 >> np.uint64(4)) & MASK28)
        c8 = reg_merge_nb((a3 >> np.uint64(32)) & MASK28, (s3 >> np.uint64(32)) & MASK28)
        c9 = reg_merge_nb(
            ((a3 >> np.uint64(60)) | (a4 << np.uint64(4))) & MASK28,
            ((s3 >> np.uint64(60)) | (s4 << np.uint64(4))) & MASK28,
        )
        c10 = reg_merge_nb((a4 >> np.uint64(24)) & MASK28, (s4 >> np.uint64(24)) & MASK28)
        c11 = reg_merge_nb(
            ((a4 >> np.uint64(52)) | (a5 << np.uint64(12))) & MASK28,
            ((s4 >> np.uint64(52)) | (s5 << np.uint64(12))) & MASK28,
        )
        c12 = reg_merge_nb((a5 >> np.uint64(16)) & MASK28, (s5 >> np.uint64(16)) & MASK28)
        c13 = reg_merge_nb(
            ((a5 >> np.uint64(44)) | (a6 << np.uint64(20))) & MASK28,
            ((s5 >> np.uint64(44)) | (s6 << np.uint64(20))) & MASK28,
        )
        c14 = reg_merge_nb((a6 >> np.uint64(8)) & MASK28, (s6 >> np.uint64(8)) & MASK28)
        c15 = reg_merge_nb((a6 >> np.uint64(36)) & MASK28, (s6 >> np.uint64(36)) & MASK28)
        dst[b + 0] = c0 | (c1 << np.uint64(28)) | (c2 << np.uint64(56))
        dst[b + 1] = (c2 >> np.uint64(8)) | (c3 << np.uint64(20)) | (c4 << np.uint64(48))
        dst[b + 2] = (c4 >> np.uint64(16)) | (c5 << np.uint64(12)) | (c6 << np.uint64(40))
        dst[b + 3] = (c6 >> np.uint64(24)) | (c7 << np.uint64(4)) | (c8 << np.uint64(32)) | (c9 << np.uint64(60))
        dst[b + 4] = (c9 >> np.uint64(4)) | (c10 << np.uint64(24)) | (c11 << np.uint64(52))
        dst[b + 5] = (c11 >> np.uint64(12)) | (c12 << np.uint64(16)) | (c13 << np.uint64(44))
        dst[b + 6] = (c13 >> np.uint64(20)) | (c14 << np.uint64(8)) | (c15 << np.uint64(36))


# The merge entry Distinct.merge calls: ``MERGE(dst, src)`` (register arrays of the same
# precision, dst in place). With the C helper (_ellc, built at install) it is one C call that
# checks both buffers and jumps into merge_words compiled as a numba cfunc; without it, a
# numba call of merge_words. merge_function() picks one on first use.
MERGE = None
_MERGE_CFUNC = None
_carray = None  # numba.carray, bound when the cfunc is compiled

try:
    from . import _ellc
except ImportError:  # pragma: no cover - exercised by forcing _ellc = None in the tests
    _ellc = None


def _merge_ptr(dst, src, m):
    n = (m >> 4) * 7 + 1
    merge_words(_carray(dst, n), _carray(src, n), m)


def _merge_numba(dst, src):
    merge_words(dst, src, (dst.shape[0] - 1) // 7 * 16)


def merge_function():
    """The merge callable ``f(dst, src)``, resolved once (see MERGE above)."""
    global MERGE, _MERGE_CFUNC, _carray
    if MERGE is not None:
        return MERGE
    if _ellc is None:
        MERGE = _merge_numba
        return MERGE
    numba = load_numba()
    g = globals()
    if isinstance(g["merge_words"], LazyKernel):
        g["merge_words"].build()
    _carray = numba.carray
    t = numba.types
    sig = t.void(t.CPointer(t.uint64), t.CPointer(t.uint64), t.int64)
    _MERGE_CFUNC = numba.cfunc(sig, cache=True, nogil=True)(_merge_ptr)
    _ellc.set_kernel(_MERGE_CFUNC.address)
    MERGE = _ellc.merge
    return MERGE


@njit(cache=True, nogil=True)
def total_units(w32, m, rho, tail):
    """alpha of a register array (exact, mod 2**64)."""
    a = U0
    for i in range(m):
        a += reg_units(get_reg(w32, i), rho, tail)
    return a


@njit(cache=True, nogil=True)
def check_registers(w32, m, kmax):
    """-1 when every register is one the updates can produce, else the first bad index."""
    for i in range(m):
        r = get_reg(w32, i)
        u = r >> UD
        if u > np.uint64(kmax):
            return i
        if u == U0:
            if r != U0:
                return i
        elif u <= UD and (r & ((U1 << (UD - u + U1)) - U1)) != U0:
            # bits 0..20-u would record update values <= 0
            return i
    return -1


# ------------------------------------------------------------------ estimation
@njit(cache=True, nogil=True)
def ml_coefficients(w32, m, p):
    """(alpha in probability units of one register, beta[e]: occurred values with rho = 2**-e)."""
    q = 62 - p
    beta = np.zeros(66, dtype=np.float64)
    alpha = 0.0
    rho = np.empty(4 * q + 5, dtype=np.float64)
    expo = np.empty(4 * q + 5, dtype=np.int64)
    for k in range(1, 4 * q + 5):
        j = (k - 1) >> 2
        e = 3 + j if j < q else q + 2
        expo[k] = e
        rho[k] = 2.0 ** (-e)
    tailp = np.zeros(4 * q + 6, dtype=np.float64)
    for u in range(4 * q + 3, -1, -1):
        tailp[u] = tailp[u + 1] + rho[u + 1]
    for i in range(m):
        r = get_reg(w32, i)
        u = np.int64(r >> UD)
        alpha += tailp[u]
        if u == 0:
            continue
        beta[expo[u]] += 1.0
        for j in range(1, D + 1):
            if j >= u:
                break
            if (r >> np.uint64(D - j)) & U1:
                beta[expo[u - j]] += 1.0
            else:
                alpha += rho[u - j]
    return alpha, beta


@njit(cache=True, nogil=True)
def ml_solve(alpha, beta):
    """x > 0 maximising -alpha*x + sum_e beta[e] ln(1 - exp(-x 2**-e)): the root of
    F(x) = alpha*x - sum_e beta[e] phi(x 2**-e), phi(z) = z / (e**z - 1); F increases from
    F(0+) = -sum(beta) to infinity, so a safeguarded Newton iteration finds it."""
    b = 0.0
    for e in range(beta.shape[0]):
        b += beta[e]
    if b == 0.0:
        return 0.0
    if alpha <= 0.0:
        return np.inf
    hi = b / alpha  # phi <= 1, so F(b/alpha) >= 0
    lo = 0.0
    x = hi
    for _ in range(200):
        f = alpha * x
        df = alpha
        for e in range(beta.shape[0]):
            be = beta[e]
            if be == 0.0:
                continue
            s = 2.0 ** (-e)
            z = x * s
            if z < 1e-8:
                phi = 1.0 - z / 2.0
                dphi = -0.5
            elif z > 700.0:
                phi = 0.0
                dphi = 0.0
            else:
                em1 = np.expm1(z)
                phi = z / em1
                dphi = (em1 - z * (em1 + 1.0)) / (em1 * em1)
            f -= be * phi
            df -= be * dphi * s
        if f > 0.0:
            hi = x
        else:
            lo = x
        nx = x - f / df
        if not (lo < nx < hi):
            nx = 0.5 * (lo + hi)
        if abs(nx - x) <= 1e-13 * x:
            return nx
        x = nx
    return x


# ------------------------------------------------------------------ sparse mode
@njit(cache=True, nogil=True)
def hash_keys(keys, raw, item_seed):
    out = np.empty(keys.shape[0], dtype=np.uint64)
    fill_hashes(out, keys, raw, item_seed, 0, keys.shape[0])
    return out


@njit(cache=True, nogil=True)
def new_in_order(hashes, known, limit):
    """Positions of the first occurrences of hashes not in the sorted array ``known``, in
    batch order, stopping after ``limit + 1`` of them (the last one, if present, is the one
    that overflows the sparse set)."""
    n = hashes.shape[0]
    cap = 1
    while cap < 2 * (limit + 2):
        cap <<= 1
    table = np.zeros(cap, dtype=np.uint64)
    used = np.zeros(cap, dtype=np.bool_)
    out = np.empty(min(n, limit + 1), dtype=np.int64)
    cnt = 0
    mask = np.uint64(cap - 1)
    for i in range(n):
        h = hashes[i]
        j = np.searchsorted(known, h)
        if j < known.shape[0] and known[j] == h:
            continue
        slot = ((h * U_P1) >> np.uint64(32)) & mask
        dup = False
        while used[slot]:
            if table[slot] == h:
                dup = True
                break
            slot = (slot + U1) & mask
        if dup:
            continue
        used[slot] = True
        table[slot] = h
        out[cnt] = i
        cnt += 1
        if cnt == limit + 1:
            break
    return out[:cnt]


# ------------------------------------------------------------------ compact form: range coding
# Under the Poisson model each update value v occurs in a register independently with
# probability 1 - exp(-lambda rho(v)), lambda = n / m. A register is coded as the occurrence
# bits of v = kmax, kmax - 1, ... down to its largest value u (the first 1), then the 20 bits of
# its window: a binary range coder (the carry-less scheme of LZMA's coder) with those
# probabilities spends close to the registers' entropy (about 16.8 of the 28 bits).
PROB_BITS = 16
UPB = np.uint64(PROB_BITS)
TOP = np.uint64(1 << 24)
U8_ = np.uint64(8)
U24 = np.uint64(24)
U0xFF = np.uint64(0xFF)
U0xFF000000 = np.uint64(0xFF000000)
U2_32 = np.uint64(1 << 32)
MASK32 = np.uint64(0xFFFFFFFF)
MASK24 = np.uint64(0xFFFFFF)


@njit(cache=True, inline="always")
def shift_low(out, pos, low, cache, cache_size):
    """The range coder's byte output: settle the pending bytes (``cache`` and ``cache_size - 1``
    0xFF bytes, plus the carry out of ``low``) once the top byte of ``low`` is final, then shift
    ``low`` one byte. Returns the (possibly grown) buffer and the new state."""
    if low < U0xFF000000 or low >= U2_32:
        carry = low >> np.uint64(32)
        temp = cache
        while True:
            if pos >= out.shape[0]:
                out = np.concatenate((out, np.empty(out.shape[0], dtype=np.uint8)))
            out[pos] = np.uint8((temp + carry) & U0xFF)
            pos += 1
            temp = U0xFF
            cache_size -= 1
            if cache_size == 0:
                break
        cache = (low >> U24) & U0xFF
    return out, pos, (low & MASK24) << U8_, cache, cache_size + 1


@njit(cache=True)
def rc_encode(w32, m, prob0):
    """Range-code the m registers; prob0[v] = P(value v did not occur) in units of 2**-16."""
    kmax = prob0.shape[0] - 1
    out = np.empty(4 * m + 64, dtype=np.uint8)
    pos = 0
    low = U0
    rng = MASK32
    cache = U0
    cache_size = 1
    for i in range(m):
        r = get_reg(w32, i)
        u = np.int64(r >> UD)
        v = kmax
        left = -1  # window bits still to code after u
        while v >= 1 and left != 0:
            if left < 0:
                bit = 1 if v == u else 0
            else:
                bit = np.int64((r >> np.uint64(D - (u - v))) & U1)
            bound = (rng >> UPB) * np.uint64(prob0[v])
            if bit == 0:
                rng = bound
            else:
                low += bound
                rng -= bound
            while rng < TOP:
                rng = (rng << U8_) & MASK32
                out, pos, low, cache, cache_size = shift_low(out, pos, low, cache, cache_size)
            if left < 0 and bit == 1:
                left = min(D, u - 1)
            elif left > 0:
                left -= 1
            v -= 1
    for _ in range(5):
        out, pos, low, cache, cache_size = shift_low(out, pos, low, cache, cache_size)
    return out[:pos]


@njit(cache=True)
def rc_decode(data, m, prob0, w32):
    """Inverse of rc_encode into w32 (zeroed); the number of bytes read past the end (0 for a
    stream rc_encode wrote), or -1 when the stream ends too early."""
    kmax = prob0.shape[0] - 1
    n = data.shape[0]
    if n < 5:
        return -1
    pos = 1
    code = U0
    for _ in range(4):
        code = (code << U8_) | np.uint64(data[pos])
        pos += 1
    rng = MASK32
    for i in range(m):
        u = 0
        r = U0
        v = kmax
        left = -1
        while v >= 1 and left != 0:
            bound = (rng >> UPB) * np.uint64(prob0[v])
            if code < bound:
                rng = bound
                bit = 0
            else:
                code -= bound
                rng -= bound
                bit = 1
            while rng < TOP:
                rng = (rng << U8_) & MASK32
                if pos >= n:
                    return -1
                code = ((code << U8_) | np.uint64(data[pos])) & MASK32
                pos += 1
            if left < 0:
                if bit == 1:
                    u = v
                    r = np.uint64(u) << UD
                    left = min(D, u - 1)
            else:
                if bit == 1:
                    r |= U1 << np.uint64(D - (u - v))
                left -= 1
            v -= 1
        set_reg(w32, i, r)
    return n - pos
