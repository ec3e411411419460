"""SpaceSaving: the deterministic bounds, under single streams and any merge tree."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sketchkit as sk
from _streams import exact_counts, zipf_stream

streams = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 6)), max_size=300)


def check_bounds(ss: sk.SpaceSaving, truth, total):
    assert ss.floor <= total / ss.capacity
    for row in ss.top():
        assert row.lower <= truth.get(row.item, 0) <= row.upper
        assert row.estimate == row.upper
        assert row.upper - row.lower <= ss.floor
    for item, f in truth.items():
        assert ss.lower_bound(item) <= f <= ss.upper_bound(item)
        if f > ss.floor:
            assert item in ss


@given(streams, st.integers(1, 12))
def test_bounds_hold_on_any_stream(stream, capacity):
    ss = sk.SpaceSaving(capacity, seed=3)
    if stream:
        ss.update_batch([k for k, _ in stream], [w for _, w in stream])
    truth = exact_counts([k for k, _ in stream], [w for _, w in stream]) if stream else {}
    check_bounds(ss, truth, sum(w for _, w in stream))
    assert ss.size <= capacity
    assert [r.estimate for r in ss.top()] == sorted((r.estimate for r in ss.top()), reverse=True)


@given(st.lists(streams, min_size=2, max_size=5), st.integers(1, 10), st.randoms(use_true_random=False))
def test_bounds_hold_under_any_merge_tree(parts, capacity, rnd):
    sketches = []
    for part in parts:
        s = sk.SpaceSaving(capacity, seed=3)
        if part:
            s.update_batch([k for k, _ in part], [w for _, w in part])
        sketches.append(s)
    while len(sketches) > 1:  # random binary tree
        i, j = sorted(rnd.sample(range(len(sketches)), 2))
        merged = sketches[i] + sketches[j]
        sketches = [s for t, s in enumerate(sketches) if t not in (i, j)] + [merged]
    everything = [x for part in parts for x in part]
    truth = exact_counts([k for k, _ in everything], [w for _, w in everything]) if everything else {}
    check_bounds(sketches[0], truth, sum(w for _, w in everything))


def test_merge_is_exact_when_nothing_was_evicted():
    a, b = sk.SpaceSaving(100), sk.SpaceSaving(100)
    a.update_batch(list("abracadabra"))
    b.update_batch(list("cadabra"))
    one = sk.SpaceSaving(100)
    one.update_batch(list("abracadabra") + list("cadabra"))
    assert {tuple(r) for r in (a + b).top()} == {tuple(r) for r in one.top()}


def test_heavy_items_of_a_zipf_stream_are_found_with_tight_bounds():
    keys = zipf_stream(100_000, 50_000, seed=8)
    truth = exact_counts(keys)
    ss = sk.SpaceSaving.from_memory("64KiB")
    ss.update_batch(keys)
    assert ss.nbytes <= 64 * 1024
    top20 = {k for k, _ in truth.most_common(20)}
    assert {r.item for r in ss.top(20)} == top20
    check_bounds(ss, truth, len(keys))


def test_white_box_eviction_order():
    ss = sk.SpaceSaving(2, seed=1)
    ss.update_batch(["a", "a", "b", "c"])
    # "b" (count 1) is the minimum when "c" arrives: "c" takes its slot at 1 + 1 with error 1;
    # "a" and "c" tie at 2 and the one with the smaller error ranks first
    assert [tuple(r) for r in ss.top()] == [("a", 2, 2, 2), ("c", 2, 1, 2)]
    assert ss.floor == 1 and "b" not in ss and ss.upper_bound("b") == 1 and ss.estimate("b") == 0


def test_negative_weights_are_refused():
    ss = sk.SpaceSaving(4)
    with pytest.raises(sk.InvalidParameterError, match="insertion-only"):
        ss.update("a", -1)
    with pytest.raises(sk.InvalidParameterError):
        sk.SpaceSaving(0)
    with pytest.raises(sk.InvalidParameterError):
        sk.SpaceSaving.from_memory(10)


def test_items_keep_their_types_through_bytes():
    ss = sk.SpaceSaving(10)
    ss.update_batch([1, "1", b"\x02", "é", -(2**63)])
    back = sk.from_bytes(ss.to_bytes())
    assert sorted(map(repr, (r.item for r in back.top()))) == sorted(map(repr, [1, "1", b"\x02", "é", -(2**63)]))
    assert np.array_equal(back.estimate_batch(["1", 1]), [1, 1])
