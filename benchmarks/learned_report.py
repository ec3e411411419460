"""Tables T1–T6 and plots of the learned-sketch benchmark, from the JSON bench_learned.py writes.

Run: .venv/bin/python benchmarks/learned_report.py [docs/benchmarks/learned.json]
Writes docs/benchmarks/learned.md (tables) and docs/learned_ew.png, docs/learned_cspp.png.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

KIND_NAMES = {"countmin": "CM", "countsketch": "CS"}


def ratio_seeds(rows: dict, name: str) -> np.ndarray:
    return np.array(rows[name]["ew_all"]) / np.array(rows["plain"]["ew_all"])


def row(*cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def header(*names) -> list[str]:
    return [row(*names), row(*["---"] * len(names))]


def fmt(x: float, sd: float | None = None) -> str:
    s = f"{x:.3g}"
    return s if sd is None else f"{s} ± {sd:.2g}"


def t12(out: dict, kind: str) -> list[str]:
    lines = [
        "| data | r | bytes | plain E_w | lookup | best non-ideal (choice) | ideal | seeds ≤ 0.70 | T |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, d in out["datasets"].items():
        for r, b in d["budgets"].items():
            rows = b["results"][kind]
            p = rows["plain"]["ew"]
            seeds = ratio_seeds(rows, "best")
            ok = rows["best"]["ew"] <= 0.70 * p and (seeds <= 0.70).sum() >= 0.8 * len(seeds)
            target = "" if name == "D4" else ("met" if ok else "**not met**")
            lines.append(
                f"| {name} | {r} | {b['bytes']} | {fmt(p, rows['plain']['ew_sd'])} | {rows['lookup']['ew'] / p:.2f} | "
                f"{rows['best']['ew'] / p:.2f} ({rows['best']['choice']}) | {rows['ideal']['ew'] / p:.2f} | "
                f"{int((seeds <= 0.70).sum())}/{len(seeds)} | {target} |"
            )
    return lines


def t3(out: dict) -> list[str]:
    lines = header("kind", "r", "lookup E_w", "best learned/hybrid (choice)", "ratio to lookup", "ideal",
                   "ideal / lookup", "T3 (r ≤ 0.5)")
    d = out["datasets"].get("D2")
    if not d:
        return ["(D2 not run)"]
    for kind in KIND_NAMES:
        for r, b in d["budgets"].items():
            rows = b["results"][kind]
            lk, bl, idl = rows["lookup"]["ew"], rows["best-learned"]["ew"], rows["ideal"]["ew"]
            verdict = ("met" if bl <= lk else "**not met**") if float(r) <= 0.5 else ""
            choice = rows["best-learned"]["choice"]
            lines.append(row(KIND_NAMES[kind], r, fmt(lk), f"{fmt(bl)} ({choice})", f"{bl / lk:.2f}", fmt(idl),
                             f"{idl / lk:.2f}", verdict))
    return lines


def t4(out: dict) -> list[str]:
    lines = header("data", "kind", "r", "random, tuned / plain", "chosen share", "valid log-gain (needed)",
                   "random, forced 0.3 / plain", "T4")
    for name, d in out["datasets"].items():
        for kind in KIND_NAMES:
            for r, b in d["budgets"].items():
                rows = b["results"][kind]
                p = rows["plain"]["ew"]
                q = rows["random"]["ew"] / p
                forced = rows["random-forced-0.3"]["ew"] / p
                check = rows["random"]["cfg"].get("check", {})
                gain = f"{check['log_gain']:+.2f} ({check['needed']:.2f})" if "log_gain" in check else "–"
                lines.append(row(name, KIND_NAMES[kind], r, f"{q:.3f}", rows["random"]["cfg"]["heavy_fraction"],
                                 gain, f"{forced:.2f}", "met" if q <= 1.05 else "**not met**"))
    return lines


NOT_ORACLES = ("plain", "best", "best-learned", "random-forced-0.3", "ideal")


def oracle_table(out: dict) -> list[str]:
    """Every oracle tuned on validation: test E_w / plain and the chosen heavy share."""
    names: list[str] = []
    for d in out["datasets"].values():
        for b in d["budgets"].values():
            names += [o for o in b["results"]["countmin"] if o not in NOT_ORACLES and o not in names]
    lines = header("data", "kind", "r", "plain E_w", *names)
    for name, d in out["datasets"].items():
        for kind in KIND_NAMES:
            for r, b in d["budgets"].items():
                rows = b["results"][kind]
                p = rows["plain"]["ew"]
                cells = [f"{rows[o]['ew'] / p:.2f} ({rows[o]['cfg']['heavy_fraction']:g})" if o in rows else "–"
                         for o in names]
                lines.append(row(name, KIND_NAMES[kind], r, fmt(p), *cells))
    return lines


def t5(out: dict) -> list[str]:
    lines = header("data", "r", "CS E_u", "CS++ E_u (ratio)", "CS E_w", "CS++ E_w (ratio)", "C", "learned CS++ E_u",
                   "learned CS E_u", "T5")
    for name, d in out["datasets"].items():
        for r, b in d["budgets"].items():
            c = b["results"]["cspp"]
            cs, pp, lpp = c["cs-plain-d3"], c["cspp"], c["learned-cspp"]
            lcs = b["results"]["countsketch"]["best"]["eu"]
            ratio = pp["eu"] / cs["eu"]
            need = 0.5 if float(r) <= 0.2 else 0.8 if float(r) == 0.5 else None
            verdict = "" if need is None or name not in ("D2", "D3") else (
                "met" if ratio <= need and lpp["eu"] <= lcs else "**not met**")
            lines.append(
                f"| {name} | {r} | {fmt(cs['eu'])} | {fmt(pp['eu'])} ({ratio:.2f}) | {fmt(cs['ew'])} | {fmt(pp['ew'])} "
                f"({pp['ew'] / cs['ew']:.1f}) | {c['c']:g} | {fmt(lpp['eu'])} | {fmt(lcs)} | {verdict} |"
            )
    return lines


def t6(out: dict) -> list[str]:
    d = out["datasets"].get("D4")
    if not d:
        return ["(D4 not run)"]
    lines = header("kind", "r", "plain E_w", "best non-ideal / plain (choice)", "T6")
    for kind in KIND_NAMES:
        for r, b in d["budgets"].items():
            rows = b["results"][kind]
            q = rows["best"]["ew"] / rows["plain"]["ew"]
            lines.append(row(KIND_NAMES[kind], r, fmt(rows["plain"]["ew"]), f"{q:.3f} ({rows['best']['choice']})",
                             "met" if q <= 1.05 else "**not met**"))
    return lines


def metrics_table(out: dict) -> list[str]:
    lines = header("data", "kind", "r", "oracle", "E_w (Hsu)", "E_u", "E_w (Aamand)", "HH precision", "HH recall",
                   "coverage", "bytes")
    for name, d in out["datasets"].items():
        for kind in KIND_NAMES:
            for r, b in d["budgets"].items():
                for o in ("plain", "lookup", "best-learned", "ideal"):
                    v = b["results"][kind][o]
                    label = o if o != "best-learned" else f"learned ({v['choice']})"
                    lines.append(row(name, KIND_NAMES[kind], r, label, fmt(v["ew"]), fmt(v["eu"]), fmt(v["ewa"]),
                                     f"{v['prec']:.2f}", f"{v['rec']:.2f}", f"{v['cov']:.2f}", f"{v['bytes']:.0f}"))
    return lines


def plots(out: dict, folder: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(out["datasets"])
    fig, axes = plt.subplots(2, len(names), figsize=(4 * len(names), 7), squeeze=False)
    for j, name in enumerate(names):
        d = out["datasets"][name]
        rs = [float(r) for r in d["budgets"]]
        for i, kind in enumerate(KIND_NAMES):
            ax = axes[i][j]
            for o, style in (("plain", "k-o"), ("lookup", "b-s"), ("best-learned", "g-^"), ("random", "r:x"),
                             ("ideal", "m--d")):
                ys = [b["results"][kind][o]["ew"] for b in d["budgets"].values()]
                ax.plot(rs, ys, style, label=o)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{name} {KIND_NAMES[kind]}")
            ax.set_xlabel("counters per distinct test key")
            if j == 0:
                ax.set_ylabel("E_w (Hsu), mean of seeds")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    p1 = folder / "learned_ew.png"
    fig.savefig(p1, dpi=90)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name in names:
        d = out["datasets"][name]
        rs = [float(r) for r in d["budgets"]]
        cs = [b["results"]["cspp"] for b in d["budgets"].values()]
        eu = [c["cspp"]["eu"] / c["cs-plain-d3"]["eu"] for c in cs]
        ew = [c["cspp"]["ew"] / c["cs-plain-d3"]["ew"] for c in cs]
        axes[0].plot(rs, eu, "-o", label=name)
        axes[1].plot(rs, ew, "-o", label=name)
    for ax, title in zip(axes, ("E_u: CS++ / CS", "E_w (Hsu): CS++ / CS")):
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("counters per distinct test key")
    axes[0].legend()
    fig.tight_layout()
    p2 = folder / "learned_cspp.png"
    fig.savefig(p2, dpi=90)
    plt.close(fig)
    return [p1.name, p2.name]


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/benchmarks/learned.json")
    out = json.loads(src.read_text())
    pngs = plots(out, Path("docs"))
    sizes = "; ".join(f"{n}: {d['n_test']} distinct test keys, {d['tokens']} test occurrences, {d['seconds']:.0f} s"
                      for n, d in out["datasets"].items())
    tables = {"T1": t12(out, "countmin"), "T2": t12(out, "countsketch"), "T3": t3(out), "T4": t4(out), "T5": t5(out),
              "T6": t6(out)}
    summary = []
    for key, lines in tables.items():
        met = sum(line.endswith("| met |") for line in lines)
        missed = [line for line in lines if line.endswith("| **not met** |")]
        summary.append(f"- {key}: met in {met} of {met + len(missed)} rows"
                       + ("" if not missed else "; not met: " + "; ".join(
                           " ".join(c.strip() for c in m.strip("|").split("|")[:3]) for m in missed)))
    has_gbm = any("gbm" in b["results"]["countmin"] for d in out["datasets"].values() for b in d["budgets"].values())
    t7 = "met" if out["total_seconds"] < 600 else "**not met**"
    summary.append(f"- T7: whole run {out['total_seconds']:.0f} s on this machine (target < 600 s): {t7}")
    text = [
        "# Learned sketches (issue #5): benchmark",
        "",
        "Acceptance summary (computed from the tables below):",
        "",
        *summary,
        "",
        f"Command: `{out['command']}` (then `python benchmarks/learned_report.py`). Machine: {out['machine']}; "
        f"whole run {out['total_seconds']:.0f} s{load_text(out)}. {sizes}.",
        "",
        PROTOCOL.format(gbm=GBM_TEXT if has_gbm else ""),
        "",
        NOTES,
        "",
        "## T1: learned Count-Min vs plain Count-Min (E_w ratio, mean of seeds; target ≤ 0.70 on D1–D3)",
        "", *t12(out, "countmin"), "",
        "## T2: learned CountSketch vs plain CountSketch",
        "", *t12(out, "countsketch"), "",
        "## T3: D2, learned or hybrid oracle vs lookup, and the gap to ideal",
        "", *t3(out), "",
        "## T4: random oracle (control)",
        "", *t4(out), "",
        "## T5: CountSketch++ vs CountSketch (depth 3) at equal memory",
        "", *t5(out), "",
        "## T6: D4 (low skew), best non-ideal learned vs plain",
        "", *t6(out), "",
        "## Every oracle: test E_w / plain E_w (chosen heavy share α; 0 = fell back to plain)",
        "", *oracle_table(out), "",
        "## All metrics (means over seeds)",
        "", *metrics_table(out), "",
        "Plots: " + ", ".join(f"`docs/{p}`" for p in pngs) + ".",
        "",
    ]
    Path("docs/benchmarks/learned.md").write_text("\n".join(text))
    print("wrote docs/benchmarks/learned.md and", ", ".join(pngs), file=sys.stderr)


def load_text(out: dict) -> str:
    if "load_start" not in out:
        return ""
    a, b = out["load_start"], out["load_end"]
    return (f", started {out['started']}; load average (1, 5, 15 min) {a[0]:.1f}, {a[1]:.1f}, {a[2]:.1f} at the "
            f"start and {b[0]:.1f}, {b[1]:.1f}, {b[2]:.1f} at the end")


NOTES = """Notes.
- Timings come from a 2-core machine shared with other jobs (load average above: above 2 means
  the run waited for a core): they are upper bounds. D3 tokenises the standard library once
  (about 60 s) and caches it.
