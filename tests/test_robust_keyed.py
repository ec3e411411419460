"""Keyed hashing (SipHash-2-4) and the keyed CountSketch / Count-Min, plus the known-seed
collision attack they defend against (issue #4, acceptance T1a/T1b)."""

from __future__ import annotations

import math
import pickle
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sketchkit import CountMin, CountSketch
from sketchkit.errors import IncompatibleSketchError, InvalidParameterError
from sketchkit.hashing import encode_item
from sketchkit.robust import KeyedCountMin, KeyedCountSketch, key_id, keyed_hash_items, siphash24
from sketchkit.robust.attacks import collision_attack, find_colliders

KEY = bytes(range(16))


# ----------------------------------------------------------------------------- SipHash
def test_siphash_paper_vectors():
    # SipHash paper (Aumasson & Bernstein 2012), Appendix A: key 00..0f, message 00..0e.
    assert siphash24(KEY, bytes(range(15))) == 0xA129CA6149BE45E5
    assert siphash24(KEY, b"") == 0x726FDB47DD0E0E31


def test_siphash_kernels_match_reference_at_every_length():
    msgs = [bytes(range(n)) for n in range(40)]
    got = keyed_hash_items(msgs, KEY)
    assert [int(x) for x in got] == [siphash24(KEY, m) for m in msgs]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=20), st.binary(max_size=40)),
                min_size=1, max_size=8), st.binary(min_size=16, max_size=16))
def test_keyed_hash_matches_reference(items, key):
    got = keyed_hash_items(items, key)
    assert [int(x) for x in got] == [siphash24(key, encode_item(x)) for x in items]


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.lists(st.text(max_size=12), min_size=1, max_size=30),
                 st.lists(st.binary(max_size=12), min_size=1, max_size=30)))
def test_homogeneous_lists_hash_the_same_packed_or_item_by_item(items):
    from sketchkit import hashing

    expected = [siphash24(KEY, encode_item(x)) for x in items]
    assert [int(x) for x in keyed_hash_items(items, KEY)] == expected  # compiled packing
    with pytest.MonkeyPatch.context() as m:
        m.setattr(hashing, "_pack", None)
        assert [int(x) for x in keyed_hash_items(items, KEY)] == expected  # per-item fallback


def test_int_array_path_equals_list_path():
    arr = np.array([-(2**63), -1, 0, 1, 2**63 - 1], dtype=np.int64)
    assert np.array_equal(keyed_hash_items(arr, KEY), keyed_hash_items(arr.tolist(), KEY))


def test_against_siphashc_if_installed():
    siphashc = pytest.importorskip("siphashc")
    rng = np.random.default_rng(1)
    for n in range(0, 70, 7):
        key, msg = rng.bytes(16), rng.bytes(n)
        assert siphash24(key, msg) == siphashc.siphash(key, msg)


@pytest.mark.parametrize("bad", [b"short", "0123456789abcdef", 12345, bytes(17)])
def test_bad_keys_are_refused(bad):
    with pytest.raises(InvalidParameterError):
        KeyedCountSketch(64, 5, key=bad)


# ----------------------------------------------------------------------------- sketches
@pytest.mark.parametrize("cls", [KeyedCountSketch, KeyedCountMin])
def test_keyed_sketch_contract(cls):
    sk = cls(128, 5, key=KEY)
    words = "a b a c b a d".split()
    sk.update_batch(words)
    counts = Counter(words)
    assert all(sk.estimate(w) == counts[w] for w in counts)  # no collisions at this size
    # bytes, pickle, copy round-trip and keep the key
    assert cls.from_bytes(sk.to_bytes()) == sk
    assert pickle.loads(pickle.dumps(sk)) == sk
    assert sk.copy().estimate("a") == 3
    # merge: same key merges; another key, or a plain sketch, is refused
    other = sk.empty_like()
    other.update("a", 4)
    sk.merge(other)
    assert sk.estimate("a") == 7
    with pytest.raises(IncompatibleSketchError):
        sk.merge(cls(128, 5))
    plain = CountSketch(128, 5) if cls is KeyedCountSketch else CountMin(128, 5)
    with pytest.raises(IncompatibleSketchError):
        sk.merge(plain)
    assert sk.key_id == key_id(KEY)
    assert sk.nbytes == plain.nbytes + 16


@pytest.mark.parametrize("cls", [KeyedCountSketch, KeyedCountMin])
def test_key_never_shown(cls):
    key = bytes([0xAB] * 16)
    sk = cls(64, 3, key=key)
    text = repr(sk) + str(sk)
    assert "ab" * 4 not in text.lower() and "171" not in text and str(key) not in text


def test_fresh_keys_differ_and_place_items_differently():
    a, b = KeyedCountSketch(1024, 5), KeyedCountSketch(1024, 5)
    assert a.key_id != b.key_id
    a.update(42, 1)
    b.update(42, 1)
    assert not np.array_equal(np.nonzero(a.table)[1], np.nonzero(b.table)[1])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.one_of(st.integers(-1000, 1000), st.text(max_size=5)), max_size=30),
       st.lists(st.integers(-5, 5), max_size=30))
def test_batch_equals_loop(items, ws):
    weights = (ws + [1] * len(items))[: len(items)]
    a, b = KeyedCountSketch(32, 3, key=KEY), KeyedCountSketch(32, 3, key=KEY)
    a.update_batch(items, np.array(weights, dtype=np.int64))
    for x, w in zip(items, weights):
        b.update(x, w)
    assert a == b


