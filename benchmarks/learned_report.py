"""Tables T1–T6 and plots of the learned-sketch benchmark, from the JSON bench_learned.py writes.

Run: .venv/bin/python benchmarks/learned_report.py [docs/benchmarks/learned.json] [--previous OLD.json]
Writes docs/benchmarks/learned.md (tables) and docs/learned_ew.png, docs/learned_cspp.png. With
``--previous``, a section compares each T1/T2 row with that earlier run (what changed and why).
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
        "| data | r | budget B | held B: plain / best | plain E_w | lookup | best non-ideal (choice) | ideal "
        "| seeds ≤ 0.70 | T |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, d in out["datasets"].items():
        for r, b in d["budgets"].items():
            rows = b["results"][kind]
            p = rows["plain"]["ew"]
            seeds = ratio_seeds(rows, "best")
            ok = rows["best"]["ew"] <= 0.70 * p and (seeds <= 0.70).sum() >= 0.8 * len(seeds)
            target = "" if name == "D4" else ("met" if ok else "**not met**")
            held = f"{rows['plain']['bytes']:.0f} / {rows['best']['bytes']:.0f}"
            lines.append(
                f"| {name} | {r} | {b['bytes']} | {held} | {fmt(p, rows['plain']['ew_sd'])} | "
                f"{rows['lookup']['ew'] / p:.2f} | "
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


def memory_line(out: dict) -> str:
    """Whether every sketch of the run held at most its budget (nbytes after the test stream)."""
    n = over = 0
    for d in out["datasets"].values():
        for b in d["budgets"].values():
            for rows in b["results"].values():
                for v in rows.values():
                    if isinstance(v, dict) and "over" in v:
                        n += 1
                        over += v["over"] > 0
    verdict = "met" if over == 0 else "**not met**"
    return (f"- Memory: {n - over} of {n} configurations held at most their budget after the test stream "
            f"(`nbytes`, every array: exact table with its empty slots, counters, row keys, oracle): {verdict}")


def changes(out: dict, prev: dict) -> list[str]:
    """Each T1/T2 row against an earlier run: best non-ideal ratio, its choice, and the ideal's."""
    lines = header("data", "kind", "r", "before: best (choice, α, depth)", "now: best (choice, α, depth)",
                   "before: ideal", "now: ideal")
    for name, d in out["datasets"].items():
        if name not in prev["datasets"]:
            continue
        for kind in KIND_NAMES:
            for r, b in d["budgets"].items():
                if r not in prev["datasets"][name]["budgets"]:
                    continue
                cells = []
                for run in (prev["datasets"][name]["budgets"][r]["results"][kind], b["results"][kind]):
                    choice = run["best"]["choice"]
                    cfg = run[choice]["cfg"]
                    cells.append(f"{run['best']['ew'] / run['plain']['ew']:.2f} ({choice}, {cfg['heavy_fraction']:g}, "
                                 f"{cfg['depth']})")
                ideals = [f"{run['ideal']['ew'] / run['plain']['ew']:.2f}" for run in
                          (prev["datasets"][name]["budgets"][r]["results"][kind], b["results"][kind])]
                lines.append(row(name, KIND_NAMES[kind], r, *cells, *ideals))
    return lines


