"""Distinct (ExaLogLog): register rule against a Python model, modes, merges, bytes, refusals."""

from __future__ import annotations

import pickle
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sketchkit
from sketchkit.cardinality import Distinct
from sketchkit.cardinality import _ell as E
from sketchkit.errors import (
    CorruptSketchError,
    IncompatibleSketchError,
    InvalidParameterError,
    ItemTypeError,
)
from sketchkit.hashing import hash_items

MASK64 = (1 << 64) - 1


# ---------------------------------------------------------------- Python model of the paper's rule
def model_index_value(h: int, p: int) -> tuple[int, int]:
    idx = h >> (64 - p)
    s = (h >> (62 - p)) & 3
    rest = (h << (p + 2)) & MASK64
    q = 62 - p
    nlz = min(64 - rest.bit_length(), q) if rest else q
    return idx, 4 * nlz + s + 1


def model_update(r: int, k: int) -> int:
    u = r >> 20
    if k > u:
        if u == 0 or k - u > 20:
            return k << 20
        return (k << 20) | (((r & 0xFFFFF) | (1 << 20)) >> (k - u))
    if 0 < u - k <= 20:
        return r | (1 << (20 - (u - k)))
    return r


def model_registers(hashes, p):
    regs = [0] * (1 << p)
    for h in hashes:
        i, k = model_index_value(int(h), p)
        regs[i] = model_update(regs[i], k)
    return regs


def registers(d: Distinct) -> list[int]:
    return [int(E.get_reg(d._w32, i)) for i in range(d.num_registers)]


def test_update_value_distribution_is_the_papers():
    p = 8
    rho = E.rho_units(p)
    # rho(k) = 2**-(3 + (k-1)//4), the last four values 2**-(Q+2); all mass sums to one register
    assert sum(int(x) for x in rho) == 1 << (64 - p)
    assert int(rho[1]) == 1 << (64 - p - 3) and int(rho[5]) == 1 << (64 - p - 4)
    assert int(rho[-1]) == int(rho[-5]) == 1
    for h in [0, 1, MASK64, 1 << 63, (1 << 56) - 1, 0x0123456789ABCDEF]:
        assert tuple(int(v) for v in E.index_value(np.uint64(h), p)) == model_index_value(h, p)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, MASK64), min_size=1, max_size=400), st.integers(4, 9))
def test_registers_follow_the_model(hashes, p):
    d = Distinct(p, seed=1)
    d._densify()
    d.update_hashed(np.array(hashes, dtype=np.uint64))
    assert registers(d) == model_registers(hashes, p)
    # alpha is carried exactly
    assert int(d._alpha[0]) == int(E.total_units(d._w32, d.num_registers, E.rho_units(p), E.tail_units(p)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, MASK64), max_size=300), st.lists(st.integers(0, MASK64), max_size=300))
def test_register_merge_is_the_union_stream(xs, ys):
    p = 4
    a, b, ab = Distinct(p), Distinct(p), Distinct(p)
    for s, v in ((a, xs), (b, ys), (ab, xs + ys)):
        s._densify()
        s.update_hashed(np.array(v, dtype=np.uint64))
    a.merge(b)
    assert registers(a) == registers(ab) == model_registers(xs + ys, p)
    assert a.estimator == "ml"


def model_values(r: int) -> set[int]:
    u = r >> 20
    return {u - j for j in range(0, 21) if u and (j == 0 or (r >> (20 - j)) & 1)}


def model_merge(a: int, b: int) -> int:
    vals = model_values(a) | model_values(b)
    if not vals:
        return 0
    u = max(vals)
    return (u << 20) | sum(1 << (20 - (u - v)) for v in vals if 0 < u - v <= 20)


def _merge_impls():
    impls = [("numba", E._merge_numba)]
    if E._ellc is not None:
        impls.append(("C", E.merge_function()))
    return impls


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, MASK64), max_size=200),
    st.lists(st.integers(0, MASK64), max_size=200),
    st.integers(4, 7),
    st.integers(0, 3),
)
def test_merge_kernels_equal_the_set_union_model(xs, ys, p, shift):
    # random hashes, some shifted towards long runs of leading zeros so windows overlap at
    # every distance
    def regs_of(v):
        d = Distinct(p)
        d._densify()
        d.update_hashed(np.array([h >> (shift * 8) | (h & (0xF << 60)) for h in v], dtype=np.uint64))
        return d

    a, b = regs_of(xs), regs_of(ys)
    want = [model_merge(x, y) for x, y in zip(registers(a), registers(b))]
    for name, f in _merge_impls():
        w = a._words.copy()
        f(w, b._words)
        assert [int(E.get_reg(w.view(np.uint32), i)) for i in range(1 << p)] == want, name
        assert int(w[-1]) == 0, name  # the padding word stays empty


