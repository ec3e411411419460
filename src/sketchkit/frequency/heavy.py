r"""ℓ2 heavy hitters: a CountSketch plus a candidate set (Charikar, Chen, Farach-Colton 2002,
§4: "keep a heap of the top items by estimate").

An update of an untracked item goes to the :class:`~sketchkit.CountSketch`; if its new row
estimates beat the smallest candidate count at their lower quartile (not just at the median,
which a light item colliding with heavy ones in a bare majority of rows can also pass), it
joins the candidate set of ``capacity`` items, evicting the smallest. From then on its
weight is counted **exactly**, and only there: a candidate's count is ``base + exact``, where
``exact`` is its weight since admission and ``base`` the sketch's estimate (clipped at 0) of
its count before admission; an evicted candidate's ``exact`` goes back into the sketch. The
sketch thus holds the stream minus the candidates' exact parts, and the heaviest items add no
collision noise to everyone else's estimates (on 10⁷ Zipf(1.1) int keys at 16 KiB this lifts
top-100 recall from 0.90 to 0.97; docs/BENCHMARKS.md). Ranking by ``base + exact`` instead of
by a fresh median keeps the sketch noise of a heavy item to the small amount present when it
was admitted — what gives counter-based recall at sketch memory. Insertion-only
(weights ≥ 0); for turnstile streams over integer keys use :class:`DyadicHeavyHitters`.

The guarantee is stated once, in the :class:`HeavyHitters` docstring. Which items end up as
candidates has no worst-case guarantee beyond the CountSketch's: recall is measured
(docs/BENCHMARKS.md). ``from_memory``'s defaults, depth 11 and 2·k candidates, come from a
sweep at 16 and 64 KiB over depths 3–11 and 1.1·k–4·k candidates on 10⁷ Zipf(1.1) int keys and
on 2·10⁶ tokens of Python's standard-library source (the benchmark workloads of
docs/BENCHMARKS.md): they reached top-100 recall 1.00 at 16 KiB on both, where 1.1·k
candidates gave 0.98 and 0.97.

Merging adds the CountSketches and unites the candidates: ``base`` and ``exact`` add, and a
side that does not track an item contributes its CountSketch estimate to ``base``; the
``capacity`` largest are kept. The guarantee still holds; the result is commutative but not
bit-identical to one pass.

>>> hh = HeavyHitters(width=256, depth=5, capacity=4, seed=1)
>>> hh.update_batch(["x"] * 50 + ["y"] * 30 + list("abcdefgh"))
>>> [(r.item, r.estimate) for r in hh.top(2)]
[('x', 50), ('y', 30)]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _ids as ids
from .._base import check_positive_int, parse_memory
from .._format import Reader, register
from ..errors import CorruptSketchError, InvalidParameterError
from ..hashing import DEFAULT_SEED
from . import _bounds as B
from . import _kernels as K
from . import _tracked as T
from ._summary import TYPICAL_ITEM_BYTES, TopRow, TrackedSummary, planned_nbytes
from .countsketch import CountSketch, _w

FAMILY = ids.HEAVY_HITTERS
# Per tracked item beyond its slot: 0 for ints (recovered from their hashes); a str or bytes
# item costs a reference (8) plus its encoding. The default suits short tokens.


def admission_rank(depth: int) -> int:
    """Order statistic (0-based, ascending) of an untracked item's row estimates that must
    beat the smallest candidate for the item to be admitted: the lower quartile. With the
    median instead, light items whose median is inflated by heavy collisions in a bare
    majority of rows crowd out real heavy hitters (10⁷ Zipf(1.1) int keys, width 1024: top-100
    recall 0.73 with the median, 0.95 one rank lower)."""
    return depth // 4


class HeavyHitters(TrackedSummary):
    """CountSketch-backed top-k with exact counting after admission (insertion-only).

    **Guarantee.** Let ``E = ceil(error_bound())``, the half-width of the inner
    :class:`~sketchkit.CountSketch` (its ε = 2/√width and δ) over the vector it holds: the
    stream minus the candidates' exact parts, whose untracked coordinates are the untracked
    items' whole counts. A candidate's count is ``base + exact`` (``exact`` = its weight since
    admission, ``base`` = the sketch's estimate, clipped at 0, of its count before). Then:

    * deterministically ``exact <= f(x)``, so a candidate's ``lower >= exact`` always;
    * for a candidate, ``lower = exact + max(0, base − E) <= f(x) <= base + exact + E = upper``
      with probability at least ``1 − 2δ`` (``f`` before admission was within E of ``base``
      then, and the held F2 only grows); for an untracked item ``estimate``/``lower``/``upper``
      are the CountSketch's (lower clipped at 0). ``top`` reports candidates by ``base + exact``
      with these bounds; upper bounds are capped at 2**63 − 1, which no count exceeds.

    Checked by ``tests/test_heavy.py``: ``test_candidates_count_exactly_after_admission`` and
    ``test_exact_part_is_a_lower_bound_on_any_stream`` (first statement),
    ``test_recall_and_bounds_on_a_zipf_stream`` and ``test_merged_heavy_hitters_keep_their_bounds``
    (second, through ``top_failures``, beside tests showing that check fails on broken sketches).

    Parameters
    ----------
    width, depth : shape of the CountSketch (odd depth).
    capacity : number of candidates (at least the k you will ask ``top`` for; 2·k measured
        best at equal memory: a candidate costs as much as about six counters).
    seed : the hash seed (identity; checked on merge).
    """

    __slots__ = ("_cs",)
    _family = FAMILY

    def __init__(self, width: int, depth: int = 11, capacity: int = 200, *, seed: int = DEFAULT_SEED):
        super().__init__(capacity, seed=seed)
        self._cs = CountSketch(width, depth, seed=seed)

    @classmethod
    def from_memory(
        cls,
        budget: int | str,
        *,
        k: int = 100,
        depth: int = 11,
        seed: int = DEFAULT_SEED,
        item_bytes: int = TYPICAL_ITEM_BYTES,
    ) -> HeavyHitters:
        """Split ``budget`` between 2·k candidates and the widest CountSketch that fits;
        ``item_bytes`` as in :meth:`SpaceSaving.from_memory` (0 for int items)."""
        k = check_positive_int("k", k)
        nbytes = parse_memory(budget)
        capacity = 2 * k
        sketch_bytes = nbytes - planned_nbytes(capacity, item_bytes)
        width = int((sketch_bytes - 16 * depth) // (4 * depth))
        if width < 8:
            raise InvalidParameterError(
                f"memory budget {budget!r} is too small for {capacity} candidates and a {depth}-row sketch"
            )
        return cls(width, depth, capacity, seed=seed)

    @classmethod
    def from_error(
        cls, epsilon: float, delta: float = 0.01, *, k: int = 100, seed: int = DEFAULT_SEED
    ) -> HeavyHitters:
        """CountSketch sized as :meth:`CountSketch.from_error` (depth at least 11 for the
        admission rule) with 2·k candidates: every bound is within ε‖f‖₂ w.p. ≥ 1 − 2δ."""
        cs = CountSketch.from_error(epsilon, delta)
        k = check_positive_int("k", k)
        return cls(cs.width, max(cs.depth, 11), 2 * k, seed=seed)

    # ------------------------------------------------------------------ properties
    @property
    def sketch(self) -> CountSketch:
        """A copy of the underlying CountSketch: the stream minus the candidates' exact parts."""
        return self._cs.copy()

    @property
    def width(self) -> int:
        return self._cs.width

    @property
    def depth(self) -> int:
        return self._cs.depth

    @property
    def epsilon(self) -> float:
        return self._cs.epsilon

    @property
    def delta(self) -> float:
        return self._cs.delta

    def error_bound(self) -> float:
        return self._cs.error_bound()

    @property
    def nbytes(self) -> int:
        return super().nbytes + self._cs.nbytes

    def _shape(self) -> tuple:
        return (self._capacity, self._cs.depth, self._cs.width)

    # ------------------------------------------------------------------ updates
    def _check_weights(self, weights, abs_total) -> None:
        if weights is not None and weights.size and int(weights.min()) < 0:
            raise InvalidParameterError(
                "HeavyHitters is insertion-only; use DyadicHeavyHitters for streams with deletions"
            )

    def _reserve(self, abs_total: int) -> None:
        super()._reserve(abs_total)
        self._cs._reserve(abs_total)

    def _update_keys(self, keys, raw, weights, batch) -> None:
        self._ensure_room(len(keys))
        st = self._state
        cs = self._cs
        placed = T.heavy_update(
            cs._table, cs._row_keys, *T.state_args(st),
            keys, raw, self._item_seed, _w(weights), admission_rank(cs.depth),
        )
        self._record(placed, batch, raw)
        total = int(weights.sum()) if weights is not None else len(keys)
        cs._total += total
        cs._abs_total += total

    # ------------------------------------------------------------------ queries
    def _estimate_keys(self, keys, raw) -> np.ndarray:
        """``base + exact`` for candidates, the CountSketch estimate otherwise."""
        slots = self._slots_of_keys(keys, raw)
        counts = self._state["counts"]
        est = self._cs._estimate_keys(keys, raw)
        return np.where(slots >= 0, counts[np.maximum(slots, 0)], est).astype(np.int64)

    def _bounds_keys(self, keys, raw) -> tuple[np.ndarray, np.ndarray]:
        slots = self._slots_of_keys(keys, raw)
        st = self._state
        s = np.maximum(slots, 0)
        e = math.ceil(self._cs.error_bound())
        # int64 before any arithmetic: counts may be int32 while count + e is not
        counts, base = st["counts"][s].astype(np.int64), st["errors"][s].astype(np.int64)
        est = np.asarray(self._cs._estimate_keys(keys, raw), dtype=np.int64)
        lower = np.maximum(B.minus(np.where(slots >= 0, base, est), e), 0) + np.where(slots >= 0, counts - base, 0)
        upper = B.plus(np.where(slots >= 0, counts, est), e)
        return lower, upper

    def guarantee(self) -> str:
        return f"bounds within {self.epsilon:.3g}·‖f‖₂ w.p. ≥ {1 - 2 * self.delta:.4g}; lower ≥ exact part"

    def top(self, k: int | None = None) -> list[TopRow]:
        """Up to ``k`` candidates by ``base + exact``, as (item, estimate, lower, upper);
        ``lower >= exact`` deterministically, both bounds hold w.p. ≥ 1 − 2δ."""
        _, counts, errors, _ = self._live()
        counts, errors = counts.astype(np.int64), errors.astype(np.int64)
        e = math.ceil(self._cs.error_bound())
        return self._rows(k, counts - errors + np.maximum(B.minus(errors, e), 0), B.plus(counts, e))

    # ------------------------------------------------------------------ merge
    def _absent_value(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        est = np.maximum(K.cs_estimate(self._cs._table, self._cs._row_keys, keys, False, self._item_seed), 0)
        return est, est

    def _merge_extra(self, other: Any) -> None:
        self._cs.merge(other._cs)

    def _release(self, keys: np.ndarray, exact: np.ndarray) -> None:
        # dropped candidates' exact parts go back into the (merged) sketch
        self._cs._update_keys(np.ascontiguousarray(keys, dtype=np.uint64), False, exact.astype(np.int64), None)

    def _clear(self) -> None:
        super()._clear()
        self._cs = self._cs.empty_like()

    # ------------------------------------------------------------------ bytes
    def _payload(self) -> tuple[int, bytes]:
        flags, cs_payload = self._cs._payload()
        return 0, self._summary_payload() + cs_payload

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader):
        if flags:
            raise CorruptSketchError(f"unknown flags {flags:#x} for HeavyHitters")
        out = cls.__new__(cls)
        TrackedSummary.__init__(out, 1, seed=seed)
        out._read_summary(reader)
        out._cs = CountSketch._from_payload(seed, 0, reader)
        # every update reaches the sketch's totals (a candidate's weight leaves its table only)
        if (out._cs._total, out._cs._abs_total) != (out._total, out._abs_total):
            raise CorruptSketchError("HeavyHitters sketch totals differ from its own")
        return out

    def _describe(self) -> str:
        return f"width={self.width}, depth={self.depth}, capacity={self._capacity}, size={self.size}"

    @classmethod
    def _contract_examples(cls, seed: int):
        return cls(32, 3, 6, seed=seed), cls(32, 3, 7, seed=seed)


register(FAMILY, HeavyHitters)
