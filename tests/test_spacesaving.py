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


class ReferenceSpaceSaving:
    """Metwally et al.'s algorithm written plainly: evict the smallest (count, item hash)."""

    def __init__(self, capacity, seed):
        self.capacity, self.seed = capacity, seed
        self.slots = {}  # hash -> [count, error]
        self.floor = 0

    def update(self, item, w):
        if w == 0:
            return
        h = sk.hashing.item_hash(item, self.seed)
        if h in self.slots:
            self.slots[h][0] += w
            return
        base = self.floor
        if len(self.slots) == self.capacity:
            victim = min(self.slots, key=lambda k: (self.slots[k][0], k))
            base = self.slots.pop(victim)[0]
            self.floor = base
        self.slots[h] = [base + w, base]


# Long streams over many keys at capacities where the eviction queue (about m/8 entries)
# is much smaller than m: rescans, stale entries and re-pushes all happen.
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 9)), min_size=1, max_size=1500),
       st.sampled_from([1, 3, 17, 150, 300]))
def test_equals_the_plain_algorithm_on_any_weighted_stream(stream, capacity):
    ss = sk.SpaceSaving(capacity, seed=5)
    ref = ReferenceSpaceSaving(capacity, seed=sk.SpaceSaving(1, seed=5)._seed)
    half = len(stream) // 2
    for part in (stream[:half], stream[half:]):  # two batches: state carries across calls
        if part:
            ss.update_batch([k for k, _ in part], [w for _, w in part])
        for k, w in part:
            ref.update(k, w)
    keys = ss._state["keys"][: ss.size]
    got = {int(k): (int(c), int(e)) for k, c, e in zip(keys, ss._state["counts"], ss._state["errors"])}
    assert got == {h: (c, e) for h, (c, e) in ref.slots.items()}
    assert ss.floor == ref.floor


def test_int_items_are_recovered_from_their_hashes():
    ss = sk.SpaceSaving(64, seed=9)
    ints = [0, 1, -1, 2**63 - 1, -(2**63), 123456789, True]
    ss.update_batch(ints)
    assert ss._items is None  # nothing stored beside the hashes
    assert sorted(r.item for r in ss.top()) == sorted({0, 1, -1, 2**63 - 1, -(2**63), 123456789})
    assert all(type(r.item) is int for r in ss.top())
    ss.update_batch(["x", b"y"])  # other items are kept as objects from then on
    assert {r.item for r in ss.top()} >= {"x", b"y", -(2**63)}
    assert ss.nbytes == sk.SpaceSaving.from_bytes(ss.to_bytes()).nbytes


def test_counts_widen_to_int64_before_they_could_overflow():
    ss = sk.SpaceSaving(4)
    ss.update_batch(["a", "b"], [2**31 - 10, 5])
    assert ss._state["counts"].dtype == np.int32
    ss.update("a", 100)
    assert ss._state["counts"].dtype == np.int64
    assert ss.estimate("a") == 2**31 + 90
    back = sk.from_bytes(ss.to_bytes())
    assert back.estimate("a") == 2**31 + 90 and back._state["counts"].dtype == np.int64


def test_from_memory_counts_what_the_items_cost():
    """Full of 7-character str items (objects smaller than the default plan's) or of ints
    (which cost nothing beyond their slot), the summary stays inside its budget."""
    for item_bytes, items in ((0, np.arange(10**5)), (None, [f"k{i:06d}" for i in range(10**5)])):
        kw = {} if item_bytes is None else {"item_bytes": item_bytes}
        ss = sk.SpaceSaving.from_memory("16KiB", **kw)
        ss.update_batch(items)
        assert ss.size == ss.capacity
        assert ss.nbytes <= 16 * 1024