def test_merge_without_the_c_helper(monkeypatch):
    a, b = Distinct(6, seed=3), Distinct(6, seed=3)
    a.update_batch(np.arange(5_000, dtype=np.int64))
    b.update_batch(np.arange(3_000, 9_000, dtype=np.int64))
    want = a.copy().merge(b)
    monkeypatch.setattr(E, "_ellc", None)
    monkeypatch.setattr(E, "MERGE", None)
    got = a.copy().merge(b)
    assert E.MERGE is E._merge_numba
    assert got == want and got.estimator == "ml"


def test_c_merge_refuses_wrong_buffers():
    if E._ellc is None:
        pytest.skip("the C helper is not built")
    f = E.merge_function()
    w = np.zeros(E.words_for(6), dtype=np.uint64)
    with pytest.raises(ValueError, match="words"):
        f(w, np.zeros(E.words_for(7), dtype=np.uint64))
    with pytest.raises(ValueError, match="words"):
        f(w[:-1], w[:-1].copy())
    big = np.zeros(2 * E.words_for(6), dtype=np.uint64)
    with pytest.raises(ValueError, match="overlap"):
        f(big[: E.words_for(6)], big[1 : E.words_for(6) + 1])
    with pytest.raises(ValueError, match="aligned"):
        raw = np.zeros(8 * E.words_for(6) + 1, dtype=np.uint8)
        f(raw[1:], w.view(np.uint8))
    with pytest.raises((ValueError, TypeError, BufferError)):
        f(np.zeros(E.words_for(6), dtype=np.uint64)[::2], w)
    r = np.ones(E.words_for(6), dtype=np.uint64)
    r.flags.writeable = False
    with pytest.raises((ValueError, TypeError, BufferError)):
        f(r, w)


def test_exact_while_small_then_martingale():
    d = Distinct(8, seed=3)
    limit = d.sparse_limit
    assert limit * 8 <= 8 * E.words_for(8)  # the kept hashes never outweigh the registers
    d.update_batch(list(range(limit)))
    assert d.estimator == "exact" and d.estimate() == limit and not d.is_dense
    d.update_batch(list(range(limit)))  # duplicates change nothing
    assert d.estimate() == limit
    d.update(limit)
    assert d.estimator == "martingale" and d.is_dense
    assert abs(d.estimate() - (limit + 1)) < 0.1 * limit


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 3000), max_size=400), st.integers(0, 400))
def test_update_batch_equals_loop_across_the_switch(items, cut):
    a, b, c = Distinct(4, seed=9), Distinct(4, seed=9), Distinct(4, seed=9)
    a.update_batch(items)
    for x in items:
        b.update(x)
    c.update_batch(np.array(items[:cut], dtype=np.int64))
    c.update_batch([str(x) for x in []] or np.array(items[cut:], dtype=np.int64))
    assert a == b == c
    assert a.estimate() == b.estimate()


def test_items_count_by_their_canonical_encoding():
    d = Distinct(6)
    d.update_batch(["1", b"1", 1, "1", 1, b"\x01\x00\x00\x00\x00\x00\x00\x00"])
    assert d.estimate() == 2  # "1" is b"1"; the int 1 is its 8-byte little-endian encoding


