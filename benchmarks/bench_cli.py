"""Benchmark of ``sketchkit topk`` against the tools people reach for (issue #3).

Input: the Python standard library's sources, its lines shuffled anew for each whole copy,
repeated up to each target size (so the exact counts are the library's counts times the
number of copies). Contenders, in the same run, on the same file:

* ``sketchkit topk FILE -k 20 --json -q`` (SpaceSaving, 1 MiB);
* ``LC_ALL=C tr -cs 'A-Za-z0-9_' '\\n' < FILE | sort | uniq -c | sort -rn | head -20``;
* a ``collections.Counter`` one-liner (``re.findall(r"\\w+", line)`` per line).

Reported: wall seconds (median of the repetitions), MB/s, peak RSS (``/usr/bin/time -v``; for
the shell pipeline the largest process of it), and whether the top 20 equal the exact top 20.
Writes docs/benchmarks/cli.md. Data goes to a git-ignored folder (default bench-data/).

    python benchmarks/bench_cli.py --sizes-mb 256,1024,4096 --reps 3 --baseline-max-mb 1024
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections import Counter

import numpy as np

from sketchkit._cli.demo import source_files

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORD = re.compile(r"\w+")

COUNTER_ONE_LINER = (
    "import re,sys,collections; c=collections.Counter(); "
    "[c.update(re.findall(r'\\w+', l)) for l in open(sys.argv[1], errors='replace')]; "
    "print('\\n'.join(f'{n}\\t{w}' for w, n in c.most_common(20)))"
)
SORT_PIPELINE = "LC_ALL=C tr -cs 'A-Za-z0-9_' '\\n' < {f} | LC_ALL=C sort | LC_ALL=C uniq -c | sort -rn | head -20"


def corpus() -> tuple[list[bytes], Counter]:
    lines: list[bytes] = []
    for path in source_files():
        with open(path, "rb") as f:
            lines += f.read().splitlines()
    exact = Counter(WORD.findall(b"\n".join(lines).decode("utf-8", "replace")))
    return lines, exact


def make_file(path: str, lines: list[bytes], copies: int, seed: int = 0) -> None:
    """``copies`` whole copies of the corpus, each with its lines in a new random order."""
    if os.path.exists(path):
        return
    rng = np.random.default_rng(seed)
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        for _ in range(copies):
            order = rng.permutation(len(lines))
            f.write(b"\n".join(lines[i] for i in order) + b"\n")
    os.replace(tmp, path)


def timed(cmd: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (user + system, all processes of the command), peak RSS in KiB
    (GNU time: the largest single process), stdout."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {proc.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    cpu = sum(float(re.search(rf"{kind} time \(seconds\): ([0-9.]+)", proc.stderr).group(1))
              for kind in ("User", "System"))
    return wall, cpu, rss, proc.stdout


def parse_sketchkit(out: str) -> list[tuple[str, int]]:
    rows = [json.loads(line) for line in out.splitlines()]
    return [(r["item"], r["estimate"]) for r in rows if r.get("type") == "item"]


def parse_counts(out: str, first_count: bool = True) -> list[tuple[str, int]]:
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            n, w = parts
            rows.append((w, int(n)))
    return rows


def contenders(path: str) -> dict[str, tuple[list[str], str]]:
    py = sys.executable
    return {
        "sketchkit topk": ([py, "-m", "sketchkit.cli", "topk", path, "-k", "20", "--json", "-q"], "sketchkit"),
        "tr|sort|uniq -c|sort -rn": (["bash", "-c", SORT_PIPELINE.format(f=shlex.quote(path))], "counts"),
        "Counter one-liner": ([py, "-c", COUNTER_ONE_LINER, path], "counts"),
    }


def compare(rows: list[tuple[str, int]], exact_top: list[tuple[str, int]]) -> str:
    items = [r[0] for r in rows]
    want = [w for w, _ in exact_top]
    if items != want:
        missing = len(set(want) - set(items))
        return f"no ({missing} of 20 differ)"
    err = max(abs(n - dict(exact_top)[w]) for w, n in rows)
    return "yes" if err == 0 else f"yes (counts off by <= {err})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.path.join(ROOT, "bench-data"))
    ap.add_argument("--sizes-mb", default="256,1024,4096")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--baseline-max-mb", type=int, default=1024, help="run the slow baselines up to this size")
    ap.add_argument("--baseline-reps-max-mb", type=int, default=256,
                    help="every tool gets --reps runs up to this size, one run above it (the big runs are slow)")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks", "cli.md"))
    args = ap.parse_args()
    os.makedirs(args.data_dir, exist_ok=True)
    load_start = os.getloadavg()
    lines, exact = corpus()
    corpus_bytes = sum(len(x) + 1 for x in lines)
    results = []
    for size_mb in (int(s) for s in args.sizes_mb.split(",")):
        copies = max(1, round(size_mb * 1e6 / corpus_bytes))
        path = os.path.join(args.data_dir, f"stdlib_tokens_{copies}x.txt")
        make_file(path, lines, copies)
        nbytes = os.path.getsize(path)
        exact_top = [(w, n * copies) for w, n in exact.most_common(20)]
        for name, (cmd, kind) in contenders(path).items():
            is_baseline = name != "sketchkit topk"
            if is_baseline and size_mb > args.baseline_max_mb:
                continue
            reps = 1 if size_mb > args.baseline_reps_max_mb else args.reps
            walls, cpus, rsss = [], [], []
            for _ in range(reps):
                wall, cpu, rss, out = timed(cmd)
                walls.append(wall)
                cpus.append(cpu)
                rsss.append(rss)
            rows = parse_sketchkit(out) if kind == "sketchkit" else parse_counts(out)
            rec = {
                "size_mb": nbytes / 1e6, "tool": name, "reps": reps, "median_s": statistics.median(walls),
                "all_s": walls, "cpu_s": statistics.median(cpus), "all_cpu_s": cpus,
                "peak_rss_mib": max(rsss) / 1024, "top20": compare(rows, exact_top),
            }
            rec["mb_s"] = rec["size_mb"] / rec["median_s"]
            results.append(rec)
            print(json.dumps(rec), flush=True)
    write_report(args, results, load_start, os.getloadavg())


def write_report(args: argparse.Namespace, results: list[dict], load_start: tuple, load_end: tuple) -> None:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    sk = {r["size_mb"]: r for r in results if r["tool"] == "sketchkit topk"}
    out = [
        "# `sketchkit topk` against sort | uniq -c and a Counter one-liner",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}, a machine shared with other engineers (load average "
        f"{load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end): absolute times are noisy, the "
        "ratios come from runs made one after the other on the same file. CPU seconds (user + system, "
        "summed over every process of the command) are less sensitive to the other load than wall time.",
        "",
        "Command: `" + " ".join(["python", "benchmarks/bench_cli.py", "--sizes-mb", args.sizes_mb, "--reps",
                                 str(args.reps), "--baseline-max-mb", str(args.baseline_max_mb),
                                 "--baseline-reps-max-mb", str(args.baseline_reps_max_mb)]) + "`",
        "",
        "Input: the standard library's `*.py` sources, lines shuffled anew for each whole copy, repeated to the "
        "size; exact top 20 = the library's counts times the number of copies.",
        "",
        "| input | tool | runs | median wall s | MB/s | median CPU s | peak RSS MiB | sketchkit faster by "
        "(wall / CPU) | top 20 = exact |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        base = sk.get(r["size_mb"])
        if r["tool"] == "sketchkit topk" or base is None:
            ratio = "-"
        else:
            ratio = f"{r['median_s'] / base['median_s']:.1f}x / {r['cpu_s'] / base['cpu_s']:.1f}x"
        tool = r["tool"].replace("|", "\\|")  # a pipe would end the table cell
        out.append(
            f"| {r['size_mb'] / 1000:.2f} GB | {tool} | {r['reps']} | {r['median_s']:.1f} | {r['mb_s']:.1f} | "
            f"{r['cpu_s']:.1f} | {r['peak_rss_mib']:.0f} | {ratio} | {r['top20']} |"
        )
    out += [
        "",
        "Contenders: `sketchkit topk FILE -k 20 --json -q` (SpaceSaving, `--memory 1MiB`); "
        f"`{SORT_PIPELINE.format(f='FILE')}` (peak RSS: its largest process); "
        f"`python -c \"{COUNTER_ONE_LINER}\" FILE`.",
        "The tr pipeline splits words on ASCII only (`\\w` also takes non-ASCII letters), so its counts may "
        "differ slightly from the other two; all three agree on which words are the top 20 where marked.",
        "",
    ]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
