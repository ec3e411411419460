r"""Set operations on distinct counts: the θ (KMV) sketch (Bar-Yossef et al., RANDOM 2002;
Dasgupta, Lang, Rhodes, Thaler, "A Framework for Estimating Stream Expression Cardinalities",
ICDT 2016 -- the model of Apache DataSketches' Theta sketch).

A :class:`ThetaSketch` keeps the item hashes (63 bits: the item hash shifted right by one) below
a threshold θ, at most ``k`` of them: θ is the (k+1)-th smallest distinct hash seen (``2**63``,
"everything", until more than ``k`` distinct items arrived). With :math:`p = \theta/2^{63}` each
distinct item is in the sample with probability ``p``, so :math:`\hat n = |\text{sample}|/p`.
The state is the k smallest distinct hashes, whatever the order: merging two sketches equals
one pass over both streams, bit for bit (``linear``).

Set expressions keep that form. Union: the smallest ``k`` hashes below :math:`\min\theta` of
both. Intersection :math:`A\cap B` and difference :math:`A\setminus B`: the hashes below
:math:`\theta = \min(\theta_A, \theta_B)` kept by both, or by A and not B; Jaccard: the share
of the union's sample (below the same θ) found in both.

**Guarantee** (what ``tests/test_theta.py`` checks over 1,000 seeds). For any estimate
:math:`\hat n = c/p` of a set of :math:`n` distinct items from a sample of ``c`` hashes at
probability ``p``, conditional on θ the count ``c`` is Binomial(n, p), so

* the estimate is unbiased with relative standard error :math:`\sqrt{(1-p)/(p\,n)}`; for one
  sketch or a union :math:`p\,n \approx k`, so about :math:`1/\sqrt{k}`;
* :meth:`ThetaSketch.bounds` ``(delta)`` brackets ``n`` with probability at least
  :math:`1-\delta`: the score interval :math:`|c - np| \le z\sqrt{np(1-p)}` solved for ``n``,
  with :math:`z = \sqrt{2\ln(2/\delta)}` (a sub-Gaussian tail, wider than the normal quantile);
* for an intersection or difference the sample is the part of the two samples at
  :math:`\theta=\min(\theta_A,\theta_B) \approx k/\max(|A|,|B|)` that falls in the result, so
  its relative standard error is :math:`\sqrt{(1-p)/(p\,|A\cap B|)} \approx
  \sqrt{\max(|A|,|B|)/(k\,|A\cap B|)} \le \sqrt{|A\cup B|/(k\,|A\cap B|)}`: **when
  :math:`|A\cap B| \ll |A\cup B|` it grows like the square root of that ratio** (k = 4,096,
  :math:`|A\cup B| = 10^6`, :math:`|A\cap B| = 10^3`: about 50 %); the bounds widen with it, and
  a result sample of ``c = 0`` still gives a finite upper bound;
* Jaccard :math:`J = |A\cap B|/|A\cup B|`: the share :math:`\hat J = c_\cap / c_\cup` of the
  union sample below θ (a hypergeometric draw, :math:`c_\cup \approx k`), with the score interval
  of a proportion with the same ``z`` as bounds.

Exactly: while fewer than ``k + 1`` distinct items were seen, θ is ``2**63`` and every
estimate is the exact count (up to 63-bit hash collisions).

**Byte layout** of the payload (little-endian): u32 k, u64 θ (1..2**63), u64 updates
(total_weight), u32 count (<= k), then count strictly increasing u64 hashes, each < θ.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from .. import _ids as ids
from .._base import Sketch, as_weights, check_positive_int, check_probability, largest_fitting, parse_memory
from .._format import Reader, register
from ..errors import CorruptSketchError, IncompatibleSketchError, InvalidParameterError, ItemTypeError
from ..hashing import DEFAULT_SEED
from . import _ell as E

FAMILY = ids.THETA
THETA_MAX = 1 << 63
MIN_K = 16
MAX_K = 1 << 26


def _z(delta: float) -> float:
    return math.sqrt(2.0 * math.log(2.0 / delta))


def score_interval(c: int, p: float, z: float) -> tuple[float, float]:
    """All n >= c with |c - n p| <= z sqrt(n p (1 - p)) (a binomial count c at probability p)."""
    if p >= 1.0:
        return float(c), float(c)
    q = 1.0 - p
    # (c - n p)^2 = z^2 n p q  ->  p^2 n^2 - (2 c p + z^2 p q) n + c^2 = 0
    a = p * p
    b = -(2.0 * c * p + z * z * p * q)
    disc = max(b * b - 4.0 * a * c * c, 0.0)
    lo = (-b - math.sqrt(disc)) / (2.0 * a)
    hi = (-b + math.sqrt(disc)) / (2.0 * a)
    return max(float(c), lo), hi


def proportion_interval(x: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion x / n."""
    if n == 0:
        return 0.0, 1.0
    ph = x / n
    den = 1.0 + z * z / n
    mid = (ph + z * z / (2 * n)) / den
    half = z * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


