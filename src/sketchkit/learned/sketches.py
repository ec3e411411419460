r"""Learned frequency sketches (Hsu, Indyk, Katabi, Vakilian, "Learning-Based Frequency Estimation
Algorithms", ICLR 2019): exact counters for items an oracle predicts heavy, a sketch for the rest.

A learned sketch wraps an oracle, a threshold :math:`\tau`, a table of at most ``capacity``
exact counters and an (initially empty) core sketch. An arriving item that already has an exact
counter adds to it; a new item with ``oracle.score(item) >= threshold`` takes a free exact counter
while one remains; every other item (and every eligible item once the table is full) goes to the
sketch. Scores are deterministic, so an item admitted at its first occurrence keeps all its
occurrences exact; once the table is full it stays full, so no item's mass is ever split in a
single stream.

**Guarantees** (checked in ``tests/test_learned_sketches.py``). Write :math:`f` for the true
counts and :math:`f_s` for the counts of the sub-stream routed to the sketch
(:math:`\lVert f_s\rVert \le \lVert f\rVert`, usually much smaller: that is the point).

* Items with a *pure* exact counter (every one, in a single stream) are answered exactly:
  :math:`\hat f(x) = f(x)`, and both bounds equal it.
* :class:`LearnedCountMin` (non-negative weights), other items: :math:`f(x) \le \hat f(x)`
  always, and :math:`\hat f(x) \le f(x) + (e/w)\,\lVert f_s\rVert_1` with probability
  :math:`\ge 1 - e^{-d}` — Count-Min's guarantee (Cormode & Muthukrishnan 2005) on the residual
  stream.
* :class:`LearnedCountSketch`, other items: :math:`|\hat f(x) - f(x)| \le (2/\sqrt w)\,\lVert
  f_s\rVert_2` with probability :math:`\ge 1 - \delta(d)`, CountSketch's guarantee (Charikar et
  al. 2002) on the residual stream.
* :class:`LearnedCountSketchPlusPlus`: CountSketch++'s guarantee (:mod:`.cspp`) on the residual
  stream.

The wrapped sketch is used only through the public sketch contract (``update_hashed``,
``estimate_hashed``, ``bounds_hashed``, ``merge``, ``shape``): the learned sketch hashes each item
once, with the seed it shares with the wrapped sketch, and hands the residual items' hashes on.

**Merging** needs the same class, seed, oracle (byte-equal), threshold, capacity and sketch shape.
Exact tables are united; when the union exceeds the capacity the entries with the largest
merged counts stay (ties: smaller item hash) and the others' counts move into the sketch, which
is linear, so no mass is lost. An entry whose item may also have mass in the other part's sketch
(that part's table was full) becomes *impure*: it answers exact count + sketch estimate, and the
bounds above still hold for it. Merging is commutative.

**Memory** (checked in ``tests/test_learned_sketches.py``): :attr:`nbytes` is the bytes of every
array the sketch holds — the exact table with its empty slots (13 bytes a slot, at most
⌈capacity/0.8⌉ slots: :mod:`._exact`), the wrapped sketch (counters and row keys) and the oracle
(:attr:`~sketchkit.learned.oracles.Oracle.nbytes`). :meth:`from_memory` plans for the full table,
so ``from_memory(b, ...).nbytes <= b`` for as long as the counters are int32 (total absolute
weight below 2**31; like the core sketches, counts widen to int64 past that).
:attr:`budget_bytes` is that planned size. With ``capacity=0`` the oracle is dropped, the table
holds no array, and the sketch is exactly the plain core sketch of the same shape, bytes included.
A lookup oracle is best handed over as the set of its entries that pass the threshold
(:class:`~sketchkit.learned.oracles.KeySetOracle`, 4 bytes an entry instead of 12), as
:meth:`~sketchkit.learned.tuner.TunedConfig.build` and the command line do.

>>> from sketchkit.learned.oracles import LookupOracle
>>> oracle = LookupOracle.from_counts({"the": 50, "cat": 2})
>>> lcm = LearnedCountMin.from_memory(2048, oracle, heavy_fraction=0.1, threshold=3.0, depth=2)
>>> lcm.update_batch("the cat sat on the mat".split())
>>> lcm.estimate("the"), lcm.lower_bound("the"), lcm.capacity, lcm.budget_bytes <= 2048
(2, 2, 12, True)
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from .. import _format
from .. import _ids as ids
from .._base import Sketch, largest_fitting, parse_memory
from .._format import Reader, le_bytes, register
from ..errors import CorruptSketchError, IncompatibleSketchError, InvalidParameterError
from ..frequency import CountMin, CountSketch, FrequencySketch
from ..hashing import DEFAULT_SEED
from ._exact import ExactTable, table_bytes
from .cspp import CountSketchPlusPlus
from .oracles import LookupOracle, Oracle

_EMPTY = np.empty(0, dtype=np.int64)


def capacity_for(budget: int | str, heavy_fraction: float) -> int:
    """The most exact entries whose full table (:func:`~._exact.table_bytes`) fits in
    ``heavy_fraction`` of ``budget`` bytes."""
    total = parse_memory(budget)
    heavy_fraction = float(heavy_fraction)
    if not 0.0 <= heavy_fraction < 1.0:
        raise InvalidParameterError(f"heavy_fraction must be in [0, 1), got {heavy_fraction}")
    share = int(heavy_fraction * total)
    return largest_fitting(0, share, lambda c: table_bytes(c) <= share)


def plan_memory(budget: int | str, oracle_nbytes: int, heavy_fraction: float) -> tuple[int, int]:
    """``(capacity, sketch_bytes)``: exact entries whose full table fits in ``heavy_fraction`` of
    the budget, the rest (after the oracle, when entries exist) for the wrapped sketch."""
    total = parse_memory(budget)
    capacity = capacity_for(total, heavy_fraction)
    rest = total - table_bytes(capacity) - (oracle_nbytes if capacity else 0)
    if rest <= 0:
        raise InvalidParameterError(
            f"budget {total} B leaves no room for the sketch after {capacity} exact entries and a "
            f"{oracle_nbytes}-byte oracle"
        )
    return capacity, rest


class _LearnedSketch(FrequencySketch):
    """Shared machinery; subclasses fix the wrapped sketch type."""

    __slots__ = ("_oracle", "_threshold", "_table", "_inner")
    _inner_type: ClassVar[type]
    # capabilities (sketchkit.testing): merging re-selects the exact entries, so it is not linear;
    # the oracle reads the items themselves, so pre-hashed updates cannot be routed
    linear = False
    turnstile = True
    hashed_updates = False

    def __init__(self, oracle: Oracle | None, sketch: Sketch, *, capacity: int, threshold: float):
        if type(sketch) is not self._inner_type:
            raise InvalidParameterError(f"{type(self).__name__} wraps a {self._inner_type.__name__}")
        if not sketch.is_empty() or sketch.total_weight:
            raise InvalidParameterError("the wrapped sketch must be empty")
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) or not 0 <= capacity < 1 << 31:
            raise InvalidParameterError(f"capacity must be an int in [0, 2**31), got {capacity!r}")
        threshold = float(threshold)
        if math.isnan(threshold):
            raise InvalidParameterError("threshold must not be NaN")
        if capacity and not isinstance(oracle, Oracle):
            raise InvalidParameterError("exact counters need an Oracle (give capacity=0 for none)")
        super().__init__(sketch.seed)
        self._oracle = oracle if capacity else None
        self._threshold = threshold if capacity else math.inf
        self._table = ExactTable(int(capacity))
        self._inner = sketch.copy()

    # ------------------------------------------------------------------ construction
    @classmethod
    def _accepts(cls, sketch: Sketch) -> bool:
        """Whether ``sketch`` (of ``_inner_type``) may be wrapped; the constructor and the reader ask."""
        return True

    @classmethod
    def _inner_for(cls, nbytes: int, depth: int, seed: int) -> Sketch:
        """The largest wrapped sketch of ``depth`` rows whose ``nbytes`` fit in ``nbytes``."""
        raise NotImplementedError

    @classmethod
    def from_memory(
        cls,
        budget: int | str,
        oracle: Oracle | None,
        *,
        heavy_fraction: float,
        threshold: float,
        depth: int = 3,
        seed: int = DEFAULT_SEED,
    ):
        """Split ``budget`` bytes: ``heavy_fraction`` to the exact table (planned full: 13 B a slot,
        ⌈capacity/0.8⌉ slots), the oracle's size, and the rest to the wrapped sketch (counters and
        row keys). ``nbytes <= budget`` (see the module docstring); ``heavy_fraction=0`` is the
        plain sketch."""
        nbytes = oracle.nbytes if oracle is not None else 0
        capacity, rest = plan_memory(budget, nbytes, heavy_fraction)
        if capacity and oracle is None:
            raise InvalidParameterError("heavy_fraction > 0 needs an oracle")
        return cls(oracle, cls._inner_for(rest, depth, seed), capacity=capacity, threshold=threshold)

    # the contract check's examples: a lookup oracle that knows a few of its items
    _CONTRACT_ORACLE = {"the": 40, "a": 30, 7: 20, "zz": 9, "item-1": 50, 2: 25}

    @classmethod
    def _contract_examples(cls, seed: int):
        oracle = LookupOracle.from_counts(cls._CONTRACT_ORACLE)
        return [
            (cls.from_memory(4096, oracle, heavy_fraction=0.1, threshold=1.0, seed=seed),
             cls.from_memory(4096, oracle, heavy_fraction=0.2, threshold=1.0, seed=seed)),
            (cls.from_memory(4096, None, heavy_fraction=0.0, threshold=1.0, seed=seed),
             cls.from_memory(8192, None, heavy_fraction=0.0, threshold=1.0, seed=seed)),
        ]

    @classmethod
    def _contract_from_memory(cls, budget: str):
        oracle = LookupOracle.from_counts({f"item-{i}": 1000 - i for i in range(1, 200, 2)})
        return cls.from_memory(budget, oracle, heavy_fraction=0.3, threshold=oracle.threshold_for(100))

    # ------------------------------------------------------------------ properties
    @property
    def oracle(self) -> Oracle | None:
        return self._oracle

    @property
    def threshold(self) -> float:
        return self._threshold

    @property
    def capacity(self) -> int:
        return self._table.capacity

    @property
    def n_exact(self) -> int:
        """Exact counters in use."""
        return self._table.size

    @property
    def sketch(self) -> Sketch:
        """A copy of the wrapped sketch (the residual stream's summary)."""
        return self._inner.copy()

    @property
    def exact_weight(self) -> int:
        """Net weight held by exact counters (total weight − the wrapped sketch's): with
        non-negative weights, the stream's coverage is this / :attr:`total_weight`."""
        return self._total - self._inner.total_weight

    @property
    def budget_bytes(self) -> int:
        """:attr:`nbytes` once the exact table is full (what :meth:`from_memory` plans for)."""
        oracle = self._oracle.nbytes if self._oracle is not None else 0
        return int(self._table.full_nbytes + self._inner.nbytes + oracle)

    @property
    def nbytes(self) -> int:
        """Bytes of every array held: exact table (empty slots included), wrapped sketch, oracle."""
        oracle = self._oracle.nbytes if self._oracle is not None else 0
        return int(self._table.nbytes + self._inner.nbytes + oracle)

    def _shape(self) -> tuple:
        return (self.capacity, self._threshold, self._inner.shape)

    def empty_like(self):
        return type(self)(self._oracle, self._inner.empty_like(), capacity=self.capacity, threshold=self._threshold)

    # ------------------------------------------------------------------ updates
    def _reserve(self, abs_total: int) -> None:
        super()._reserve(abs_total)
        # no exact count's magnitude exceeds the total absolute weight
        self._table.widen(self._abs_total + abs_total)

    def _hashes(self, keys: np.ndarray, raw: bool) -> np.ndarray:
        """Item hashes under the shared seed (raw int64 keys are the items themselves)."""
        return self.item_hashes(keys) if raw else keys

    def _update_keys(self, keys, raw, weights, batch) -> None:
        hkeys = self._hashes(keys, raw)
        w = _EMPTY if weights is None else weights
        if self.capacity:
            eligible, new_keys = self._eligible(hkeys, batch)
            to_sketch = self._table.route(hkeys, eligible, w, new_keys)
        else:
            to_sketch = np.ones(len(hkeys), dtype=bool)
        if to_sketch.any():
            self._inner.update_hashed(hkeys[to_sketch], w[to_sketch] if len(w) else None)

    def _eligible(self, hkeys: np.ndarray, batch: Any) -> tuple[np.ndarray, int]:
        """Score each distinct key not yet in the table once; table members are always eligible.
        Returns the eligibility of each item and the number of distinct eligible new keys."""
        uniq, first, inverse = np.unique(hkeys, return_index=True, return_inverse=True)
        ok = self._table.find(uniq) >= 0
        need = np.flatnonzero(~ok)
        new_keys = 0
        if len(need):
            idx = first[need]
            sub = batch[idx] if isinstance(batch, np.ndarray) else [batch[i] for i in idx]
            passed = self._oracle.score(sub) >= self._threshold
            ok[need] = passed
            new_keys = int(np.count_nonzero(passed))
        return ok[inverse.ravel()], new_keys

    # ------------------------------------------------------------------ queries
    def _combine(self, pos: np.ndarray, sketch_vals: np.ndarray) -> np.ndarray:
        """Pure exact entries answer their count; impure ones count + the sketch's value."""
        out = np.array(sketch_vals, dtype=np.int64, copy=True)
        hit = pos >= 0
        if hit.any():
            p = pos[hit]
            exact = self._table.counts_at(p)
            out[hit] = np.where(self._table.pure_at(p), exact, exact + out[hit])
        return out

    def _estimate_keys(self, keys: np.ndarray, raw: bool) -> np.ndarray:
        """Exact count for items with exact counters; the sketch's estimate otherwise."""
        hkeys = self._hashes(keys, raw)
        return self._combine(self._table.find(hkeys), self._inner.estimate_hashed(hkeys))

    def _bounds_keys(self, keys: np.ndarray, raw: bool) -> tuple[np.ndarray, np.ndarray]:
        """Pure exact entries: both bounds are the count; others: the sketch's bounds (+ the
        exact count for impure entries)."""
        hkeys = self._hashes(keys, raw)
        pos = self._table.find(hkeys)
        lo, hi = self._inner.bounds_hashed(hkeys)
        return self._combine(pos, lo), self._combine(pos, hi)

    @property
    def epsilon(self) -> float:
        """The wrapped sketch's ε, on the residual stream."""
        return self._inner.epsilon

    @property
    def delta(self) -> float:
        """The wrapped sketch's δ, on the residual stream."""
        return self._inner.delta

    def error_bound(self) -> float:
        """The wrapped sketch's error bound on the residual stream (exact items: 0)."""
        return self._inner.error_bound()

    def guarantee(self) -> str:
        g = self._inner.guarantee()
        return f"exact for {self.n_exact} items" + (f"; others, on the residual stream: {g}" if g else "")

    def _describe(self) -> str:
        inner = f"{type(self._inner).__name__}{self._inner.shape}"
        return f"oracle={self._oracle!r}, capacity={self.capacity}, threshold={self._threshold}, sketch={inner}"

    # ------------------------------------------------------------------ merge
    def _check_compatible(self, other: Any) -> None:
        if type(other) is not type(self):
            raise IncompatibleSketchError(f"cannot merge a {type(other).__name__} into a {type(self).__name__}")
        if other.seed != self.seed:
            raise IncompatibleSketchError(f"cannot merge sketches with different seeds: {self.seed} and {other.seed}")
        if other.capacity != self.capacity or other._threshold != self._threshold:
            raise IncompatibleSketchError(
                f"cannot merge learned sketches of different shapes (exact tables): capacity {self.capacity} threshold "
                f"{self._threshold} vs capacity {other.capacity} threshold {other._threshold}"
            )
        if self._oracle != other._oracle and not (self._oracle is None and other._oracle is None):
            raise IncompatibleSketchError(f"cannot merge learned sketches with different oracles: "
                                          f"{self._oracle!r} and {other._oracle!r}")
        self._inner.check_mergeable(other._inner)

    def _merge_state(self, other: Any) -> None:
        self._inner.merge(other._inner)
        if not self.capacity:
            return
        ka, ca, pa = self._table.entries()
        kb, cb, pb = other._table.entries()
        keys = np.union1d(ka, kb)
        counts = np.zeros(len(keys), dtype=np.int64)
        in_a = np.isin(keys, ka, assume_unique=True)
        in_b = np.isin(keys, kb, assume_unique=True)
        counts[in_a] += ca
        counts[in_b] += cb
        # an entry stays pure if, in each part, it had a pure counter or that part never spilled
        pure = np.full(len(keys), True)
        pure[in_a] &= pa
        pure[in_b] &= pb
        if self._table.spilled:
            pure &= in_a
        if other._table.spilled:
            pure &= in_b
        spilled = self._table.spilled or other._table.spilled
        if len(keys) > self.capacity:
            order = np.lexsort((keys, -np.abs(counts)))
            out = order[self.capacity :]
            self._inner.update_hashed(keys[out], counts[out])  # linear: the moved counts lose nothing
            keep = np.sort(order[: self.capacity])
            keys, counts, pure = keys[keep], counts[keep], pure[keep]
            spilled = True
        table = ExactTable(self.capacity, self._table.counts.dtype.type)
        table.insert_all(keys, counts, pure)
        table.spilled = bool(spilled)
        self._table = table

    # ------------------------------------------------------------------ bytes
    def _payload(self) -> tuple[int, bytes]:
        oracle = self._oracle.to_bytes() if self._oracle is not None else b""
        inner = self._inner.to_bytes()
        keys, counts, pure = self._table.entries()
        head = np.array([self.capacity, int(self._table.spilled)], dtype="<u4").tobytes()
        head += np.array([self._threshold], dtype="<f8").tobytes()
        head += np.array([self._total], dtype="<i8").tobytes() + np.array([self._abs_total], dtype="<u8").tobytes()
        head += np.array([len(oracle), len(inner), len(keys)], dtype="<u8").tobytes()
        body = oracle + inner + le_bytes(keys) + le_bytes(counts) + pure.astype(np.uint8).tobytes()
        return 0, head + body

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader):
        capacity, spilled = reader.unpack("II")
        (threshold,) = reader.unpack("d")
        total, abs_total = reader.unpack("qQ")
        n_oracle, n_inner, n = reader.unpack("QQQ")
        if (flags or spilled > 1 or n > capacity or (spilled and n != capacity) or (spilled and not capacity)
                or abs(total) > abs_total or (abs_total - total) % 2 or capacity >= 1 << 31
                or (capacity and math.isnan(threshold))):
            raise CorruptSketchError(f"invalid {cls.__name__} header")
        if n_oracle + n_inner + 17 * n != reader.remaining:
            raise CorruptSketchError(f"{cls.__name__} payload size does not match its header")
        oracle = _format.load(reader.raw(n_oracle)) if n_oracle else None
        inner = _format.load(reader.raw(n_inner), expected=cls._inner_type)
        keys = reader.array(np.uint64, n)
        counts = reader.array(np.int64, n)
        pure = reader.array(np.uint8, n)
        if (
            (oracle is not None and not isinstance(oracle, Oracle))
            or (capacity and oracle is None)
            or (not capacity and oracle is not None)  # the constructor drops the oracle of a plain sketch
            or inner.seed != seed
            or type(inner) is not cls._inner_type
            or not cls._accepts(inner)
            or np.any(keys[1:] <= keys[:-1])
            or np.any(pure > 1)
        ):
            raise CorruptSketchError(f"inconsistent {cls.__name__} bytes")
        # every unit of weight went to an exact count or to the sketch: the signed sums add up,
        # and no count is larger than the stream's absolute weight
        exact = counts.tolist()
        if (
            sum(exact) != total - inner.total_weight
            or sum(map(abs, exact)) + inner.total_abs_weight > abs_total
        ):
            raise CorruptSketchError(f"inconsistent {cls.__name__} weights")
        out = cls.__new__(cls)
        Sketch.__init__(out, seed)
        out._oracle = oracle
        out._threshold = float(threshold) if capacity else math.inf
        out._inner = inner
        out._total, out._abs_total = int(total), int(abs_total)
        out._table = ExactTable(capacity)
        out._table.widen(out._abs_total)
        if n:
            out._table.insert_all(keys, counts, pure.astype(bool))
        out._table.spilled = bool(spilled)
        return out


