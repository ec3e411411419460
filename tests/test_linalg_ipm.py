"""Sketch-preconditioned interior-point method against HiGHS."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")
from scipy.optimize import linprog  # noqa: E402

from sketchkit.errors import InvalidItemError, InvalidParameterError  # noqa: E402
from sketchkit.linalg import linprog_ipm  # noqa: E402


def random_lp(m, n, seed):
    """Feasible, bounded LP by construction: x0 >= 0 primal feasible, (y0, z0 >= 0) dual feasible."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    x0 = rng.random(n) * (rng.random(n) < 0.5)
    z0 = rng.random(n) * (x0 == 0)
    return A.T @ rng.standard_normal(m) + z0, A, A @ x0


def l_inf_regression(N, p, seed):
    """min ||G w - h||_inf as a standard-form LP in (w+, w-, t, slacks): A is (N*2) x ..., here via its dual.

    Dual of min t s.t. -t <= G w - h <= t:  max h^T(u - v) s.t. G^T (u - v) = 0, 1^T(u + v) = 1, u, v >= 0,
    i.e. min -h^T(u - v) with A = [[G^T, -G^T], [1, 1]] (p+1 rows, 2N columns): short, wide and dense.
    """
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((N, p))
    h = G @ rng.standard_normal(p) + rng.laplace(size=N)
    A = np.vstack([np.hstack([G.T, -G.T]), np.ones((1, 2 * N))])
    b = np.r_[np.zeros(p), 1.0]
    c = -np.r_[h, -h]
    return c, A, b, G, h


@pytest.mark.parametrize("solver", ["sketch", "cholesky"])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_highs_objective(solver, seed):
    c, A, b = random_lp(30, 1500, seed)
    ref = linprog(c, A_eq=A, b_eq=b, bounds=(0, None), method="highs")
    res = linprog_ipm(c, A, b, normal_solver=solver, seed=seed)
    assert res.status == "optimal"
    assert abs(res.fun - ref.fun) <= 1e-6 * abs(ref.fun)
    assert res.primal_infeasibility <= 1e-9 and res.dual_infeasibility <= 1e-9 and res.gap <= 1e-9
    assert (res.x >= 0).all() and (res.z >= 0).all()
    if solver == "sketch":
        # an 8m-row sparse sign sketch keeps every Newton system well conditioned: CG iterations stay
        # bounded even as x/z spreads over many orders of magnitude near the optimum
        assert max(res.cg_iterations) <= 40


def test_l_inf_regression_dual_matches_highs_and_primal_optimum():
    c, A, b, G, h = l_inf_regression(1500, 10, 3)
    ref = linprog(c, A_eq=A, b_eq=b, bounds=(0, None), method="highs")
    res = linprog_ipm(c, A, b)
    assert res.status == "optimal"
    assert abs(res.fun - ref.fun) <= 1e-6 * abs(ref.fun)
    # strong duality: -fun is the minimal l_inf residual; the dual multipliers y give w = -y[:p]
    w = -res.y[:10]
    assert np.max(np.abs(G @ w - h)) == pytest.approx(-res.fun, rel=1e-6)


def test_infeasible_problem_is_not_reported_optimal():
    A = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    b = np.array([1.0, 2.0])  # contradictory rows
    res = linprog_ipm(np.ones(3), A, b, maxiter=60)
    assert res.status != "optimal"


def test_bad_inputs():
    c, A, b = random_lp(5, 40, 0)
    with pytest.raises(InvalidParameterError):
        linprog_ipm(c, A, b[:-1])
    with pytest.raises(InvalidParameterError):
        linprog_ipm(c, A, b, normal_solver="lu")
    with pytest.raises(InvalidParameterError):
        linprog_ipm(c, A, b, tol=2)
    with pytest.raises(InvalidParameterError):
        linprog_ipm(c[:3], A[:, :3], b)  # more rows than columns
    bad = c.copy()
    bad[0] = np.nan
    with pytest.raises(InvalidItemError):
        linprog_ipm(bad, A, b)
