"""Candidate heavy items kept beside a linear sketch, which stores counts but no items.

Charikar et al.'s heap of candidates: after each chunk, items whose estimate beats the
weakest kept candidate join the set; the set is cut back to ``capacity`` by estimate when it
doubles. An item heavy enough to be in the final top k has a large estimate whenever it is
seen, so it is kept (up to the sketch's own error).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .kinds import estimates


class Candidates:
    def __init__(self, sketch: Any, capacity: int):
        self.sketch = sketch
        self.capacity = max(int(capacity), 1)
        self.items: dict[Any, None] = {}
        self.floor = None  # smallest estimate kept at the last cut

    def observe(self, items: Any, weights: Any = None) -> None:
        """Sink signature: called with each batch after the sketch took it."""
        if isinstance(items, np.ndarray):
            items = items.tolist()
        if not len(items):
            return
        if self.floor is None:
            chosen = items
        else:
            est = self.sketch.estimate_batch(items)
            chosen = [items[i] for i in np.flatnonzero(est >= self.floor).tolist()]
        self.items.update(dict.fromkeys(chosen))
        if len(self.items) > 2 * self.capacity:
            self._cut()

    def _cut(self) -> None:
        keys = list(self.items)
        est = self.sketch.estimate_batch(keys)
        order = np.argsort(-est, kind="stable")[: self.capacity]
        self.items = dict.fromkeys(keys[i] for i in order.tolist())
        self.floor = int(est[order[-1]])

    def top(self, k: int) -> list[tuple[Any, int, int, int]]:
        keys = list(self.items)
        if not keys:
            return []
        est, lo, hi = estimates(self.sketch, keys)
        order = np.argsort(-est, kind="stable")[:k]
        return [(keys[i], int(est[i]), int(lo[i]), int(hi[i])) for i in order.tolist()]

    @property
    def nbytes(self) -> int:
        """Rough bytes of the kept items (their Python objects and the dict)."""
        import sys

        return sys.getsizeof(self.items) + sum(sys.getsizeof(x) for x in self.items)
