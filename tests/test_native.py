"""The C kernels of sketchkit._pack against the numba kernels they copy, output for output.

A first ``sketchkit topk`` runs on the C versions (no compilation); everything else, and every
installation without a C compiler, runs on the numba kernels. Both must give identical results:
hashes, every SpaceSaving state array after every batch (so evictions, the eviction queue and
the index agree, not only the answers), and the tokeniser scans.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sketchkit.hashing as H
from sketchkit import CountMin, CountSketch, HeavyHitters, SpaceSaving
from sketchkit._cli import scan
from sketchkit.frequency import _kernels as K
from sketchkit.frequency import _tracked as T

pytestmark = pytest.mark.skipif(T._native is None, reason="sketchkit._pack was not built with the C kernels")

SEED = np.uint64(H.derive_key(H.DEFAULT_SEED, H.ITEM_DOMAIN, 0))


# ----------------------------------------------------------------------------- hashing
def test_int_hash_and_inverse_match_numba():
    rng = np.random.default_rng(1)
    keys = np.concatenate([rng.integers(-(1 << 63), (1 << 63) - 1, 5000, dtype=np.int64),
                           np.array([0, -1, 1, -(1 << 63), (1 << 63) - 1], dtype=np.int64)])
    c = H._hash_int64(keys, SEED)
    assert len(keys) < H.NUMBA_INT_BATCH  # the C kernel's size
    assert np.array_equal(c, H._hash_int64_jit(keys, SEED))
    assert np.array_equal(H._unhash_int64(c, SEED), keys)
    assert np.array_equal(H._unhash_int64(c, SEED), H._unhash_int64_jit(c, SEED))


def test_span_hash_matches_numba_and_the_reference():
    rng = np.random.default_rng(2)
    lengths = np.concatenate([np.arange(0, 70), rng.integers(0, 300, 300)])  # every tail branch
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    buf = rng.integers(0, 256, int(offsets[-1]), dtype=np.uint8)
    c = H._hash_offsets(buf, offsets, SEED)
    assert np.array_equal(c, H._hash_offsets_jit(buf, offsets, SEED))
    for i in (0, 1, 7, 8, 31, 32, 33, 69):
        assert int(c[i]) == H.xxh64(buf[offsets[i] : offsets[i + 1]].tobytes(), int(SEED))


@given(words=st.lists(st.text(max_size=40), min_size=1, max_size=60),
       blobs=st.lists(st.binary(max_size=40), min_size=1, max_size=30))
def test_list_hash_reads_the_objects_as_the_reference_reads_their_encodings(words, blobs):
    """hash_list (straight from str/bytes objects, ASCII and not) equals the reference XXH64 of
    each item's encoding; a mixed list is declined and writes nothing."""
    for batch in (words, blobs):
        out = np.zeros(len(batch), dtype=np.uint64)
        assert H._pack.hash_list(batch, isinstance(batch[0], str), int(SEED), out)
        reference = [H.xxh64(H.encode_item(x), int(SEED)) for x in batch]
        assert out.tolist() == reference
    out = np.zeros(2, dtype=np.uint64)
    assert H._pack.hash_list(["a", b"b"], True, int(SEED), out) is None and not out.any()
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate has no UTF-8: the caller falls back
        H._pack.hash_list(["a", "\ud800"], True, int(SEED), out)
    with pytest.raises(H.InvalidItemError):
        H.hash_items(["a", "\ud800"])


def test_span_hash_refuses_offsets_outside_the_buffer():
    with pytest.raises(ValueError):
        H._pack.hash_spans(np.zeros(4, np.uint8), np.array([0, 9], np.int64), 1, np.empty(1, np.uint64))


# ----------------------------------------------------------------------------- SpaceSaving
def _run_both(capacity, batches, dtype, raw, index_dtype=None):
    """Feed the same batches to two states, one through C and one through numba; compare all."""
    a = T.empty_state(capacity, dtype)
    if index_dtype is not None:
        a["index"] = a["index"].astype(index_dtype)
    b = {k: v.copy() for k, v in a.items()}
    evictions = 0
    for items, weights in batches:
        keys = np.asarray(items, dtype=np.int64) if raw else H._hash_int64(np.asarray(items, np.int64), SEED)
        w = np.empty(0, np.int64) if weights is None else np.asarray(weights, dtype=np.int64)
        pa = T.spacesaving_update(*T.state_args(a), keys, raw, SEED, w)
        pb = T._spacesaving_update_jit(*T.state_args(b), keys, raw, SEED, w)
        assert np.array_equal(pa, pb)
        for name in a:
            assert np.array_equal(a[name], b[name]), name
        evictions += int(a["meta"][1] > 0)
    return a, evictions


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.integers(1, 40),
    batches=st.lists(
        st.tuples(st.lists(st.integers(0, 60), min_size=0, max_size=120),
                  st.one_of(st.none(), st.integers(0, 5))),
        min_size=1, max_size=6),
    wide=st.booleans(),
    raw=st.booleans(),
)
def test_spacesaving_update_matches_numba(capacity, batches, wide, raw):
    data = []
    rng = np.random.default_rng(capacity)
    for items, w in batches:
        data.append((items, None if w is None else rng.integers(0, w + 1, len(items))))
    _run_both(capacity, data, np.int64 if wide else np.int32, raw)


