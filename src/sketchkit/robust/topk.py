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

Candidates are the distinct items of the window; when they pass twice ``max_candidates``, the
``max_candidates`` with the largest noise-free medians are kept (Charikar et al.'s candidate
heap; this ranking is internal, never published and not counted as a query, though which
items stay candidates depends on it). Each list ranks the candidates by the sketch's noisy
answers. Integer items given as a numpy array stay in a numpy array (one vectorised query per
list). ``sketchkit topk --robust`` publishes its lists from a :class:`RobustTopK`.

>>> tk = RobustTopK(width=64, depth=9, k=2, key=bytes(16), rng=3)
>>> tk.update_batch(["x"] * 60 + ["y"] * 40 + [f"t{i}" for i in range(300)])
>>> [row[0] for row in tk.top()]
['x', 'y']
>>> tk.queries_left
545
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
            new = np.setdiff1d(np.unique(items.astype(np.int64)), self._int_candidates, assume_unique=True)
            self._int_candidates = np.concatenate([self._int_candidates, new])
            if self._int_candidates.size > 2 * self.max_candidates:
                keep = self._strongest(self._int_candidates)
                self._int_candidates = self._int_candidates[np.sort(keep)]
            return
        batch = as_item_list(items)
        self.sketch.update_batch(batch, weights)
        if self._int_candidates.size:  # mixed item kinds: fall back to one dict of items
            self._candidates = dict.fromkeys(self._int_candidates.tolist())
            self._int_candidates = np.empty(0, dtype=np.int64)
        self._candidates.update(dict.fromkeys(batch))
        if len(self._candidates) > 2 * self.max_candidates:
            items_now = list(self._candidates)
            self._candidates = dict.fromkeys(items_now[i] for i in np.sort(self._strongest(items_now)).tolist())

    def _strongest(self, items: Any) -> np.ndarray:
        """Indices of the ``max_candidates`` items with the largest noise-free medians (internal)."""
        est = self.sketch._plain_estimate(items)
        return np.argsort(-est, kind="stable")[: self.max_candidates]

    def update(self, item: Any, weight: int = 1) -> None:
        self.update_batch([item], None if weight == 1 else [weight])

    def top(self, k: int | None = None) -> list[tuple[Any, int, int, int]]:
        """The list: ``(item, estimate, lower, upper)``, heaviest first (one query)."""
        cands = self._int_candidates if self._int_candidates.size else self._candidates
        return self.sketch.top(self.k if k is None else k, cands)

    @classmethod
    def from_memory(cls, budget: int | str, *, k: int = 10, depth: int = 21, copies: int = 1,
                    seed: int = DEFAULT_SEED, **params: Any) -> RobustTopK:
        """A list over the widest :class:`RobustCountSketch` whose state fits in ``budget``
        (candidates: 50·k, at least 1000, as the CLI keeps beside a linear sketch)."""
        sketch = RobustCountSketch.from_memory(budget, depth=depth, copies=copies, seed=seed, **params)
        return cls(0, k=k, max_candidates=max(1000, 50 * k), sketch=sketch)

    # what the CLI and ``info`` read from a sketch
    @property
    def seed(self) -> int:
        return self.sketch.seed

    @property
    def width(self) -> int:
        return self.sketch.width

    @property
    def depth(self) -> int:
        return self.sketch.depth

    @property
    def total_weight(self) -> int:
        return self.sketch.total_weight

    def is_empty(self) -> bool:
        return self.sketch.is_empty()

    def to_bytes(self) -> bytes:
        """The sketch's bytes (the candidates are not kept)."""
        return self.sketch.to_bytes()

    def error_bound(self, delta: float = 0.01) -> float:
        return self.sketch.error_bound(delta)

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
