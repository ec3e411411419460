"""The generic contract every sketch honours.

Two layers: the shipped checks (``sketchkit.testing``) over every registered family, and
hypothesis-driven property tests over every registered frequency sketch (sketch_factories)."""

from __future__ import annotations

import copy
import pickle
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sketchkit as sk
from sketch_factories import FACTORIES, Factory
from sketchkit import _format
from sketchkit.testing import contract_checks, registered_sketch_classes

IDS = [f.name for f in FACTORIES]
params = pytest.mark.parametrize("f", FACTORIES, ids=IDS)


def items_strategy(f: Factory):
    if f.int_keys_only:
        return st.integers(0, 4095)
    return st.one_of(st.integers(-50, 50), st.text(max_size=6), st.integers(-(2**63), 2**63 - 1))


def stream_strategy(f: Factory, max_size: int = 60):
    w = st.integers(-5, 5) if f.signed else st.integers(0, 5)
    return st.lists(st.tuples(items_strategy(f), w), max_size=max_size)


def build(f: Factory, stream, seed=7):
    s = f.make(seed=seed)
    if stream:
        items, weights = zip(*stream)
        s.update_batch(list(items), list(weights))
    return s


def sample_items(f: Factory):
    return [1, 2, 3, 4000] if f.int_keys_only else [1, "a", "zz", -3]


@params
@given(data=st.data())
def test_update_batch_is_bit_identical_to_looping_update(f, data):
    stream = data.draw(stream_strategy(f))
    looped = f.make()
    for item, w in stream:
        looped.update(item, w)
    assert looped == build(f, stream)
    assert looped.total_weight == sum(w for _, w in stream)


@params
@given(data=st.data())
def test_numpy_int_batch_equals_list_batch(f, data):
    ints = data.draw(st.lists(st.integers(0, 4095), max_size=80))
    a, b = f.make(), f.make()
    a.update_batch(np.array(ints, dtype=np.int64))
    b.update_batch(ints)
    assert a == b


@params
@given(data=st.data())
def test_merge_is_commutative_and_leaves_other_untouched(f, data):
    a = build(f, data.draw(stream_strategy(f)))
    b = build(f, data.draw(stream_strategy(f)))
    b_bytes = b.to_bytes()
    ab = a.copy().merge(b)
    assert b.to_bytes() == b_bytes
    assert ab == b.copy().merge(a)
    assert ab == a + b
    assert ab.total_weight == a.total_weight + b.total_weight


@pytest.mark.parametrize("f", [f for f in FACTORIES if f.linear], ids=[f.name for f in FACTORIES if f.linear])
@given(data=st.data())
def test_linear_merge_equals_one_pass_and_is_associative(f, data):
    """Non-linear summaries instead keep their bounds under any merge tree (their own tests)."""
    sa, sb, sc = (data.draw(stream_strategy(f)) for _ in range(3))
    a, b, c = build(f, sa), build(f, sb), build(f, sc)
    assert (a + b) + c == a + (b + c)
    assert a + b + c == build(f, sa + sb + sc)


@params
def test_self_merge_doubles(f):
    s = build(f, [(x, 2) for x in sample_items(f)])
    doubled = build(f, [(x, 2) for x in sample_items(f)] * 2)
    s.merge(s)
    if f.linear:
        assert s == doubled
    assert s.total_weight == doubled.total_weight


@params
@given(data=st.data())
def test_bytes_pickle_and_copy_round_trip(f, data):
    s = build(f, data.draw(stream_strategy(f)))
    clones = [type(s).from_bytes(s.to_bytes()), sk.from_bytes(s.to_bytes()), pickle.loads(pickle.dumps(s)),
              s.copy(), copy.deepcopy(s)]
    for clone in clones:
        assert clone == s
        assert type(clone) is type(s)
    # a clone rebuilds derived state (indexes, eviction queues) from the bytes alone: it must
    # go on exactly as the original, whose derived state carries its history
    more = data.draw(stream_strategy(f, 10))
    if more:
        items, weights = zip(*more)
        s.update_batch(list(items), list(weights))
        for clone in clones:
            clone.update_batch(list(items), list(weights))
            assert clone == s


@params
def test_empty_sketch(f):
    s = f.make()
    assert s.is_empty() and s.total_weight == 0
    assert sk.from_bytes(s.to_bytes()) == s
    assert (s + f.make()).is_empty()
    assert s.estimate(sample_items(f)[0]) == 0
    if hasattr(s, "top"):
        assert s.top(5) == []
    s.update_batch([])
    s.update_batch(np.array([], dtype=np.int64))
    assert s.is_empty()
    e = build(f, [(x, 1) for x in sample_items(f)]).empty_like()
    assert e.is_empty() and e == f.make()


