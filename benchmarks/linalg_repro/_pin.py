"""Shared by the repro scripts: pin threads for every contender, time interleaved, print with the load."""

import os
import time

import numba
import numpy as np
from threadpoolctl import threadpool_limits


def run(threads, fns, reps=3):
    numba.set_num_threads(threads)
    times, outs = {k: [] for k in fns}, {}
    with threadpool_limits(threads):
        for _ in range(reps):
            for k, fn in fns.items():
                t = time.perf_counter()
                outs[k] = fn()
                times[k].append(time.perf_counter() - t)
    med = {k: float(np.median(v)) for k, v in times.items()}
    print(f"threads={threads} load={os.getloadavg()[0]:.2f} " + " ".join(f"{k}={v:.3f}s" for k, v in med.items()))
    return med, outs
