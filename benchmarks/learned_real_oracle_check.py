"""The benchmark's shortcut checked: bench_learned.py feeds integer ids and freezes each oracle's
scores (ScoredOracle) for speed; a user's sketch holds the oracle itself (a lookup as its
KeySetOracle) and hashes the items' strings. For three tuned configurations this builds both and
prints the weighted error and the bytes held of each, on hash seeds 0 and 1.

Run: .venv/bin/python benchmarks/learned_real_oracle_check.py
"""

from __future__ import annotations

from bench_learned import TUNE_SEEDS, Candidate, Period, load, run_test

from sketchkit.learned.metrics import loss_hsu
from sketchkit.learned.oracles import LookupOracle
from sketchkit.learned.tuner import tune

CASES = (("D3", "countmin", 0.1), ("D3", "countsketch", 0.5), ("D2", "countmin", 0.2))


def main() -> None:
    for data, kind, r in CASES:
        split = load(data)
        vocab: dict = {}
        for part in (split.test, split.valid, split.train, split.refit):
            for x in part:
                vocab.setdefault(x, len(vocab))
        valid, test = Period(split.valid, vocab), Period(split.test, vocab)
        o_train, o_test = LookupOracle.from_counts(split.train), LookupOracle.from_counts(split.refit)
        cand = Candidate(o_train, o_test, o_train.score(valid.items), o_test.score(test.items))
        budget = int(4 * r * len(test.ids))
        cfg = tune(kind, budget, o_train, valid.pairs, scores=cand.s_valid, scale=len(valid.ids) / len(test.ids),
                   n_seeds=TUNE_SEEDS, seed=100)
        for seed in range(2):
            scored = run_test(cfg, cand, test, seed)
            sk = cfg.build(o_test, seed=seed)
            sk.update_batch(test.items, test.counts)
            real = loss_hsu(test.counts, sk.estimate_batch(test.items))
            print(f"{data} {kind} r={r} seed {seed}: benchmark E_w {scored['ew']:.4g} ({scored['bytes']:.0f} B), "
                  f"real {type(sk.oracle).__name__} on strings E_w {real:.4g} ({sk.nbytes} B); budget {budget} B")


if __name__ == "__main__":
    main()
