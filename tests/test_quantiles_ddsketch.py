"""DDSketch: the relative value guarantee (and its failure on broken sketches), collapse,
rank bounds, exact merges, bytes, bad input, memory."""

from __future__ import annotations

import math
import pickle
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sketchkit
from sketchkit import _format
from sketchkit.errors import (
    CorruptSketchError,
    IncompatibleSketchError,
    InvalidItemError,
    InvalidParameterError,
    ItemTypeError,
)
from sketchkit.quantiles import KLL, DDSketch
from sketchkit.testing import held_bytes


def true_quantile(srt: np.ndarray, q: float, inclusive: bool) -> float:
    """The order statistic each convention names (class docstring)."""
    n = srt.shape[0]
    if inclusive:
        return float(srt[min(n - 1, max(0, math.ceil(q * n) - 1))])
    return float(srt[min(n - 1, math.floor(q * n))])


QS = np.array([0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999, 1.0])


def value_guarantee_failures(s, x: np.ndarray, qs=QS) -> list[str]:
    """|quantile(q) − v| <= α|v| for every q and both conventions where |v| is above the
    collapse threshold of its sign; below it the answer is the collapse bucket's value, never
    smaller in magnitude than v. Returns what fails."""
    srt = np.sort(x + 0.0)  # -0.0 is stored as 0.0
    cut_pos, cut_neg = s.collapsed_below
    out = []
    tol = 1e-12
    for inclusive in (True, False):
        got = s.quantiles(qs, inclusive=inclusive)
        for q, g in zip(qs, got):
            v = true_quantile(srt, q, inclusive)
            cut = cut_pos if v > 0 else cut_neg
            if v == 0 or abs(v) <= 2.2250738585072014e-308:  # the zero bucket answers 0
                if g != 0 and g != v:
                    out.append(f"q={q} inclusive={inclusive}: {g} for a zero-bucket value {v}")
            elif abs(v) > cut:
                if abs(g - v) > s.alpha * abs(v) * (1 + tol) + 1e-300:
                    out.append(f"q={q} inclusive={inclusive}: {g} vs {v} (rel {abs(g - v) / abs(v):.4g})")
            elif not (abs(g) >= abs(v) * (1 - tol) and math.copysign(1, g) == math.copysign(1, v)):
                out.append(f"q={q} inclusive={inclusive}: collapsed answer {g} below |{v}|")
    return out


