"""HeavyHitters (insertion-only) and DyadicHeavyHitters (turnstile): recall and bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sketchkit as sk
from _streams import exact_counts, zipf_stream


def test_candidates_count_exactly_after_admission():
    """exact = count − error never exceeds the true count (deterministic)."""
    keys = zipf_stream(50_000, 20_000, seed=9)
    truth = exact_counts(keys)
    hh = sk.HeavyHitters(width=128, depth=5, capacity=50, seed=4)
    hh.update_batch(keys)
    keys_live, counts, errors, items = hh._live()
    for c, e, item in zip(counts.tolist(), errors.tolist(), items):
        assert 0 <= c - e <= truth[item]


@given(st.lists(st.integers(0, 30), max_size=200), st.integers(1, 8))
def test_exact_part_is_a_lower_bound_on_any_stream(stream, capacity):
    hh = sk.HeavyHitters(width=8, depth=3, capacity=capacity, seed=2)
    hh.update_batch(stream)
    truth = exact_counts(stream)
    _, counts, errors, items = hh._live()
    for c, e, item in zip(counts.tolist(), errors.tolist(), items):
        assert c - e <= truth[item]
    for row in hh.top():
        assert row.lower >= 0


def _sketch_plus_candidates(hh: sk.HeavyHitters) -> np.ndarray:
    """The HeavyHitters' sketch with every candidate's exact part added back."""
    cs = hh.sketch
    _, counts, errors, items = hh._live()
    if items:
        cs.update_batch(items, (counts - errors).astype(np.int64))
    return cs.table


@given(st.lists(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 4)), max_size=150), min_size=1, max_size=4),
       st.integers(1, 6))
def test_sketch_holds_the_stream_minus_the_candidates_exact_parts(parts, capacity):
    """White-box invariant: sketch + candidates' exact parts == a CountSketch of the whole
    stream, after any updates, evictions and merges (so untracked estimates see whole counts)."""
    whole = sk.CountSketch(16, 3, seed=8)
    sketches = []
    for part in parts:
        hh = sk.HeavyHitters(16, 3, capacity, seed=8)
        if part:
            items, weights = [k for k, _ in part], [w for _, w in part]
            hh.update_batch(items, weights)
            whole.update_batch(items, weights)
            alone = sk.CountSketch(16, 3, seed=8)
            alone.update_batch(items, weights)
            assert np.array_equal(_sketch_plus_candidates(hh), alone.table)
        sketches.append(hh)
    merged = sk.HeavyHitters.merge_all(sketches)
    assert np.array_equal(_sketch_plus_candidates(merged), whole.table)


def top_failures(rows, truth, k: int, min_recall: int, delta: float) -> list[str]:
    """A top-k report checked against exact counts: at least ``min_recall`` of the true k
    heaviest items reported, and lower <= f <= upper for at least 1 − 2δ of the rows (the
    class docstring's per-item probability). Returns what fails."""
    failures = []
    found = len({r.item for r in rows} & {x for x, _ in truth.most_common(k)})
    if found < min_recall:
        failures.append(f"recall {found} of the top {k} < {min_recall}")
    inside = np.mean([r.lower <= truth[r.item] <= r.upper for r in rows]) if rows else 0.0
    if inside < 1 - 2 * delta:
        failures.append(f"bounds bracket {inside:.3f} of the rows < 1 − 2δ = {1 - 2 * delta:.3f}")
    return failures


def _biased_top(monkeypatch, cls):
    """Make ``cls.top`` report every row shifted up by twice its interval plus one: the truth,
    which lies in [lower, upper], then lies below every reported interval."""
    original = cls.top

    def shifted(self, *args, **kwargs):
        rows = original(self, *args, **kwargs)
        return [r._replace(estimate=r.estimate + 2 * (r.upper - r.lower) + 1, lower=r.upper + 1,
                           upper=2 * r.upper - r.lower + 1) for r in rows]

    monkeypatch.setattr(cls, "top", shifted)


def _reversed_top(monkeypatch, cls):
    """Make ``cls.top(k)`` report the k lightest candidates instead of the k heaviest."""
    original = cls.top
    monkeypatch.setattr(cls, "top", lambda self, k=None, **kw: original(self, None, **kw)[::-1][:k])


_ZIPF_10 = zipf_stream(200_000, 100_000, seed=10)


def zipf_top_failures() -> list[str]:
    truth = exact_counts(_ZIPF_10)
    hh = sk.HeavyHitters.from_memory("64KiB", k=50, seed=5)
    hh.update_batch(_ZIPF_10)
    failures = [] if hh.nbytes <= 64 * 1024 else [f"nbytes {hh.nbytes} past 64 KiB"]
    return failures + top_failures(hh.top(50), truth, 50, 48, hh.delta)


def test_recall_and_bounds_on_a_zipf_stream():
    assert zipf_top_failures() == []


@pytest.mark.parametrize(("breakage", "reported"), [(_biased_top, "bracket"), (_reversed_top, "recall")])
def test_the_top_check_fails_on_a_broken_heavy_hitters(monkeypatch, breakage, reported):
    breakage(monkeypatch, sk.HeavyHitters)
    assert any(reported in x for x in zipf_top_failures())


_ZIPF_11 = zipf_stream(100_000, 30_000, seed=11)


def merged_top_failures() -> list[str]:
    truth = exact_counts(_ZIPF_11)
    sketches = []
    for p in np.array_split(_ZIPF_11, 4):
        s = sk.HeavyHitters(512, 5, 100, seed=6)
        s.update_batch(p)
        sketches.append(s)
    merged = sk.HeavyHitters.merge_all(sketches)
    failures = [] if merged.total_weight == len(_ZIPF_11) else ["merged total weight"]
    return failures + top_failures(merged.top(30), truth, 30, 28, merged.delta)


def test_merged_heavy_hitters_keep_their_bounds():
    assert merged_top_failures() == []


def test_the_merged_check_fails_when_merging_skips_the_candidates(monkeypatch):
    """A merge that adds the CountSketches but keeps only the first part's candidate counts
    reports about a quarter of each heavy count: the bounds miss it."""
    monkeypatch.setattr(sk.HeavyHitters, "_merge_state", lambda self, other: self._merge_extra(other))
    assert any("bracket" in x for x in merged_top_failures())


def test_heavy_hitters_refuse_deletions():
    with pytest.raises(sk.InvalidParameterError, match="DyadicHeavyHitters"):
        sk.HeavyHitters(64, 3, 8).update("a", -1)


def _turnstile_stream(seed):
    keys = zipf_stream(200_000, 1 << 20, seed=seed)
    rng = np.random.default_rng(seed)
    deleted = keys[rng.random(keys.size) < 0.5]
    truth = exact_counts(keys)
    truth.subtract(exact_counts(deleted))
    return keys, deleted, truth


_TURNSTILE_12 = _turnstile_stream(12)


def dyadic_failures(universe_bits: int) -> list[str]:
    """The dyadic guarantee (class docstring) on a Zipf stream with half its occurrences
    deleted: keys clearly above the 50th net count (by 2E) are found, none clearly below it
    is reported, at least 40 of the true top 50 are, and the rows' bounds bracket the truth
    for at least 1 − 2δ of them."""
    keys, deleted, truth = _TURNSTILE_12
    d = sk.DyadicHeavyHitters.from_memory("128KiB", universe_bits=universe_bits, seed=7)
    d.update_batch(keys)
    d.update_batch(deleted, weights=-1)
    failures = [] if d.nbytes <= 128 * 1024 else [f"nbytes {d.nbytes} past 128 KiB"]
    rows = d.top(50)
    kth = truth.most_common(50)[-1][1]
    e = d.error_bound()
    reported = {r.item for r in rows}
    if not {k for k, v in truth.items() if v > kth + 2 * e} <= reported:
        failures.append("a key clearly above the 50th count is missing")
    if not all(truth[x] >= kth - 2 * e for x in reported):
        failures.append("a key clearly below the 50th count is reported")
    return failures + top_failures(rows, truth, 50, 40, d.delta)


@pytest.mark.parametrize("universe_bits", [64, 20])
def test_dyadic_finds_net_heavy_hitters_after_deletions(universe_bits):
    assert dyadic_failures(universe_bits) == []


def test_the_dyadic_check_fails_on_biased_bounds(monkeypatch):
    _biased_top(monkeypatch, sk.DyadicHeavyHitters)
    assert any("bracket" in x for x in dyadic_failures(20))


def test_the_dyadic_check_fails_when_deletions_are_ignored(monkeypatch):
    """A sketch that drops negative weights reports gross counts: keys whose net count is
    small but gross count large are reported, and the bounds miss the net counts."""
    original = sk.DyadicHeavyHitters.update_batch

    def insert_only(self, items, weights=None):
        if isinstance(weights, int) and weights < 0:
            return None
        return original(self, items, weights)

    monkeypatch.setattr(sk.DyadicHeavyHitters, "update_batch", insert_only)
    failures = dyadic_failures(20)
    assert any("bracket" in x for x in failures)


def test_dyadic_is_linear_and_handles_negative_keys():
    a = sk.DyadicHeavyHitters(64, 3, seed=1)
    b = sk.DyadicHeavyHitters(64, 3, seed=1)
    a.update_batch([-5] * 10 + [2**62] * 7 + [-(2**63)] * 3)
    b.update_batch([-5] * 4, weights=-1)
    rows = (a + b).top(3)
    assert [(r.item, r.estimate) for r in rows] == [(2**62, 7), (-5, 6), (-(2**63), 3)]


def test_dyadic_refuses_keys_outside_its_universe_and_non_integers():
    d = sk.DyadicHeavyHitters(64, 3, universe_bits=10)
    with pytest.raises(sk.InvalidItemError):
        d.update(1024)
    with pytest.raises(sk.InvalidItemError):
        d.update(-1)
    with pytest.raises(sk.ItemTypeError):
        d.update("a")
    assert d.is_empty()


def test_sizing_from_error():
    hh = sk.HeavyHitters.from_error(0.1, 0.01, k=20)
    assert (hh.width, hh.depth, hh.capacity) == (400, 19, 40)
    assert hh.epsilon == pytest.approx(0.1)
    d = sk.DyadicHeavyHitters.from_error(0.1, 0.01, universe_bits=32, level_bits=8)
    assert d.width == 400 and d.n_levels == 4
    assert 4 * d.delta <= 0.01
    with pytest.raises(sk.InvalidParameterError):
        sk.HeavyHitters.from_error(1.5)


@pytest.mark.parametrize("weights", [(800_000_000, 790_000_000), (1_100_000_000, 1_040_000_000)])
@pytest.mark.parametrize("width", [1, 2, 4, 16])
def test_bounds_near_the_int32_limit_are_exact_integers(weights, width):
    """Counts still in int32 plus a large error bound: the bounds are computed in Python/int64
    arithmetic, never wrap or raise (a tracked and an untracked item, total below 2**31)."""
    hh = sk.HeavyHitters(width=width, depth=3, capacity=1)
    hh.update(0, weights[0])
    hh.update(1, weights[1])
    e = math.ceil(hh.error_bound())
    _, counts, errors, _ = hh._live()
    c, base = int(counts[0]), int(errors[0])
    want_lower, want_upper = (c - base) + max(base - e, 0), c + e
    assert (hh.lower_bound(0), hh.upper_bound(0)) == (want_lower, want_upper)
    assert hh.upper_bound_batch([0])[0] == want_upper
    (row,) = hh.top()
    assert (row.estimate, row.lower, row.upper) == (c, want_lower, want_upper)
    assert row.lower <= weights[0] <= row.upper
    assert hh.upper_bound(1) >= hh.estimate(1) and hh.lower_bound(1) >= 0


def test_bounds_saturate_instead_of_wrapping_near_the_int64_limit():
    """An error bound past int64 caps the upper bound at 2**63 − 1 (still above any true
    count, which is at most the int64 total weight) and the lower bound at the exact part."""
    hh = sk.HeavyHitters(width=1, depth=3, capacity=1)
    hh.update(0, 1 << 62)
    hh.update(1, (1 << 62) - 1)
    assert hh.error_bound() > 2**63
    assert hh.upper_bound(0) == hh.upper_bound(1) == 2**63 - 1
    assert hh.lower_bound(0) == 1 << 62 and hh.lower_bound(1) == 0
    (row,) = hh.top()
    assert (row.item, row.lower, row.upper) == (0, 1 << 62, 2**63 - 1)
