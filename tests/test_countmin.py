"""Count-Min: the one-sided guarantee, conservative update, sizing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sketchkit as sk
from _streams import exact_counts, zipf_stream


def test_sizing_from_error():
    cm = sk.CountMin.from_error(0.01, 0.01)
    assert (cm.width, cm.depth) == (272, 5)
    assert cm.epsilon <= 0.01 and cm.delta <= 0.01
    assert not cm.conservative
    assert sk.CountMin.from_error(0.01, 0.01, conservative=True).conservative


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 9)), max_size=200), st.booleans())
def test_never_underestimates(stream, conservative):
    cm = sk.CountMin(16, 3, seed=1, conservative=conservative)
    truth = exact_counts([k for k, _ in stream], [w for _, w in stream]) if stream else {}
    if stream:
        cm.update_batch([k for k, _ in stream], [w for _, w in stream])
    for k, v in truth.items():
        assert cm.estimate(k) >= v
        assert cm.upper_bound(k) == cm.estimate(k)


def test_overestimate_exceeds_eps_n_at_most_delta_of_the_time():
    keys = zipf_stream(50_000, 20_000, s=0.8, seed=6)
    truth = exact_counts(keys)
    items = list(truth)
    f = np.array([truth[k] for k in items])
    rates, lower_ok = [], []
    for seed in range(10):
        cm = sk.CountMin(64, 3, seed=seed)
        cm.update_batch(keys)
        over = cm.estimate_batch(items) - f
        assert over.min() >= 0
        rates.append(np.mean(over > cm.epsilon * len(keys)))
        lower_ok.append(np.mean(cm.lower_bound_batch(items) <= f))
    assert np.mean(rates) <= math.exp(-3)
    assert np.mean(lower_ok) >= 1 - math.exp(-3)


def test_conservative_update_is_tighter_but_still_an_upper_bound():
    keys = zipf_stream(30_000, 5_000, seed=7)
    truth = exact_counts(keys)
    items = list(truth)
    f = np.array([truth[k] for k in items])
    plain, cons = sk.CountMin(64, 4, seed=2), sk.CountMin(64, 4, seed=2, conservative=True)
    plain.update_batch(keys)
    cons.update_batch(keys)
    ep, ec = plain.estimate_batch(items), cons.estimate_batch(items)
    assert np.all(ec >= f) and np.all(ec <= ep)
    assert (ec - f).sum() < 0.8 * (ep - f).sum()
    with pytest.raises(sk.InvalidParameterError, match="non-negative"):
        cons.update("a", -1)


def test_white_box_values():
    cm = sk.CountMin(1 << 16, 3, seed=4)
    cm.update_batch(["a", "b", "a"], [2, 3, 4])
    assert cm.estimate_batch(["a", "b", "c"]).tolist() == [6, 3, 0]
    assert cm.table.sum() == 3 * 9
    assert cm.error_bound() == pytest.approx(math.e / (1 << 16) * 9)
