"""The noisy-median estimator and the Cohen et al. (ICML 2022) median attack (issue #4, T3/T4)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from sketchkit import CountMin, CountSketch
from sketchkit.errors import InvalidParameterError
from sketchkit.robust import KeyedCountSketch
from sketchkit.robust.attacks import median_attack
from sketchkit.robust.noisy_median import NoisyMedianEstimator, QueryBudgetWarning

DEPTH, WIDTH, TAIL = 21, 32, 200
HEAVY = 2  # A and B: the estimator is told to expect that many heavy hitters


def robust(cs, trial, **kw):
    return NoisyMedianEstimator(cs, heavy=HEAVY, rng=1000 + trial, **kw)


# ----------------------------------------------------------------------------- white box
def test_eta_zero_is_the_plain_median():
    cs = CountSketch(WIDTH, DEPTH, seed=3)
    cs.update_batch(np.arange(500), np.arange(500) % 7 - 3)
    est = NoisyMedianEstimator(cs, eta=0.0, rng=0)
    assert np.array_equal(est.estimate_batch(np.arange(50)), cs.estimate_batch(np.arange(50)).astype(float))


def test_noise_is_fresh_and_seeded_by_rng():
    cs = CountSketch(WIDTH, DEPTH, seed=3)
    cs.update_batch(np.arange(1000))
    a, b = NoisyMedianEstimator(cs, rng=5), NoisyMedianEstimator(cs, rng=5)
    first = a.estimate_batch([1, 2, 3])
    assert np.array_equal(first, b.estimate_batch([1, 2, 3]))
    assert not np.array_equal(first, a.estimate_batch([1, 2, 3]))


def sigma_hat_within_15_percent() -> bool:
    """Without heavy keys and heavy=0, σ̂ ≈ σ = sqrt(T/w) (measured 0.99 ± 0.035 in pilots)."""
    cs = CountSketch(WIDTH, DEPTH, seed=11)
    rng = np.random.default_rng(2)
    cs.update_batch(np.arange(10_000), rng.integers(0, 2, 10_000) * 2 - 1)
    sigma = math.sqrt(10_000 / WIDTH)
    return 0.85 * sigma <= NoisyMedianEstimator(cs).sigma_hat() <= 1.15 * sigma


def test_sigma_hat_tracks_bucket_noise():
    assert sigma_hat_within_15_percent()


def test_the_sigma_check_fails_on_a_mis_scaled_sigma_hat(monkeypatch):
    """σ̂ off by a factor √2 (a variance mistaken for twice itself) is reported."""
    original = NoisyMedianEstimator.sigma_hat
    monkeypatch.setattr(NoisyMedianEstimator, "sigma_hat", lambda self: math.sqrt(2) * original(self))
    assert not sigma_hat_within_15_percent()


def test_budget_warning_and_counting():
    cs = CountSketch(WIDTH, 5, seed=1)
    est = NoisyMedianEstimator(cs, query_budget=3, rng=0)
    assert est.query_budget == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            est.estimate(1)
        with pytest.raises(QueryBudgetWarning):
            est.estimate(1)
    assert est.queries_answered == 4
    assert NoisyMedianEstimator(CountSketch(WIDTH, 21)).query_budget == 4 * 21 * 21


@pytest.mark.parametrize("kw", [{"eta": -1}, {"eta": float("nan")}, {"heavy": WIDTH}, {"heavy": -1}])
def test_bad_parameters(kw):
    with pytest.raises(InvalidParameterError):
        NoisyMedianEstimator(CountSketch(WIDTH, 5), **kw)
    with pytest.raises(InvalidParameterError):
        NoisyMedianEstimator(CountMin(WIDTH, 5))


def test_top_returns_rows_heaviest_first():
    cs = KeyedCountSketch(64, 21, key=bytes(16))
    cs.update_batch(["a"] * 40 + ["b"] * 20 + [f"t{i}" for i in range(300)])
    rows = NoisyMedianEstimator(cs, heavy=2, rng=0).top(2, ["b", "a", "t1", "t2"])
    assert [r[0] for r in rows] == ["a", "b"]
    assert all(lo <= e <= hi for _, e, lo, hi in rows)


def test_attack_refuses_nonempty_or_wrong_sketch():
    cs = CountSketch(WIDTH, 5)
    cs.update(1)
    with pytest.raises(InvalidParameterError):
        median_attack(cs)
    with pytest.raises(InvalidParameterError):
        median_attack(CountMin(WIDTH, 5))


# ----------------------------------------------------------------------------- T3: main gate
def test_standard_median_breaks_within_1000_queries():
    # T3 standard: both |BNR| ≥ 2 within 1000 queries in ≥ 4 of 5 trials, and A is then an ℓ₂ heavy
    # hitter (k = w/3) of Acc, whose true count at A is 0. Measured: 311–457 queries.
    results = [median_attack(CountSketch(WIDTH, DEPTH, seed=100 + t), queries=1000, tail=TAIL, rng=t)
               for t in range(5)]
    broke = [r for r in results if r.success]
    assert len(broke) >= 4, results
    assert all(r.queries <= 1000 and r.details["a_heavy_in_acc"] for r in broke)


def test_robust_estimator_survives_2000_queries():
    # T3 robust: same counters, noisy median η = 1: both |BNR| < 2 after 2000 queries in 5 of 5
    # (measured break at 4626–9080 queries).
    for t in range(5):
        cs = CountSketch(WIDTH, DEPTH, seed=100 + t)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", QueryBudgetWarning)
            res = median_attack(cs, estimator=robust(cs, t), queries=2000, tail=TAIL, rng=t)
        assert not res.success and res.queries == 2000, res


def ordinary_query_failures(queries: int = 500, **kw) -> list[str]:
    """T3 oblivious side: ordinary queries (fresh random tail each); ≥ 99 % of the answers for A
    and B within 4 noise units σ = sqrt(T/w), and A, B always the reported top 2 of A, B and 50
    tail keys. ``kw`` goes to the estimator. Returns what fails."""
    sigma = math.sqrt(TAIL / WIDTH)
    cs = CountSketch(WIDTH, DEPTH, seed=7)
    heavy = np.arange(HEAVY, dtype=np.int64)
    true = np.array([round(10 * sigma)] * 2)
    cs.update_batch(heavy, true)
    est = robust(cs, 0, query_budget=10**6, **kw)
    rng = np.random.default_rng(9)
    errors, always_reported = [], True
    for q in range(queries):
        z = np.arange(10**9 + q * TAIL, 10**9 + (q + 1) * TAIL, dtype=np.int64)
        s = rng.integers(0, 2, TAIL) * 2 - 1
        cs.update_batch(z, s)
        rows = est.top(HEAVY, np.concatenate([heavy, z[:50]]).tolist())
        cs.update_batch(z, -s)
        got = {item: e for item, e, _, _ in rows}
        always_reported &= 0 in got and 1 in got
        errors += [abs(got.get(0, 0) - true[0]), abs(got.get(1, 0) - true[1])]
    failures = [] if always_reported else ["A or B missing from a reported top 2"]
    within = np.mean(np.array(errors) <= 4 * sigma)
    return failures + ([] if within >= 0.99 else [f"{within:.3f} of answers within 4σ < 0.99"])


def test_robust_estimator_is_accurate_on_ordinary_queries():
    assert ordinary_query_failures() == []


def test_the_accuracy_check_fails_on_noise_four_times_too_large():
    """An estimator whose noise is 4× the stated scale (η = 4) is reported."""
    assert any("within 4σ" in x for x in ordinary_query_failures(queries=200, eta=4.0))


def test_attack_works_on_a_keyed_sketch_too():
    # A secret key does not stop an adaptive attacker (it needs no hash knowledge).
    res = median_attack(KeyedCountSketch(WIDTH, DEPTH, key=bytes(range(16))), queries=1000, tail=TAIL, rng=0)
    assert res.success


# ----------------------------------------------------------------------------- T4: growth with ℓ
@pytest.mark.slow
def test_robust_gain_grows_with_depth():
    # T4: queries-to-break ratio robust/standard at ℓ = 21 is ≥ 3× the ratio at ℓ = 5 (the robust
    # estimator's survival grows ≈ ℓ², the median's ≈ ℓ). Cap 20 000 queries; medians of 8 trials
    # (measured: 6.2× at ℓ = 5, 19.8× at ℓ = 21).
    def median_break(depth, noisy):
        out = []
        for t in range(8):
            cs = CountSketch(WIDTH, depth, seed=200 + t)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", QueryBudgetWarning)
                est = robust(cs, t) if noisy else None
                out.append(median_attack(cs, estimator=est, queries=20_000, tail=TAIL, rng=t).queries)
        return float(np.median(out))

    ratio5 = median_break(5, True) / median_break(5, False)
    ratio21 = median_break(21, True) / median_break(21, False)
    assert ratio21 >= 3 * ratio5, (ratio5, ratio21)
