"""Deterministic test streams with exact answers."""

from __future__ import annotations

from collections import Counter

import numpy as np


def zipf_stream(n: int, universe: int, *, s: float = 1.1, seed: int = 0) -> np.ndarray:
    """n int64 keys from a Zipf(s) law truncated to ``universe`` ranks, ranks permuted."""
    rng = np.random.default_rng(seed)
    p = np.arange(1, universe + 1, dtype=np.float64) ** -s
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    ranks = np.searchsorted(cdf, rng.random(n))
    return rng.permutation(universe)[ranks].astype(np.int64)


def exact_counts(keys, weights=None) -> Counter:
    c: Counter = Counter()
    if weights is None:
        c.update(np.asarray(keys).tolist())
    else:
        for k, w in zip(np.asarray(keys).tolist(), np.asarray(weights).tolist()):
            c[k] += w
    return c
