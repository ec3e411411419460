r"""SpaceSaving (Metwally, Agrawal, El Abbadi, ICDT 2005), weighted, mergeable as in Agarwal,
Cormode, Huang, Phillips, Wei, Yi, "Mergeable summaries" (PODS 2012 / TODS 2013).

Tracks at most ``capacity`` items with a count and an error each. A tracked item's weight is
added to its count; an untracked one takes a free slot, or replaces the item with the smallest
count ``c_min`` (of several, the one in the lowest slot) and starts at ``c_min + w`` with error
``c_min``. Insertion-only: weights must be non-negative.

The guarantee is stated once, in the :class:`SpaceSaving` docstring.

Merging sums counts and errors over the union of items, counting an item a side does not
track at that side's ``floor``, then keeps the ``capacity`` largest (ties by item hash). The
guarantee still holds after any tree of merges (with :math:`N` the merged total), but a
merged summary is not bit-identical to one pass over both streams, and a merged top-k can miss
an item that no single part saw as heavy; merging is commutative and exact whenever no
summary ever filled up. Items are identified by their 64-bit hash (a collision between two
distinct items, probability about :math:`n^2/2^{65}`, would merge their counts).

**Memory.** A slot is an item hash, an int32 count and error (widened to int64 once the total
weight passes 2³¹ − 1), its share of the hash index (3 bytes: 1.5 uint16 cells) and of the
eviction queue (1 byte): 20 bytes, so 16 KiB tracks 818 int items. An int item costs nothing
more (it is recovered from its hash); a str or bytes item 9 bytes more when its encoding is at
most 8 bytes long (held in its slot), else those 9 and its encoding in an arena.

>>> ss = SpaceSaving(capacity=2)
>>> ss.update_batch(["a", "b", "a", "c", "a"])
>>> [tuple(r) for r in ss.top(2)]
[('a', 3, 3, 3), ('c', 2, 1, 2)]
"""

from __future__ import annotations

import numpy as np

from .. import _ids as ids
from .._base import parse_memory
from .._format import Reader, register
from ..errors import CorruptSketchError, InvalidParameterError
from ..hashing import DEFAULT_SEED
from . import _tracked as T
from ._summary import TYPICAL_ITEM_BYTES, TopRow, TrackedSummary, capacity_for
from .countsketch import _w

FAMILY = ids.SPACESAVING
# Per tracked item beyond its slot: 0 for ints (recovered from their hashes); a str or bytes
# item costs a reference (8) plus its encoding. The default suits short tokens.


