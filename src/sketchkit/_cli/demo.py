"""``sketchkit demo``: the main job on real data every machine has, the Python standard library's
own sources (a naturally Zipfian token stream), counted by the sketch and by an exact
dictionary, then the top k side by side, recall, memory, speed, and a plot.

The speed comparison is like for like: the input is read once, and both counters consume
the same batches of the same tokeniser (the compiled ``\\w+`` tokeniser of ``sketchkit topk``,
which hands on each 4 MiB chunk's distinct tokens with their counts), each timed on its own,
best of ``REPEATS`` (interleaved, so a busy machine slows both alike; a garbage collection
before each pass, so neither pays for the other's garbage). Each counting pass gets
freshly tokenised str objects, as a stream does: a str caches its hash, so a dict fed the same
objects again would skip the hashing it pays in real use. The dictionary code is the fastest
pure-Python form measured for adding weighted pairs (a ``dict.get`` loop with the method bound
locally: ``Counter.update`` of a dict of the batch was 1.3-1.6x slower).
"""

from __future__ import annotations

import argparse
import gc
import heapq
import io
import operator
import os
import platform
import sys
import sysconfig
import time
import tokenize
from collections.abc import Iterator
from typing import Any

from .. import _jit
from . import kinds
from .candidates import Candidates, split_budget
from .common import CLIError
from .inputs import CHUNK_BYTES
from .output import human_bytes, print_table
from .tokens import Utf8Policy, Words

SKIP_DIRS = {"site-packages", "dist-packages", "__pycache__"}
REPEATS = 5


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 22nd, 101st ...

    >>> [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 20, 21, 22, 23, 101, 111)]
    ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '20th', '21st', '22nd', '23rd', '101st', '111th']
    """
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def source_files(root: str | None = None) -> list[str]:
    """Every ``*.py`` under ``root`` (default: the standard library), installed packages excluded."""
    root = root or sysconfig.get_paths()["stdlib"]
    if not os.path.isdir(root):
        raise CLIError(f"{root}: not a directory")
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        found += [os.path.join(folder, n) for n in sorted(names) if n.endswith(".py")]
    if not found:
        raise CLIError(f"{root}: no .py files found")
    return found


def as_utf8(data: bytes) -> bytes | None:
    """A source file's text as UTF-8: as it is when it already is, else decoded with the
    encoding its coding line declares (PEP 263; a few standard-library test files are
    Latin-1 on purpose). None for a file that is not text in its declared encoding either
    (test data made to be undecodable), which the demo leaves out."""
    if data.isascii():
        return data
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        pass
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding).encode("utf-8")
    except (SyntaxError, LookupError, UnicodeError):
        return None


def packed_chunks(files: list[str], size: int = CHUNK_BYTES, used: list[str] | None = None) -> Iterator[bytes]:
    """The files' text, many small files to a chunk (each ends with a newline), so that
    per-chunk work is amortised as on one big input; ``used`` collects the files included."""
    parts: list[bytes] = []
    held = 0
    for path in files:
        with open(path, "rb") as f:
            data = as_utf8(f.read())
        if data is None:
            continue
        if used is not None:
            used.append(path)
        if data and not data.endswith(b"\n"):
            data += b"\n"
        parts.append(data)
        held += len(data)
        if held >= size:
            yield b"".join(parts)
            parts, held = [], 0
    if parts:
        yield b"".join(parts)


def read_text(files: list[str]) -> tuple[list[bytes], list[str]]:
    """Every file's text, in chunks of valid UTF-8, and the files used."""
    utf8 = Utf8Policy("replace")
    used: list[str] = []
    chunks = [utf8.clean(chunk, "<stdlib>", 1) for chunk in packed_chunks(files, used=used)]
    utf8.report()  # as_utf8 leaves nothing to report; a message here would be a bug
    return chunks, used


def tokenised(chunks: list[bytes]) -> list[tuple[list, Any]]:
    """The tokeniser's batches of the chunks: (distinct tokens, their counts) per chunk."""
    words = Words()
    return [words.batch(chunk, "<stdlib>", 1) for chunk in chunks]


def count_exact(batches: list[tuple[list, Any]]) -> dict[Any, int]:
    """An exact dictionary of counts (the fastest pure-Python form measured, module docstring)."""
    counts: dict[Any, int] = {}
    get = counts.get
    for items, weights in batches:
        for item, w in zip(items, weights.tolist()):
            counts[item] = get(item, 0) + w
    return counts


def dict_nbytes(counts: dict) -> int:
    """Bytes of the dict and its keys and values as Python objects (sys.getsizeof)."""
    size = sys.getsizeof(counts)
    return size + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in counts.items())


def default_plot_path() -> str:
    """Outside any repository: the per-user cache directory of sketchkit."""
    return os.path.join(_jit.cache_home(), "demo", "demo_topk.png")


