"""Sketch large inputs straight from files: text lines, CSV columns, Parquet columns.

Paths may be globs (expanded with fsspec, so ``s3://`` and friends work where the matching
fsspec backend is installed). Each task streams its share of the input through
``update_batch`` in bounded batches, so a worker's memory is set by the batch, not the file:

* text: uncompressed files are cut into byte ranges of ``blocksize``, a line belonging to the
  range that holds its first byte; ``.gz``/``.bz2``/``.xz`` files cannot be split and are one
  task each, decompressed as a stream;
* Parquet: tasks of whole row groups, at most 16M rows each by default, read a row group at a time;
* CSV: ``dask.dataframe.read_csv`` blocks of ``blocksize`` (one whole file when compressed).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

from dask.delayed import delayed

from .._base import Sketch, check_positive_int, parse_memory
from ..errors import InvalidParameterError
from . import _partials as P
from ._tree import finish, reduce_partials
from .cluster import dask_client

__all__ = [
    "MAX_LINE_BYTES",
    "ROWS_PER_TASK",
    "cut_row_groups",
    "default_rows_per_task",
    "parquet_tasks",
    "sketch_csv",
    "sketch_parquet",
    "sketch_text_files",
    "text_ranges",
]

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


# The longest line a text task accepts, newline included: a task holds a whole line (the
# tokeniser needs it), so without a cap one huge line (a file with no newline at all) would sit
# in a worker's memory whole.
MAX_LINE_BYTES = 64 << 20


def _range_lines(
    fs: Any, path: str, start: int, end: int, compression: str | None, max_line: int = MAX_LINE_BYTES
) -> Iterator[bytes]:
    """The lines whose first byte lies in ``[start, end)`` (the whole stream when compressed).

    A line longer than ``max_line`` bytes raises :class:`~sketchkit.errors.InvalidItemError`
    before more than ``max_line + 1`` bytes of it are held.
    """
    with fs.open(path, mode="rb", compression=compression) as fh:
        pos = start
        if compression is None and start > 0:
            # The line holding byte start-1 belongs to the previous range: skip through its end,
            # in bounded steps (the previous range checks its length).
            fh.seek(start - 1)
            pos = start - 1
            while True:
                piece = fh.readline(max_line)
                pos += len(piece)
                if not piece or piece.endswith(b"\n"):
                    break
        while compression is not None or pos < end:
            line = fh.readline(max_line + 1)
            if not line:
                return
            if len(line) > max_line:
                where = "decompressed byte" if compression else "byte"
                raise P.InvalidItemError(
                    f"{path}: the line at {where} {pos} is longer than {max_line} bytes; split the input "
                    "into lines or raise max_line_bytes"
                )
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
    factory: P.SketchFactory,
    tokenize: Callable[[str], list],
    fs: Any,
    task: tuple[str, int, int, str | None],
    max_line: int = MAX_LINE_BYTES,
) -> Sketch:
    path, start, end, compression = task
    where = f"{path} bytes [{start}, {end})"
    lines = _range_lines(fs, path, start, end, compression, max_line)
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
    max_line_bytes: str | int = "64MiB",
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
    linear sketches, whose merge is exact). A line longer than ``max_line_bytes`` (newline
    included) raises :class:`~sketchkit.errors.InvalidItemError` naming the file and offset: a
    task holds one whole line, so this caps a worker's memory for input without line breaks.
    """
    factory = P.SketchFactory.from_callable(make_sketch)
    start = factory.new()
    if not callable(tokenize):
        raise InvalidParameterError(f"tokenize must be callable, got {type(tokenize).__name__}")
    size = parse_memory(blocksize)
    max_line = parse_memory(max_line_bytes)
    fs, found = _expand(paths)
    tasks = text_ranges(fs, found, size)
    with dask_client(workers=workers, scheduler=scheduler):
        parts = [delayed(_build_text_range, pure=True)(factory, tokenize, fs, t, max_line) for t in tasks]
        merged = reduce_partials(parts, split_every)
    return finish(merged, start, _CONTEXT)


