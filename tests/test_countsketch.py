"""CountSketch: white-box values, and the stated guarantee checked against exact counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sketchkit as sk
from _streams import exact_counts, zipf_stream
from sketchkit.frequency.countsketch import depth_for, median_failure


def test_sizing_from_error_matches_the_docstring():
    cs = sk.CountSketch.from_error(0.05, 0.01)
    assert (cs.width, cs.depth) == (1600, 19)
    assert cs.epsilon == pytest.approx(0.05)
    assert cs.delta <= 0.01 < median_failure(17)
    assert depth_for(0.5) == 1
    assert median_failure(1) == pytest.approx(0.25)
    assert median_failure(3) == pytest.approx(3 * 0.25**2 * 0.75 + 0.25**3)


def test_from_memory_fits_the_budget():
    for budget in ("16KiB", "64KiB", 320 * 1024, "1MB"):
        cs = sk.CountSketch.from_memory(budget)
        assert cs.nbytes <= sk._base.parse_memory(budget) < cs.nbytes + 4 * cs.depth
    with pytest.raises(sk.InvalidParameterError):
        sk.CountSketch.from_memory("10B")
    with pytest.raises(sk.InvalidParameterError):
        sk.CountSketch.from_memory("12 parsecs")


def test_even_depth_is_refused():
    with pytest.raises(sk.InvalidParameterError, match="odd"):
        sk.CountSketch(16, 4)


def test_exact_when_nothing_collides():
    cs = sk.CountSketch(1 << 16, 3, seed=11)
    cs.update_batch(["a", "b", "c", "a"], [5, -2, 7, 1])
    assert cs.estimate_batch(["a", "b", "c", "zzz"]).tolist() == [6, -2, 7, 0]
    assert cs.f2() == 36 + 4 + 49
    assert cs.row_estimates(["a"]).tolist() == [[6, 6, 6]]


def test_turnstile_cancellation_returns_to_zero():
    cs = sk.CountSketch(32, 5, seed=3)
    keys = zipf_stream(5000, 300, seed=1)
    cs.update_batch(keys)
    cs.update_batch(keys, -1)
    assert not cs.table.any()
    assert cs.total_weight == 0 and not cs.is_empty()


def _errors_over_seeds(width, depth, keys, seeds):
    truth = exact_counts(keys)
    items = np.array(sorted(truth), dtype=np.int64)
    f = np.array([truth[k] for k in items.tolist()], dtype=np.float64)
    out = []
    for seed in seeds:
        cs = sk.CountSketch(width, depth, seed=seed)
        cs.update_batch(keys)
        out.append((cs, items, f, cs.estimate_batch(items) - f))
    return out


def test_point_query_guarantee_holds_over_seeds():
    """P[|f̂(x) − f(x)| > ε‖f‖₂] ≤ δ(d) per item: the average failure rate over items and
    20 seeds must stay below δ (Chebyshev makes the real rate far lower)."""
    keys = zipf_stream(40_000, 5_000, s=1.0, seed=2)
    runs = _errors_over_seeds(64, 5, keys, range(20))
    fails = []
    for cs, _, f, err in runs:
        fails.append(np.mean(np.abs(err) > cs.epsilon * np.linalg.norm(f)))
    assert np.mean(fails) <= runs[0][0].delta
    # and the estimator is unbiased: the mean signed error is a small fraction of the bound
    mean_err = np.mean([err.mean() for *_, err in runs])
    assert abs(mean_err) < 0.05 * runs[0][0].epsilon * np.linalg.norm(runs[0][2])


def test_bounds_bracket_the_truth_at_the_stated_rate():
    keys = zipf_stream(40_000, 5_000, s=1.0, seed=3)
    truth = exact_counts(keys)
    items = list(truth)
    f = np.array([truth[k] for k in items])
    for seed in range(5):
        cs = sk.CountSketch(256, 5, seed=seed)
        cs.update_batch(keys)
        inside = (cs.lower_bound_batch(items) <= f) & (f <= cs.upper_bound_batch(items))
        assert inside.mean() >= 1 - 2 * cs.delta


def test_f2_and_inner_product_guarantees():
    a = zipf_stream(30_000, 3_000, seed=4)
    b = zipf_stream(30_000, 3_000, seed=5)
    fa, fb = exact_counts(a), exact_counts(b)
    f2 = sum(v * v for v in fa.values())
    ip = sum(v * fb[k] for k, v in fa.items())
    na, nb = math.sqrt(f2), math.sqrt(sum(v * v for v in fb.values()))
    ok_f2 = ok_ip = 0
    seeds = range(20)
    for seed in seeds:
        sa, sb = sk.CountSketch(128, 5, seed=seed), sk.CountSketch(128, 5, seed=seed)
        sa.update_batch(a)
        sb.update_batch(b)
        eps = sa.epsilon
        ok_f2 += abs(sa.f2() - f2) <= math.sqrt(2) * eps * f2
        ok_ip += abs(sa.inner_product(sb) - ip) <= math.sqrt(2) * eps * na * nb
    assert ok_f2 >= (1 - sa.delta) * len(seeds)
    assert ok_ip >= (1 - sa.delta) * len(seeds)
    with pytest.raises(sk.IncompatibleSketchError):
        sa.inner_product(sk.CountSketch(128, 5, seed=99))
    with pytest.raises(sk.IncompatibleSketchError):
        sa.inner_product(sk.CountMin(128, 5, seed=0))
