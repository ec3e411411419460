"""Timing shared by the ratio scripts: interleaved best-of-N wall time in this fresh process.

Every contender runs once per round, in turn, ``reps`` rounds; each keeps its best time. The
GC is paused while timing (as timeit does). Thread counts are pinned before anything runs:
BLAS/OpenMP to one thread (threadpoolctl), sketchkit to what the script asks for.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from _machine import describe


def pin_blas() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def best_times(contenders: dict[str, Callable[[], object]], reps: int = 7) -> dict[str, float]:
    for fn in contenders.values():  # warm: compile kernels, fault in pages
        fn()
    best = {name: float("inf") for name in contenders}
    for _ in range(reps):
        for name, fn in contenders.items():
            gc.collect()
            gc.disable()
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
            gc.enable()
    return best


def report(n: int, best: dict[str, float], ratios: list[tuple[str, str]]) -> None:
    print(f"{describe()}; {n:,} items; best wall time of each")
    for name, secs in best.items():
        print(f"  {name:<40} {n / secs / 1e6:8.1f} M items/s")
    for num, den in ratios:
        print(f"  {num} / {den}: {best[den] / best[num]:.2f}x")
