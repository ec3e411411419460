"""Sweep HeavyHitters' depth and candidate count at equal memory (the defaults' evidence).

    .venv/bin/python benchmarks/sweep_heavy_candidates.py

For each workload (W1 int keys, W2 stdlib tokens; see _workloads.py), budget (16 and 64 KiB),
depth and candidate count, the CountSketch gets the width that fills the rest of the budget;
prints top-100 recall (a reported item is a hit when its true count reaches the true #100's).
Takes about 5 minutes on one core.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _workloads as W  # noqa: E402

import sketchkit as sk  # noqa: E402
from sketchkit.frequency._summary import planned_nbytes  # noqa: E402

ITEM_BYTES = {"W1": 0, "W2": 16}  # as bench_core.py: ints live in their hashes


def main() -> None:
    print("workload | budget | depth | candidates | width | nbytes | top-100 recall")
    for name, data in (("W1", W.w1()), ("W2", W.w2())):
        keys, counts = np.unique(np.asarray(data) if name == "W1" else np.array(data, dtype=object),
                                 return_counts=True)
        kth = np.sort(counts)[::-1][99]
        exact = dict(zip(keys.tolist(), counts.tolist()))
        for budget in (16 * 1024, 64 * 1024):
            for depth in (3, 5, 7, 11):
                for cap in (110, 200, 400):
                    width = (budget - planned_nbytes(cap, ITEM_BYTES[name]) - 16 * depth) // (4 * depth)
                    if width < 8:
                        continue
                    hh = sk.HeavyHitters(int(width), depth, cap)
                    hh.update_batch(data)
                    recall = sum(exact.get(r.item, 0) >= kth for r in hh.top(100)) / 100
                    print(f"{name} | {budget // 1024} KiB | {depth} | {cap} | {width} | {hh.nbytes} | {recall:.2f}",
                          flush=True)


if __name__ == "__main__":
    main()
