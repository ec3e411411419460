"""Count-Min: the one-sided guarantee, conservative update, sizing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sketchkit as sk
from _streams import exact_counts, zipf_stream
from sketchkit.frequency import _kernels as K
from test_countsketch import spec_table


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


def count_min_guarantee_failures(keys: np.ndarray, seeds=range(10), width: int = 64, depth: int = 3) -> list[str]:
    """The Count-Min guarantee (class docstring) over sketches of ``keys`` built with each seed:
    no estimate or upper bound below the truth, overestimates past εN (N the total weight) at
    most δ of the time, lower bounds above the truth at most δ of the time. Returns what fails."""
    truth = exact_counts(keys)
    items = list(truth)
    f = np.array([truth[k] for k in items])
    failures, rates, lower_ok = [], [], []
    for seed in seeds:
        cm = sk.CountMin(width, depth, seed=seed)
        cm.update_batch(keys)
        over = cm.estimate_batch(items) - f
        if over.min() < 0 or np.any(cm.upper_bound_batch(items) < f):
            failures.append(f"seed {seed}: an estimate below the true count")
        rates.append(np.mean(over > cm.epsilon * cm.total_weight))
        lower_ok.append(np.mean(cm.lower_bound_batch(items) <= f))
    delta = math.exp(-depth)
    if np.mean(rates) > delta:
        failures.append(f"overestimates past εN in {np.mean(rates):.3f} of queries > δ = {delta:.3f}")
    if np.mean(lower_ok) < 1 - delta:
        failures.append(f"lower bound held in {np.mean(lower_ok):.3f} of queries < 1 − δ")
    return failures


_CM_KEYS = zipf_stream(50_000, 20_000, s=0.8, seed=6)


def test_overestimate_exceeds_eps_n_at_most_delta_of_the_time():
    assert count_min_guarantee_failures(_CM_KEYS) == []


def test_the_guarantee_check_fails_on_a_broken_count_min(monkeypatch):
    """The check above is not vacuous: an estimator biased up by twice the bound εN is
    reported (overestimate rate 1 > δ)."""
    original = sk.CountMin._estimate_keys

    def biased(self, keys, raw):
        return original(self, keys, raw) + 2 * math.ceil(self.error_bound())

    monkeypatch.setattr(sk.CountMin, "_estimate_keys", biased)
    assert any("past εN" in x for x in count_min_guarantee_failures(_CM_KEYS, seeds=range(3)))


def test_the_guarantee_check_fails_on_a_lower_bound_without_its_margin(monkeypatch):
    """A lower bound that forgets to subtract εN (error bound 0) is reported."""
    monkeypatch.setattr(sk.CountMin, "error_bound", lambda self: 0.0)
    assert any("lower bound" in x for x in count_min_guarantee_failures(_CM_KEYS, seeds=range(3)))


def test_the_one_sided_check_catches_an_underestimate_by_one(monkeypatch):
    """At width 64 every item of the Zipf stream above collides in every row, so an estimate
    one too low is still above the truth there; on a stream with collision-free items (what
    test_never_underestimates draws) the same check reports it."""
    original = sk.CountMin._estimate_keys
    monkeypatch.setattr(sk.CountMin, "_estimate_keys", lambda self, keys, raw: original(self, keys, raw) - 1)
    sparse = np.arange(40, dtype=np.int64)
    assert any("below the true count" in x for x in count_min_guarantee_failures(sparse, seeds=range(2), width=4096))


def conservative_failures(keys: np.ndarray) -> list[str]:
    """Conservative update never underestimates, is never above plain Count-Min of the same
    seed, and on a skewed stream cuts the total overestimate by at least a fifth."""
    truth = exact_counts(keys)
    items = list(truth)
    f = np.array([truth[k] for k in items])
    plain, cons = sk.CountMin(64, 4, seed=2), sk.CountMin(64, 4, seed=2, conservative=True)
    plain.update_batch(keys)
    cons.update_batch(keys)
    ep, ec = plain.estimate_batch(items), cons.estimate_batch(items)
    failures = []
    if np.any(ec < f):
        failures.append("a conservative estimate below the true count")
    if np.any(ec > ep):
        failures.append("a conservative estimate above plain Count-Min")
    if not (ec - f).sum() < 0.8 * (ep - f).sum():
        failures.append(f"overestimate only cut to {(ec - f).sum() / (ep - f).sum():.2f} of plain")
    return failures


_CONSERVATIVE_KEYS = zipf_stream(30_000, 5_000, seed=7)


def test_conservative_update_is_tighter_but_still_an_upper_bound():
    assert conservative_failures(_CONSERVATIVE_KEYS) == []
    with pytest.raises(sk.InvalidParameterError, match="non-negative"):
        sk.CountMin(64, 4, conservative=True).update("a", -1)


def test_the_conservative_check_fails_when_updates_are_not_conservative(monkeypatch):
    """A "conservative" sketch that updates like plain Count-Min is reported (no tightening)."""
    monkeypatch.setattr(sk.CountMin, "_update_keys", _plain_update)
    assert conservative_failures(_CONSERVATIVE_KEYS) != []


def _plain_update(self, keys, raw, weights, batch):
    from sketchkit.frequency import _kernels as K
    from sketchkit.frequency.countsketch import _w

    K.cm_update(self._table, self._row_keys, keys, raw, self._item_seed, _w(weights))


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


@pytest.mark.parametrize("make", _EVERY_FREQUENCY_SKETCH)
def test_an_empty_batch_with_an_empty_weight_list_is_a_no_op(make):
    """update_batch([], []) is the loop of no updates (an empty list has no dtype to refuse)."""
    s = make()
    before = s.to_bytes()
    s.update_batch([], [])
    s.update_batch(np.array([], dtype=np.int64), ())
    assert s.to_bytes() == before
    with pytest.raises(sk.ItemTypeError, match="integers"):
        s.update_batch([], np.array([], dtype=np.float64))  # an explicit float array stays refused


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n", [1, 2048, 2051])
def test_the_compiled_update_matches_the_spec(n, weighted):
    # the numba kernel (large int batches take it) at odd lengths and across its 1024-key chunks,
    # against the spec's table computed in numpy from the pure-Python item hash
    rng = np.random.default_rng(n)
    keys = np.concatenate([rng.integers(-(1 << 62), 1 << 62, n // 2 + 1), rng.integers(0, 40, n)])[:n]
    weights = rng.integers(0, 10, n) if weighted else np.ones(n, dtype=np.int64)
    depth, width, seed = 4, 89, 17
    table = np.zeros((depth, width), dtype=np.int32)
    item_seed = np.uint64(sk.hashing.derive_key(seed, sk.hashing.ITEM_DOMAIN, 0))
    K._cm_update_jit(table, sk.hashing.row_keys(seed, depth), keys, True, item_seed,
                     weights if weighted else np.empty(0, np.int64))
    assert np.array_equal(table, spec_table(keys, weights, seed, depth, width, signed=False))