def _data(seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.concatenate(
        [rng.lognormal(0, 2, 30_000), -rng.lognormal(1, 1, 5_000), np.zeros(300), rng.integers(1, 5, 2000)]
    ).astype(float)
    rng.shuffle(x)
    return x


@pytest.mark.parametrize("alpha", [0.001, 0.01, 0.05])
def test_relative_value_guarantee(alpha):
    x = _data()
    s = DDSketch(alpha, max_buckets=50_000)
    s.update_batch(x)
    assert s.collapsed_below == (0.0, 0.0)
    assert value_guarantee_failures(s, x) == []


@given(st.lists(st.floats(-1e12, 1e12, allow_nan=False).filter(lambda v: v == 0 or abs(v) > 1e-300), min_size=1,
                max_size=200))
def test_relative_value_guarantee_any_stream(xs):
    s = DDSketch(0.02)
    s.update_batch(xs)
    assert value_guarantee_failures(s, np.array(xs, dtype=float)) == []


def test_guarantee_after_collapse():
    x = _data(2)
    s = DDSketch(0.01, max_buckets=300)
    s.update_batch(x)
    cut_pos, cut_neg = s.collapsed_below
    assert cut_pos > 0 and s.num_buckets <= 2 * 300
    assert value_guarantee_failures(s, x) == []
    # the quantiles that matter for latency (the top) keep alpha
    srt = np.sort(x)
    assert abs(s.quantile(0.999) - true_quantile(srt, 0.999, True)) <= 0.01 * true_quantile(srt, 0.999, True)


class _OffByOneBucket(DDSketch):
    """Broken on purpose: reports the upper edge of the bucket above (an off-by-one index)."""

    __slots__ = ()

    def _rep(self, i):
        return super()._rep(i + 1)


class _WrongConvention(DDSketch):
    """Broken on purpose: answers the inclusive convention with the exclusive one."""

    __slots__ = ()

    def quantiles(self, qs, *, inclusive=True):
        return super().quantiles(qs, inclusive=False)


class _NoClampBucketMid(DDSketch):
    """Broken on purpose: the representative is the bucket's lower edge (relative error up to 2α)."""

    __slots__ = ()

    def _rep(self, i):
        return np.exp((i - 1) / self._mult)


@pytest.mark.parametrize("broken", [_OffByOneBucket, _WrongConvention, _NoClampBucketMid])
def test_value_check_catches_broken_sketches(broken):
    x = np.concatenate([_data(), np.arange(1.0, 41.0).repeat(50)])
    if broken is _WrongConvention:
        x = np.arange(1.0, 11.0).repeat(3)  # few distinct values: the conventions differ by one item
        qs = np.array([1 / 3, 0.5, 2 / 3])
    else:
        qs = QS
    s = broken(0.01)
    s.update_batch(x)
    assert value_guarantee_failures(s, x, qs) != []
    good = DDSketch(0.01)
    good.update_batch(x)
    assert value_guarantee_failures(good, x, qs) == []


def test_conventions_and_extremes():
    s = DDSketch(0.001)
    s.update_batch(np.arange(1, 11))
    assert abs(s.quantile(0.5) - 5) <= 0.005 and abs(s.quantile(0.5, inclusive=False) - 6) <= 0.006
    assert s.quantile(0.0) == 1.0 and s.quantile(1.0) == 10.0
    assert s.quantile(0.999) == 10.0  # clamped to the exact maximum


def test_rank_bounds_bracket_the_truth():
    x = _data(3)
    srt = np.sort(x)
    s = DDSketch(0.02)
    s.update_batch(x)
    probe = np.concatenate([np.quantile(x, np.linspace(0, 1, 41)), [-1e9, 0.0, 1e9, 2.5, -3.0]])
    lower = s.ranks(probe, inclusive=False)
    upper = s.ranks(probe)
    true_lo = np.searchsorted(srt, probe, side="left") / srt.size
    true_hi = np.searchsorted(srt, probe, side="right") / srt.size
    assert np.all(lower <= true_lo + 1e-12) and np.all(true_hi <= upper + 1e-12)
    np.testing.assert_allclose(s.cdf([-1e9, 1e9]), [0.0, 1.0, 1.0])
    assert abs(s.pmf([0.0]).sum() - 1.0) < 1e-12


def test_empty_sketch_answers_nan():
    s = DDSketch()
    assert math.isnan(s.quantile(0.5)) and math.isnan(s.rank(1.0)) and np.isnan(s.cdf([1.0])).all()
    assert s.is_empty() and s.num_buckets == 0


# ----------------------------------------------------------------------------- linear merge

floats = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([0.0, -0.0, 1e-310, 7.0]))


@given(st.lists(st.tuples(floats, st.integers(0, 5)), max_size=150),
       st.lists(st.tuples(floats, st.integers(0, 5)), max_size=150), st.sampled_from([8, 2048]))
def test_merge_equals_one_pass_and_loop(a, b, limit):
    def build(stream):
        s = DDSketch(0.05, max_buckets=limit)
        if stream:
            s.update_batch([v for v, _ in stream], [w for _, w in stream])
        return s

    sa, sb, whole = build(a), build(b), build(a + b)
    before = sb.to_bytes()
    assert sa.copy().merge(sb) == whole == sb.copy().merge(sa)
    assert sb.to_bytes() == before
    loop = DDSketch(0.05, max_buckets=limit)
    for v, w in a + b:
        loop.update(v, w)
    assert loop == whole
    assert DDSketch.from_bytes(whole.to_bytes()) == whole


def test_merge_refuses_other_alpha_limit_seed():
    with pytest.raises(IncompatibleSketchError, match="shape"):
        DDSketch(0.01).merge(DDSketch(0.02))
    with pytest.raises(IncompatibleSketchError, match="shape"):
        DDSketch(0.01).merge(DDSketch(0.01, max_buckets=100))
    with pytest.raises(IncompatibleSketchError, match="seed"):
        DDSketch(0.01, seed=1).merge(DDSketch(0.01, seed=2))
    with pytest.raises(IncompatibleSketchError):
        DDSketch(0.01).merge(KLL(16))


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("batch", "error"),
    [
        (np.array([1.0, np.nan]), InvalidItemError),
        ([1.0, math.inf], InvalidItemError),
        (["x"], ItemTypeError),
        ([None], ItemTypeError),
        (np.array([1 + 2j]), ItemTypeError),
    ],
)
def test_bad_batches_are_refused_whole(batch, error):
    s = DDSketch()
    s.update_batch([1.0, 5.0])
    before = s.to_bytes()
    with pytest.raises(error):
        s.update_batch(batch)
    with pytest.raises(InvalidParameterError):
        s.update_batch([1.0, 2.0], [1, -3])
    assert s.to_bytes() == before