def charge_table(path: Path) -> list[str]:
    """learned_charge_check.py's rows: the lookup oracles' choices with the fixed and the old charge."""
    if not path.exists():
        return [f"({path} not found: run benchmarks/learned_charge_check.py)"]
    data = json.loads(path.read_text())
    rows = data["rows"]
    changed = [r for r in rows if (r["fixed"]["depth"], r["fixed"]["heavy_fraction"])
               != (r["old"]["depth"], r["old"]["heavy_fraction"])]
    lines = [f"`{data['command']}` ({data['seconds']:.0f} s, load average {data['load'][0]:.1f} at the end): "
             f"the choice changes in {len(changed)} of {len(rows)} tunings.", ""]
    lines += header("data", "kind", "r", "oracle", "old charge: α, depth → test / plain",
                    "fixed charge: α, depth → test / plain")
    for r in changed:
        o, f = r["old"], r["fixed"]
        lines.append(row(r["data"], KIND_NAMES[r["kind"]], r["r"], r["oracle"],
                         f"{o['heavy_fraction']:g}, {o['depth']} → {o['test_ratio']:.3f}",
                         f"{f['heavy_fraction']:g}, {f['depth']} → {f['test_ratio']:.3f}"))
    return lines


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--previous")]
    prev_path = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--previous=")), None)
    src = Path(args[0] if args else "docs/benchmarks/learned.json")
    out = json.loads(src.read_text())
    prev = json.loads(Path(prev_path).read_text()) if prev_path else None
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
    summary.append(memory_line(out))
    changed = [] if prev is None else [
        "## What changed: every ratio at equal real bytes (issue #12)", "", CHANGES, "",
        f"Before: `{prev['command']}` ({prev.get('started', '?')}); now: this run. "
        "Ratios are best non-ideal / plain E_w (mean of seeds); α = heavy share, depth as tuned.", "",
        *changes(out, prev), "",
        "### The tuner's oracle charge", "", CHARGE, "",
        *charge_table(src.parent / "learned_charge.json"), "", CHARGE_AFTER, ""]
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
        *changed,
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
  (about 60 s) and caches it. T7 is missed for load alone: a repeat at 08:36 UTC (load 4.5 → 9.7)
  took 681 s with the same errors in all 480 rows, and the 07:50 run (lookups held whole) at load
  3.2–5.2 took 389 s. A reduced configuration for a busy machine, `bench_learned.py
  --datasets D1,D2,D3 --seeds 3 --ratios 0.1,0.5 --tune-seeds 3`, ran in 173 s (2026-12-06
  08:21 UTC, load 5.4 → 3.7); its 12 T1/T2 ratios were within 0.03 of this run's except two D2
  CountSketch rows (0.54 vs 0.45 at r = 0.1; 0.23 vs 0.29 at r = 0.5, where it picked the
  history-model): three seeds instead of five. `benchmarks/learned_headline.py` reproduces one
  ratio alone in a fresh process (`--data D3 --kind countmin --r 0.1`: 0.235, as in T1).
- For speed the benchmark feeds integer ids and freezes each oracle's scores; a user's sketch
  holds the oracle (a lookup as its `KeySetOracle`) and hashes the strings.
  `benchmarks/learned_real_oracle_check.py` builds both for three configurations: the same bytes,
  and E_w within the hash noise of two seeds (D3 CM r = 0.1: 13.41, 13.43 in the benchmark vs
  13.08, 12.97 real; D3 CS r = 0.5: 0.896, 0.925 vs 1.000, 0.942; D2 CM r = 0.2: 17.25, 15.93 vs
  15.17, 14.87).
- Memory is what the process holds: an exact entry costs 16.25 B when the table is full (Hsu et
  al. charged 8 B: a 4-byte id and a 4-byte count, with no table overhead), and the lookup's
  entry for it 4 B more (a 32-bit fingerprint in the `KeySetOracle` the sketch holds), so one
  heavy item given an exact counter through a lookup costs about 20 B, five sketch counters.
- T1 is not met at D2 r = 0.2 by the table's rule (mean ≤ 0.70 and 4 of 5 seeds ≤ 0.70): the
  mean is 0.698×, but 1 of 5 seeds is at or below 0.70. Validation picked the lookup by a hair
  (validation E_w 13.44 vs 13.65 for the history-model, which gives 0.64× on test, 5 of 5 seeds).
- Models of the item's spelling never beat the lookup (closest: D3 CS r = 1.0, `gbm-coverage`
  0.11× vs the lookup's 0.10× plain); what beats the lookup on the drifting D2 stream is the
  `history-model`, a learned forecast from each item's per-year counts (T3: 0.71–0.91× the
  lookup's error): a model of the item's history, not of its spelling. Of the linear spelling
  models the coverage-objective one is the better (D3: 0.12–0.61× plain); on D2 it ranges from
  0.61× (CM r = 1.0) to 1.23× plain (CS r = 0.2: a validation gain that did not carry over to the
  drifting test period).
- Boosted trees (≈ 4.5 KB): with the MSE objective (`gbm`) as good as or better than the MSE
  linear model of about the same size in every D3 row (CM r = 0.2: 0.51× vs 1.00× plain); with the
  coverage objective (`gbm-coverage`) 0.11–0.49× plain on D3, better than the coverage linear
  model in 4 of the 8 D3 rows (CM r = 0.1: 0.49× vs 0.61×), equal in 1, worse in 3. On D2
  neither beats the lookup or the history-model: `gbm` falls back to plain or does slightly worse
  (1.05× at CS r ≥ 0.5), `gbm-coverage` gives 0.75–1.00×. `hybrid-gbm-1` is within 0.12× of
  `hybrid-1`.
- The tuner's fallback: a fixed 5 % margin on the grid minimum once let hash noise give the
  random oracle α = 0.1 (1.09× plain on test). Re-measuring both finalists on fresh seeds and
  requiring the gain to clear two standard errors removes that; the T4 table shows each random
  row's validation log-gain and the gain it needed.