def run_demo(args: argparse.Namespace) -> int:
    files = source_files(args.source)

    def fresh() -> tuple[Any, Any, list]:
        linear = args.kind in kinds.LINEAR_KINDS
        sketch_memory, candidate_memory = split_budget(args.memory) if linear else (args.memory, 0)
        sketch = kinds.make_sketch(args.kind, sketch_memory, args.seed, k=args.k)
        sinks: list[Any] = [sketch.update_batch]
        candidates = None
        if linear:
            candidates = Candidates(sketch, max(1000, 50 * args.k), candidate_memory)
            sinks.append(candidates.observe)
        return sketch, candidates, sinks

    start = time.perf_counter()
    chunks, used = read_text(files)
    batches = tokenised(chunks)
    tokenise_s = time.perf_counter() - start
    if not batches:
        raise CLIError("no readable .py files found")
    nbytes = sum(map(len, chunks))
    # load (or compile) the sketch's kernels first, so that the timings are the steady state
    for sink in fresh()[2]:
        sink(*batches[0])

    sketch_s = exact_s = float("inf")
    for _ in range(REPEATS):
        batches = tokenised(chunks)  # fresh str objects for each pass (module docstring)
        gc.collect()
        t = time.perf_counter()
        counts = count_exact(batches)
        exact_s = min(exact_s, time.perf_counter() - t)
        batches = tokenised(chunks)
        sketch, candidates, sinks = fresh()
        gc.collect()
        t = time.perf_counter()
        for items, weights in batches:
            for sink in sinks:
                sink(items, weights)
        sketch_s = min(sketch_s, time.perf_counter() - t)

    rows = kinds.top_rows(sketch, args.k, candidates)
    truth = heapq.nlargest(args.k, counts.items(), key=operator.itemgetter(1))
    kth = truth[-1][1] if truth else 0
    tokens = sum(counts.values())
    pairs = sum(len(items) for items, _ in batches)

    where = args.source or f"Python {platform.python_version()} standard library"
    print(f"Top {args.k} tokens of the {where}: {len(used)} files, {nbytes / 1e6:.1f} MB, "
          f"{tokens:,} tokens, {len(counts):,} distinct\n")
    table = []
    for rank, (item, est, lo, hi) in enumerate(rows, 1):
        true = counts.get(item, 0)
        table.append([rank, item, est, lo, hi, true, "yes" if lo <= true <= hi else "NO"])
    print_table(["rank", "token", "estimate", "lower", "upper", "exact", "in bounds"], table, numeric_from=2)

    hits = sum(1 for r in rows if counts.get(r[0], 0) >= kth)
    sketch_bytes = sketch.nbytes + (candidates.nbytes if candidates else 0)
    exact_bytes = dict_nbytes(counts)
    compact = sum(8 + len(str(k).encode()) for k in counts)
    name = type(sketch).__name__
    print()
    print(f"recall@{args.k}: {hits / max(len(truth), 1):.2f} "
          f"(ties at the {ordinal(args.k)} exact count count as hits)")
    print(f"memory: {name} {human_bytes(sketch_bytes)} vs exact dict {human_bytes(exact_bytes)} as Python objects "
          f"({human_bytes(compact)} as bare keys + 8-byte counts): {exact_bytes / sketch_bytes:.0f}x less")
    print(f"speed, same input and tokeniser: read + tokenise {nbytes / 1e6:.1f} MB in {tokenise_s:.2f} s, "
          f"then count its {pairs:,} per-chunk (token, count) pairs, best of {REPEATS}:")
    for label, secs in ((name, sketch_s), ("exact dict", exact_s)):
        print(f"  {label:<12} count {secs:6.3f} s ({tokens / secs / 1e6:5.1f} M tokens/s), "
              f"read + tokenise + count {nbytes / 1e6 / (tokenise_s + secs):5.1f} MB/s")
    faster = exact_s / sketch_s
    print(f"  the sketch counts {faster:.2f}x as fast as the dict" if faster >= 1
          else f"  the sketch counts at {faster:.2f}x the dict's speed")
    if not args.no_plot:
        _plot(args.plot or default_plot_path(), rows, counts, name, sketch_bytes, where)
    return 0


def _plot(path: str, rows: list, counts: dict, name: str, nbytes: int, where: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot skipped: matplotlib is not installed (pip install 'sketchkit[plot]')", file=sys.stderr)
        return
    ranks = list(range(1, len(rows) + 1))
    est = [r[1] for r in rows]
    lo = [r[1] - r[2] for r in rows]
    hi = [r[3] - r[1] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.errorbar(ranks, est, yerr=[lo, hi], fmt="o", ms=4, capsize=3, label=f"{name} estimate [lower, upper]")
    ax.plot(ranks, [counts.get(r[0], 0) for r in rows], "x", color="black", ms=7, label="exact count")
    ax.set_yscale("log")
    ax.set_xticks(ranks)
    ax.set_xticklabels([str(r[0])[:12] for r in rows], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("occurrences")
    ax.set_title(f"Top tokens of the {where}: {name} in {human_bytes(nbytes)} vs exact")
    ax.legend()
    fig.tight_layout()
    folder = os.path.dirname(path)
    try:
        if folder:
            os.makedirs(folder, exist_ok=True)
        fig.savefig(path, dpi=110)
    except OSError as e:
        raise CLIError(f"{path}: cannot write the plot: {e.strerror or e}") from None
    finally:
        plt.close(fig)
    print(f"plot: {path}")