- Memory is charged honestly for what this implementation stores: 12 B per exact slot (Hsu et
  al. charged 8 B: a 4-byte id and a 4-byte count) and 12 B per lookup entry.
- Models of the item's spelling beat the lookup only on D3 at r = 1.0 (`gbm-coverage`: CS 0.12×
  vs 0.14×, CM 0.15× vs 0.16× plain); what beats the lookup on the drifting D2 stream is the
  `history-model`, a learned forecast from each item's per-year counts: a model of the item's
  history, not of its spelling. Of the linear spelling models the coverage-objective one is the
  better (D3: 0.13–0.58× plain); on D2 it ranges from 0.47× (CS r = 1.0) to 1.37× plain (CM
  r = 0.2: a validation gain that did not carry over to the drifting test period). Runs before
  2026-11-26 10:34 UTC fit it on corrupted features (`fold` compacted its input in place), so
  their coverage-model figures were too pessimistic; the other oracles' figures did not change.
- Boosted trees (≈ 4.5 KB): with the MSE objective (`gbm`) better than the MSE linear model of
  about the same size on D3 at every budget (CM r = 0.2: 0.52× vs 1.00× plain); with the
  coverage objective (`gbm-coverage`) 0.12–0.47× plain on D3, better than the coverage linear
  model in 4 of the 8 D3 rows (CM r = 0.1: 0.47× vs 0.58×), equal in 1, worse in 3. On D2
  neither beats the lookup or the history-model, nor the linear coverage model where that one
  beats plain: `gbm` falls back to plain except at CS r = 1.0 (0.77×), `gbm-coverage` gives
  0.63–1.00× (lookup 0.22–0.67×, history-model 0.18–0.52×). `hybrid-gbm-1` is close to
  `hybrid-1` (within 0.06×, mostly 0.02×). So on D2 (T3) the trees do not beat the lookup; T3
  is met by the history-model.
