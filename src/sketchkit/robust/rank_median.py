r"""A differentially private rank median over CountSketch rows: the estimator in the form Cohen
et al. (ICML 2022, arXiv:2202.13736) analyse, kept for comparison with the noisy median.

Cohen et al. make the answer a differentially private function of the rows, each row one
individual, and read heavy keys through *counts over rows* (their sign-alignment statistic:
how many of a key's row values are positive). Its value form is the rank median: choose a
value :math:`x` whose count :math:`\#\{j : X_j(i) < x\}` is close to ℓ/2, privately. Here the
exponential mechanism (Smith, STOC 2011) picks the interval between consecutive sorted row
values :math:`[X_{(r)}, X_{(r+1)}]` with probability proportional to its length times
:math:`\exp(-\varepsilon_0 |r - \ell/2| / 2)` (the count has sensitivity 1 in one row), then a
uniform point in it; the two outer intervals are clipped to the median ± 4σ̂ (σ̂ as
:func:`~sketchkit.robust.robust_countsketch.bucket_noise`). ε₀ is the privacy per answer:
smaller, more robust and less accurate. Composition gives Õ(ℓ²) answers at fixed ε₀·ℓ.

``benchmarks/bench_robust.py`` measures it beside :class:`~sketchkit.robust.RobustCountSketch`'s
noisy median at matched oblivious error; ``docs/robustness.md`` says which measured better.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InvalidParameterError
from ..frequency.countsketch import CountSketch
from .robust_countsketch import bucket_noise

__all__ = ["RankMedianEstimator"]

CLIP_SIGMAS = 4.0


class RankMedianEstimator:
    """Exponential-mechanism rank median of a CountSketch's rows (see the module docstring).

    ``eps0``: privacy per answer (> 0); ``rng``: the mechanism's randomness.
    """

    def __init__(self, sketch: CountSketch, *, eps0: float = 0.5, rng: Any = None):
        if not isinstance(sketch, CountSketch):
            raise InvalidParameterError(f"RankMedianEstimator wraps a CountSketch, got {type(sketch).__name__}")
        eps0 = float(eps0)
        if not (math.isfinite(eps0) and eps0 > 0):
            raise InvalidParameterError(f"eps0 must be a finite number > 0, got {eps0}")
        self.sketch, self.eps0 = sketch, eps0
        self.queries_answered = 0
        self._rng = np.random.default_rng(rng)

    def estimate_batch(self, items: Any) -> np.ndarray:
        """One private rank median per item (one query)."""
        rows = np.sort(self.sketch.row_estimates(items).astype(np.float64), axis=1)
        n, ell = rows.shape
        self.queries_answered += 1
        spread = CLIP_SIGMAS * max(bucket_noise(self.sketch.table), 1.0)
        med = rows[:, ell // 2]
        lo, hi = med - spread, med + spread
        edges = np.concatenate([lo[:, None], np.clip(rows, lo[:, None], hi[:, None]), hi[:, None]], axis=1)
        widths = np.maximum(np.diff(edges, axis=1), 1e-9)
        ranks = np.arange(ell + 1)
        logp = np.log(widths) - self.eps0 * np.abs(ranks - ell / 2.0) / 2.0
        p = np.exp(logp - logp.max(axis=1, keepdims=True))
        cdf = np.cumsum(p, axis=1)
        u = self._rng.random(n) * cdf[:, -1]
        pick = np.minimum((cdf < u[:, None]).sum(axis=1), ell)
        left = edges[np.arange(n), pick]
        return left + self._rng.random(n) * widths[np.arange(n), pick]

    def estimate(self, item: Any) -> float:
        return float(self.estimate_batch([item])[0])

    def __repr__(self) -> str:
        return f"RankMedianEstimator({self.sketch!r}, eps0={self.eps0}, queries_answered={self.queries_answered})"
