"""The headline ratios of docs/benchmarks/cardinality.md in a fresh process, in a few seconds:
Distinct.update_batch against DataSketches hll_sketch per item and np.unique (int64 array),
against the fastest list[str] peer and set(), and the merge of two 3.6 KB sketches.

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/repro_distinct_ratios.py
"""

from __future__ import annotations

import os
import time
import timeit

import numpy as np

from sketchkit.cardinality import Distinct


def best(fn, reps=5):
    fn()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def main() -> None:
    import datasketches as ds

    n = 1_000_000
    x = np.random.default_rng(1).integers(0, 2**63, n, dtype=np.int64)
    s = [f"user-{v:x}" for v in np.random.default_rng(2).integers(0, 2**40, n).tolist()]
    lst = x.tolist()

    def sk_int():  # Distinct(10): lower error than hll_sketch(12), less memory than its HLL_8 form
        Distinct(10).update_batch(x)

    def hll_int():
        h = ds.hll_sketch(12, ds.tgt_hll_type.HLL_8)
        for v in lst:
            h.update(v)

    def sk_str():
        Distinct(10).update_batch(s)

    def cpc_str():
        h = ds.cpc_sketch(11)
        for v in s:
            h.update(v)

    t = {f.__name__: best(f) for f in (sk_int, hll_int, sk_str, cpc_str)}
    t["np.unique"] = best(lambda: np.unique(x).size, 3)
    t["set(str)"] = best(lambda: len(set(s)), 3)
    a, b = Distinct(10), Distinct(10)
    a.update_batch(x[:200_000])
    b.update_batch(x[100_000:300_000])
    one = np.zeros(1)
    us = {}  # timeit, min of 7 repeats of 20,000 calls: µs per call
    for name, fn in (
        ("merge", lambda: a.merge(b)),
        ("np.empty(0)", lambda: np.empty(0)),
        ("np.negative(1 element, out=)", lambda: np.negative(one, out=one)),
    ):
        fn()
        us[name] = min(timeit.repeat(fn, number=20_000, repeat=7)) / 20_000 * 1e6
    print(f"load {os.getloadavg()[0]:.1f}")
    print(f"int64 array: Distinct / ds hll per item (list ready) = {t['hll_int'] / t['sk_int']:.1f}x")
    print(f"int64 array: Distinct / np.unique(x).size = {t['np.unique'] / t['sk_int']:.1f}x")
    print(
        f"list[str]: Distinct / ds cpc per item = {t['cpc_str'] / t['sk_str']:.1f}x, / len(set) = "
        f"{t['set(str)'] / t['sk_str']:.1f}x"
    )
    print(
        f"merge of two Distinct(10): {us['merge']:.2f} us (numpy no-ops in the same run: np.empty(0) "
        f"{us['np.empty(0)']:.2f} us, np.negative on one element {us['np.negative(1 element, out=)']:.2f} us)"
    )


if __name__ == "__main__":
    main()
