"""One sketch per group of a dask DataFrame, as a ``dd.Aggregation``.

``chunk`` builds a sketch per group within each partition, ``agg`` merges a group's partial
sketches (dask applies it in a tree of fan-in ``split_every``), and the groups come back to
the driver as sketch bytes, turned into sketches there. Every group's sketch has the
template's class, shape and seed, so group sketches can also be merged with one another.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import dask

from .._base import Sketch
from .._format import load
from ..errors import InvalidItemError, InvalidParameterError
from . import _partials as P
from ._tree import check_split_every

__all__ = ["sketch_aggregation", "sketch_groupby"]


def _chunk_group(factory: P.SketchFactory, values: Any) -> bytes:
    # Missing values are skipped here and counted by the driver (see sketch_groupby): dask also
    # calls chunk on made-up metadata rows that contain a null, so raising here is not an option.
    return P.build_partition(factory, values.dropna()).to_bytes()


def _chunk(factory: P.SketchFactory, grouped: Any) -> Any:
    return grouped.apply(partial(_chunk_group, factory))


def _agg_group(partials: Any) -> bytes:
    return P.merge_partials(list(partials)).to_bytes()


def _agg(grouped: Any) -> Any:
    return grouped.apply(_agg_group)


def sketch_aggregation(sketch: Sketch, name: str = "sketch") -> Any:
    """A ``dask.dataframe.Aggregation`` whose per-group result is the bytes of a sketch.

    The sketch is an empty copy of ``sketch`` (its contents are not included); missing values
    are skipped, as pandas aggregations do. Use it as
    ``frame.groupby(key)[column].agg(sketch_aggregation(template), split_every=8)`` and
    read each value back with :func:`sketchkit.from_bytes`; :func:`sketch_groupby` does both.
    """
    import dask.dataframe as dd

    factory = P.SketchFactory.from_template(sketch)
    return dd.Aggregation(name, partial(_chunk, factory), _agg)


def sketch_groupby(
    frame: Any, by: Any, column: Any, sketch: Sketch, *, dropna: bool = False, split_every: int = 8
) -> dict:
    """``{group: sketch}`` of ``frame[column]`` grouped by ``by`` (an empty copy of ``sketch`` each).

    Missing values in ``column`` raise :class:`~sketchkit.errors.InvalidItemError` (counted in
    the same pass over the data) unless ``dropna=True`` skips them. Rows whose group key is
    missing are left out, as in pandas.

    >>> import dask, pandas as pd, dask.dataframe as dd
    >>> from sketchkit import CountMin
    >>> pdf = pd.DataFrame({"shop": [1, 2, 1, 1], "item": ["x", "y", "x", "z"]})
    >>> df = dd.from_pandas(pdf, npartitions=2)
    >>> with dask.config.set(scheduler="sync"):
    ...     per_shop = sketch_groupby(df, "shop", "item", CountMin(width=64, depth=3))
    >>> sorted(per_shop), per_shop[1].estimate("x") >= 2, per_shop[2].total_weight
    ([1, 2], True, 1)
    """
    split_every = check_split_every(split_every)
    for c in ([by] if not isinstance(by, list) else by) + [column]:
        if c not in frame.columns:
            raise InvalidParameterError(f"no column {c!r} in the frame; it has {list(frame.columns)}")
    agg = sketch_aggregation(sketch)
    per_group = frame.groupby(by)[column].agg(agg, split_every=split_every)
    result, missing = dask.compute(per_group, frame[column].isna().sum())
    if missing and not dropna:
        raise InvalidItemError(
            f"column {column!r} holds {int(missing)} missing values; drop or fill them, or pass dropna=True"
        )
    return {key: load(raw) for key, raw in result.items()}
