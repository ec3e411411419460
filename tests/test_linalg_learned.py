"""Learned CountSketch for low-rank approximation: estimator, mixed-sketch guarantee, learning on digits."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sketchkit.errors import InvalidItemError, InvalidParameterError  # noqa: E402
from sketchkit.linalg import CountSketchOperator  # noqa: E402
from sketchkit.linalg.learned import LearnedSketchingMatrix, rowspace_low_rank  # noqa: E402


def digits_batches():
    sklearn = pytest.importorskip("sklearn.datasets")
    X = sklearn.load_digits().data  # ships with scikit-learn: 1797 images of 8 x 8 pixels
    return [X[i:i + 150].T.copy() for i in range(0, 1650, 150)]  # 64 pixels x 150 images each


def excess(sk, A, k):
    return sk.error(A, k) - np.linalg.norm(A - rowspace_low_rank(A, A, k))


def test_random_is_the_countsketch_operator():
    sk = LearnedSketchingMatrix.random(8, 50, seed=4)
    np.testing.assert_array_equal(sk.matrix().toarray(), CountSketchOperator(8, 50, seed=4).to_sparse().toarray())
    A = np.random.default_rng(0).standard_normal((50, 7))
    np.testing.assert_allclose(sk.sketch(A), sk.matrix() @ A)


def test_estimator_is_eckart_young_when_sketch_is_identity():
    A = np.random.default_rng(1).standard_normal((40, 12))
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    np.testing.assert_allclose(rowspace_low_rank(A, A, 4), (U[:, :4] * s[:4]) @ Vt[:4], atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 4), st.integers(2, 6))
def test_mixed_sketch_never_worse_than_its_random_part(seed, k, extra):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((60, 15)) * np.logspace(0, -2, 15)
    learned = LearnedSketchingMatrix(rng.integers(0, 5, 60), rng.standard_normal(60), 5, random_rows=k + extra,
                                     seed=seed)
    random_part = LearnedSketchingMatrix.random(k + extra, 60, seed=seed)
    assert learned.error(A, k) <= random_part.error(A, k) * (1 + 1e-9) + 1e-12


def test_learned_values_beat_random_on_held_out_digits():
    pytest.importorskip("torch")
    batches = digits_batches()
    train, test = batches[:2], batches[8:]
    k, m = 5, 10
    sk = LearnedSketchingMatrix.fit(train, m, k, epochs=15, lr=0.03, seed=1)
    learned = np.mean([excess(sk, A, k) for A in test])
    random = np.mean([excess(LearnedSketchingMatrix.random(m, 64, seed=s), A, k) for s in range(10) for A in test])
    assert learned < 0.8 * random


@pytest.mark.slow
def test_learned_halves_excess_error_on_digits():
    pytest.importorskip("torch")
    batches = digits_batches()
    train, test = batches[:6], batches[6:]
    k, m = 5, 10
    sk = LearnedSketchingMatrix.fit(train, m, k, epochs=100, lr=0.02)
    for A in test:
        random = np.mean([excess(LearnedSketchingMatrix.random(m, 64, seed=s), A, k) for s in range(10)])
        assert excess(sk, A, k) <= 0.5 * random


def test_heavy_rows_get_their_own_bucket():
    pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    train = [rng.standard_normal((30, 8)) * np.r_[[100.0, 50.0], np.ones(28)][:, None] for _ in range(2)]
    sk = LearnedSketchingMatrix.fit(train, 6, 2, heavy=2, epochs=1, lr=1e-9)
    assert sk.positions[0] == 0 and sk.positions[1] == 1
    assert not np.isin(sk.positions[2:], [0, 1]).any()


def test_bad_inputs():
    with pytest.raises(InvalidParameterError):
        LearnedSketchingMatrix(np.array([0, 5]), np.ones(2), 3)
    with pytest.raises(InvalidParameterError):
        LearnedSketchingMatrix(np.array([0, 1]), np.ones(3), 3)
    sk = LearnedSketchingMatrix.random(4, 10)
    with pytest.raises(InvalidParameterError):
        sk.sketch(np.ones((11, 2)))
    with pytest.raises(InvalidParameterError):
        sk.low_rank(np.ones((10, 3)), 5)
    bad = np.ones((10, 3))
    bad[2, 1] = np.nan
    with pytest.raises(InvalidItemError):
        sk.low_rank(bad, 1)
    with pytest.raises(InvalidParameterError):
        LearnedSketchingMatrix.fit([], 4, 2)


def test_training_moves_at_repeated_singular_values():
    """k = 10, m = 20 on digits: the sketched matrices have repeated (zero) singular values, where an
    SVD's gradient is infinite and training through it stopped at its first step, returning the
    initial random values. The eigenvalue form of the loss keeps training: the training error drops."""
    pytest.importorskip("torch")
    train = digits_batches()[:3]
    k, m = 10, 20
    start = LearnedSketchingMatrix.fit(train, m, k, epochs=1, lr=1e-12, seed=4)  # the initial values
    sk = LearnedSketchingMatrix.fit(train, m, k, epochs=20, lr=0.05, seed=4)
    rel = lambda s: np.mean([s.error(A, k) / np.linalg.norm(A) for A in train])  # noqa: E731
    assert not np.array_equal(sk.values, start.values)
    assert rel(sk) < 0.95 * rel(start)


def test_rowspace_basis_ignores_empty_and_dependent_sketch_rows():
    """The estimator's rows must lie in the row space of SA. A QR of SAᵀ returns m columns whatever
    the rank, so an empty sketch row adds a direction the sketch never saw: the check catches that."""
    from sketchkit.linalg.learned import rowspace_basis

    rng = np.random.default_rng(3)
    A = rng.standard_normal((30, 12))
    SA = rng.standard_normal((5, 12))
    SA[1] = 0.0  # an empty bucket
    SA[3] = 2.0 * SA[0]  # a dependent one
    exact = np.linalg.svd(SA)[2][:3].T  # rank 3

    def outside(V):
        return float(np.linalg.norm(V - exact @ (exact.T @ V)))

    V = rowspace_basis(SA)
    assert V.shape == (12, 3) and outside(V) < 1e-12
    approx = rowspace_low_rank(A, SA, 3)
    assert np.linalg.norm(approx - approx @ exact @ exact.T) < 1e-10
    assert outside(np.linalg.qr(SA.T)[0]) > 0.5  # the QR basis fails the same check


def greedy_loss_increase(fit) -> float:
    """Training loss (mean ‖A − Ã‖_F / ‖A‖_F, through the estimator itself) of ``fit(train, m, k)``
    minus that of its starting point, the hashed positions: a greedy search that keeps the current
    bucket among its candidates can only lower it."""
    train = digits_batches()[:1]
    k, m = 4, 8
    start = LearnedSketchingMatrix.fit(train, m, k, epochs=0, seed=2)
    got = fit(train, m, k)
    loss = lambda sk: np.mean([sk.error(A, k) / np.linalg.norm(A) for A in train])  # noqa: E731
    return float(loss(got) - loss(start))


def test_greedy_positions_never_increase_the_training_loss():
    fit = lambda tr, m, k: LearnedSketchingMatrix.fit(tr, m, k, positions="greedy", epochs=0, seed=2)  # noqa: E731
    assert greedy_loss_increase(fit) < 0


def test_the_greedy_check_fails_on_a_search_that_maximises(monkeypatch):
    module = LearnedSketchingMatrix.fit.__func__.__globals__  # the module the greedy search reads
    real = module["_loss"]
    monkeypatch.setitem(module, "_loss", lambda grams, SAs, k: -real(grams, SAs, k))
    fit = lambda tr, m, k: LearnedSketchingMatrix.fit(tr, m, k, positions="greedy", epochs=0, seed=2)  # noqa: E731
    assert greedy_loss_increase(fit) > 0


def test_values_training_is_optional_and_needs_no_torch(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    train = digits_batches()[:1]
    sk = LearnedSketchingMatrix.fit(train, 10, 5, epochs=0, seed=2)
    np.testing.assert_array_equal(np.abs(sk.values), np.ones(64))
    with pytest.raises(ImportError):
        LearnedSketchingMatrix.fit(train, 10, 5, epochs=1, seed=2)
    with pytest.raises(InvalidParameterError):
        LearnedSketchingMatrix.fit(train, 10, 5, positions="learned", epochs=0)
    with pytest.raises(InvalidParameterError):
        LearnedSketchingMatrix.fit(train, 10, 5, epochs=-1)


@pytest.mark.slow
@pytest.mark.parametrize("k, m", [(5, 10), (10, 20)])
def test_greedy_positions_halve_excess_error_on_held_out_digits(k, m):
    """The 50 % goal at k = 5 and 10 on digits (train batches 0-5, every held-out batch 6-10)."""
    batches = digits_batches()
    train, test = batches[:6], batches[6:]
    sk = LearnedSketchingMatrix.fit(train, m, k, positions="greedy", epochs=0)
    for A in test:
        random = np.mean([excess(LearnedSketchingMatrix.random(m, 64, seed=s), A, k) for s in range(10)])
        assert excess(sk, A, k) <= 0.5 * random
