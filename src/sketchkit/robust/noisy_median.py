r"""A noisy-median estimator for CountSketch under adaptive queries, at equal memory.

The plain CountSketch answer, :math:`\operatorname{median}_j X_j(i)` with
:math:`X_j(i) = s_j(i)\,C[j, h_j(i)]`, leaks which rows sit at the median; an adversary who
sees only *which of two keys is larger* can learn, within :math:`O(\ell)` queries, a vector
whose sketch is biased at those keys (Cohen, Lyu, Nelson, Sarlós, Shechner, Stemmer, ICML 2022;
see :func:`sketchkit.robust.attacks.median_attack`). Masking the median with fresh noise of the
size of the sketch's own bucket noise hides that signal, in the spirit of the private median
of Hassidim et al. (NeurIPS 2020): each answer is

.. math:: \hat f(i) = \operatorname{median}_j X_j(i) + \mathcal N(0, \tau^2), \qquad
          \tau = \eta\,\hat\sigma,

drawn afresh per answer from ``rng``, where :math:`\hat\sigma` estimates the bucket noise
:math:`\sigma = \lVert f_{\text{tail}}\rVert_2/\sqrt w`. Following the research note
(``shared/research/robustness.md``, D4′), :math:`\hat\sigma^2` is the median over rows of the
row's energy :math:`\sum_b C[j,b]^2` without its ``heavy`` largest counters, divided by the
width. The counters are those of the wrapped sketch: **memory is unchanged**.

This is a heuristic DP-*style* mechanism, not a proof: it is not Cohen et al.'s estimator,
and no estimator survives more than :math:`O(\ell^2)` adaptive queries (Cohen et al., AAAI
2023). Measured in ``benchmarks/bench_robust.py`` (``docs/benchmarks/robust.md``): the
median attack (:func:`~sketchkit.robust.attacks.median_attack`, width 32, tails of 200)
breaks it after ≈ 10–20·ℓ² queries at η = 1 (4626–9080 at ℓ = 21; 241–879 at ℓ = 5) against
≈ 15–22·ℓ for the plain median (311–457 at ℓ = 21; 53–113 at ℓ = 5): the gain grows about
linearly in ℓ and is only ≈ 6× at depth 5, so **robust configurations need depth ≳ 21**. The
estimator counts its answers (``queries_answered``) and warns with
:class:`QueryBudgetWarning` past ``query_budget`` (default ``max(8ℓ, ⌊4·ℓ²·η²⌋)``, well below
the smallest measured break).

**Guarantee on oblivious queries** (what ``tests/test_robust_median.py`` checks): the error is
the median's error (standard deviation :math:`\approx 1.25\,\sigma/\sqrt\ell`) plus the added
noise (:math:`\eta\hat\sigma`); at depth 21, width 32 and η = 1, at least 99 % of oblivious
answers are within :math:`4\sigma` of the truth. :meth:`error_bound` returns
:math:`(1.25/\sqrt\ell + \eta)\,z\,\hat\sigma` with :math:`z = \sqrt{2\ln(2/\delta)}`.

>>> from sketchkit import CountSketch
>>> cs = CountSketch(width=64, depth=21, seed=5)
>>> cs.update_batch(["a"] * 50 + [f"x{i}" for i in range(500)])
>>> est = NoisyMedianEstimator(cs, rng=1)
>>> abs(est.estimate("a") - 50) < 4 * est.sigma_hat()
True
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ..errors import InvalidParameterError
from ..frequency.countsketch import CountSketch

__all__ = ["NoisyMedianEstimator", "QueryBudgetWarning"]

MEDIAN_SD = math.sqrt(math.pi / 2)  # the median of l Gaussians has sd ≈ 1.2533 σ / √l


class QueryBudgetWarning(UserWarning):
    """More adaptive queries were answered than the robust estimator is measured to survive."""


class NoisyMedianEstimator:
    """Answer point queries on a CountSketch with a noisy median (see the module docstring).

    Parameters
    ----------
    sketch : the CountSketch (or KeyedCountSketch) to read; it is read live, not copied.
    eta : noise scale in units of the estimated bucket noise (default 1.0).
    heavy : how many of each row's largest counters to leave out of the noise estimate
        (the heavy hitters you expect; default 0).
    query_budget : answers after which a :class:`QueryBudgetWarning` is issued (default
        ``max(8 * depth, 4 * depth**2 * eta**2)``, below the smallest measured break).
    rng : seed or Generator for the noise (algorithmic randomness; not part of identity).
    """

    def __init__(
        self,
        sketch: CountSketch,
        *,
        eta: float = 1.0,
        heavy: int = 0,
        query_budget: int | None = None,
        rng: Any = None,
    ):
        if not isinstance(sketch, CountSketch):
            raise InvalidParameterError(f"NoisyMedianEstimator wraps a CountSketch, got {type(sketch).__name__}")
        eta = float(eta)
        if not math.isfinite(eta) or eta < 0:
            raise InvalidParameterError(f"eta must be a finite number >= 0, got {eta}")
        if isinstance(heavy, bool) or not isinstance(heavy, (int, np.integer)) or not 0 <= heavy < sketch.width:
            raise InvalidParameterError(f"heavy must be an int in [0, width), got {heavy!r}")
        self.sketch = sketch
        self.eta = eta
        self.heavy = int(heavy)
        depth = sketch.depth
        default_budget = max(8 * depth, int(4 * depth * depth * eta * eta))
        self.query_budget = default_budget if query_budget is None else int(query_budget)
        self.queries_answered = 0
        self._rng = np.random.default_rng(rng)
        self._warned = False

    def sigma_hat(self) -> float:
        """Estimated bucket noise: √(median over rows of the row energy without its ``heavy``
        largest counters, divided by ``width − heavy``)."""
        t = self.sketch.table.astype(np.float64)
        sq = np.sort(t * t, axis=1)
        m = sq.shape[1] - self.heavy
        return math.sqrt(float(np.median(sq[:, :m].sum(axis=1))) / m)

    def estimate_batch(self, items: Any) -> np.ndarray:
        """Noisy-median estimates (float64), fresh noise per item; one call is one query."""
        rows = self.sketch.row_estimates(items)
        med = np.median(rows.astype(np.float64), axis=1)
        self.queries_answered += 1
        if self.queries_answered > self.query_budget and not self._warned:
            self._warned = True
            warnings.warn(
                f"{self.queries_answered} adaptive queries answered, past the budget of {self.query_budget} "
                f"for depth {self.sketch.depth}: answers may now be steered by an adaptive adversary",
                QueryBudgetWarning,
                stacklevel=2,
            )
        tau = self.eta * self.sigma_hat()
        return med + self._rng.normal(0.0, 1.0, size=med.shape[0]) * tau if tau > 0 else med

    def estimate(self, item: Any) -> float:
        """Noisy-median estimate of one item's net count."""
        return float(self.estimate_batch([item])[0])

    def error_bound(self, delta: float = 0.01) -> float:
        """(1.25/√ℓ + η)·z·σ̂ with z = √(2 ln(2/δ)): the oblivious per-answer error bound."""
        z = math.sqrt(2.0 * math.log(2.0 / delta))
        return (MEDIAN_SD / math.sqrt(self.sketch.depth) + self.eta) * z * self.sigma_hat()

    def top(self, k: int, candidates: Any, delta: float = 0.01) -> list[tuple[Any, float, float, float]]:
        """The ``k`` candidates with the largest noisy estimates, as ``(item, estimate, lower, upper)``
        heaviest first; the bounds are ``estimate ∓ error_bound(delta)`` (one query)."""
        cands = list(candidates)
        est = self.estimate_batch(cands)
        order = np.argsort(-est, kind="stable")[: max(0, int(k))]
        b = self.error_bound(delta)
        return [(cands[i], float(est[i]), float(est[i] - b), float(est[i] + b)) for i in order]

    def __repr__(self) -> str:
        return (
            f"NoisyMedianEstimator({self.sketch!r}, eta={self.eta}, heavy={self.heavy}, "
            f"queries_answered={self.queries_answered}/{self.query_budget})"
        )
