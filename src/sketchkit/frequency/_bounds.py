"""Point-query bounds in int64 without overflow.

A bound is an int64 estimate moved by a half-width ``e`` (a Python int) that, for a tiny sketch
over a huge total weight, can exceed what int64 holds; numpy would raise on such an ``e`` or
silently wrap the sum. Every true count satisfies ``|f(x)| <= total absolute weight <= 2**63 − 1``,
so clipping a bound to ``±(2**63 − 1)`` keeps it valid: these helpers compute exactly
``min(values + e, 2**63 − 1)`` and ``max(values − e, −(2**63 − 1))``.
"""

from __future__ import annotations

import numpy as np

from .._base import INT64_MAX


def plus(values: np.ndarray, e: int) -> np.ndarray:
    """``min(values + e, 2**63 − 1)`` for int64 ``values`` and an int ``e >= 0``."""
    out = np.asarray(values, dtype=np.int64)
    while e > 0:  # steps of at most 2**63 - 1, each computed where it cannot overflow
        step = min(e, INT64_MAX)
        out = np.minimum(out, INT64_MAX - step) + step
        e -= step
    return out


def minus(values: np.ndarray, e: int) -> np.ndarray:
    """``max(values − e, −(2**63 − 1))`` for int64 ``values`` and an int ``e >= 0``."""
    out = np.asarray(values, dtype=np.int64)
    while e > 0:
        step = min(e, INT64_MAX)
        out = np.maximum(out, step - INT64_MAX) - step
        e -= step
    return out
