"""numba kernels of the linear-algebra operators: hashed positions, apply, fused normal passes.

Position ``j`` of row ``i`` of ``A`` (``0 <= j < zeta``) goes to bucket ``lo_j + floor(u * size_j)`` of
block ``j`` (block OSNAP, Kane & Nelson 2014: the ``d`` sketch rows are cut into ``zeta`` blocks, one
non-zero per block, so the ``zeta`` positions of a column are distinct) with sign from the low bit,
where ``u`` is the top 32 bits of ``mix64(key + GOLDEN * (i * zeta + j + 1))`` over 2**32.

The hash is evaluated once per (column, j) by :func:`codes`, which an operator caches: every apply
kernel reads the int32 code ``bucket`` (sign +) or ``~bucket`` (sign -), so a product with an
``m x N`` matrix costs ``N * zeta`` hash evaluations, not ``m * N * zeta``.
"""

from __future__ import annotations

import types

import numpy as np
from numba import njit, prange

from ..hashing import mix64_u
from ._threads import use_parallel

# Every loop kernel comes in a serial and a parallel build: small calls (below PARALLEL_MIN_WORK
# multiply-adds) and one-thread settings run serially, with no parallel region to wake.
_PAIRS = []


def _exact(f):
    _PAIRS.append((f, False))
    return f


def _fast(f):
    _PAIRS.append((f, True))
    return f


def _twin(f, fastmath):
    serial = types.FunctionType(f.__code__, f.__globals__, f.__name__ + "_serial", f.__defaults__)
    serial.__qualname__ = f.__qualname__ + "_serial"
    return njit(cache=True, fastmath=fastmath)(serial), njit(cache=True, parallel=True, fastmath=fastmath)(f)


def pick(name, work):
    """The serial or parallel build of kernel ``name`` for ``work`` multiply-adds.

    Parallel iff the call is big and the caller's numba thread count is above one
    (:mod:`sketchkit.linalg._threads`); both builds split the rows into the same chunks and add
    the partial results in the same order, so the result does not depend on the choice.
    """
    return KERNELS[name][1 if use_parallel(work) else 0]


U_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
U1 = np.uint64(1)
U32 = np.uint64(32)


@njit(cache=True, inline="always")
def _slot(key, i, j, zeta, d):
    """(bucket, sign) of non-zero ``j`` in column ``i`` of the d x N sketch."""
    h = mix64_u(key + U_GOLDEN * np.uint64(i * zeta + j + 1))
    lo = (j * d) // zeta
    size = ((j + 1) * d) // zeta - lo
    bucket = lo + np.int64(((h >> U32) * np.uint64(size)) >> U32)
    sign = 1.0 if (h & U1) else -1.0
    return bucket, sign


@njit(cache=True)
def codes(key, n, zeta, d):
    """The (n, zeta) int32 position codes: ``bucket`` for sign +1, ``~bucket`` (= -bucket-1) for -1."""
    out = np.empty((n, zeta), dtype=np.int32)
    for i in range(n):
        for j in range(zeta):
            b, s = _slot(key, i, j, zeta, d)
            out[i, j] = b if s > 0 else ~b
    return out


@njit(cache=True, inline="always")
def _decode(c):
    """(bucket, ±1.0) from a code, without a branch (the sign bit of the int32 is the sign)."""
    m = np.int64(c) >> 63
    return np.int64(c) ^ m, np.float64(1 | m)


@njit(cache=True)
def positions(code):
    """(buckets int64, signs float64) of a code array: for building an explicit sparse matrix."""
    n, zeta = code.shape
    rows = np.empty((n, zeta), dtype=np.int64)
    signs = np.empty((n, zeta), dtype=np.float64)
    for i in range(n):
        for j in range(zeta):
            b, s = _decode(code[i, j])
            rows[i, j] = b
            signs[i, j] = s
    return rows, signs


@_exact
def apply_rows_dense(code, A, w, d, scale, bounds):
    """S @ diag(w) @ A for C-contiguous A (N x k): row i of A, times w[i], goes to ``zeta`` sketch rows."""
    parts = bounds.shape[0] - 1
    k = A.shape[1]
    zeta = code.shape[1]
    partial = np.zeros((parts, d, k))
    for p in prange(parts):
        out = partial[p]
        for i in range(bounds[p], bounds[p + 1]):
            row = A[i]
            for j in range(zeta):
                b, s = _decode(code[i, j])
                s *= scale * w[i]
                dst = out[b]
                for c in range(k):
                    dst[c] += s * row[c]
    return partial.sum(axis=0)


