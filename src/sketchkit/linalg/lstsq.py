r"""Least squares :math:`\min_x \lVert Ax - b\rVert_2` for tall :math:`A` (N x n, N ≫ n) by sketching.

``method="precondition"`` (default): sketch-and-precondition with iterative refinement (Rokhlin &
Tygert 2008; Blendenpik, Avron, Maymounkov & Toledo 2010; the refinement loop follows SPIR of Epperly,
Meier & Nakatsukasa, arXiv 2406.03468, which restores backward stability).

1. :math:`Y = SA` with a :class:`~sketchkit.linalg.SparseSign` sketch of ``sketch_size`` rows, in
   :math:`O(\zeta\,\mathrm{nnz}(A))`; factor :math:`Y = QR`. With :math:`S` an ε-subspace embedding,
   :math:`\kappa(AR^{-1}) \le (1+\varepsilon)/(1-\varepsilon)` whatever :math:`\kappa(A)`.
2. Warm start at the sketch-and-solve answer :math:`x_0 = R^{-1}Q^T S b`.
3. Refinement rounds: the exact residual :math:`r = b - Ax` and :math:`g = A^T r` in one pass over
   :math:`A`; then conjugate gradients on :math:`(AR^{-1})^T(AR^{-1})\,y = R^{-T}g` (CGLS/LSQR's Krylov
   space), each iteration ONE fused pass computing :math:`A^T(Av)`. The round stops when its own
   estimate of :math:`\lVert A^T r\rVert = \lVert R^T s\rVert` is below half the target.

The factor of :math:`Y` is a Cholesky factor of :math:`Y^TY` (BLAS-3, about 3× cheaper than Householder
QR here) when LAPACK's 1-norm condition estimate says :math:`u\,\kappa_1(R)^2 \le 0.1`, so that it is still a
good preconditioner, and Householder QR otherwise (``factor="auto"``); a numerically rank-deficient
sketch falls back to an SVD preconditioner (LSRN, Meng, Saunders & Mahoney 2014) and returns the
solution of minimum norm within the numerical range of :math:`Y`.

**Guarantee** (what ``tests/test_linalg_lstsq.py`` checks). The result reports the backward error
``backward_error`` :math:`= \lVert A^T r\rVert/(\lVert A\rVert_F\lVert r\rVert)` computed exactly in
the last pass, and ``converged`` is True iff it is ``≤ tol`` (or :math:`\lVert r\rVert \le
\mathrm{tol}(\lVert A\rVert_F\lVert x\rVert + \lVert b\rVert)`, a consistent system). With the default
``sketch_size = 4n`` and ``nnz_per_col = 8`` the iteration count does not grow with :math:`\kappa(A)`:
the tests see ≤ 40 CG iterations and backward error ≤ 1e-10 (``tol=1e-10``) for
:math:`\kappa = 10^2 \ldots 10^{10}` (8000 x 100, residual orthogonal to the range), and the default
``tol=1e-12`` reached at :math:`\kappa = 10^3`. When a refinement round fails to halve the backward error,
rounding has hit the problem's floor (about :math:`u\lVert A\rVert\lVert x\rVert/\lVert r\rVert`, which
LAPACK's ``gelsd`` does not beat either): the solver stops and returns its best iterate with
``converged=False``.

``method="solve"`` (sketch-and-solve, Sarlós 2006) returns :math:`\arg\min\lVert S(Ax - b)\rVert`: if
:math:`S` is an η-embedding of the span of :math:`[A, b]`, then
:math:`\lVert A\tilde x - b\rVert \le \frac{1+\eta}{1-\eta}\min_x\lVert Ax - b\rVert`; tests check this
with η = 1.5·√((n+1)/d).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> A = rng.standard_normal((2000, 20)); b = rng.standard_normal(2000)
>>> res = lstsq(A, b, seed=3)
>>> res.converged, res.backward_error < 1e-12
(True, True)
>>> bool(np.allclose(res.x, np.linalg.lstsq(A, b, rcond=None)[0]))
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from .._base import check_positive_int
from ..errors import InvalidItemError, InvalidParameterError
from ..hashing import DEFAULT_SEED
from . import _kernels as K
from ._threads import blas_threads
from .operators import DEFAULT_NNZ, as_matrix, check_finite, make_operator

__all__ = ["LstsqResult", "lstsq", "Preconditioner", "sketch_preconditioner", "TallMatrix"]

_EPS = np.finfo(np.float64).eps


@dataclass(frozen=True)
class LstsqResult:
    """Solution and diagnostics of :func:`lstsq`."""

    x: np.ndarray
    residual_norm: float
    backward_error: float  # ||A^T r|| / (||A||_F ||r||), computed exactly from x
    iterations: int  # CG iterations = passes over A besides the sketch and the residual passes
    refinements: int  # exact-residual passes
    converged: bool
    method: str
    sketch: str
    sketch_size: int
    factor: str


class TallMatrix:
    """A dense or CSR matrix with the fused passes the solvers need (one read of A each)."""

    def __init__(self, A: Any):
        self.M = as_matrix(A)
        self.shape = self.M.shape
        self.sparse = sp.issparse(self.M)
        self._work = self.M.nnz if self.sparse else self.M.size
        import numba

        parts = max(1, min(4 * numba.get_num_threads(), self.shape[0] // 2048 + 1))
        self._bounds = np.linspace(0, self.shape[0], parts + 1).astype(np.int64)

    def normal_matvec(self, v: np.ndarray) -> tuple[np.ndarray, float]:
        """(A.T @ A @ v, ||A v||^2)."""
        M = self.M
        if self.sparse:
            return K.pick("normal_matvec_csr", self._work)(M.indptr, M.indices, M.data, self.shape[1], v, self._bounds)
        return K.pick("normal_matvec_dense", self._work)(M, v, self._bounds)

    def residual(self, b: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, float, float]:
        """(A.T @ r, ||r||^2, ||A||_F^2) for r = b - A x."""
        M = self.M
        if self.sparse:
            return K.pick("residual_csr", self._work)(M.indptr, M.indices, M.data, self.shape[1], b, x, self._bounds)
        return K.pick("residual_dense", self._work)(M, b, x, self._bounds)


class Preconditioner:
    """Right preconditioner ``P`` (n x r) from a sketch ``Y = S A``: ``A P`` is well conditioned.

    ``kind`` is ``"cholesky"`` or ``"qr"`` (``P = R^{-1}``) or ``"svd"`` (``P = V_r Σ_r^{-1}``).
    """

    def __init__(self, kind: str, R: np.ndarray | None = None, V: np.ndarray | None = None,
                 sigma: np.ndarray | None = None):
        self.kind, self.R, self.V, self.sigma = kind, R, V, sigma

    def apply(self, y: np.ndarray) -> np.ndarray:
        if self.kind == "svd":
            return self.V @ (y / self.sigma)
        return sla.solve_triangular(self.R, y, check_finite=False)

    def apply_t(self, z: np.ndarray) -> np.ndarray:
        if self.kind == "svd":
            return (self.V.T @ z) / self.sigma
        return sla.solve_triangular(self.R, z, trans="T", check_finite=False)

    def lift(self, s: np.ndarray) -> np.ndarray:
        """``P^{-T} s`` (``R^T s``): maps the preconditioned gradient back to ``A^T r``."""
        if self.kind == "svd":
            return self.V @ (s * self.sigma)
        return self.R.T @ s


def sketch_preconditioner(Y: np.ndarray, factor: str = "auto") -> Preconditioner:
    """Factor a sketch ``Y`` (d x n, d ≥ n) into a right preconditioner (see module docstring)."""
    n = Y.shape[1]
    with blas_threads(2.0 * Y.shape[0] * n * n):
        return _factor(Y, n, factor)


def _factor(Y: np.ndarray, n: int, factor: str) -> Preconditioner:
    if factor not in ("auto", "cholesky", "qr"):
        raise InvalidParameterError(f"factor must be 'auto', 'cholesky' or 'qr', got {factor!r}")
    if factor in ("auto", "cholesky"):
        try:
            R = sla.cholesky(Y.T @ Y, lower=False, check_finite=False)
            rcond = sla.lapack.dtrcon(R, uplo="U")[0]
            # R^T R = Y^T Y + E with ||E|| ~ u ||Y||^2: a preconditioner up to u * kappa(R)^2
            if factor == "cholesky" or (rcond > 0 and _EPS / rcond**2 <= 0.1):
                return Preconditioner("cholesky", R=R)
        except np.linalg.LinAlgError:
            pass
    R = sla.qr(Y, mode="r", check_finite=False)[0][:n]
    rcond = sla.lapack.dtrcon(R, uplo="U")[0] if n else 1.0
    if rcond > n * _EPS:
        return Preconditioner("qr", R=R)
    _, sigma, Vt = np.linalg.svd(Y, full_matrices=False)
    keep = sigma > sigma[0] * n * _EPS
    return Preconditioner("svd", V=Vt[keep].T.copy(), sigma=sigma[keep])


def _check_b(b: Any, N: int) -> np.ndarray:
    arr = as_matrix(b, "b")
    if arr.shape[1] != 1 or arr.shape[0] != N:
        raise InvalidParameterError(f"b must be a vector of length {N} (the rows of A), got shape {np.shape(b)}")
    vec = np.ascontiguousarray(arr[:, 0])
    if not np.isfinite(vec).all():
        raise InvalidItemError("b contains NaN or infinity")
    return vec


def lstsq(
    A: Any,
    b: Any,
    *,
    method: str = "precondition",
    sketch: str = "sparse_sign",
    sketch_size: int | None = None,
    nnz_per_col: int = DEFAULT_NNZ,
    factor: str = "auto",
    tol: float = 1e-12,
    maxiter: int = 200,
    max_refinements: int = 4,
    seed: int = DEFAULT_SEED,
) -> LstsqResult:
    """Solve :math:`\\min_x\\lVert Ax - b\\rVert_2` for a tall dense or scipy.sparse ``A`` (module docstring).

    ``sketch_size`` defaults to ``min(N, 4n)``; ``tol`` is the target backward error; ``maxiter``
    caps the CG iterations over all rounds. ``seed`` fixes the sketch (hash domain 3).
    """
    if method not in ("precondition", "solve"):
        raise InvalidParameterError(f"method must be 'precondition' or 'solve', got {method!r}")
    tol = float(tol)
    if not 0.0 < tol < 1.0:
        raise InvalidParameterError(f"tol must be in (0, 1), got {tol!r}")
    maxiter = check_positive_int("maxiter", maxiter)
    max_refinements = check_positive_int("max_refinements", max_refinements)
    op = TallMatrix(A)
    N, n = op.shape
    if N < n:
        raise InvalidParameterError(f"A must be tall (rows >= columns), got {N} x {n}")
    bvec = _check_b(b, N)
    d = min(N, 4 * n) if sketch_size is None else check_positive_int("sketch_size", sketch_size)
    if d < n:
        raise InvalidParameterError(f"sketch_size {d} must be at least the number of columns {n}")
    S = make_operator(sketch, d, N, nnz_per_col=min(nnz_per_col, d), seed=seed)
    Y = S.apply(op.M)
    check_finite(Y, "A")
    Sb = S.apply(bvec[:, None])[:, 0]

    if method == "solve":
        x, *_ = np.linalg.lstsq(Y, Sb, rcond=None)
        g, rr, ff = op.residual(bvec, x)
        return _result(x, g, rr, ff, bvec, tol, 0, 1, "solve", S.kind, d, "lapack")

    P = sketch_preconditioner(Y, factor)
    x = P.apply(P.apply_t(Y.T @ Sb))  # sketch-and-solve warm start (normal equations of the sketch)
    its = rounds = 0
    best = None
    while True:
        g, rr, ff = op.residual(bvec, x)
        rounds += 1
        res = _result(x, g, rr, ff, bvec, tol, its, rounds, "precondition", S.kind, d, P.kind)
        if best is not None and res.backward_error > 0.5 * best.backward_error:
            # the round did not halve the backward error: rounding has reached its floor for this
            # problem (about u * ||A|| ||x|| / ||r|| for ill-conditioned A); keep the better iterate
            return res if res.backward_error <= best.backward_error else replace(best, iterations=its,
                                                                                  refinements=rounds)
        if res.converged or rounds > max_refinements or its >= maxiter:
            return res
        best = res
        target = 0.5 * tol * math.sqrt(ff) * math.sqrt(rr)
        x, used = _cg_round(op, P, x, g, rr, target, maxiter - its)
        its += used


def _cg_round(op: TallMatrix, P: Preconditioner, x: np.ndarray, g: np.ndarray, rr: float, target: float,
              budget: int) -> tuple[np.ndarray, int]:
    """CG on the preconditioned normal equations of the correction problem, from y = 0."""
    x = x.copy()
    s = P.apply_t(g)
    p = s.copy()
    gamma = float(s @ s)
    for it in range(1, budget + 1):
        v = P.apply(p)
        w, q2 = op.normal_matvec(v)
        if q2 <= 0.0 or not math.isfinite(q2):
            return x, it
        alpha = gamma / q2
        x += alpha * v
        s -= alpha * P.apply_t(w)
        rr = max(rr - alpha * gamma, 0.0)
        gamma_new = float(s @ s)
        if np.linalg.norm(P.lift(s)) <= target or gamma_new == 0.0:
            return x, it
        p *= gamma_new / gamma
        p += s
        gamma = gamma_new
    return x, budget


def _result(x, g, rr, ff, b, tol, its, rounds, method, kind, d, factor) -> LstsqResult:
    nr, nA = math.sqrt(rr), math.sqrt(ff)
    ng = float(np.linalg.norm(g))
    be = ng / (nA * nr) if nr > 0 and nA > 0 else 0.0
    consistent = nr <= tol * (nA * float(np.linalg.norm(x)) + float(np.linalg.norm(b)))
    return LstsqResult(x=x, residual_norm=nr, backward_error=be, iterations=its, refinements=rounds,
                       converged=bool(be <= tol or consistent), method=method, sketch=kind, sketch_size=d,
                       factor=factor)
