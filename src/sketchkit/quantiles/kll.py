r"""KLL: a mergeable quantile sketch with additive rank error (Karnin, Lang, Liberty, FOCS 2016).

The sketch keeps a stack of *compactors*. Level ``h`` holds items of weight :math:`2^h`. Level 0
is a buffer of B = 8·⌈k/18⌉ items, sorted and compacted the moment it is full: every other item
(odd or even positions, chosen by a coin) moves up with double weight. The levels above have
capacities that shrink by 2/3 per level below the top ``top_levels`` levels (which hold ``k``
items each), never below 8; when they hold more than the sum, the lowest level at or over its
capacity is compacted into the next (lazy compaction, Ivkin, Liberty, Lang, Karnin, Braverman
2019). About :math:`3k + B/2` items are kept whatever the stream length. Consecutive compactions
of a level use opposite offsets (one fresh coin per pair), which cancels their errors in pairs.

**Ranks.** For a value :math:`x`, the inclusive rank :math:`R(x)` is the total weight of items
:math:`\le x` and the exclusive rank :math:`R^-(x)` the weight of items :math:`< x`; :meth:`rank`
returns them divided by the total weight :math:`N` (``inclusive=True`` by default). The inclusive
quantile :math:`Q(q)` is the smallest retained item with :math:`\hat R(v) \ge qN`; the exclusive one
the smallest with :math:`\hat R(v) > qN`. For the stream 1..10, ``quantile(0.5)`` is 5 and
``quantile(0.5, inclusive=False)`` is 6 (DataSketches' ``inclusive=False`` default in Python;
ddsketch and numpy interpolate instead). ``quantile(0)`` and ``quantile(1)`` are the exact minimum
and maximum.

**Guarantee** (what ``tests/test_quantiles_kll.py`` checks). Fix any stream (chosen without
seeing the seed) and any value :math:`x`. Every compaction changes the estimate of :math:`R(x)` (or
:math:`R^-(x)`) by :math:`0` or :math:`\pm 2^h`; a pair of compactions sharing one fresh coin
changes it by at most :math:`2^h` in total, with a sign that is a fair coin independent of the
levels below. Let :math:`f_h` be the number of fresh coins drawn at level :math:`h` (a function of
the arrival sequence only, not of the coins). Then for every split level :math:`j`, by Azuma's
inequality,

.. math::

    \Pr\Big[\,|\hat R(x) - R(x)| > \sum_{h \ge j} f_h 2^h
        + \sqrt{2 \ln(2/\delta) \textstyle\sum_{h<j} f_h 4^h}\,\Big] \le \delta ,

and :meth:`rank_error` returns the smallest of these bounds over :math:`j` divided by :math:`N`
(the best :math:`j` is itself a function of the arrival sequence, so no union bound is needed).
The same bound holds for the exclusive rank, for merged sketches (their coins add up), and for a
quantile: the inclusive rank of ``quantile(q)`` is within ``rank_error`` of :math:`q` (up to one
retained item's weight, :math:`2^{L-1}/N`). For ``m`` simultaneous queries (a whole CDF) use
``rank_error(delta / m)``. Coins come from a keyed hash of (seed, level, coin number, the length
and first, middle and last items of the run being compacted), so sketches are reproducible and
``update_batch`` equals the loop bit for bit; the analysis models that hash as random, which an
adversary who knows the seed can defeat.

**Size.** With ``top_levels=1`` the bound above is :math:`O(\sqrt{\log(1/\delta)}/k)` (KLL,
Section 3); keeping the top :math:`s = O(\log\log(1/\delta))` levels at capacity ``k`` is KLL's
mergeable :math:`O((1/\varepsilon)\log^2\log(1/\delta))` construction (Section 4), available as
``top_levels``; measured at 2**20 items and about equal bytes, ``top_levels`` 2 to 4 lower
``rank_error(1e-12)`` by at most 11 %, so the default stays 1. The paper's optimal
:math:`O((1/\varepsilon)\log\log(1/\delta))` needs a deterministic (non-mergeable) summary
on top and is not implemented. For unit-weight streams ``rank_error(0.01)`` :math:`\le 2.5/k` at
every length (checked on a grid of lengths in the tests; :meth:`from_error` sizes by it).
DataSketches states 1.33 % for its k = 200 as an empirical 99th percentile; this bound is a
proof (given random coins), and measured errors are about half of it.

**When to use it.** Rank-uniform questions: medians, deciles, CDFs, histograms with equal-count
bins, any data type that only orders. For tail *values* (p99.9 latency) rank error :math:`\varepsilon`
can be a large value error; use :class:`~sketchkit.quantiles.DDSketch` there.

Payload layout (little-endian), after the common header of :mod:`sketchkit._format`::

    u32 k | u8 top_levels | u8 L (levels) | u16 reserved (0) | i64 total weight | f64 min | f64 max
    | per level: varint size, varint 3*(fresh coins) + (pending offset + 1)  (offset -1, 0 or 1)
    | items, level 0 first:
      flags bit 0 (written): per level, its items ascending as order-preserving 64-bit keys
        (a float's bits with the sign bit set if positive, all bits flipped if negative), the
        first key then the gaps between consecutive keys, each a varint: about 7 bytes an item
        on continuous data, 1-2 on tied data (7.0-7.2 B/item at k = 200 on 10^6 lognormal
        values, 3.8 on Zipf integers)
      flags 0 (read, the earlier form): f64 items, level 0 in storage order, higher levels ascending

Level 0's storage order never changes what the sketch does (a full level 0 is sorted before it
is compacted), so the written form keeps it sorted and a loaded sketch holds it sorted. Varints
are LEB128 (7 bits a byte, low first) and must be minimal.

>>> s = KLL(k=200)
>>> s.update_batch(range(1, 11))
>>> s.quantile(0.5), s.quantile(0.5, inclusive=False), s.rank(5)
(5.0, 6.0, 0.5)
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from .. import _ids as ids
from .._base import INT64_MAX, Sketch, check_positive_int, check_probability, largest_fitting, parse_memory
from .._format import Reader, le_bytes, register
from ..errors import CorruptSketchError, InvalidParameterError
from ..hashing import DEFAULT_SEED, derive_key
from . import _kll_kernels as K
from ._values import as_value, as_values, as_values_and_range, check_q, check_qs, check_splits, nonneg_weights

FAMILY = ids.KLL
FLAG_PACKED = 1
MAX_K = 1 << 16
MAX_TOP = 8
MAX_LEVELS = 63  # an item of weight 2**62 is the heaviest an int64 total allows
#: rank_error(0.01) * k stays below this for unit-weight streams at top_levels=1: one item in
#: the first B >= k/2.25 gives 2.25/k, and every length measured up to 2**22 for k in 8..3000 stays
#: under 2.25 (tests/test_quantiles_kll.py checks a grid of lengths)
C_RANK = 2.5
_NO_WEIGHTS = np.empty(0, dtype=np.int64)
_SORT_BLOCK = 1 << 16  # items sorted per numpy call on the batch path (bounds the scratch copy)


def _put_varint(out: bytearray, value: int) -> None:
    """LEB128: 7 bits a byte, low first, high bit set on all but the last."""
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


_SIGN = np.uint64(1 << 63)


def _ordered_keys(values: np.ndarray) -> np.ndarray:
    """uint64 keys in the order of the floats (finite, no -0.0): positive floats with the sign
    bit set, negative ones with every bit flipped."""
    u = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    return np.where(u & _SIGN, ~u, u | _SIGN)


def _floats_of_keys(keys: np.ndarray) -> np.ndarray:
    return np.where(keys & _SIGN, keys ^ _SIGN, ~keys).view(np.float64)


def _put_varints(values: np.ndarray) -> bytes:
    """LEB128 of every uint64 in ``values``, concatenated (vectorised: one column a byte)."""
    if values.size == 0:
        return b""
    shifts = np.arange(0, 70, 7, dtype=np.uint64)
    digits = (values[:, None] >> shifts[None, :]).astype(np.uint64)  # what is left from byte j on
    more = np.zeros(digits.shape, dtype=bool)
    more[:, :-1] = digits[:, 1:] != 0
    used = np.ones(digits.shape, dtype=bool)
    used[:, 1:] = more[:, :-1]
    out = (digits & np.uint64(0x7F)).astype(np.uint8) | (more.astype(np.uint8) << np.uint8(7))
    return out[used].tobytes()


def _get_varints(data: bytes, count: int) -> np.ndarray:
    """Exactly ``count`` minimal LEB128 uint64 values filling ``data`` (CorruptSketchError else)."""
    b = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(b < 0x80)
    if ends.size != count or (count and int(ends[-1]) != b.size - 1) or (not count and b.size):
        raise CorruptSketchError(f"KLL packed items: {ends.size} values in {b.size} bytes, expected {count}")
    if count == 0:
        return np.empty(0, dtype=np.uint64)
    starts = np.empty(count, dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lens = ends - starts + 1
    pos = np.arange(b.size) - np.repeat(starts, lens)
    if int(lens.max()) > 10 or np.any((pos == 9) & (b > 1)):
        raise CorruptSketchError("KLL packed item beyond 64 bits")
    if np.any((lens > 1) & (b[ends] == 0)):
        raise CorruptSketchError("KLL packed items have a non-minimal varint")
    parts = (b & 0x7F).astype(np.uint64) << (np.uint64(7) * pos.astype(np.uint64))
    return np.bitwise_or.reduceat(parts, starts)


def _get_varint(reader: Reader, limit: int) -> int:
    value, shift = 0, 0
    while True:
        (byte,) = reader.unpack("B")
        value |= (byte & 0x7F) << shift
        if value > limit or shift > 63:
            raise CorruptSketchError("KLL level header out of range")
        if not byte & 0x80:
            if byte == 0 and shift:
                raise CorruptSketchError("KLL level header has a non-minimal varint")
            return value
        shift += 7


@functools.lru_cache(maxsize=64)
def _tables(k: int, top: int) -> tuple[np.ndarray, np.ndarray]:
    """Capacity tables shared by every sketch of these parameters (read-only)."""
    capd, capsum = K.capacity_tables(k, top)
    capd.flags.writeable = False
    capsum.flags.writeable = False
    return capd, capsum


class KLL(Sketch):
    """KLL quantile sketch over real numbers: mergeable, weighted, additive rank error.

    Parameters
    ----------
    k : capacity of the top level(s); about 3.2k items are kept. ``rank_error(0.01)`` <= 2.5/k.
    top_levels : levels kept at full capacity k (1 like DataSketches; more trades space for a
        smaller failure probability, see the module docstring).
    seed : keys the compaction coins (identity: checked on merge, stored in the bytes).

    Items are finite real numbers (int or float; ints beyond ±2**53 are refused as they have no
    exact float64); NaN and ±inf raise :class:`~sketchkit.errors.InvalidItemError` and the whole
    batch is rejected. Weights are non-negative ints. Queries on an empty sketch return NaN.
    """

    __slots__ = ("_k", "_top", "_buf0", "_n0", "_buf", "_lv", "_flips", "_pend", "_key", "_min", "_max")
    _family = FAMILY
    linear = False
    turnstile = False
    weighted = True
    item_kind = "float"
    _force = -1  # >= 0 only in tests: every compaction keeps that offset (a biased sketch)

    def __init__(self, k: int = 200, *, top_levels: int = 1, seed: int = DEFAULT_SEED):
        super().__init__(seed)
        self._k = check_positive_int("k", k, MAX_K)
        if self._k < K.MIN_CAP:
            raise InvalidParameterError(f"k must be at least {K.MIN_CAP}, got {k}")
        self._top = check_positive_int("top_levels", top_levels, MAX_TOP)
        self._key = np.uint64(derive_key(self._seed, ids.QUANTILES_DOMAIN, 0))
        big_b = K.level0_size(self._k)
        self._buf0 = np.empty(big_b, dtype=np.float64)
        self._n0 = 0
        self._buf = np.empty(big_b // 2, dtype=np.float64)
        self._lv = np.full(2, big_b // 2, dtype=np.int64)
        self._flips = np.zeros(1, dtype=np.int64)
        self._pend = np.full(1, -1, dtype=np.int64)
        self._min = math.nan
        self._max = math.nan

    # ------------------------------------------------------------------ sizing
    @classmethod
    def from_error(
        cls, epsilon: float, delta: float = 0.01, *, seed: int = DEFAULT_SEED
    ) -> KLL:
        """The smallest sketch whose :meth:`rank_error` ``(delta)`` stays ≤ ``epsilon`` for
        unit-weight streams: ``k = ⌈2.5·max(1, √(ln(2/δ)/ln 200))/ε⌉`` (2.5/k is the bound at
        δ = 0.01; the Azuma term grows like √ln(2/δ))."""
        epsilon = check_probability("epsilon", epsilon)
        delta = check_probability("delta", delta)
        scale = max(1.0, math.sqrt(math.log(2.0 / delta) / math.log(200.0)))
        k = max(K.MIN_CAP, math.ceil(C_RANK * scale / epsilon))
        if k > MAX_K:
            raise InvalidParameterError(f"epsilon={epsilon} needs k={k}, above the maximum {MAX_K}")
        return cls(k, seed=seed)

    @staticmethod
    def max_nbytes(k: int, top_levels: int = 1) -> int:
        """The most memory a sketch of these parameters can ever hold (all 63 levels in use)."""
        big_b = K.level0_size(k)
        return int(8 * (_tables(k, top_levels)[1][MAX_LEVELS - 1] + big_b + big_b // 2) + 24 * (MAX_LEVELS + 1))

    @classmethod
    def from_memory(cls, budget: int | str, *, top_levels: int = 1, seed: int = DEFAULT_SEED) -> KLL:
        """The largest ``k`` whose sketch can never hold more than ``budget`` bytes."""
        nbytes = parse_memory(budget)
        top = check_positive_int("top_levels", top_levels, MAX_TOP)
        if cls.max_nbytes(K.MIN_CAP, top) > nbytes:
            raise InvalidParameterError(
                f"memory budget {budget!r} is too small: the smallest KLL needs {cls.max_nbytes(K.MIN_CAP, top)} B"
            )
        k = largest_fitting(K.MIN_CAP, MAX_K, lambda k: cls.max_nbytes(k, top) <= nbytes)
        return cls(k, top_levels=top, seed=seed)

    @classmethod
    def _contract_examples(cls, seed: int) -> tuple[KLL, KLL]:
        return cls(16, seed=seed), cls(24, seed=seed)

    # ------------------------------------------------------------------ properties
    @property
    def k(self) -> int:
        return self._k

    @property
    def top_levels(self) -> int:
        return self._top

    @property
    def num_levels(self) -> int:
        return self._lv.shape[0] - 1

    @property
    def num_retained(self) -> int:
        """Items currently held (each stands for 2**level stream items)."""
        return int(self._n0 + self._buf.shape[0] - self._lv[1])

    @property
    def min(self) -> float:
        """Exact smallest item seen (NaN when empty)."""
        return self._min

    @property
    def max(self) -> float:
        """Exact largest item seen (NaN when empty)."""
        return self._max

    @property
    def nbytes(self) -> int:
        return int(
            self._buf0.nbytes + self._buf.nbytes + self._lv.nbytes + self._flips.nbytes + self._pend.nbytes
        )

    def _shape(self) -> tuple:
        return (self._k, self._top)

    def empty_like(self) -> KLL:
        return type(self)(self._k, top_levels=self._top, seed=self._seed)

    # ------------------------------------------------------------------ updates
    def update(self, item: Any, weight: int = 1) -> None:
        """Add ``weight`` copies of the number ``item`` (a batch of one)."""
        v = as_value(item)
        if weight.__class__ is int and weight == 1 and self._abs_total < INT64_MAX:
            if self._n0 + 1 < self._buf0.shape[0]:  # what the kernel does: append to level 0
                self._buf0[self._n0] = v
                self._n0 += 1
            else:  # level 0 fills up: the kernel compacts it
                self._feed(np.array([v]), None)
            self._min = v if math.isnan(self._min) else min(self._min, v)
            self._max = v if math.isnan(self._max) else max(self._max, v)
            self._total += 1
            self._abs_total += 1
            return
        self.update_batch(np.array([v]), [weight])

    def update_batch(self, values: Any, weights: Any = None) -> None:
        """Add a batch of numbers (numpy array fast path), bit-identical to looping :meth:`update`.

        Everything is checked before anything changes: a batch with a NaN, an inf, a non-number
        or a negative weight is refused whole."""
        arr, lo, hi = as_values_and_range(values)
        w, total = nonneg_weights(weights, arr.shape[0])
        if total == 0:
            return
        self._reserve(total)
        if w is not None and not np.all(w == 1):
            nz = w != 0
            lo, hi = float(arr[nz].min()), float(arr[nz].max())
            self._feed(arr, w)
        else:
            self._feed_unit(arr)
        self._min = lo if math.isnan(self._min) else min(self._min, lo)
        self._max = hi if math.isnan(self._max) else max(self._max, hi)
        self._total += total
        self._abs_total += total

    def _feed(self, arr: np.ndarray, w: np.ndarray | None) -> None:
        self._buf, self._lv, self._flips, self._pend, self._n0 = K.update(
            self._buf0, self._n0, self._buf, self._lv, self._flips, self._pend,
            *_tables(self._k, self._top), self._key, self._force, arr, _NO_WEIGHTS if w is None else w, w is not None,
        )

    def _feed_unit(self, arr: np.ndarray) -> None:
        """Weight-1 items: fill level 0, then sort the full chunks with numpy (any sort gives the
        same sorted run) and compact them in one compiled pass; the rest waits in level 0."""
        big_b = self._buf0.shape[0]
        room = big_b - self._n0
        n = arr.shape[0]
        if n < room + big_b:
            self._feed(arr, None)
            return
        self._feed(arr[:room], None)  # ends with a level-0 compaction
        runs = (n - room) // big_b
        step = max(1, _SORT_BLOCK // big_b)
        for r in range(0, runs, step):
            r1 = min(runs, r + step)
            block = np.sort(arr[room + r * big_b : room + r1 * big_b].reshape(r1 - r, big_b), axis=1)
            self._buf, self._lv, self._flips, self._pend = K.update_sorted_runs(
                block, self._buf, self._lv, self._flips, self._pend, *_tables(self._k, self._top), self._key,
                self._force,
            )
        self._feed(arr[room + runs * big_b :], None)

    # ------------------------------------------------------------------ merge
    def _merge_state(self, other: KLL) -> None:
        big_b = self._buf0.shape[0]
        half_b = big_b // 2
        la, lb = self.num_levels, other.num_levels
        n_levels = max(la, lb)
        parts = [np.empty(0)]
        sizes = np.zeros(n_levels, dtype=np.int64)
        for h in range(1, n_levels):
            a = self._buf[self._lv[h] : self._lv[h + 1]] if h < la else np.empty(0)
            b = other._buf[other._lv[h] : other._lv[h + 1]] if h < lb else np.empty(0)
            part = np.sort(np.concatenate([a, b]))
            parts.append(part)
            sizes[h] = part.shape[0]
        size = int(sizes.sum())
        length = max(size, int(_tables(self._k, self._top)[1][n_levels - 1])) + half_b
        buf = np.empty(length, dtype=np.float64)
        lv = np.empty(n_levels + 1, dtype=np.int64)
        lv[0] = lv[1] = length - size
        for h in range(1, n_levels):
            lv[h + 1] = lv[h] + sizes[h]
            buf[lv[h] : lv[h + 1]] = parts[h]
        flips = np.zeros(n_levels, dtype=np.int64)
        flips[:la] += self._flips
        flips[:lb] += other._flips
        pend = np.full(n_levels, -1, dtype=np.int64)
        capd, capsum = _tables(self._k, self._top)
        state = K.settle(buf, lv, flips, pend, capd, capsum, self._key, half_b, self._force)
        # level 0: the union, sorted; full runs of its smallest items are compacted
        zero = np.sort(np.concatenate([self._buf0[: self._n0], other._buf0[: other._n0]]))
        while zero.shape[0] >= big_b:
            state = K.compact0(zero[:big_b].copy(), *state, capd, capsum, self._key, half_b, self._force)
            zero = zero[big_b:]
        buf, lv, flips, pend = state
        cap = int(capsum[lv.shape[0] - 2]) + half_b
        if buf.shape[0] != cap:  # trim the slack a merge may leave
            shift = cap - buf.shape[0]
            nbuf = np.empty(cap, dtype=np.float64)
            nbuf[lv[1] + shift :] = buf[lv[1] :]
            buf, lv = nbuf, lv + shift
        self._buf, self._lv, self._flips, self._pend = buf, lv, flips, pend
        self._buf0[: zero.shape[0]] = zero
        self._n0 = int(zero.shape[0])
        if not math.isnan(other._min):
            self._min = other._min if math.isnan(self._min) else min(self._min, other._min)
            self._max = other._max if math.isnan(self._max) else max(self._max, other._max)

    # ------------------------------------------------------------------ queries
    def _view(self) -> tuple[np.ndarray, np.ndarray]:
        vals, wts = K.sorted_view(self._buf0, self._n0, self._buf, self._lv)
        return vals, np.cumsum(wts)

    def rank(self, x: Any, *, inclusive: bool = True) -> float:
        """Estimated fraction of the weight at or below ``x`` (``inclusive=False``: strictly below).
        Within :meth:`rank_error` of the truth with probability ≥ 1 − δ. NaN when empty."""
        v = as_value(x)
        if self._total == 0:
            return math.nan
        vals, cum = self._view()
        i = np.searchsorted(vals, v, side="right" if inclusive else "left")
        return float(cum[i - 1]) / self._total if i else 0.0

    def ranks(self, xs: Any, *, inclusive: bool = True) -> np.ndarray:
        """:meth:`rank` of each value of ``xs`` (an array)."""
        arr = as_values(xs)
        if self._total == 0:
            return np.full(arr.shape[0], math.nan)
        vals, cum = self._view()
        i = np.searchsorted(vals, arr, side="right" if inclusive else "left")
        c = np.concatenate([[0], cum])
        return c[i] / self._total

    def quantile(self, q: float, *, inclusive: bool = True) -> float:
        """A retained item whose rank is about ``q`` (see the module docstring for both
        conventions); ``q`` = 0 and 1 give the exact minimum and maximum. NaN when empty."""
        return float(self.quantiles([check_q(q)], inclusive=inclusive)[0])

    def quantiles(self, qs: Any, *, inclusive: bool = True) -> np.ndarray:
        """:meth:`quantile` for each rank in ``qs`` (an array in [0, 1])."""
        qa = check_qs(qs)
        if self._total == 0:
            return np.full(qa.shape[0], math.nan)
        vals, cum = self._view()
        target = qa * self._total
        idx = np.searchsorted(cum, target, side="left" if inclusive else "right")
        out = vals[np.minimum(idx, vals.shape[0] - 1)]
        out = np.where(idx >= vals.shape[0], self._max, out)
        out = np.where(qa == 0.0, self._min, out)
        out = np.where(qa == 1.0, self._max, out)
        return out

    def cdf(self, splits: Any, *, inclusive: bool = True) -> np.ndarray:
        """Estimated fraction of weight at or below (``inclusive``) each split point, then 1.0:
        ``len(splits) + 1`` values. Splits must be strictly increasing finite numbers."""
        sp = check_splits(splits)
        if self._total == 0:
            return np.full(sp.shape[0] + 1, math.nan)
        return np.concatenate([self.ranks(sp, inclusive=inclusive), [1.0]])

    def pmf(self, splits: Any, *, inclusive: bool = True) -> np.ndarray:
        """Estimated fraction of weight in each of the ``len(splits) + 1`` intervals the splits
        define (``(-inf, s0]``, ``(s0, s1]``, ..., ``(s_last, inf)`` when inclusive; half-open
        the other way when not)."""
        c = self.cdf(splits, inclusive=inclusive)
        return np.diff(np.concatenate([[0.0], c]))

    def rank_error(self, delta: float = 0.01) -> float:
        """ε such that one rank (or one quantile's rank) is within ε·N of the truth with
        probability ≥ 1 − δ: the Azuma bound of the module docstring, computed from the
        coins this sketch actually drew (0 while nothing was compacted)."""
        delta = check_probability("delta", delta)
        if self._total == 0:
            return 0.0
        f = self._flips.astype(np.float64)
        w = np.ldexp(1.0, np.arange(f.shape[0]))
        lin = f * w
        sq = f * w * w
        log_term = 2.0 * math.log(2.0 / delta)
        best = math.inf
        for j in range(f.shape[0] + 1):
            bound = float(lin[j:].sum()) + math.sqrt(log_term * float(sq[:j].sum()))
            best = min(best, bound)
        return best / self._total

    def guarantee(self) -> str:
        """The stated guarantee in words (what ``sketchkit info`` prints)."""
        return f"each rank within ±{self.rank_error(0.01):.4g} of the truth with probability 99%"

    def __repr__(self) -> str:
        err = f"±{100 * self.rank_error(0.01):.2g}% rank at 99%" if self._total else "empty"
        return (
            f"KLL(k={self._k}, top_levels={self._top}, seed={self._seed}, total_weight={self._total}, "
            f"retained={self.num_retained}, {err}, {self.nbytes} B)"
        )

    # ------------------------------------------------------------------ bytes
    def _head(self) -> bytes:
        sizes = np.diff(self._lv)
        sizes[0] = self._n0
        meta = bytearray()
        for size, f, pd in zip(sizes.tolist(), self._flips.tolist(), self._pend.tolist()):
            _put_varint(meta, size)
            _put_varint(meta, 3 * f + pd + 1)
        head = np.array([self._k], dtype="<u4").tobytes() + bytes([self._top, self.num_levels, 0, 0])
        head += np.array([self._total], dtype="<i8").tobytes()
        head += np.array([self._min, self._max], dtype="<f8").tobytes()
        return head + bytes(meta)

    def _payload(self) -> tuple[int, bytes]:
        upper = self._buf[self._lv[1] :]
        keys = _ordered_keys(np.concatenate([np.sort(self._buf0[: self._n0]), upper]))
        if keys.size:
            firsts = np.diff(self._lv)
            firsts[0] = self._n0
            starts = np.cumsum(firsts) - firsts  # where each level starts in keys
            gaps = np.empty_like(keys)
            gaps[0] = keys[0]
            np.subtract(keys[1:], keys[:-1], out=gaps[1:])
            at = starts[firsts > 0]
            gaps[at] = keys[at]  # each level starts with its first key itself
            keys = gaps
        return FLAG_PACKED, self._head() + _put_varints(keys)

    def _plain_payload(self) -> bytes:
        """The earlier layout (flags 0: f64 items), still read; the tests craft bytes with it."""
        return self._head() + le_bytes(self._buf0[: self._n0]) + le_bytes(self._buf[self._lv[1] :])

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader) -> KLL:
        if flags & ~FLAG_PACKED:
            raise CorruptSketchError(f"unknown flags {flags:#x} for KLL")
        k, top, n_levels, r0, r1, total, lo, hi = reader.unpack("IBBBBqdd")
        if not (K.MIN_CAP <= k <= MAX_K and 1 <= top <= MAX_TOP and 1 <= n_levels <= MAX_LEVELS) or r0 or r1:
            raise CorruptSketchError(f"invalid KLL parameters k={k}, top_levels={top}, levels={n_levels}")
        big_b = K.level0_size(k)
        sizes = np.empty(n_levels, dtype=np.int64)
        flips = np.empty(n_levels, dtype=np.int64)
        pend = np.empty(n_levels, dtype=np.int64)
        for h in range(n_levels):
            sizes[h] = _get_varint(reader, 1 << 32)
            coded = _get_varint(reader, 3 * INT64_MAX)
            flips[h], pend[h] = coded // 3, coded % 3 - 1
        n0 = int(sizes[0])
        upper = int(sizes[1:].sum())
        cap = int(_tables(k, top)[1][n_levels - 1])
        if n0 >= big_b or upper > cap:
            raise CorruptSketchError(f"KLL bytes hold more items than its capacity ({n0} + {upper})")
        if flags & FLAG_PACKED:
            keys = _get_varints(reader.raw(reader.remaining), n0 + upper)
            at = 0
            for size in sizes.tolist():
                if size:
                    run = np.cumsum(keys[at : at + size])
                    if np.any(run[1:] < run[:-1]):  # a gap that wrapped past 2**64
                        raise CorruptSketchError("KLL packed items overflow 64 bits")
                    keys[at : at + size] = run
                    at += size
            every = _floats_of_keys(keys)
            items0, items = every[:n0].copy(), every[n0:].copy()
        else:
            items0 = reader.array(np.float64, n0)
            items = reader.array(np.float64, upper)
        if np.any(flips < 0) or np.any((pend < -1) | (pend > 1)) or np.any((pend >= 0) & (flips == 0)):
            raise CorruptSketchError("invalid KLL coin counters")
        weight = sum(int(s) << h for h, s in enumerate(sizes.tolist()))
        if weight != total or total > INT64_MAX:
            raise CorruptSketchError(f"KLL total weight {total} does not match its items ({weight})")
        every = np.concatenate([items0, items])
        if every.size:
            if not np.isfinite(every).all() or not (math.isfinite(lo) and math.isfinite(hi)):
                raise CorruptSketchError("KLL bytes hold a non-finite item")
            if every.min() < lo or every.max() > hi:
                raise CorruptSketchError("KLL items outside the recorded minimum and maximum")
            if np.any(np.signbit(every) & (every == 0)):
                raise CorruptSketchError("KLL bytes hold -0.0, which updates store as 0.0")
        elif not (math.isnan(lo) and math.isnan(hi)) or np.any(flips) or n_levels > 1:
            raise CorruptSketchError("an empty KLL must have one level and no minimum, maximum or coins")
        length = cap + big_b // 2
        lv = np.empty(n_levels + 1, dtype=np.int64)
        lv[0] = lv[1] = length - upper
        for h in range(1, n_levels):
            lv[h + 1] = lv[h] + sizes[h]
            if np.any(np.diff(items[lv[h] - lv[1] : lv[h + 1] - lv[1]]) < 0):
                raise CorruptSketchError(f"KLL level {h} is not sorted")
        buf = np.empty(length, dtype=np.float64)
        buf[lv[1] :] = items
        out = cls.__new__(cls)
        Sketch.__init__(out, seed)
        out._k, out._top = int(k), int(top)
        out._key = np.uint64(derive_key(out._seed, ids.QUANTILES_DOMAIN, 0))
        out._buf0 = np.empty(big_b, dtype=np.float64)
        out._buf0[:n0] = items0
        out._n0 = n0
        out._buf, out._lv, out._flips, out._pend = buf, lv, flips, pend
        out._min, out._max = float(lo), float(hi)
        out._total = out._abs_total = int(total)
        return out


register(FAMILY, KLL)
