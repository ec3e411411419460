"""LearnedCountMin / LearnedCountSketch / LearnedCountSketchPlusPlus: white-box, properties, statistics."""

from __future__ import annotations

import math
import pickle
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sketchkit import CountMin, CountSketch, from_bytes
from sketchkit.errors import (
    CorruptSketchError,
    IncompatibleSketchError,
    InvalidParameterError,
    ItemTypeError,
)
from sketchkit.frequency.countsketch import median_failure
from sketchkit.learned import (
    CountSketchPlusPlus,
    LearnedCountMin,
    LearnedCountSketch,
    LearnedCountSketchPlusPlus,
    LookupOracle,
    RandomOracle,
)


def zipf_stream(n_items: int, length: int, seed: int, a: float = 1.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_items + 1) ** a
    return rng.choice(n_items, size=length, p=p / p.sum()).astype(np.int64)


def heavy_oracle(stream: np.ndarray, top: int) -> LookupOracle:
    counts = Counter(stream.tolist())
    return LookupOracle.from_counts(dict(counts.most_common(top)))


ORACLE = LookupOracle.from_counts({"the": 50, "cat": 20, "a": 10})


def small(cls=LearnedCountMin, capacity=2, threshold=2.0, width=64, depth=3, seed=11, oracle=ORACLE):
    inner = cls._inner_type(width, depth, seed=seed) if cls is not LearnedCountSketchPlusPlus else \
        CountSketchPlusPlus(width * depth, rows=depth, seed=seed)
    return cls(oracle, inner, capacity=capacity, threshold=threshold)


# ---------------------------------------------------------------- white box
def test_admitted_items_are_exact_and_capacity_is_respected():
    sk = small(capacity=2)
    words = "the cat a the dog the cat a a".split()
    sk.update_batch(words)
    assert sk.n_exact == 2  # 'the' and 'cat' arrived first; 'a' found the table full
    assert sk.estimate("the") == 3 and sk.lower_bound("the") == 3 and sk.upper_bound("the") == 3
    assert sk.estimate("cat") == 2
    assert sk.estimate("a") >= 3  # Count-Min never underestimates
    assert sk.exact_weight == 5 and sk.total_weight == 9


def test_zero_capacity_is_exactly_the_plain_sketch():
    stream = zipf_stream(500, 5000, 1)
    lcm = LearnedCountMin.from_memory(4000, ORACLE, heavy_fraction=0.0, threshold=1.0, depth=3, seed=5)
    plain = CountMin(lcm.sketch.width, 3, seed=5)
    lcm.update_batch(stream)
    plain.update_batch(stream)
    assert lcm.oracle is None and lcm.capacity == 0
    assert lcm.sketch.to_bytes() == plain.to_bytes()
    assert np.array_equal(lcm.estimate_batch(stream[:100]), plain.estimate_batch(stream[:100]))


def test_budget_split_respects_the_budget():
    oracle = heavy_oracle(zipf_stream(1000, 10000, 2), 200)
    for frac in (0.0, 0.1, 0.5, 0.8):
        sk = LearnedCountSketch.from_memory(20000, oracle, heavy_fraction=frac, threshold=0.5, depth=3)
        assert sk.budget_bytes <= 20000
        assert sk.capacity == int(frac * 20000) // 12
    with pytest.raises(InvalidParameterError):
        LearnedCountMin.from_memory(2500, oracle, heavy_fraction=0.5, threshold=1.0)  # oracle 2400 B + slots
    with pytest.raises(InvalidParameterError):
        LearnedCountMin.from_memory(4000, oracle, heavy_fraction=1.0, threshold=1.0)
    with pytest.raises(InvalidParameterError):
        LearnedCountMin.from_memory(4000, None, heavy_fraction=0.2, threshold=1.0)


def test_constructor_checks():
    with pytest.raises(InvalidParameterError):
        LearnedCountMin(ORACLE, CountSketch(10, 3), capacity=1, threshold=1.0)
    with pytest.raises(InvalidParameterError):
        LearnedCountMin(ORACLE, CountMin(10, 3, conservative=True), capacity=1, threshold=1.0)
    used = CountMin(10, 3)
    used.update("x")
    with pytest.raises(InvalidParameterError):
        LearnedCountMin(ORACLE, used, capacity=1, threshold=1.0)
    with pytest.raises(InvalidParameterError):
        LearnedCountMin(ORACLE, CountMin(10, 3), capacity=1, threshold=float("nan"))
    with pytest.raises(InvalidParameterError):
        LearnedCountSketch.from_memory(4000, ORACLE, heavy_fraction=0.1, threshold=1.0, depth=2)


