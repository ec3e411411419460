"""Frequency sketches: point queries, norms and heavy hitters."""

from ._query import FrequencySketch
from ._summary import TopRow
from .countmin import CountMin
from .countsketch import CountSketch
from .dyadic import DyadicHeavyHitters
from .heavy import HeavyHitters
from .spacesaving import SpaceSaving

__all__ = ["FrequencySketch", "CountSketch", "CountMin", "SpaceSaving", "HeavyHitters", "DyadicHeavyHitters", "TopRow"]
