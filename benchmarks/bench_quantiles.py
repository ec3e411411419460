"""Quantile sketches against the peer libraries, side by side in one run (issue #15).

* speed from a numpy float64 array (10^6 lognormal values): sketchkit ``KLL.update_batch`` and
  ``DDSketch.update_batch`` vs DataSketches ``kll_doubles_sketch.update(array)``,
  ``req_floats_sketch.update(array)`` (its float32 copy timed too), fastdigest
  ``TDigest.batch_update`` and ddsketch's pure-Python ``DDSketch.add`` per item (timed on a
  200,000 prefix and reported per item); ``np.sort`` as the reference;
* rank accuracy at equal serialized bytes: the largest sketchkit ``KLL`` whose bytes, averaged
  over the stream lengths below, stay at or under DataSketches KLL k=200's, max rank error over
  q = 0.005..0.995 (step 0.01; the distance from q to the true rank interval of the returned
  value), mean with its 95 % interval, median and worst of 128 trials (both libraries draw fresh
  coins per trial; with 30 the DataSketches median moved by 20 % between runs), on shuffled
  lognormal data, on the same data sorted (arrival order matters to KLL) and on heavily tied
  integers. The trials spread over eight stream lengths n·2^(j/8 - 1/2), j = 0..7, one octave
  around n: on sorted input the error is a step function of the number of levels at the end of
  the stream (about 2^(L-1)/n), so one length alone favours whichever sketch has just passed a
  level change. The verdict compares the mean errors on the same data (paired difference and its
  95 % interval);
* tail value error at alpha = 1 %: sketchkit ``DDSketch`` vs ddsketch ``DDSketch`` (p99, p99.9:
  relative distance to the nearest order statistic of either rank convention), on lognormal and
  on a Pareto-tailed latency mix; KLL, REQ and t-digest alongside to show what rank error costs in
  the tail;
* error against memory for the plot: KLL (ours and DataSketches) over k, DDSketch (ours and
  ddsketch) over alpha.

Every contender runs on one thread (NUMBA_NUM_THREADS=1, OMP_NUM_THREADS=1; the peers are
single-threaded). Rates are the best of interleaved repetitions; only ratios within a run mean
anything on a shared machine.

    .venv/bin/python benchmarks/bench_quantiles.py           # docs/benchmarks/quantiles.md + json + png
    .venv/bin/python benchmarks/bench_quantiles.py --quick   # smoke run into a temp dir
    .venv/bin/python benchmarks/bench_quantiles.py --rank-only 10000000 --trials 64  # one section
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _machine import cpu_model  # noqa: E402
from _ratio import best_times  # noqa: E402

from sketchkit.quantiles import KLL, DDSketch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QS = np.round(np.arange(0.005, 0.996, 0.01), 3)
TAILS = (0.99, 0.999)


def peers() -> dict:
    out = {}
    for name in ("datasketches", "ddsketch", "fastdigest"):
        try:
            out[name] = __import__(name)
        except ImportError:
            pass
    return out


# ----------------------------------------------------------------------------- data
def lognormal(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(0.0, 1.0, n)


def latency_mix(n: int, seed: int) -> np.ndarray:
    """Milliseconds: a lognormal body (median 20 ms) with 2 % of Pareto(1.5) stragglers."""
    rng = np.random.default_rng(seed)
    x = rng.lognormal(np.log(20.0), 0.5, n)
    slow = rng.random(n) < 0.02
    x[slow] = 100.0 * (1.0 + rng.pareto(1.5, int(slow.sum())))
    return x


def tied(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).zipf(1.3, n).clip(max=10_000).astype(np.float64)


# ----------------------------------------------------------------------------- error metrics
def rank_error(srt: np.ndarray, values: np.ndarray, qs: np.ndarray = QS) -> float:
    """Max over q of the distance from q to the true rank interval [R^-(v), R(v)] of v."""
    n = srt.shape[0]
    lo = np.searchsorted(srt, values, side="left") / n
    hi = np.searchsorted(srt, values, side="right") / n
    return float(np.max(np.maximum(0.0, np.maximum(lo - qs, qs - hi))))


def value_error(srt: np.ndarray, v: float, q: float) -> float:
    """Relative distance to the nearest of the order statistics the rank conventions name."""
    n = srt.shape[0]
    ranks = {max(0, int(np.ceil(q * n)) - 1), min(n - 1, int(np.floor(q * n))), int(np.floor(q * (n - 1))),
             min(n - 1, int(np.ceil(q * (n - 1))))}
    return min(abs(v - srt[r]) / abs(srt[r]) for r in ranks)


# ----------------------------------------------------------------------------- contenders
def build_kll(k: int, x: np.ndarray, seed: int) -> KLL:
    s = KLL(k, seed=seed)
    s.update_batch(x)
    return s


def ours_kll(k, seed):
    def run(x):
        s = build_kll(k, x, seed)
        return s.quantiles(QS), len(s.to_bytes()), s

    return run


def ds_kll(P, k):
    def run(x):
        s = P["datasketches"].kll_doubles_sketch(k)
        s.update(x)
        return np.array([s.get_quantile(float(q)) for q in QS]), len(s.serialize()), s

    return run


def ds_req(P, k=12):
    def run(x):
        s = P["datasketches"].req_floats_sketch(k)
        s.update(x.astype(np.float32))
        return np.array([s.get_quantile(float(q)) for q in QS]), len(s.serialize()), s

    return run


def tdigest(P, c=200):
    def run(x):
        t = P["fastdigest"].TDigest(c)
        t.batch_update(x)
        return np.array([t.quantile(float(q)) for q in QS]), len(t.to_bytes()), t

    return run


def _dd_bytes(d) -> int:
    """8 bytes per bucket of the occupied key range of each ddsketch store (the same measure as
    sketchkit DDSketch.num_buckets; ddsketch's own lists are padded to chunks of 128)."""
    total = 0
    for store in (d._store, d._negative_store):
        if store.count:
            total += 8 * (store.max_key - store.min_key + 1)
    return total


def lengths(n: int) -> list[int]:
    """Eight stream lengths spread over one octave around n (geometric mean n)."""
    return [int(round(n * 2 ** (j / 8 - 0.5))) for j in range(8)]


def equal_bytes_k(target: float, xs: list[np.ndarray]) -> int:
    """The largest k whose sketchkit KLL serializes, on average over the streams ``xs`` (the
    level-0 buffer and the level count depend on where a stream stops), to at most ``target``
    bytes (a binary search: bytes grow with k but not strictly, a level more or less can move
    them, so the k found fits and a few larger ones may fit too)."""

    def mean_bytes(k: int) -> float:
        sizes = []
        for x in xs:
            s = KLL(k, seed=0)
            s.update_batch(x)
            sizes.append(len(s.to_bytes()))
        return statistics.mean(sizes)

    best, lo, hi = 8, 8, 2000
    while lo <= hi:
        k = (lo + hi) // 2
        if mean_bytes(k) <= target:
            best, lo = k, k + 1
        else:
            hi = k - 1
    return best


def mean_ci(v: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % interval (normal approximation)."""
    a = np.asarray(v, dtype=np.float64)
    return float(a.mean()), float(1.96 * a.std(ddof=1) / np.sqrt(a.size)) if a.size > 1 else math.inf


# ----------------------------------------------------------------------------- sections
def speed(P: dict, n: int, reps: int, log) -> dict:
    x = lognormal(n, 0)
    head = x[: min(n, 200_000)].tolist()
    fns = {
        "sketchkit KLL(200).update_batch": lambda: KLL(200).update_batch(x),
        "sketchkit DDSketch(0.01).update_batch": lambda: DDSketch(0.01).update_batch(x),
        "np.sort (reference)": lambda: np.sort(x),
    }
    if "datasketches" in P:
        ds = P["datasketches"]
        fns["datasketches kll_doubles_sketch(200).update(array)"] = lambda: ds.kll_doubles_sketch(200).update(x)
        fns["datasketches req_floats_sketch(12).update(float32 copy)"] = lambda: ds.req_floats_sketch(12).update(
            x.astype(np.float32)
        )
    if "fastdigest" in P:
        fns["fastdigest TDigest(200).batch_update"] = lambda: P["fastdigest"].TDigest(200).batch_update(x)
    if "ddsketch" in P:

        def dd():
            d = P["ddsketch"].DDSketch(0.01)
            for v in head:
                d.add(v)

        fns["ddsketch DDSketch(0.01).add per item"] = dd
    best = best_times(fns, reps)
    rates = {}
    for name, secs in best.items():
        items = len(head) if name.startswith("ddsketch") else n
        rates[name] = items / secs / 1e6
        log(f"  {name:<58} {rates[name]:8.1f} M/s")
    return {"n": n, "reps": reps, "rates_mps": rates}


def rank_accuracy(P: dict, n: int, trials: int, log) -> dict:
    out = {}
    if "datasketches" not in P:
        return out
    ns = lengths(n)
    for dname, gen in (("lognormal", lognormal), ("lognormal sorted", lambda n, s: np.sort(lognormal(n, s))),
                       ("zipf ties", tied)):
        probes = [gen(m, 999 + j) for j, m in enumerate(ns)]
        ds_bytes = statistics.mean(len(ds_kll(P, 200)(x)[2].serialize()) for x in probes)
        k = equal_bytes_k(ds_bytes, probes)
        runs = {f"sketchkit KLL(k={k})": lambda seed, k=k: ours_kll(k, seed),
                "datasketches KLL(k=200)": lambda seed: ds_kll(P, 200),
                "datasketches REQ(k=12, HRA)": lambda seed: ds_req(P)}
        if "fastdigest" in P:
            runs["fastdigest TDigest(200)"] = lambda seed: tdigest(P)
        res = {}
        for name, make in runs.items():
            errs, sizes = [], []
            for t in range(trials):
                x = gen(ns[t % len(ns)], 100 + t)
                srt = np.sort(x)
                qv, nb, _ = make(t)(x)
                errs.append(rank_error(srt, qv))
                sizes.append(nb)
            mean, ci = mean_ci(errs)
            res[name] = {"median": statistics.median(errs), "worst": max(errs), "mean": mean, "ci95": ci,
                         "bytes": statistics.mean(sizes), "errors": errs}
            log(f"  {dname:<18} {name:<28} rank err mean {100 * mean:.3f} ± {100 * ci:.3f} % median "
                f"{100 * res[name]['median']:.3f} % worst {100 * res[name]['worst']:.3f} %  {res[name]['bytes']:.0f} B")
        out[dname] = {"k_equal_bytes": k, "ds_bytes": ds_bytes, "lengths": ns, "results": res}
    return out


def tail_accuracy(P: dict, n: int, trials: int, log) -> dict:
    out = {}
    for dname, gen in (("lognormal", lognormal), ("latency mix", latency_mix)):
        res = {}
        contenders = {"sketchkit DDSketch(0.01)": "ours"}
        if "ddsketch" in P:
            contenders["ddsketch DDSketch(0.01)"] = "dd"
        contenders["sketchkit KLL(200)"] = "kll"
        if "datasketches" in P:
            contenders["datasketches KLL(200)"] = "dskll"
            contenders["datasketches REQ(12, HRA)"] = "req"
        if "fastdigest" in P:
            contenders["fastdigest TDigest(200)"] = "td"
        for name, kind in contenders.items():
            errs = {q: [] for q in TAILS}
            sizes = []
            for t in range(trials):
                x = gen(n, 200 + t)
                srt = np.sort(x)
                if kind == "ours":
                    s = DDSketch(0.01)
                    s.update_batch(x)
                    vals = s.quantiles(list(TAILS))
                    sizes.append(8 * s.num_buckets)
                elif kind == "dd":
                    d = P["ddsketch"].DDSketch(0.01)
                    for v in x.tolist():
                        d.add(v)
                    vals = [d.get_quantile_value(q) for q in TAILS]
                    sizes.append(_dd_bytes(d))
                elif kind == "kll":
                    s = build_kll(200, x, t)
                    vals = s.quantiles(list(TAILS))
                    sizes.append(len(s.to_bytes()))
                elif kind == "dskll":
                    s = P["datasketches"].kll_doubles_sketch(200)
                    s.update(x)
                    vals = [s.get_quantile(q) for q in TAILS]
                    sizes.append(len(s.serialize()))
                elif kind == "req":
                    s = P["datasketches"].req_floats_sketch(12)
                    s.update(x.astype(np.float32))
                    vals = [s.get_quantile(q) for q in TAILS]
                    sizes.append(len(s.serialize()))
                else:
                    s = P["fastdigest"].TDigest(200)
                    s.batch_update(x)
                    vals = [s.quantile(q) for q in TAILS]
                    sizes.append(len(s.to_bytes()))
                for q, v in zip(TAILS, vals):
                    errs[q].append(value_error(srt, float(v), q))
            res[name] = {f"p{100 * q:g}": {"median": statistics.median(e), "worst": max(e)} for q, e in errs.items()}
            res[name]["bytes"] = statistics.mean(sizes)
            log(f"  {dname:<12} {name:<28} " + "  ".join(
                f"p{100 * q:g} {100 * res[name][f'p{100 * q:g}']['median']:.3f} % (worst "
                f"{100 * res[name][f'p{100 * q:g}']['worst']:.3f})" for q in TAILS) + f"  {res[name]['bytes']:.0f} B")
        out[dname] = res
    return out


def error_vs_memory(P: dict, n: int, trials: int, log) -> dict:
    out = {"kll": {}, "ds_kll": {}, "dd": {}, "ddsketch": {}}
    for k in (50, 100, 200, 400, 800):
        for key, make in (("kll", lambda k=k, t=0: ours_kll(k, t)), ("ds_kll", lambda k=k, t=0: ds_kll(P, k))):
            if key == "ds_kll" and "datasketches" not in P:
                continue
            errs, sizes = [], []
            for t in range(trials):
                x = lognormal(n, 300 + t)
                qv, nb, _ = make(k, t)(x)
                errs.append(rank_error(np.sort(x), qv))
                sizes.append(nb)
            out[key][k] = {"bytes": statistics.mean(sizes), "rank_err": statistics.median(errs)}
        log(f"  k={k}: ours {out['kll'][k]}  ds {out['ds_kll'].get(k)}")
    tail_qs = (0.9, 0.95, 0.99, 0.995, 0.999, 0.9999)
    for alpha in (0.005, 0.01, 0.02, 0.05):
        errs, derrs, sizes, dsizes = [], [], [], []
        for t in range(trials):
            x = latency_mix(n, 400 + t)
            srt = np.sort(x)
            s = DDSketch(alpha)
            s.update_batch(x)
            errs.append(max(value_error(srt, float(v), q) for q, v in zip(tail_qs, s.quantiles(tail_qs))))
            sizes.append(8 * s.num_buckets)
            if "ddsketch" in P:
                d = P["ddsketch"].DDSketch(alpha)
                for v in x.tolist():
                    d.add(v)
                derrs.append(max(value_error(srt, d.get_quantile_value(q), q) for q in tail_qs))
                dsizes.append(_dd_bytes(d))
        out["dd"][alpha] = {"bytes": statistics.mean(sizes), "tail_err": max(errs)}
        if derrs:
            out["ddsketch"][alpha] = {"bytes": statistics.mean(dsizes), "tail_err": max(derrs)}
        log(f"  alpha={alpha}: ours {out['dd'][alpha]}  ddsketch {out['ddsketch'].get(alpha)}")
    return out


def plot(mem: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label, style in (("kll", "sketchkit KLL", "o-"), ("ds_kll", "DataSketches KLL", "s--")):
        pts = sorted(mem[key].values(), key=lambda r: r["bytes"])
        if pts:
            a.plot([p["bytes"] for p in pts], [100 * p["rank_err"] for p in pts], style, label=label)
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlabel("serialized bytes")
    a.set_ylabel("max rank error over q (%) , median of trials")
    a.set_title("Rank error vs memory (lognormal, k = 50..800)")
    a.legend()
    for key, label, style in (("dd", "sketchkit DDSketch", "o-"), ("ddsketch", "ddsketch", "s--")):
        pts = sorted(mem[key].items(), key=lambda p: p[1]["bytes"])
        if pts:
            b.plot([p[1]["bytes"] for p in pts], [100 * p[1]["tail_err"] for p in pts], style, label=label)
    pts = sorted(mem["dd"].items(), key=lambda p: p[1]["bytes"])
    if pts:
        b.plot([p[1]["bytes"] for p in pts], [100 * p[0] for p in pts], ":", color="gray", label="guarantee α")
        for alpha, r in pts:
            b.annotate(f"α={alpha:g}", (r["bytes"], 100 * alpha), fontsize=7)
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xlabel("bucket bytes (8 per bucket)")
    b.set_ylabel("worst relative value error, p90..p99.99 (%)")
    b.set_title("Tail value error vs memory (latency mix)")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def verdicts(res: dict) -> list[str]:
    out = []
    r = res["speed"]["rates_mps"]
    ours = r["sketchkit KLL(200).update_batch"]
    peer = r.get("datasketches kll_doubles_sketch(200).update(array)")
    if peer:
        ratio = ours / peer
        out.append(f"KLL update from float64 array ≥ 3× DataSketches KLL: {ratio:.2f}× — "
                   f"{'met' if ratio >= 3 else 'NOT met'}")
    dd = r.get("ddsketch DDSketch(0.01).add per item")
    if dd:
        ratio = r["sketchkit DDSketch(0.01).update_batch"] / dd
        out.append(f"DDSketch update ≥ 30× ddsketch (per item): {ratio:.0f}× — {'met' if ratio >= 30 else 'NOT met'}")
    for dname, block in res["rank"].items():
        rr = block["results"]
        ours_name = next(n for n in rr if n.startswith("sketchkit"))
        o, d = rr[ours_name], rr["datasketches KLL(k=200)"]
        diff, ci = mean_ci([a - b for a, b in zip(o["errors"], d["errors"])])
        state = "met" if diff + ci < 0 else "on par (the interval holds 0)" if diff - ci <= 0 else "NOT met"
        out.append(f"rank error at equal bytes ({dname}): {ours_name} mean {100 * o['mean']:.3f} % "
                   f"({o['bytes']:.0f} B) vs DataSketches {100 * d['mean']:.3f} % ({d['bytes']:.0f} B), "
                   f"{o['mean'] / d['mean']:.2f}×; paired difference {100 * diff:+.3f} ± {100 * ci:.3f} % "
                   f"({len(o['errors'])} trials) — {state}")
    for dname, block in res["tail"].items():
        if "ddsketch DDSketch(0.01)" not in block:
            continue
        o, d = block["sketchkit DDSketch(0.01)"], block["ddsketch DDSketch(0.01)"]
        for q in ("p99", "p99.9"):
            ok = o[q]["worst"] <= max(d[q]["worst"], 0.01)
            out.append(f"{q} value error ({dname}) sketchkit {100 * o[q]['median']:.3f} % (worst "
                       f"{100 * o[q]['worst']:.3f}) vs ddsketch {100 * d[q]['median']:.3f} % (worst "
                       f"{100 * d[q]['worst']:.3f}), both ≤ α = 1 % — {'met' if ok else 'NOT met'}")
    return out


def write_md(res: dict, path: Path, png: str) -> None:
    lines = [
        "# Quantile sketches against the peers (`benchmarks/bench_quantiles.py`)",
        "",
        f"Run {res['finished']} on {res['cpu']} ({res['cores']} cores, shared with other jobs: load average "
        f"{res['load_before']:.2f} before, {res['load_after']:.2f} after). One thread per contender. "
        "Only ratios within this run mean anything.",
        "",
        "## Verdicts",
        "",
        *[f"- {v}" for v in res["verdicts"]],
        "",
        f"## Speed from a numpy float64 array ({res['speed']['n']:,} lognormal values, best of "
        f"{res['speed']['reps']})",
        "",
        "| contender | M items/s |",
        "|---|---|",
        *[f"| {k} | {v:.1f} |" for k, v in res["speed"]["rates_mps"].items()],
        "",
        "ddsketch is timed on a 200,000-value prefix (pure Python, one `add` per item).",
        "",
        "## Rank error at equal serialized bytes (max over q = 0.005..0.995)",
        "",
    ]
    for dname, block in res["rank"].items():
        ns = block["lengths"]
        lines += [f"**{dname}** (sketchkit k = {block['k_equal_bytes']}, the largest at ≤ DataSketches KLL k=200's "
                  f"{block['ds_bytes']:.0f} B on average; streams of {ns[0]:,} to {ns[-1]:,} items)", "",
                  "| sketch | mean ± 95 % | median | worst | bytes |", "|---|---|---|---|---|"]
        for name, r in block["results"].items():
            lines.append(f"| {name} | {100 * r['mean']:.3f} ± {100 * r['ci95']:.3f} % | {100 * r['median']:.3f} % | "
                         f"{100 * r['worst']:.3f} % | {r['bytes']:.0f} |")
        lines.append("")
    lines += ["## Tail value error (relative, nearest rank convention)", ""]
    for dname, block in res["tail"].items():
        lines += [f"**{dname}**", "", "| sketch | p99 median | p99 worst | p99.9 median | p99.9 worst | bytes |",
                  "|---|---|---|---|---|---|"]
        for name, r in block.items():
            lines.append(f"| {name} | {100 * r['p99']['median']:.3f} % | {100 * r['p99']['worst']:.3f} % | "
                         f"{100 * r['p99.9']['median']:.3f} % | {100 * r['p99.9']['worst']:.3f} % | {r['bytes']:.0f} |")
        lines.append("")
    lines += ["DDSketch bytes are bucket counts at 8 bytes each (ddsketch has no serializer without protobuf).", "",
              f"![error vs memory]({png})", ""]
    path.write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, output into a temp dir")
    ap.add_argument("--rank-only", type=int, metavar="N", default=0,
                    help="only the rank error at equal bytes, streams in the octave around N; prints, writes nothing")
    ap.add_argument("--trials", type=int, default=128, help="trials for --rank-only (default 128)")
    args = ap.parse_args()
    P = peers()
    if args.rank_only:
        print(f"CPU {cpu_model()}; load {os.getloadavg()[0]:.2f}", flush=True)
        rank = rank_accuracy(P, args.rank_only, args.trials, lambda msg: print(msg, flush=True))
        for v in verdicts({"speed": {"rates_mps": {"sketchkit KLL(200).update_batch": 0.0}}, "rank": rank, "tail": {}}):
            print("VERDICT " + v)
        print(f"load {os.getloadavg()[0]:.2f}")
        return
    n = 100_000 if args.quick else 1_000_000
    out_dir = Path(tempfile.mkdtemp()) if args.quick else ROOT / "docs" / "benchmarks"
    png_dir = out_dir if args.quick else ROOT / "docs"

    def log(msg: str) -> None:
        print(msg, flush=True)

    res = {"cpu": cpu_model(), "cores": os.cpu_count(), "load_before": os.getloadavg()[0],
           "peers": {k: getattr(v, "__version__", "?") for k, v in P.items()}}
    log(f"CPU {res['cpu']}; load {res['load_before']:.2f}; peers {res['peers']}")
    log("speed")
    res["speed"] = speed(P, n, 3 if args.quick else 5, log)
    log("rank accuracy at equal bytes")
    res["rank"] = rank_accuracy(P, n, 16 if args.quick else 128, log)
    log("tail value error")
    res["tail"] = tail_accuracy(P, n, 2 if args.quick else 3, log)
    log("error vs memory")
    res["memory"] = error_vs_memory(P, n // 2, 2 if args.quick else 5, log)
    res["load_after"] = os.getloadavg()[0]
    res["finished"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    res["verdicts"] = verdicts(res)
    for v in res["verdicts"]:
        log("VERDICT " + v)
    png = png_dir / "quantiles_error_vs_memory.png"
    plot(res["memory"], png)
    (out_dir / "quantiles.json").write_text(json.dumps(res, indent=1, default=str))
    write_md(res, out_dir / "quantiles.md", "../quantiles_error_vs_memory.png" if not args.quick else png.name)
    log(f"wrote {out_dir / 'quantiles.md'}")


if __name__ == "__main__":
    main()
