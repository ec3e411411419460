"""The query layer every frequency sketch shares, defined once.

A frequency sketch answers point queries about items' (net) counts. Subclasses give two hooks
on already-hashed keys — ``_estimate_keys(keys, raw)`` and ``_bounds_keys(keys, raw)`` — plus
``epsilon``, ``delta`` and ``error_bound()``; everything else (single items, batches, pre-hashed
items, ``in``) is written here once, so every class answers the same way.

``keys, raw`` is what :meth:`Sketch._keys_of` returns: raw int64 items (``raw=True``, hashed inside
the kernels) or uint64 item hashes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._base import Sketch, check_hashes
from ..errors import ItemTypeError
from . import _bounds as B


class FrequencySketch(Sketch):
    """Point queries: ``estimate``, ``lower_bound``/``upper_bound``, ``bounds``, each also for a
    batch (``*_batch``) and for pre-hashed items (``*_hashed``), ``x in sketch``, and the
    guarantee's ``epsilon``, ``delta`` and ``error_bound()``."""

    __slots__ = ()

    # ------------------------------------------------------------------ hooks
    def _estimate_keys(self, keys: np.ndarray, raw: bool) -> np.ndarray:
        raise NotImplementedError

    def _bounds_keys(self, keys: np.ndarray, raw: bool) -> tuple[np.ndarray, np.ndarray]:
        """Two-sided by default: estimate ∓ ⌈error_bound()⌉, saturating at the int64 range
        (CountSketch-style guarantees; one-sided sketches override this)."""
        est = self._estimate_keys(keys, raw)
        e = math.ceil(self.error_bound())
        return B.minus(est, e), B.plus(est, e)

    @property
    def epsilon(self) -> float:
        """The guarantee's ε (its meaning is stated in the class docstring)."""
        raise NotImplementedError

    @property
    def delta(self) -> float:
        """The guarantee's failure probability per query (0 for deterministic sketches)."""
        raise NotImplementedError

    def error_bound(self) -> float:
        """The additive error the guarantee allows now, in counts."""
        raise NotImplementedError

    # ------------------------------------------------------------------ queries
    def estimate(self, item: Any) -> int:
        """The estimated (net) count of ``item``."""
        return int(self.estimate_batch([item])[0])

    def estimate_batch(self, items: Any) -> np.ndarray:
        """Estimates for a batch of items, as an int64 array."""
        return self._estimate_keys(*self._keys_of(items))

    def estimate_hashed(self, hashes: np.ndarray) -> np.ndarray:
        """Estimates for items given by their :meth:`item_hashes`."""
        return self._estimate_keys(self._hashed_keys(hashes), False)

    def bounds(self, item: Any) -> tuple[int, int]:
        """``(lower, upper)`` around the true count, as the class's guarantee states."""
        lo, hi = self.bounds_batch([item])
        return int(lo[0]), int(hi[0])

    def bounds_batch(self, items: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` int64 arrays for a batch of items."""
        return self._bounds_keys(*self._keys_of(items))

    def bounds_hashed(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` for items given by their :meth:`item_hashes`."""
        return self._bounds_keys(self._hashed_keys(hashes), False)

    def lower_bound(self, item: Any) -> int:
        return self.bounds(item)[0]

    def upper_bound(self, item: Any) -> int:
        return self.bounds(item)[1]

    def lower_bound_batch(self, items: Any) -> np.ndarray:
        return self.bounds_batch(items)[0]

    def upper_bound_batch(self, items: Any) -> np.ndarray:
        return self.bounds_batch(items)[1]

    def __contains__(self, item: Any) -> bool:
        """``estimate(item) > 0``: for a top-k summary, the item is tracked; for Count-Min,
        it may have occurred (no false negatives); for CountSketch, its estimate is positive."""
        return self.estimate(item) > 0

    def __len__(self) -> int:
        """The number of items the sketch tracks (top-k summaries); a linear sketch tracks none
        and raises TypeError: its size is ``nbytes``, its stream's weight ``total_weight``."""
        raise TypeError(
            f"{type(self).__name__} tracks no items, so len() is undefined: "
            "use total_weight for the stream's weight or nbytes for its size"
        )

    def _hashed_keys(self, hashes: np.ndarray) -> np.ndarray:
        if self.item_kind == "int":
            raise ItemTypeError(f"{type(self).__name__} places raw integer keys: query it with the keys")
        return check_hashes(hashes)
