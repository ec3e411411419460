"""Compiled loops of :class:`sketchkit.quantiles.DDSketch`: bucket indices and counting.

A positive value ``x`` falls in bucket ``ceil(ln(x) * mult)`` with ``mult = 1/ln(gamma)``; a
negative one in the same bucket of ``|x|`` of the negative store; ``|x|`` below the smallest
normal float counts as zero.
"""

from __future__ import annotations

import math

import numpy as np

from .._jit import njit

MIN_INDEXABLE = 2.2250738585072014e-308  # smallest normal float64: anything smaller counts as 0


def indices(values: np.ndarray, mult: float, idx: np.ndarray, sign: np.ndarray) -> tuple[int, int, int, int]:
    """Fill ``idx``/``sign`` (+1, -1, 0 for the zero bucket) and return the index range of each
    store: ``(pos_min, pos_max, neg_min, neg_max)`` (min > max when a store gets nothing).
    The logarithms come from numpy (vectorised) for every path, so a value gets one bucket
    whichever method added or queried it."""
    with np.errstate(divide="ignore"):
        logs = np.log(np.abs(values))
    return _indices(values, logs, mult, idx, sign)


@njit(cache=True, nogil=True)
def _indices(values, logs, mult, idx, sign):
    big = np.int64(1) << np.int64(62)
    pmin, pmax, nmin, nmax = big, -big, big, -big
    for i in range(values.shape[0]):
        x = values[i]
        if x > MIN_INDEXABLE or x < -MIN_INDEXABLE:
            j = np.int64(math.ceil(logs[i] * mult))
            idx[i] = j
            if x > 0:
                sign[i] = 1
                pmin = min(pmin, j)
                pmax = max(pmax, j)
            else:
                sign[i] = -1
                nmin = min(nmin, j)
                nmax = max(nmax, j)
        else:
            sign[i] = 0
            idx[i] = 0
    return pmin, pmax, nmin, nmax


@njit(cache=True, nogil=True)
def count(idx, sign, weights, weighted, pos, pos_off, pos_floor, neg, neg_off, neg_floor):
    """Add each item's weight to its bucket; an index under a store's floor (the lowest bucket
    its window keeps) goes to the floor bucket. Returns the weight that fell in the zero bucket."""
    zero = np.int64(0)
    for i in range(idx.shape[0]):
        w = weights[i] if weighted else np.int64(1)
        s = sign[i]
        if s > 0:
            pos[max(idx[i], pos_floor) - pos_off] += w
        elif s < 0:
            neg[max(idx[i], neg_floor) - neg_off] += w
        else:
            zero += w
    return zero
