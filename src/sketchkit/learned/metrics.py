r"""Error metrics of the learned-sketch literature, on count vectors.

``true`` and ``est`` are aligned arrays over the n distinct items of a test period.

* :func:`loss_hsu` — :math:`\sum_i f_i |\hat f_i - f_i| / \sum_i f_i`, the expected error of a
  random stream occurrence (Hsu et al. 2019, ``compute_avg_loss`` of their code).
* :func:`loss_unweighted` — :math:`\frac1n\sum_i |\hat f_i - f_i|` (Aamand et al. 2023's E_u).
* :func:`loss_weighted_aamand` — :math:`\frac1n\sum_i f_i |\hat f_i - f_i|` (their E_w).
* :func:`coverage` — the share of the stream's mass on items given exact counters
  (Du, Wang, Mitzenmacher 2021).
* :func:`heavy_hitter_pr` — precision and recall of ``{i : f̂_i ≥ φN}`` against ``{i : f_i ≥ φN}``.

>>> loss_hsu([10, 1], [12, 1]), loss_unweighted([10, 1], [12, 1])
(1.8181818181818181, 1.0)
"""

from __future__ import annotations

import numpy as np


# Plain sums, not np.dot: BLAS threads measured 100x slower on these short vectors on a busy machine.
def _pair(true, est) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(true, dtype=np.float64)
    e = np.asarray(est, dtype=np.float64)
    if t.shape != e.shape or t.ndim != 1:
        from ..errors import InvalidParameterError

        raise InvalidParameterError(f"true and estimated counts must be aligned vectors, got {t.shape} and {e.shape}")
    return t, e


def loss_hsu(true, est) -> float:
    t, e = _pair(true, est)
    return float((t * np.abs(e - t)).sum() / t.sum())


def loss_unweighted(true, est) -> float:
    t, e = _pair(true, est)
    return float(np.abs(e - t).mean())


def loss_weighted_aamand(true, est) -> float:
    t, e = _pair(true, est)
    return float((t * np.abs(e - t)).sum() / len(t))


def coverage(true, routed_exact) -> float:
    """Mass share of items flagged in the boolean vector ``routed_exact``."""
    t = np.asarray(true, dtype=np.float64)
    m = np.asarray(routed_exact, dtype=bool)
    return float(t[m].sum() / t.sum())


def heavy_hitter_pr(true, est, phi: float = 1e-3) -> tuple[float, float]:
    """(precision, recall) of the estimated φ-heavy hitters; 1.0 where a set is empty."""
    t, e = _pair(true, est)
    cut = phi * t.sum()
    truth, found = t >= cut, e >= cut
    hits = int((truth & found).sum())
    precision = hits / int(found.sum()) if found.any() else 1.0
    recall = hits / int(truth.sum()) if truth.any() else 1.0
    return precision, recall
