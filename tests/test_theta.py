"""ThetaSketch: the k-smallest state, exact set algebra while exact, bytes, and the stated
bounds of union, intersection, difference and Jaccard over 1,000 seeds (each check shown to
fail on a broken estimator)."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sketchkit.cardinality import ThetaSketch
from sketchkit.cardinality.theta import THETA_MAX, score_interval
from sketchkit.errors import CorruptSketchError, IncompatibleSketchError, InvalidParameterError
from sketchkit.hashing import hash_items

K = 256
SEEDS = 1000
DELTA = 0.01


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 5000), max_size=300), st.lists(st.integers(0, 5000), max_size=300))
def test_state_is_the_k_smallest_hashes_and_merge_is_one_pass(xs, ys):
    a, b, ab = ThetaSketch(16, seed=3), ThetaSketch(16, seed=3), ThetaSketch(16, seed=3)
    a.update_batch(xs)
    b.update_batch(ys)
    ab.update_batch(xs + ys)
    h = np.unique(hash_items(xs + ys, 3) >> np.uint64(1)) if xs + ys else np.empty(0, np.uint64)
    assert list(ab._hashes) == list(h[:16])
    assert ab._theta == (int(h[16]) if h.size > 16 else THETA_MAX)
    assert a.copy().merge(b) == ab == b.copy().merge(a)


def test_exact_set_algebra_while_small():
    a, b = ThetaSketch(64, seed=1), ThetaSketch(64, seed=1)
    a.update_batch(range(0, 30))
    b.update_batch(range(20, 45))
    assert a.is_exact() and a.estimate() == 30 and a.bounds() == (30.0, 30.0)
    assert a.union(b).estimate() == 45
    assert a.intersection(b).estimate() == 10
    assert a.difference(b).estimate() == 20
    assert a.jaccard(b) == (10 / 45, 10 / 45, 10 / 45)


def test_set_operations_refuse_other_seeds_and_types():
    a, b = ThetaSketch(64, seed=1), ThetaSketch(64, seed=2)
    for op in (a.union, a.intersection, a.difference, a.jaccard):
        with pytest.raises(IncompatibleSketchError):
            op(b)
        with pytest.raises(IncompatibleSketchError):
            op(object())
    with pytest.raises(InvalidParameterError):
        a.update_batch([1], weights=[2])
    with pytest.raises(InvalidParameterError):
        ThetaSketch(8)


def test_sizing_and_memory():
    t = ThetaSketch.from_error(0.05)
    assert math.sqrt(2 * math.log(200)) / math.sqrt(t.k) <= 0.05
    s = ThetaSketch.from_memory("4KiB")
    s.update_batch(np.arange(100_000, dtype=np.int64))
    assert s.nbytes <= 4096 and s.retained == s.k == 512


def _repack(data: bytes, payload: bytes) -> bytes:
    head = bytearray(data[:24])
    struct.pack_into("<Q", head, 16, len(payload))
    body = bytes(head) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def test_crafted_bytes_are_refused():
    t = ThetaSketch(16, seed=1)
    t.update_batch(range(100))
    data = t.to_bytes()
    p = bytearray(data[24:-4])
    k, theta, total, count = struct.unpack_from("<IQQI", p)
    cases = []
    q = bytearray(p)
    struct.pack_into("<Q", q, 4, int(np.frombuffer(bytes(p[24:]), "<u8")[-1]))  # a hash not below theta
    cases.append(q)
    q = bytearray(p)
    struct.pack_into("<Q", q, 4, THETA_MAX + 1)
    cases.append(q)
    q = bytearray(p)
    struct.pack_into("<I", q, 0, 8)  # k below the minimum
    cases.append(q)
    q = bytearray(p)
    struct.pack_into("<Q", q, 12, 3)  # fewer updates than hashes
    cases.append(q)
    hashes = np.frombuffer(bytes(p[24:]), "<u8")
    cases.append(bytearray(p[:24]) + bytearray(hashes[::-1].tobytes()))
    for c in cases:
        with pytest.raises(CorruptSketchError):
            ThetaSketch.from_bytes(_repack(data, bytes(c)))


# ---------------------------------------------------------------- statistics
def _trials(n_a: int, n_b: int, n_both: int, k: int = K, seeds: int = SEEDS):
    """Per seed: (estimates, lower, upper, p) of A, A∪B, A∩B, A\\B, and Jaccard triples."""
    a_items = np.arange(n_a, dtype=np.int64)
    b_items = np.arange(n_a - n_both, n_a - n_both + n_b, dtype=np.int64)
    rows = []
    for s in range(seeds):
        a, b = ThetaSketch(k, seed=s), ThetaSketch(k, seed=s)
        a.update_batch(a_items)
        b.update_batch(b_items)
        row = []
        for r in (a, a.union(b), a.intersection(b), a.difference(b)):
            lo, hi = r.bounds(DELTA)
            row.append((r.estimate(), lo, hi, r.theta))
        rows.append((row, a.jaccard(b, DELTA)))
    return rows


def _truths(n_a, n_b, n_both):
    return [n_a, n_a + n_b - n_both, n_both, n_a - n_both]


def bounds_cover(est, lo, hi, truth) -> bool:
    """At most a δ share of seeds with the truth outside the stated bounds."""
    return bool(((truth < lo) | (truth > hi)).mean() <= DELTA)


def unbiased(est, truth, sd) -> bool:
    return bool(abs(est.mean() / truth - 1) <= 4 * sd / math.sqrt(est.size))


def sd_as_stated(est, truth, p) -> bool:
    stated = math.sqrt((1 - p.mean()) / (p.mean() * truth))
    return 0.8 <= (est / truth).std() / stated <= 1.25


@pytest.mark.parametrize("n_both", [2_500, 60])
def test_set_expressions_meet_their_bounds(n_both):
    n_a = n_b = 5_000
    rows = _trials(n_a, n_b, n_both)
    for j, truth in enumerate(_truths(n_a, n_b, n_both)):
        est, lo, hi, p = (np.array([r[0][j][c] for r in rows]) for c in range(4))
        assert bounds_cover(est, lo, hi, truth), (j, ((truth < lo) | (truth > hi)).mean())
        stated = math.sqrt((1 - p.mean()) / (p.mean() * truth))
        assert unbiased(est, truth, stated), (j, est.mean() / truth)
        assert sd_as_stated(est, truth, p), (j, (est / truth).std(), stated)
    jac = np.array([r[1] for r in rows])
    truth_j = n_both / (n_a + n_b - n_both)
    assert bounds_cover(jac[:, 0], jac[:, 1], jac[:, 2], truth_j)


def test_small_intersection_error_grows_as_stated():
    """|A∩B| = 60 of |A∪B| = 9,940 at k = 256: relative error ~ sqrt(|A∪B|/(k |A∩B|)) ≈ 0.8,
    and the bounds still hold."""
    rows = _trials(5_000, 5_000, 60, seeds=400)
    est = np.array([r[0][2][0] for r in rows])
    rel_sd = (est / 60).std()
    assert 0.5 * math.sqrt(5_000 / (K * 60)) <= rel_sd <= math.sqrt(9_940 / (K * 60))


def test_checks_fail_on_broken_estimators():
    n_a = n_b = 5_000
    n_both = 60
    rows = _trials(n_a, n_b, n_both, seeds=400)
    a_est = np.array([r[0][0][0] for r in rows])
    u_est = np.array([r[0][1][0] for r in rows])
    p = np.array([r[0][2][3] for r in rows])
    i_est, i_lo, i_hi = (np.array([r[0][2][c] for r in rows]) for c in range(3))
    # inclusion-exclusion for the intersection (|A| + |B| - |A∪B|, here with |B| = |A|)
    incl = 2 * a_est - u_est
    assert not sd_as_stated(incl, n_both, p)
    lo_ie = incl - (i_est - i_lo)
    hi_ie = incl + (i_hi - i_est)
    assert not bounds_cover(incl, lo_ie, hi_ie, n_both)
    # an estimator biased by 50 % (the check has 4 standard errors of 0.04 each here)
    stated = math.sqrt((1 - p.mean()) / (p.mean() * n_both))
    assert not unbiased(i_est * 1.5, n_both, stated)
    # normal-quantile bounds with z = 1 instead of the stated z
    narrow = [score_interval(int(round(e * pp)), pp, 1.0) for e, pp in zip(i_est, p)]
    assert not bounds_cover(i_est, np.array([x[0] for x in narrow]), np.array([x[1] for x in narrow]), n_both)


def test_guarantee_line():
    t = ThetaSketch(16)
    t.update_batch([1, 2])
    assert t.guarantee().startswith("exact count 2")
    t.update_batch(range(1000))
    lo, hi = t.bounds(0.01)
    assert f"{lo:,.0f}" in t.guarantee() and "k = 16" in t.guarantee()


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 255), st.sampled_from([10, 3000]))
def test_any_byte_rewrite_loads_a_working_sketch_or_is_refused(pos, value, n):
    t = ThetaSketch(16, seed=2)
    t.update_batch(np.arange(n, dtype=np.int64))
    data = t.to_bytes()
    payload = bytearray(data[24:-4])
    payload[pos % len(payload)] = value
    try:
        e = ThetaSketch.from_bytes(_repack(data, bytes(payload)))
    except CorruptSketchError:
        return
    assert e.retained <= e.k and np.isfinite(e.estimate())
    lo, hi = e.bounds()
    assert lo <= e.estimate() <= hi or e.retained == 0
    e.update_batch(np.arange(5000, 6000, dtype=np.int64))
    assert ThetaSketch.from_bytes(e.to_bytes()) == e and e.retained <= e.k