class LearnedCountMin(_LearnedSketch):
    """Exact counters for predicted-heavy items + Count-Min for the rest (guarantee: module doc).

    Build with :meth:`from_memory` (budget split) or ``LearnedCountMin(oracle, CountMin(w, d),
    capacity=..., threshold=...)``; :func:`sketchkit.learned.tune` picks the split on validation data.
    """

    __slots__ = ()
    _family = ids.LEARNED_COUNTMIN
    _inner_type = CountMin

    def __init__(self, oracle: Oracle | None, sketch: CountMin, *, capacity: int, threshold: float):
        if isinstance(sketch, CountMin) and not self._accepts(sketch):
            raise InvalidParameterError("LearnedCountMin wraps a plain (non-conservative) CountMin")
        super().__init__(oracle, sketch, capacity=capacity, threshold=threshold)

    @classmethod
    def _accepts(cls, sketch: Sketch) -> bool:
        return not sketch.conservative

    @classmethod
    def _inner_for(cls, nbytes: int, depth: int, seed: int) -> CountMin:
        return CountMin.from_memory(nbytes, depth=depth, seed=seed)


class LearnedCountSketch(_LearnedSketch):
    """Exact counters for predicted-heavy items + CountSketch (odd depth) for the rest."""

    __slots__ = ()
    _family = ids.LEARNED_COUNTSKETCH
    _inner_type = CountSketch

    @classmethod
    def _inner_for(cls, nbytes: int, depth: int, seed: int) -> CountSketch:
        return CountSketch.from_memory(nbytes, depth=depth, seed=seed)


class LearnedCountSketchPlusPlus(_LearnedSketch):
    """Exact counters for predicted-heavy items + CountSketch++ (``depth`` = rows per table)."""

    __slots__ = ()
    _family = ids.LEARNED_COUNTSKETCH_PLUS_PLUS
    _inner_type = CountSketchPlusPlus

    @classmethod
    def _inner_for(cls, nbytes: int, depth: int, seed: int) -> CountSketchPlusPlus:
        return CountSketchPlusPlus.from_memory(nbytes, rows=depth, seed=seed)


register(ids.LEARNED_COUNTMIN, LearnedCountMin)
register(ids.LEARNED_COUNTSKETCH, LearnedCountSketch)
register(ids.LEARNED_COUNTSKETCH_PLUS_PLUS, LearnedCountSketchPlusPlus)