def test_seed_is_public_identity_beside_the_key():
    a = KeyedCountSketch(16, 3, seed=5, key=KEY)
    assert a.seed == 5 and "seed=5" in repr(a)
    with pytest.raises(IncompatibleSketchError, match="seed"):
        a.merge(KeyedCountSketch(16, 3, seed=6, key=KEY))
    with pytest.raises(IncompatibleSketchError, match="secret keys"):
        a.merge(KeyedCountSketch(16, 3, seed=5, key=bytes(16)))
    with pytest.raises(InvalidParameterError):
        KeyedCountMin(16, 3, seed=-1)


def test_from_error_and_memory_sizes_match_plain():
    assert KeyedCountSketch.from_error(0.05, 0.01).table.shape == CountSketch.from_error(0.05, 0.01).table.shape
    assert KeyedCountMin.from_error(0.01, 0.01).table.shape == CountMin.from_error(0.01, 0.01).table.shape
    assert KeyedCountSketch.from_memory("64KiB").width == CountSketch.from_memory("64KiB").width


def oblivious_guarantee_failures() -> list[str]:
    """|f̂ − f| ≤ (2/√w)‖f‖₂ per item w.p. ≥ 1 − δ(5) = 1 − 0.104 on an oblivious Zipf stream:
    the failure rate over 2000 items must stay below δ + 4 binomial standard deviations."""
    rng = np.random.default_rng(3)
    stream = rng.zipf(1.3, 100_000) % 50_000
    sk = KeyedCountSketch(256, 5, key=KEY)
    sk.update_batch(stream)
    keys, counts = np.unique(stream, return_counts=True)
    f2 = float((counts.astype(float) ** 2).sum())
    err = np.abs(sk.estimate_batch(keys[:2000]) - counts[:2000])
    rate = float(np.mean(err > sk.epsilon * math.sqrt(f2)))
    limit = sk.delta + 4 * math.sqrt(sk.delta / 2000)
    return [] if rate <= limit else [f"error past ε‖f‖₂ for {rate:.3f} of items > {limit:.3f}"]


def test_keyed_countsketch_guarantee_holds_on_oblivious_zipf():
    assert oblivious_guarantee_failures() == []


def test_the_oblivious_check_fails_on_a_biased_keyed_sketch(monkeypatch):
    """Estimates moved by twice the bound are reported."""
    original = KeyedCountSketch._estimate_keys

    def biased(self, keys, raw):
        return original(self, keys, raw) + 2 * math.ceil(self.epsilon * math.sqrt(self.f2()))

    monkeypatch.setattr(KeyedCountSketch, "_estimate_keys", biased)
    assert oblivious_guarantee_failures() != []


# ----------------------------------------------------------------------------- attack A1
def test_find_colliders_counts_hash_calls_and_respects_cap():
    cols, calls = find_colliders(1729, 5, 2048, 7)
    assert len(cols) == 5 and calls <= 20 * 5 * 2048
    with pytest.raises(InvalidParameterError):
        find_colliders(1729, 5, 2048, 7, max_calls=10)


@pytest.mark.parametrize("trial", range(5))
def test_countmin_known_seed_attack_breaks_plain_not_keyed(trial):
    # T1a: plain CM (d=5, w=2048, public seed): error ≥ 10·(e/w)·N in every trial, colliders in
    # ≤ 20·d·w hash calls.
    res = collision_attack(CountMin(2048, 5), target=trial, rng=trial)
    assert res.success and res.error_ratio >= 10 and res.queries <= 20 * 5 * 2048


@pytest.mark.parametrize("mode", ["inflate", "deflate"])
def test_countsketch_known_seed_attack_breaks_plain(mode):
    # T1b: plain CS (ℓ=5, b=2048, 2·10⁴ unit background keys): |err| ≥ 10·(2/√w)‖f‖₂ in 5/5.
    for trial in range(5):
        res = collision_attack(CountSketch(2048, 5), target=trial, mode=mode, rng=trial)
        assert res.success, res


def targets_within_guarantee(make, plain_cls, mode: str, targets=range(20)) -> int:
    """How many targets stay within the guarantee (error/guarantee ≤ 1) in the sketch ``make(t)``
    when the colliders found for the public seed of ``plain_cls`` are inserted."""
    ok = 0
    for t in targets:
        cols = collision_attack(plain_cls(2048, 5), target=t, mode=mode, rng=t).details["colliders"]
        res = collision_attack(make(t), target=t, mode=mode, colliders=cols, rng=t)
        ok += res.error_ratio <= 1.0
    return ok


@pytest.mark.parametrize("cls,mode", [(KeyedCountMin, "inflate"), (KeyedCountSketch, "inflate"),
                                      (KeyedCountSketch, "deflate")])
def test_same_colliders_miss_a_keyed_sketch(cls, mode):
    # Robust side of T1a/T1b: the colliders found for the public seed, inserted into a keyed
    # sketch, leave ≥ 19 of 20 targets within the guarantee.
    plain_cls = CountMin if cls is KeyedCountMin else CountSketch
    assert targets_within_guarantee(lambda t: cls(2048, 5, key=bytes([t]) * 16), plain_cls, mode) >= 19


@pytest.mark.parametrize("plain_cls,mode", [(CountMin, "inflate"), (CountSketch, "deflate")])
def test_the_collider_check_fails_on_a_sketch_that_ignores_its_key(plain_cls, mode):
    """A "keyed" sketch whose hash ignores the key is the plain sketch of the public seed: the
    same check then counts no target within the guarantee."""
    assert targets_within_guarantee(lambda t: plain_cls(2048, 5), plain_cls, mode, targets=range(5)) == 0


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.lists(st.text(max_size=12), min_size=1, max_size=10),
                 st.lists(st.binary(max_size=20), min_size=1, max_size=10)))
def test_homogeneous_str_and_bytes_fast_path_matches_reference(items):
    got = keyed_hash_items(items, KEY)
    assert [int(x) for x in got] == [siphash24(KEY, encode_item(x)) for x in items]