# ----------------------------------------------------------------------------- parquet
# The most rows a Parquet task reads by default. A task reads a row group at a time, so its size
# sets no memory bound; it sets the engine's share instead: every task costs scheduling, an empty
# sketch, a transfer and a merge (about 10 ms of CPU on a LocalCluster, a million keys' worth of
# update_batch), so tasks of ~16M rows keep that near 1%.
ROWS_PER_TASK = 1 << 24
# Tasks per worker thread, at least, when the rows allow: two, so that a worker that finishes
# early (a faster core, a smaller last task) still finds work, and a thread never waits alone.
TASKS_PER_THREAD = 2
# Rows a Parquet task decodes at once: the bound on a worker's memory for the keys it reads.
PARQUET_BATCH = P.STREAM_BATCH * 16

ParquetTask = tuple[tuple[str, tuple[int, ...]], ...]  # ((path, row groups), ...) read in order


def default_rows_per_task(total_rows: int, threads: int) -> int:
    """``ROWS_PER_TASK``, or fewer rows so that ``threads`` worker threads get two tasks each.

    >>> default_rows_per_task(100_000_000, 2)  # 6 tasks of ~16.7M rows
    16777216
    >>> default_rows_per_task(100_000_000, 32)  # 64 tasks
    1562500
    """
    return max(1, min(ROWS_PER_TASK, -(-total_rows // (TASKS_PER_THREAD * max(1, threads)))))


def cluster_threads() -> int:
    """Worker threads of the current distributed client's cluster, else this machine's cores."""
    try:
        from distributed import Client

        return sum(Client.current().nthreads().values()) or 1
    except (ImportError, ValueError):
        return os.cpu_count() or 1


def parquet_tasks(
    fs: Any, paths: list[str], columns: list[Any], rows_per_task: int | None = None
) -> list[ParquetTask]:
    """The tasks of a Parquet job: the files' footers read once, here in the driver, which also
    checks that every file has the ``columns``, then :func:`cut_row_groups` (``rows_per_task``
    None: :func:`default_rows_per_task` for the current cluster)."""
    import pyarrow.parquet as pq

    groups: list[tuple[str, int, int]] = []
    for path in paths:
        with fs.open(path, mode="rb") as fh, pq.ParquetFile(fh) as pf:
            names = pf.schema_arrow.names
            for c in columns:
                if c not in names:
                    raise InvalidParameterError(f"{path} has no column {c!r}; it has {names}")
            meta = pf.metadata
            groups.extend((path, i, meta.row_group(i).num_rows) for i in range(meta.num_row_groups))
    if rows_per_task is None:
        rows_per_task = default_rows_per_task(sum(rows for _, _, rows in groups), cluster_threads())
    return cut_row_groups(groups, rows_per_task)


def cut_row_groups(groups: list[tuple[str, int, int]], rows_per_task: int) -> list[ParquetTask]:
    """Cut ``(path, row group, rows)`` runs, in order, into ``ceil(rows / rows_per_task)`` tasks of near-equal rows.

    A row group goes to the task whose share of the rows holds its midpoint, so a task has
    ``total / n`` rows give or take one row group, and a row group is never split (a task whose
    share lies inside one huge row group is dropped: fewer tasks). A task may span the end of
    one file and the start of the next, so many small files still make few tasks.

    >>> cut_row_groups([("a", 0, 6), ("a", 1, 6), ("b", 0, 6)], rows_per_task=9)
    [(('a', (0,)),), (('a', (1,)), ('b', (0,)))]
    """
    total = sum(rows for _, _, rows in groups)
    n_tasks = max(1, min(len(groups), -(-total // rows_per_task)))
    tasks: list[list[tuple[str, list[int]]]] = [[] for _ in range(n_tasks)]
    before = 0
    for path, index, rows in groups:
        k = min(n_tasks - 1, (2 * before + rows) * n_tasks // (2 * total)) if total else 0
        pieces = tasks[k]
        if pieces and pieces[-1][0] == path:
            pieces[-1][1].append(index)
        else:
            pieces.append((path, [index]))
        before += rows
    return [tuple((path, tuple(ix)) for path, ix in pieces) for pieces in tasks if pieces]


def _open_parquet(fs: Any, path: str) -> Any:
    import pyarrow.parquet as pq
    from fsspec.implementations.local import LocalFileSystem

    if isinstance(fs, LocalFileSystem):
        # Arrow's own reader: no Python file object in the read path. Not memory-mapped: mapped
        # pages count in the worker's RSS, which dask's memory limits watch, so a big file would
        # look like a big worker (and the CPU saved was within noise once pre-buffering is off).
        return pq.ParquetFile(path, pre_buffer=False)
    return _fsspec_parquet(fs, path)


@contextlib.contextmanager
def _fsspec_parquet(fs: Any, path: str) -> Iterator[Any]:
    import pyarrow.parquet as pq

    with fs.open(path, mode="rb") as fh, pq.ParquetFile(fh) as pf:
        yield pf


def _parquet_batches(fs: Any, task: ParquetTask, column: Any, weight_column: Any) -> Iterator[tuple]:
    columns = [column] if weight_column is None else [column, weight_column]
    for path, groups in task:
        where = f"{path} row groups {groups[0]}-{groups[-1]}"
        with _open_parquet(fs, path) as pf:
            for rb in _record_batches(pf, groups, columns):
                keys = P.column_batch(rb.column(0), f"column {column!r} in {where}")
                weights = None
                if weight_column is not None:
                    weights = P.weight_batch(rb.column(1), f"weight column {weight_column!r} in {where}")
                yield keys, weights


def _record_batches(pf: Any, groups: tuple[int, ...], columns: list[Any]) -> Iterator[Any]:
    """The row groups' record batches, none longer than ``PARQUET_BATCH`` rows.

    A row group that fits in one batch is read whole, which costs about 40% less CPU than
    arrow's batch iterator; larger ones are streamed. ``use_threads=False``: a worker has one
    core, and arrow's thread pool only adds hand-offs to a one-column decode.
    """
    meta = pf.metadata
    for g in groups:
        if meta.row_group(g).num_rows <= PARQUET_BATCH:
            yield from pf.read_row_group(g, columns=columns, use_threads=False).to_batches()
        else:
            yield from pf.iter_batches(batch_size=PARQUET_BATCH, row_groups=[g], columns=columns, use_threads=False)


def _build_parquet_task(
    factory: P.SketchFactory, fs: Any, task: ParquetTask, column: Any, weight_column: Any
) -> Sketch:
    return P.build_from_batches(factory, _parquet_batches(fs, task, column, weight_column))


def sketch_parquet(
    paths: str | list[str],
    column: str,
    sketch: Sketch,
    *,
    weight_column: str | None = None,
    split_every: int = 8,
    rows_per_task: int | None = None,
) -> Sketch:
    """Add ``column`` of Parquet files (globs allowed) to a copy of ``sketch``.

    The row groups, in file order, are cut into tasks of about ``rows_per_task`` rows (whole row
    groups; see :func:`cut_row_groups`); by default at most ``ROWS_PER_TASK`` (16M), fewer when
    that gives every worker thread of the current cluster at least two tasks. A task reads one
    row group at a time (a larger one in record batches of about a million rows), so a worker's
    memory follows the row group, not the task. For summaries whose merge is not exact
    (SpaceSaving, HeavyHitters) the result depends on the tasks: pass ``rows_per_task`` to make
    it independent of the cluster's size. Integer columns take
    the int64 fast path; string/binary columns are hashed as str/bytes; nulls raise
    :class:`~sketchkit.errors.InvalidItemError`. Runs on dask's current scheduler.
    """
    factory = P.SketchFactory.from_template(sketch)
    start = sketch.copy()
    if rows_per_task is not None:
        rows_per_task = check_positive_int("rows_per_task", rows_per_task, 1 << 62)
    fs, found = _expand(paths)
    columns = [column] if weight_column is None else [column, weight_column]
    parts = [
        delayed(_build_parquet_task, pure=True)(factory, fs, t, column, weight_column)
        for t in parquet_tasks(fs, found, columns, rows_per_task)
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
