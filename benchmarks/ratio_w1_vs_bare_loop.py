"""W1: CountSketch update_batch at 320 KiB (one thread) vs the bare numba loop of d random
increments per key on a table of the same shape (the memory-access limit)."""
import _workloads as W
import numpy as np
from _ratio import best_times, pin_blas, report
from bench_core import _bare_increments

import sketchkit as sk

pin_blas()
x = W.w1()
shape = sk.CountSketch.from_memory("320KiB").table.shape
rk = sk.hashing.row_keys(sk.DEFAULT_SEED, shape[0])
mul, add = rk[:, 0].copy(), rk[:, 1].copy()
def cs():
    with sk.threads(1):
        sk.CountSketch.from_memory("320KiB").update_batch(x)
best = best_times({"bare d-increment loop": lambda: _bare_increments(x, np.zeros(shape, np.int32), mul, add),
                   "CountSketch 1 thread": cs})
report(len(x), best, [("CountSketch 1 thread", "bare d-increment loop")])