@params
def test_properties_are_read_only_and_sane(f):
    s = build(f, [(x, 3) for x in sample_items(f)])
    assert s.seed == 7
    assert s.nbytes > 0
    assert s.total_weight == 12
    with pytest.raises(AttributeError):
        s.seed = 8  # type: ignore[misc]
    assert repr(s).startswith(type(s).__name__)


@params
def test_merge_refuses_incompatible_sketches(f):
    s = f.make(seed=7)
    with pytest.raises(sk.IncompatibleSketchError, match="seed"):
        s.merge(f.make(seed=8))
    with pytest.raises(sk.IncompatibleSketchError, match="shape"):
        s.merge(f.other_shape(seed=7))
    stranger = sk.CountMin(8, 3) if not isinstance(s, sk.CountMin) else sk.CountSketch(8, 3)
    with pytest.raises(sk.IncompatibleSketchError):
        s.merge(stranger)
    assert s.is_empty()


@params
def test_bad_items_and_weights_raise_and_change_nothing(f):
    s = build(f, [(x, 1) for x in sample_items(f)])
    before = s.to_bytes()
    bad_calls = [
        lambda: s.update(1.5),
        lambda: s.update(None),
        lambda: s.update_batch([1, 2.5]),
        lambda: s.update_batch(np.array([1.0, 2.0])),
        lambda: s.update_batch(np.zeros((2, 2), dtype=np.int64)),
        lambda: s.update_batch([1, 2], weights=[1.5, 1]),
        lambda: s.update_batch([1, 2], weights=[1]),
        lambda: s.update(1, weight=2.0),
        lambda: s.update(1, weight=True),
        lambda: s.update(2**63),
        lambda: s.update_batch("abc"),
    ]
    for call in bad_calls:
        with pytest.raises(sk.SketchError):
            call()
    assert s.to_bytes() == before


@params
def test_counter_overflow_is_detected_not_wrapped(f):
    s = f.make()
    item = sample_items(f)[0]
    s.update(item, 2**31 + 5)  # past int32: promoted, not wrapped
    assert s.estimate(item) >= 2**31 + 5 if not isinstance(s, sk.CountSketch) else s.estimate(item) == 2**31 + 5
    s.update(item, 2**62)
    before = s.to_bytes()
    with pytest.raises(sk.CounterOverflowError):
        s.update(item, 2**62)
    with pytest.raises(sk.CounterOverflowError):
        s.update_batch([item, item], [2**61, 2**61])
    assert s.to_bytes() == before
    with pytest.raises(sk.CounterOverflowError):
        s.merge(s.copy())
    assert s.to_bytes() == before


@params
def test_truncated_and_corrupted_bytes_raise_serialization_errors(f):
    data = build(f, [(x, 2) for x in sample_items(f)]).to_bytes()
    for n in range(len(data)):
        with pytest.raises(sk.SerializationError):
            sk.from_bytes(data[:n])
    rng = np.random.default_rng(0)
    for pos in rng.choice(len(data), size=min(64, len(data)), replace=False):
        bad = bytearray(data)
        bad[pos] ^= int(rng.integers(1, 256))
        with pytest.raises(sk.SerializationError):
            sk.from_bytes(bytes(bad))
    with pytest.raises(sk.SerializationError):
        sk.from_bytes(data + b"\x00")


