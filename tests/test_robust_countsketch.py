"""RobustCountSketch, RobustTopK and the attacks that adapt to them (issue #18)."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from sketchkit import CountSketch, HeavyHitters, _format
from sketchkit.errors import CorruptSketchError, InvalidParameterError
from sketchkit.robust import KeyedCountSketch, QueryBudgetExhausted, RobustCountSketch, RobustTopK
from sketchkit.robust.attacks import median_attack, topk_attack
from sketchkit.robust.rank_median import RankMedianEstimator
from sketchkit.robust.robust_countsketch import MEDIAN_SD, bucket_noise, default_query_budget
from sketchkit.testing import check_sketch

WIDTH, TAIL = 32, 200
KEY = bytes(range(16))
BIG = 1 << 40


# ----------------------------------------------------------------------------- oblivious accuracy
def _inside_fraction(cls, depth: int = 9, sketches: int = 60) -> float:
    """Fraction of oblivious answers within error_bound(0.01): A, B at 10σ plus 200 ±1 keys,
    a fresh key per sketch, 10 items × 5 answers each (fixed seeds)."""
    sigma = math.sqrt(TAIL / WIDTH)
    w = round(10 * sigma)
    inside = total = 0
    for s in range(sketches):
        gen = np.random.default_rng(10_000 + s)
        sk = cls(WIDTH, depth, query_budget=BIG, key=gen.bytes(16), rng=s)
        keys = np.arange(2, 2 + TAIL, dtype=np.int64) + (s << 20)
        signs = gen.integers(0, 2, TAIL, dtype=np.int64) * 2 - 1
        sk.update_batch(keys, signs)
        sk.update_batch(np.array([0, 1]), np.array([w, w]))
        probe = np.concatenate([[0, 1], keys[:8]])
        truth = np.concatenate([[w, w], signs[:8]])
        for _ in range(5):
            err = np.abs(sk.estimate_batch(probe) - truth)
            inside += int(np.sum(err <= sk.error_bound(0.01)))
            total += probe.size
    return inside / total


def test_oblivious_answers_within_the_stated_bound():
    # Guarantee: each oblivious answer is within error_bound(0.01) w.p. >= 0.99.
    assert _inside_fraction(RobustCountSketch) >= 0.99


class _NoiseFromFullEnergy(RobustCountSketch):
    """Broken on purpose: the noise scale taken from the full row energy (heavy items
    included) instead of the bucket noise, so the answers are noisier than the bound says."""

    __slots__ = ()

    def _estimate_keys(self, keys, raw):
        lo, hi = self._spend()
        from sketchkit.frequency import _kernels as K

        rows = K.cs_row_values(self._table, self._row_keys, keys, raw, self._item_seed)[:, lo:hi]
        med = np.median(rows.astype(np.float64), axis=1)
        t = self._table[lo:hi].astype(np.float64)
        tau = self._eta * math.sqrt(float(np.median((t * t).sum(axis=1))) / self.width)
        return np.rint(med + self._rng.normal(0.0, tau, size=med.shape[0])).astype(np.int64)


def test_accuracy_check_fails_on_a_broken_estimator():
    assert _inside_fraction(_NoiseFromFullEnergy) < 0.99


def test_eta_zero_is_the_keyed_median():
    rcs = RobustCountSketch(WIDTH, 9, eta=0.0, key=KEY, query_budget=BIG)
    cs = KeyedCountSketch(WIDTH, 9, key=KEY)
    keys = np.arange(3000, dtype=np.int64)
    w = (np.arange(3000) % 7 - 3).astype(np.int64)
    rcs.update_batch(keys, w)
    cs.update_batch(keys, w)
    assert np.array_equal(rcs.estimate_batch(keys[:100]), cs.estimate_batch(keys[:100]))


def test_bucket_noise_is_the_normal_scale_of_the_counters():
    gen = np.random.default_rng(4)
    table = gen.normal(0, 5.0, size=(21, 2000))
    table[:, :100] += 1000.0  # heavy buckets do not move it
    assert 4.6 <= bucket_noise(table) <= 5.4


def test_error_bound_formula():
    rcs = RobustCountSketch(WIDTH, 9, eta=1.5, key=KEY, rng=0)
    rcs.update_batch(np.arange(5000, dtype=np.int64))
    z = math.sqrt(2 * math.log(2 / 0.01))
    assert rcs.error_bound(0.01) == pytest.approx((MEDIAN_SD / 3 + 1.5) * z * rcs.sigma_hat())


# ----------------------------------------------------------------------------- adaptive: small depth
def test_small_depth_robustness_against_the_median_attack():
    # depth 5, width 32, tails of 200: the plain median falls within 200 queries (measured
    # 52-101, 45-85 margin-weighted), the robust sketch (eta = 1.5) survives 400 answers
    # (> 5 x depth x the plain median's median) under the plain attack and the two attacks
    # adapted to its noise (4 answers averaged per tail; tails weighted by the answers' margin),
    # in every trial (measured breaks: 897-1230, 1232-1516, 517-853).
    unit = 1.5 * math.sqrt(TAIL / WIDTH)
    for t in range(3):
        key = bytes([t + 1]) * 16
        assert median_attack(KeyedCountSketch(WIDTH, 5, key=key), queries=200, rng=t).success, t
        assert median_attack(KeyedCountSketch(WIDTH, 5, key=key), queries=200, weighting="margin", rng=t).success
        for kw in ({}, {"repeats": 4}, {"weighting": "margin", "margin_unit": unit}):
            rob = RobustCountSketch(WIDTH, 5, query_budget=BIG, key=key, rng=7000 + t)
            r = median_attack(rob, queries=400, rng=t, **kw)
            assert not r.success, (t, kw, r)


def test_small_depth_check_fails_without_noise():
    # the same check on the same sketch with eta = 0 (the plain median): it breaks
    rob = RobustCountSketch(WIDTH, 5, eta=0.0, query_budget=BIG, key=bytes([1]) * 16, rng=7000)
    assert median_attack(rob, queries=400, rng=0).success


def test_default_budget_below_the_small_depth_break():
    assert default_query_budget(5, 1.5) == 168 < 400
    assert default_query_budget(21, 1.5) == 2976
    assert default_query_budget(5, 0.0) == 40


# ----------------------------------------------------------------------------- budget and switching
def test_switching_then_refusal():
    rcs = RobustCountSketch(WIDTH, 3, copies=2, query_budget=3, eta=0.0, key=KEY)
    rcs.update_batch(np.arange(500, dtype=np.int64))
    answers = []
    for _ in range(3):
        answers.append(rcs.estimate_batch(np.arange(20)))
    assert rcs.active_copy == 0 and rcs.queries_left == 3
    # the second copy answers from its own rows
    assert np.array_equal(rcs.estimate_batch(np.arange(20)), rcs._plain_estimate(np.arange(20), 1).round())
    assert rcs.active_copy == 1 and rcs.queries_answered == 4
    rcs.estimate(1)
    rcs.bounds(2)
    assert rcs.queries_left == 0
    before = rcs.to_bytes()
    with pytest.raises(QueryBudgetExhausted):
        rcs.estimate(1)
    assert rcs.to_bytes() == before  # a refused query changes nothing
    assert "0 of 2×3 left" in repr(rcs)


def test_repr_and_guarantee_state_the_budget():
    rcs = RobustCountSketch(64, 11, key=KEY, rng=1)
    assert rcs.query_budget == default_query_budget(11, 1.5) == 816
    assert "adaptive queries covered: 816 of 1×816 left" in rcs.guarantee()
    assert repr(rcs).startswith("RobustCountSketch(width=64, depth=11, copies=1, eta=1.5")
    rcs.update(5)
    rcs.estimate(5)
    assert "815 of 1×816 left" in repr(rcs)


def test_query_count_survives_bytes_copy_and_empty_like():
    rcs = RobustCountSketch(WIDTH, 5, copies=2, query_budget=10, key=KEY, rng=0)
    rcs.update_batch(["a", "b", "a"])
    for _ in range(12):
        rcs.estimate("a")
    back = RobustCountSketch.from_bytes(rcs.to_bytes())
    assert (back.active_copy, back.queries_answered) == (1, 12)
    assert rcs.empty_like().queries_answered == 12
    assert rcs.copy().queries_left == 8


def test_merge_keeps_the_larger_count():
    a = RobustCountSketch(WIDTH, 5, query_budget=10, key=KEY, rng=0)
    b = a.empty_like()
    a.update_batch(["x"] * 3)
    b.update_batch(["y"] * 2)
    for _ in range(4):
        b.estimate("y")
    a.merge(b)
    assert a.queries_answered == 4 and a.total_weight == 5


@pytest.mark.parametrize("kw", [{"depth": 4}, {"eta": -1}, {"eta": float("nan")}, {"copies": 0},
                                {"query_budget": 0}])
def test_bad_parameters(kw):
    args = {"width": WIDTH, "depth": 5, **kw}
    with pytest.raises(InvalidParameterError):
        RobustCountSketch(**args)


def _patched(data: bytes, offset: int, value: bytes) -> bytes:
    """``data`` with payload bytes at ``offset`` replaced and the CRC recomputed."""
    raw = bytearray(data)
    start = _format.HEADER_SIZE + offset
    raw[start:start + len(value)] = value
    body = bytes(raw[:-4])
    return body + zlib.crc32(body).to_bytes(4, "little")


@pytest.mark.parametrize("offset, value", [
    (8, (2).to_bytes(4, "little")),    # active copy 2 of 2
    (12, (11).to_bytes(8, "little")),  # 11 answers of a budget of 10
    (4, (3).to_bytes(4, "little")),    # 5 x 3 rows, the table holds 10
    (0, (4).to_bytes(4, "little")),    # even depth
    (28, np.array([np.nan]).tobytes()),  # eta NaN
])
def test_crafted_query_state_is_refused(offset, value):
    rcs = RobustCountSketch(WIDTH, 5, copies=2, query_budget=10, key=KEY)
    good = rcs.to_bytes()
    assert RobustCountSketch.from_bytes(_patched(good, 0, good[_format.HEADER_SIZE:][:4])) == rcs
    with pytest.raises(CorruptSketchError):
        RobustCountSketch.from_bytes(_patched(good, offset, value))


def test_contract():
    check_sketch(RobustCountSketch)


def test_nbytes_is_table_row_keys_and_key():
    rcs = RobustCountSketch(100, 7, copies=3, key=KEY)
    assert rcs.nbytes == rcs.table.nbytes + rcs._row_keys.nbytes + 16
    assert rcs.rows == 21 and rcs.depth == 7


# ----------------------------------------------------------------------------- top-k
def test_topk_lists_share_the_budget_across_windows():
    tk = RobustTopK(64, 9, k=2, query_budget=3, key=KEY, rng=0)
    tk.update_batch(["x"] * 60 + ["y"] * 40 + [f"t{i}" for i in range(300)])
    assert [r[0] for r in tk.top()] == ["x", "y"]
    nxt = tk.next_window()
    nxt.update_batch(["p"] * 50 + [f"u{i}" for i in range(300)])
    assert nxt.top(1)[0][0] == "p"
    nxt.top()
    assert nxt.queries_left == 0
    with pytest.raises(QueryBudgetExhausted):
        nxt.top()


def test_topk_attack_breaks_public_heavyhitters_but_not_robust_topk():
    # depth 5: the public-seed HeavyHitters list falls within 200 lists (measured 81, trial 0);
    # RobustTopK (eta = 1.5) survives 400 lists (measured break 5633-9322 in 3 trials).
    hh = topk_attack(lambda: HeavyHitters(WIDTH, 5, 20, seed=300), CountSketch(WIDTH, 5, seed=300), rounds=200,
                     rng=0)
    assert hh.success
    st = {"w": RobustTopK(WIDTH, 5, 10, query_budget=BIG, key=bytes([1]) * 16, rng=0)}
    score = st["w"].sketch

    def new_window():
        st["w"] = st["w"].next_window()
        return st["w"]

    assert not topk_attack(new_window, score, rounds=400, rng=0).success


def test_rank_median_estimator_is_a_median_when_eps0_is_large():
    cs = KeyedCountSketch(WIDTH, 21, key=KEY)
    cs.update_batch(np.arange(2000, dtype=np.int64))
    est = RankMedianEstimator(cs, eps0=1000.0, rng=0)
    rows = np.sort(cs.row_estimates(np.arange(10)), axis=1)
    got = est.estimate_batch(np.arange(10))
    assert np.all((got >= rows[:, 9] - 1e-9) & (got <= rows[:, 11] + 1e-9))
    with pytest.raises(InvalidParameterError):
        RankMedianEstimator(cs, eps0=0)


def test_top_needs_candidates_once_non_empty():
    rcs = RobustCountSketch(WIDTH, 5, key=KEY, rng=0)
    assert rcs.top(3) == []
    rcs.update_batch(["a"] * 30 + ["b"] * 5)
    with pytest.raises(InvalidParameterError):
        rcs.top(3)
    assert rcs.top(1, ["b", "a"])[0][0] == "a"


@pytest.mark.parametrize("as_array", [False, True])
def test_topk_candidate_cut_keeps_the_heavy_items(as_array):
    tk = RobustTopK(256, 9, k=3, max_candidates=5, key=KEY, rng=0)
    for b in range(5):
        light = list(range(1000 + 100 * b, 1100 + 100 * b))
        batch = [7] * 60 + [8] * 50 + [9] * 40 + light
        tk.update_batch(np.array(batch, dtype=np.int64) if as_array else batch)
    n = tk._int_candidates.size if as_array else len(tk._candidates)
    assert n <= 10
    assert sorted(r[0] for r in tk.top()) == [7, 8, 9]
    assert tk.queries_left == tk.query_budget - 1  # the cuts were not counted


def test_topk_from_memory_fits():
    tk = RobustTopK.from_memory("64KiB", k=20, seed=3)
    assert tk.nbytes <= 64 * 1024 and tk.depth == 21 and tk.max_candidates == 1000
    assert tk.is_empty() and tk.top() == []


def test_averaging_attack_counts_every_answer():
    with pytest.raises(InvalidParameterError):
        median_attack(KeyedCountSketch(WIDTH, 5, key=KEY), repeats=0)
    with pytest.raises(InvalidParameterError):
        median_attack(KeyedCountSketch(WIDTH, 5, key=KEY), weighting="magnitude")
    r = median_attack(KeyedCountSketch(WIDTH, 5, key=KEY), queries=40, repeats=4, stop_on_success=False, rng=0)
    assert r.queries == 40 and list(r.steps[:2]) == [4, 8] and r.details["repeats"] == 4


def test_topk_mixed_item_kinds():
    tk = RobustTopK(256, 9, k=2, key=KEY, rng=0)
    tk.update_batch(np.array([5] * 50 + list(range(100, 300)), dtype=np.int64))
    tk.update_batch(["s"] * 40 + [f"t{i}" for i in range(200)])
    assert [r[0] for r in tk.top()] == [5, "s"]
