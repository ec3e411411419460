"""W1 (10 M Zipf int64 keys), one thread: CountSketch and Count-Min ``update_batch`` against the
bare loop (d increments per key into a table of the same shape, placed by the sketch's own hash:
the practical limit) and against random increments with no item hash (the memory-access rate),
at the core benchmark's three budgets.

It times exactly what ``bench_core.py`` times, with its contenders and its ``time_once`` (sketch
or table built outside the timed call; process CPU time), interleaved in rounds that start one
further along, and prints the harness's statistic: the median (min-max) over rounds of each
round's ratio, with the median wall-clock ratio beside it.

    .venv/bin/python benchmarks/ratio_w1_vs_bare_loop.py [--reps 9] [--budgets "16 KiB,320 KiB"]
"""
import argparse
import gc
import statistics

import _workloads as W
from _machine import describe
from _ratio import pin_blas
from bench_core import BARE, BUDGETS, RANDOM, BareLoop, SketchkitContender, time_once

import sketchkit as sk

ap = argparse.ArgumentParser()
ap.add_argument("--reps", type=int, default=9)
ap.add_argument("--budgets", default=",".join(BUDGETS))
args = ap.parse_args()
pin_blas()
sk.set_threads(1)
x = W.w1()
for label in args.budgets.split(","):
    b = BUDGETS[label.strip()]
    cs = [SketchkitContender(b, "int", name, name) for name in ("CountSketch", "CountMin")]
    cs += [BareLoop(b, "int", hashed=True), BareLoop(b, "int", hashed=False)]
    for c in cs:  # compile, fault in
        c.feed(c.build(), x[:2000])
    cpu = {c.name: [] for c in cs}
    wall = {c.name: [] for c in cs}
    for rep in range(args.reps):
        for c in cs[rep % len(cs):] + cs[:rep % len(cs)]:
            secs, state = time_once(c, x, {})
            cpu[c.name].append(secs["update"])
            wall[c.name].append(secs["update_wall"])
            del state
            gc.collect()
    print(f"{describe()}; {len(x):,} keys; {label.strip()} ({cs[2].config()}); {args.reps} rounds")
    for name in cpu:
        print(f"  {name:<34} {len(x) / statistics.median(cpu[name]) / 1e6:7.1f} M keys/s (median CPU time)")
    for num in ("CountSketch", "CountMin"):
        for den in (BARE, RANDOM):
            r = [d / n for n, d in zip(cpu[num], cpu[den])]
            rw = [d / n for n, d in zip(wall[num], wall[den])]
            print(f"  {num} / {den}: {statistics.median(r):.2f}x ({min(r):.2f}-{max(r):.2f}); "
                  f"wall-clock {statistics.median(rw):.2f}x")
