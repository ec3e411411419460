"""Statistical checks of Distinct's stated guarantee (see sketchkit.cardinality.distinct).

Every threshold comes from the docstring's bound, sigma_p = sqrt(3.8 / (28 m)):
* at most 1 % of seeds outside relative_error(0.01) = sigma_p * sqrt(2 ln 200);
* measured memory-variance product (28 m * mean squared relative error) at most 3.8, allowing
  the sampling error of a variance from N seeds (3 standard errors, sqrt(2/N) each);
* mean relative error within 4 sigma_p / sqrt(N) of zero at every n, across the exact-to-dense
  switch too.
Each check is also run on a deliberately broken estimator and must fail there.
Cardinalities 10^3..10^9 use the exact jump-ahead simulation (sketchkit.cardinality._simulate),
itself checked against real hashes fed through the update kernel.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sketchkit.cardinality import Distinct
from sketchkit.cardinality import _ell as E
from sketchkit.cardinality._simulate import simulate_many
from sketchkit.cardinality.distinct import MVP_BOUND

P = 6
M = 1 << P
SEEDS = 1000
CHECKPOINTS = np.array([10**3, 10**4, 10**5, 10**6, 10**7, 10**8, 10**9])
SIGMA = math.sqrt(MVP_BOUND / (28 * M))
BOUND99 = SIGMA * math.sqrt(2 * math.log(200))


def within_bound_fraction(rel: np.ndarray) -> np.ndarray:
    """Per column: the fraction of seeds whose |relative error| exceeds the stated 99% bound."""
    return (np.abs(rel) > BOUND99).mean(axis=0)


def mvp(rel: np.ndarray, bits: int = 28 * M) -> np.ndarray:
    return bits * (rel**2).mean(axis=0)


def mvp_limit(n_seeds: int) -> float:
    return MVP_BOUND * (1 + 3 * math.sqrt(2 / n_seeds))


def bias_ok(rel: np.ndarray, sigma: float = SIGMA) -> np.ndarray:
    return np.abs(rel.mean(axis=0)) <= 4 * sigma / math.sqrt(rel.shape[0])


def guarantee_holds(rel: np.ndarray) -> bool:
    spread_ok = (within_bound_fraction(rel) <= 0.01).all() and (mvp(rel) <= mvp_limit(rel.shape[0])).all()
    return bool(spread_ok and bias_ok(rel).all())


@pytest.fixture(scope="module")
def simulated():
    hip, ml = simulate_many(P, CHECKPOINTS, range(SEEDS))
    return hip / CHECKPOINTS - 1, ml / CHECKPOINTS - 1


def test_martingale_meets_the_stated_guarantee(simulated):
    hip, _ = simulated
    assert (within_bound_fraction(hip) <= 0.01).all(), within_bound_fraction(hip)
    assert (mvp(hip) <= mvp_limit(SEEDS)).all(), mvp(hip)
    assert bias_ok(hip).all(), hip.mean(axis=0)


def test_ml_meets_the_stated_guarantee(simulated):
    _, ml = simulated
    assert (within_bound_fraction(ml) <= 0.01).all(), within_bound_fraction(ml)
    assert (mvp(ml) <= mvp_limit(SEEDS)).all(), mvp(ml)
    assert bias_ok(ml).all(), ml.mean(axis=0)


def test_each_check_fails_on_a_broken_estimator(simulated):
    hip, ml = simulated
    assert guarantee_holds(hip) and guarantee_holds(ml)
    rng = np.random.default_rng(0)
    # biased by 2 %: the mean check catches it
    assert not bias_ok((1 + hip) * 1.02 - 1).all()
    # 40 % more variance (about HyperLogLog's MVP with these registers): the MVP check
    noisy = hip + rng.normal(0, SIGMA * 0.9, hip.shape)
    assert (mvp(noisy) > mvp_limit(SEEDS)).any()
    # heavy tail: 2 % of seeds off by 3x the bound, variance otherwise intact
    tail = hip.copy()
    tail[:20] += 3 * BOUND99
    assert (within_bound_fraction(tail) > 0.01).any()
    # an HLL-style estimator that ignores the history bits: rerun with d = 0 registers
    assert not guarantee_holds(_hll_like_rel(300))


def _hll_like_rel(seeds: int) -> np.ndarray:
    """Relative errors of the ML estimator fed only each register's maximum (history dropped),
    on real hashes at n = 10^4: what the history bits buy."""
    n = 10_000
    out = np.empty((seeds, 1))
    for s in range(seeds):
        d = Distinct(P, seed=s)
        d.update_batch(np.arange(n, dtype=np.int64))
        w = d._words.copy()
        w32 = w.view(np.uint32)
        for i in range(M):
            r = int(E.get_reg(w32, i))
            E.set_reg(w32, i, np.uint64((r >> 20) << 20))
        a, b = E.ml_coefficients(w32, M, P)
        out[s, 0] = M * E.ml_solve(a, b) / n - 1
    return out


def _real(n_values, seeds, p=P):
    """Relative errors from real updates: items 0..n-1, hash seed = the trial's seed."""
    est = np.empty((len(seeds), len(n_values)))
    for j, s in enumerate(seeds):
        d = Distinct(p, seed=int(s))
        done = 0
        for c, n in enumerate(n_values):
            d.update_batch(np.arange(done, n, dtype=np.int64))
            done = n
            est[j, c] = d.estimate()
    return est / np.asarray(n_values) - 1


