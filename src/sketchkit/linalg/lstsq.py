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
good preconditioner (``factor="auto"``). Otherwise a pivoted Cholesky (LAPACK ``dpstrf``) of the same
:math:`Y^TY` reveals the numerical rank :math:`r` at the cost of one more :math:`n^3/3` factorization
(no QR or SVD of :math:`Y`): when :math:`r < n` and the other columns are combinations of the :math:`r`
kept ones, :math:`Y_{\text{drop}} = Y_{\text{keep}}T` to ``max(tol, 64u√n)·‖Y‖_F`` (checked on :math:`Y`),
the solve runs on the kept columns (``factor == "pivoted"``, ``rank == r``). A sparse-sign sketch
that embeds the range of :math:`A` has the same null space as :math:`A`, so empty and duplicate
columns (term-document data) are found exactly. The returned :math:`x` is then the **minimum-norm**
least-squares solution: the basic solution on the kept columns projected off the null space
:math:`\Pi[-T; I]` (``O(r(n-r)^2)``), and the residual and backward error are recomputed for it.
A sketch that is ill-conditioned but of full rank is factored by Householder QR.

**Exact column defects** (sparse ``A``, :mod:`._screen`): columns with no non-zero value and exact copies of
another column are found in ``O(nnz)`` before any factorization and set aside; when the kept columns' factor
(of the sketch or of the exact AᵀA below) passes the same test, no pivoted factorization runs
(``factor`` is ``"cholesky"``, ``"qr"`` or ``"gram"``, ``rank`` the number of kept columns), and the
minimum-norm solution shares each kept coefficient equally among its copies and is zero on empty columns.
Other dependencies go to the pivoted Cholesky of all columns.

**Short sparse rows** (``gram="auto"``): when :math:`4\sum_i \mathrm{nnz}(a_i)^2 < d n^2`, forming the
exact :math:`A^TA` (sparse product) is cheaper than the sketch's :math:`Y^TY`, and its Cholesky factor is a
better preconditioner (:math:`\kappa(AR^{-1}) \approx 1`). Then no sketch is used: the same refinement loop
runs on the semi-normal equations (corrected semi-normal equations, Björck 1987; ``sketch == "exact"``,
``factor == "gram"`` or ``"gram-pivoted"``), under the same test :math:`u\,\kappa_1(R)^2 \le 0.1`. A
pivoted drop there is trusted only if the result converges; otherwise, and whenever the test fails,
the sketch path above runs. Tf-idf matrices of text lines have 3–10 non-zeros a row: this is the
path they take.

**Guarantee** (what ``tests/test_linalg_lstsq.py`` checks). The result reports the backward error
``backward_error`` :math:`= \lVert A^T r\rVert/(\lVert A\rVert_F\lVert r\rVert)` computed exactly in
the last pass, and ``converged`` is True iff it is ``≤ tol`` (or :math:`\lVert r\rVert \le
\mathrm{tol}(\lVert A\rVert_F\lVert x\rVert + \lVert b\rVert)`, a consistent system). With the default
``sketch_size`` (4n, or 10n for very tall A) and ``nnz_per_col = 8`` the iteration count does not grow with
:math:`\kappa(A)`:
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
from ._screen import ColumnScreen, screen_columns
from ._threads import numba_threads
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
    sketch: str  # the operator's kind, or "exact" when the exact AᵀA was factored (no sketch)
    sketch_size: int
    # of the sketch: "cholesky", "qr", "pivoted" (rank-revealing, columns dropped); of AᵀA: "gram",
    # "gram-pivoted"; "lapack" for method="solve"
    factor: str
    rank: int  # numerical rank of the sketch: columns kept by the preconditioner