class ThetaSketch(Sketch):
    """θ sketch: distinct count with union, intersection, difference and Jaccard.

    Parameters
    ----------
    k : hashes kept (relative standard error about 1/sqrt(k); 8 bytes each). Default 4096.
    seed : the hash seed (identity; checked on merge and by every set operation).
    """

    __slots__ = ("_k", "_theta", "_hashes")
    _family = FAMILY
    linear: ClassVar[bool] = True
    turnstile: ClassVar[bool] = False
    weighted: ClassVar[bool] = False
    item_kind: ClassVar[str] = "any"
    hashed_updates: ClassVar[bool] = True

    def __init__(self, k: int = 4096, *, seed: int = DEFAULT_SEED):
        super().__init__(seed)
        k = check_positive_int("k", k, MAX_K)
        if k < MIN_K:
            raise InvalidParameterError(f"k must be at least {MIN_K}, got {k}")
        self._k = k
        self._theta = THETA_MAX
        self._hashes = np.empty(0, dtype=np.uint64)

    @classmethod
    def from_error(cls, epsilon: float, delta: float = 0.01, *, seed: int = DEFAULT_SEED) -> ThetaSketch:
        """Smallest k whose single-set estimate is within ``epsilon`` (relative) with probability
        >= 1 - delta: z / sqrt(k) <= epsilon, z = sqrt(2 ln(2/delta))."""
        epsilon = check_probability("epsilon", epsilon)
        delta = check_probability("delta", delta)
        k = max(MIN_K, math.ceil((_z(delta) / epsilon) ** 2))
        if k > MAX_K:
            raise InvalidParameterError(f"epsilon={epsilon} needs k={k} > {MAX_K}")
        return cls(k, seed=seed)

    @classmethod
    def from_memory(cls, budget: int | str, *, seed: int = DEFAULT_SEED) -> ThetaSketch:
        """The largest k whose full sample (8 bytes a hash) fits in ``budget``."""
        b = parse_memory(budget)
        if 8 * MIN_K > b:
            raise InvalidParameterError(f"memory budget {b} B is below the smallest ThetaSketch ({8 * MIN_K} B)")
        return cls(largest_fitting(MIN_K, MAX_K, lambda k: 8 * k <= b), seed=seed)

    @classmethod
    def _contract_examples(cls, seed: int) -> tuple[ThetaSketch, ThetaSketch]:
        return cls(32, seed=seed), cls(64, seed=seed)

    def empty_like(self) -> ThetaSketch:
        return ThetaSketch(self._k, seed=self._seed)

    # ------------------------------------------------------------------ properties
    @property
    def k(self) -> int:
        return self._k

    @property
    def theta(self) -> float:
        """The sampling probability p = θ / 2**63 (1.0 while exact)."""
        return self._theta / THETA_MAX

    @property
    def retained(self) -> int:
        return int(self._hashes.size)

    @property
    def shape(self) -> tuple:
        return (self._k,)

    def _shape(self) -> tuple:
        return (self._k,)

    @property
    def nbytes(self) -> int:
        return int(self._hashes.nbytes)

    def is_exact(self) -> bool:
        return self._theta == THETA_MAX

    # ------------------------------------------------------------------ updates
    def _check_weights(self, weights, abs_total) -> None:
        if weights is not None and weights.size and (int(weights.min()) != 1 or int(weights.max()) != 1):
            raise InvalidParameterError("ThetaSketch counts distinct items and takes no weights (only weight 1)")

    def _update_keys(self, keys, raw, weights, batch) -> None:
        self._absorb(E.hash_keys(keys, bool(raw), self._item_seed) >> np.uint64(1))

    def update_hashed(self, hashes: Any, weights: Any = None) -> None:
        """Add items by their 64-bit :meth:`item_hashes` (a one-dimensional uint64 array)."""
        arr = np.asarray(hashes)
        if arr.dtype != np.uint64 or arr.ndim != 1:
            raise ItemTypeError(f"hashes must be a one-dimensional uint64 array, got {arr.dtype} of shape {arr.shape}")
        w, total, abs_total = as_weights(weights, arr.shape[0])
        self._check_weights(w, abs_total)
        if arr.shape[0] == 0:
            return
        self._reserve(abs_total)
        self._absorb(arr >> np.uint64(1))
        self._total += total
        self._abs_total += abs_total

    def item_hashes(self, items: Any) -> np.ndarray:
        keys, raw = self._keys_of(items)
        return E.hash_keys(keys, raw, self._item_seed)

    def _absorb(self, h63: np.ndarray) -> None:
        # chunks, so that θ falls early in a long first batch and most of it is filtered out
        # chunks of about 4k expected candidates: the k kept hashes are re-sorted once a chunk
        s, n = 0, h63.shape[0]
        while s < n:
            step = max(4 * self._k, 1 << 14, int(4 * self._k / self.theta))
            chunk = h63[s : s + step]
            s += step
            cand = chunk[chunk < np.uint64(self._theta)] if self._theta < THETA_MAX else chunk
            if cand.size:
                self._keep(np.union1d(self._hashes, cand), self._theta)

    def _keep(self, sorted_unique: np.ndarray, theta: int) -> None:
        """Set the state to the k smallest of ``sorted_unique`` (all < theta), θ lowered to the
        (k+1)-th when there are more."""
        if sorted_unique.size > self._k:
            theta = int(sorted_unique[self._k])
            sorted_unique = sorted_unique[: self._k]
        self._theta = theta
        self._hashes = np.ascontiguousarray(sorted_unique, dtype=np.uint64)

    def _merge_state(self, other: ThetaSketch) -> None:
        theta = min(self._theta, other._theta)
        u = np.union1d(self._hashes, other._hashes)
        self._keep(u[u < np.uint64(theta)] if theta < THETA_MAX else u, theta)

    # ------------------------------------------------------------------ estimates
    def estimate(self) -> float:
        """|sample| / p: exact while p = 1."""
        return self._hashes.size / self.theta

    def guarantee(self) -> str:
        """The guarantee in one line, with the current numbers."""
        if self.is_exact():
            return f"exact count {self._hashes.size:,} (fewer than k + 1 = {self._k + 1:,} distinct hashes seen)"
        lo, hi = self.bounds(0.01)
        return (
            f"estimate {self.estimate():,.0f}, within [{lo:,.0f}, {hi:,.0f}] with probability >= 99% "
            f"(k = {self._k:,}, sample rate {self.theta:.3g})"
        )

    def relative_error(self, delta: float = 0.01) -> float:
        """z·sqrt((1 - p)/(p·n̂)), z = sqrt(2 ln(2/δ)): the stated bound at the current estimate."""
        z = _z(check_probability("delta", delta))
        p = self.theta
        c = self._hashes.size
        if p >= 1.0:
            return 0.0
        return z * math.sqrt((1 - p) / max(c, 1))

    def bounds(self, delta: float = 0.01) -> tuple[float, float]:
        """(lower, upper) holding the true count with probability >= 1 - δ (see the module)."""
        z = _z(check_probability("delta", delta))
        return score_interval(int(self._hashes.size), self.theta, z)

    # ------------------------------------------------------------------ set expressions
    def _check_same_seed(self, other: Any) -> None:
        if not isinstance(other, ThetaSketch):
            raise IncompatibleSketchError(f"set operations take a ThetaSketch, got {type(other).__name__}")
        if other._seed != self._seed:
            raise IncompatibleSketchError(
                f"cannot combine ThetaSketches with different seeds: {self._seed} and {other._seed}"
            )

    def _result(self, hashes: np.ndarray, theta: int, other: ThetaSketch) -> ThetaSketch:
        out = ThetaSketch(min(self._k, other._k), seed=self._seed)
        out._keep(hashes, theta)
        n = int(out._hashes.size)
        out._total = out._abs_total = n if theta == THETA_MAX else max(n, 1)
        return out

    def union(self, other: ThetaSketch) -> ThetaSketch:
        """A ∪ B as a new sketch (k = the smaller k; with equal k, ``self + other``)."""
        self._check_same_seed(other)
        theta = min(self._theta, other._theta)
        u = np.union1d(self._hashes, other._hashes)
        u = u[u < np.uint64(theta)] if theta < THETA_MAX else u
        out = self._result(u, theta, other)
        out._total = out._abs_total = self._total + other._total
        return out

    def intersection(self, other: ThetaSketch) -> ThetaSketch:
        """A ∩ B as a sketch at θ = min(θ_A, θ_B): see the module for how its error grows."""
        self._check_same_seed(other)
        theta = min(self._theta, other._theta)
        both = np.intersect1d(self._hashes, other._hashes, assume_unique=True)
        return self._result(both[both < np.uint64(theta)], theta, other)

    def difference(self, other: ThetaSketch) -> ThetaSketch:
        """A \\ B (items of ``self`` not in ``other``) as a sketch at θ = min(θ_A, θ_B)."""
        self._check_same_seed(other)
        theta = min(self._theta, other._theta)
        only = np.setdiff1d(self._hashes, other._hashes, assume_unique=True)
        return self._result(only[only < np.uint64(theta)], theta, other)

    def jaccard(self, other: ThetaSketch, delta: float = 0.01) -> tuple[float, float, float]:
        """(estimate, lower, upper) of |A ∩ B| / |A ∪ B| (bounds hold with probability >= 1 - δ)."""
        self._check_same_seed(other)
        z = _z(check_probability("delta", delta))
        theta = min(self._theta, other._theta)
        u = np.union1d(self._hashes, other._hashes)
        u = u[u < np.uint64(theta)]
        trimmed = u.size > min(self._k, other._k)
        if trimmed:  # the k smallest: still a uniform sample of the union
            u = u[: min(self._k, other._k)]
        if u.size == 0:
            return 0.0, 0.0, 1.0
        both = np.intersect1d(np.intersect1d(self._hashes, other._hashes, assume_unique=True), u, assume_unique=True)
        lo, hi = proportion_interval(int(both.size), int(u.size), z)
        if theta == THETA_MAX and not trimmed:  # every item seen: the exact ratio
            lo = hi = both.size / u.size
        return both.size / u.size, lo, hi

    def __repr__(self) -> str:
        return (
            f"ThetaSketch(k={self._k}, seed={self._seed}, estimate={self.estimate():.6g}, "
            f"theta={self.theta:.4g}, ±{100 * self.relative_error(0.01):.2g}% at 99%, nbytes={self.nbytes})"
        )

    # ------------------------------------------------------------------ bytes
    def _payload(self) -> tuple[int, bytes]:
        head = np.array([self._k], "<u4").tobytes() + np.array([self._theta, self._total], "<u8").tobytes()
        return 0, head + np.array([self._hashes.size], "<u4").tobytes() + self._hashes.astype("<u8").tobytes()

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader) -> ThetaSketch:
        if flags:
            raise CorruptSketchError(f"unknown ThetaSketch flags {flags:#x}")
        k, theta, total, count = reader.unpack("IQQI")
        if not MIN_K <= k <= MAX_K:
            raise CorruptSketchError(f"ThetaSketch k={k} outside [{MIN_K}, {MAX_K}]")
        if not 1 <= theta <= THETA_MAX:
            raise CorruptSketchError(f"ThetaSketch theta {theta} outside [1, 2**63]")
        if count > k:
            raise CorruptSketchError(f"ThetaSketch holds {count} hashes, more than k={k}")
        if total > (1 << 63) - 1 or total < count or (total == 0) != (count == 0 and theta == THETA_MAX):
            raise CorruptSketchError(f"ThetaSketch with {count} hashes cannot have {total} updates")
        hashes = reader.array(np.uint64, count)
        if count and (int(hashes[-1]) >= theta or not bool(np.all(hashes[1:] > hashes[:-1]))):
            raise CorruptSketchError("ThetaSketch hashes must be strictly increasing and below theta")
        out = cls.__new__(cls)
        Sketch.__init__(out, seed)
        out._k = k
        out._theta = theta
        out._hashes = hashes
        out._total = out._abs_total = total
        return out


register(FAMILY, ThetaSketch)
