"""Sketched linear algebra: subspace embeddings, fast least squares, low-rank approximation.

Needs the ``[linalg]`` extra (scipy, scikit-learn); ``import sketchkit`` alone never imports scipy.
"""

from __future__ import annotations

try:
    import scipy  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("sketchkit.linalg needs scipy: pip install 'sketchkit[linalg]'") from exc

from .ipm import IPMResult, linprog_ipm
from .lowrank import randomized_range, randomized_svd
from .lstsq import LstsqResult, lstsq
from .operators import (
    LINALG_DOMAIN,
    CountSketchOperator,
    GaussianSketch,
    SketchOperator,
    SparseSign,
    make_operator,
)

__all__ = [
    "LINALG_DOMAIN",
    "SketchOperator",
    "SparseSign",
    "CountSketchOperator",
    "GaussianSketch",
    "make_operator",
    "lstsq",
    "LstsqResult",
    "randomized_range",
    "randomized_svd",
    "linprog_ipm",
    "IPMResult",
]
