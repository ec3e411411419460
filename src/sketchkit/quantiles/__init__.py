"""Quantile sketches: :class:`KLL` (additive rank error, any ordered data) and :class:`DDSketch`
(relative value error, for tails such as p99.9 latency). See docs/quantiles.md."""

from ._pandas import quantiles_by, sketch_series
from .ddsketch import DDSketch
from .kll import KLL

__all__ = ["KLL", "DDSketch", "sketch_series", "quantiles_by"]
