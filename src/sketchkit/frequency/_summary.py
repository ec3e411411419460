"""Base of the sketches that track a bounded set of items (SpaceSaving, HeavyHitters).

Slot arrays grow by doubling up to ``capacity`` as items arrive, so an empty summary of a
large capacity costs little, and deserializing one never allocates more than its bytes
describe. Payload layout (little-endian), after this class's own fields each subclass may
append more::

    u32 capacity | u32 size | i64 floor | i64 total weight | u64 total absolute weight
    | size × i64 count | size × i64 error | size × tagged item (see _items.py)

Item hashes are not stored: they are recomputed from the items on load, which also checks
that the bytes and the seed agree.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._base import Sketch, check_positive_int
from .._format import Reader
from ..errors import CorruptSketchError
from ..hashing import DEFAULT_SEED, _hash_batch
from . import _tracked as T
from ._items import decode_items, encode_items, encoded_size

SLOT_BYTES = 8 + 8 + 8 + 4 + 4 + 8  # key, count, error, heap, pos, item reference


def planned_nbytes(capacity: int, item_bytes: int) -> int:
    """nbytes of a full summary whose items each encode to ``item_bytes``."""
    return capacity * (SLOT_BYTES + item_bytes) + 4 * T.index_size(capacity)


def capacity_for(budget: int, item_bytes: int) -> int:
    """Largest capacity whose full state fits ``budget`` bytes (0 if none does)."""
    lo, hi = 0, budget // (SLOT_BYTES + item_bytes)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if planned_nbytes(mid, item_bytes) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


class TopRow(NamedTuple):
    """One heavy hitter: the item, its estimate and bounds on its true count."""

    item: Any
    estimate: int
    lower: int
    upper: int


class TrackedSummary(Sketch):
    __slots__ = ("_capacity", "_state", "_items")

    def __init__(self, capacity: int, *, seed: int = DEFAULT_SEED):
        super().__init__(seed)
        self._capacity = check_positive_int("capacity", capacity, (1 << 31) - 1)
        self._state = T.empty_state(min(self._capacity, 16))
        self._items: list[Any] = [None] * len(self._state["keys"])

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
        """Slot arrays and index, plus the canonical encodings of the tracked items."""
        st = self._state
        arrays = sum(int(st[k].nbytes) for k in ("keys", "counts", "errors", "heap", "pos", "index"))
        return arrays + 8 * len(self._items) + sum(encoded_size(x) for x in self._items[: self.size])

    def __contains__(self, item: Any) -> bool:
        """True when the item is tracked (no false positives up to 64-bit hash collisions)."""
        return self._slots_of([item])[0] >= 0

    # ------------------------------------------------------------------ slots
    def _ensure_room(self, n: int) -> None:
        allocated = len(self._state["keys"])
        if allocated >= self._capacity or allocated >= self.size + n:
            return
        new = min(self._capacity, max(2 * allocated, self.size + n))
        self._reshape(new)

    def _reshape(self, allocated: int) -> None:
        st = self._state
        size = self.size
        keys, counts, errors, heap, pos, index = T.rebuild(st["keys"], st["counts"], st["errors"], size, allocated)
        self._state = {
            "keys": keys, "counts": counts, "errors": errors, "heap": heap, "pos": pos,
            "index": index, "meta": st["meta"],
        }
        self._items = self._items[:size] + [None] * (allocated - size)

    def _slots_of(self, items: Any) -> np.ndarray:
        keys, raw = self._keys_of(items)
        hashes = _hash_batch(keys, self._item_seed) if raw else keys
        st = self._state
        return T.find_many(st["index"], st["keys"], np.ascontiguousarray(hashes, dtype=np.uint64))

    def _live(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Any]]:
        st = self._state
        size = self.size
        return st["keys"][:size], st["counts"][:size], st["errors"][:size], self._items[:size]

    def _ranked(self) -> np.ndarray:
        """Live slots heaviest first; ties go to the larger exact part (count − error), then
        to the smaller item hash (deterministic)."""
        keys, counts, errors, _ = self._live()
        return np.lexsort((keys, errors, -counts))

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
        size = len(keep)
        allocated = max(len(self._state["keys"]), min(self._capacity, size))
        st = self._state
        st["meta"][0] = size
        st["meta"][1] = floor
        st["keys"] = karr[keep]
        st["counts"] = carr[keep]
        st["errors"] = earr[keep]
        self._items = [items[i] for i in keep.tolist()]
        self._reshape(allocated)

    def _absent_value(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(count, error) this summary contributes for items it does not track."""
        raise NotImplementedError

    def _merge_extra(self, other: Any) -> None:
        """Hook: merge state beyond the tracked set (HeavyHitters' CountSketch)."""

    def empty_like(self):
        out = self.copy()
        out._clear()
        return out

    def _clear(self) -> None:
        self._state = T.empty_state(min(self._capacity, 16))
        self._items = [None] * len(self._state["keys"])
        self._total = 0
        self._abs_total = 0

    # ------------------------------------------------------------------ bytes
    def _summary_payload(self) -> bytes:
        _, counts, errors, items = self._live()
        head = np.array([self._capacity, self.size], dtype="<u4").tobytes()
        head += np.array([self.floor, self._total], dtype="<i8").tobytes()
        head += np.array([self._abs_total], dtype="<u8").tobytes()
        return head + counts.astype("<i8").tobytes() + errors.astype("<i8").tobytes() + encode_items(items)

    def _read_summary(self, reader: Reader) -> None:
        capacity, size, floor, total, abs_total = reader.unpack("IIqqQ")
        if capacity < 1 or size > capacity or floor < 0 or abs(total) > abs_total:
            raise CorruptSketchError(f"invalid {type(self).__name__} header (capacity {capacity}, size {size})")
        counts = reader.array(np.int64, size)
        errors = reader.array(np.int64, size)
        items = decode_items(reader, size)
        keys = _hash_batch(items, self._item_seed) if size else np.zeros(0, dtype=np.uint64)
        if len(np.unique(keys)) != size:
            raise CorruptSketchError("duplicate tracked items in sketch bytes")
        if size and (np.any(errors < 0) or np.any(counts < errors)):
            raise CorruptSketchError("tracked counts and errors are inconsistent")
        self._capacity = int(capacity)
        self._total = int(total)
        self._abs_total = int(abs_total)
        meta = np.array([size, floor], dtype=np.int64)
        self._state = {"keys": keys, "counts": counts, "errors": errors, "meta": meta}
        self._items = items
        self._reshape(min(self._capacity, max(size, 16)))

    # ------------------------------------------------------------------ rows
    def _rows(self, k: int | None, lower: np.ndarray, upper: np.ndarray) -> list[TopRow]:
        order = self._ranked()
        if k is not None:
            check_positive_int("k", k, 1 << 31)
            order = order[:k]
        _, counts, _, items = self._live()
        return [TopRow(items[i], int(counts[i]), int(lower[i]), int(upper[i])) for i in order.tolist()]