def test_spacesaving_update_matches_numba_on_a_zipf_stream_with_many_evictions():
    rng = np.random.default_rng(3)
    batches = [(rng.zipf(1.2, 20_000) % 5000, None) for _ in range(3)]
    batches.append((rng.zipf(1.2, 5000) % 5000, rng.integers(1, 4, 5000)))
    state, evicted = _run_both(300, batches, np.int32, raw=False)
    assert evicted and int(state["meta"][0]) == 300  # the comparison covered evictions and rescans


@settings(max_examples=40, deadline=None)
@given(
    capacity=st.integers(1, 30),
    depth=st.sampled_from([1, 3, 5]),
    width=st.integers(1, 64),
    batches=st.lists(st.lists(st.integers(0, 80), max_size=150), min_size=1, max_size=5),
    wide=st.booleans(),
    raw=st.booleans(),
    weighted=st.booleans(),
)
def test_heavy_update_matches_numba(capacity, depth, width, batches, wide, raw, weighted):
    rng = np.random.default_rng(capacity * 7 + depth)
    row_keys = H.row_keys(99, depth)
    dtype = np.int64 if wide else np.int32
    a = T.empty_state(capacity, dtype)
    b = {k: v.copy() for k, v in a.items()}
    ta = np.zeros((depth, width), dtype)
    tb = ta.copy()
    for items in batches:
        keys = np.asarray(items, dtype=np.int64) if raw else H._hash_int64(np.asarray(items, np.int64), SEED)
        w = rng.integers(0, 4, len(items)) if weighted else np.empty(0, np.int64)
        pa = T.heavy_update(ta, row_keys, *T.state_args(a), keys, raw, SEED, w, depth // 4)
        pb = T._heavy_update_jit(tb, row_keys, *T.state_args(b), keys, raw, SEED, w, depth // 4)
        assert np.array_equal(pa, pb) and np.array_equal(ta, tb)
        for name in a:
            assert np.array_equal(a[name], b[name]), name


def test_spacesaving_update_matches_numba_with_int32_index_cells():
    """Past 65,534 slots the index cells are int32 instead of uint16: the same kernels, on a
    small state given an int32 index, cover that path."""
    assert T.index_dtype(65_534) == np.uint16 and T.index_dtype(65_535) == np.int32
    rng = np.random.default_rng(9)
    batches = [(rng.zipf(1.2, 20_000) % 3000, rng.integers(1, 4, 20_000)) for _ in range(2)]
    state, evicted = _run_both(200, batches, np.int32, raw=True, index_dtype=np.int32)
    assert evicted and state["index"].dtype == np.int32


def test_spacesaving_update_matches_numba_when_the_smallest_counts_are_spread_out():
    # weights up to 10**5: the k-th smallest count lies far above the minimum, so the C rescan
    # takes its quickselect fallback instead of the histogram
    rng = np.random.default_rng(8)
    batches = [(rng.integers(0, 400, 3000), rng.integers(1, 10**5, 3000)) for _ in range(4)]
    state, evicted = _run_both(64, batches, np.int64, raw=True)
    smallest = np.sort(state["counts"])[: T.queue_size(64)]
    assert evicted and int(smallest[-1] - smallest[0]) > 256


@pytest.mark.parametrize("dtype", [np.uint16, np.int32])
def test_index_rebuild_and_lookup_match_numba(dtype):
    rng = np.random.default_rng(4)
    keys = rng.integers(0, 1 << 63, 700, dtype=np.int64).astype(np.uint64)
    ia = np.zeros(T.index_size(700), dtype)
    ib = ia.copy()
    T.rebuild_index(keys, 650, ia)
    T._rebuild_index_jit(keys, 650, ib)
    assert np.array_equal(ia, ib)
    probe = np.concatenate([keys, rng.integers(0, 1 << 63, 100, dtype=np.int64).astype(np.uint64)])
    assert np.array_equal(T.find_many(ia, keys, probe), T._find_many_jit(ib, keys, probe))
    assert (T.find_many(ia, keys, probe)[:650] == np.arange(650)).all()
    assert (T.find_many(ia, keys, probe[700:]) == -1).all()


@pytest.mark.parametrize("make", [lambda: SpaceSaving(200), lambda: HeavyHitters(64, 5, 200)],
                         ids=["SpaceSaving", "HeavyHitters"])
def test_summaries_are_identical_with_and_without_the_c_kernels(monkeypatch, make):
    rng = np.random.default_rng(5)
    words = [f"w{int(x)}" for x in rng.zipf(1.3, 30_000) % 3000]
    ints = rng.zipf(1.3, 30_000) % 3000
    built = []
    for native in (T._native, None):
        monkeypatch.setattr(T, "_native", native)
        monkeypatch.setattr(K, "_native", K._native if native is not None else None)
        monkeypatch.setattr(H, "_pack", H._pack if native is not None else None)
        s, t = make(), make()
        for i in range(0, 30_000, 7_000):
            s.update_batch(words[i : i + 7_000])
            t.update_batch(ints[i : i + 7_000])
        built.append((s.to_bytes(), s.top(50), s.estimate_batch(words[:100]), t.to_bytes(), t.top(50)))
    assert built[0][0] == built[1][0] and built[0][3] == built[1][3]
    assert built[0][1] == built[1][1] and built[0][4] == built[1][4]
    assert np.array_equal(built[0][2], built[1][2])


def test_spacesaving_update_refuses_inconsistent_state():
    st_ = T.empty_state(8)
    args = T.state_args(st_)
    with pytest.raises(ValueError):  # an index with fewer cells than slots
        T._native.spacesaving_update(*args[:3], st_["index"][:3], *args[4:], np.zeros(2, np.uint64), False, 1,
                                     np.empty(0, np.int64), np.full(8, -1, np.int64))
    bad = st_["qmeta"].copy()
    bad[0] = 1  # heap entries past the run's position
    with pytest.raises(ValueError):
        T._native.spacesaving_update(*args[:7], bad, np.zeros(2, np.uint64), False, 1, np.empty(0, np.int64),
                                     np.full(8, -1, np.int64))
    with pytest.raises(TypeError):  # an index of 8-byte cells
        T._native.spacesaving_update(*args[:3], st_["index"].astype(np.int64), *args[4:], np.zeros(2, np.uint64),
                                     False, 1, np.empty(0, np.int64), np.full(8, -1, np.int64))


# ----------------------------------------------------------------------------- CountSketch / Count-Min
@settings(max_examples=60, deadline=None)
@given(
    depth=st.integers(1, 7),
    width=st.integers(1, 300),
    n=st.integers(0, 3000),
    wide=st.booleans(),
    raw=st.booleans(),
    weighted=st.booleans(),
    seed=st.integers(0, 2**64 - 1),
    vector=st.booleans(),
)
def test_table_kernels_match_numba(depth, width, n, wide, raw, weighted, seed, vector):
    """Both forms of the C updates (AVX-512 where the CPU has it, and scalar) against numba."""
    with _linear_isa(vector):
        _check_table_kernels(depth, width, n, wide, raw, weighted, seed)


@pytest.mark.parametrize("width", [1, 2, 65_535, 1 << 20])
def test_table_updates_match_numba_at_wide_tables(width):
    """The scalar form's 128-bit bucket and the vector form's shifts agree with numba's buckets
    far past the widths the random test draws."""
    for vector in (False, True):
        for raw in (False, True):
            with _linear_isa(vector):
                _check_table_kernels(2, width, 5000, width > 1000, raw, width % 2 == 0, width + raw)


def test_the_vectorised_form_can_be_switched_off():
    default = K._native.linear_isa()
    assert default in ("avx512", "scalar")
    with _linear_isa(False) as form:
        assert form == "scalar"
    with _linear_isa(True) as form:
        assert form == default  # the CPU decides whether it can be on
    assert K._native.linear_isa() == default  # restored


@contextlib.contextmanager
def _linear_isa(vector: bool):
    """The C updates' AVX-512 form on (where the CPU has it) or off, then back as it was."""
    default = K._native.linear_isa() == "avx512"
    try:
        yield K._native.set_linear_isa(vector)
    finally:
        K._native.set_linear_isa(default)


def _check_table_kernels(depth, width, n, wide, raw, weighted, seed):
    rng = np.random.default_rng(seed % 1000)
    row_keys = H.row_keys(seed, depth)
    keys = rng.integers(-(1 << 40), 1 << 40, n, dtype=np.int64)
    if not raw:
        keys = H._hash_int64_jit(keys, SEED)
    weights = rng.integers(-50, 50, n, dtype=np.int64) if weighted else np.empty(0, np.int64)
    dtype = np.int64 if wide else np.int32
    assert K._in_c(np.zeros((depth, width), dtype), row_keys, keys, raw)  # the C path is the one tested
    for c_op, jit_op in ((K.cs_update, K._cs_update_jit), (K.cm_update, K._cm_update_jit),
                         (K.cm_update_conservative, K._cm_update_conservative_jit)):
        a = rng.integers(-1000, 1000, (depth, width)).astype(dtype)
        b = a.copy()
        w = np.abs(weights) if c_op is K.cm_update_conservative else weights
        c_op(a, row_keys, keys, raw, SEED, w)
        jit_op(b, row_keys, keys, raw, SEED, w)
        assert np.array_equal(a, b)
    for c_op, jit_op in ((K.cs_estimate, K._cs_estimate_jit), (K.cm_estimate, K._cm_estimate_jit),
                         (K.cs_row_values, K._cs_row_values_jit)):
        assert np.array_equal(c_op(a, row_keys, keys, raw, SEED), jit_op(a, row_keys, keys, raw, SEED))


def test_linear_sketches_are_identical_with_and_without_the_c_kernels(monkeypatch):
    rng = np.random.default_rng(6)
    words = [f"w{int(x)}" for x in rng.zipf(1.3, 20_000) % 3000]
    ints = rng.zipf(1.3, 20_000).astype(np.int64)
    for make in (lambda: CountSketch(500, 5), lambda: CountMin(500, 5), lambda: CountMin(500, 3, conservative=True)):
        built = []
        for native in (K._native, None):
            monkeypatch.setattr(K, "_native", native)
            s = make()
            s.update_batch(words)
            s.update_batch(ints)
            built.append((s.to_bytes(), s.estimate_batch(words[:300]).tolist(), s.estimate_batch(ints[:300]).tolist()))
        assert built[0] == built[1]


def test_large_raw_int_batches_take_a_vectorised_kernel():
    table = np.zeros((3, 64), np.int32)
    rk = H.row_keys(1, 3)
    assert K._in_c(table, rk, np.zeros(H.NUMBA_INT_BATCH - 1, np.int64), True)
    assert not K._in_c(table, rk, np.zeros(H.NUMBA_INT_BATCH, np.int64), True)
    assert K._in_c(table, rk, np.zeros(H.NUMBA_INT_BATCH, np.uint64), False)
    assert not K._in_c(table[:, ::2], rk, np.zeros(4, np.uint64), False)  # a strided view: numba
    # the updates of such a batch take C where its AVX-512 form runs (as fast, nothing to compile)
    big = np.zeros(H.NUMBA_INT_BATCH, np.int64)
    for vector in (False, True):
        with _linear_isa(vector) as form:
            assert K._update_in_c(table, rk, big, True) == (form == "avx512")
            assert not K._update_in_c(table[:, ::2], rk, big, True)


# ----------------------------------------------------------------------------- tokeniser scans
_PIECES = [b"a", b"b", b"ab", b"_x1", b" ", b"  ", b"\n", b"\r\n", b"\r", b",", b"\xc3\xa9", b"\xe2\x82\xac",
           b"caf\xc3\xa9", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf0\x9f\x98\x80", b"\xf4\x90\x80\x80", b"9"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=60), st.booleans())
def test_scans_match_numba(pieces, lines):
    data = b"".join(pieces)
    buf = np.frombuffer(data, dtype=np.uint8)
    c = scan.count_spans(buf, lines)
    j = scan._count_spans_jit(buf, lines)
    for x, y in zip(c, j):
        assert np.array_equal(x, y)
    jc, wc = scan.join_spans(buf, c[0], c[1])
    jj, wj = scan._join_spans_jit(buf, j[0], j[1])
    assert jc.tobytes() == jj.tobytes() and np.array_equal(wc, wj)
    for start in (0, 1, len(data) // 2):
        assert scan.first_invalid_utf8(buf, start) == scan._first_invalid_utf8_jit(buf, start)


def test_count_spans_counts_words_as_the_regex_does_on_ascii():
    text = b"the cat, the hat\nthe_end 42 42\n" * 3000  # grows the table past its first size
    extra = b" ".join(b"w%d" % i for i in range(20_000))
    starts, ends, counts = scan.count_spans(np.frombuffer(text + extra, dtype=np.uint8), False)
    got = {(text + extra)[s:e]: int(c) for s, e, c in zip(starts, ends, counts)}
    assert got[b"the"] == 6000 and got[b"42"] == 6000 and got[b"the_end"] == 3000 and len(got) == 20_005
    assert counts.flags.writeable  # handed on as weights, which numba kernels type as writable arrays
