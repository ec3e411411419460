r"""Randomized low-rank approximation with sparse test matrices (Halko, Martinsson & Tropp 2011;
Musco & Musco 2015).

:func:`randomized_range` finds an orthonormal :math:`Q` (m x ℓ, ℓ = k + oversample) with
:math:`A \approx QQ^TA`: :math:`Y = A\,\Omega` with :math:`\Omega = S^T` a sparse sign sketch
(:math:`O(\zeta\,\mathrm{nnz}(A))` instead of the Gaussian :math:`O(mn\ell)`), then ``n_iter`` power
iterations :math:`Y \leftarrow A(A^TQ)`, renormalised by an LU factorisation at every half step when
``n_iter > 2`` (as scikit-learn does; cheaper than the QR of HMT Alg. 4.4) and orthonormalised by QR at
the end.

:func:`randomized_svd` returns a rank-k truncated SVD. Its default ``method="krylov"`` is randomized
block Krylov iteration (Musco & Musco, NeurIPS 2015) run on the short side of ``A`` (say
:math:`n \le m`): blocks :math:`X_1 = A^TA\,S^T` and :math:`X_{j+1} = A^TA\,X_j`, each renormalised by
an LU factorisation of its ``n x ℓ`` block only (the long ``m x ℓ`` intermediate is never factored),
all ``n_iter + 1`` blocks kept, then the Rayleigh–Ritz step on :math:`P = \mathrm{orth}[X_1 \cdots
X_{q+1}]`: the top-k eigenpairs of :math:`P^TA^TAP`, :math:`V = PW_k`, :math:`U = AV\Sigma^{-1}`
re-orthonormalised. Keeping every block is what makes it cheaper at equal error: the block
:math:`X_{q+1}` alone is the subspace iteration, so the Krylov space contains it, and the rank-k
approximation :math:`AV_kV_k^T` is the best one with rows in that space (Frobenius norm): in exact
arithmetic, at equal ``n_iter`` and test matrix, it is never worse than the subspace iteration with
the column-space ending (:math:`QQ^TA`, :math:`Q = \mathrm{orth}(A(A^TA)^q\Omega)`), whose rows lie in
:math:`\mathrm{range}((A^TA)^{q+1}\Omega)`. ``n_iter="auto"`` is 3 (``k < min(A.shape)/10``) else 2:
four (three) blocks, against scikit-learn's 7 (4) subspace iterations; chosen by measurement on the
benchmark's matrices (``docs/benchmarks/linalg.md``), not by a bound. ``method="subspace"`` is the
subspace iteration of :func:`randomized_range` followed by the SVD of :math:`Q^TA` (HMT Alg. 5.1),
the same algorithm as :func:`sklearn.utils.extmath.randomized_svd`. Memory: the Krylov path forms
the ``m x (q + 1)ℓ`` product :math:`AP` (four times scikit-learn's ``m x ℓ`` basis at the defaults).

Floating point. Renormalising once per :math:`A^TA` product and taking eigenvalues of a Gram matrix
both square the spread of singular values: directions with :math:`\sigma_j < \sqrt{u}\,\sigma_1
\approx 1.5\cdot10^{-8}\sigma_1` are not resolved. So the Krylov result is returned only when its
:math:`\sigma_k \ge 10^{-4}\sigma_1` (then every kept direction is resolved, and the final singular
values come from an SVD of the k x k factor, not from the eigenvalues); otherwise
:func:`randomized_svd` recomputes with ``method="subspace"``, which renormalises every half step.

**Guarantee** (what ``tests/test_linalg_lowrank.py`` checks). For a Gaussian :math:`\Omega` and
``n_iter=0``, :math:`\mathbb{E}\lVert A - QQ^TA\rVert_F \le \sqrt{1 + k/(p-1)}\;
(\sum_{j>k}\sigma_j^2)^{1/2}` with :math:`p` = ``oversample`` ≥ 2 (HMT Thm 10.5). Sparse sign test
matrices with ζ = 8 have no such closed-form constant; the tests check the same bound, averaged over 10
seeds, for ``sketch="sparse_sign"`` and ``"gaussian"``; that :func:`randomized_svd`'s error (either
method) is within 2 % of scikit-learn's Gaussian ``randomized_svd`` at equal ``oversample`` and
``n_iter``; that the Krylov error is at most the subspace error at equal ``n_iter`` and seed; and
that at both libraries' defaults the mean excess error over the optimum on a :math:`\sigma_j = j^{-1/2}`
matrix (600 x 200, k = 10, 3 seeds) is at most scikit-learn's.
Power iterations shrink the error towards :math:`\sigma_{k+1}`-level as
:math:`(\sigma_{k+1}/\sigma_k)^{2q}` (HMT §4.5); Krylov iterations as the Chebyshev polynomial of
degree q does, :math:`\approx e^{-2q\sqrt{\sigma_k/\sigma_{k+1} - 1}}` (Musco & Musco, Thm 1).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> A = rng.standard_normal((300, 8)) @ rng.standard_normal((8, 200))   # rank 8
>>> U, s, Vt = randomized_svd(A, 8, seed=1)
>>> bool(np.allclose((U * s) @ Vt, A))
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from .._base import check_positive_int
from ..errors import InvalidParameterError
from ..hashing import DEFAULT_SEED
from .operators import DEFAULT_NNZ, as_matrix, check_finite, make_operator

__all__ = ["randomized_range", "randomized_svd"]

_RESOLVED = 1e-4  # Krylov result kept only when sigma_k >= _RESOLVED * sigma_1 (module docstring)


def _orth(Y: np.ndarray) -> np.ndarray:
    # scipy's economic QR (geqrf + orgqr) on the Fortran-ordered copy: half numpy.linalg.qr's time here
    return sla.qr(np.asfortranarray(Y), mode="economic", check_finite=False, overwrite_a=True)[0]


def _lu(Y: np.ndarray) -> np.ndarray:
    """The permuted unit-lower factor of Y = PLU: a cheap well-conditioned basis of range(Y)."""
    return sla.lu(Y, permute_l=True, check_finite=False)[0]


def _iterations(n_iter: Any, k: int, shape: tuple[int, int], method: str = "subspace") -> int:
    if n_iter == "auto":
        if method == "krylov":  # measured: equal or lower error than the subspace rule below
            return 3 if k < 0.1 * min(shape) else 2
        return 7 if k < 0.1 * min(shape) else 4  # scikit-learn's rule, so comparisons are like for like
    if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 0:
        raise InvalidParameterError(f"n_iter must be 'auto' or an int >= 0, got {n_iter!r}")
    return int(n_iter)


def randomized_range(
    A: Any,
    size: int,
    *,
    n_iter: Any = "auto",
    sketch: str = "sparse_sign",
    nnz_per_col: int = DEFAULT_NNZ,
    seed: int = DEFAULT_SEED,
) -> np.ndarray:
    """Orthonormal basis ``Q`` (m x size) of a sketch of the range of ``A`` (dense or scipy.sparse)."""
    M = as_matrix(A)
    m, n = M.shape
    size = check_positive_int("size", size)
    if size > min(m, n):
        raise InvalidParameterError(f"sketch size {size} exceeds min(A.shape) = {min(m, n)}")
    q = _iterations(n_iter, size, M.shape)
    S = make_operator(sketch, size, n, nnz_per_col=min(nnz_per_col, size), seed=seed)
    Y = S.apply_right(M)
    check_finite(Y, "A")
    # A^T as the CSC view of a CSR A: its product scatters into a small n x l output while reading the
    # tall m x l operand in order (a CSR copy of A^T gathers from random rows of it: 3x slower here)
    Mt = M.T
    # LU keeps the columns apart as well as QR here, at a third of the cost; like scikit-learn, no
    # renormalisation for q <= 2 (two LUs per iteration: one per product, none repeated)
    norm = _lu if q > 2 else (lambda Z: Z)
    Q = Y
    for _ in range(q):
        Q = np.asarray(M @ norm(np.asarray(Mt @ norm(Q))))
    return _orth(Q)


def _svd_subspace(M, k, size, q, sketch, nnz_per_col, seed):
    Q = randomized_range(M, size, n_iter=q, sketch=sketch, nnz_per_col=nnz_per_col, seed=seed)
    B = np.asarray((M.T @ Q).T)  # Q^T A without forming a transpose of a sparse A
    Ub, s, Vt = np.linalg.svd(B, full_matrices=False)
    return Q @ Ub[:, :k], s[:k], Vt[:k]


def _svd_krylov(M, k, size, q, sketch, nnz_per_col, seed):
    """Block Krylov on the short side (module docstring); None where sigma_k is not resolved."""
    m, n = M.shape
    if m < n:  # the blocks live in R^min(m, n): work on A^T and swap the factors back
        out = _svd_krylov(M.T, k, size, q, sketch, nnz_per_col, seed)
        return None if out is None else (out[2].T, out[1], out[0].T)
    Mt = M.T  # the CSC view of a CSR A (see randomized_range), or a dense transpose view
    S = make_operator(sketch, size, n, nnz_per_col=min(nnz_per_col, size), seed=seed)
    Y = S.apply_right(M)
    check_finite(Y, "A")
    X = _lu(np.asarray(Mt @ Y))
    blocks = [X]
    for _ in range(q):
        X = _lu(np.asarray(Mt @ np.asarray(M @ X)))
        blocks.append(X)
    P = _orth(np.hstack(blocks))  # n x min(n, (q + 1) size), orthonormal
    p = P.shape[1]
    # the Gram matrix P^T A^T A P: through C = AP (m p^2 flops) or, for a sparse A whose two
    # products cost less than that, as P^T (A^T (A P)) without the m x p intermediate C
    C = None
    if sp.issparse(M) and M.nnz + n * p < m * p:
        G = P.T @ np.asarray(Mt @ np.asarray(M @ P))
    else:
        C = np.asarray(M @ P)
        G = C.T @ C
    lam, W = np.linalg.eigh((G + G.T) / 2)
    lam, W = lam[::-1][:k], W[:, ::-1][:, :k]
    if not lam[0] > 0 or not lam[k - 1] >= (_RESOLVED**2) * lam[0]:
        return None
    V = P @ W
    US = C @ W if C is not None else np.asarray(M @ V)  # = U diag(s): A V, exactly the Ritz vectors
    # U = A V / s is orthonormal only up to ~u (s_1 / s_k)^2: a Cholesky QR of it (well conditioned
    # by then) restores it to ~u, and the SVD of the k x k factor R diag(s) = A V's own singular
    # values gives the final s, free of the Gram matrix's squared rounding
    s = np.sqrt(lam)
    U = US / s
    try:
        R = sla.cholesky(U.T @ U, lower=False, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    Qu = sla.solve_triangular(R, U.T, trans="T", lower=False, check_finite=False).T
    Xs, s2, Yt = np.linalg.svd(R * s)
    return Qu @ Xs, s2, Yt @ V.T


def randomized_svd(
    A: Any,
    k: int,
    *,
    oversample: int = 10,
    n_iter: Any = "auto",
    method: str = "krylov",
    sketch: str = "sparse_sign",
    nnz_per_col: int = DEFAULT_NNZ,
    seed: int = DEFAULT_SEED,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank-``k`` approximate SVD ``(U, s, Vt)`` of ``A`` (dense or scipy.sparse), blocks of
    ``k + oversample`` columns; ``method`` is ``"krylov"`` (default) or ``"subspace"`` (module docstring)."""
    M = as_matrix(A)
    k = check_positive_int("k", k)
    if isinstance(oversample, bool) or not isinstance(oversample, (int, np.integer)) or oversample < 0:
        raise InvalidParameterError(f"oversample must be an int >= 0, got {oversample!r}")
    if method not in ("krylov", "subspace"):
        raise InvalidParameterError(f"method must be 'krylov' or 'subspace', got {method!r}")
    size = min(k + int(oversample), min(M.shape))
    if k > size:
        raise InvalidParameterError(f"k = {k} exceeds min(A.shape) = {min(M.shape)}")
    args = (k, size, _iterations(n_iter, k, M.shape, method), sketch, nnz_per_col, seed)
    if method == "krylov":
        out = _svd_krylov(M, *args)
        if out is not None:
            return out
        # sigma_k below 1e-4 sigma_1: the subspace iteration at scikit-learn's depth, which
        # renormalises every half step and resolves singular values down to ~u sigma_1
        args = (k, size, _iterations(n_iter, k, M.shape), sketch, nnz_per_col, seed)
    return _svd_subspace(M, *args)
