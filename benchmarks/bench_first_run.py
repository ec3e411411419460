"""A newcomer's first minute, against the targets of issue #13 (each in a fresh process):

* ``import sketchkit``, ``sketchkit --help`` and ``sketchkit --version``: <= 0.3 s wall each, and
  numba not imported by any of them (checked with ``python -X importtime``);
* the first ``sketchkit topk FILE -k 10`` of a 1 MB text file after a fresh install (an empty
  numba cache: a new ``NUMBA_CACHE_DIR``): <= 3 s wall; the second run: <= 0.5 s; the other
  ``--kind`` values too (they still compile numba kernels on a first run, and say so);
* ``sketchkit demo``: its wall time, and the speed ratio it prints (sketch vs exact dict);
* with ``--make-demo``: ``make demo`` in a fresh clone with pip's cache off (<= 90 s), and
  that it leaves ``git status`` clean.

The 1 MB file is the first 1,000,000 bytes of the standard library's ``*.py`` files in sorted
order (the demo's input). Times are the median of ``--reps`` runs (a first run is once per
fresh cache directory, so each rep gets its own). Prints a Markdown table; ``--json PATH``
writes the numbers.

    python benchmarks/bench_first_run.py [--reps 5] [--make-demo] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _machine import cpu_model  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TARGETS = {"import": 0.3, "help": 0.3, "version": 0.3, "first_topk": 3.0, "second_topk": 0.5, "make_demo": 90.0}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def sketchkit_cmd() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "sketchkit")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-c", "import sys; from sketchkit.cli import main; sys.exit(main())"]


def timed(cmd: list[str], env: dict | None = None, cwd: str | None = None) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, done


def one_mb_file(folder: str) -> str:
    sys.path.insert(0, os.path.join(REPO, "src"))
    from sketchkit._cli.demo import as_utf8, source_files

    out = bytearray()
    for path in source_files():
        with open(path, "rb") as f:
            data = as_utf8(f.read())
        if data:
            out += data
        if len(out) >= 1_000_000:
            break
    path = os.path.join(folder, "one_mb.txt")
    with open(path, "wb") as f:
        f.write(bytes(out[:1_000_000]))
    return path


def numba_imported(args: list[str]) -> bool:
    """Whether the command imports numba (``python -X importtime`` lists every module)."""
    code = "import sys; sys.argv = ['sketchkit'] + sys.argv[1:]; from sketchkit.cli import main; main()"
    cmd = [sys.executable, "-X", "importtime", "-c", code, *args] if args else [
        sys.executable, "-X", "importtime", "-c", "import sketchkit"]
    err = subprocess.run(cmd, capture_output=True, text=True).stderr
    return bool(re.search(r"\|\s+numba\s*$", err, re.M))


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def startup(reps: int) -> dict:
    res = {}
    cmds = {
        "import": [sys.executable, "-c", "import sketchkit"],
        "help": [*sketchkit_cmd(), "--help"],
        "version": [*sketchkit_cmd(), "--version"],
    }
    for name, cmd in cmds.items():
        timed(cmd)  # warm the file cache
        res[name] = median([timed(cmd)[0] for _ in range(reps)])
    res["numba_on_import"] = numba_imported([])
    res["numba_on_help"] = numba_imported(["--help"])
    return res


def topk_runs(path: str, reps: int, kinds: list[str]) -> dict:
    res = {}
    for kind in kinds:
        firsts, seconds, notices = [], [], 0
        for _ in range(reps if kind == "spacesaving" else 1):
            with tempfile.TemporaryDirectory() as cache:
                env = dict(os.environ, NUMBA_CACHE_DIR=cache)
                cmd = [*sketchkit_cmd(), "topk", path, "-k", "10", "--plain", "--kind", kind]
                w1, d1 = timed(cmd, env)
                w2, d2 = timed(cmd, env)
                firsts.append(w1)
                seconds.append(w2)
                notices += "compiling kernels" in d1.stderr
                if d1.stdout != d2.stdout:
                    raise RuntimeError("first and second run disagree")
        res[kind] = {"first": median(firsts), "second": median(seconds), "compile_notice": notices > 0}
    return res


def demo_run() -> dict:
    wall, done = timed([*sketchkit_cmd(), "demo", "--no-plot"])
    ratio = re.search(r"counts ([0-9.]+)x as fast as the dict", done.stdout)
    slower = re.search(r"counts at ([0-9.]+)x the dict's speed", done.stdout)
    rates = re.findall(r"count\s+([0-9.]+) s", done.stdout)
    return {"wall": wall, "speed_ratio": float((ratio or slower).group(1)) if (ratio or slower) else None,
            "sketch_s": float(rates[0]) if rates else None, "dict_s": float(rates[1]) if len(rates) > 1 else None}


def make_demo() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        clone = os.path.join(tmp, "clone")
        subprocess.run(["git", "clone", "-q", REPO, clone], check=True)
        env = dict(os.environ, PIP_NO_CACHE_DIR="1")
        env.pop("VIRTUAL_ENV", None)
        wall, done = timed(["make", "demo"], env, clone)
        status = subprocess.run(["git", "status", "--short"], cwd=clone, capture_output=True, text=True).stdout
        size = subprocess.run(["du", "-sh", os.path.join(clone, ".venv")], capture_output=True, text=True).stdout
        return {"wall": wall, "git_status_clean": status.strip() == "", "venv_size": size.split()[0] if size else "?"}


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "NOT met"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--kinds", default="spacesaving,countsketch,countmin,heavyhitters")
    ap.add_argument("--make-demo", action="store_true", help="also time `make demo` in a fresh clone (pip, minutes)")
    ap.add_argument("--json", metavar="PATH")
    a = ap.parse_args()

    info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "load_before": load()}
    with tempfile.TemporaryDirectory() as tmp:
        path = one_mb_file(tmp)
        res = {"startup": startup(a.reps), "topk": topk_runs(path, a.reps, a.kinds.split(","))}
    res["demo"] = demo_run()
    if a.make_demo:
        res["make_demo"] = make_demo()
    info["load_after"] = load()
    res["info"] = info

    s, t = res["startup"], res["topk"]
    print(f"{info['date']}, {info['cpu']} ({info['cpus']} CPUs), Python {info['python']}, "
          f"load average before {info['load_before']}, after {info['load_after']}; median of {a.reps}\n")
    print("| what | measured | target | verdict |")
    print("|---|---|---|---|")
    for name, label in (("import", "`import sketchkit`"), ("help", "`sketchkit --help`"),
                        ("version", "`sketchkit --version`")):
        print(f"| {label} | {s[name]:.2f} s | ≤ {TARGETS[name]} s | {verdict(s[name], TARGETS[name])} |")
    print(f"| numba imported by `import sketchkit` / `--help` | {s['numba_on_import']} / {s['numba_on_help']} "
          f"| False / False | {'met' if not (s['numba_on_import'] or s['numba_on_help']) else 'NOT met'} |")
    for kind, r in t.items():
        note = " (prints the compile notice)" if r["compile_notice"] else ""
        print(f"| first `topk` 1 MB, `--kind {kind}`, empty cache{note} | {r['first']:.2f} s | ≤ 3.0 s "
              f"| {verdict(r['first'], 3.0)} |")
        print(f"| second `topk` 1 MB, `--kind {kind}` | {r['second']:.2f} s | ≤ 0.5 s | {verdict(r['second'], 0.5)} |")
    d = res["demo"]
    ratio = f"{d['speed_ratio']:.2f}x" if d["speed_ratio"] is not None else "?"
    print(f"| `sketchkit demo --no-plot` (warm) | {d['wall']:.1f} s; sketch counts at {ratio} the dict's speed "
          f"({d['sketch_s']} vs {d['dict_s']} s) | ≥ 1.0x | "
          f"{'met' if d['speed_ratio'] and d['speed_ratio'] >= 1 else 'NOT met'} |")
    if "make_demo" in res:
        m = res["make_demo"]
        print(f"| `make demo`, fresh clone, no pip cache | {m['wall']:.0f} s (.venv {m['venv_size']}) | ≤ 90 s "
              f"| {verdict(m['wall'], 90)} |")
        print(f"| `git status` after `make demo` | {'clean' if m['git_status_clean'] else 'NOT clean'} | clean "
              f"| {'met' if m['git_status_clean'] else 'NOT met'} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    if shutil.which("git") is None:
        print("note: git not found; --make-demo needs it", file=sys.stderr)
    main()
