"""One learned-vs-plain ratio of docs/benchmarks/learned.md, reproduced alone in a fresh process.

Tunes the plain sketch and the learned one with a lookup (or history-model) oracle on the
validation period exactly as bench_learned.py does, runs both on the test period with hash seeds
0..4, and prints the mean weighted errors, their ratio and the bytes each sketch really holds.

Run: .venv/bin/python benchmarks/learned_headline.py [--data D3] [--kind countmin] [--r 0.1]
     [--oracle lookup|history-model]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

from bench_learned import TUNE_SEEDS, Candidate, Period, load, run_test  # noqa: E402

from sketchkit.learned.oracles import LookupOracle  # noqa: E402
from sketchkit.learned.tuner import tune  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="D3")
    ap.add_argument("--kind", default="countmin", choices=("countmin", "countsketch"))
    ap.add_argument("--r", type=float, default=0.1, help="counters per distinct test key")
    ap.add_argument("--oracle", default="lookup", choices=("lookup", "history-model"))
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    t0 = time.perf_counter()
    split = load(args.data)
    vocab: dict = {}
    for part in (split.test, split.valid, split.train, split.refit):
        for x in part:
            vocab.setdefault(x, len(vocab))
    valid, test = Period(split.valid, vocab), Period(split.test, vocab)
    if args.oracle == "lookup":
        o_train, o_test = LookupOracle.from_counts(split.train), LookupOracle.from_counts(split.refit)
    else:
        o_train = LookupOracle.from_history(split.train_periods)
        o_test = LookupOracle.from_history(split.refit_periods)
    cand = Candidate(o_train, o_test, o_train.score(valid.items), o_test.score(test.items))
    budget = int(4 * args.r * len(test.ids))
    opts = {"scale": len(valid.ids) / len(test.ids), "n_seeds": TUNE_SEEDS, "seed": 100}
    plain_cfg = tune(args.kind, budget, None, valid.pairs, **opts)
    learned_cfg = tune(args.kind, budget, o_train, valid.pairs, scores=cand.s_valid, **opts)
    plain = [run_test(plain_cfg, None, test, s) for s in range(args.seeds)]
    learned = [run_test(learned_cfg, cand, test, s) for s in range(args.seeds)]
    p = sum(x["ew"] for x in plain) / len(plain)
    q = sum(x["ew"] for x in learned) / len(learned)
    print(f"{args.data} {args.kind} r={args.r} budget {budget} B, oracle {args.oracle} "
          f"(tuned: depth {learned_cfg.depth}, heavy share {learned_cfg.heavy_fraction}, "
          f"{learned_cfg.capacity} exact entries)")
    print(f"plain E_w {p:.4g} (holds {max(x['bytes'] for x in plain):.0f} B), learned E_w {q:.4g} "
          f"(holds {max(x['bytes'] for x in learned):.0f} B): ratio {q / p:.3f}")
    print(f"{time.perf_counter() - t0:.0f} s, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