def test_merge_modes():
    lim = Distinct(6).sparse_limit
    small = Distinct(6, seed=2)
    small.update_batch(np.arange(lim // 2, dtype=np.int64))
    big = Distinct(6, seed=2)
    big.update_batch(np.arange(10_000, 20_000, dtype=np.int64))
    # exact + exact stays exact
    s2 = small.copy().merge(small)
    assert s2.estimator == "exact" and s2.estimate() == lim // 2
    # exact into dense (either order) replays the hashes: still one stream, martingale
    x = big.copy().merge(small)
    y = small.copy().merge(big)
    assert x.estimator == y.estimator == "martingale"
    assert registers(x) == registers(y)
    one = Distinct(6, seed=2)
    one.update_batch(np.arange(10_000, 20_000, dtype=np.int64))
    one.update_batch(np.arange(lim // 2, dtype=np.int64))
    assert registers(one) == registers(x)
    # dense + dense: maximum likelihood from then on, also after more updates
    z = big.copy().merge(one)
    assert z.estimator == "ml"
    z.update_batch(np.arange(5, dtype=np.int64))
    assert z.estimator == "ml"
    assert z.estimate() == z.estimate_ml()
    # exact + exact past the limit turns dense and keeps the martingale
    a = Distinct(6, seed=2)
    a.update_batch(np.arange(lim, dtype=np.int64))
    b = Distinct(6, seed=2)
    b.update_batch(np.arange(lim, 2 * lim, dtype=np.int64))
    a.merge(b)
    assert a.estimator == "martingale" and a.total_weight == 2 * lim


def test_merge_refusals_change_nothing():
    a = Distinct(6, seed=1)
    a.update_batch(range(100))
    before = a.to_bytes()
    for other in (Distinct(7, seed=1), Distinct(6, seed=2)):
        with pytest.raises(IncompatibleSketchError):
            a.merge(other)
    assert a.to_bytes() == before


def test_weights_other_than_one_are_refused():
    d = Distinct(6)
    d.update_batch([1, 2], weights=[1, 1])
    before = d.to_bytes()
    for w in ([2, 1], [0, 1], [-1, 1]):
        with pytest.raises(InvalidParameterError):
            d.update_batch([3, 4], weights=w)
    with pytest.raises(ItemTypeError):
        d.update_hashed(np.array([1, 2], dtype=np.int64))
    with pytest.raises(ItemTypeError):
        d.update_batch([1.5])
    assert d.to_bytes() == before


@pytest.mark.parametrize("n", [0, 10, 200, 5000])
def test_bytes_round_trip_in_every_mode(n):
    d = Distinct(7, seed=5)
    d.update_batch(np.arange(n, dtype=np.int64))
    for data in (d.to_bytes(), d.to_compact_bytes(), pickle.dumps(d)):
        e = pickle.loads(data) if data[:4] != b"SKKT" else sketchkit.from_bytes(data)
        assert e == d and e.estimate() == d.estimate() and e.estimator == d.estimator
        e.update_batch(np.arange(n, n + 300, dtype=np.int64))
        f = d.copy()
        f.update_batch(np.arange(n, n + 300, dtype=np.int64))
        assert e == f
    m = d.copy().merge(Distinct(7, seed=5).merge(d)) if n > 200 else d
    assert Distinct.from_bytes(m.to_compact_bytes()) == m


def _repack(data: bytes, payload: bytes, flags: int | None = None) -> bytes:
    head = bytearray(data[:24])
    if flags is not None:
        struct.pack_into("<H", head, 6, flags)
    struct.pack_into("<Q", head, 16, len(payload))
    body = bytes(head) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def test_crafted_bytes_are_refused():
    d = Distinct(5, seed=1)
    d.update_batch(np.arange(3000, dtype=np.int64))
    data = d.to_bytes()
    payload = bytearray(data[24:-4])
    # a register with history bits below value 1
    bad = bytearray(payload)
    struct.pack_into("<Q", bad, 17, (2 << 20) | 0xFFFFF)
    with pytest.raises(CorruptSketchError):
        Distinct.from_bytes(_repack(data, bytes(bad)))
    # a martingale estimate that is not a count
    bad = bytearray(payload)
    struct.pack_into("<d", bad, 9, float("nan"))
    with pytest.raises(CorruptSketchError):
        Distinct.from_bytes(_repack(data, bytes(bad)))
    # unknown flags, precision out of range, too few updates for a dense sketch
    with pytest.raises(CorruptSketchError):
        Distinct.from_bytes(_repack(data, bytes(payload), flags=8 | 1))
    bad = bytearray(payload)
    bad[0] = 30
    with pytest.raises(CorruptSketchError):
        Distinct.from_bytes(_repack(data, bytes(bad)))
    bad = bytearray(payload)
    struct.pack_into("<Q", bad, 1, 3)
    with pytest.raises(CorruptSketchError):
        Distinct.from_bytes(_repack(data, bytes(bad)))
    # sparse: unsorted hashes, more than the limit, count without updates
    s = Distinct(5, seed=1)
    s.update_batch([1, 2, 3])
    sd = s.to_bytes()
    sp = bytearray(sd[24:-4])
    h = np.frombuffer(bytes(sp[13:]), dtype="<u8")[::-1].tobytes()
    with pytest.raises(CorruptSketchError):
        Distinct.from_bytes(_repack(sd, bytes(sp[:13]) + h))
    big = struct.pack("<BQI", 5, 10**6, 1000) + np.arange(1000, dtype="<u8").tobytes()
    with pytest.raises(CorruptSketchError):
        Distinct.from_bytes(_repack(sd, big))
    with pytest.raises(CorruptSketchError):
        Distinct.from_bytes(_repack(sd, struct.pack("<BQI", 5, 0, 1) + b"\x01" * 8))
    # range-coded registers: truncated, padded, or not canonical
    c = d.to_compact_bytes()
    cp = bytes(c[24:-4])
    code, clen = struct.unpack_from("<hI", cp, 17)
    coded = cp[23:]
    for body in (
        cp[:17] + struct.pack("<hI", code, clen - 3) + coded[:-3],
        cp[:17] + struct.pack("<hI", code, clen + 2) + coded + b"\x00\x00",
        cp[:17] + struct.pack("<hI", 30000, clen) + coded,
    ):
        with pytest.raises(CorruptSketchError):
            Distinct.from_bytes(_repack(c, body))
    assert len(c) < len(data)


def test_sizing():
    d = Distinct.from_error(0.02)
    assert d.relative_error(0.01) <= 0.02
    assert Distinct(d.precision - 1).sigma * (2 * np.log(200)) ** 0.5 > 0.02
    for budget in (300, 4096, "64KiB"):
        s = Distinct.from_memory(budget)
        s.update_batch(np.arange(100_000, dtype=np.int64))
        assert s.nbytes <= sketchkit._base.parse_memory(budget)
    with pytest.raises(InvalidParameterError):
        Distinct.from_memory(50)
    with pytest.raises(InvalidParameterError):
        Distinct(3)


def test_nbytes_counts_the_arrays():
    d = Distinct(10)
    d.update_batch(np.arange(100, dtype=np.int64))
    assert d.nbytes == 800
    d.update_batch(np.arange(10_000, dtype=np.int64))
    assert d.nbytes == d._words.nbytes + 16 == 8 * (7 * 1024 // 16 + 1) + 16


def test_ml_solution_maximises_the_likelihood():
    d = Distinct(8, seed=4)
    d.update_batch(np.arange(50_000, dtype=np.int64))
    a, b = E.ml_coefficients(d._w32, 256, 8)
    x = E.ml_solve(a, b)

    def loglik(v):
        e = np.flatnonzero(b)
        return -a * v + float(np.sum(b[e] * np.log1p(-np.exp(-v * 2.0 ** -e.astype(float)))))

    assert loglik(x) >= loglik(x * 1.001) and loglik(x) >= loglik(x / 1.001)
    assert E.ml_solve(0.5, np.zeros(66)) == 0.0


def test_item_hashes_feed_update_hashed():
    a, b = Distinct(6, seed=8), Distinct(6, seed=8)
    items = [f"w{i}" for i in range(500)]
    a.update_batch(items)
    b.update_hashed(a.item_hashes(items))
    assert a == b
    assert (a.item_hashes(items) == hash_items(items, 8)).all()


def test_repr_states_the_guarantee():
    d = Distinct(10)
    assert repr(d).startswith("Distinct(") and "exact" in repr(d)
    d.update_batch(np.arange(5000, dtype=np.int64))
    assert "at 99%" in repr(d) and "3.7%" in repr(d)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.integers(-1200, 1200))
def test_random_coded_registers_load_valid_or_are_refused(blob, code):
    d = Distinct(4, seed=1)
    d.update_batch(np.arange(1000, dtype=np.int64))
    c = d.to_compact_bytes()
    body = bytes(c[24:41]) + struct.pack("<hI", code, len(blob)) + blob
    try:
        e = Distinct.from_bytes(_repack(c, body))
    except CorruptSketchError:
        return
    assert E.check_registers(e._w32, 16, E.max_value(4)) == -1
    assert Distinct.from_bytes(e.to_compact_bytes()) == e


def test_guarantee_line():
    d = Distinct(10)
    d.update_batch([1, 2])
    assert d.guarantee().startswith("exact count 2")
    d.update_batch(np.arange(5000, dtype=np.int64))
    assert "3.7%" in d.guarantee() and "martingale" in d.guarantee()


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 255), st.sampled_from([10, 3000]))
def test_any_byte_rewrite_loads_a_working_sketch_or_is_refused(pos, value, n):
    d = Distinct(4, seed=2)
    d.update_batch(np.arange(n, dtype=np.int64))
    data = d.to_bytes()
    payload = bytearray(data[24:-4])
    payload[pos % len(payload)] = value
    flags = struct.unpack_from("<H", data, 6)[0]
    try:
        e = Distinct.from_bytes(_repack(data, bytes(payload), flags))
    except CorruptSketchError:
        return
    assert np.isfinite(e.estimate()) and e.estimate() >= 0
    e.update_batch(np.arange(5000, 6000, dtype=np.int64))
    assert Distinct.from_bytes(e.to_bytes()) == e and Distinct.from_bytes(e.to_compact_bytes()) == e
