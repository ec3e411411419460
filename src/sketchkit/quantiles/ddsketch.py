r"""DDSketch: quantiles with relative *value* error (Masson, Rim, Lee, VLDB 2019).

A positive value :math:`x` is counted in bucket :math:`i = \lceil \log_\gamma x \rceil`,
:math:`\gamma = (1+\alpha)/(1-\alpha)`, i.e. the bucket :math:`(\gamma^{i-1}, \gamma^i]`, whose
representative :math:`2\gamma^i/(\gamma+1)` is within :math:`\alpha` of every value in it. Negative
values use a mirrored store of :math:`|x|`; zero (and any :math:`|x|` below the smallest normal
float, 2.2e-308) has its own counter. Counts are exact integers, so two sketches merge by adding
counts and ``merge(sk(A), sk(B)) == sk(A ++ B)`` bit for bit (``linear``).

**Guarantee** (what ``tests/test_quantiles_ddsketch.py`` checks; deterministic, no probability).
Let :math:`v` be the true q-quantile in the chosen convention (``inclusive=True``: the smallest
stream value whose inclusive rank is :math:`\ge qN`; ``inclusive=False``: the smallest whose
inclusive rank is :math:`> qN`; the same conventions as :class:`~sketchkit.quantiles.KLL`). Then
``quantile(q)`` :math:`\hat v` satisfies :math:`|\hat v - v| \le \alpha |v|` (up to floating-point
rounding of the logarithm, below :math:`10^{-12}` relative), as long as :math:`|v|` is above
:attr:`DDSketch.collapsed_below`. ``q`` = 0 and 1 give the exact minimum and maximum.

**Bounded memory.** Each store keeps at most ``max_buckets`` consecutive buckets, anchored at the
largest magnitude seen; buckets below the window are *collapsed* into its lowest bucket (the
smallest magnitudes: for latencies, the fast requests). Two sketches merge to the same collapsed
state a single pass would reach. After a collapse the guarantee above holds for every
:math:`|v| > ` ``collapsed_below`` (:math:`\gamma^{i_{low}-1}`, reported per sign); a quantile whose
true value lies below it is reported as that lowest bucket's value: never smaller in magnitude
than the truth, and at most :math:`\gamma^{i_{low}}`. At α = 1 % the default 2048 buckets span a
ratio of :math:`\gamma^{2048} \approx 6 \cdot 10^{17}` between the largest and the smallest value
kept exactly (nanoseconds to centuries), so collapse is rare in practice.

**Ranks.** Bucket counts bound ranks without any probability: for every :math:`x`,
``rank(x, inclusive=False)`` :math:`\le R^-(x) \le R(x) \le` ``rank(x)`` (the first counts the
buckets wholly below :math:`x`'s, the second adds :math:`x`'s bucket).

**When to use it.** Tails of positive, wide-ranging data (latency p99/p99.9, sizes, prices):
the value error stays α whatever the rank, where a rank-error sketch (:class:`KLL`) with
ε = 1 % may answer p99.9 with any value between p98.9 and p100. Not for data whose scale is
meaningless (ids, ordinals), nor where values cluster far from zero with a narrow spread
(timestamps: α of 1.7e9 s is 200 days); use :class:`KLL` there.

Payload layout (little-endian), after the common header of :mod:`sketchkit._format`::

    f64 alpha | u32 max_buckets | u32 reserved (0) | i64 total weight | i64 zero count
    | f64 min | f64 max | then for the positive and the negative store:
    i32 lowest index | u32 bucket count n | i64 counts[n] (first and last non-zero)

Flags: bit 0 the positive store has collapsed, bit 1 the negative store has.

>>> s = DDSketch(alpha=0.01)
>>> s.update_batch([1.0, 2.0, 3.0, 4.0, 1000.0])
>>> abs(s.quantile(0.5) - 3.0) <= 0.01 * 3.0
True
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from .. import _ids as ids
from .._base import INT64_MAX, Sketch, check_positive_int, parse_memory
from .._format import Reader, le_bytes, register
from ..errors import CorruptSketchError, InvalidParameterError
from ..hashing import DEFAULT_SEED
from . import _dd_kernels as K
from ._values import as_value, as_values, check_q, check_qs, check_splits, nonneg_weights

FAMILY = ids.RELATIVE_QUANTILES
FLAG_POS_COLLAPSED = 1
FLAG_NEG_COLLAPSED = 2
MIN_ALPHA, MAX_ALPHA = 1e-6, 0.5
MAX_BUCKETS = 1 << 24
_BLOCK = 1 << 16  # items indexed per pass (bounds the scratch arrays)
_ALLOC_STEP = 128  # a store's array grows in steps of this many buckets (never past max_buckets)
_FLOAT_SIZE = sys.getsizeof(1.5)  # alpha, gamma, mult, min, max
_OVERHEAD = 1024  # the objects around the two stores' counts (DDSketch.nbytes measures them)


class _Store:
    """Counts of buckets ``off .. off + len(counts) - 1``; non-zero ones lie in ``lo .. hi``."""

    __slots__ = ("counts", "off", "lo", "hi", "collapsed")

    def __init__(self) -> None:
        self.counts = np.zeros(0, dtype=np.int64)
        self.off = 0
        self.lo = 1
        self.hi = 0  # lo > hi: empty
        self.collapsed = False

    @property
    def empty(self) -> bool:
        return self.lo > self.hi

    def span(self) -> np.ndarray:
        """Counts of buckets lo..hi (a view)."""
        if self.empty:
            return self.counts[:0]
        return self.counts[self.lo - self.off : self.hi - self.off + 1]

    def reserve(self, bmin: int, bmax: int, limit: int) -> int:
        """Make room for indices ``bmin..bmax`` with at most ``limit`` buckets anchored at the
        largest index; fold what falls under the window into its lowest bucket. Returns the
        floor (lowest bucket kept)."""
        hi = bmax if self.empty else max(self.hi, bmax)
        lo = bmin if self.empty else min(self.lo, bmin)
        floor = max(lo, hi - limit + 1)
        if not self.empty and self.lo < floor:
            self.collapsed = True
        if bmin < floor:
            self.collapsed = True
        inside = self.off <= floor and hi < self.off + self.counts.shape[0]
        if not inside:
            size = min(limit, -(-(hi - floor + 1) // _ALLOC_STEP) * _ALLOC_STEP)
            counts = np.zeros(size, dtype=np.int64)
            old = self.span()
            if old.shape[0]:
                tgt = np.maximum(np.arange(self.lo, self.hi + 1), floor) - floor
                np.add.at(counts, tgt, old)
            self.counts, self.off = counts, floor
        elif not self.empty and self.lo < floor:
            a, b = self.lo - self.off, floor - self.off
            self.counts[b] += self.counts[a:b].sum()
            self.counts[a:b] = 0
        self.lo = max(lo, floor)
        self.hi = hi
        return floor

    def trim(self) -> None:
        """Shrink lo/hi to the first and last non-zero bucket (zero-weight items add nothing)."""
        span = self.span()
        nz = np.flatnonzero(span)
        if nz.shape[0] == 0:
            self.lo, self.hi = 1, 0
        else:
            self.lo, self.hi = self.lo + int(nz[0]), self.lo + int(nz[-1])

    def copy(self) -> _Store:
        out = _Store()
        out.counts, out.off, out.lo, out.hi = self.counts.copy(), self.off, self.lo, self.hi
        out.collapsed = self.collapsed
        return out


class DDSketch(Sketch):
    """Relative-error quantile sketch (DDSketch-style log buckets), mergeable exactly.

    Parameters
    ----------
    alpha : relative accuracy: every reported quantile is within ``alpha·|value|`` of the true
        one (1e-6 .. 0.5; default 1 %).
    max_buckets : buckets kept per sign (default 2048; ~ 16 KiB each at most). Past that span
        the smallest magnitudes are collapsed (see :attr:`collapsed_below`).
    seed : identity only (the sketch has no randomness); checked on merge like every sketch.

    Items are finite real numbers; NaN and ±inf raise :class:`~sketchkit.errors.InvalidItemError`
    and the whole batch is rejected. Weights are non-negative ints. Queries on an empty sketch
    return NaN.
    """

    __slots__ = ("_alpha", "_gamma", "_mult", "_limit", "_pos", "_neg", "_zero", "_min", "_max")
    _family = FAMILY
    linear = True
    turnstile = False
    weighted = True
    item_kind = "float"

    def __init__(self, alpha: float = 0.01, *, max_buckets: int = 2048, seed: int = DEFAULT_SEED):
        super().__init__(seed)
        try:
            a = float(alpha)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"alpha must be a number, got {alpha!r}") from None
        if not MIN_ALPHA <= a <= MAX_ALPHA:
            raise InvalidParameterError(f"alpha must be in [{MIN_ALPHA}, {MAX_ALPHA}], got {alpha!r}")
        self._alpha = a
        self._gamma = (1.0 + a) / (1.0 - a)
        self._mult = 1.0 / math.log(self._gamma)
        self._limit = check_positive_int("max_buckets", max_buckets, MAX_BUCKETS)
        self._pos = _Store()
        self._neg = _Store()
        self._zero = 0
        self._min = math.nan
        self._max = math.nan

    # ------------------------------------------------------------------ sizing
    @classmethod
    def from_error(cls, alpha: float = 0.01, *, max_buckets: int = 2048, seed: int = DEFAULT_SEED) -> DDSketch:
        """A sketch whose quantiles are within ``alpha`` relative error (the guarantee's one
        parameter; the bucket limit only matters past a 6e17 value range at 1 %)."""
        return cls(alpha, max_buckets=max_buckets, seed=seed)

    @classmethod
    def from_memory(cls, budget: int | str, *, alpha: float = 0.01, seed: int = DEFAULT_SEED) -> DDSketch:
        """The most buckets per sign whose two stores can never hold more than ``budget`` bytes."""
        nbytes = parse_memory(budget)
        limit = (nbytes - _OVERHEAD) // 16
        if limit < 1:
            raise InvalidParameterError(f"memory budget {budget!r} is too small for a DDSketch")
        return cls(alpha, max_buckets=min(limit, MAX_BUCKETS), seed=seed)

    @classmethod
    def _contract_examples(cls, seed: int) -> tuple[DDSketch, DDSketch]:
        return cls(0.02, max_buckets=64, seed=seed), cls(0.05, max_buckets=64, seed=seed)

    # ------------------------------------------------------------------ properties
    @property
    def alpha(self) -> float:
        """Relative accuracy of every quantile above :attr:`collapsed_below`."""
        return self._alpha

    @property
    def max_buckets(self) -> int:
        return self._limit

    @property
    def num_buckets(self) -> int:
        """Non-empty-range buckets held (both signs)."""
        return sum(0 if s.empty else s.hi - s.lo + 1 for s in (self._pos, self._neg))

    @property
    def collapsed_below(self) -> tuple[float, float]:
        """``(positive, negative)`` magnitude thresholds: quantiles whose true magnitude is above
        the threshold of their sign keep the α guarantee. 0.0 where that store never collapsed."""
        out = []
        for s in (self._pos, self._neg):
            out.append(math.exp((s.lo - 1) / self._mult) if s.collapsed else 0.0)
        return out[0], out[1]

    @property
    def min(self) -> float:
        return self._min

    @property
    def max(self) -> float:
        return self._max

    @property
    def nbytes(self) -> int:
        """The two stores' counts plus the Python objects around them (measured per object)."""
        held = sys.getsizeof(self) + 5 * _FLOAT_SIZE
        for s in (self._pos, self._neg):
            held += sys.getsizeof(s) + sys.getsizeof(s.counts)  # an owning array includes its data
        return int(held)

    def _shape(self) -> tuple:
        return (self._alpha, self._limit)

    def empty_like(self) -> DDSketch:
        return type(self)(self._alpha, max_buckets=self._limit, seed=self._seed)

    # ------------------------------------------------------------------ updates
    def update(self, item: Any, weight: int = 1) -> None:
        """Add ``weight`` copies of the number ``item`` (a batch of one)."""
        self.update_batch(np.array([as_value(item)]), [weight])

    def update_batch(self, values: Any, weights: Any = None) -> None:
        """Add a batch of numbers; the same as looping :meth:`update` (counting is order-free).
        A batch with a NaN, an inf, a non-number or a negative weight is refused whole."""
        arr = as_values(values)
        w, total = nonneg_weights(weights, arr.shape[0])
        if total == 0:
            return
        self._reserve(total)
        if w is not None and not np.all(w):
            keep = w != 0
            arr, w = arr[keep], w[keep]
        for a in range(0, arr.shape[0], _BLOCK):
            self._count(arr[a : a + _BLOCK], None if w is None else w[a : a + _BLOCK])
        lo, hi = float(arr.min()), float(arr.max())
        self._min = lo if math.isnan(self._min) else min(self._min, lo)
        self._max = hi if math.isnan(self._max) else max(self._max, hi)
        self._total += total
        self._abs_total += total

    def _count(self, arr: np.ndarray, w: np.ndarray | None) -> None:
        idx = np.empty(arr.shape[0], dtype=np.int64)
        sign = np.empty(arr.shape[0], dtype=np.int8)
        pmin, pmax, nmin, nmax = K.indices(arr, self._mult, idx, sign)
        floors = []
        for s, bmin, bmax in ((self._pos, pmin, pmax), (self._neg, nmin, nmax)):
            floors.append(s.reserve(int(bmin), int(bmax), self._limit) if bmin <= bmax else s.off)
        p, n = self._pos, self._neg
        self._zero += int(
            K.count(idx, sign, _NO_WEIGHTS if w is None else w, w is not None,
                    p.counts, p.off, floors[0], n.counts, n.off, floors[1])
        )

    # ------------------------------------------------------------------ merge
    def _merge_state(self, other: DDSketch) -> None:
        for mine, theirs in ((self._pos, other._pos), (self._neg, other._neg)):
            if theirs.empty:
                continue
            floor = mine.reserve(theirs.lo, theirs.hi, self._limit)
            idx = np.maximum(np.arange(theirs.lo, theirs.hi + 1), floor) - mine.off
            np.add.at(mine.counts, idx, theirs.span())
            mine.collapsed |= theirs.collapsed
        self._zero += other._zero
        if not math.isnan(other._min):
            self._min = other._min if math.isnan(self._min) else min(self._min, other._min)
            self._max = other._max if math.isnan(self._max) else max(self._max, other._max)

    # ------------------------------------------------------------------ queries
    def _rep(self, i: np.ndarray) -> np.ndarray:
        return np.exp(i / self._mult) * (2.0 / (self._gamma + 1.0))

    def _buckets(self) -> tuple[np.ndarray, np.ndarray]:
        """Bucket representatives in increasing order and their cumulative counts."""
        neg, pos = self._neg, self._pos
        vals, cnts = [], []
        if not neg.empty:
            vals.append(-self._rep(np.arange(neg.hi, neg.lo - 1, -1, dtype=np.float64)))
            cnts.append(neg.span()[::-1])
        vals.append(np.zeros(1))
        cnts.append(np.array([self._zero], dtype=np.int64))
        if not pos.empty:
            vals.append(self._rep(np.arange(pos.lo, pos.hi + 1, dtype=np.float64)))
            cnts.append(pos.span())
        return np.concatenate(vals), np.cumsum(np.concatenate(cnts))

    def quantile(self, q: float, *, inclusive: bool = True) -> float:
        """The value at rank ``q`` within ``alpha`` relative error (module docstring); ``q`` = 0
        and 1 give the exact minimum and maximum. NaN when empty."""
        return float(self.quantiles([check_q(q)], inclusive=inclusive)[0])

    def quantiles(self, qs: Any, *, inclusive: bool = True) -> np.ndarray:
        """:meth:`quantile` for each rank in ``qs``."""
        qa = check_qs(qs)
        if self._total == 0:
            return np.full(qa.shape[0], math.nan)
        vals, cum = self._buckets()
        idx = np.searchsorted(cum, qa * self._total, side="left" if inclusive else "right")
        out = vals[np.minimum(idx, vals.shape[0] - 1)]
        out = np.clip(out, self._min, self._max)
        out = np.where(qa == 0.0, self._min, out)
        out = np.where((qa == 1.0) | (idx >= vals.shape[0]), self._max, out)
        return out

    def _bucket_ranks(self, x: np.ndarray, inclusive: bool) -> np.ndarray:
        """Weight of the buckets below (exclusive) or up to (inclusive) each value's bucket."""
        idx = np.empty(x.shape[0], dtype=np.int64)
        sign = np.empty(x.shape[0], dtype=np.int8)
        K.indices(x, self._mult, idx, sign)
        for store, sgn in ((self._pos, 1), (self._neg, -1)):
            if store.collapsed:  # values under the window are counted in its lowest bucket
                mask = sign == sgn
                idx[mask] = np.maximum(idx[mask], store.lo)
        rep = self._rep(idx.astype(np.float64))
        rep = np.where(sign > 0, rep, np.where(sign < 0, -rep, 0.0))
        vals, cum = self._buckets()
        at = np.searchsorted(vals, rep, side="right" if inclusive else "left")
        return np.concatenate([[0], cum])[at] / self._total

    def rank(self, x: Any, *, inclusive: bool = True) -> float:
        """Bucket-level rank: ``rank(x)`` is an upper bound of the fraction of weight ≤ x and
        ``rank(x, inclusive=False)`` a lower bound of the fraction < x. NaN when empty."""
        v = as_value(x)
        if self._total == 0:
            return math.nan
        return float(self._bucket_ranks(np.array([v]), inclusive)[0])

    def ranks(self, xs: Any, *, inclusive: bool = True) -> np.ndarray:
        arr = as_values(xs)
        if self._total == 0:
            return np.full(arr.shape[0], math.nan)
        return self._bucket_ranks(arr, inclusive)

    def cdf(self, splits: Any, *, inclusive: bool = True) -> np.ndarray:
        """:meth:`rank` at each split, then 1.0 (``len(splits) + 1`` values)."""
        sp = check_splits(splits)
        if self._total == 0:
            return np.full(sp.shape[0] + 1, math.nan)
        return np.concatenate([self._bucket_ranks(sp, inclusive), [1.0]])

    def pmf(self, splits: Any, *, inclusive: bool = True) -> np.ndarray:
        """Differences of :meth:`cdf`: weight per interval between splits (bucket resolution)."""
        c = self.cdf(splits, inclusive=inclusive)
        return np.diff(np.concatenate([[0.0], c]))

    def guarantee(self) -> str:
        """The stated guarantee in words (what ``sketchkit info`` prints)."""
        cut = self.collapsed_below
        extra = f" (for magnitudes above {cut[0]:.3g} / {cut[1]:.3g}: collapsed below)" if any(cut) else ""
        return f"every quantile within ±{100 * self._alpha:g}% of the true value{extra}"

    def __repr__(self) -> str:
        cut = self.collapsed_below
        extra = f", collapsed below {cut}" if any(cut) else ""
        return (
            f"DDSketch(alpha={self._alpha}, max_buckets={self._limit}, seed={self._seed}, "
            f"total_weight={self._total}, ±{100 * self._alpha:g}% value{extra}, {self.nbytes} B)"
        )

    # ------------------------------------------------------------------ bytes
    def _payload(self) -> tuple[int, bytes]:
        flags = (FLAG_POS_COLLAPSED if self._pos.collapsed else 0) | (FLAG_NEG_COLLAPSED if self._neg.collapsed else 0)
        out = [
            np.array([self._alpha], dtype="<f8").tobytes(),
            np.array([self._limit, 0], dtype="<u4").tobytes(),
            np.array([self._total, self._zero], dtype="<i8").tobytes(),
            np.array([self._min, self._max], dtype="<f8").tobytes(),
        ]
        for s in (self._pos, self._neg):
            span = s.span()
            out.append(np.array([s.lo if span.shape[0] else 0], dtype="<i4").tobytes())
            out.append(np.array([span.shape[0]], dtype="<u4").tobytes())
            out.append(le_bytes(span))
        return flags, b"".join(out)

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader) -> DDSketch:
        if flags & ~(FLAG_POS_COLLAPSED | FLAG_NEG_COLLAPSED):
            raise CorruptSketchError(f"unknown flags {flags:#x} for DDSketch")
        alpha, limit, reserved, total, zero, lo_v, hi_v = reader.unpack("dIIqqdd")
        if reserved or not (MIN_ALPHA <= alpha <= MAX_ALPHA) or not 1 <= limit <= MAX_BUCKETS:
            raise CorruptSketchError(f"invalid DDSketch parameters alpha={alpha}, max_buckets={limit}")
        out = cls(alpha, max_buckets=limit, seed=seed)
        # bucket indices a finite float64 can reach
        top = math.ceil(math.log(1.7976931348623157e308) * out._mult) + 1
        bottom = math.ceil(math.log(K.MIN_INDEXABLE) * out._mult) - 1
        weight = zero
        if zero < 0:
            raise CorruptSketchError("negative zero-bucket count in DDSketch bytes")
        for s, flag in ((out._pos, FLAG_POS_COLLAPSED), (out._neg, FLAG_NEG_COLLAPSED)):
            lo, n = reader.unpack("iI")
            if n > limit:
                raise CorruptSketchError(f"DDSketch store of {n} buckets exceeds max_buckets={limit}")
            counts = reader.array(np.int64, n)
            if n:
                if counts[0] <= 0 or counts[-1] <= 0 or np.any(counts < 0):
                    raise CorruptSketchError("DDSketch store counts must be non-negative with non-zero ends")
                if lo < bottom or lo + n - 1 > top:
                    raise CorruptSketchError("DDSketch bucket index outside the float64 range")
                s.counts, s.off, s.lo, s.hi = counts, lo, lo, lo + n - 1
                weight += sum(counts.tolist())
            elif lo:
                raise CorruptSketchError("empty DDSketch store with a non-zero index")
            s.collapsed = bool(flags & flag)
            if s.collapsed and not n:
                raise CorruptSketchError("an empty DDSketch store cannot have collapsed")
        if weight != total or total > INT64_MAX:
            raise CorruptSketchError(f"DDSketch total weight {total} does not match its counts ({weight})")
        if total:
            if not (math.isfinite(lo_v) and math.isfinite(hi_v) and lo_v <= hi_v):
                raise CorruptSketchError("DDSketch minimum/maximum invalid")
            tiny = K.MIN_INDEXABLE
            if (lo_v < -tiny) != (not out._neg.empty) or (hi_v > tiny) != (not out._pos.empty):
                raise CorruptSketchError("DDSketch minimum/maximum disagree with its stores")
            if (zero > 0) and not (lo_v <= tiny and hi_v >= -tiny):
                raise CorruptSketchError("DDSketch zero count outside its minimum/maximum")
        elif not (math.isnan(lo_v) and math.isnan(hi_v)):
            raise CorruptSketchError("an empty DDSketch must have no minimum or maximum")
        out._zero = int(zero)
        out._min, out._max = float(lo_v), float(hi_v)
        out._total = out._abs_total = int(total)
        return out


_NO_WEIGHTS = np.empty(0, dtype=np.int64)

register(FAMILY, DDSketch)