class TallMatrix:
    """A dense or CSR matrix with the fused passes the solvers need (one read of A each)."""

    def __init__(self, A: Any):
        self.M = as_matrix(A)
        self.shape = self.M.shape
        self.sparse = sp.issparse(self.M)
        self._work = self.M.nnz if self.sparse else self.M.size
        parts = max(1, min(4 * numba_threads(), self.shape[0] // 2048 + 1))
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

    ``P = Π[:, :r] R^{-1}``: ``R`` (r x r, upper triangular) factors the sketch of the ``r`` columns
    ``perm[:r]`` that are kept; ``kind`` is ``"cholesky"`` or ``"qr"`` (all ``n`` columns, ``perm`` the
    identity) or ``"pivoted"`` (rank-revealing: the other ``n - r`` columns are exact combinations
    ``Y[:, perm[r:]] = Y[:, perm[:r]] @ T`` of the kept ones, up to the tolerance of
    :func:`sketch_preconditioner`).
    """

    def __init__(self, kind: str, R: np.ndarray, perm: np.ndarray | None = None, T: np.ndarray | None = None,
                 screen: ColumnScreen | None = None):
        self.kind, self.R = kind, R
        self.n = R.shape[0] if perm is None else perm.shape[0]
        self.rank = R.shape[0]
        self.perm, self.T, self.screen = perm, T, screen

    @classmethod
    def screened(cls, P: Preconditioner, screen: ColumnScreen) -> Preconditioner:
        """``P`` (all columns of ``A[:, screen.keep]``) as a preconditioner of the whole ``A``."""
        return cls(P.kind, P.R, np.concatenate([screen.keep, screen.drop]), screen=screen)

    def apply(self, y: np.ndarray) -> np.ndarray:
        u = sla.solve_triangular(self.R, y, check_finite=False)
        if self.perm is None:
            return u
        out = np.zeros(self.n)
        out[self.perm[: self.rank]] = u
        return out

    def apply_t(self, z: np.ndarray) -> np.ndarray:
        if self.perm is not None:
            z = z[self.perm[: self.rank]]
        return sla.solve_triangular(self.R, z, trans="T", check_finite=False)

    def lift(self, s: np.ndarray) -> np.ndarray:
        """``R^T s``: maps the preconditioned gradient back to ``A^T r`` on the kept columns."""
        return self.R.T @ s

    def min_norm(self, x: np.ndarray) -> np.ndarray:
        """The minimum-norm vector with the same ``A x`` as the basic ``x`` (zero off the kept columns).

        The null space of ``A`` is spanned by ``N = Π [-T; I]``; with ``c = (I + TᵀT)^{-1} Tᵀ x₁`` the
        projection of ``x`` off it is ``Π [x₁ - T c; c]``, in ``O(r (n-r)^2)``.
        """
        if self.perm is None or self.rank == self.n:
            return x
        if self.screen is not None:
            return self.screen.split(x[self.screen.keep])
        keep, drop = self.perm[: self.rank], self.perm[self.rank:]
        T = self.T
        x1 = x[keep]
        c = sla.solve(np.eye(T.shape[1]) + T.T @ T, T.T @ x1, assume_a="pos", check_finite=False)
        out = np.empty(self.n)
        out[keep] = x1 - T @ c
        out[drop] = c
        return out


def sketch_preconditioner(Y: np.ndarray, factor: str = "auto", tol: float = 1e-12) -> Preconditioner:
    """Factor a sketch ``Y`` (d x n, d ≥ n) into a right preconditioner (see the module docstring).

    ``factor="auto"``: Cholesky of ``YᵀY`` when it succeeds and ``u κ₁(R)² ≤ 0.1``. Otherwise
    pivoted Cholesky (LAPACK ``dpstrf``) of the same ``YᵀY``, which orders the columns and finds
    a numerical rank ``r``; when ``r < n`` and the dropped columns are combinations of the kept ones
    to ``‖Y_drop − Y_keep T‖_F ≤ max(tol, 64 u √n)‖Y‖_F`` (checked on ``Y`` itself, not on ``YᵀY``),
    the kept columns' Cholesky factor is the preconditioner (``"pivoted"``). Otherwise (an
    ill-conditioned but full-rank sketch) Householder QR of ``Y``. ``factor="qr"`` starts with
    Householder QR and turns to the pivoted Cholesky only when ``R`` is singular to working precision.
    """
    if factor not in ("auto", "cholesky", "qr"):
        raise InvalidParameterError(f"factor must be 'auto', 'cholesky' or 'qr', got {factor!r}")
    n = Y.shape[1]
    if factor == "qr":
        P = _qr(Y, n)
        rcond = sla.lapack.dtrcon(P.R, uplo="U")[0] if n else 1.0
        return P if rcond > n * _EPS else (_pivoted(Y, Y.T @ Y, n, tol) or P)
    G = Y.T @ Y
    try:
        R = sla.cholesky(G, lower=False, check_finite=False)
        rcond = sla.lapack.dtrcon(R, uplo="U")[0]
        # R^T R = Y^T Y + E with ||E|| ~ u ||Y||^2: a preconditioner up to u * kappa(R)^2
        if factor == "cholesky" or (rcond > 0 and _EPS / rcond**2 <= 0.1):
            return Preconditioner("cholesky", R)
    except np.linalg.LinAlgError:
        pass
    pivoted = _pivoted(Y, G, n, tol)
    return pivoted if pivoted is not None else _qr(Y, n)


def _qr(Y: np.ndarray, n: int) -> Preconditioner:
    R = sla.qr(Y, mode="r", check_finite=False)[0][:n]
    return Preconditioner("qr", R)


def _pivoted(Y: np.ndarray, G: np.ndarray, n: int, tol: float) -> Preconditioner | None:
    """Rank-revealing pivoted Cholesky of ``G = YᵀY``; None when ``Y`` has full numerical rank."""
    if not n:
        return None
    C, piv, r, info = sla.lapack.dpstrf(G, tol=-1.0, lower=0)
    if info < 0 or r >= n:
        return None
    perm = piv.astype(np.int64) - 1
    keep, drop = perm[:r], perm[r:]
    R11 = np.triu(C[:r, :r])
    if r == 0:
        R11 = np.ones((0, 0))
        T = np.zeros((0, n))
    else:
        T = sla.solve_triangular(R11, C[:r, r:], check_finite=False)
    Tf = np.zeros((n, n - r))
    Tf[keep] = T
    Tf[drop, np.arange(n - r)] = -1.0
    E = Y @ Tf  # Y_keep T - Y_drop, without copying Y's columns
    if np.linalg.norm(E) > max(tol, 64 * _EPS * math.sqrt(n)) * np.linalg.norm(Y):
        return None  # the "dependent" columns are only nearly so: a full-rank, ill-conditioned sketch
    rcond = sla.lapack.dtrcon(R11, uplo="U")[0] if r else 1.0
    if rcond > 0 and _EPS / rcond**2 <= 0.1:
        return Preconditioner("pivoted", R11, perm, T)
    R = sla.qr(Y[:, keep], mode="r", check_finite=False)[0][:r]  # kept block too ill-conditioned for Cholesky
    return Preconditioner("pivoted", R, perm, T)


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
    gram: str = "auto",
    tol: float = 1e-12,
    maxiter: int = 200,
    max_refinements: int = 4,
    seed: int = DEFAULT_SEED,
) -> LstsqResult:
    """Solve :math:`\\min_x\\lVert Ax - b\\rVert_2` for a tall dense or scipy.sparse ``A`` (module docstring).

    ``sketch_size`` defaults to ``4n``, or ``min(N, 10n)`` when ``N ≥ 40n`` and ``nnz(A) ≥ n³/25``:
    then the bigger sketch's extra ``6n³`` BLAS-3 flops cost less than the ~10 passes over ``A`` it
    saves (28 → 17 CG iterations measured at 200,000 × 200). ``tol`` is the target backward error; ``maxiter``
    caps the CG iterations over all rounds. ``seed`` fixes the sketch (hash domain 3). ``gram``:
    ``"auto"`` factors the exact ``AᵀA`` instead of a sketch's Gram matrix when ``A`` is sparse and
    that is cheaper (``4 Σᵢ nnz(row i)² < d n²``), ``"never"``/``"always"`` force the choice
    (``"always"`` for sparse ``A`` only).
    """
    if method not in ("precondition", "solve"):
        raise InvalidParameterError(f"method must be 'precondition' or 'solve', got {method!r}")
    if gram not in ("auto", "never", "always"):
        raise InvalidParameterError(f"gram must be 'auto', 'never' or 'always', got {gram!r}")
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
    if sketch_size is None:
        # 10n saves ~10 passes over A for 6n^3 more BLAS-3 flops (~15x a pass's rate per flop)
        big = N >= 40 * n and 150.0 * op._work >= 6.0 * float(n) ** 3
        d = min(N, 10 * n) if big else min(N, 4 * n)
    else:
        d = check_positive_int("sketch_size", sketch_size)
    if d < n:
        raise InvalidParameterError(f"sketch_size {d} must be at least the number of columns {n}")
    screen = screen_columns(op.M) if method == "precondition" and op.sparse else None
    if method == "precondition" and op.sparse and factor == "auto" and gram != "never":
        row_nnz = np.diff(op.M.indptr).astype(np.float64)
        if gram == "always" or 4.0 * float(row_nnz @ row_nnz) < float(d) * n * n:
            G = np.asarray((op.M.T @ op.M).toarray())
            check_finite(G, "A")
            P = _gram_preconditioner(G, n, screen)
            if P is not None:
                g0, _, _ = op.residual(bvec, np.zeros(n))
                res = _refine(op, P, P.apply(P.apply_t(g0)), bvec, tol, maxiter, max_refinements, "exact",
                              N)
                if res.converged:
                    return res
            # ill-conditioned or a dropped column was not dependent after all: sketch instead
    S = make_operator(sketch, d, N, nnz_per_col=min(nnz_per_col, d), seed=seed)
    Y = S.apply(op.M)
    check_finite(Y, "A")
    Sb = S.apply(bvec[:, None])[:, 0]

    if method == "solve":
        x, _, rank, _ = np.linalg.lstsq(Y, Sb, rcond=None)
        g, rr, ff = op.residual(bvec, x)
        return _result(x, g, rr, ff, bvec, tol, 0, 1, "solve", S.kind, d, "lapack", int(rank))

    P = None
    if screen is not None:
        P = sketch_preconditioner(np.ascontiguousarray(Y[:, screen.keep]), factor, tol)
        # a factor of all kept columns is used; a further (numerical) drop is left to the full sketch
        P = Preconditioner.screened(P, screen) if P.perm is None else None
    if P is None:
        P = sketch_preconditioner(Y, factor, tol)
    x = P.apply(P.apply_t(Y.T @ Sb))  # sketch-and-solve warm start (normal equations of the sketch)
    return _refine(op, P, x, bvec, tol, maxiter, max_refinements, S.kind, d)


def _gram_preconditioner(G: np.ndarray, n: int, screen: ColumnScreen | None = None) -> Preconditioner | None:
    """Cholesky (or, rank deficient, pivoted Cholesky) of the exact ``G = AᵀA``; None when too lossy.

    With ``screen``, first the Cholesky factor of the kept columns' block of ``G``. Without a sketch to
    check dropped columns on, a numerical drop is trusted only through the backward error of the result:
    :func:`lstsq` turns to the sketch when it does not converge.
    """
    if screen is not None:
        try:
            R = sla.cholesky(G[np.ix_(screen.keep, screen.keep)], lower=False, check_finite=False)
            rcond = sla.lapack.dtrcon(R, uplo="U")[0]
            if rcond > 0 and _EPS / rcond**2 <= 0.1:
                return Preconditioner.screened(Preconditioner("gram", R), screen)
        except np.linalg.LinAlgError:
            pass
    try:
        R = sla.cholesky(G, lower=False, check_finite=False)
        rcond = sla.lapack.dtrcon(R, uplo="U")[0]
        if rcond > 0 and _EPS / rcond**2 <= 0.1:
            return Preconditioner("gram", R)
    except np.linalg.LinAlgError:
        pass
    C, piv, r, info = sla.lapack.dpstrf(G, tol=-1.0, lower=0)
    if info < 0 or r >= n or r == 0:
        return None
    perm = piv.astype(np.int64) - 1
    R11 = np.triu(C[:r, :r])
    rcond = sla.lapack.dtrcon(R11, uplo="U")[0]
    if not (rcond > 0 and _EPS / rcond**2 <= 0.1):
        return None
    return Preconditioner("gram-pivoted", R11, perm, sla.solve_triangular(R11, C[:r, r:], check_finite=False))


def _refine(op: TallMatrix, P: Preconditioner, x: np.ndarray, bvec: np.ndarray, tol: float, maxiter: int,
            max_refinements: int, kind: str, d: int) -> LstsqResult:
    """Refinement rounds of preconditioned CG from ``x`` (module docstring), then the minimum-norm
    projection when ``P`` dropped columns."""
    n = op.shape[1]
    its = rounds = 0
    best = None
    while True:
        g, rr, ff = op.residual(bvec, x)
        rounds += 1
        res = _result(x, g, rr, ff, bvec, tol, its, rounds, "precondition", kind, d, P.kind, P.rank)
        if best is not None and res.backward_error > 0.5 * best.backward_error:
            # the round did not halve the backward error: rounding has reached its floor for this
            # problem (about u * ||A|| ||x|| / ||r|| for ill-conditioned A); keep the better iterate
            if res.backward_error > best.backward_error:
                res = replace(best, iterations=its, refinements=rounds)
            break
        if res.converged or rounds > max_refinements or its >= maxiter:
            break
        best = res
        target = 0.5 * tol * math.sqrt(ff) * math.sqrt(rr)
        x, used = _cg_round(op, P, x, g, rr, target, maxiter - its)
        its += used
    if P.rank == n:
        return res
    # rank-deficient: project the basic solution off the null space, and report the exact residual of
    # the vector returned (one more pass over A)
    x = P.min_norm(res.x)
    g, rr, ff = op.residual(bvec, x)
    return _result(x, g, rr, ff, bvec, tol, res.iterations, res.refinements + 1, "precondition", kind, d,
                   P.kind, P.rank)


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


def _result(x, g, rr, ff, b, tol, its, rounds, method, kind, d, factor, rank) -> LstsqResult:
    nr, nA = math.sqrt(rr), math.sqrt(ff)
    ng = float(np.linalg.norm(g))
    be = ng / (nA * nr) if nr > 0 and nA > 0 else 0.0
    consistent = nr <= tol * (nA * float(np.linalg.norm(x)) + float(np.linalg.norm(b)))
    return LstsqResult(x=x, residual_norm=nr, backward_error=be, iterations=its, refinements=rounds,
                       converged=bool(be <= tol or consistent), method=method, sketch=kind, sketch_size=d,
                       factor=factor, rank=rank)
