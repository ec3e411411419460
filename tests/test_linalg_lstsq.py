"""Sketch-and-precondition / sketch-and-solve least squares against LAPACK and theory."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("scipy")
import scipy.sparse as sp  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from sketchkit.errors import InvalidItemError, InvalidParameterError, ItemTypeError  # noqa: E402
from sketchkit.linalg import lstsq  # noqa: E402


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # test problems are small: BLAS threads only add waiting on a shared machine
    with threadpool_limits(1):
        yield


def problem(N, n, cond, seed=0, noise=1e-3):
    """A = U diag(logspace(0, -log10 cond)) V^T; b = A x + r with r orthogonal to range(A), so x is exact."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((N, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (U * np.logspace(0, -math.log10(cond), n)) @ V.T
    x = rng.standard_normal(n)
    r = rng.standard_normal(N)
    r -= U @ (U.T @ r)
    return A, A @ x + noise * r / np.linalg.norm(r) * math.sqrt(N), x


def backward_error(A, b, x):
    r = b - A @ x
    return np.linalg.norm(A.T @ r) / (np.linalg.norm(A) * np.linalg.norm(r))


def test_matches_lapack_on_random_problem():
    A, b, _ = problem(3000, 40, 1e3)
    res = lstsq(A, b, seed=1)
    ref = np.linalg.lstsq(A, b, rcond=None)[0]
    assert res.converged and res.method == "precondition" and res.sketch == "sparse_sign"
    np.testing.assert_allclose(res.x, ref, rtol=1e-9, atol=1e-9)
    assert res.backward_error <= 1e-12
    assert abs(res.backward_error - backward_error(A, b, res.x)) <= 1e-13  # reported = recomputed
    assert res.residual_norm == pytest.approx(np.linalg.norm(b - A @ res.x), rel=1e-10)


@pytest.mark.parametrize("cond", [1e2, 1e4, 1e6, 1e8, 1e10])
def test_iterations_flat_in_condition_number(cond):
    A, b, x = problem(8000, 100, cond)
    res = lstsq(A, b, tol=1e-10, seed=0)
    assert res.converged and res.backward_error <= 1e-10
    assert res.iterations <= 40  # kappa(A R^-1) is set by the sketch (4n rows), not by A
    # perturbation theory (Wedin): forward error <~ kappa*be*(1 + kappa*||r||/(||A|| ||x||)), here ||A||_2 = 1
    ratio = np.linalg.norm(b - A @ x) / np.linalg.norm(x)
    assert np.linalg.norm(res.x - x) / np.linalg.norm(x) <= 10 * cond * 1e-10 * (1 + cond * ratio)


@pytest.mark.parametrize("factor", ["qr", "cholesky"])
def test_factor_choices_agree(factor):
    A, b, _ = problem(4000, 50, 1e5, seed=2)
    res = lstsq(A, b, factor=factor)
    assert res.factor == factor and res.converged and res.iterations <= 40


def test_auto_factor_switches_to_qr_when_cholesky_is_too_lossy():
    A, b, _ = problem(4000, 50, 1e9, seed=3)
    assert lstsq(A, b).factor == "qr"
    A, b, _ = problem(4000, 50, 1e3, seed=3)
    assert lstsq(A, b).factor == "cholesky"


def test_sketch_and_solve_residual_within_embedding_bound():
    A, b, _ = problem(20000, 30, 1e4, noise=1.0)
    opt = np.linalg.norm(b - A @ np.linalg.lstsq(A, b, rcond=None)[0])
    for d in (200, 800):
        eta = 1.5 * math.sqrt((A.shape[1] + 1) / d)
        for seed in range(3):
            res = lstsq(A, b, method="solve", sketch_size=d, seed=seed)
            assert opt <= res.residual_norm <= (1 + eta) / (1 - eta) * opt
            assert res.iterations == 0


def test_sparse_ill_scaled_converges_in_few_iterations():
    """The sketch preconditioner makes the iteration count independent of the column scales
    (1 .. 1e4 here): what is asserted is sketchkit's own behaviour, never how far an
    unpreconditioned third-party solver gets."""
    rng = np.random.default_rng(5)
    N, n = 5000, 50
    A = sp.random(N, n, density=0.05, random_state=6, format="csr")
    A = sp.csr_matrix(A @ sp.diags(np.logspace(0, 4, n)))  # column scales 1 .. 1e4
    b = rng.standard_normal(N)
    res = lstsq(A, b, tol=1e-10)
    assert res.converged and res.iterations <= 40
    dense_ref = np.linalg.lstsq(A.toarray(), b, rcond=None)[0]
    np.testing.assert_allclose(A @ res.x, A @ dense_ref, rtol=0, atol=1e-8 * np.linalg.norm(b))
    assert backward_error(A.toarray(), b, res.x) < 1e-8


def test_rank_deficient_uses_svd_preconditioner():
    rng = np.random.default_rng(7)
    B = rng.standard_normal((3000, 10))
    A = np.hstack([B, B[:, :3] @ rng.standard_normal((3, 5))])  # rank 10, 15 columns
    b = rng.standard_normal(3000)
    res = lstsq(A, b, factor="qr")
    assert res.factor == "svd" and res.converged
    ref = np.linalg.lstsq(A, b, rcond=None)[0]  # minimum-norm solution
    np.testing.assert_allclose(A @ res.x, A @ ref, atol=1e-9)
    np.testing.assert_allclose(res.x, ref, atol=1e-8)


def test_consistent_system_converges_on_residual():
    A, _, x = problem(2000, 20, 1e3)
    res = lstsq(A, A @ x)
    assert res.converged
    np.testing.assert_allclose(res.x, x, rtol=1e-8, atol=1e-8)


def test_gaussian_and_countsketch_sketches_also_work():
    A, b, _ = problem(3000, 20, 1e6)
    for kind in ("gaussian", "countsketch"):
        res = lstsq(A, b, sketch=kind, tol=1e-10)
        assert res.converged and res.sketch == kind


def test_bad_inputs_raise_sketchkit_errors():
    A, b, _ = problem(200, 5, 10.0)
    with pytest.raises(InvalidParameterError):
        lstsq(A.T, b[:5])  # wide
    with pytest.raises(InvalidParameterError):
        lstsq(A, b[:-1])
    with pytest.raises(InvalidParameterError):
        lstsq(A, b, method="normal")
    with pytest.raises(InvalidParameterError):
        lstsq(A, b, sketch_size=3)
    with pytest.raises(InvalidParameterError):
        lstsq(A, b, tol=0)
    bad = A.copy()
    bad[17, 2] = np.nan
    with pytest.raises(InvalidItemError):
        lstsq(bad, b)
    with pytest.raises(InvalidItemError):
        lstsq(A, np.where(np.arange(200) == 3, np.inf, b))
    with pytest.raises(ItemTypeError):
        lstsq(A.astype(complex), b)
    assert np.isnan(bad[17, 2])  # inputs are not modified
