"""Serialized size at equal error: Distinct.to_compact_bytes() (one stream, martingale estimate)
against DataSketches' CPC (one stream, HIP estimate), many seeds, with 95 % intervals (issue #15).

For each seed, n distinct random int64 items go into Distinct(p) and cpc_sketch(lg_k = p);
serialized MVP = 8 x mean serialized bytes x mean squared relative error. The interval of each
MVP and of their ratio comes from the sampling error of the mean squared error (delta method on
its logarithm; the bytes barely vary).

    .venv/bin/python benchmarks/repro_distinct_serialized.py [--seeds 4000] [--n 100000] [--seed-base 90000]
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

from sketchkit.cardinality import Distinct


def log_mse_var(rel: np.ndarray) -> float:
    r2 = rel**2
    return float(r2.var(ddof=1) / (r2.size * r2.mean() ** 2))


def main() -> None:
    import datasketches as ds

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4000)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed-base", type=int, default=90_000, help="data seeds are seed-base + 0, 1, ...")
    args = ap.parse_args()
    n, t0 = args.n, time.time()
    for p in (10, 11):
        ours, ours_b, cpc, cpc_b = [], [], [], []
        for s in range(args.seeds):
            x = np.random.default_rng(args.seed_base + s).integers(0, 2**63, n, dtype=np.int64)
            d = Distinct(p, seed=s)
            d.update_batch(x)
            ours.append(d.estimate() / n - 1)
            ours_b.append(len(d.to_compact_bytes()))
            c = ds.cpc_sketch(p, seed=9001 + s)
            for v in x.tolist():
                c.update(v)
            cpc.append(c.get_estimate() / n - 1)
            cpc_b.append(len(c.serialize()))
        rows = {}
        pairs = (("Distinct martingale, to_compact_bytes", ours, ours_b), ("CPC HIP, serialize", cpc, cpc_b))
        for name, rel, nb in pairs:
            rel = np.asarray(rel)
            mvp = 8 * float(np.mean(nb)) * float((rel**2).mean())
            half = 1.96 * math.sqrt(log_mse_var(rel))
            rows[name] = (mvp, half, float(np.mean(nb)), rel)
            print(
                f"p = {p}: {name:<40} {np.mean(nb):7.0f} B  MVP {mvp:.3f} [{mvp * math.exp(-half):.3f}, "
                f"{mvp * math.exp(half):.3f}]"
            )
        (a, _, _, ra), (b, _, _, rb) = rows.values()
        half = 1.96 * math.sqrt(log_mse_var(ra) + log_mse_var(rb))
        ratio = a / b
        print(
            f"p = {p}: Distinct / CPC at equal error = {ratio:.3f} [{ratio * math.exp(-half):.3f}, "
            f"{ratio * math.exp(half):.3f}]  ({args.seeds} seeds, n = {n:,})"
        )
    print(f"{time.time() - t0:.0f} s, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