def test_rejected_batch_changes_nothing():
    sk = small()
    sk.update_batch(["the", "x"])
    before = sk.to_bytes()
    with pytest.raises(ItemTypeError):
        sk.update_batch(["the", 1.5])
    with pytest.raises(ItemTypeError):
        sk.update_batch(["the"], [1.5])
    assert sk.to_bytes() == before


# ---------------------------------------------------------------- properties
items_st = st.lists(st.one_of(st.integers(0, 30), st.sampled_from(["the", "cat", "a", "dog", "b"])), max_size=60)


@settings(max_examples=40, deadline=None)
@given(items=items_st, cls=st.sampled_from([LearnedCountMin, LearnedCountSketch, LearnedCountSketchPlusPlus]))
def test_batch_is_bit_identical_to_loop(items, cls):
    weights = [(i % 3) + 1 for i in range(len(items))]
    a, b = small(cls), small(cls)
    a.update_batch(items, weights or None)
    for x, w in zip(items, weights):
        b.update(x, w)
    assert a.to_bytes() == b.to_bytes()


@settings(max_examples=40, deadline=None)
@given(left=items_st, right=items_st)
def test_merge_is_commutative_and_keeps_count_min_upper_bounds(left, right):
    a, b = small(capacity=2), small(capacity=2)
    a.update_batch(left)
    b.update_batch(right)
    ab, ba = a + b, b + a
    assert ab.to_bytes() == ba.to_bytes()
    truth = Counter(left + right)
    keys = list(truth)
    if keys:
        assert np.all(ab.estimate_batch(keys) >= np.array([truth[k] for k in keys]))
        assert np.all(ab.upper_bound_batch(keys) >= np.array([truth[k] for k in keys]))
    assert ab.total_weight == len(left) + len(right)
    assert ab.n_exact <= 2


def test_merge_without_spill_keeps_exact_counts():
    a, b = small(capacity=3), small(capacity=3)
    a.update_batch("the the cat x".split())
    b.update_batch("cat a a y".split())
    a.merge(b)
    assert (a.estimate("the"), a.estimate("cat"), a.estimate("a")) == (2, 2, 2)
    assert a.lower_bound("cat") == 2 == a.upper_bound("cat")


def test_merge_overflow_moves_counts_into_the_sketch():
    a, b = small(capacity=2), small(capacity=2)
    a.update_batch(["the"] * 5 + ["cat"])
    b.update_batch(["a"] * 4 + ["cat"] * 3)
    a.merge(b)
    # union {the: 5, cat: 4, a: 4} > capacity 2: 'the' stays, 'cat' and 'a' tie at 4, 'a' or 'cat' moves
    assert a.n_exact == 2 and a.estimate("the") == 5
    assert a.estimate("cat") >= 4 and a.estimate("a") >= 4
    assert a.total_weight == 13 and a.sketch.total_weight + a.exact_weight == 13


def test_merge_after_spill_marks_entries_impure():
    a, b = small(capacity=1), small(capacity=1)
    a.update_batch(["the"] * 3 + ["cat"] * 2)  # 'cat' eligible but table full: spills into the sketch
    b.update_batch(["cat"] * 4)  # 'cat' exact in b
    b.merge(a)  # union {the, cat} > 1: 'cat' (6) stays, 'the' moves; cat's 2 in a's sketch are added back
    assert b.estimate("cat") >= 6 and b.estimate("the") >= 3


def test_merge_checks_compatibility():
    a = small()
    for other in (small(seed=12), small(threshold=3.0), small(capacity=3), small(width=65),
                  small(oracle=LookupOracle.from_counts({"the": 1}))):
        with pytest.raises(IncompatibleSketchError):
            a.merge(other)
    with pytest.raises(IncompatibleSketchError):
        a.merge(small(LearnedCountSketch))


def test_streaming_equals_count_vector_in_first_occurrence_order():
    stream = zipf_stream(2000, 20000, 3)
    oracle = heavy_oracle(stream, 100)
    counts = Counter(stream.tolist())
    for cls in (LearnedCountMin, LearnedCountSketch):
        a = cls.from_memory(6000, oracle, heavy_fraction=0.2, threshold=oracle.threshold_for(80), depth=3, seed=2)
        b = a.empty_like()
        a.update_batch(stream)
        b.update_batch(np.array(list(counts), dtype=np.int64), np.array(list(counts.values())))
        assert a.to_bytes() == b.to_bytes()


