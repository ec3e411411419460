"""Worker-side steps of every distributed job: build one partition's sketch, merge partials.

Nothing here imports dask: these are the plain functions dask ships to the workers. Tasks hand
sketches to each other as objects; whenever one crosses a process boundary, pickle goes through
:meth:`~sketchkit._base.Sketch.__reduce__`, i.e. the versioned, checksummed ``to_bytes`` form,
so a worker and the driver never exchange anything else. A merge on the worker that built
its inputs costs no serialization at all.
"""

from __future__ import annotations

import itertools
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._base import INT64_MAX, Sketch
from .._format import load
from ..errors import IncompatibleSketchError, InvalidItemError, InvalidParameterError

# Items handed to update_batch at once when a partition is streamed: large enough that the
# per-call overhead vanishes, small enough that a partition never has to sit in memory whole.
STREAM_BATCH = 1 << 16


@dataclass(frozen=True)
class SketchFactory:
    """How a worker makes the empty sketch it fills: from a template's bytes, or a callable.

    A template ships as the bytes of its :meth:`empty_like`, so every partition starts from
    the same class, shape and seed. A ``make`` callable runs on every worker; if it does not
    return identical configurations (a fresh random seed per call, a seed from builtin
    ``hash()``), the merge refuses with :class:`~sketchkit.errors.IncompatibleSketchError`.
    """

    template: bytes | None = None
    make: Callable[[], Sketch] | None = None

    @classmethod
    def from_template(cls, sketch: Any) -> SketchFactory:
        check_sketch(sketch, "sketch")
        # An empty table is mostly zeros: compressed, it costs the graph (which dask hashes and
        # ships with every task) about a kilobyte instead of the sketch's full size.
        return cls(template=zlib.compress(sketch.empty_like().to_bytes(), 1))

    @classmethod
    def from_callable(cls, make_sketch: Any) -> SketchFactory:
        if not callable(make_sketch):
            raise InvalidParameterError(f"make_sketch must be callable, got {type(make_sketch).__name__}")
        return cls(make=make_sketch)

    def new(self) -> Sketch:
        if self.template is not None:
            return _empty_from_template(self.template)
        sketch = self.make()  # type: ignore[misc]
        check_sketch(sketch, "make_sketch()")
        if not sketch.is_empty():
            raise InvalidParameterError("make_sketch() must return an empty sketch; it returned one holding data")
        return sketch


# Per-process cache of decoded templates: a worker runs many partitions of one job, and an
# empty_like() of a decoded template is far cheaper than decompressing and checking its bytes.
_TEMPLATES: OrderedDict[bytes, Sketch] = OrderedDict()
_TEMPLATE_CACHE_SIZE = 16


_TEMPLATES_LOCK = threading.Lock()  # threaded schedulers run partitions concurrently


def _empty_from_template(template: bytes) -> Sketch:
    with _TEMPLATES_LOCK:
        cached = _TEMPLATES.get(template)
        if cached is None:
            cached = load(zlib.decompress(template))
            _TEMPLATES[template] = cached
            while len(_TEMPLATES) > _TEMPLATE_CACHE_SIZE:
                _TEMPLATES.popitem(last=False)
        else:
            _TEMPLATES.move_to_end(template)
    return cached.empty_like()


def check_sketch(sketch: Any, what: str) -> None:
    if not isinstance(sketch, Sketch):
        raise InvalidParameterError(f"{what} must be a sketchkit sketch, got {type(sketch).__name__}")


def describe(sketch: Sketch) -> str:
    return f"{type(sketch).__name__} shape={sketch.shape} seed={sketch.seed}"


def _mismatch(acc: Sketch, other: Sketch, context: str, exc: Exception) -> IncompatibleSketchError:
    return IncompatibleSketchError(
        f"{context}: {describe(acc)} vs {describe(other)} ({exc}). Every partition must build the "
        "same class, shape and seed; a factory that draws a random seed per call, or derives "
        "one from builtin hash(), breaks this"
    )


def merge_into(acc: Sketch, other: Sketch, context: str) -> Sketch:
    """``acc.merge(other)``, with a message that says where the mismatch came from."""
    try:
        return acc.merge(other)
    except IncompatibleSketchError as exc:
        raise _mismatch(acc, other, context, exc) from None


def check_same_config(acc: Sketch, other: Sketch, context: str) -> None:
    """Refuse, as :func:`merge_into` would, an ``other`` that ``acc`` could not merge."""
    try:
        acc.check_mergeable(other)
    except IncompatibleSketchError as exc:
        raise _mismatch(acc, other, context, exc) from None


