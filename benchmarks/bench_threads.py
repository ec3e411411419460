"""Multi-threaded batch updates of the linear sketches: speed-up over one thread by table size.

Run on an idle machine: ``python benchmarks/bench_threads.py``. For each table (CountSketch,
depth 5, the widths of the core benchmark's 16/64/320 KiB budgets and larger ones) it times
``update_batch`` of 10 M Zipf(1.1) int64 keys with 1 and with N threads (N = the cores this
process may use), best of ``--reps``, and prints the ratio. The thresholds in
``sketchkit._threads`` (largest table that is split, smallest batch) are read off this table.
Results are bit-identical by construction (tests/test_threads.py checks it); only speed is
measured here.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _machine import describe

import sketchkit as sk
from sketchkit import _threads


def best_rate(make, keys: np.ndarray, threads: int, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        s = make()
        with sk.threads(threads):
            t0 = time.perf_counter()
            s.update_batch(keys)
            best = min(best, time.perf_counter() - t0)
    return len(keys) / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=_threads._available_cores())
    args = ap.parse_args()
    keys = np.random.default_rng(1).zipf(1.1, args.n).astype(np.int64)
    print(describe())
    print(f"{'table':>12} {'bytes':>10} {'1 thread M/s':>14} {f'{args.threads} threads M/s':>16} {'speed-up':>9}")
    saved = _threads.MAX_SPLIT_TABLE_BYTES
    _threads.MAX_SPLIT_TABLE_BYTES = 1 << 62  # measure every size, whatever the current cap
    try:
        for budget in ("16KiB", "64KiB", "320KiB", "1MiB", "4MiB"):
            width = sk.CountSketch.from_memory(budget).width
            make = lambda width=width: sk.CountSketch(width, 5)  # noqa: E731
            make().update_batch(keys[:1000])  # compile outside the timing
            one = best_rate(make, keys, 1, args.reps)
            many = best_rate(make, keys, args.threads, args.reps)
            print(f"{budget:>12} {width * 5 * 4:>10} {one / 1e6:>14.1f} {many / 1e6:>16.1f} {many / one:>8.2f}x")
    finally:
        _threads.MAX_SPLIT_TABLE_BYTES = saved


if __name__ == "__main__":
    main()
