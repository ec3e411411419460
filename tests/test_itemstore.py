"""The summaries' item store: every slot reads back what was put, items of up to 8 bytes stay in
their slot, and the arena stays within the bound the memory planning charges (ARENA_FACTOR times
the live bytes)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sketchkit.frequency._itemstore import ARENA_FACTOR, ItemStore

values = st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=12), st.binary(max_size=12))
ops = st.lists(st.tuples(st.integers(0, 31), values), max_size=400)


@given(ops=ops, grow=st.integers(0, 16))
def test_slots_read_back_and_the_arena_stays_bounded(ops, grow):
    store = ItemStore(32)
    ref: dict[int, object] = {}
    for i, (slot, value) in enumerate(ops):
        store.put(slot, value)
        ref[slot] = None if value is None or isinstance(value, int) else value
        if grow and i == len(ops) // 2:
            store.resize(32 + grow, 32)
        live = sum(len(v.encode() if isinstance(v, str) else v) for v in ref.values() if v is not None)
        assert store._arena.nbytes <= max(64, ARENA_FACTOR * live + 64), (store._arena.nbytes, live)
    for slot in range(32):
        got = store.get(slot)
        assert got == ref.get(slot) and type(got) is type(ref.get(slot))


def test_str_and_bytes_keep_their_type():
    store = ItemStore(2)
    store.put(0, "ü")
    store.put(1, "ü".encode())
    assert store.get(0) == "ü" and store.get(1) == b"\xc3\xbc"


def test_heavy_churn_is_compacted():
    store = ItemStore(32)
    for i in range(5000):
        store.put(i % 32, f"token{i:05d}")
    live = 32 * 10
    assert store._arena.nbytes <= ARENA_FACTOR * live + 64
    assert [store.get(s) for s in range(2)] == [f"token{4992 + s:05d}" for s in range(2)]


@given(batches=st.lists(st.lists(st.tuples(st.integers(0, 31), values), max_size=40), max_size=30))
def test_put_many_equals_put_one_by_one(batches):
    one, many = ItemStore(32), ItemStore(32)
    ref: dict[int, object] = {}
    peak = 0
    for batch in batches:
        batch = list(dict(batch).items())  # distinct slots, as the summaries hand them
        for slot, value in batch:
            one.put(slot, value)
            ref[slot] = None if value is None or isinstance(value, int) else value
        many.put_many([s for s, _ in batch], [v for _, v in batch])
        live = sum(len(v.encode() if isinstance(v, str) else v) for v in ref.values() if v is not None)
        # An arena only grows on an append that finds no room, to 1.5 x (used + n) with garbage
        # under max(live / 2, 64), so it stays within 2.25 x the live bytes at its last growth
        # + 96. It never shrinks without an append, so the bound is on the peak live bytes
        # (after deletions the current live bytes can be far less, one by one as well).
        peak = max(peak, live)
        assert many._arena.nbytes <= max(64, ARENA_FACTOR * peak + 96), (many._arena.nbytes, peak)
    for slot in range(32):
        assert many.get(slot) == one.get(slot) and type(many.get(slot)) is type(one.get(slot))
    listed = many.items(32)
    assert listed == [many.get(s) for s in range(32)]
    assert [type(x) for x in listed] == [type(many.get(s)) for s in range(32)]


def test_items_of_up_to_8_bytes_live_in_their_slot():
    store = ItemStore(6)
    items = ["", "12345678", b"\x00" * 8, "é" * 4, "123456789", b"\xff" * 9]  # 0, 8, 8, 8, 9, 9 bytes
    store.put_many(list(range(6)), items)
    assert [store.get(s) for s in range(6)] == items and store.items(6) == items
    assert store._used == 18  # only the two 9-byte items went to the arena
    short = ItemStore(4)
    short.put_many([0, 1, 2, 3], ["a", "bb", b"c", "dddddddd"])
    assert short.nbytes == 4 * 9  # no arena at all: 9 bytes a slot
