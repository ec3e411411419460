"""Reproduce bench_similarity.py's headline ratio in a fresh process: sketchkit
FastSimilaritySketch.signatures vs rensa RMinHash.update (rensa's fastest API in that run), end
to end from the document strings, 2,000 stdlib files, word 3-grams, k = 128, one thread each.

    python benchmarks/repro_similarity_speed.py [--docs 2000] [--reps 5]
"""

from __future__ import annotations

import os

for _v in ("NUMBA_NUM_THREADS", "RAYON_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

from bench_similarity import corpus, shingles  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    from rensa import RMinHash

    from sketchkit import FastSimilaritySketch

    docs = corpus(args.docs)

    def rensa_run():
        for d in docs:
            m = RMinHash(num_perm=128, seed=42)
            m.update(shingles(d))

    def sk_run():
        FastSimilaritySketch.signatures(docs, 128, n=3)

    sk_run()
    best = {"rensa": float("inf"), "sketchkit": float("inf")}
    for _ in range(args.reps):
        for name, f in (("rensa", rensa_run), ("sketchkit", sk_run)):
            t = time.perf_counter()
            f()
            best[name] = min(best[name], time.perf_counter() - t)
    print(f"load {os.getloadavg()[0]:.2f}; rensa {best['rensa']:.3f} s, sketchkit {best['sketchkit']:.3f} s, "
          f"ratio {best['rensa'] / best['sketchkit']:.2f}x")


if __name__ == "__main__":
    main()
