r"""CountSketch (Charikar, Chen, Farach-Colton, ICALP 2002 / TCS 2004).

Each of ``depth`` rows hashes an item to one of ``width`` counters and adds ``sign * weight``;
the estimate is the median over rows of ``sign * counter``. Weights may be negative
(turnstile streams).

The row estimate is unbiased with variance at most :math:`\lVert f\rVert_2^2/w`, so one row
errs by more than :math:`\varepsilon\lVert f\rVert_2` with probability at most
:math:`1/(w\varepsilon^2) = 1/4` (Chebyshev, :math:`\varepsilon = 2/\sqrt w`), and the median
errs only if at least half the rows do. :meth:`CountSketch.from_error` picks
:math:`w = \lceil 4/\varepsilon^2\rceil` and the smallest odd :math:`d` whose median fails with
probability at most :math:`\delta`; e.g. ``from_error(0.05, 0.01)`` is 1600 × 19. The guarantee
is stated once, in the :class:`CountSketch` docstring.

>>> from collections import Counter
>>> words = "the cat and the hat and the bat".split()
>>> cs = CountSketch(width=64, depth=5, seed=7)
>>> cs.update_batch(words)
>>> cs.estimate("the"), Counter(words)["the"]
(3, 3)
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np

from .. import _ids as ids
from .._base import check_positive_int, check_probability
from .._format import register
from ..errors import CorruptSketchError, IncompatibleSketchError, InvalidParameterError
from ..hashing import DEFAULT_SEED
from . import _kernels as K
from ._linear import LinearSketch

FAMILY = ids.COUNTSKETCH
ROW_FAILURE = 0.25  # per-row failure probability at width 4/eps^2 (Chebyshev)


@cache
def median_failure(depth: int, p: float = ROW_FAILURE) -> float:
    """P[Bin(depth, p) >= (depth + 1) / 2]: the chance that the median of ``depth`` rows errs."""
    need = (depth + 1) // 2
    return float(sum(math.comb(depth, k) * p**k * (1 - p) ** (depth - k) for k in range(need, depth + 1)))


def depth_for(delta: float, p: float = ROW_FAILURE) -> int:
    """Smallest odd depth whose median fails with probability at most ``delta``."""
    d = 1
    while median_failure(d, p) > delta:
        d += 2
    return d


class CountSketch(LinearSketch):
    r"""CountSketch for point queries, F2 and inner products on turnstile streams.

    **Guarantee.** Write :math:`f` for the vector of net counts (any signs),
    :math:`\varepsilon = 2/\sqrt{w}` and :math:`\delta = \Pr[\mathrm{Bin}(d, 1/4) \ge (d+1)/2]`
    (``epsilon``, ``delta``). Over the choice of seed:

    * for every item :math:`x`, :math:`\Pr\big[|\hat f(x) - f(x)| > \varepsilon\lVert f\rVert_2\big]
      \le \delta`, and :math:`\hat f(x)` is unbiased;
    * ``lower_bound``/``upper_bound`` :math:`= \hat f(x) \mp \lceil E\rceil` with
      :math:`E` = ``error_bound()`` :math:`= \varepsilon\sqrt{\hat F_2/(1 - \sqrt2\varepsilon)}`
      bracket :math:`f(x)` with probability at least :math:`1 - 2\delta` per item (for
      :math:`w \ge 32`, where :math:`\sqrt2\varepsilon \le 1/2`; clipped to
      :math:`\pm(2^{63}-1)`, which no count exceeds);
    * ``f2()`` and ``inner_product()`` (median over rows of the row dot products) satisfy
      :math:`|\hat F_2 - F_2| \le \sqrt2\,\varepsilon F_2` and
      :math:`|\widehat{\langle f,g\rangle} - \langle f,g\rangle| \le \sqrt2\,\varepsilon
      \lVert f\rVert_2\lVert g\rVert_2`, each with probability at least :math:`1 - \delta`.

    Checked by ``tests/test_countsketch.py``: ``test_point_query_guarantee_holds_over_seeds``
    (``point_query_failures``), ``test_bounds_bracket_the_truth_at_the_stated_rate``
    (``bracket_failures``) and ``test_f2_and_inner_product_guarantees``, each beside a test
    showing its check fails on a broken sketch.

    Parameters
    ----------
    width : counters per row (ε = 2/√width).
    depth : rows; must be odd so the median is a single row's value (default 5).
    seed : the hash seed (identity; checked on merge).
    dtype : 'int32' (default; promoted to int64 automatically before it could overflow) or 'int64'.
    """

    __slots__ = ()
    _family = FAMILY

    def __init__(self, width: int, depth: int = 5, *, seed: int = DEFAULT_SEED, dtype: str = "int32"):
        depth = check_positive_int("depth", depth, 1 << 16)
        if depth % 2 == 0:
            raise InvalidParameterError(f"CountSketch depth must be odd (median of rows), got {depth}")
        super().__init__(width, depth, seed=seed, dtype=dtype)

    # ------------------------------------------------------------------ sizing
    @classmethod
    def from_error(cls, epsilon: float, delta: float = 0.01, *, seed: int = DEFAULT_SEED, **params: Any):
        """Smallest sketch with |f̂(x) − f(x)| ≤ ε‖f‖₂ with probability ≥ 1 − δ per query;
        ``params`` go to the constructor (a subclass's own options)."""
        epsilon = check_probability("epsilon", epsilon)
        delta = check_probability("delta", delta)
        return cls(math.ceil(4.0 / epsilon**2), depth_for(delta), seed=seed, **params)

    @classmethod
    def from_memory(cls, budget: int | str, *, depth: int = 5, seed: int = DEFAULT_SEED, **params: Any):
        """The widest sketch of ``depth`` rows whose state fits in ``budget`` (e.g. '256KiB');
        ``params`` go to the constructor."""
        return cls(cls._width_for_memory(budget, depth), depth, seed=seed, **params)

    @property
    def epsilon(self) -> float:
        """ε = 2/√width of the guarantee."""
        return 2.0 / math.sqrt(self.width)

    @property
    def delta(self) -> float:
        """δ = P[Bin(depth, 1/4) ≥ (depth+1)/2] of the guarantee."""
        return median_failure(self.depth)

    # ------------------------------------------------------------------ updates
    def _update_keys(self, keys, raw, weights, batch) -> None:
        self._add(K.cs_update, keys, raw, weights)

    # ------------------------------------------------------------------ queries
    def _estimate_keys(self, keys, raw) -> np.ndarray:
        """Median-of-rows estimate of each item's net count."""
        return K.cs_estimate(self._table, self._row_keys, keys, raw, self._item_seed)

    def guarantee(self) -> str:
        return f"|f̂−f| ≤ {self.epsilon:.3g}·‖f‖₂ w.p. ≥ {1 - self.delta:.4g} per item"

    def row_estimates(self, items: Any) -> np.ndarray:
        """Each row's signed counter for each item, shape (n, depth): the median's inputs."""
        keys, raw = self._keys_of(items)
        return K.cs_row_values(self._table, self._row_keys, keys, raw, self._item_seed)

    def f2(self) -> float:
        """Estimate of F2 = ‖f‖₂² (median over rows of the sum of squared counters)."""
        t = self._table.astype(np.float64)
        return float(np.median(np.einsum("ij,ij->i", t, t)))

    def inner_product(self, other: CountSketch) -> float:
        """Estimate of ⟨f, g⟩ for the stream of ``other`` (same shape and seed)."""
        self.check_mergeable(other)
        a = self._table.astype(np.float64)
        b = other._table.astype(np.float64)
        return float(np.median(np.einsum("ij,ij->i", a, b)))

    def error_bound(self) -> float:
        """Half-width ε·sqrt(F2_hi) of the per-item interval (see the module docstring)."""
        slack = min(math.sqrt(2.0) * self.epsilon, 0.5)
        return self.epsilon * math.sqrt(max(self.f2(), 0.0) / (1.0 - slack))

    # ------------------------------------------------------------------ loading
    @classmethod
    def _check_shape(cls, depth: int, width: int) -> None:
        if depth % 2 == 0:
            raise CorruptSketchError(f"{cls.__name__} depth must be odd, the bytes say {depth}")

    def _check_compatible(self, other: Any) -> None:
        if not isinstance(other, CountSketch):
            raise IncompatibleSketchError(f"cannot combine a {type(other).__name__} with a CountSketch")
        super()._check_compatible(other)


def _w(weights: np.ndarray | None) -> np.ndarray:
    return _EMPTY if weights is None else weights


_EMPTY = np.empty(0, dtype=np.int64)


register(FAMILY, CountSketch)
