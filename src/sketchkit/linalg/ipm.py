r"""A sketch-preconditioned interior-point method for linear programs with a short, wide dense ``A``.

Solves :math:`\min c^Tx` subject to :math:`Ax = b,\ x \ge 0` with :math:`A \in \mathbb{R}^{m\times n}`,
:math:`m \ll n` (equivalently a tall dense :math:`A^T`: the dual of an LP with ``n`` inequality
constraints in ``m`` unknowns, e.g. ℓ∞/ℓ1 regression), by Mehrotra's predictor-corrector
primal-dual method (Mehrotra 1992; Wright, *Primal-Dual Interior-Point Methods*, 1997, ch. 10).

Each step solves the normal equations :math:`AD^2A^T\Delta y = r` with :math:`D^2 = XZ^{-1}`.
``normal_solver="sketch"`` (Chowdhury, London, Avron & Drineas, NeurIPS 2020): sketch
:math:`W = DA^T` (n x m, tall) to :math:`SW` with a sparse sign embedding of ``s = 8m`` rows, take
:math:`SW = QR`, and run CG on :math:`R^{-T}AD^2A^TR^{-1}`, whose condition number is at most
:math:`((1+\varepsilon)/(1-\varepsilon))^2` for an ε-embedding however ill-conditioned :math:`D` gets; each
CG iteration is one fused pass over :math:`A`. Cost per step: :math:`O(\zeta mn + sm^2 + t\,mn)` for
``t`` CG iterations, against :math:`O(m^2n + m^3)` for ``normal_solver="cholesky"`` (forming
:math:`AD^2A^T`). **On every LP measured the sketch variant was slower than the Cholesky one**
(0.4–0.73×, from 50 × 5,000 to 1,000 × 20,000, well- and ill-conditioned: docs/benchmarks/linalg.md):
its 8m × m QR alone costs about as many flops as the Cholesky product at n = 20m, and its CG passes over
``A`` are memory-bound where the product is BLAS-3. By that count it could win only for n ≥ ~100m and
m ≥ ~700 (not measured). Use ``normal_solver="cholesky"`` for speed; the sketch variant stays as the
reference implementation of the method.

**Guarantee** (what ``tests/test_linalg_ipm.py`` checks). On return with ``status == "optimal"``:
relative primal and dual infeasibility :math:`\lVert Ax-b\rVert/(1+\lVert b\rVert)`,
:math:`\lVert A^Ty+z-c\rVert/(1+\lVert c\rVert)` and the relative duality gap
:math:`|c^Tx-b^Ty|/(1+|c^Tx|)` are all ≤ ``tol`` (default 1e-9), so the objective matches any exact
solver's (the tests compare with ``scipy.optimize.linprog(method="highs")``) to about ``tol``;
``x ≥ 0`` and ``z ≥ 0`` always hold. Infeasible or unbounded problems end with
``status == "max_iter"``, ``"stalled"`` or ``"diverged"``, never with a wrong "optimal".

>>> import numpy as np
>>> A = np.array([[1.0, 1.0, 1.0]]); b = np.array([1.0]); c = np.array([3.0, 1.0, 2.0])
>>> res = linprog_ipm(c, A, b)
>>> res.status, round(res.fun, 8)
('optimal', 1.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla

from .._base import check_positive_int
from ..errors import InvalidItemError, InvalidParameterError
from ..hashing import DEFAULT_SEED
from . import _kernels as K
from ._threads import numba_threads
from .operators import DEFAULT_NNZ, SparseSign, as_matrix

__all__ = ["IPMResult", "linprog_ipm"]


@dataclass(frozen=True)
class IPMResult:
    """Solution and diagnostics of :func:`linprog_ipm`."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    fun: float
    status: str  # "optimal", "max_iter", "stalled" or "diverged"
    iterations: int  # interior-point iterations
    cg_iterations: tuple[int, ...]  # CG iterations of each normal-equation solve (sketch solver)
    primal_infeasibility: float
    dual_infeasibility: float
    gap: float


