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


_EVERY_FREQUENCY_SKETCH = [
    lambda: sk.CountMin(64, 3, seed=2),
    lambda: sk.CountSketch(64, 3, seed=2),
    lambda: sk.SpaceSaving(8, seed=2),
    lambda: sk.HeavyHitters(64, 3, 8, seed=2),
]


@pytest.mark.parametrize("make", _EVERY_FREQUENCY_SKETCH)
def test_a_mapping_adds_its_counts(make):
    """update_batch(Counter) / a dict adds each key with its count, as update_batch(keys,
    counts) does (not each key once)."""
    from collections import Counter

    counts = Counter({"a": 5, "b": 2, 7: 3})
    got, want = make(), make()
    got.update_batch(counts)
    want.update_batch(list(counts), list(counts.values()))
    assert got.to_bytes() == want.to_bytes()
    assert got.total_weight == 10 and got.estimate("a") >= 5
    got.update_batch({})
    assert got.to_bytes() == want.to_bytes()


def test_a_mapping_adds_its_counts_to_a_dyadic_sketch():
    got, want = sk.DyadicHeavyHitters(64, 3, universe_bits=16), sk.DyadicHeavyHitters(64, 3, universe_bits=16)
    got.update_batch({7: 5, 9: -2})
    want.update_batch([7, 9], [5, -2])
    assert got.to_bytes() == want.to_bytes()


@pytest.mark.parametrize("make", _EVERY_FREQUENCY_SKETCH)
def test_a_mapping_with_weights_or_non_int_counts_is_refused(make):
    s = make()
    before = s.to_bytes()
    with pytest.raises(sk.InvalidParameterError, match="mapping"):
        s.update_batch({"a": 1}, weights=[2])
    with pytest.raises(sk.ItemTypeError, match="integers"):
        s.update_batch({"a": 1.5})
    assert s.to_bytes() == before


@pytest.mark.parametrize("item", [None, object(), 1.5, [1]])
def test_an_unsupported_item_is_named_in_the_error(item):
    cm = sk.CountMin(64, 3)
    with pytest.raises(sk.ItemTypeError) as info:
        cm.update(item)
    message = str(info.value)
    assert type(item).__name__ in message and "int, str or bytes" in message
    # floats are explained only when a float was passed
    assert ("float" in message) == isinstance(item, float)
    assert cm.is_empty()


def test_a_tracker_adds_a_mappings_counts():
    from sketchkit.robust.tracking import SwitchingTracker

    got = SwitchingTracker(lambda i: sk.CountSketch(64, 3, seed=i), copies=2)
    want = SwitchingTracker(lambda i: sk.CountSketch(64, 3, seed=i), copies=2)
    got.update_batch({"a": 5, "b": 1})
    want.update_batch(["a", "b"], [5, 1])
    assert [s.to_bytes() for s in got._feeds] == [s.to_bytes() for s in want._feeds]
