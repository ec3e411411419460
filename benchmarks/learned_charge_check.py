"""What the tuner's oracle-charge fix changes: lookup oracles tuned with the fixed charge and with
the old one, everything else equal (issue #12 §3).

The tuner validates at ``scale = n_valid / n_test`` of the budget. The old code charged a lookup
oracle ``scale ×`` the size of the lookup pruned for the *validation* capacity, which is itself
about ``scale ×`` the test-time lookup: ``scale²`` in all, too little, so lookups looked cheaper
than they are. The fixed tuner charges ``scale ×`` the lookup that ``TunedConfig.build`` will hold
at the full budget. This script tunes the lookup and history-model oracles of D1–D3 both ways with
the protocol of bench_learned.py (validation seeds 100–109) and prints the chosen depth, heavy
share and validation error, and the test-period error of each choice (5 seeds).

Run: .venv/bin/python benchmarks/learned_charge_check.py [--datasets D1,D2,D3] [--ratios ...]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from bench_learned import RATIOS, TUNE_SEEDS, Candidate, Period, load, run_test  # noqa: E402

from sketchkit.learned import tuner  # noqa: E402
from sketchkit.learned.oracles import LookupOracle  # noqa: E402
from sketchkit.learned.sketches import capacity_for  # noqa: E402


def old_charge(oracle, capacity_small: int, scale: float) -> int:
    """The charge before the fix: what the sketch holds at the validation capacity, scaled again."""
    threshold = oracle.threshold_for(capacity_small) if isinstance(oracle, tuner.RANKED) else math.inf
    return int(tuner.held_oracle(oracle, threshold, capacity_small)[0].nbytes * scale)


def tune_both(kind, budget, cand, valid, scale):
    fixed = tuner.tune(kind, budget, cand.o_train, valid.pairs, scores=cand.s_valid, scale=scale,
                       n_seeds=TUNE_SEEDS, seed=100)
    real = tuner.charge
    small = max(1, int(budget * scale))
    # the old rule, expressed through the same hook: the validation capacity of the same share
    tuner.charge = lambda oracle, cap, s: old_charge(oracle, capacity_for(small, _share(budget, cap)), s)
    try:
        old = tuner.tune(kind, budget, cand.o_train, valid.pairs, scores=cand.s_valid, scale=scale,
                         n_seeds=TUNE_SEEDS, seed=100)
    finally:
        tuner.charge = real
    return fixed, old


def _share(budget: int, capacity: int) -> float:
    """The grid share whose full-budget capacity is ``capacity``."""
    for frac in tuner.DEFAULT_FRACTIONS:
        if capacity_for(budget, frac) == capacity:
            return frac
    raise AssertionError(f"no grid share gives capacity {capacity}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="D1,D2,D3")
    ap.add_argument("--ratios", default=",".join(map(str, RATIOS)))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--json", default="docs/benchmarks/learned_charge.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = []
    for name in args.datasets.split(","):
        split = load(name)
        vocab: dict = {}
        for part in (split.test, split.valid, split.train, split.refit):
            for x in part:
                vocab.setdefault(x, len(vocab))
        valid, test = Period(split.valid, vocab), Period(split.test, vocab)
        cands = {"lookup": (LookupOracle.from_counts(split.train), LookupOracle.from_counts(split.refit))}
        if split.train_periods:
            cands["history-model"] = (LookupOracle.from_history(split.train_periods),
                                      LookupOracle.from_history(split.refit_periods))
        scale = len(valid.ids) / len(test.ids)
        for r in (float(x) for x in args.ratios.split(",")):
            budget = int(4 * r * len(test.ids))
            for kind in ("countmin", "countsketch"):
                plain = tuner.tune(kind, budget, None, valid.pairs, scale=scale, n_seeds=TUNE_SEEDS, seed=100)
                p = sum(run_test(plain, None, test, s)["ew"] for s in range(args.seeds)) / args.seeds
                for oname, (o_train, o_test) in cands.items():
                    cand = Candidate(o_train, o_test, o_train.score(valid.items), o_test.score(test.items))
                    out = {"data": name, "r": r, "kind": kind, "oracle": oname}
                    for label, cfg in zip(("fixed", "old"), tune_both(kind, budget, cand, valid, scale)):
                        ew = sum(run_test(cfg, cand, test, s)["ew"] for s in range(args.seeds)) / args.seeds
                        out[label] = {"depth": cfg.depth, "heavy_fraction": cfg.heavy_fraction,
                                      "valid_ew": cfg.valid_error, "test_ratio": ew / p}
                    rows.append(out)
                    f, o = out["fixed"], out["old"]
                    flag = "" if (f["depth"], f["heavy_fraction"]) == (o["depth"], o["heavy_fraction"]) else "  CHANGED"
                    print(f"{name} r={r} {kind} {oname}: fixed d={f['depth']} a={f['heavy_fraction']} "
                          f"test {f['test_ratio']:.3f}x plain | old d={o['depth']} a={o['heavy_fraction']} "
                          f"test {o['test_ratio']:.3f}x plain{flag}", flush=True)
    out = {"command": " ".join(["python"] + sys.argv), "seconds": time.perf_counter() - t0,
           "load": os.getloadavg(), "rows": rows}
    with open(args.json, "w") as fh:
        json.dump(out, fh, indent=1)
    print(f"{out['seconds']:.0f} s, load {out['load']}; wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
