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


def test_power_iterations_approach_optimal_and_match_sklearn():
    A, s = decaying(decay=0.97)
    k = 10
    best = math.sqrt(np.sum(s[k:] ** 2))
    errs = {}
    for q in (0, 2, 4):
        U, sv, Vt = randomized_svd(A, k, n_iter=q, seed=3)
        errs[q] = np.linalg.norm(A - (U * sv) @ Vt)
        ours = np.mean([np.linalg.norm(A - (lambda t: (t[0] * t[1]) @ t[2])(randomized_svd(A, k, n_iter=q, seed=r)))
                        for r in range(3)])
        ref = np.mean([np.linalg.norm(A - (lambda t: (t[0] * t[1]) @ t[2])(sk_rsvd(A, k, n_iter=q, random_state=r)))
                       for r in range(3)])
        assert ours <= 1.02 * ref
    assert errs[4] < errs[2] < errs[0]
    assert errs[4] <= 1.01 * best
    np.testing.assert_allclose(randomized_svd(A, k, n_iter=10)[1], s[:k], rtol=1e-3)


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
    A[3, 3] = np.inf
    with pytest.raises(InvalidItemError):
        randomized_svd(A, 2)