@_exact
def apply_rows_csr(code, indptr, indices, data, k, d, scale, bounds):
    """S @ A for A in CSR form (N x k), in O(zeta * nnz) time, result dense d x k."""
    parts = bounds.shape[0] - 1
    zeta = code.shape[1]
    partial = np.zeros((parts, d, k))
    for p in prange(parts):
        out = partial[p]
        for i in range(bounds[p], bounds[p + 1]):
            for j in range(zeta):
                b, s = _decode(code[i, j])
                s *= scale
                for t in range(indptr[i], indptr[i + 1]):
                    out[b, indices[t]] += s * data[t]
    return partial.sum(axis=0)


@_exact
def apply_cols_csc(code, indptr, indices, data, k, d, scale):
    """(S @ A).T for A in CSC form (N x k): column c of A lands in row c of the k x d result, which
    stays in cache while its non-zeros are scattered (the CSR loop scatters over all of d x k)."""
    zeta = code.shape[1]
    out = np.zeros((k, d))
    for c in prange(k):
        dst = out[c]
        for t in range(indptr[c], indptr[c + 1]):
            i = indices[t]
            for j in range(zeta):
                b, s = _decode(code[i, j])
                s *= scale
                dst[b] += s * data[t]
    return out


@_exact
def apply_right_dense(code, A, d, scale):
    """A @ S.T for C-contiguous A (m x N): column c of A is added to ``zeta`` output columns."""
    m, n = A.shape
    zeta = code.shape[1]
    out = np.zeros((m, d))
    for r in prange(m):
        row = A[r]
        dst = out[r]
        for c in range(n):
            v = row[c] * scale
            for j in range(zeta):
                b, s = _decode(code[c, j])
                dst[b] += s * v
    return out


@_exact
def apply_right_csr(code, indptr, indices, data, m, d, scale):
    """A @ S.T for A in CSR form (m x N), result dense m x d, in O(zeta * nnz) time."""
    zeta = code.shape[1]
    out = np.zeros((m, d))
    for r in prange(m):
        dst = out[r]
        for t in range(indptr[r], indptr[r + 1]):
            v = data[t] * scale
            cc = indices[t]
            for j in range(zeta):
                b, s = _decode(code[cc, j])
                dst[b] += s * v
    return out


@_exact
def apply_transpose(code, Y, scale):
    """S.T @ Y for C-contiguous Y (d x k): row i of the result gathers its ``zeta`` buckets."""
    n, zeta = code.shape
    k = Y.shape[1]
    out = np.zeros((n, k))
    for i in prange(n):
        dst = out[i]
        for j in range(zeta):
            b, s = _decode(code[i, j])
            s *= scale
            src = Y[b]
            for c in range(k):
                dst[c] += s * src[c]
    return out


# ------------------------------------------------------------------ fused passes over A
@_fast
def normal_matvec_dense(A, v, bounds):
    """(A.T @ (A @ v), ||A v||^2) in ONE pass over A (each row is read once, used twice)."""
    parts = bounds.shape[0] - 1
    k = A.shape[1]
    partial = np.zeros((parts, k))
    sq = np.zeros(parts)
    for p in prange(parts):
        acc = partial[p]
        for i in range(bounds[p], bounds[p + 1]):
            row = A[i]
            t = 0.0
            for c in range(k):
                t += row[c] * v[c]
            sq[p] += t * t
            for c in range(k):
                acc[c] += t * row[c]
    return partial.sum(axis=0), sq.sum()


@_fast
def normal_matvec_csr(indptr, indices, data, k, v, bounds):
    """(A.T @ (A @ v), ||A v||^2) in one pass over a CSR matrix."""
    parts = bounds.shape[0] - 1
    partial = np.zeros((parts, k))
    sq = np.zeros(parts)
    for p in prange(parts):
        acc = partial[p]
        for i in range(bounds[p], bounds[p + 1]):
            t = 0.0
            for q in range(indptr[i], indptr[i + 1]):
                t += data[q] * v[indices[q]]
            sq[p] += t * t
            for q in range(indptr[i], indptr[i + 1]):
                acc[indices[q]] += t * data[q]
    return partial.sum(axis=0), sq.sum()


