"""The streaming loop: inputs → chunks → tokeniser → every sink, with bounded memory."""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from .common import CLIError
from .inputs import CHUNK_BYTES, int64_chunks, open_source, text_chunks
from .progress import Progress
from .tokens import Tokenizer, Utf8Policy

Sink = Callable[[Any, Any], None]


@dataclass
class StreamStats:
    bytes_read: int = 0
    weight: int = 0  # sum of |weights|: tokens for unweighted text
    seconds: float = 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes_read / 1e6 / self.seconds if self.seconds > 0 else float("inf")


def check_paths(paths: list[str]) -> None:
    """Refuse a missing file or a directory before any work starts."""
    for p in paths:
        if p == "-":
            continue
        if os.path.isdir(p):
            raise CLIError(f"{p}: is a directory")
        if not os.path.exists(p):
            raise CLIError(f"{p}: no such file")


def _split_first_line(chunk: bytes) -> tuple[bytes, bytes]:
    cut = chunk.find(b"\n")
    return (chunk, b"") if cut < 0 else (chunk[: cut + 1], chunk[cut + 1 :])


def check_text(chunk: bytes, name: str, offset: int) -> None:
    """Refuse binary input as grep does: a NUL byte never occurs in text (UTF-16 included, which
    this reader does not decode)."""
    nul = chunk.find(b"\0")
    if nul >= 0:
        raise CLIError(
            f"{name}: binary file (a NUL byte at offset {offset + nul:,}); --binary reads it as text anyway, "
            "--int64 reads int64 values"
        )


THREADS = 2  # scanning threads for the compiled tokenisers: one more than the sketch's own
EAGER_CHUNK_BYTES = 64 << 10  # with --every: a periodic report is due at most one such chunk late


def feed(
    chunks: Iterable[bytes],
    name: str,
    tokenizer: Tokenizer,
    sinks: list[Sink],
    stats: StreamStats,
    utf8: Utf8Policy,
    header: bool = False,
    *,
    binary_ok: bool = True,
    threads: int | None = None,
) -> None:
    """Tokenise each chunk of one input and hand the batches, in input order, to every sink.

    ``binary_ok=False`` refuses text input holding a NUL byte (:func:`check_text`); ``threads``
    overrides the scanning threads (1 hands each chunk on as soon as it is read)."""

    def numbered() -> Iterator[tuple[bytes, int]]:
        line = 1
        offset = 0
        for n, chunk in enumerate(chunks):
            stats.bytes_read += len(chunk)
            if tokenizer.binary:
                yield chunk, 0
                continue
            if not binary_ok:
                check_text(chunk, name, offset)
            offset += len(chunk)
            if header and n == 0:
                first, chunk = _split_first_line(chunk)
                tokenizer.header(first, name)
                line = 2
            yield chunk, line
            line += chunk.count(b"\n")

    def tokenize(job: tuple[bytes, int]) -> tuple[Any, Any]:
        chunk, first_line = job
        if not tokenizer.binary:
            chunk = utf8.clean(chunk, name, first_line)
        return tokenizer.batch(chunk, name, first_line)

    if threads is None:
        threads = THREADS if tokenizer.threaded and (os.cpu_count() or 1) > 1 else 1
    for items, weights in ordered_map(tokenize, numbered(), threads):
        stats.weight += len(items) if weights is None else int(np.abs(weights).sum())
        for sink in sinks:
            sink(items, weights)


def ordered_map(fn: Callable, jobs: Iterable, threads: int) -> Iterator:
    """``map(fn, jobs)`` on ``threads`` threads, results in input order, at most ``threads + 1``
    jobs in flight (bounded memory)."""
    if threads <= 1:
        yield from map(fn, jobs)
        return
    with ThreadPoolExecutor(threads) as pool:
        pending: deque = deque()
        for job in jobs:
            pending.append(pool.submit(fn, job))
            if len(pending) > threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def stream(
    paths: list[str],
    tokenizer: Tokenizer,
    sinks: list[Sink],
    *,
    utf8: Utf8Policy | None = None,
    header: bool = False,
    quiet: bool = True,
    report: bool = True,
    binary_ok: bool = True,
    eager: bool = False,
) -> StreamStats:
    """Read every input in turn, in chunks; warnings about skipped records at the end.

    ``binary_ok=False`` refuses text inputs holding NUL bytes. ``eager`` (``--every``): small
    chunks handed on as soon as they are read, on one thread, so that the sinks see a slowly
    fed pipe (``tail -f``) as it arrives."""
    check_paths(paths)
    utf8 = utf8 or Utf8Policy()
    stats = StreamStats()
    sizes = [os.path.getsize(p) if p != "-" else None for p in paths]
    total = None if None in sizes else sum(sizes)  # type: ignore[arg-type]
    start = time.perf_counter()
    done_before = 0
    with Progress(quiet, total) as progress:
        for path in paths:
            source = open_source(path)
            try:
                size = EAGER_CHUNK_BYTES if eager else CHUNK_BYTES
                if tokenizer.binary:
                    chunks = int64_chunks(source, size, eager=eager)
                else:
                    chunks = text_chunks(source, size, eager=eager)
                feed(_tracked(chunks, progress, source, done_before), source.name, tokenizer, sinks, stats, utf8,
                     header, binary_ok=binary_ok, threads=1 if eager else None)
            finally:
                source.close()
            done_before += source.size or 0
    stats.seconds = time.perf_counter() - start
    if report:
        utf8.report()
        tokenizer.report()
    return stats


def _tracked(chunks: Iterable[bytes], progress: Progress, source: Any, before: int) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk
        progress.update(before + source.position())


class ExactCounts:
    """An exact dictionary of counts beside the sketch (``--exact``, the demo): unbounded memory."""

    def __init__(self) -> None:
        self.counts: dict[Any, int] = {}

    def __call__(self, items: Any, weights: Any) -> None:
        if isinstance(items, np.ndarray):
            items, weights = np.unique(items, return_counts=True)
            items = items.tolist()
        counts = self.counts
        if weights is None:
            for k in items:
                counts[k] = counts.get(k, 0) + 1
        else:
            for k, w in zip(items, weights.tolist()):
                counts[k] = counts.get(k, 0) + w

    def top(self, k: int) -> list[tuple[Any, int]]:
        import heapq

        return heapq.nlargest(k, self.counts.items(), key=lambda kv: kv[1])

    @property
    def nbytes(self) -> int:
        """Bytes of the dict and its keys and values as Python objects (sys.getsizeof)."""
        size = sys.getsizeof(self.counts)
        return size + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in self.counts.items())
