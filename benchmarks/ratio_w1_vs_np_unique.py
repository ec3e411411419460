"""W1 (10 M Zipf int64 keys): CountSketch update_batch at 320 KiB vs np.unique(return_counts=True),
one thread each, then CountSketch with every core (np.unique has one thread only)."""
import _workloads as W
import numpy as np
from _ratio import best_times, pin_blas, report

import sketchkit as sk

pin_blas()
x = W.w1()
cores = sk.get_threads()
def cs(threads):
    def run():
        with sk.threads(threads):
            sk.CountSketch.from_memory("320KiB").update_batch(x)
    return run
best = best_times({"np.unique": lambda: np.unique(x, return_counts=True), "CountSketch 1 thread": cs(1),
                   f"CountSketch {cores} threads": cs(cores)})
report(len(x), best, [("CountSketch 1 thread", "np.unique"), (f"CountSketch {cores} threads", "np.unique"),
                      (f"CountSketch {cores} threads", "CountSketch 1 thread")])
