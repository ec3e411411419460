"""The driver side: a tree of merges over per-partition sketches, computed by dask."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask
from dask.delayed import Delayed, delayed
from dask.sizeof import sizeof

from .._base import Sketch, check_positive_int
from ..errors import InvalidParameterError
from . import _partials as P


def check_split_every(split_every: Any) -> int:
    split_every = check_positive_int("split_every", split_every)
    if split_every < 2:
        raise InvalidParameterError(f"split_every must be at least 2 (a merge node's fan-in), got {split_every}")
    return split_every


def merge_tree(partials: Sequence[Delayed], split_every: int, merge=P.merge_partials) -> Delayed:
    """Merge ``partials`` ``split_every`` at a time until one is left (depth ⌈log_k n⌉)."""
    level = list(partials)
    while len(level) > 1:
        level = [
            delayed(merge, pure=True)(level[i : i + split_every])
            for i in range(0, len(level), split_every)
        ]
    return level[0]


def reduce_partials(partials: Sequence[Delayed], split_every: int, merge=P.merge_partials) -> Sketch | None:
    """Compute the merge tree on the current dask scheduler; None when there are no partitions."""
    if not partials:
        return None
    (root,) = dask.compute(merge_tree(partials, check_split_every(split_every), merge))
    return root


def finish(result: Sketch | None, start: Sketch, context: str) -> Sketch:
    """Fold the workers' merged sketch into ``start`` (a fresh copy) in the driver.

    The driver-side merge is also the check that the workers built what the driver expects:
    a factory whose configuration differs between the worker processes and this one (a seed
    from builtin ``hash()`` under dask's pinned worker ``PYTHONHASHSEED``) fails here.
    """
    if result is None:
        return start
    if start.is_empty():
        # Hand back the workers' sketch itself: for summaries whose merge is not exact
        # (SpaceSaving, HeavyHitters), folding it into an empty one would still change it.
        P.check_same_config(start, result, context)
        return result
    return P.merge_into(start, result, context)


@sizeof.register(Sketch)
def _sizeof_sketch(sketch: Sketch) -> int:
    # dask's default (sys.getsizeof: ~100 bytes) would hide the tables from its memory accounting
    # and from the scheduler, which places a merge node where most of its inputs' bytes already are.
    return sketch.nbytes
