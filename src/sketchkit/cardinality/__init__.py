"""Distinct counting (:class:`Distinct`, ExaLogLog) and set operations (:class:`ThetaSketch`)."""

from .distinct import Distinct

__all__ = ["Distinct"]
