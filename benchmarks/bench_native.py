"""The C kernels of ``sketchkit._pack`` against the numba kernels they copy, in one process.

``update_batch`` of every top-k and linear sketch on W2 (stdlib tokens, a ``list[str]``) and W1
(Zipf int64 keys), with the C kernels and with the numba kernels (``_native = None``), runs
interleaved, best of ``--reps``; numba's are compiled before timing. Also the batch hash of
str spans and int64 keys. One thread (SKETCHKIT_NUM_THREADS=1) for both.

    python benchmarks/bench_native.py [--n 2000000] [--reps 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("SKETCHKIT_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _workloads import w1, w2  # noqa: E402

import sketchkit.hashing as H  # noqa: E402
from sketchkit import CountMin, CountSketch, HeavyHitters, SpaceSaving  # noqa: E402
from sketchkit.frequency import _kernels as K  # noqa: E402
from sketchkit.frequency import _tracked as T  # noqa: E402

NATIVE = (T._native, K._native)


def use_c(on: bool) -> None:
    T._native, K._native = NATIVE if on else (None, None)


def best_rate(make, data, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        s = make()
        t = time.perf_counter()
        s.update_batch(data)
        best = min(best, time.perf_counter() - t)
    return len(data) / best / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2_000_000)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    data = {"W2": w2(a.n), "W1": w1(a.n)}
    makers = {
        "SpaceSaving 64KiB": lambda: SpaceSaving.from_memory("64KiB"),
        "HeavyHitters 64KiB": lambda: HeavyHitters.from_memory("64KiB", k=100),
        "CountSketch 64KiB": lambda: CountSketch.from_memory("64KiB"),
        "CountMin 64KiB": lambda: CountMin.from_memory("64KiB"),
    }
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; M items/s, best of {a.reps}\n")
    print("| sketch | workload | numba | C | C / numba |")
    print("|---|---|---|---|---|")
    for name, make in makers.items():
        for wname, d in data.items():
            for on in (False, True):  # compile / warm both
                use_c(on)
                make().update_batch(d[:1000])
            rates = {False: 0.0, True: 0.0}
            for _ in range(2):
                for on in (False, True):
                    use_c(on)
                    rates[on] = max(rates[on], best_rate(make, d, a.reps))
            note = " (numba either way: raw int64 batches ≥ 65,536 keys)" if wname == "W1" and "Count" in name else ""
            print(f"| {name} | {wname}{note} | {rates[False]:.1f} | {rates[True]:.1f} | "
                  f"{rates[True] / rates[False]:.2f} |")
    use_c(True)
    buf, off = H.encoded_buffer(data["W2"])
    seed = np.uint64(12345)
    H._hash_offsets_jit(buf, off, seed)
    tc = tj = float("inf")
    for _ in range(3 * a.reps):  # interleaved
        for fn in (H._hash_offsets_jit, H._hash_offsets):
            t = time.perf_counter()
            fn(buf, off, seed)
            dt = time.perf_counter() - t
            if fn is H._hash_offsets:
                tc = min(tc, dt)
            else:
                tj = min(tj, dt)
    print(f"| item hash of str spans (after packing) | W2 | {a.n / tj / 1e6:.1f} | {a.n / tc / 1e6:.1f} | "
          f"{tj / tc:.2f} |")


if __name__ == "__main__":
    main()