@_fast
def weighted_normal_matvec_dense(A, w, v, bounds):
    """A.T @ diag(w) @ A @ v in one pass over C-contiguous A (N x k)."""
    parts = bounds.shape[0] - 1
    k = A.shape[1]
    partial = np.zeros((parts, k))
    for p in prange(parts):
        acc = partial[p]
        for i in range(bounds[p], bounds[p + 1]):
            row = A[i]
            t = 0.0
            for c in range(k):
                t += row[c] * v[c]
            t *= w[i]
            for c in range(k):
                acc[c] += t * row[c]
    return partial.sum(axis=0)


@_exact
def residual_dense(A, b, x, bounds):
    """(A.T @ r, ||r||^2, ||A||_F^2) with r = b - A x, in one pass (no fastmath: this is the
    exact residual that iterative refinement and the reported backward error rely on)."""
    parts = bounds.shape[0] - 1
    k = A.shape[1]
    partial = np.zeros((parts, k))
    rr = np.zeros(parts)
    ff = np.zeros(parts)
    for p in prange(parts):
        acc = partial[p]
        for i in range(bounds[p], bounds[p + 1]):
            row = A[i]
            t = b[i]
            f = 0.0
            for c in range(k):
                t -= row[c] * x[c]
                f += row[c] * row[c]
            rr[p] += t * t
            ff[p] += f
            for c in range(k):
                acc[c] += t * row[c]
    return partial.sum(axis=0), rr.sum(), ff.sum()


@_exact
def residual_csr(indptr, indices, data, k, b, x, bounds):
    """(A.T @ r, ||r||^2, ||A||_F^2) with r = b - A x, one pass over a CSR matrix."""
    parts = bounds.shape[0] - 1
    partial = np.zeros((parts, k))
    rr = np.zeros(parts)
    ff = np.zeros(parts)
    for p in prange(parts):
        acc = partial[p]
        for i in range(bounds[p], bounds[p + 1]):
            t = b[i]
            f = 0.0
            for q in range(indptr[i], indptr[i + 1]):
                t -= data[q] * x[indices[q]]
                f += data[q] * data[q]
            rr[p] += t * t
            ff[p] += f
            for q in range(indptr[i], indptr[i + 1]):
                acc[indices[q]] += t * data[q]
    return partial.sum(axis=0), rr.sum(), ff.sum()


@njit(cache=True)
def gaussian_block(key, row0, rows, d):
    """Columns ``row0 .. row0+rows`` of a d x N standard Gaussian matrix, from hashed uniforms
    (Box-Muller), so a Gaussian sketch is as reproducible as the sparse ones; shape (d, rows)."""
    out = np.empty((d, rows))
    for i in range(rows):
        for r in range(0, d, 2):
            idx = np.uint64((row0 + i) * (d + 1) + r + 1)
            h1 = mix64_u(key + U_GOLDEN * idx)
            h2 = mix64_u(h1 ^ key)
            u1 = ((h1 >> np.uint64(11)) + U1) * (1.0 / 9007199254740992.0)
            u2 = (h2 >> np.uint64(11)) * (1.0 / 9007199254740992.0)
            rad = np.sqrt(-2.0 * np.log(u1))
            out[r, i] = rad * np.cos(2.0 * np.pi * u2)
            if r + 1 < d:
                out[r + 1, i] = rad * np.sin(2.0 * np.pi * u2)
    return out


@njit(cache=True)
def column_fingerprints(indptr, indices, bits, n):
    """``(nnz, fp)`` per column of a CSR matrix whose values are viewed as ``bits`` (uint64): the count of
    non-zero values and the wrapping sum over them of ``mix64(bits ^ (row + 1) * GOLDEN)``. A sum of
    integers is exact and order-free, so equal columns always get equal fingerprints."""
    nnz = np.zeros(n, dtype=np.int64)
    fp = np.zeros(n, dtype=np.uint64)
    for row in range(indptr.size - 1):
        salt = np.uint64(row + 1) * U_GOLDEN
        for p in range(indptr[row], indptr[row + 1]):
            b = bits[p]
            if b << U1 == 0:  # +0.0 or -0.0: not a non-zero value
                continue
            j = indices[p]
            nnz[j] += 1
            fp[j] += mix64_u(b ^ salt)
    return nnz, fp


KERNELS = {f.__name__: _twin(f, fastmath) for f, fastmath in _PAIRS}