# ----------------------------------------------------------------------------- items
def column_batch(values: Any, what: str = "column") -> list | np.ndarray:
    """A pandas Series / numpy array / arrow array of keys as an update_batch argument.

    Integer columns stay int64 arrays (the fast path); everything else becomes a list of
    Python objects that the core checks item by item (a float column is refused there,
    since floats have no canonical encoding). Missing values are refused here: a sketch
    cannot tell a null from a real key, and silently dropping them would lose data.
    """
    if hasattr(values, "to_pylist") and hasattr(values, "null_count"):  # pyarrow Array
        if values.null_count:
            raise InvalidItemError(f"{what} holds {values.null_count} missing values; drop or fill them first")
        kind = str(values.type)
        if kind.startswith(("int", "uint")):
            return _int64_keys(values.to_numpy(zero_copy_only=False), what)
        return values.to_pylist()
    if hasattr(values, "isna") and hasattr(values, "to_numpy"):  # pandas Series / Index
        missing = int(values.isna().sum())
        if missing:
            raise InvalidItemError(f"{what} holds {missing} missing values; drop or fill them first")
        kind = values.dtype.kind
        if kind in "iub":
            return _int64_keys(values.to_numpy(dtype=np.uint64 if kind == "u" else np.int64), what)
        return values.tolist()
    if isinstance(values, np.ndarray):
        return values.reshape(-1)
    return list(values)


def _int64_keys(arr: np.ndarray, what: str) -> np.ndarray:
    """An integer column as int64, refusing uint64 values past 2**63 − 1: they are outside the
    int64 domain of int items, and a plain cast would turn them into negative keys."""
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > INT64_MAX:
        raise InvalidItemError(
            f"{what} holds uint64 values of 2**63 or more, outside the int64 range of int items; "
            "map them into int64 yourself (say, subtract 2**64) or pass them as str or bytes"
        )
    return np.ascontiguousarray(arr, dtype=np.int64)


def weight_batch(values: Any, what: str = "weights") -> np.ndarray | None:
    if values is None:
        return None
    batch = column_batch(values, what)
    return np.asarray(batch) if isinstance(batch, list) else batch


# ----------------------------------------------------------------------------- steps
def build_from_batches(factory: SketchFactory, batches: Iterable[tuple[Any, Any]]) -> Sketch:
    """One partition: an empty sketch, ``update_batch`` per ``(items, weights)`` batch."""
    sketch = factory.new()
    for items, weights in batches:
        sketch.update_batch(items, weights)
    return sketch


def build_partition(factory: SketchFactory, items: Any, weights: Any = None) -> Sketch:
    """One partition given as a whole (a numpy chunk, a pandas Series)."""
    return build_from_batches(factory, [(column_batch(items, "partition"), weight_batch(weights))])


def build_frame_partition(factory: SketchFactory, frame: Any, column: Any, weight_column: Any) -> Sketch:
    weights = None if weight_column is None else frame[weight_column]
    keys = column_batch(frame[column], f"column {column!r}")
    return build_from_batches(factory, [(keys, weight_batch(weights, f"weight column {weight_column!r}"))])


def build_streamed(factory: SketchFactory, items: Iterable[Any], weighted: bool = False) -> Sketch:
    """One bag partition (a list or a lazy iterator), fed in bounded batches.

    With ``weighted`` each element is an ``(item, weight)`` pair.
    """
    it = iter(items)

    def batches():
        while True:
            chunk = list(itertools.islice(it, STREAM_BATCH))
            if not chunk:
                return
            if weighted:
                try:
                    keys, weights = zip(*chunk)
                except (TypeError, ValueError):
                    raise InvalidItemError("a weighted bag must hold (item, weight) pairs") from None
                yield list(keys), list(weights)
            else:
                yield chunk, None

    return build_from_batches(factory, batches())


def as_sketch(obj: Any) -> Sketch:
    """A sketch, or a sketch rebuilt from its bytes."""
    if isinstance(obj, Sketch):
        return obj
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return load(obj)
    raise InvalidParameterError(f"expected a sketchkit sketch or its bytes, got {type(obj).__name__}")


def merge_partials(partials: Sequence[Any]) -> Sketch:
    """One node of the merge tree: a new sketch, the inputs untouched (dask may still hold them)."""
    if not partials:
        raise InvalidParameterError("nothing to merge")
    acc = as_sketch(partials[0]).copy()
    for other in partials[1:]:
        merge_into(acc, as_sketch(other), "sketches built on different partitions cannot be merged")
    return acc


def merge_sketch_partition(objs: Iterable[Any]) -> Sketch | None:
    """Merge one bag partition of prebuilt sketches (or their bytes); None when it is empty."""
    items = list(objs)
    return merge_partials(items) if items else None


def merge_optional(partials: Sequence[Sketch | None]) -> Sketch | None:
    present = [p for p in partials if p is not None]
    return merge_partials(present) if present else None
