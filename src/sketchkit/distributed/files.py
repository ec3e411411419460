"""Sketch large inputs straight from files: text lines, CSV columns, Parquet columns.

Paths may be globs (expanded with fsspec, so ``s3://`` and friends work where the matching
fsspec backend is installed). Each task streams its share of the input through
``update_batch`` in bounded batches, so a worker's memory is set by the batch, not the file:

* text: uncompressed files are cut into byte ranges of ``blocksize``, a line belonging to the
  range that holds its first byte; ``.gz``/``.bz2``/``.xz`` files cannot be split and are one
  task each, decompressed as a stream;
* Parquet: one task per row group, read in record batches;
* CSV: ``dask.dataframe.read_csv`` blocks of ``blocksize`` (one whole file when compressed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from dask.delayed import delayed

from .._base import Sketch, parse_memory
from ..errors import InvalidParameterError
from . import _partials as P
from ._tree import finish, reduce_partials
from .cluster import dask_client

__all__ = ["sketch_text_files", "sketch_csv", "sketch_parquet", "text_ranges"]

_CONTEXT = "the sketch merged on the workers does not match make_sketch() called in the driver"


def _expand(paths: str | list[str]) -> tuple[Any, list[str]]:
    from fsspec.core import url_to_fs

    if isinstance(paths, str):
        paths = [paths]
    if not paths or not all(isinstance(p, str) for p in paths):
        raise InvalidParameterError(f"paths must be a non-empty list of path strings or globs, got {paths!r}")
    if "-" in paths:
        raise InvalidParameterError("standard input cannot be split across workers; give file paths or globs")
    found: list[str] = []
    fs = None
    for pattern in paths:
        this_fs, path = url_to_fs(pattern)
        if any(c in path for c in "*?["):
            matched = sorted(p for p in this_fs.glob(path) if this_fs.isfile(p))
        else:
            matched = [path] if this_fs.isfile(path) else []
        if not matched:
            raise InvalidParameterError(f"no file matches {pattern!r}")
        if fs is not None and type(this_fs) is not type(fs):
            raise InvalidParameterError("all paths of one job must be on the same file system")
        fs = this_fs
        found.extend(matched)
    return fs, found


def _compression(path: str) -> str | None:
    from fsspec.utils import infer_compression

    return infer_compression(path)


def text_ranges(fs: Any, paths: list[str], blocksize: int) -> list[tuple[str, int, int, str | None]]:
    """``(path, start, end, compression)`` tasks covering every byte of every file once."""
    out = []
    for path in paths:
        comp = _compression(path)
        size = fs.size(path)
        if comp is not None or size == 0:
            out.append((path, 0, size, comp))
            continue
        out.extend((path, s, min(s + blocksize, size), None) for s in range(0, size, blocksize))
    return out


def _range_lines(fs: Any, path: str, start: int, end: int, compression: str | None) -> Iterator[bytes]:
    """The lines whose first byte lies in ``[start, end)`` (the whole stream when compressed)."""
    if compression is not None:
        with fs.open(path, mode="rb", compression=compression) as fh:
            yield from fh
        return
    with fs.open(path, mode="rb") as fh:
        pos = start
        if start > 0:
            # The line holding byte start-1 belongs to the previous range: skip through its end.
            fh.seek(start - 1)
            pos = start - 1 + len(fh.readline())
        while pos < end:
            line = fh.readline()
            if not line:
                return
            pos += len(line)
            yield line


def _strip_eol(line: bytes) -> str:
    if line.endswith(b"\n"):
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    return line.decode("utf-8")


def _text_batches(
    tokenize: Callable[[str], list], lines: Iterator[bytes], where: str
) -> Iterator[tuple[list, None]]:
    batch: list = []
    for lineno, raw in enumerate(lines, 1):
        try:
            text = _strip_eol(raw)
        except UnicodeDecodeError as exc:
            raise P.InvalidItemError(f"{where}: line {lineno} of the range is not UTF-8 ({exc.reason})") from None
        batch.extend(tokenize(text))
        if len(batch) >= P.STREAM_BATCH:
            yield batch, None
            batch = []
    if batch:
        yield batch, None


def _build_text_range(
    factory: P.SketchFactory, tokenize: Callable[[str], list], fs: Any, task: tuple[str, int, int, str | None]
) -> Sketch:
    path, start, end, compression = task
    where = f"{path} bytes [{start}, {end})"
    lines = _range_lines(fs, path, start, end, compression)
    return P.build_from_batches(factory, _text_batches(tokenize, lines, where))


def sketch_text_files(
    paths: list[str],
    make_sketch: Callable[[], Sketch],
    tokenize: Callable[[str], list],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    blocksize: str = "64MiB",
    split_every: int = 8,
) -> Sketch:
    """Sketch every token of every line of text files (globs allowed) on a dask cluster.

    ``make_sketch`` (a picklable top-level callable or ``functools.partial``) is called on the
    workers for each range and once in the driver; all calls must give the same class, shape
    and seed, or :class:`~sketchkit.errors.IncompatibleSketchError` says which differ.
    ``tokenize`` gets each line as a ``str`` without its ``\\n``/``\\r\\n`` and returns the
    line's items (ints, strs or bytes). ``workers``: start a local cluster of that many worker
    processes (closed afterwards); ``scheduler``: use the cluster at that address; neither: run
    on dask's current scheduler. ``.gz``/``.bz2``/``.xz`` files are decompressed by extension.
    The result equals one ``update_batch`` pass over all tokens in file order (bit for bit for
    linear sketches, whose merge is exact).
    """
    factory = P.SketchFactory.from_callable(make_sketch)
    start = factory.new()
    if not callable(tokenize):
        raise InvalidParameterError(f"tokenize must be callable, got {type(tokenize).__name__}")
    size = parse_memory(blocksize)
    fs, found = _expand(paths)
    tasks = text_ranges(fs, found, size)
    with dask_client(workers=workers, scheduler=scheduler):
        parts = [delayed(_build_text_range, pure=True)(factory, tokenize, fs, t) for t in tasks]
        merged = reduce_partials(parts, split_every)
    return finish(merged, start, _CONTEXT)


# ----------------------------------------------------------------------------- parquet
def _row_groups(fs: Any, paths: list[str]) -> list[tuple[str, int]]:
    import pyarrow.parquet as pq

    out = []
    for path in paths:
        with fs.open(path, mode="rb") as fh:
            out.extend((path, i) for i in range(pq.ParquetFile(fh).num_row_groups))
    return out


def _parquet_batches(fs: Any, path: str, group: int, column: Any, weight_column: Any) -> Iterator[tuple]:
    import pyarrow.parquet as pq

    columns = [column] if weight_column is None else [column, weight_column]
    with fs.open(path, mode="rb") as fh:
        pf = pq.ParquetFile(fh)
        names = pf.schema_arrow.names
        for c in columns:
            if c not in names:
                raise InvalidParameterError(f"{path} has no column {c!r}; it has {names}")
        for rb in pf.iter_batches(batch_size=P.STREAM_BATCH * 16, row_groups=[group], columns=columns):
            where = f"{path} row group {group}"
            keys = P.column_batch(rb.column(0), f"column {column!r} in {where}")
            weights = None
            if weight_column is not None:
                weights = P.weight_batch(rb.column(1), f"weight column {weight_column!r} in {where}")
            yield keys, weights


def _build_row_group(
    factory: P.SketchFactory, fs: Any, task: tuple[str, int], column: Any, weight_column: Any
) -> Sketch:
    path, group = task
    return P.build_from_batches(factory, _parquet_batches(fs, path, group, column, weight_column))


def sketch_parquet(
    paths: str | list[str], column: str, sketch: Sketch, *, weight_column: str | None = None, split_every: int = 8
) -> Sketch:
    """Add ``column`` of Parquet files (globs allowed) to a copy of ``sketch``, one task per row group.

    Integer columns take the int64 fast path; string/binary columns are hashed as str/bytes;
    nulls raise :class:`~sketchkit.errors.InvalidItemError`. Runs on dask's current scheduler.
    """
    factory = P.SketchFactory.from_template(sketch)
    start = sketch.copy()
    fs, found = _expand(paths)
    parts = [
        delayed(_build_row_group, pure=True)(factory, fs, t, column, weight_column) for t in _row_groups(fs, found)
    ]
    return finish(reduce_partials(parts, split_every), start, "the merged sketch does not match the one given")


# ----------------------------------------------------------------------------- csv
def sketch_csv(
    paths: str | list[str],
    column: str,
    sketch: Sketch,
    *,
    weight_column: str | None = None,
    dtype: Any = None,
    blocksize: str = "64MiB",
    split_every: int = 8,
    **read_csv_kwargs: Any,
) -> Sketch:
    """Add ``column`` of CSV files (globs allowed) to a copy of ``sketch``.

    ``dtype`` decides what a key *is*: ``12`` read as an int and ``"12"`` read as a str are
    different items to a sketch, so pass ``dtype=str`` (or ``int``) when inference could
    differ between files. Other keyword arguments go to ``dask.dataframe.read_csv``.
    """
    import dask.dataframe as dd

    from .collections import column_partials

    factory = P.SketchFactory.from_template(sketch)
    start = sketch.copy()
    _, found = _expand(paths)
    usecols = [column] if weight_column is None else [column, weight_column]
    dtypes = None if dtype is None else {column: dtype}
    # read_csv takes one compression per call: group the files by theirs.
    by_compression: dict[str | None, list[str]] = {}
    for path in found:
        by_compression.setdefault(_compression(path), []).append(path)
    parts = []
    for compression, group in by_compression.items():
        frame = dd.read_csv(
            group,
            usecols=usecols,
            dtype=dtypes,
            blocksize=None if compression else parse_memory(blocksize),
            compression=compression,
            **read_csv_kwargs,
        )
        parts.extend(column_partials(frame, column, weight_column, factory))
    return finish(reduce_partials(parts, split_every), start, "the merged sketch does not match the one given")
