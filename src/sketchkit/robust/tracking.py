r"""Robust F₂ (squared-norm) tracking against an adversary who sees every published estimate.

A linear sketch's F₂ estimate can be driven arbitrarily far from the truth by a stream that
adapts to its answers (Hardt & Woodruff, STOC 2013; :func:`sketchkit.robust.attacks.f2_attack`
breaks a plain CountSketch's ``f2()`` within about as many updates as it has counters). The two
wrappers here run several independent copies and reveal as little of each as possible.

:class:`SwitchingTracker` — *sketch switching* (Ben-Eliezer, Jayaram, Woodruff, Yogev,
PODS 2020, arXiv:2003.14265). It publishes a value :math:`\tilde y` and changes it only when
the active copy's estimate leaves :math:`\tilde y \pm (\varepsilon/2)\max(\tilde y, F_0)`
(:math:`F_0` = ``floor``); it then publishes that estimate and *retires* the copy, whose
randomness the adversary has now seen once. The adversary therefore only ever interacts with
copies it has no information about. **Guarantee**: if the active copy's estimate is within
:math:`(1 \pm \varepsilon/2) F_2` (it has seen an oblivious stream until it is revealed), every
published value satisfies :math:`|\tilde y - F_2| \le \varepsilon \max(F_2, F_0)/(1 - \varepsilon/2)`
as long as no more than ``copies`` switches are needed; the tracker raises
:class:`CopiesExhaustedError` instead of answering past that. ``tests/test_robust_tracking.py``
checks the tighter :math:`|\tilde y - F_2| \le \varepsilon \max(F_2, F_0)` at every update of
the greedy attack (16 copies, ε = 0.5, :math:`F_0` = 64). Switches are bounded by the *flip
number*, :math:`\log_{1+\varepsilon/2}(F_2^{\max}/F_0)` for a stream whose F₂ only grows.
**Memory: ``copies`` × one sketch.**

:class:`DPMedianTracker` — the differential-privacy median of ``copies`` sketches (Hassidim,
Kaplan, Mansour, Matias, Stemmer, NeurIPS 2020, arXiv:2004.05975), here in a simplified form:
a sparse-vector (AboveThreshold) test asks, with Laplace noise, whether at least half of the
copies have left :math:`\tilde y \pm (\varepsilon/2)\max(\tilde y, F_0)`; only then is a new
value released, as an exponential-mechanism median of the copies on a geometric grid of ratio
:math:`1 + \varepsilon/4`. Each release spends privacy ``eps_dp``; after ``max_releases`` the
tracker raises :class:`CopiesExhaustedError`. Copies are never retired, so the number of
changes it can publish grows as ≈ copies² (advanced composition) rather than as copies.
**Memory: ``copies`` × one sketch.** The constants are engineering choices checked by the
tests and benchmark, not the paper's proof constants.

>>> t = SwitchingTracker.for_f2(width=64, depth=5, copies=4, eps=0.5, floor=16, rng=0)
>>> t.update_batch(list(range(100)))
>>> abs(t.f2() - 100) <= 0.5 * 100
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._base import as_weights, check_positive_int
from ..errors import InvalidParameterError, SketchError
from ..hashing import as_item_list, mapping_batch
from .keyed import KeyedCountSketch

__all__ = ["SwitchingTracker", "DPMedianTracker", "CopiesExhaustedError"]


class CopiesExhaustedError(SketchError, RuntimeError):
    """A robust tracker has used up its copies or privacy budget: its guarantee no longer holds."""


def _check_eps(eps: Any) -> float:
    try:
        v = float(eps)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"eps must be a number in (0, 1], got {eps!r}") from None
    if not 0.0 < v <= 1.0:
        raise InvalidParameterError(f"eps must be in (0, 1], got {eps!r}")
    return v


class _Stacked:
    """``copies`` independent keyed CountSketches stored as the row blocks of one sketch.

    Rows of a sketch use independent derived keys, so rows ``[i*depth, (i+1)*depth)`` form a
    CountSketch independent of the other blocks; one update call feeds every copy.
    """

    def __init__(self, width: int, depth: int, copies: int, key: bytes | None):
        self.depth = check_positive_int("depth", depth, 1 << 12)
        if self.depth % 2 == 0:
            raise InvalidParameterError(f"copy depth must be odd (median of rows), got {depth}")
        self.copies = copies
        rows = self.depth * copies
        # CountSketch wants an odd row count; an even stack carries one unused pad row.
        self.sketch = KeyedCountSketch(width, rows + (1 - rows % 2), key=key)

    def all_f2(self) -> np.ndarray:
        t = self.sketch.table[: self.depth * self.copies].astype(np.float64)
        energy = np.einsum("ij,ij->i", t, t).reshape(self.copies, self.depth)
        return np.median(energy, axis=1)


class _Copies:
    """Shared plumbing: independent copies fed with every update."""

    def __init__(self, factory: Callable[[int], Any] | _Stacked, copies: int, eps: float, floor: float):
        self.copies = check_positive_int("copies", copies, 1 << 16)
        self.eps = _check_eps(eps)
        self.floor = float(floor)
        if not self.floor > 0 or not math.isfinite(self.floor):
            raise InvalidParameterError(f"floor must be a positive number, got {floor!r}")
        if isinstance(factory, _Stacked):
            self._stack: _Stacked | None = factory
            self._feeds = [factory.sketch]
        else:
            self._stack = None
            self._feeds = [factory(i) for i in range(self.copies)]
        self._published = 0.0
        self._abs_weight = 0  # Σ|w| of the stream: F₂ ≤ (Σ|w|)², a bound free of any sketch randomness

    def _f2_of(self, i: int) -> float:
        if self._stack is not None:
            return float(self._stack.all_f2()[i])
        return float(self._feeds[i].f2())

    def _all_f2(self) -> np.ndarray:
        if self._stack is not None:
            return self._stack.all_f2()
        return np.array([float(s.f2()) for s in self._feeds])

    def update(self, item: Any, weight: int = 1) -> None:
        """Add ``weight`` of ``item`` to every copy."""
        for s in self._feeds:
            s.update(item, weight)
        self._abs_weight += abs(int(weight))

    def update_batch(self, items: Any, weights: Any = None) -> None:
        """Add a batch to every copy (a mapping adds each key weighted by its value)."""
        items, weights = mapping_batch(items, weights)
        batch = as_item_list(items)
        w, _, abs_total = as_weights(weights, len(batch))
        for s in self._feeds:
            s.update_batch(batch, w)
        self._abs_weight += abs_total

    def _moved(self, y: Any) -> Any:
        return np.abs(y - self._published) > 0.5 * self.eps * max(self._published, self.floor)

    @property
    def memory_overhead(self) -> int:
        """Memory relative to one copy (= ``copies``)."""
        return self.copies

    @property
    def memory_counters(self) -> int:
        """Counters held by all copies together."""
        return sum(s.depth * s.width for s in self._feeds)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._feeds)


class SwitchingTracker(_Copies):
    """Sketch switching over ``copies`` independent F₂ sketches (see the module docstring).

    ``factory(i)`` builds copy ``i`` (anything with ``update``, ``update_batch`` and ``f2()``,
    each with its own hidden randomness); :meth:`for_f2` builds keyed CountSketch copies.
    """

    def __init__(self, factory: Callable[[int], Any], copies: int, eps: float = 0.5, floor: float = 64.0):
        super().__init__(factory, copies, eps, floor)
        self._active = 0

    @classmethod
    def for_f2(
        cls, width: int, depth: int = 5, *, copies: int = 16, eps: float = 0.5, floor: float = 64.0, rng: Any = None
    ) -> SwitchingTracker:
        """Copies are independent keyed CountSketches (width × depth each, stored as row blocks of one
        :class:`KeyedCountSketch`); the key comes from the OS, or from ``rng`` when given."""
        copies = check_positive_int("copies", copies, 1 << 16)
        key = None if rng is None else np.random.default_rng(rng).bytes(16)
        return cls(_Stacked(width, depth, copies, key), copies, eps, floor)

    @property
    def switches(self) -> int:
        """Copies retired so far."""
        return self._active

    def f2(self) -> float:
        """The published F₂ estimate; may switch to a fresh copy (raises when none is left)."""
        if self._active >= self.copies:
            raise CopiesExhaustedError(f"all {self.copies} copies used: the robust guarantee has run out")
        y = self._f2_of(self._active)
        if bool(self._moved(y)):
            self._published = y
            self._active += 1
        return self._published

    def __repr__(self) -> str:
        return f"SwitchingTracker(copies={self.copies}, eps={self.eps}, floor={self.floor}, switches={self._active})"


class DPMedianTracker(_Copies):
    """Differentially private median of ``copies`` F₂ sketches (see the module docstring).

    ``eps_dp``: privacy spent per release (sparse-vector test plus exponential mechanism);
    ``max_releases``: published changes allowed (default ``copies**2 // 8``, at least 1);
    ``rng``: the mechanism's noise.
    """

    def __init__(
        self,
        factory: Callable[[int], Any],
        copies: int,
        eps: float = 0.5,
        floor: float = 64.0,
        *,
        eps_dp: float = 2.0,
        max_releases: int | None = None,
        rng: Any = None,
    ):
        super().__init__(factory, copies, eps, floor)
        self.eps_dp = float(eps_dp)
        if not 0 < self.eps_dp < math.inf:
            raise InvalidParameterError(f"eps_dp must be positive, got {eps_dp!r}")
        self.max_releases = max(1, self.copies**2 // 8) if max_releases is None else int(max_releases)
        self.releases = 0
        self._rng = np.random.default_rng(rng)
        self._threshold = self._noisy_threshold()

    @classmethod
    def for_f2(
        cls,
        width: int,
        depth: int = 5,
        *,
        copies: int = 32,
        eps: float = 0.5,
        floor: float = 64.0,
        eps_dp: float = 2.0,
        max_releases: int | None = None,
        rng: Any = None,
    ) -> DPMedianTracker:
        """Copies as in :meth:`SwitchingTracker.for_f2`; ``rng`` drives the key (when given) and the noise."""
        copies = check_positive_int("copies", copies, 1 << 16)
        gen = np.random.default_rng(rng)
        key = None if rng is None else gen.bytes(16)
        return cls(_Stacked(width, depth, copies, key), copies, eps, floor, eps_dp=eps_dp,
                   max_releases=max_releases, rng=gen)

    def _noisy_threshold(self) -> float:
        return self.copies / 2.0 + self._rng.laplace(0.0, 2.0 / self.eps_dp)

    def _grid(self) -> np.ndarray:
        # Steps of ε/4·floor below the floor, ratio 1 + ε/4 above it, up to (Σ|w|)² ≥ F₂: the range
        # depends on the stream only, never on the copies' randomness.
        step = 1.0 + self.eps / 4.0
        top = max(float(self._abs_weight) ** 2, self.floor)
        linear = np.arange(0.0, self.floor, self.eps * self.floor / 4.0)
        geometric = self.floor * step ** np.arange(int(math.log(top / self.floor) / math.log(step)) + 2)
        return np.concatenate([linear, geometric])

    def _private_median(self, ys: np.ndarray) -> float:
        # Exponential mechanism over the grid's cells [g_i, g_{i+1}): utility −(how many copies
        # would have to change for the median to fall in the cell), sensitivity 1; ties are harmless.
        edges = self._grid()
        ys = np.sort(ys)
        half = self.copies / 2.0
        left = np.searchsorted(ys, edges[:-1], side="left")
        right = np.searchsorted(ys, edges[1:], side="left")
        utility = -np.maximum(0.0, np.maximum(left - half, half - right))
        score = utility * (self.eps_dp / 2.0)
        p = np.exp(score - score.max())
        i = int(self._rng.choice(edges.shape[0] - 1, p=p / p.sum()))
        return float(0.5 * (edges[i] + edges[i + 1]))

    def f2(self) -> float:
        """The published F₂ estimate (released anew only when the sparse-vector test fires)."""
        ys = self._all_f2()
        moved = int(np.count_nonzero(self._moved(ys)))
        if moved + self._rng.laplace(0.0, 4.0 / self.eps_dp) >= self._threshold:
            if self.releases >= self.max_releases:
                raise CopiesExhaustedError(f"{self.releases} releases made: the privacy budget has run out")
            self._published = self._private_median(ys)
            self.releases += 1
            self._threshold = self._noisy_threshold()
        return self._published

    def __repr__(self) -> str:
        return (
            f"DPMedianTracker(copies={self.copies}, eps={self.eps}, floor={self.floor}, eps_dp={self.eps_dp}, "
            f"releases={self.releases}/{self.max_releases})"
        )
