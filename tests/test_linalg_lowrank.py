"""Randomized range finder / SVD with sparse test matrices: HMT bounds and parity with scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("sklearn")
import scipy.sparse as sp  # noqa: E402
from sklearn.utils.extmath import randomized_svd as sk_rsvd  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from sketchkit.errors import InvalidItemError, InvalidParameterError  # noqa: E402
from sketchkit.linalg import randomized_range, randomized_svd  # noqa: E402


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(1):
        yield


def decaying(m=300, n=200, seed=0, decay=0.9):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((m, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = decay ** np.arange(n)
    return (U * s) @ V.T, s


def hmt_failures(range_finder, sketch: str, seeds=range(10)) -> list[str]:
    """Halko-Martinsson-Tropp (Thm 10.5): E‖A − QQᵀA‖_F <= sqrt(1 + k/(p − 1))·(Σ_{j>k} σ_j²)^½
    without power iterations, checked on the mean over seeds; Q orthonormal; and, by
    Eckart-Young, no rank-(k+p) projection beating the best rank-(k+p) error. Returns what fails."""
    A, s = decaying()
    k, p = 10, 5
    tail = math.sqrt(np.sum(s[k:] ** 2))
    errs, failures = [], []
    for seed in seeds:
        Q = range_finder(A, k + p, n_iter=0, sketch=sketch, seed=seed)
        if not np.allclose(Q.T @ Q, np.eye(k + p), atol=1e-12):
            failures.append(f"seed {seed}: Q is not orthonormal")
        errs.append(np.linalg.norm(A - Q @ (Q.T @ A)))
    if np.mean(errs) > math.sqrt(1 + k / (p - 1)) * tail:
        failures.append(f"mean error {np.mean(errs):.4g} past the HMT bound")
    if min(errs) < math.sqrt(np.sum(s[k + p:] ** 2)) * (1 - 1e-9):
        failures.append("an error below the Eckart-Young optimum")
    return failures


@pytest.mark.parametrize("sketch", ["sparse_sign", "gaussian"])
def test_hmt_expected_error_bound_without_power_iterations(sketch):
    assert hmt_failures(randomized_range, sketch) == []


def test_the_hmt_check_fails_on_a_range_that_ignores_the_matrix():
    """A "range finder" that orthonormalises the test matrix itself (forgetting to multiply by
    A) returns a random subspace: the HMT bound check reports it."""

    def broken(A, l, *, n_iter, sketch, seed):
        return np.linalg.qr(np.random.default_rng(seed).standard_normal((A.shape[0], l)))[0]

    assert any("HMT" in x for x in hmt_failures(broken, "gaussian", seeds=range(3)))


def rank_k_error(A, usv) -> float:
    U, s, Vt = usv
    return float(np.linalg.norm(A - (U * s) @ Vt))


@pytest.mark.parametrize("method", ["krylov", "subspace"])
def test_power_iterations_approach_optimal_and_match_sklearn(method):
    A, s = decaying(decay=0.97)
    k = 10
    best = math.sqrt(np.sum(s[k:] ** 2))
    errs = {}
    for q in (0, 2, 4):
        errs[q] = rank_k_error(A, randomized_svd(A, k, n_iter=q, method=method, seed=3))
        ours = np.mean([rank_k_error(A, randomized_svd(A, k, n_iter=q, method=method, seed=r)) for r in range(3)])
        ref = np.mean([np.linalg.norm(A - (lambda t: (t[0] * t[1]) @ t[2])(sk_rsvd(A, k, n_iter=q, random_state=r)))
                       for r in range(3)])
        assert ours <= 1.02 * ref
    assert errs[4] < errs[2] < errs[0]
    assert errs[4] <= 1.01 * best
    np.testing.assert_allclose(randomized_svd(A, k, n_iter=10, method=method)[1], s[:k], rtol=1e-3)


def test_krylov_error_at_most_subspace_error_at_equal_iterations():
    """The Krylov space holds the last block, so its best rank-k approximation is never worse than
    the subspace iteration's from the same test matrix (module docstring): exact up to rounding."""
    A, _ = decaying(decay=0.97)
    for q in (0, 1, 3):
        for seed in range(3):
            kry = rank_k_error(A, randomized_svd(A, 10, n_iter=q, seed=seed))
            sub = rank_k_error(A, randomized_svd(A, 10, n_iter=q, method="subspace", seed=seed))
            assert kry <= sub * (1 + 1e-12), (q, seed)


