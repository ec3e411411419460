"""Frequency sketches: point queries, norms and heavy hitters."""

from .countmin import CountMin
from .countsketch import CountSketch

__all__ = ["CountSketch", "CountMin"]