# ---------------------------------------------------------------- bytes
def test_bytes_pickle_and_copies_round_trip():
    for cls in (LearnedCountMin, LearnedCountSketch, LearnedCountSketchPlusPlus):
        sk = small(cls)
        sk.update_batch("the cat a the dog".split() + list(range(40)))
        for clone in (from_bytes(sk.to_bytes()), cls.from_bytes(sk.to_bytes()), pickle.loads(pickle.dumps(sk)),
                      sk.copy()):
            assert clone == sk
            assert np.array_equal(clone.estimate_batch(["the", "dog", 3]), sk.estimate_batch(["the", "dog", 3]))
        e = sk.empty_like()
        assert e.is_empty() and e.capacity == sk.capacity and e.oracle == sk.oracle


def test_corrupt_bytes_are_refused():
    sk = small()
    sk.update_batch("the cat a".split())
    data = bytearray(sk.to_bytes())
    with pytest.raises(CorruptSketchError):
        from_bytes(bytes(data[:-7]))
    data[40] ^= 0xFF
    with pytest.raises(CorruptSketchError):
        from_bytes(bytes(data))


def test_declared_capacity_is_not_allocated_up_front():
    sk = LearnedCountMin(ORACLE, CountMin(8, 1), capacity=2**31 - 1, threshold=2.0)
    sk.update_batch("the cat".split())
    assert sk.nbytes < 10_000 and sk.n_exact == 2
    clone = from_bytes(sk.to_bytes())
    assert clone == sk and clone.nbytes < 10_000


# ---------------------------------------------------------------- statistics
def test_learned_count_min_guarantee_on_residual_stream():
    """f ≤ f̂ always; f̂ ≤ f + (e/w)·‖f_s‖₁ fails for at most e^-d of the items (+ slack)."""
    stream = zipf_stream(20000, 200000, 4)
    truth = Counter(stream.tolist())
    keys = np.array(list(truth), dtype=np.int64)
    f = np.array([truth[k] for k in keys.tolist()])
    oracle = heavy_oracle(stream, 300)
    sk = LearnedCountMin(oracle, CountMin(2000, 2, seed=9), capacity=300, threshold=oracle.threshold_for(300))
    sk.update_batch(stream)
    est = sk.estimate_batch(keys)
    assert np.all(est >= f)
    n_s = sk.sketch.total_weight
    assert n_s < len(stream) * 0.5  # the exact counters took most of the mass
    fail = np.mean(est > f + math.e / 2000 * n_s)
    assert fail <= math.exp(-2) + 0.02
    assert np.all(sk.lower_bound_batch(keys) <= est)


def test_learned_count_sketch_guarantee_on_residual_stream():
    stream = zipf_stream(20000, 200000, 5)
    truth = Counter(stream.tolist())
    keys = np.array(list(truth), dtype=np.int64)
    f = np.array([truth[k] for k in keys.tolist()])
    oracle = heavy_oracle(stream, 300)
    sk = LearnedCountSketch(oracle, CountSketch(1024, 3, seed=9), capacity=300, threshold=oracle.threshold_for(300))
    sk.update_batch(stream)
    est = sk.estimate_batch(keys)
    hit = sk._lookup(keys)[2]
    residual = f[~hit].astype(float)
    eps = 2 / math.sqrt(1024)
    fail = np.mean(np.abs(est - f) > eps * math.sqrt(np.dot(residual, residual)))
    assert fail <= median_failure(3) + 0.02
    assert np.array_equal(est[hit], f[hit])


def test_learned_beats_plain_at_equal_memory_on_zipf():
    stream = zipf_stream(30000, 300000, 6)
    truth = Counter(stream.tolist())
    keys = np.array(list(truth), dtype=np.int64)
    f = np.array([truth[k] for k in keys.tolist()], dtype=float)
    oracle = heavy_oracle(zipf_stream(30000, 300000, 60), 400)  # trained on another draw
    budget = 20000
    errs = {}
    for name, frac in (("plain", 0.0), ("learned", 0.3)):
        sk = LearnedCountMin.from_memory(budget, oracle, heavy_fraction=frac, threshold=oracle.threshold_for(500),
                                         depth=2, seed=1)
        sk.update_batch(stream)
        errs[name] = np.dot(f, np.abs(sk.estimate_batch(keys) - f)) / f.sum()
    assert errs["learned"] <= 0.7 * errs["plain"]


def test_random_oracle_routes_uniformly():
    sk = LearnedCountMin.from_memory(10000, RandomOracle(3), heavy_fraction=0.2, threshold=0.5, depth=2)
    sk.update_batch(np.arange(300, dtype=np.int64))
    assert 100 <= sk.n_exact <= 166  # capacity 166, about half of 300 items pass 0.5
