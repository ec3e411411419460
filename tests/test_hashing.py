"""The frozen hash specification: golden vectors, the xxHash reference, canonical encoding."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sketchkit as sk
from sketchkit import hashing as H

# Golden vectors: changing any of these changes every sketch's bytes. Never edit them;
# a new hash would be a new format version.
GOLDEN_ITEM_HASHES = [
    (0, 7386180977261444736, 18390144751848264491),
    (1, 717557115071569461, 13642686184162428629),
    (-1, 11132576717530915556, 13466040923383603259),
    (2**63 - 1, 11900950207623693858, 17562487147539741476),
    (-(2**63), 12435198121728447115, 7108885946116081748),
    ("1", 9682322042221623482, 15413218348398207051),
    ("", 11286235422136455782, 8930538109612370466),
    ("héllo", 8732965522873045341, 11907695533988382677),
    (b"\x00\xff", 7254910747243885400, 5237844147664005707),
    ("x" * 40, 6583757767298965440, 1161457907771616769),
]


@pytest.mark.parametrize("item,default_seed_hash,seed0_hash", GOLDEN_ITEM_HASHES)
def test_golden_item_hashes(item, default_seed_hash, seed0_hash):
    assert H.item_hash(item) == default_seed_hash
    assert H.item_hash(item, 0) == seed0_hash
    assert H.hash_items([item]).tolist() == [default_seed_hash]


def test_golden_derived_keys():
    assert H.derive_key(0, 0, 0) == 12035550249420947055
    assert H.derive_key(1729, 1, 0) == 12154393812940767242
    assert H.derive_key(2**64 - 1, 2, 5) == 10341852509133184590
    assert H.row_keys(1729, 2).tolist() == [
        [12154393812940767243, 8739610157797024896],
        [10709276501328238357, 9471244365466256372],
    ]


def test_golden_sketch_bytes():
    cs = sk.CountSketch(16, 3, seed=1729)
    cs.update_batch(["a", "b", "a", 1, 2, -5], [1, 2, 3, 4, 5, -6])
    assert cs.table.tolist() == [
        [2, 0, 0, 0, 0, 0, 0, -1, 6, 0, 0, 0, 0, 4, 0, 0],
        [0, 0, 0, 0, 0, 0, -4, 5, 6, -6, 0, 0, 0, 0, 0, 0],
        [4, 4, 0, 0, 0, 0, 0, -6, 0, 0, 0, 0, 0, 0, -5, 2],
    ]
    assert hashlib.sha256(cs.to_bytes()).hexdigest() == (
        "a7c34288a20e62ace6c6b5f0f9de5611736b5109fe44b577b2e387ced58747a4"
    )
    cm = sk.CountMin(16, 3, seed=1729)
    cm.update_batch(["a", "b", "a", 1, 2, 5], [1, 2, 3, 4, 5, 6])
    assert hashlib.sha256(cm.to_bytes()).hexdigest() == (
        "d4c989aaa66f967d030575fb83f2bffaae6177cc0cd71123ecc029c6f861cfc0"
    )
    ss = sk.SpaceSaving(3, seed=1729)
    ss.update_batch(["a", "b", "a", "c", "d", "a", "e"])
    assert [tuple(r) for r in ss.top()] == [("a", 3, 3, 3), ("e", 2, 1, 2), ("d", 2, 1, 2)]
    # among equal counts the lowest slot is evicted: d replaces b (slot 1), then e replaces c (slot 2)
    assert hashlib.sha256(ss.to_bytes()).hexdigest() == (
        "ab77540f1f4c1af2cf79aa4302d8184cd6fc67a46466942f695f327ea76eb436"
    )


def test_reference_xxh64_matches_the_xxhash_package():
    xxhash = pytest.importorskip("xxhash")
    for n in list(range(70)) + [100, 257]:
        data = bytes((i * 37 + 11) % 256 for i in range(n))
        for seed in (0, 1, 2**64 - 1, 987654321):
            assert H.xxh64(data, seed) == xxhash.xxh64_intdigest(data, seed)


@given(st.lists(st.one_of(st.text(max_size=50), st.binary(max_size=50), st.integers(-(2**63), 2**63 - 1)),
                max_size=30), st.integers(0, 2**64 - 1))
def test_vectorised_hash_equals_reference(items, seed):
    key = H.derive_key(seed, H.ITEM_DOMAIN, 0)
    expected = [H.xxh64(H.encode_item(x), key) for x in items]
    assert H.hash_items(items, seed).tolist() == expected


def test_compiled_pack_helper_is_built():
    # optional at install (a failed compile falls back to the pure-Python join), but a
    # normal install with gcc must have it: the list[str] speed figures depend on it
    assert H._pack is not None


_TOKENS = st.lists(st.one_of(st.text(max_size=20), st.sampled_from(["", "a\x00b", "\x00", "é", "日本", "\U0001f600"])),
                   max_size=60)


@given(_TOKENS, st.integers(0, 2**64 - 1))
def test_packed_and_per_item_str_paths_agree(tokens, seed):
    packed = H.hash_items(tokens, seed)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(H, "_pack", None)
        per_item = H.hash_items(tokens, seed)
    assert packed.tolist() == per_item.tolist()
    key = H.derive_key(seed, H.ITEM_DOMAIN, 0)
    assert packed.tolist() == [H.xxh64(t.encode(), key) for t in tokens]


@given(st.lists(st.binary(max_size=20), max_size=60))
def test_packed_and_per_item_bytes_paths_agree(blobs):
    packed = H.hash_items(blobs)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(H, "_pack", None)
        per_item = H.hash_items(blobs)
    assert packed.tolist() == per_item.tolist() == [H.item_hash(b) for b in blobs]


@pytest.mark.parametrize("batch", [["a", b"b"], ["a", 1], [b"a", bytearray(b"b")], [b"a", "b"]])
def test_mixed_lists_leave_the_packed_path_with_the_same_hashes(batch):
    assert H.hash_items(batch).tolist() == [H.item_hash(x) for x in batch]


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=50))
def test_int_array_list_and_bytes_forms_agree(ints):
    arr = H.hash_items(np.array(ints, dtype=np.int64))
    assert arr.tolist() == H.hash_items(ints).tolist()
    assert arr.tolist() == H.hash_items([x.to_bytes(8, "little", signed=True) for x in ints]).tolist()


def test_canonical_encoding_rules():
    assert H.encode_item(1) == (1).to_bytes(8, "little")
    assert H.encode_item(-2) == (-2).to_bytes(8, "little", signed=True)
    assert H.encode_item("é") == "é".encode()
    assert H.encode_item(b"ab") == b"ab"
    assert H.encode_item(np.int32(5)) == H.encode_item(5)
    assert H.encode_item(True) == H.encode_item(1)
    assert H.item_hash(1) != H.item_hash("1")  # int and str are different items
    assert H.item_hash("ab") == H.item_hash(b"ab")  # a str is its UTF-8 bytes
    assert H.hash_items(["a\x00b", "c"]).tolist() == [H.item_hash("a\x00b"), H.item_hash("c")]
    assert H.hash_items(np.array(["ab", "c"])).tolist() == H.hash_items(["ab", "c"]).tolist()
    assert H.hash_items(np.array([1, 2], dtype=np.uint8)).tolist() == H.hash_items([1, 2]).tolist()


@pytest.mark.parametrize("bad", [1.0, None, object(), [1], 2**63, -(2**63) - 1, "\ud800"])
def test_unencodable_items_raise_sketch_errors(bad, monkeypatch):
    for pack in (H._pack, None):  # the compiled packing and the pure-Python fallback
        monkeypatch.setattr(H, "_pack", pack)
        with pytest.raises(sk.SketchError):
            H.hash_items([bad])
        with pytest.raises(sk.SketchError):
            H.hash_items(["ok", bad])


def test_uint64_arrays_beyond_int64_are_refused():
    with pytest.raises(sk.InvalidItemError):
        H.hash_items(np.array([2**63], dtype=np.uint64))
    with pytest.raises(sk.ItemTypeError):
        H.hash_items(np.array([1.5]))


def test_row_hash_spreads_items_evenly():
    """Bucket occupancy of 200k distinct items in 64 buckets is within 5 sigma of uniform."""
    cm = sk.CountMin(64, 3, seed=5)
    cm.update_batch(np.arange(200_000, dtype=np.int64))
    expected = 200_000 / 64
    assert np.abs(cm.table - expected).max() < 5 * np.sqrt(expected)
    signs = sk.CountSketch(64, 3, seed=5)
    signs.update_batch(np.arange(200_000, dtype=np.int64))
    assert np.abs(signs.table).max() < 5 * np.sqrt(expected)
