"""SpaceSaving: the deterministic bounds, under single streams and any merge tree."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sketchkit as sk
from _streams import exact_counts, zipf_stream

streams = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 6)), max_size=300)


def bounds_failures(ss: sk.SpaceSaving, truth, total) -> list[str]:
    """The deterministic guarantee (class docstring) for every item of ``truth``: floor <= N/m,
    lower <= f <= upper in ``top`` and in the point bounds, estimate == upper, upper − lower
    <= floor, and every item with f > floor tracked. Returns what fails."""
    failures = []
    if ss.floor > total / ss.capacity:
        failures.append(f"floor {ss.floor} > N/m = {total / ss.capacity}")
    for row in ss.top():
        if not row.lower <= truth.get(row.item, 0) <= row.upper:
            failures.append(f"top row {row} does not bracket {truth.get(row.item, 0)}")
        if row.estimate != row.upper or row.upper - row.lower > ss.floor:
            failures.append(f"top row {row}: estimate != upper or gap past the floor {ss.floor}")
    for item, f in truth.items():
        if not ss.lower_bound(item) <= f <= ss.upper_bound(item):
            failures.append(f"{item!r}: bounds [{ss.lower_bound(item)}, {ss.upper_bound(item)}] miss {f}")
        if f > ss.floor and item not in ss:
            failures.append(f"{item!r} (count {f} > floor {ss.floor}) is not tracked")
    return failures


def check_bounds(ss: sk.SpaceSaving, truth, total):
    failures = bounds_failures(ss, truth, total)
    assert failures == [], failures[:5]


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


_ZIPF_KEYS = zipf_stream(100_000, 50_000, seed=8)


def zipf_failures(capacity: int | None = None) -> list[str]:
    """On a Zipf(1.1) stream, a 64 KiB summary (or one of ``capacity``) reports exactly the 20
    heaviest items in its top 20, within the bounds of :func:`bounds_failures`."""
    truth = exact_counts(_ZIPF_KEYS)
    ss = sk.SpaceSaving.from_memory("64KiB") if capacity is None else sk.SpaceSaving(capacity)
    ss.update_batch(_ZIPF_KEYS)
    failures = [] if ss.nbytes <= 64 * 1024 else [f"nbytes {ss.nbytes} past 64 KiB"]
    top20 = {k for k, _ in truth.most_common(20)}
    if {r.item for r in ss.top(20)} != top20:
        failures.append("top 20 differs from the 20 heaviest items")
    return failures + bounds_failures(ss, truth, len(_ZIPF_KEYS))


def test_heavy_items_of_a_zipf_stream_are_found_with_tight_bounds():
    assert zipf_failures() == []


def test_the_bounds_check_fails_on_an_upper_bound_one_too_low(monkeypatch):
    """Upper bounds one count too low (an exact count then sits above its interval) are reported."""
    original = sk.SpaceSaving._bounds_keys

    def low(self, keys, raw):
        lower, upper = original(self, keys, raw)
        return lower, upper - 1

    monkeypatch.setattr(sk.SpaceSaving, "_bounds_keys", low)
    assert any("miss" in x for x in zipf_failures())


def test_the_bounds_check_fails_on_a_floor_of_zero(monkeypatch):
    """A summary claiming no untracked item has weight (floor 0) is reported: untracked items
    then fall above their upper bound, and items above the floor are missing."""
    monkeypatch.setattr(sk.SpaceSaving, "floor", property(lambda self: 0))
    failures = zipf_failures()
    assert any("not tracked" in x for x in failures) and any("miss" in x for x in failures)


def test_the_zipf_check_fails_on_a_summary_too_small_for_the_top_20(monkeypatch):
    """With 20 slots on a 50,000-key stream the tracked set is noise: reported."""
    assert any("top 20" in x for x in zipf_failures(capacity=20))


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
    """Metwally et al.'s algorithm written plainly: evict the smallest count, of several the
    one in the lowest slot (a new item takes its victim's slot)."""

    def __init__(self, capacity, seed):
        self.capacity, self.seed = capacity, seed
        self.slots = []  # [hash, count, error] per slot
        self.floor = 0

    def update(self, item, w):
        if w == 0:
            return
        h = sk.hashing.item_hash(item, self.seed)
        for slot in self.slots:
            if slot[0] == h:
                slot[1] += w
                return
        if len(self.slots) < self.capacity:
            self.slots.append([h, self.floor + w, self.floor])
            return
        victim = min(range(self.capacity), key=lambda s: (self.slots[s][1], s))
        base = self.floor = self.slots[victim][1]
        self.slots[victim] = [h, base + w, base]


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
    st_ = ss._state
    got = [[int(k), int(c), int(e)] for k, c, e in zip(st_["keys"][: ss.size], st_["counts"], st_["errors"])]
    assert got == ref.slots
    assert ss.floor == ref.floor


def test_ties_evict_the_lowest_slot():
    """Of the slots with the smallest count, the lowest goes, whatever the item hashes."""
    ss = sk.SpaceSaving(3, seed=5)
    ss.update_batch(list(range(1, 11)))  # all counts tie at every eviction
    # round robin: 4 -> slot 0, 5 -> slot 1, 6 -> slot 2, 7 -> slot 0, ..., 10 -> slot 0
    assert ss._state["keys"][:3].tolist() == [sk.hashing.item_hash(x, ss._seed) for x in (10, 8, 9)]
    # evicting the smallest item hash instead would have kept 7 (not 8)
    assert 7 not in ss and 8 in ss


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