def _reseal(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


@params
def test_future_version_and_wrong_type_are_refused(f):
    data = build(f, [(x, 1) for x in sample_items(f)]).to_bytes()
    future = bytearray(data[:-4])
    future[4] = _format.FORMAT_VERSION + 1
    with pytest.raises(sk.UnsupportedVersionError):
        sk.from_bytes(_reseal(bytes(future)))
    other = sk.SpaceSaving if f.name != "SpaceSaving" else sk.CountSketch
    with pytest.raises(sk.WrongSketchTypeError):
        other.from_bytes(data)
    with pytest.raises(TypeError):
        sk.from_bytes("not bytes")  # type: ignore[arg-type]


@params
def test_invalid_seeds_are_refused(f):
    for seed in (-1, 2**64, 1.5, "7", True):
        with pytest.raises(sk.InvalidParameterError):
            f.make(seed=seed)


@params
def test_built_in_one_process_identical_in_another(f, tmp_path):
    """Hashes never depend on PYTHONHASHSEED: build in a subprocess with another salt."""
    import os
    import subprocess
    import sys

    out = tmp_path / "s.bin"
    code = (
        "import sys; sys.path.insert(0, 'tests'); from sketch_factories import FACTORIES as F; "
        f"f = [x for x in F if x.name == {f.name!r}][0]; s = f.make(); "
        f"s.update_batch({sample_items(f)!r} * 3); open({str(out)!r}, 'wb').write(s.to_bytes())"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=os.path.dirname(os.path.dirname(__file__)))
    theirs = sk.from_bytes(out.read_bytes())
    ours = f.make()
    ours.update_batch(sample_items(f) * 3)
    assert theirs == ours
    for item in sample_items(f):
        assert theirs.estimate(item) == ours.estimate(item) == 3


# ---------------------------------------------------------------- the shipped contract check
CLASSES = registered_sketch_classes()


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__name__ for c in CLASSES])
def test_every_registered_class_declares_its_contract_examples(cls):
    pairs = cls._contract_examples(7)
    pairs = pairs if isinstance(pairs, list) else [pairs]
    for example, other in pairs:
        assert type(example) is cls and type(other) is cls
        assert example.is_empty() and other.is_empty()
        assert example.shape != other.shape


def _checks():
    out = []
    for cls in CLASSES:
        try:
            out.extend(contract_checks(cls))
        except NotImplementedError:  # reported by the test above
            pass
    return out


CHECKS = _checks()


@pytest.mark.parametrize("run", [r for _, r in CHECKS], ids=[n for n, _ in CHECKS])
def test_shipped_contract_check(run):
    run()


def test_contract_check_catches_a_broken_sketch(monkeypatch):
    """Each family of checks fails on a sketch broken the way it guards against."""
    from sketchkit.frequency._itemstore import ItemStore

    ss = sk.SpaceSaving
    # nbytes that forgets the item arena (counts the slot references only)
    monkeypatch.setattr(ItemStore, "nbytes", property(lambda self: int(self._off.nbytes + self._len.nbytes)))
    with pytest.raises(AssertionError, match="nbytes"):
        dict(contract_checks(ss))["SpaceSaving[0].nbytes_is_held_memory"]()
    monkeypatch.undo()
    # an update_batch that drops the last item
    original = sk.CountMin.update_batch

    def lossy(self, items, weights=None):  # drops the last item of a batch of several
        items = list(items)
        if len(items) > 1:
            items, weights = items[:-1], None if weights is None else list(weights)[:-1]
        original(self, items, weights)

    monkeypatch.setattr(sk.CountMin, "update_batch", lossy)
    with pytest.raises(AssertionError, match="update_batch differs"):
        dict(contract_checks(sk.CountMin))["CountMin[0].update_batch_equals_loop"]()
    monkeypatch.undo()
    # a merge that forgets to check seeds
    monkeypatch.setattr(sk.CountSketch, "_check_compatible", lambda self, other: None)
    with pytest.raises(AssertionError, match="is_mergeable accepts|merge accepted"):
        dict(contract_checks(sk.CountSketch))["CountSketch[0].merge_refusals"]()
    monkeypatch.undo()
    # a from_memory that ignores the budget's row keys
    monkeypatch.setattr(sk.CountSketch, "_fixed_nbytes", -4096)
    with pytest.raises(AssertionError, match="over budget"):
        dict(contract_checks(sk.CountSketch))["CountSketch[0].from_memory"]()


def test_held_bytes_counts_the_build_alone():
    """held_bytes sees what a sketch holds, not what a gc callback or another thread allocates
    meanwhile (distributed installs a GC callback that measures RSS and logs)."""
    import gc
    import threading

    from sketchkit.testing import held_bytes

    kept: list[bytes] = []
    stop = threading.Event()

    def allocate_until_stopped():
        while not stop.wait(0.001):
            kept.append(bytes(4096))

    gc.callbacks.append(lambda phase, info: kept.append(bytes(4096)))
    noise = threading.Thread(target=allocate_until_stopped)
    noise.start()
    try:
        s, held = held_bytes(lambda: sk.CountMin(width=1000, depth=4))
    finally:
        stop.set()
        noise.join()
        gc.callbacks.pop()
    assert kept  # the noise did allocate while it ran
    assert s.nbytes <= held <= s.nbytes + 1024
    _, held_array = held_bytes(lambda: np.zeros(1000))  # whatever build itself allocates counts
    assert 8000 <= held_array <= 8000 + 1024
