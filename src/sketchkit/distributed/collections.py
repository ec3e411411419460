"""Sketch a dask Bag, a dask Array of keys, or a dask DataFrame column.

Each function builds one sketch per partition on the workers (``update_batch`` on the
partition's keys), merges the partials in a tree of fan-in ``split_every``, and returns an
ordinary sketch in the driver. The result is a *new* sketch: a copy of the ``sketch`` you pass
with every key of the collection added, exactly what
``s = sketch.copy(); s.update_batch(all_keys)`` would give in one process; ``sketch`` itself is
left as it was. For linear sketches (CountSketch, Count-Min without conservative update) that
equality is bit for bit, whatever the partitioning and tree shape, since their merge is the sum
of counter tables.
"""

from __future__ import annotations

from typing import Any

from dask.delayed import delayed

from .._base import Sketch
from ..errors import InvalidParameterError
from . import _partials as P
from ._tree import finish, reduce_partials

__all__ = ["sketch_bag", "sketch_array", "sketch_column", "merge_sketches"]

_CONTEXT = "the sketch merged on the workers does not match the one given"


def _start(sketch: Any) -> tuple[P.SketchFactory, Sketch]:
    factory = P.SketchFactory.from_template(sketch)
    return factory, sketch.copy()


def sketch_bag(bag: Any, sketch: Sketch, *, weighted: bool = False, split_every: int = 8) -> Sketch:
    """Add every element of a ``dask.bag.Bag`` to a copy of ``sketch``.

    Elements are ints, strs or bytes (or ``(item, weight)`` pairs with ``weighted=True``).
    Each partition is streamed in batches of ``STREAM_BATCH`` elements, so a worker never
    holds more than one batch of keys beyond what the bag itself materialises.

    >>> import dask, dask.bag as db
    >>> from sketchkit import CountMin
    >>> words = db.from_sequence(["a", "b", "a", "c", "a"], npartitions=2)
    >>> with dask.config.set(scheduler="sync"):
    ...     cm = sketch_bag(words, CountMin(width=64, depth=3))
    >>> cm.estimate("a") >= 3, cm.total_weight
    (True, 5)
    """
    factory, start = _start(sketch)
    parts = [delayed(P.build_streamed, pure=True)(factory, p, weighted) for p in bag.to_delayed()]
    return finish(reduce_partials(parts, split_every), start, _CONTEXT)


def sketch_array(keys: Any, sketch: Sketch, *, weights: Any = None, split_every: int = 8) -> Sketch:
    """Add every key of a ``dask.array`` (integer, str or bytes dtype) to a copy of ``sketch``.

    A multi-dimensional array is read block by block, each block in C order. ``weights`` is an
    optional integer dask array with the same shape and chunks.

    >>> import dask, dask.array as da
    >>> from sketchkit import CountSketch
    >>> keys = da.arange(10_000, chunks=2_500) % 7
    >>> with dask.config.set(scheduler="sync"):
    ...     cs = sketch_array(keys, CountSketch(width=64, depth=5))
    >>> cs.total_weight
    10000
    """
    factory, start = _start(sketch)
    key_blocks = keys.to_delayed().ravel()
    if weights is None:
        parts = [delayed(P.build_partition, pure=True)(factory, b) for b in key_blocks]
    else:
        if tuple(weights.shape) != tuple(keys.shape) or tuple(weights.chunks) != tuple(keys.chunks):
            raise InvalidParameterError(
                f"weights must have the keys' shape and chunks: keys {keys.shape} {keys.chunks}, "
                f"weights {weights.shape} {weights.chunks}"
            )
        weight_blocks = weights.to_delayed().ravel()
        parts = [
            delayed(P.build_partition, pure=True)(factory, b, w) for b, w in zip(key_blocks, weight_blocks)
        ]
    return finish(reduce_partials(parts, split_every), start, _CONTEXT)


def sketch_column(
    frame: Any, column: Any, sketch: Sketch, *, weight_column: Any = None, split_every: int = 8
) -> Sketch:
    """Add every value of ``frame[column]`` (a ``dask.dataframe``) to a copy of ``sketch``.

    Integer columns take the int64 fast path; string/object columns are hashed as str/bytes.
    Missing values raise :class:`~sketchkit.errors.InvalidItemError` (drop or fill them
    first). ``weight_column`` names an optional integer column of weights.

    >>> import dask, pandas as pd, dask.dataframe as dd
    >>> from sketchkit import CountMin
    >>> df = dd.from_pandas(pd.DataFrame({"user": ["u1", "u2", "u1"], "n": [2, 1, 5]}), npartitions=2)
    >>> with dask.config.set(scheduler="sync"):
    ...     cm = sketch_column(df, "user", CountMin(width=64, depth=3), weight_column="n")
    >>> cm.estimate("u1") >= 7, cm.total_weight
    (True, 8)
    """
    factory, start = _start(sketch)
    parts = column_partials(frame, column, weight_column, factory)
    return finish(reduce_partials(parts, split_every), start, _CONTEXT)


def column_partials(frame: Any, column: Any, weight_column: Any, factory: P.SketchFactory) -> list:
    """One delayed partial sketch per partition of ``frame[column]``."""
    columns = [column] if weight_column is None else [column, weight_column]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidParameterError(f"no column {missing[0]!r} in the frame; it has {list(frame.columns)}")
    blocks = frame[columns].to_delayed()
    return [delayed(P.build_frame_partition, pure=True)(factory, b, column, weight_column) for b in blocks]


def merge_sketches(sketches: Any, *, split_every: int = 8) -> Sketch:
    """Tree-merge a ``dask.bag.Bag`` of sketches (or their bytes) built elsewhere.

    Raises :class:`~sketchkit.errors.IncompatibleSketchError`, naming both configurations,
    if two of them differ in class, shape or seed.
    """
    parts = [delayed(P.merge_sketch_partition, pure=True)(p) for p in sketches.to_delayed()]
    merged = reduce_partials(parts, split_every, merge=P.merge_optional)
    if merged is None:
        raise InvalidParameterError("merge_sketches needs at least one sketch")
    return merged
