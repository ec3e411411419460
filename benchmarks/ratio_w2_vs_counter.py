"""W2 (2 M stdlib tokens as a list[str]): CountSketch and Count-Min update_batch at 64 KiB
(one thread) vs collections.Counter and, where installed, bounter (both single-threaded)."""
from collections import Counter

import _workloads as W
from _ratio import best_times, pin_blas, report

import sketchkit as sk

pin_blas()
x = W.w2()
def sketch(cls):
    def run():
        with sk.threads(1):
            cls.from_memory("64KiB").update_batch(x)
    return run
contenders = {"Counter": lambda: Counter(x), "CountSketch": sketch(sk.CountSketch), "CountMin": sketch(sk.CountMin)}
try:  # bounter's fastest API: update() with the whole list, at the same 64 KiB
    import bounter
    contenders["bounter HT"] = lambda: bounter.HashTable(buckets=4096).update(x)
    contenders["bounter CMS"] = lambda: bounter.CountMinSketch(width=4096, depth=4).update(x)
except ImportError:
    pass
best = best_times(contenders, reps=5)
report(len(x), best, [("CountSketch", "Counter"), ("CountMin", "Counter")]
       + [("CountSketch", k) for k in contenders if k.startswith("bounter")])
