"""Distinct counting (:class:`Distinct`, ExaLogLog) and set operations (:class:`ThetaSketch`)."""

from .distinct import Distinct
from .theta import ThetaSketch

__all__ = ["Distinct", "ThetaSketch"]
