"""The record every attack returns: what it spent, how far it pushed the error, and the path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["AttackResult"]


@dataclass
class AttackResult:
    """Outcome of one attack run.

    ``queries``: what the attacker spent (hash calls, queries or updates: ``cost_unit`` says
    which). ``error_ratio``: the error reached divided by the sketch's guarantee (the
    attack's own success criterion says which guarantee; ``> 1`` means the guarantee is
    broken). ``trajectory``: the attack's progress metric after each step, ``steps`` the
    matching x values; ``threshold``: the metric value that counts as success.
    """

    attack: str
    target: str
    success: bool
    queries: int
    cost_unit: str
    error_ratio: float
    metric: str
    threshold: float
    steps: np.ndarray
    trajectory: np.ndarray
    memory_counters: int
    details: dict[str, Any] = field(default_factory=dict)
    step_label: str | None = None

    def as_row(self) -> dict[str, Any]:
        """A flat dict for a CSV report (no arrays)."""
        return {
            "attack": self.attack,
            "target": self.target,
            "success": self.success,
            "queries": self.queries,
            "cost_unit": self.cost_unit,
            "error_ratio": round(float(self.error_ratio), 4),
            "memory_counters": self.memory_counters,
        }

    def plot(self, ax: Any = None, label: str | None = None, **kwargs: Any) -> Any:
        """Draw the trajectory (metric vs queries) on a matplotlib axis; returns the axis."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots()
        ax.plot(self.steps, self.trajectory, label=label or self.target, **kwargs)
        ax.axhline(self.threshold, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel(self.step_label or self.cost_unit)
        ax.set_ylabel(self.metric)
        return ax

    def __repr__(self) -> str:
        verdict = "broke" if self.success else "survived"
        return (
            f"AttackResult({self.attack} vs {self.target}: {verdict} after {self.queries} {self.cost_unit}, "
            f"error/guarantee={self.error_ratio:.3g})"
        )