- CountSketch++ trades frequency-weighted error for unweighted error: it zeroes light items
  (E_u falls) but also zeroes some mid-heavy ones (E_w rises 3–6× on D1–D3), as the pilot found.
  Its row keys (16 B per row of each of its ⌊log₂ S⌋ + 1 tables) are now counted in its memory.
  Validation picked C at or near the low edge of the extended grid (0.5 or 1; the authors use 5–11).
- No neural oracle was built (the `[torch]` flag of the issue is not implemented); the second
  model of the item is the boosted-tree `gbm`."""


CHANGES = """The figures published before 2026-12-06 (run of 2026-11-26) are **retracted**: they compared
sketches at unequal real memory. The learned sketches charged 12 B per exact slot, while the
exact table stored a uint64 key, an int64 count and two flag bytes per slot in a power-of-two
array at most half full (36–72 B per entry): a learned Count-Min "within a 19 KB budget" held
33.7 KB, and against a plain Count-Min of the bytes it really held it was worse (1.30×), not
0.61×. Now the exact table stores what the cost model says (8-byte hash, 4-byte count widened
to 8 bytes only past 2³¹ total weight, a flag byte; at most 0.8 full: 16.25 B per entry when
full), `from_memory` plans for the full table and for the wrapped sketch's row keys, the plain
sketch is built by the same `from_memory`, and every sketch's real `nbytes` after the test stream
is at most its budget (the "held B" columns of T1/T2, and the memory line of the summary).

A first run with these honest bytes (07:50 UTC, still holding the whole pruned lookup, 12 B an
entry) missed T1 at D1 r = 0.1: 0.73× plain, and even the ideal oracle only 0.72×, because a
heavy item behind a lookup cost 28 B (seven counters). A sketch needs nothing from a lookup
pruned for its threshold but membership, so it now holds the set of those entries as 32-bit
fingerprints (`KeySetOracle`, 4 B an entry; `TunedConfig.build` and the command line make it),
and D1 r = 0.1 went to 0.59×. Against the retracted figures, most ratios are now lower although
exact entries cost 35 % more than they were charged: D1 by 0.02–0.07, D3 by 0.01–0.03. Four D2
rows are higher: CM r = 0.2 0.52 → 0.70 (validation now picks the lookup over the history-model,
13.44 vs 13.65; the history-model gives 0.64× on test), CM r = 0.5 0.40 → 0.46, CS r = 0.1
0.43 → 0.45, CS r = 1.0 0.22 → 0.23. Some choices changed with the new costs and with the tuner
fix below."""

CHARGE = """The tuner validates at `scale` = n_valid / n_test of the budget. It charged a lookup
oracle `scale` × the size of the lookup pruned for the *validation* capacity, which is already
about `scale` × the lookup `build` uses on test: `scale²` in all, so lookups (and the
history-model, a lookup) looked cheaper during tuning than they are. It now charges `scale` × the
lookup pruned for the full budget's capacity, as `build` prunes it (test:
`tests/test_learned_tuner_data.py::test_tuner_charges_a_lookup_what_it_will_hold_scaled_once`).
Model and hybrid oracles were charged correctly and are unaffected. With the new memory model
held fixed, `benchmarks/learned_charge_check.py` tunes both lookup oracles with the old and the
fixed charge and runs each choice on test; the rows where the choice differs:"""

CHARGE_AFTER = """The fixed charge is what the sketch holds, but its choices are not better on test: of the
13 that change, 10 are worse (all but one on D2; D2 CM r = 0.2, lookup: α 0.2 → 0.1 and 0.58× →
0.70× plain, the row T1 now misses) and 3 better. On the drifting D2 stream the validation
period, at its scaled budget, rates exact counters lower than the test period rewards them, and
the old under-charge happened to offset that. The tuner keeps the true charge; choosing α for a
drifting stream better (validation closer in time to the test, or a bias towards exact
counters measured on past periods) is open."""

PROTOCOL = """Protocol (research notes §C): budget = 4·r·n_test bytes for r counters per distinct test
key. Every sketch is built within the budget by its own `from_memory` and the tables show the
bytes it really holds after the test stream (`nbytes`: every array it holds): 4 B per int32
counter plus 16 B of hash keys per row; the exact table at 13 B per slot (8-byte item hash,
4-byte count, 1 flag byte) with ⌈capacity/0.8⌉ slots when full, i.e. 16.25 B per exact entry,
planned full; the oracle's arrays (4 B per model weight, 10 B per tree node; a lookup is held as
the set of its entries that pass the sketch's threshold, `KeySetOracle`: 4 B per entry, 12 B per
entry for the lookup part of a hybrid). Plain and learned are therefore compared at equal real
memory. Oracles: `lookup` (train
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
