"""``sketchkit demo``: the main job on real data every machine has, the Python standard library's
own sources (a naturally Zipfian token stream). One pass through the sketch, one through an
exact dictionary, then the top k side by side, recall, memory and throughput, and a plot."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import sysconfig
import time
from collections.abc import Iterator
from typing import Any

from . import kinds
from .candidates import Candidates
from .common import CLIError
from .inputs import CHUNK_BYTES
from .output import human_bytes, print_table
from .stream import ExactCounts, StreamStats, feed
from .tokens import Utf8Policy, Words

SKIP_DIRS = {"site-packages", "dist-packages", "__pycache__"}


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


def packed_chunks(files: list[str], size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The files' bytes, many small files to a chunk (each ends with a newline), so that
    per-chunk work is amortised as on one big input."""
    parts: list[bytes] = []
    held = 0
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):
            data += b"\n"
        parts.append(data)
        held += len(data)
        if held >= size:
            yield b"".join(parts)
            parts, held = [], 0
    if parts:
        yield b"".join(parts)


def _timed_pass(files: list[str], sinks: list, report: bool) -> StreamStats:
    stats = StreamStats()
    utf8 = Utf8Policy("replace")
    start = time.perf_counter()
    feed(packed_chunks(files), "<stdlib>", Words(), sinks, stats, utf8)
    stats.seconds = time.perf_counter() - start
    if report:
        utf8.report()
    return stats


def default_plot_path() -> str:
    return os.path.join("docs", "demo_topk.png") if os.path.isdir("docs") else "sketchkit_demo.png"


def run_demo(args: argparse.Namespace) -> int:
    files = source_files(args.source)
    sketch = kinds.make_sketch(args.kind, args.memory, args.seed, k=args.k)
    sinks: list[Any] = [sketch.update_batch]
    candidates = None
    if args.kind in kinds.LINEAR_KINDS:
        candidates = Candidates(sketch, max(1000, 50 * args.k))
        sinks.append(candidates.observe)
    # load the compiled kernels first, so that the timings below are the steady-state rate
    scratch = sketch.empty_like() if hasattr(sketch, "empty_like") else sketch.copy()
    feed([b"warm up\n"], "warm-up", Words(), [scratch.update_batch, ExactCounts()], StreamStats(), Utf8Policy())
    fast = _timed_pass(files, sinks, report=True)
    exact = ExactCounts()
    slow = _timed_pass(files, [exact], report=False)
    rows = kinds.top_rows(sketch, args.k, candidates)
    truth = exact.top(args.k)
    counts = exact.counts
    kth = truth[-1][1] if truth else 0

    where = args.source or f"Python {platform.python_version()} standard library"
    print(f"Top {args.k} tokens of the {where}: {len(files)} files, {fast.bytes_read / 1e6:.1f} MB, "
          f"{fast.weight:,} tokens, {len(counts):,} distinct\n")
    table = []
    for rank, (item, est, lo, hi) in enumerate(rows, 1):
        true = counts.get(item, 0)
        table.append([rank, item, est, lo, hi, true, "yes" if lo <= true <= hi else "NO"])
    print_table(["rank", "token", "estimate", "lower", "upper", "exact", "in bounds"], table, numeric_from=2)

    hits = sum(1 for r in rows if counts.get(r[0], 0) >= kth)
    sketch_bytes = sketch.nbytes + (candidates.nbytes if candidates else 0)
    compact = sum(8 + len(str(k).encode()) for k in counts)
    print()
    print(f"recall@{args.k}: {hits / max(len(truth), 1):.2f} (ties at the {args.k}th exact count count as hits)")
    print(f"memory: {type(sketch).__name__} {human_bytes(sketch_bytes)} vs exact dict "
          f"{human_bytes(exact.nbytes)} as Python objects ({human_bytes(compact)} as bare keys + 8-byte counts): "
          f"{exact.nbytes / sketch_bytes:.0f}x less")
    print(f"throughput (read + tokenise + count): sketch {fast.mb_per_s:.1f} MB/s "
          f"({fast.weight / fast.seconds / 1e6:.2f} M tokens/s); exact dict, same tokeniser: {slow.mb_per_s:.1f} MB/s")
    if not args.no_plot:
        _plot(args.plot or default_plot_path(), rows, counts, type(sketch).__name__, sketch_bytes, where)
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
    try:
        fig.savefig(path, dpi=110)
    except OSError as e:
        raise CLIError(f"{path}: cannot write the plot: {e.strerror or e}") from None
    finally:
        plt.close(fig)
    print(f"plot: {path}")