class SpaceSaving(TrackedSummary):
    r"""Counter-based top-k summary with deterministic bounds (insertion-only).

    **Guarantee** (deterministic, after any stream and any tree of merges). With :math:`N` the
    total weight, :math:`m` the capacity and ``floor`` the largest count evicted or carried by
    a merge (0 until the summary fills), for every item :math:`x`:

    * ``floor`` :math:`\le N/m`;
    * ``lower_bound(x)`` :math:`\le f(x) \le` ``upper_bound(x)``: ``count − error`` and ``count``
      for a tracked item (``estimate`` is ``count``), ``0`` and ``floor`` for an untracked one
      (``estimate`` is 0); the same ``lower``/``upper`` in every ``top`` row, where
      ``upper − lower`` :math:`\le` ``floor``;
    * hence every item with :math:`f(x) >` ``floor`` (in particular :math:`f(x) > N/m`) is tracked.

    Checked by ``tests/test_spacesaving.py`` through ``bounds_failures``:
    ``test_bounds_hold_on_any_stream``, ``test_bounds_hold_under_any_merge_tree`` and
    ``test_heavy_items_of_a_zipf_stream_are_found_with_tight_bounds``, beside tests showing the
    check fails on broken summaries.
    """

    __slots__ = ()
    _family = FAMILY

    @classmethod
    def from_memory(cls, budget: int | str, *, seed: int = DEFAULT_SEED, item_bytes: int = TYPICAL_ITEM_BYTES):
        """The largest capacity whose full state fits ``budget``, counting ``item_bytes`` per
        item: for str/bytes items 9 bytes held in the slot, plus arena bytes for an item longer
        than 8 bytes (default ``TYPICAL_ITEM_BYTES``, planned for text tokens), 0 for int items
        (an int is recovered from its hash, so it costs nothing beyond its slot).

        >>> SpaceSaving.from_memory("16KiB", item_bytes=0).capacity
        818
        >>> SpaceSaving.from_memory("16KiB").capacity
        431
        """
        capacity = capacity_for(parse_memory(budget), item_bytes)
        if capacity < 1:
            raise InvalidParameterError(f"memory budget {budget!r} is too small for one SpaceSaving slot")
        return cls(capacity, seed=seed)

    @classmethod
    def from_error(cls, epsilon: float, *, seed: int = DEFAULT_SEED):
        """Capacity ⌈1/ε⌉: every bound is within εN of the truth."""
        if not 0 < float(epsilon) < 1:
            raise InvalidParameterError(f"epsilon must be in (0, 1), got {epsilon!r}")
        return cls(int(np.ceil(1.0 / float(epsilon))), seed=seed)

    @property
    def epsilon(self) -> float:
        """1/capacity: the error bound as a fraction of the total weight."""
        return 1.0 / self._capacity

    @property
    def delta(self) -> float:
        """0: the guarantee is deterministic."""
        return 0.0

    def error_bound(self) -> int:
        """Largest possible gap between upper and lower bound now (``floor`` ≤ N/capacity)."""
        return self.floor

    def _check_weights(self, weights, abs_total) -> None:
        if weights is not None and weights.size and int(weights.min()) < 0:
            raise InvalidParameterError("SpaceSaving is insertion-only: weights must be non-negative")

    def _update_keys(self, keys, raw, weights, batch) -> None:
        self._ensure_room(len(keys))
        st = self._state
        placed = T.spacesaving_update(*T.state_args(st), keys, raw, self._item_seed, _w(weights))
        self._record(placed, batch, raw)

    # ------------------------------------------------------------------ queries
    def _estimate_keys(self, keys, raw) -> np.ndarray:
        """The tracked count (an upper bound), or 0 for an untracked item."""
        slots = self._slots_of_keys(keys, raw)
        counts = self._state["counts"]
        return np.where(slots >= 0, counts[np.maximum(slots, 0)], 0).astype(np.int64)

    def _bounds_keys(self, keys, raw) -> tuple[np.ndarray, np.ndarray]:
        """``(count − error, count)`` for tracked items, ``(0, floor)`` otherwise: never above,
        never below the true count."""
        slots = self._slots_of_keys(keys, raw)
        st = self._state
        s = np.maximum(slots, 0)
        counts = st["counts"][s].astype(np.int64)
        lower = np.where(slots >= 0, counts - st["errors"][s].astype(np.int64), 0)
        upper = np.where(slots >= 0, counts, self.floor).astype(np.int64)
        return lower, upper

    def guarantee(self) -> str:
        return f"lower ≤ f ≤ upper, upper − lower ≤ N/{self._capacity} (deterministic)"

    @classmethod
    def _contract_examples(cls, seed: int):
        return cls(8, seed=seed), cls(9, seed=seed)

    def top(self, k: int | None = None) -> list[TopRow]:
        """Up to ``k`` tracked items, heaviest first, as (item, estimate, lower, upper) with
        ``lower <= true count <= upper`` guaranteed; ``estimate == upper``."""
        _, counts, errors, _ = self._live()
        counts = counts.astype(np.int64)
        return self._rows(k, counts - errors, counts)

    def _check_tracked(self, counts: np.ndarray, errors: np.ndarray, floor: int) -> None:
        # An item starts at (floor + w, floor) and the floor only rises to an evicted (the
        # smallest) count; merges add floors and counts alike: so error <= floor <= count.
        if counts.size and (int(errors.max()) > floor or int(counts.min()) < floor):
            raise CorruptSketchError("SpaceSaving counts and errors are inconsistent with its floor")

    def _absent_value(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        full = np.full(len(keys), self.floor, dtype=np.int64)
        return full, full

    # ------------------------------------------------------------------ bytes
    def _payload(self) -> tuple[int, bytes]:
        return 0, self._summary_payload()

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader):
        if flags:
            raise CorruptSketchError(f"unknown flags {flags:#x} for SpaceSaving")
        out = cls.__new__(cls)
        TrackedSummary.__init__(out, 1, seed=seed)
        out._read_summary(reader)
        return out


register(FAMILY, SpaceSaving)
