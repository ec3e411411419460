"""Base of the sketches that track a bounded set of items (SpaceSaving, HeavyHitters).

Slot arrays grow by doubling up to ``capacity`` as items arrive, so an empty summary of a
large capacity costs little, and deserializing one never allocates more than its bytes
describe. Payload layout (little-endian), after this class's own fields each subclass may
append more::

    u32 capacity | u32 size | i64 floor | i64 total weight | u64 total absolute weight
    | size × i64 count | size × i64 error | size × tagged item (see _items.py)

Item hashes are not stored: they are recomputed from the items on load, which also checks
that the bytes and the seed agree. In memory it is the other way round for int items: a
slot keeps only the item's hash, from which the int is recovered (the int hash is a
bijection, ``hashing._unhash_int64``), so tracking ints costs no item storage at all. Other
items (str, bytes) are kept as their encodings in an item store (``_itemstore.py``) that exists
only once one arrives.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._base import INT32_MAX, check_positive_int, largest_fitting
from .._format import Reader
from ..errors import CorruptSketchError
from ..hashing import DEFAULT_SEED, _hash_batch, _unhash_int64
from . import _tracked as T
from ._items import decode_items, encode_items
from ._itemstore import ITEM_PLAN_BYTES, ItemStore
from ._linear import check_totals
from ._query import FrequencySketch

SLOT_BYTES = 8 + 4 + 4  # key, int32 count, int32 error (the index and queue are added below)
# what one str item costs when planning a budget: its 9-byte reference and a text token's
# average share of the arena (see _itemstore.py)
TYPICAL_ITEM_BYTES = ITEM_PLAN_BYTES


def planned_nbytes(capacity: int, item_bytes: int) -> int:
    """nbytes of a full summary whose items each cost ``item_bytes`` (0 for int items,
    ``TYPICAL_ITEM_BYTES`` for text tokens)."""
    return (capacity * (SLOT_BYTES + item_bytes) + np.dtype(T.index_dtype(capacity)).itemsize * T.index_size(capacity)
            + T.QUEUE_ENTRY_BYTES * (T.queue_size(capacity) + 1))


def capacity_for(budget: int, item_bytes: int) -> int:
    """Largest capacity whose full state fits ``budget`` bytes (0 if none does)."""
    return largest_fitting(0, budget // (SLOT_BYTES + item_bytes), lambda m: planned_nbytes(m, item_bytes) <= budget)


class TopRow(NamedTuple):
    """One heavy hitter: the item, its estimate and bounds on its true count."""

    item: Any
    estimate: int
    lower: int
    upper: int


class TrackedSummary(FrequencySketch):
    """A bounded set of tracked items with counts: ``len`` is how many are tracked now,
    ``top``/``most_common`` list them heaviest first."""

    __slots__ = ("_capacity", "_state", "_items")

    def __init__(self, capacity: int, *, seed: int = DEFAULT_SEED):
        super().__init__(seed)
        self._capacity = check_positive_int("capacity", capacity, (1 << 31) - 1)
        self._state = T.empty_state(min(self._capacity, 16))
        # None while every tracked item is an int; else one entry per slot (None = an int)
        self._items: ItemStore | None = None

    # ------------------------------------------------------------------ properties
    @property
    def capacity(self) -> int:
        """Maximum number of tracked items."""
        return self._capacity

    @property
    def size(self) -> int:
        """Number of items tracked now."""
        return int(self._state["meta"][0])

    @property
    def floor(self) -> int:
        """Upper bound on the count of any item that is not tracked."""
        return int(self._state["meta"][1])

    def _shape(self) -> tuple:
        return (self._capacity,)

    @property
    def nbytes(self) -> int:
        """Slot arrays, index and eviction queue, plus, once a str/bytes item is tracked, the
        item store (slot references and arena; int items live in their hashes)."""
        st = self._state
        total = sum(int(st[k].nbytes) for k in T.STATE_ARRAYS)
        if self._items is not None:
            total += self._items.nbytes
        return total

    def __len__(self) -> int:
        """Number of items tracked now (``size``)."""
        return self.size

    def most_common(self, n: int | None = None) -> list[tuple[Any, int]]:
        """``(item, estimate)`` pairs, heaviest first, like :meth:`collections.Counter.most_common`
        (all tracked items when ``n`` is None)."""
        return [(row.item, row.estimate) for row in self.top(n)]

    def _describe(self) -> str:
        return f"capacity={self._capacity}, size={self.size}"

    # ------------------------------------------------------------------ slots
    def _reserve(self, abs_total: int) -> None:
        super()._reserve(abs_total)
        # a count never exceeds the total absolute weight (HeavyHitters' base is a median
        # of CountSketch counters, bounded the same way): widen before int32 could overflow
        if self._state["counts"].dtype == np.int32 and self._abs_total + abs_total > INT32_MAX:
            for name in ("counts", "errors", "qcount"):
                self._state[name] = self._state[name].astype(np.int64)

    def _count_dtype(self, abs_total: int) -> type:
        return np.int32 if abs_total <= INT32_MAX else np.int64

    def _ensure_room(self, n: int) -> None:
        allocated = len(self._state["keys"])
        if allocated >= self._capacity or allocated >= self.size + n:
            return
        new = min(self._capacity, max(2 * allocated, self.size + n))
        self._reshape(new)

    def _reshape(self, allocated: int) -> None:
        self._state = T.resized_state(self._state, allocated)
        if self._items is not None:
            self._items.resize(allocated, self.size)

    def _record(self, placed: np.ndarray, batch: Any, raw: bool) -> None:
        """Remember the item now in each slot that got one (``placed`` from the kernels)."""
        slots = np.flatnonzero(placed >= 0)
        if slots.size == 0:
            return
        if raw:  # int items: their hashes are enough
            if self._items is not None:
                self._items.put_many(slots, [None] * slots.size)
            return
        items = [batch[p] for p in placed[slots].tolist()]
        if self._items is None:
            if all(isinstance(x, (int, np.integer)) for x in items):
                return
            self._items = ItemStore(len(self._state["keys"]))
        self._items.put_many(slots, items)

    def _slots_of(self, items: Any) -> np.ndarray:
        return self._slots_of_keys(*self._keys_of(items))

    def _slots_of_keys(self, keys: np.ndarray, raw: bool) -> np.ndarray:
        hashes = _hash_batch(keys, self._item_seed) if raw else keys
        st = self._state
        return T.find_many(st["index"], st["keys"], np.ascontiguousarray(hashes, dtype=np.uint64))

    def _live_items(self) -> list[Any]:
        size = self.size
        keys = self._state["keys"][:size]
        stored = self._items.items(size) if self._items is not None else [None] * size
        missing = [i for i, x in enumerate(stored) if x is None]
        if missing:
            ints = _unhash_int64(np.ascontiguousarray(keys[missing]), self._item_seed).tolist()
            stored = list(stored)
            for i, v in zip(missing, ints):
                stored[i] = v
        return stored

    def _live(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Any]]:
        st = self._state
        size = self.size
        return st["keys"][:size], st["counts"][:size], st["errors"][:size], self._live_items()

    def _ranked(self) -> np.ndarray:
        """Live slots heaviest first; ties go to the larger exact part (count − error), then
        to the smaller item hash (deterministic)."""
        st = self._state
        size = self.size
        counts = st["counts"][:size].astype(np.int64)
        return np.lexsort((st["keys"][:size], st["errors"][:size], -counts))

    # ------------------------------------------------------------------ merge
    def _merge_state(self, other: Any) -> None:
        ka, ca, ea, ia = self._live()
        kb, cb, eb, ib = other._live()
        absent_a = self._absent_value(kb)  # what self knows of other's items
        absent_b = other._absent_value(ka)
        # union by key: self's entries first, then other's new ones
        pos_b = {k: j for j, k in enumerate(kb.tolist())}
        counts, errors, items, keys = [], [], [], []
        seen = set()
        for j, k in enumerate(ka.tolist()):
            seen.add(k)
            jb = pos_b.get(k)
            if jb is None:
                counts.append(int(ca[j]) + int(absent_b[0][j]))
                errors.append(int(ea[j]) + int(absent_b[1][j]))
            else:
                counts.append(int(ca[j]) + int(cb[jb]))
                errors.append(int(ea[j]) + int(eb[jb]))
            items.append(ia[j])
            keys.append(k)
        for j, k in enumerate(kb.tolist()):
            if k in seen:
                continue
            counts.append(int(cb[j]) + int(absent_a[0][j]))
            errors.append(int(eb[j]) + int(absent_a[1][j]))
            items.append(ib[j])
            keys.append(k)
        karr = np.array(keys, dtype=np.uint64)
        carr = np.array(counts, dtype=np.int64)
        earr = np.array(errors, dtype=np.int64)
        order = np.lexsort((karr, -carr))
        keep, dropped = order[: self._capacity], order[self._capacity :]
        floor = self.floor + other.floor
        if dropped.size:
            floor = max(floor, int(carr[dropped].max()))
        self._merge_extra(other)
        if dropped.size:
            self._release(karr[dropped], carr[dropped] - earr[dropped])
        # _reserve has widened self's counts already if the merged total needs int64
        self._set_live(karr[keep], carr[keep], earr[keep], [items[i] for i in keep.tolist()], floor,
                       self._state["counts"].dtype)

    def _absent_value(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(count, error) this summary contributes for items it does not track."""
        raise NotImplementedError

    def _merge_extra(self, other: Any) -> None:
        """Hook: merge state beyond the tracked set (HeavyHitters' CountSketch)."""

    def _release(self, keys: np.ndarray, exact: np.ndarray) -> None:
        """Hook: items a merge dropped from the tracked set, with their exact parts."""

    def empty_like(self):
        out = self.copy()
        out._clear()
        return out

    def _clear(self) -> None:
        self._state = T.empty_state(min(self._capacity, 16))
        self._items = None
        self._total = 0
        self._abs_total = 0

    def _set_live(self, keys: np.ndarray, counts: np.ndarray, errors: np.ndarray, items: list[Any],
                  floor: int, dtype: Any) -> None:
        """Replace the tracked set (after a merge or a load); the eviction queue starts empty."""
        size = len(keys)
        allocated = min(self._capacity, max(size, 16, len(self._state["keys"])))
        self._state = T.state_of(keys, counts, errors, floor, allocated, dtype)
        self._items = None
        if not all(isinstance(x, (int, np.integer)) for x in items):
            self._items = ItemStore(allocated)
            for s, x in enumerate(items):
                self._items.put(s, x)

    # ------------------------------------------------------------------ bytes
    def _summary_payload(self) -> bytes:
        _, counts, errors, items = self._live()
        head = np.array([self._capacity, self.size], dtype="<u4").tobytes()
        head += np.array([self.floor, self._total], dtype="<i8").tobytes()
        head += np.array([self._abs_total], dtype="<u8").tobytes()
        return head + counts.astype("<i8").tobytes() + errors.astype("<i8").tobytes() + encode_items(items)

    def _read_summary(self, reader: Reader) -> None:
        """Read the summary fields, refusing any state updates and merges cannot reach: a
        capacity outside the constructor's range, totals of a stream with deletions, a floor or
        a count above the total weight, a negative error or exact part (count − error), exact
        parts that add up to more than the total weight (they count disjoint updates), or what
        the subclass's own rule forbids (:meth:`_check_tracked`)."""
        capacity, size, floor, total, abs_total = reader.unpack("IIqqQ")
        if not 1 <= capacity <= INT32_MAX or size > capacity or not 0 <= floor <= abs_total:
            raise CorruptSketchError(f"invalid {type(self).__name__} header (capacity {capacity}, size {size})")
        check_totals(total, abs_total, insertion_only=True)
        counts = reader.array(np.int64, size)
        errors = reader.array(np.int64, size)
        items = decode_items(reader, size)
        keys = _hash_batch(items, self._item_seed) if size else np.zeros(0, dtype=np.uint64)
        if len(np.unique(keys)) != size:
            raise CorruptSketchError("duplicate tracked items in sketch bytes")
        if size and (
            np.any(errors < 0) or np.any(counts < errors) or int(counts.max()) > abs_total
            or sum((counts - errors).tolist()) > abs_total
        ):
            raise CorruptSketchError("tracked counts and errors are inconsistent")
        self._check_tracked(counts, errors, int(floor))
        self._capacity = int(capacity)
        self._total = int(total)
        self._abs_total = int(abs_total)
        self._state = T.empty_state(1)  # _set_live sizes from here
        self._set_live(keys, counts, errors, items, int(floor), self._count_dtype(self._abs_total))

    def _check_tracked(self, counts: np.ndarray, errors: np.ndarray, floor: int) -> None:
        """Hook: refuse tracked counts the subclass's update and merge rules never produce."""

    # ------------------------------------------------------------------ rows
    def _rows(self, k: int | None, lower: np.ndarray, upper: np.ndarray) -> list[TopRow]:
        order = self._ranked()
        if k is not None:
            check_positive_int("k", k, 1 << 31)
            order = order[:k]
        _, counts, _, items = self._live()
        return [TopRow(items[i], int(counts[i]), int(lower[i]), int(upper[i])) for i in order.tolist()]
