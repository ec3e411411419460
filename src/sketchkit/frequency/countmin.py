r"""Count-Min sketch (Cormode & Muthukrishnan, J. Algorithms 2005), with optional
conservative update (Estan & Varghese, SIGCOMM 2002).

Each of ``depth`` rows hashes an item to one of ``width`` counters and adds the weight; the
estimate is the minimum over rows.

With ``conservative=True`` a counter is raised only as far as the new minimum requires;
updates must be non-negative, and merging two conservative sketches (adding tables) gives
valid but looser estimates than one pass over both streams. :meth:`CountMin.from_error` uses
:math:`w = \lceil e/\varepsilon\rceil`, :math:`d = \lceil \ln(1/\delta)\rceil`. The guarantee is
stated once, in the :class:`CountMin` docstring.

>>> cm = CountMin(width=272, depth=5, seed=3)
>>> cm.update_batch(["a", "b", "a"])
>>> cm.estimate("a") >= 2
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _ids as ids
from .._base import check_probability
from .._format import register
from ..errors import CorruptSketchError, InvalidParameterError
from ..hashing import DEFAULT_SEED
from . import _bounds as B
from . import _kernels as K
from ._linear import LinearSketch
from .countsketch import _w

FAMILY = ids.COUNTMIN
FLAG_CONSERVATIVE = 1


class CountMin(LinearSketch):
    r"""Count-Min sketch: never underestimates (for non-negative net counts).

    **Guarantee.** Write :math:`f` for the net counts, :math:`\varepsilon = e/w` and
    :math:`\delta = e^{-d}` (``epsilon``, ``delta``), and :math:`N` for the total absolute
    weight :math:`\sum|w_i|` (``error_bound() / epsilon``; it equals :math:`\lVert f\rVert_1` when
    no weight is negative and exceeds it otherwise). When every net count is non-negative
    (insertion-only or strict turnstile streams), for every item :math:`x`:

    * :math:`f(x) \le \hat f(x)` always, so ``upper_bound`` is the estimate itself;
    * :math:`\Pr[\hat f(x) > f(x) + \varepsilon N] \le \delta` over the seed, so ``lower_bound``
      :math:`= \max(0, \hat f(x) - \lfloor\varepsilon N\rfloor)` is at most :math:`f(x)` with
      probability at least :math:`1 - \delta` (Markov per row: a row's excess over
      :math:`f(x)` has mean at most :math:`\lVert f\rVert_1/w \le N/w`; the minimum fails only
      if every row does).

    With ``conservative=True`` (non-negative weights only) both statements hold and no
    estimate exceeds plain Count-Min's on the same stream and seed. If some net count is
    negative neither bound means anything: use :class:`CountSketch` there.

    Checked by ``tests/test_countmin.py``: ``test_never_underestimates`` (first statement, any
    stream), ``test_overestimate_exceeds_eps_n_at_most_delta_of_the_time`` (both, over items and
    seeds, through ``count_min_guarantee_failures``) and
    ``test_conservative_update_is_tighter_but_still_an_upper_bound``.

    Parameters
    ----------
    width : counters per row (ε = e/width).
    depth : rows (δ = e^-depth; default 5).
    seed : the hash seed (identity; checked on merge).
    conservative : use conservative update (insertion-only; tighter estimates).
    dtype : 'int32' (default; promoted to int64 before it could overflow) or 'int64'.
    """

    __slots__ = ("_conservative",)
    _family = FAMILY

    def __init__(
        self,
        width: int,
        depth: int = 5,
        *,
        seed: int = DEFAULT_SEED,
        conservative: bool = False,
        dtype: str = "int32",
    ):
        super().__init__(width, depth, seed=seed, dtype=dtype)
        self._conservative = bool(conservative)

    @classmethod
    def from_error(cls, epsilon: float, delta: float = 0.01, *, seed: int = DEFAULT_SEED, **params: Any):
        """Smallest sketch with f ≤ f̂ ≤ f + εN, the right side with probability ≥ 1 − δ;
        ``params`` (``conservative``, a subclass's own options) go to the constructor."""
        epsilon = check_probability("epsilon", epsilon)
        delta = check_probability("delta", delta)
        return cls(math.ceil(math.e / epsilon), max(1, math.ceil(math.log(1.0 / delta))), seed=seed, **params)

    @classmethod
    def from_memory(cls, budget: int | str, *, depth: int = 5, seed: int = DEFAULT_SEED, **params: Any):
        """The widest sketch of ``depth`` rows whose state fits in ``budget``."""
        return cls(cls._width_for_memory(budget, depth), depth, seed=seed, **params)

    @classmethod
    def _contract_examples(cls, seed: int):
        return [
            (cls(64, 4, seed=seed), cls(64, 3, seed=seed)),
            (cls(64, 4, seed=seed, conservative=True), cls(64, 4, seed=seed)),
        ]

    @property
    def linear(self) -> bool:  # type: ignore[override]
        """Conservative update is not linear: merging adds tables, looser than one pass."""
        return not self._conservative

    @property
    def turnstile(self) -> bool:  # type: ignore[override]
        return not self._conservative

    @property
    def conservative(self) -> bool:
        return self._conservative

    @property
    def epsilon(self) -> float:
        """ε = e/width of the guarantee."""
        return math.e / self.width

    @property
    def delta(self) -> float:
        """δ = e^-depth of the guarantee."""
        return math.exp(-self.depth)

    def _shape(self) -> tuple:
        return (self.depth, self.width, self._conservative)

    def _copy_params(self, out: Any) -> None:
        out._conservative = self._conservative

    def _flags(self) -> int:
        return FLAG_CONSERVATIVE if self._conservative else 0

    def _set_flags(self, flags: int) -> None:
        if flags & ~FLAG_CONSERVATIVE:
            super()._set_flags(flags & ~FLAG_CONSERVATIVE)
        self._conservative = bool(flags & FLAG_CONSERVATIVE)

    def _check_rows(self, signed: list[int], absolute: list[int]) -> None:
        # plain update adds w to one counter per row: every row sums to the total weight;
        # conservative update (weights >= 0) adds at most w per row and never lowers a counter
        super()._check_rows(signed, absolute)
        if self._conservative:
            ok = self._total == self._abs_total and all(a == s <= self._total for s, a in zip(signed, absolute))
        else:
            ok = all(s == self._total for s in signed)
        if not ok:
            raise CorruptSketchError(f"{type(self).__name__} rows do not add up to a stream of its total weight")

    # ------------------------------------------------------------------ updates
    def _check_weights(self, weights, abs_total) -> None:
        if self._conservative and weights is not None and weights.size and int(weights.min()) < 0:
            raise InvalidParameterError("conservative-update Count-Min takes non-negative weights only")

    def _update_keys(self, keys, raw, weights, batch) -> None:
        if self._conservative:  # order-dependent, so one thread
            K.cm_update_conservative(self._table, self._row_keys, keys, raw, self._item_seed, _w(weights))
        else:
            self._add(K.cm_update, keys, raw, weights)

    # ------------------------------------------------------------------ queries
    def _estimate_keys(self, keys, raw) -> np.ndarray:
        """Minimum over rows: never below the true count when net counts are non-negative."""
        return K.cm_estimate(self._table, self._row_keys, keys, raw, self._item_seed)

    def _bounds_keys(self, keys, raw) -> tuple[np.ndarray, np.ndarray]:
        """``(max(0, estimate − εN), estimate)``: the upper bound is deterministic, the lower
        holds with probability ≥ 1 − δ per item."""
        est = self._estimate_keys(keys, raw)
        return np.maximum(B.minus(est, math.floor(self.error_bound())), 0), est

    def error_bound(self) -> float:
        """ε·N: the overestimate exceeds this with probability at most δ per item."""
        return self.epsilon * self._abs_total

    def _describe(self) -> str:
        extra = ", conservative=True" if self._conservative else ""
        return super()._describe() + extra

    def guarantee(self) -> str:
        return f"f ≤ f̂ ≤ f + {self.epsilon:.3g}·N w.p. ≥ {1 - self.delta:.4g} per item"


register(FAMILY, CountMin)
