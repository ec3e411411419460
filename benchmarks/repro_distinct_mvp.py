"""Memory-variance product of Distinct's two estimators over many seeds, with 95 % intervals
(issue #15: MVP <= 3.8 in memory). Standalone: prints one row per cardinality.

The registers of n distinct items are drawn by the exact jump-ahead simulation of
``sketchkit.cardinality._simulate`` (the tests check it against real hashes); the ML estimate is
what a merged sketch answers (a merge gives the registers of the union stream exactly), the
martingale one what a single stream answers. MVP = register bits (28 m) x mean squared relative
error; the in-memory figure multiplies by nbytes / register bytes (1.007 at precision 10: the
padding word and the estimator state). The interval is the normal one for a mean of squares:
MVP x (1 +- 1.96 sd(rel^2) / (mean(rel^2) sqrt(seeds))).

    .venv/bin/python benchmarks/repro_distinct_mvp.py [--precision 10] [--seeds 4000]
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

from sketchkit.cardinality import Distinct
from sketchkit.cardinality._simulate import simulate_many


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--precision", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=4000)
    ap.add_argument("--first-seed", type=int, default=0)
    args = ap.parse_args()
    p, m = args.precision, 1 << args.precision
    checkpoints = np.array([10**3, 3 * 10**3, 10**4, 10**5, 10**6, 10**7, 10**8, 10**9], dtype=np.int64)
    t0 = time.time()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    hip, ml = simulate_many(p, checkpoints, seeds)
    bits = 28 * m
    d = Distinct(p)
    d.update_batch(np.arange(10 * m, dtype=np.int64))
    mem = d.nbytes / (bits / 8)
    print(
        f"precision {p}, {args.seeds} seeds, {time.time() - t0:.0f} s, load {os.getloadavg()[0]:.1f}; "
        f"in-memory factor {mem:.4f}"
    )
    print(f"{'n':>12} | {'ML MVP (95 % interval)':>26} | {'martingale MVP (95 % interval)':>30} | ML bias %")
    for j, n in enumerate(checkpoints):
        row = [f"{n:>12,}"]
        for est in (ml, hip):
            rel2 = (est[:, j] / n - 1) ** 2
            mvp = bits * rel2.mean() * mem
            half = 1.96 * rel2.std(ddof=1) / (rel2.mean() * math.sqrt(rel2.size))
            row.append(f"{mvp:6.3f} [{mvp * (1 - half):.3f}, {mvp * (1 + half):.3f}]")
        row.append(f"{100 * (ml[:, j] / n - 1).mean():+.3f}")
        print(" | ".join(row))


if __name__ == "__main__":
    main()
