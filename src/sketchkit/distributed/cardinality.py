"""Distinct counts of dask collections: :func:`distinct_count`.

Each partition fills its own :class:`~sketchkit.cardinality.Distinct`; the tree of merges ends in
one sketch whose registers are bit-identical to one process reading the same items (register
merges are exact and order-free). Its estimate is then the maximum-likelihood one (several dense
partitions were merged), equal to ``estimate_ml()`` of that one-process sketch; a single process
would answer with the martingale estimator instead (same stated bound, see docs/cardinality.md).
"""

from __future__ import annotations

from typing import Any

from ..cardinality import Distinct
from ..hashing import DEFAULT_SEED
from .collections import sketch_array, sketch_bag, sketch_column

__all__ = ["distinct_count"]


def distinct_count(
    data: Any,
    *,
    column: Any = None,
    precision: int = 12,
    seed: int = DEFAULT_SEED,
    sketch: Any = None,
    split_every: int = 8,
) -> Distinct:
    """A :class:`Distinct` (or ``sketch``'s class and configuration, e.g. a ThetaSketch) of a
    ``dask.array`` (integer, str or bytes), a ``dask.bag`` or ``data[column]`` of a
    ``dask.dataframe``.

    >>> import dask, dask.array as da
    >>> with dask.config.set(scheduler="sync"):
    ...     d = distinct_count(da.arange(100_000, chunks=25_000) % 5_000, precision=10)
    >>> abs(d.estimate() / 5_000 - 1) < d.relative_error()
    True
    """
    template = sketch if sketch is not None else Distinct(precision, seed=seed)
    if column is not None:
        return sketch_column(data, column, template, split_every=split_every)
    import dask.array as da
    import dask.bag as db

    if isinstance(data, da.Array):
        return sketch_array(data, template, split_every=split_every)
    if isinstance(data, db.Bag):
        return sketch_bag(data, template, split_every=split_every)
    raise TypeError(
        f"distinct_count takes a dask array or bag, or a dask dataframe with column=; got {type(data).__name__}"
    )