class _Normal:
    """Solver for (A D^2 A^T) u = r, re-factored for every new D."""

    def __init__(self, At: np.ndarray, how: str, sketch_rows: int, nnz_per_col: int, seed: int, cg_tol: float):
        self.At, self.how, self.cg_tol = At, how, cg_tol
        n, m = At.shape
        rows = min(n, sketch_rows)
        self.S = SparseSign(rows, n, nnz_per_col=min(nnz_per_col, rows), seed=seed)
        parts = max(1, min(4 * numba_threads(), n // 2048 + 1))
        self._bounds = np.linspace(0, n, parts + 1).astype(np.int64)
        self.counts: list[int] = []

    def factor(self, d2: np.ndarray) -> None:
        self._factor(d2)

    def _factor(self, d2: np.ndarray) -> None:
        self.d2 = d2
        if self.how == "cholesky":
            M = (self.At * d2[:, None]).T @ self.At
            self.chol = sla.cho_factor(M, check_finite=False)
        else:
            if self.S.d >= self.At.shape[0]:  # no smaller than W itself: factor W exactly
                Y = self.At * np.sqrt(d2)[:, None]
            else:
                Y = self.S.apply(self.At, row_weights=np.sqrt(d2))
            self.R = sla.qr(Y, mode="r", check_finite=False)[0][: Y.shape[1]]
            # keep R invertible when A (or the sketch) is rank deficient; CG then works in its range
            diag = np.abs(np.diag(self.R))
            floor = max(float(diag.max()), 1.0) * 1e-15
            idx = np.flatnonzero(diag <= floor)
            self.R[idx, idx] = floor

    def matvec(self, v: np.ndarray) -> np.ndarray:
        kernel = K.pick("weighted_normal_matvec_dense", self.At.size)
        return kernel(self.At, self.d2, v, self._bounds)

    def solve(self, r: np.ndarray) -> np.ndarray:
        if self.how == "cholesky":
            return sla.cho_solve(self.chol, r, check_finite=False)
        R = self.R
        # preconditioned CG on R^-T M R^-1 w = R^-T r, u = R^-1 w
        rhs = sla.solve_triangular(R, r, trans="T", check_finite=False)
        w = np.zeros_like(rhs)
        s = rhs.copy()
        p = s.copy()
        gamma = float(s @ s)
        stop = (self.cg_tol**2) * gamma
        its = 0
        while its < 500:
            its += 1
            v = sla.solve_triangular(R, p, check_finite=False)
            q = sla.solve_triangular(R, self.matvec(v), trans="T", check_finite=False)
            pq = float(p @ q)
            if pq <= 0 or not math.isfinite(pq):
                break
            alpha = gamma / pq
            w += alpha * p
            s -= alpha * q
            gamma_new = float(s @ s)
            if gamma_new <= stop:
                break
            p *= gamma_new / gamma
            p += s
            gamma = gamma_new
        self.counts.append(its)
        return sla.solve_triangular(R, w, check_finite=False)


def _direction(N: _Normal, At: np.ndarray, x: np.ndarray, z: np.ndarray, rp: np.ndarray, rd: np.ndarray,
               d2: np.ndarray, rc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Newton direction for A dx = rp, A^T dy + dz = rd, Z dx + X dz = rc via the normal equations."""
    dy = N.solve(rp + At.T @ (d2 * rd - rc / z))
    dz = rd - At @ dy
    dx = (rc - x * dz) / z
    return dx, dy, dz


def _step_to_boundary(v: np.ndarray, dv: np.ndarray) -> float:
    neg = dv < 0
    return min(1.0, float(np.min(-v[neg] / dv[neg]))) if neg.any() else 1.0


def linprog_ipm(
    c: Any,
    A: Any,
    b: Any,
    *,
    normal_solver: str = "sketch",
    sketch_rows: int | None = None,
    nnz_per_col: int = DEFAULT_NNZ,
    tol: float = 1e-9,
    maxiter: int = 100,
    cg_tol: float = 1e-10,
    seed: int = DEFAULT_SEED,
) -> IPMResult:
    """Minimise ``c @ x`` subject to ``A @ x == b``, ``x >= 0`` (dense ``A``, m x n, m <= n)."""
    if normal_solver not in ("sketch", "cholesky"):
        raise InvalidParameterError(f"normal_solver must be 'sketch' or 'cholesky', got {normal_solver!r}")
    tol = float(tol)
    if not 0.0 < tol < 1.0:
        raise InvalidParameterError(f"tol must be in (0, 1), got {tol!r}")
    maxiter = check_positive_int("maxiter", maxiter)
    At = np.ascontiguousarray(as_matrix(A).T if not hasattr(A, "tocsr") else as_matrix(A.toarray()).T)
    n, m = At.shape
    if m > n:
        raise InvalidParameterError(f"A must have at most as many rows as columns, got {m} x {n}")
    cvec = as_matrix(c, "c")[:, 0]
    bvec = as_matrix(b, "b")[:, 0]
    if cvec.shape[0] != n or bvec.shape[0] != m:
        raise InvalidParameterError(f"c must have length {n} and b length {m}, got {cvec.shape[0]} and {bvec.shape[0]}")
    for name, arr in (("A", At), ("b", bvec), ("c", cvec)):
        if not np.isfinite(arr).all():
            raise InvalidItemError(f"{name} contains NaN or infinity")
    srows = 8 * m if sketch_rows is None else check_positive_int("sketch_rows", sketch_rows)
    if srows < m:
        raise InvalidParameterError(f"sketch_rows {srows} must be at least m = {m}")
    N = _Normal(At, normal_solver, srows, nnz_per_col, seed, cg_tol)

    # Mehrotra's starting point: least-norm x and least-squares (y, z), shifted into the interior
    N.factor(np.ones(n))
    x = At @ N.solve(bvec)
    y = N.solve(At.T @ cvec)
    z = cvec - At @ y
    x += max(-1.5 * x.min(), 0.0)
    z += max(-1.5 * z.min(), 0.0)
    xz = float(x @ z)
    x += 0.5 * xz / max(z.sum(), 1e-300) + 1e-12
    z += 0.5 * xz / max(x.sum(), 1e-300) + 1e-12

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _iterate(N, At, bvec, cvec, x, y, z, tol, maxiter)


def _iterate(N: _Normal, At: np.ndarray, bvec: np.ndarray, cvec: np.ndarray, x: np.ndarray, y: np.ndarray,
             z: np.ndarray, tol: float, maxiter: int) -> IPMResult:
    """Mehrotra predictor-corrector iterations from the starting point (x, y, z)."""
    n = At.shape[0]
    nb, nc = 1.0 + np.linalg.norm(bvec), 1.0 + np.linalg.norm(cvec)
    status, it, best = "max_iter", 0, math.inf
    for it in range(1, maxiter + 1):
        rp = bvec - At.T @ x
        rd = cvec - At @ y - z
        mu = float(x @ z) / n
        pinf, dinf = np.linalg.norm(rp) / nb, np.linalg.norm(rd) / nc
        gap = abs(cvec @ x - bvec @ y) / (1.0 + abs(cvec @ x))
        if max(pinf, dinf, gap) <= tol:
            status = "optimal"
            break
        score = max(pinf, dinf, gap)
        if not math.isfinite(score):  # iterates ran off to infinity: infeasible or unbounded
            status = "diverged"
            break
        if it > 30 and score > 0.5 * best and it % 10 == 0:
            status = "stalled"
            break
        best = min(best, score)
        d2 = x / z
        N.factor(d2)

        dx, dy, dz = _direction(N, At, x, z, rp, rd, d2, -x * z)  # affine-scaling predictor
        ap, ad = _step_to_boundary(x, dx), _step_to_boundary(z, dz)
        mu_aff = float((x + ap * dx) @ (z + ad * dz)) / n
        sigma = (mu_aff / mu) ** 3
        dx, dy, dz = _direction(N, At, x, z, rp, rd, d2, sigma * mu - x * z - dx * dz)  # centring-corrector
        ap = min(1.0, 0.995 * _step_to_boundary(x, dx))
        ad = min(1.0, 0.995 * _step_to_boundary(z, dz))
        x = x + ap * dx
        y = y + ad * dy
        z = z + ad * dz
    rp = bvec - At.T @ x
    rd = cvec - At @ y - z
    return IPMResult(
        x=x, y=y, z=z, fun=float(cvec @ x), status=status, iterations=it, cg_iterations=tuple(N.counts),
        primal_infeasibility=float(np.linalg.norm(rp) / nb), dual_infeasibility=float(np.linalg.norm(rd) / nc),
        gap=float(abs(cvec @ x - bvec @ y) / (1.0 + abs(cvec @ x))),
    )
