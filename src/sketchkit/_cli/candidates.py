"""Candidate heavy items kept beside a linear sketch, which stores counts but no items.

Charikar et al.'s heap of candidates: after each chunk, items whose estimate beats the
weakest kept candidate join the set; the set is cut back by estimate when it doubles past
``capacity`` or outgrows its byte budget. An item heavy enough to be in the final top k has a
large estimate whenever it is seen, so it is kept (up to the sketch's own error).

The CLI gives the set a quarter of ``--memory`` (:func:`split_budget`) and the sketch the rest,
so the two together stay within the budget after every batch.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .kinds import estimates

CANDIDATE_SHARE = 4  # the candidate set gets 1/CANDIDATE_SHARE of --memory


def split_budget(memory: int) -> tuple[int, int]:
    """``(sketch bytes, candidate-set bytes)`` of a ``--memory`` budget for a linear sketch."""
    reserve = memory // CANDIDATE_SHARE
    return memory - reserve, reserve


class Candidates:
    """``capacity`` items at most after a cut; ``max_bytes``: the set's byte budget (:attr:`nbytes`,
    its items' Python objects and the dict), checked after every batch: when exceeded, the set is cut
    to the heaviest items that fit in half of it. ``fit`` is how many the last cut kept."""

    def __init__(self, sketch: Any, capacity: int, max_bytes: int | None = None):
        self.sketch = sketch
        self.capacity = max(int(capacity), 1)
        self.max_bytes = max_bytes
        self.items: dict[Any, None] = {}
        self.floor = None  # smallest estimate kept at the last cut
        self.fit = self.capacity
        self._item_bytes = 0

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
        new = [x for x in dict.fromkeys(chosen) if x not in self.items]
        self.items.update(dict.fromkeys(new))
        self._item_bytes += sum(map(sys.getsizeof, new))
        if len(self.items) > 2 * self.capacity or (self.max_bytes is not None and self.nbytes > self.max_bytes):
            self._cut()

    def _cut(self) -> None:
        keys = list(self.items)
        est = self.sketch.estimate_batch(keys)
        order = np.argsort(-est, kind="stable")[: self.capacity]
        sizes = np.fromiter((sys.getsizeof(keys[i]) for i in order.tolist()), dtype=np.int64, count=order.size)
        m = order.size
        if self.max_bytes is not None:
            target = self.max_bytes // 2
            m = int(np.searchsorted(np.cumsum(sizes) + sys.getsizeof({}), target, side="right"))
            while m and sys.getsizeof(dict.fromkeys(range(m))) + int(sizes[:m].sum()) > target:
                m -= max(1, m // 16)  # the dict's own table: drop the lightest until it fits
        kept = order[:m]
        self.items = dict.fromkeys(keys[i] for i in kept.tolist())
        self._item_bytes = int(sizes[:m].sum())
        self.fit = m
        self.floor = int(est[kept[-1]]) if m else int(est[order[0]]) + 1

    def top(self, k: int) -> list[tuple[Any, int, int, int]]:
        keys = list(self.items)
        if not keys:
            return []
        est, lo, hi = estimates(self.sketch, keys)
        order = np.argsort(-est, kind="stable")[:k]
        return [(keys[i], int(est[i]), int(lo[i]), int(hi[i])) for i in order.tolist()]

    @property
    def nbytes(self) -> int:
        """Bytes of the kept items' Python objects and of the dict that holds them."""
        return sys.getsizeof(self.items) + self._item_bytes