def powerlaw(m=600, n=200, seed=0):
    """sigma_j = j^-1/2: a slowly decaying spectrum, where the iteration count matters."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((m, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = np.arange(1, n + 1) ** -0.5
    return (U * s) @ V.T, s


def auto_excess_over_sklearn(svd, seeds=range(3)) -> float:
    """Mean excess rank-10 error over the optimum (Eckart-Young) of ``svd(A, k, seed)``, divided by
    scikit-learn's at its defaults (n_iter='auto'), on the power-law matrix: <= 1 means the claim
    "equal or lower error" holds."""
    A, s = powerlaw()
    best = math.sqrt(np.sum(s[10:] ** 2))
    ours = np.mean([rank_k_error(A, svd(A, 10, seed)) - best for seed in seeds])
    ref = np.mean([rank_k_error(A, sk_rsvd(A, 10, random_state=seed)) - best for seed in seeds])
    return float(ours / ref)


def test_krylov_auto_depth_error_at_most_sklearn_default():
    assert auto_excess_over_sklearn(lambda A, k, seed: randomized_svd(A, k, seed=seed)) <= 1.0


def test_the_auto_depth_check_fails_with_too_few_krylov_blocks():
    assert auto_excess_over_sklearn(lambda A, k, seed: randomized_svd(A, k, n_iter=1, seed=seed)) > 1.0


def test_unresolved_sigma_k_falls_back_to_the_subspace_iteration(monkeypatch):
    """sigma_k < 1e-4 sigma_1: the Krylov result is not trusted; the answer is exactly the subspace
    method's at scikit-learn's depth, singular values to ~u sigma_1. With the guard disabled the
    Krylov answer differs (the check would see a broken guard)."""
    A, s = decaying(decay=0.5)  # sigma_20 / sigma_1 = 2e-6
    sub = randomized_svd(A, 20, method="subspace", seed=1)
    got = randomized_svd(A, 20, seed=1)
    for x, y in zip(got, sub):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(got[1], s[:20], rtol=1e-11)
    monkeypatch.setitem(randomized_svd.__globals__, "_RESOLVED", 0.0)  # the module randomized_svd reads
    assert not np.array_equal(randomized_svd(A, 20, seed=1)[1], sub[1])


@pytest.mark.parametrize("sparse", [False, True])
def test_wide_input_is_the_transposed_problem(sparse):
    rng = np.random.default_rng(5)
    A, _ = powerlaw(300, 120)
    A = A * rng.choice([0.0, 1.0], size=A.shape, p=[0.5, 0.5]) if sparse else A
    M = sp.csr_matrix(A) if sparse else A
    U, s, Vt = randomized_svd(M, 8, seed=2)
    Uw, sw, Vtw = randomized_svd(M.T, 8, seed=2)
    np.testing.assert_allclose(sw, s, rtol=1e-10)
    np.testing.assert_allclose(np.abs(Vtw @ U), np.eye(8), atol=1e-6)
    np.testing.assert_allclose(Uw.T @ Uw, np.eye(8), atol=1e-12)
    np.testing.assert_allclose(Vtw @ Vtw.T, np.eye(8), atol=1e-12)


def test_sparse_input_matches_dense_input():
    A = sp.random(500, 200, density=0.02, random_state=1, format="csr")
    Ud, sd, Vd = randomized_svd(A.toarray(), 5, seed=2)
    Us, ss, Vs = randomized_svd(A, 5, seed=2)
    np.testing.assert_allclose(ss, sd, rtol=1e-10)
    np.testing.assert_allclose(np.abs(Us.T @ Ud), np.eye(5), atol=1e-6)


def test_exact_on_low_rank_and_reproducible():
    rng = np.random.default_rng(4)
    A = rng.standard_normal((120, 6)) @ rng.standard_normal((6, 90))
    U, s, Vt = randomized_svd(A, 6, oversample=0, n_iter=0, seed=9)
    np.testing.assert_allclose((U * s) @ Vt, A, atol=1e-9)
    np.testing.assert_array_equal(randomized_range(A, 8, seed=1), randomized_range(A, 8, seed=1))


def test_bad_parameters():
    A = np.ones((10, 8))
    with pytest.raises(InvalidParameterError):
        randomized_svd(A, 0)
    with pytest.raises(InvalidParameterError):
        randomized_svd(A, 9)
    with pytest.raises(InvalidParameterError):
        randomized_svd(A, 2, n_iter=-1)
    with pytest.raises(InvalidParameterError):
        randomized_range(A, 20)
    with pytest.raises(InvalidParameterError):
        randomized_svd(A, 2, method="lanczos")
    A[3, 3] = np.inf
    with pytest.raises(InvalidItemError):
        randomized_svd(A, 2)
