r"""A public top-k ("trending") list that stays honest under an adversary who reads it.

The natural attack on a published top-k list: the list is recomputed for every window of the
stream with the same sketch randomness, the adversary sees each list and chooses the next
window's items (:func:`sketchkit.robust.attacks.topk_attack`, the Cohen et al. 2022 attack run
through the list only). After a few hundred windows it can submit a window in which an item of
true count 1 is reported as an ℓ₂ heavy hitter — a light item reported heavy, which also pushes
a heavy one off the list. :class:`RobustTopK` answers each list from a
:class:`~sketchkit.robust.RobustCountSketch` (secret key, noisy median, query budget, sketch
switching), so the guarantee and the budget are that sketch's: **one list is one query**, and
the windows share the budget (``next_window`` keeps the key and the count of answers).

Candidates are the distinct items of the window, up to ``max_candidates`` (first come);
each list ranks them by the sketch's noisy answers. Integer items given as a numpy array stay
in a numpy array (one vectorised query for the list).

>>> tk = RobustTopK(width=64, depth=9, k=2, key=bytes(16), rng=3)
>>> tk.update_batch(["x"] * 60 + ["y"] * 40 + [f"t{i}" for i in range(300)])
>>> [row[0] for row in tk.top()]
['x', 'y']
>>> tk.queries_left
728
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._base import check_positive_int
from ..hashing import DEFAULT_SEED, as_item_list, mapping_batch
from .robust_countsketch import DEFAULT_ETA, RobustCountSketch

__all__ = ["RobustTopK"]


class RobustTopK:
    """Top-k lists over stream windows, answered by a :class:`RobustCountSketch`.

    Parameters
    ----------
    width, depth, copies, eta, query_budget, seed, key, rng : as :class:`RobustCountSketch`.
    k : list length (default 10).
    max_candidates : distinct items of a window considered for the list (default 100 000).
    """

    def __init__(
        self,
        width: int,
        depth: int = 21,
        k: int = 10,
        *,
        copies: int = 1,
        eta: float = DEFAULT_ETA,
        query_budget: int | None = None,
        max_candidates: int = 100_000,
        seed: int = DEFAULT_SEED,
        key: bytes | None = None,
        rng: Any = None,
        sketch: RobustCountSketch | None = None,
    ):
        self.k = check_positive_int("k", k, 1 << 20)
        self.max_candidates = check_positive_int("max_candidates", max_candidates, 1 << 40)
        self.sketch = sketch if sketch is not None else RobustCountSketch(
            width, depth, copies=copies, eta=eta, query_budget=query_budget, seed=seed, key=key, rng=rng)
        self._candidates: dict[Any, None] = {}
        self._int_candidates = np.empty(0, dtype=np.int64)

    def update_batch(self, items: Any, weights: Any = None) -> None:
        """Count a batch into the current window (a mapping adds each key with its value)."""
        items, weights = mapping_batch(items, weights)
        if isinstance(items, np.ndarray) and items.dtype.kind == "i" and not self._candidates:
            self.sketch.update_batch(items, weights)
            room = self.max_candidates - self._int_candidates.size
            if room > 0:
                new = np.setdiff1d(np.unique(items.astype(np.int64)), self._int_candidates, assume_unique=True)
                self._int_candidates = np.concatenate([self._int_candidates, new[:room]])
            return
        batch = as_item_list(items)
        self.sketch.update_batch(batch, weights)
        if self._int_candidates.size:  # mixed item kinds: fall back to one dict of items
            self._candidates = dict.fromkeys(self._int_candidates.tolist())
            self._int_candidates = np.empty(0, dtype=np.int64)
        distinct = batch
        room = self.max_candidates - len(self._candidates)
        for x in distinct:
            if room <= 0:
                break
            if x not in self._candidates:
                self._candidates[x] = None
                room -= 1

    def update(self, item: Any, weight: int = 1) -> None:
        self.update_batch([item], None if weight == 1 else [weight])

    def top(self, k: int | None = None) -> list[tuple[Any, int, int, int]]:
        """The list: ``(item, estimate, lower, upper)``, heaviest first (one query)."""
        cands = self._int_candidates if self._int_candidates.size else self._candidates
        return self.sketch.top(self.k if k is None else k, cands)

    def next_window(self) -> RobustTopK:
        """An empty window with the same key, copies and count of answers given."""
        return RobustTopK(0, k=self.k, max_candidates=self.max_candidates, sketch=self.sketch.empty_like())

    @property
    def query_budget(self) -> int:
        return self.sketch.query_budget

    @property
    def queries_left(self) -> int:
        """Lists still covered by the adaptive guarantee (all windows and copies together)."""
        return self.sketch.queries_left

    def guarantee(self) -> str:
        return self.sketch.guarantee()

    @property
    def nbytes(self) -> int:
        """The sketch's bytes (the candidate set is the caller's items, not counted)."""
        return self.sketch.nbytes

    def __repr__(self) -> str:
        n = len(self._candidates) + self._int_candidates.size
        return f"RobustTopK(k={self.k}, candidates={n}, sketch={self.sketch!r})"