def test_real_hashes_agree_with_the_simulation(simulated):
    hip_sim, _ = simulated
    real = _real([10**3, 10**4, 10**5], range(300))
    sim = hip_sim[:, :3]
    n1, n2 = real.shape[0], sim.shape[0]
    # same mean (4 standard errors of the difference) and same variance (F ratio within 1.35)
    sd = np.sqrt(real.var(axis=0) / n1 + sim.var(axis=0) / n2)
    assert (np.abs(real.mean(axis=0) - sim.mean(axis=0)) <= 4 * sd).all()
    ratio = real.var(axis=0) / sim.var(axis=0)
    assert ((ratio > 1 / 1.35) & (ratio < 1.35)).all(), ratio
    assert guarantee_holds(real)


def test_no_bias_bump_where_exact_mode_ends():
    limit = Distinct(P).sparse_limit
    ns = [limit - 5, limit, limit + 1, limit + 3, limit + 10, 2 * limit, 3 * limit, 5 * limit, 10 * limit]
    rel = _real(ns, range(SEEDS))
    assert (rel[:, :2] == 0).all()  # exact while the hashes are kept
    assert bias_ok(rel).all(), rel.mean(axis=0)
    assert (within_bound_fraction(rel) <= 0.01).all()
    # the check sees a bump of 5 sigma_p / sqrt(N) (0.7 % here) right after the switch
    bumped = rel.copy()
    bumped[:, 2:4] += 5 * SIGMA / math.sqrt(SEEDS)
    assert not bias_ok(bumped).all()


def test_broken_ml_solver_is_caught(monkeypatch):
    """A merged sketch answers by ML: a solver off by 5 % fails the bias check."""

    def merged_estimates(seeds):
        out = np.empty((len(seeds), 1))
        for j, s in enumerate(seeds):
            a = Distinct(P, seed=s)
            b = Distinct(P, seed=s)
            a.update_batch(np.arange(0, 6000, dtype=np.int64))
            b.update_batch(np.arange(4000, 10000, dtype=np.int64))
            a.merge(b)
            assert a.estimator == "ml"
            out[j, 0] = a.estimate() / 10000 - 1
        return out

    good = merged_estimates(range(400))
    assert bias_ok(good).all() and (within_bound_fraction(good) <= 0.01).all()
    solve = E.ml_solve
    monkeypatch.setattr(E, "ml_solve", lambda a, b: 1.05 * solve(a, b))
    bad = merged_estimates(range(400))
    assert not bias_ok(bad).all()


@pytest.mark.slow
def test_guarantee_at_precision_10_to_a_billion():
    hip, ml = simulate_many(10, CHECKPOINTS, range(SEEDS))
    bits = 28 * 1024
    sigma = math.sqrt(MVP_BOUND / bits)
    bound = sigma * math.sqrt(2 * math.log(200))
    for est in (hip, ml):
        rel = est / CHECKPOINTS - 1
        assert ((np.abs(rel) > bound).mean(axis=0) <= 0.01).all()
        assert (mvp(rel, bits) <= mvp_limit(SEEDS)).all(), mvp(rel, bits)
        assert bias_ok(rel, sigma).all()
