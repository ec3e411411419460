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
from .inputs import int64_chunks, open_source, text_chunks
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


def _drop_first_line(chunk: bytes) -> bytes:
    cut = chunk.find(b"\n")
    return b"" if cut < 0 else chunk[cut + 1 :]


THREADS = 2  # scanning threads for the compiled tokenisers: one more than the sketch's own


def feed(
    chunks: Iterable[bytes],
    name: str,
    tokenizer: Tokenizer,
    sinks: list[Sink],
    stats: StreamStats,
    utf8: Utf8Policy,
    header: bool = False,
) -> None:
    """Tokenise each chunk of one input and hand the batches, in input order, to every sink."""

    def numbered() -> Iterator[tuple[bytes, int]]:
        line = 1
        for n, chunk in enumerate(chunks):
            stats.bytes_read += len(chunk)
            if tokenizer.binary:
                yield chunk, 0
                continue
            if header and n == 0:
                chunk = _drop_first_line(chunk)
                line = 2
            yield chunk, line
            line += chunk.count(b"\n")

    def tokenize(job: tuple[bytes, int]) -> tuple[Any, Any]:
        chunk, first_line = job
        if not tokenizer.binary:
            chunk = utf8.clean(chunk, name, first_line)
        return tokenizer.batch(chunk, name, first_line)

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
) -> StreamStats:
    """Read every input in turn, in chunks; warnings about skipped records at the end."""
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
                chunks = int64_chunks(source) if tokenizer.binary else text_chunks(source)
                feed(_tracked(chunks, progress, source, done_before), source.name, tokenizer, sinks, stats, utf8,
                     header)
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
