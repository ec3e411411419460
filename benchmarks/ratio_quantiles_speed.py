"""Quantile sketches from a numpy float64 array (10^6 lognormal values), one thread each:
sketchkit KLL(k=200) vs DataSketches kll_doubles_sketch(200).update(array) and sketchkit
DDSketch(alpha=0.01) vs ddsketch.DDSketch(0.01).add per item (pure Python: timed on the first
200,000 values and reported per item, like every rate here)."""
import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
import datasketches as ds  # noqa: E402
import ddsketch  # noqa: E402
import numpy as np  # noqa: E402
from _ratio import best_times, pin_blas, report  # noqa: E402

import sketchkit as sk  # noqa: E402

pin_blas()
x = np.random.default_rng(0).lognormal(size=1_000_000)
head = x[:200_000].tolist()


def dd_peer():  # 5x the 200k prefix's time stands in for the whole array
    d = ddsketch.DDSketch(0.01)
    for v in head:
        d.add(v)


def ds_kll():
    ds.kll_doubles_sketch(200).update(x)


best = best_times({"sketchkit KLL(200)": lambda: sk.KLL(200).update_batch(x),
                   "datasketches kll_doubles_sketch(200)": ds_kll,
                   "sketchkit DDSketch(0.01)": lambda: sk.DDSketch(0.01).update_batch(x),
                   "ddsketch DDSketch(0.01) per item": dd_peer}, reps=5)
best["ddsketch DDSketch(0.01) per item"] *= len(x) / len(head)
report(len(x), best, [("sketchkit KLL(200)", "datasketches kll_doubles_sketch(200)"),
                      ("sketchkit DDSketch(0.01)", "ddsketch DDSketch(0.01) per item")])