@pytest.mark.parametrize("bad", [0.0, 0.6, -0.1, "a", math.nan])
def test_bad_alpha(bad):
    with pytest.raises(InvalidParameterError):
        DDSketch(bad)


# ----------------------------------------------------------------------------- bytes, memory


def test_bytes_round_trip_and_crafted_bytes():
    s = DDSketch(0.01, max_buckets=100)
    s.update_batch(_data(4))
    b = s.to_bytes()
    for t in (DDSketch.from_bytes(b), sketchkit.from_bytes(b), pickle.loads(pickle.dumps(s)), s.copy()):
        assert t == s and list(t.quantiles(QS)) == list(s.quantiles(QS)) and t.collapsed_below == s.collapsed_below
    family, flags, seed, payload = _format.unpack(b)
    payload = bytearray(payload)
    head = 8 + 8 + 16 + 16

    def crafted(edit, new_flags=flags) -> bytes:
        q = bytearray(payload)
        edit(q)
        return _format.pack(family, seed, bytes(q), new_flags)

    cases = [
        crafted(lambda q: q.__setitem__(slice(0, 8), struct.pack("<d", 0.9))),  # alpha out of range
        crafted(lambda q: q.__setitem__(slice(16, 24), struct.pack("<q", s.total_weight + 1))),
        crafted(lambda q: q.__setitem__(slice(head + 8, head + 16), struct.pack("<q", -1))),  # negative count
        crafted(lambda q: q.__setitem__(slice(8, 12), struct.pack("<I", 3))),  # store wider than the limit
        crafted(lambda q: q.__setitem__(slice(32, 40), struct.pack("<d", math.nan))),  # min
        crafted(lambda q: None, flags | 4),
    ]
    for data in cases:
        with pytest.raises(CorruptSketchError):
            DDSketch.from_bytes(data)


def test_nbytes_and_from_memory():
    s = DDSketch(0.01)
    s.update_batch(_data())
    assert s._pos.counts.nbytes + s._neg.counts.nbytes < s.nbytes < s._pos.counts.nbytes + s._neg.counts.nbytes + 1024
    for budget in (2048, "16KiB", 100_000):
        t = DDSketch.from_memory(budget)
        t.update_batch(np.random.default_rng(0).lognormal(0, 30, 50_000))  # a huge range: collapses
        t.update_batch(-np.random.default_rng(1).lognormal(0, 30, 50_000))
        assert t.nbytes <= sketchkit._base.parse_memory(budget)
    blob = s.to_bytes()
    u, held = held_bytes(lambda: DDSketch.from_bytes(blob))  # what the load allocates, nothing else
    assert abs(u.nbytes - held) <= 0.1 * held


def test_subnormals_count_as_zero_and_round_trip():
    s = DDSketch()
    s.update_batch([1e-310, -1e-310, 0.0, 2.0])
    assert DDSketch.from_bytes(s.to_bytes()) == s
    assert s.quantile(0.5) == 0.0 and s.min == -1e-310


def test_contract_examples_and_repr():
    a, b = DDSketch._contract_examples(3)
    assert a.is_empty() and not a.is_mergeable(b) and DDSketch.linear and DDSketch.item_kind == "float"
    s = DDSketch(0.01, max_buckets=20)
    s.update_batch(_data())
    assert repr(s).startswith("DDSketch(alpha=0.01") and "±1% value" in repr(s) and "collapsed below" in repr(s)


def test_weighted_stream_keeps_the_value_guarantee():
    rng = np.random.default_rng(5)
    x = rng.lognormal(0, 2, 3000)
    w = rng.integers(0, 20, 3000)
    s = DDSketch(0.01)
    s.update_batch(x, w)
    expanded = np.repeat(x, w)
    assert s.total_weight == expanded.size
    assert value_guarantee_failures(s, expanded) == []
