"""Crafted bytes: a blob that loads satisfies every invariant the constructor and updates keep.

Each test builds a valid sketch, rewrites one field of its payload, recomputes the checksum
(``sketchkit._format.pack``) so only the payload's meaning is wrong, and expects
:class:`~sketchkit.errors.CorruptSketchError`. The property tests rewrite random fields and
check that whatever loads behaves as a sketch built by updates does.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sketchkit as sk
from sketchkit import _format
from sketchkit import _ids as ids
from sketchkit.robust import KeyedCountMin, KeyedCountSketch

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
KEY = bytes(range(16))

# Linear payload (frequency/_linear.py): depth u32 | width u32 | counter bytes u8 | reserved u8
# | total i64 | abs total u64 | table; keyed sketches put their 16-byte key first.
_DEPTH, _WIDTH, _ITEMSIZE, _RESERVED, _TOTAL, _ABS, _TABLE = 0, 4, 8, 9, 10, 18, 26
# Summary payload (frequency/_summary.py): capacity u32 | size u32 | floor i64 | total i64
# | abs total u64 | counts i64[size] | errors i64[size] | items
_CAP, _SIZE, _FLOOR, _STOTAL, _SABS, _COUNTS = 0, 4, 8, 16, 24, 32
# Dyadic payload (frequency/dyadic.py): universe bits u8 | level bits u8 | width u32 | depth u32
# | total i64 | abs total u64 | levels
_DWIDTH, _DDEPTH, _DTOTAL, _DABS, _DLEVELS = 2, 6, 10, 18, 26


def _split(sketch: sk.Sketch) -> tuple[int, int, int, bytearray]:
    family, flags, seed, payload = _format.unpack(sketch.to_bytes())
    return family, flags, seed, bytearray(payload)


def _repack(family: int, seed: int, payload: bytes | bytearray, flags: int = 0) -> bytes:
    return _format.pack(family, seed, bytes(payload), flags)


def _refused(blob: bytes, match: str | None = None) -> None:
    with pytest.raises(sk.CorruptSketchError, match=match):
        sk.from_bytes(blob)


def _put(payload: bytearray, offset: int, fmt: str, value: int) -> None:
    struct.pack_into("<" + fmt, payload, offset, value)


# ----------------------------------------------------------------------------- linear sketches
_LINEAR = {
    "CountMin": lambda: sk.CountMin(16, 3, seed=5),
    "CountMinConservative": lambda: sk.CountMin(16, 3, seed=5, conservative=True),
    "CountSketch": lambda: sk.CountSketch(16, 3, seed=5),
    "KeyedCountMin": lambda: KeyedCountMin(16, 3, seed=5, key=KEY),
    "KeyedCountSketch": lambda: KeyedCountSketch(16, 3, seed=5, key=KEY),
}


def _linear(name: str, stream=("a", "b", "a", "c")) -> tuple[sk.Sketch, int, int, int, bytearray, int]:
    """A small sketch of ``stream`` and its split bytes; ``base`` is where the linear payload
    starts (after a keyed sketch's key)."""
    s = _LINEAR[name]()
    if stream:
        s.update_batch(list(stream))
    family, flags, seed, payload = _split(s)
    base = 16 if name.startswith("Keyed") else 0
    return s, family, flags, seed, payload, base


@pytest.mark.parametrize("name", list(_LINEAR))
def test_untouched_bytes_load(name):
    """The rewriting helpers themselves: an unchanged payload repacked loads back equal."""
    s, family, flags, seed, payload, _ = _linear(name)
    assert sk.from_bytes(_repack(family, seed, payload, flags)) == s


@pytest.mark.parametrize("name", list(_LINEAR))
def test_a_counter_above_the_total_weight_is_refused(name):
    """Counters near 2**31 in int32 with a small total: the next update would not widen the
    table (it widens on the total) and the counter would wrap."""
    _, family, flags, seed, payload, base = _linear(name)
    _put(payload, base + _TABLE, "i", INT32_MAX - 1)
    _refused(_repack(family, seed, payload, flags))


@pytest.mark.parametrize("name", list(_LINEAR))
def test_a_row_heavier_than_the_total_weight_is_refused(name):
    """Each counter within the total, but the row's |counters| add up to more than it."""
    s, family, flags, seed, payload, base = _linear(name)
    row = s.table[0].astype(np.int64)
    row[np.argmin(np.abs(row))] = 4 if row.sum() >= 0 else -4  # total weight is 4
    row[np.argmax(np.abs(row))] = 4 if row.sum() >= 0 else -4
    payload[base + _TABLE : base + _TABLE + 4 * s.width] = row.astype("<i4").tobytes()
    _refused(_repack(family, seed, payload, flags))


@pytest.mark.parametrize("name", list(_LINEAR))
@pytest.mark.parametrize(
    ("total", "abs_total"),
    [(5, 4), (-5, 4), (3, 4), (0, INT64_MAX + 1), (0, 2**64 - 2)],
    ids=["signed-above-abs", "negative-above-abs", "parity", "past-int64", "near-2**64"],
)
def test_totals_no_stream_gives_are_refused(name, total, abs_total):
    _, family, flags, seed, payload, base = _linear(name)
    _put(payload, base + _TOTAL, "q", total)
    _put(payload, base + _ABS, "Q", abs_total)
    _refused(_repack(family, seed, payload, flags))


@pytest.mark.parametrize("name", list(_LINEAR))
def test_int32_counters_past_the_int32_total_are_refused(name):
    _, family, flags, seed, payload, base = _linear(name, stream=())
    _put(payload, base + _TOTAL, "q", 2**32)
    _put(payload, base + _ABS, "Q", 2**32)
    _refused(_repack(family, seed, payload, flags), match="int32")


@pytest.mark.parametrize("name", list(_LINEAR))
def test_a_nonzero_reserved_byte_is_refused(name):
    _, family, flags, seed, payload, base = _linear(name)
    payload[base + _RESERVED] = 1
    _refused(_repack(family, seed, payload, flags))


@pytest.mark.parametrize("name", list(_LINEAR))
def test_a_depth_past_the_constructor_range_is_refused(name):
    _, family, flags, seed, payload, base = _linear(name, stream=())
    depth = (1 << 16) + 1
    head = struct.pack("<IIBBqQ", depth, 1, 4, 0, 0, 0)
    _refused(_repack(family, seed, payload[:base] + head + bytes(4 * depth), flags), match="shape")


@pytest.mark.parametrize(("plain", "family"), [("CountMin", ids.COUNTSKETCH), ("KeyedCountMin", ids.KEYED_COUNTSKETCH)])
def test_a_countsketch_of_even_depth_is_refused(plain, family):
    """The constructor refuses an even depth (no single median row): so does the reader. A
    Count-Min payload of depth 4 relabelled as a CountSketch is otherwise well formed."""
    s = sk.CountMin(16, 4, seed=5) if plain == "CountMin" else KeyedCountMin(16, 4, seed=5, key=KEY)
    s.update_batch([1, 2, 3])
    _, _, seed, payload = _split(s)
    _refused(_repack(family, seed, payload), match="odd")


@pytest.mark.parametrize("name", ["CountMin", "KeyedCountMin"])
def test_a_count_min_row_that_does_not_sum_to_the_total_is_refused(name):
    """Plain Count-Min adds each weight to one counter per row: every row sums to the total."""
    s, family, flags, seed, payload, base = _linear(name)
    offset = base + _TABLE + 4 * int(np.argmax(s.table[1])) + 4 * s.width
    _put(payload, offset, "i", int(s.table[1].max()) - 1)
    _refused(_repack(family, seed, payload, flags), match="rows")


def test_a_conservative_count_min_with_a_negative_counter_is_refused():
    s, family, flags, seed, payload, base = _linear("CountMinConservative")
    row = s.table[0].astype(np.int64)
    i, j = int(np.argmax(row)), int(np.argmin(row))
    row[i] += 1
    row[j] -= 1  # the row still sums to the total, but a counter is now below zero
    assert row.min() < 0
    payload[_TABLE : _TABLE + 4 * s.width] = row.astype("<i4").tobytes()
    _refused(_repack(family, seed, payload, flags))


@pytest.mark.parametrize(("name", "flags"), [("CountSketch", 1), ("CountMin", 2), ("KeyedCountSketch", 1)])
def test_unknown_linear_flags_are_refused(name, flags):
    _, family, _, seed, payload, _ = _linear(name)
    _refused(_repack(family, seed, payload, flags), match="flags")


@given(
    st.sampled_from(list(_LINEAR)),
    st.lists(st.tuples(st.integers(0, 30), st.integers(0, 20)), min_size=1, max_size=40),
    st.integers(0, 3 * 16 - 1),
    st.integers(-(2**31), INT32_MAX),
)
def test_a_rewritten_counter_that_loads_behaves_like_an_updated_sketch(name, stream, cell, value):
    """Whatever counter value is written, a blob that loads takes the largest update that
    keeps it in int32 without wrapping: its table grows exactly by that update's counts."""
    s = _LINEAR[name]()
    items, weights = [k for k, _ in stream], [w for _, w in stream]
    s.update_batch(items, weights)
    family, flags, seed, payload = _split(s)
    base = 16 if name.startswith("Keyed") else 0
    _put(payload, base + _TABLE + 4 * cell, "i", value)
    try:
        loaded = sk.from_bytes(_repack(family, seed, payload, flags))
    except sk.CorruptSketchError:
        return
    assert np.abs(loaded.table.astype(np.int64)).sum(axis=1).max() <= loaded._abs_total
    w = INT32_MAX - loaded._abs_total
    before = loaded.table.astype(np.int64)
    loaded.update("x", w)
    alone = _LINEAR[name]()
    alone.update("x", w)
    if not getattr(loaded, "conservative", False):
        assert np.array_equal(loaded.table.astype(np.int64), before + alone.table)
    assert loaded.table.max() <= INT32_MAX and loaded.counter_dtype == "int32"


# ----------------------------------------------------------------------------- summaries
def _summary(kind: str, stream=("a", "b", "a", "c", "d", "a", "e")):
    s = sk.SpaceSaving(3, seed=5) if kind == "SpaceSaving" else sk.HeavyHitters(16, 3, 3, seed=5)
    s.update_batch(list(stream))
    family, flags, seed, payload = _split(s)
    return s, family, flags, seed, payload


_SUMMARIES = ["SpaceSaving", "HeavyHitters"]


@pytest.mark.parametrize("kind", _SUMMARIES)
def test_untouched_summary_bytes_load(kind):
    s, family, flags, seed, payload = _summary(kind)
    assert sk.from_bytes(_repack(family, seed, payload, flags)) == s


@pytest.mark.parametrize("kind", _SUMMARIES)
def test_a_floor_above_the_total_weight_is_refused(kind):
    s, family, flags, seed, payload = _summary(kind)
    _put(payload, _FLOOR, "q", s.total_weight + 1)
    _refused(_repack(family, seed, payload, flags))


@pytest.mark.parametrize("kind", _SUMMARIES)
def test_totals_of_a_stream_with_deletions_are_refused(kind):
    """Both summaries are insertion-only: the signed and absolute totals are equal."""
    s, family, flags, seed, payload = _summary(kind)
    _put(payload, _STOTAL, "q", s.total_weight - 2)
    _refused(_repack(family, seed, payload, flags), match="insertion-only")


@pytest.mark.parametrize("kind", _SUMMARIES)
def test_a_capacity_past_the_constructor_range_is_refused(kind):
    _, family, flags, seed, payload = _summary(kind)
    _put(payload, _CAP, "I", 2**31)
    _refused(_repack(family, seed, payload, flags), match="capacity")


@pytest.mark.parametrize("kind", _SUMMARIES)
def test_exact_parts_adding_up_past_the_total_are_refused(kind):
    """Each count within the total, but count − error (weight counted exactly, disjoint per
    item) adds up to more than the total weight."""
    s, family, flags, seed, payload = _summary(kind)
    size = s.size
    for i in range(size):
        _put(payload, _COUNTS + 8 * i, "q", s.total_weight)
        _put(payload, _COUNTS + 8 * size + 8 * i, "q", 0)
    _put(payload, _FLOOR, "q", 0)
    _refused(_repack(family, seed, payload, flags), match="inconsistent")


@pytest.mark.parametrize("kind", _SUMMARIES)
def test_a_count_above_the_total_or_below_its_error_is_refused(kind):
    s, family, flags, seed, payload = _summary(kind)
    bad = bytearray(payload)
    _put(bad, _COUNTS, "q", s.total_weight + 1)
    _refused(_repack(family, seed, bad, flags))
    bad = bytearray(payload)
    _put(bad, _COUNTS + 8 * s.size, "q", int(s._live()[1][0]) + 1)  # error above its count
    _refused(_repack(family, seed, bad, flags))


@pytest.mark.parametrize("kind", _SUMMARIES)
def test_a_duplicate_item_or_a_negative_error_is_refused(kind):
    """Items are tracked once each (the index maps a hash to one slot), errors are >= 0."""
    s = sk.SpaceSaving(3, seed=5) if kind == "SpaceSaving" else sk.HeavyHitters(16, 3, 3, seed=5)
    s.update_batch([7, 7, 8])
    family, flags, seed, payload = _split(s)
    items = _COUNTS + 16 * s.size  # two int items: tag byte + 8 bytes each
    bad = bytearray(payload)
    bad[items + 9 : items + 18] = payload[items : items + 9]
    _refused(_repack(family, seed, bad, flags), match="duplicate")
    bad = bytearray(payload)
    _put(bad, _COUNTS + 8 * s.size, "q", -1)
    _refused(_repack(family, seed, bad, flags))


def test_a_spacesaving_error_above_its_floor_is_refused():
    """An item enters at (floor + w, floor) and the floor never falls: error <= floor."""
    s, family, flags, seed, payload = _summary("SpaceSaving")
    assert s.floor >= 1
    _put(payload, _FLOOR, "q", 0)
    _refused(_repack(family, seed, payload, flags), match="floor")


def test_a_spacesaving_count_below_its_floor_is_refused():
    """Every tracked count is at least the floor (the floor is the smallest evicted count)."""
    s, family, flags, seed, payload = _summary("SpaceSaving")
    _put(payload, _FLOOR, "q", int(s._live()[1].max()))
    _refused(_repack(family, seed, payload, flags), match="floor")


@pytest.mark.parametrize("kind", _SUMMARIES)
def test_unknown_summary_flags_are_refused(kind):
    _, family, _, seed, payload = _summary(kind)
    _refused(_repack(family, seed, payload, 1), match="flags")


def _heavy_parts(hh: sk.HeavyHitters) -> tuple[bytearray, bytearray]:
    _, _, _, payload = _split(hh)
    cs = bytearray(hh._cs._payload()[1])
    return payload[: len(payload) - len(cs)], cs


def test_heavy_hitters_sketch_totals_must_match():
    """Every update reaches the inner sketch's totals, whichever part counts it."""
    hh, family, _, seed, _ = _summary("HeavyHitters")
    head, cs = _heavy_parts(hh)
    _put(cs, _TOTAL, "q", hh.total_weight - 2)
    _put(cs, _ABS, "Q", hh.total_weight - 2)
    _refused(_repack(family, seed, head + cs), match="totals")


def test_heavy_hitters_sketch_of_even_depth_is_refused():
    hh, family, _, seed, _ = _summary("HeavyHitters")
    head, cs = _heavy_parts(hh)
    _put(cs, _DEPTH, "I", 2)
    _refused(_repack(family, seed, head + cs[: _TABLE + 4 * 2 * hh.width]), match="odd")


@given(
    st.sampled_from(_SUMMARIES),
    st.lists(st.integers(0, 12), min_size=1, max_size=60),
    st.sampled_from(["floor", "count", "error"]),
    st.integers(0, 200),
)
def test_a_rewritten_summary_that_loads_keeps_its_bounds(kind, stream, field, value):
    """Whatever floor, count or error is written, a summary that loads keeps the guarantee
    on a continuation of the stream: lower <= upper, exact parts never negative, and the
    SpaceSaving rule error <= floor <= count."""
    s = sk.SpaceSaving(3, seed=5) if kind == "SpaceSaving" else sk.HeavyHitters(16, 3, 3, seed=5)
    s.update_batch(stream)
    family, flags, seed, payload = _split(s)
    offset = {"floor": _FLOOR, "count": _COUNTS, "error": _COUNTS + 8 * s.size}[field]
    _put(payload, offset, "q", value)
    try:
        loaded = sk.from_bytes(_repack(family, seed, payload, flags))
    except sk.CorruptSketchError:
        return
    loaded.update_batch(stream)
    _, counts, errors, items = loaded._live()
    assert np.all(counts >= errors) and np.all(errors >= 0)
    assert int(counts.max()) <= loaded._abs_total
    if kind == "SpaceSaving":
        assert int(errors.max()) <= loaded.floor <= int(counts.min())
    for row in loaded.top():
        assert 0 <= row.lower <= row.upper


# ----------------------------------------------------------------------------- dyadic
def _dyadic(universe_bits: int = 12, width: int = 16):
    d = sk.DyadicHeavyHitters(width, 3, universe_bits=universe_bits, level_bits=4, seed=5)
    d.update_batch([1, 2, 2, 200, 201], [1, 1, 1, 2, -1])
    family, flags, seed, payload = _split(d)
    return d, family, flags, seed, payload


def test_untouched_dyadic_bytes_load():
    d, family, flags, seed, payload = _dyadic()
    assert sk.from_bytes(_repack(family, seed, payload, flags)) == d


def test_a_dyadic_exact_level_that_does_not_sum_to_the_total_is_refused():
    d, family, flags, seed, payload = _dyadic()
    assert d._is_exact(0)
    _put(payload, _DLEVELS, "q", struct.unpack_from("<q", payload, _DLEVELS)[0] + 2)
    _refused(_repack(family, seed, payload, flags), match="level")


def test_a_dyadic_countsketch_level_with_other_totals_is_refused():
    d, family, flags, seed, payload = _dyadic()
    j = next(j for j in range(d.n_levels) if not d._is_exact(j))
    offset = _DLEVELS + sum(8 * (1 << d._bits(i)) for i in range(j))
    _put(payload, offset + _TOTAL, "q", d.total_weight + 2)
    _put(payload, offset + _ABS, "Q", d._abs_total + 2)
    _refused(_repack(family, seed, payload, flags), match="totals")


@pytest.mark.parametrize(("field", "value"), [(_DWIDTH, 2**31), (_DDEPTH, (1 << 16) + 1), (_DDEPTH, 4)])
def test_dyadic_parameters_past_the_constructor_range_are_refused(field, value):
    """With a small universe every level is an exact array whatever the width, so the width
    is otherwise never checked against the bytes present."""
    d, family, flags, seed, payload = _dyadic(universe_bits=8, width=256)
    assert all(d._is_exact(j) for j in range(d.n_levels))
    _put(payload, field, "I", value)
    _refused(_repack(family, seed, payload, flags), match="parameters")


def test_dyadic_totals_and_flags_are_checked():
    d, family, flags, seed, payload = _dyadic()
    bad = bytearray(payload)
    _put(bad, _DTOTAL, "q", d.total_weight + 1)  # parity
    _refused(_repack(family, seed, bad, flags))
    _refused(_repack(family, seed, payload, 1), match="flags")


# ----------------------------------------------------------------------------- CountSketch++
def test_a_countsketch_plus_plus_counter_above_the_total_weight_is_refused():
    """As for the linear sketches: an int32 counter near 2**31 with a small total would wrap on
    the next update, which widens on the total. Payload: counters u32 | rows u32 | c f64 |
    counter bytes u8 + 7 pad | total i64 | abs total u64 | tables."""
    from sketchkit.learned import CountSketchPlusPlus

    s = CountSketchPlusPlus(400, seed=5)
    s.update_batch(["a", "b", "a"])
    family, flags, seed, payload = _split(s)
    assert sk.from_bytes(_repack(family, seed, payload, flags)) == s
    _put(payload, 40, "i", INT32_MAX - 1)
    _refused(_repack(family, seed, payload, flags), match="total")