- The tuner's fallback: before this run a fixed 5 % margin on the grid minimum let hash noise
  give the random oracle α = 0.1 on D3 CS r = 0.2 (1.09× plain on test; the grid's α = 0.1 point
  was 8 % below plain on seeds 100–104, 2 % above it on 30 seeds). Re-measuring both finalists on
  fresh seeds and requiring the gain to clear two standard errors removes that; the T4 table
  shows each random row's validation log-gain and the gain it needed.
- CountSketch++ trades frequency-weighted error for unweighted error: it zeroes light items
  (E_u falls) but also zeroes some mid-heavy ones (E_w rises 3–6× on D1–D3), as the pilot found.
  Validation picked C at or near the low edge of the extended grid (0.5 or 1; the authors use 5–11).
- No neural oracle was built (the `[torch]` flag of the issue is not implemented); the second
  model of the item is the boosted-tree `gbm`."""


PROTOCOL = """Protocol (research notes §C): budget = 4·r·n_test bytes for r counters per distinct test
key; 4 B per sketch counter, 12 B per exact slot (8-byte item hash + 4-byte count), oracles
charged their size (12 B per lookup entry, 4 B per model weight). Oracles: `lookup` (train
counts), `history-model` (a lookup whose scores are a ridge forecast of the next period's
log-count from each item's per-period history; D1, D2), `model-mse-10` / `model-coverage-11`
(linear models on hashed byte 1–3-grams of the item, 2^10 / 2^11 weights, log-count MSE /
coverage objective), `hybrid-1` (top lookup entries + the MSE model, offset 1), `random`
(control).{gbm}

Each oracle is fit on the train period; depth (CM 1–4, CS 1 or 3: the core CountSketch takes
odd depths), heavy share α ∈ {{0, .1, .2, .3, .5, .7, .9}} and threshold are tuned on the
validation period (budget scaled to the validation's distinct keys; a grid point's error =
median over hash seeds 100–104). The best plain point (α = 0) and the best point with exact
counters are then re-run on fresh seeds 105–109 (the grid minimum is biased low), and exact
counters are chosen only if their mean log-error gain g over plain there satisfies
g ≥ −ln(0.95) + 2·se (se: standard error of g from the spread over seeds). The oracle is refit
on train+gap and run on test with 5 hash seeds (0–4). "best non-ideal" is the oracle with the
least validation error (on the fresh seeds); "ideal" is the true test counts, tuned on test with
one seed and no margin (a reference). Streams are fed as count vectors in first-occurrence order
(the same state as streaming the occurrences, see tests). E_w = Σ f·|f̂−f| / Σ f (Hsu et al.);
E_u = mean |f̂−f|; E_w(Aamand) = mean f·|f̂−f|; heavy hitters at φ = 10⁻³; coverage = test mass
on exact counters. CS++: S = budget/4 counters, 3 rows, C ∈ {{.5, 1, 2, 3, 5, 8, 11}} tuned on
validation E_u; learned CS++ gives ⌈log₂ n⌉ exact slots to the refit lookup's top items."""

GBM_TEXT = """ `gbm` / `gbm-coverage`: boosted trees (scikit-learn's histogram gradient boosting,
30 trees of ≤ 8 leaves, ≈ 4.5 KB; log-count MSE / the coverage objective as for the linear
models) on dense features of the item's spelling: byte 1–3-gram counts hashed into 64 columns
plus 8 character-class counts; `hybrid-gbm-1`: top lookup entries + the MSE trees, offset 1."""


if __name__ == "__main__":
    main()
