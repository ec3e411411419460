"""CountSketch++: layout, the stated guarantee, merge, bytes, and its unweighted-error advantage."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from sketchkit import CountSketch, from_bytes
from sketchkit.errors import IncompatibleSketchError, InvalidParameterError
from sketchkit.learned import CountSketchPlusPlus
from sketchkit.learned.cspp import layout


def zipf(n_items, length, seed, a=1.1):
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_items + 1) ** a
    return rng.choice(n_items, size=length, p=p / p.sum()).astype(np.int64)


def test_layout_follows_the_paper():
    big, n_small, small = layout(30000, 3)
    assert (big, n_small, small) == (5000, 14, 357)
    sk = CountSketchPlusPlus(30000)
    assert sk.nbytes <= 4 * 30000 and sk.nbytes >= 4 * 29000
    with pytest.raises(InvalidParameterError):
        CountSketchPlusPlus(30000, rows=2)
    with pytest.raises(InvalidParameterError):
        CountSketchPlusPlus(8)
    with pytest.raises(InvalidParameterError):
        CountSketchPlusPlus(1000, c=-1)


def test_guarantee_holds_for_all_but_delta_of_items():
    stream = zipf(20000, 200000, 1)
    truth = Counter(stream.tolist())
    keys = np.array(list(truth), dtype=np.int64)
    f = np.array([truth[k] for k in keys.tolist()], dtype=float)
    sk = CountSketchPlusPlus(12000, seed=3)
    sk.update_batch(stream)
    big, _, small = layout(12000, 3)
    l2 = math.sqrt(np.dot(f, f))
    bound = max(sk.threshold + 2 / math.sqrt(small) * l2, 2 / math.sqrt(big) * l2)
    err = np.abs(sk.estimate_batch(keys) - f)
    assert np.mean(err > bound) <= sk.delta + 0.02
    # the reported bounds bracket the truth at least as often
    lo, hi = sk.lower_bound_batch(keys), sk.upper_bound_batch(keys)
    assert np.mean((lo <= f) & (f <= hi)) >= 1 - sk.delta - 0.02


def test_light_items_answer_zero_and_unweighted_error_drops():
    stream = zipf(50000, 300000, 2)
    truth = Counter(stream.tolist())
    keys = np.array(list(truth), dtype=np.int64)
    f = np.array([truth[k] for k in keys.tolist()], dtype=float)
    counters = 6000
    pp = CountSketchPlusPlus(counters, seed=4)
    cs = CountSketch(counters // 3, 3, seed=4)
    pp.update_batch(stream)
    cs.update_batch(stream)
    e_pp = np.abs(pp.estimate_batch(keys) - f).mean()
    e_cs = np.abs(cs.estimate_batch(keys) - f).mean()
    assert e_pp <= 0.5 * e_cs
    assert pp.estimate(0) == pytest.approx(truth[0], rel=0.05)


def test_merge_equals_one_pass_and_bytes_round_trip():
    a_s, b_s = zipf(1000, 5000, 3), zipf(1000, 5000, 4)
    a, b, both = CountSketchPlusPlus(3000, seed=1), CountSketchPlusPlus(3000, seed=1), CountSketchPlusPlus(3000, seed=1)
    a.update_batch(a_s)
    b.update_batch(b_s)
    both.update_batch(np.concatenate([a_s, b_s]))
    assert (a + b).to_bytes() == both.to_bytes()
    assert from_bytes(both.to_bytes()) == both
    with pytest.raises(IncompatibleSketchError):
        a.merge(CountSketchPlusPlus(3000, seed=2))
    with pytest.raises(IncompatibleSketchError):
        a.merge(CountSketchPlusPlus(3000, c=5.0, seed=1))
    loop = CountSketchPlusPlus(3000, seed=1)
    for x in a_s[:200].tolist():
        loop.update(x)
    batch = CountSketchPlusPlus(3000, seed=1)
    batch.update_batch(a_s[:200])
    assert loop == batch
