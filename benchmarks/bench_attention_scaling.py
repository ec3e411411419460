"""Scaling of ``hyper_attention`` on the CPU: time and peak memory per stage from 8k to 131k tokens.

One non-causal forward per length (fp32, batch 1, ``--heads`` heads, d = 64, the defaults), random inputs with
clustered keys (queries and keys near 1,024 shared centres plus noise, so routing has structure to find). Stages
(``sketchkit.attention._hyper.STAGE_HOOK``): ``cluster`` (k-means tree over the keys), ``route`` (top-level scores
and the queries' sort, beam search, residual partition), ``exact`` (gathers + exact block attention), ``sample``
(proposal and draws), ``residual`` (sampled scores + merge), ``unsort``. Per stage: process CPU seconds
(``time.process_time``, all threads; with ``--threads 1`` it is the work done, less sensitive to other jobs on a
shared machine than wall time, which is also printed) and peak RSS above the RSS at the stage's start (``VmHWM``
reset through ``/proc/self/clear_refs`` before each stage, glibc's mmap threshold fixed at 128 KiB so freed tensors
leave RSS: the high-water mark of the process's resident memory, which counts torch's CPU allocations that
tracemalloc does not see). Exponent: ``time(2n) / time(n)`` per stage (2.0 is linear, 4.0 quadratic), best of
``--repeats`` runs per length.

Run: ``.venv/bin/python benchmarks/bench_attention_scaling.py`` (8k-131k, 3 repeats) or ``--quick`` (8k-32k,
1 repeat, for a shared 2-core machine). Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from _machine import run_meta

from sketchkit.attention import _hyper, hyper_attention

STAGES = ("cluster", "route", "exact", "sample", "residual", "unsort")


def _status() -> dict:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                key, val = line.split(":")
                out[key] = int(val.split()[0]) * 1024
    return out


class Recorder:
    def __init__(self):
        self.cpu, self.wall, self.peak = {}, {}, {}

    @contextmanager
    def __call__(self, name):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        rss0 = _status()["VmRSS"]
        c0, w0 = time.process_time(), time.perf_counter()
        yield
        self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - c0
        self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - w0
        self.peak[name] = max(self.peak.get(name, 0), _status()["VmHWM"] - rss0)


def inputs(n, heads, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(heads, 1024, d, generator=g)
    pick = lambda: torch.randint(0, 1024, (heads, n), generator=g)  # noqa: E731
    k = torch.stack([centres[h, pick()[h]] for h in range(heads)]) + 0.5 * torch.randn(heads, n, d, generator=g)
    q = torch.stack([centres[h, pick()[h]] for h in range(heads)]) + 0.5 * torch.randn(heads, n, d, generator=g)
    v = torch.randn(heads, n, d, generator=g)
    return q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0)


def measure(n, heads, d, repeats):
    q, k, v = inputs(n, heads, d)
    best = None
    for r in range(repeats):
        rec = Recorder()
        _hyper.STAGE_HOOK = rec
        try:
            with torch.no_grad():
                c0, w0 = time.process_time(), time.perf_counter()
                hyper_attention(q, k, v, rng=r)
                total_cpu, total_wall = time.process_time() - c0, time.perf_counter() - w0
        finally:
            _hyper.STAGE_HOOK = None
        run = {"n": n, "cpu": dict(rec.cpu, total=total_cpu), "wall": dict(rec.wall, total=total_wall),
               "peak_mib": {s: round(v / 2**20, 1) for s, v in rec.peak.items()}}
        if best is None or run["cpu"]["total"] < best["cpu"]["total"]:
            best = run
    best["peak_mib"]["max"] = max(best["peak_mib"].values())
    best["input_mib"] = round(3 * heads * n * d * 4 / 2**20, 1)
    return best


def main(argv=None):
    if argv is None and os.environ.get("MALLOC_MMAP_THRESHOLD_") != "131072":
        # glibc's adaptive mmap threshold keeps freed large blocks resident (the next stage's growth would not
        # show in RSS): a fixed threshold returns every large tensor's memory on free. Re-exec with it set.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"})
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[8192, 16384, 32768, 65536, 131072])
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="8k-32k, 1 repeat")
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.repeats = [8192, 16384, 32768], 1
    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()
    hyper_attention(*inputs(2048, 1, args.d), rng=0, min_seq_len=0)  # warm-up
    rows = []
    cols = (*STAGES, "total")
    print(f"{'n':>7} " + " ".join(f"{c:>16}" for c in cols) + "   (CPU s / peak MiB above stage start)")
    for n in args.n:
        row = measure(n, args.heads, args.d, args.repeats)
        rows.append(row)
        cells = [f"{row['cpu'].get(c, 0):7.3f}/{row['peak_mib'].get(c, row['peak_mib']['max']):7.1f}" for c in cols]
        print(f"{n:>7} " + " ".join(f"{c:>16}" for c in cells), flush=True)
    print("exponent time(2n)/time(n), CPU seconds:")
    for a, b in zip(rows, rows[1:]):
        if b["n"] == 2 * a["n"]:
            ratios = {c: round(b["cpu"][c] / a["cpu"][c], 2) for c in cols if a["cpu"].get(c, 0) > 0}
            b["exponent"] = ratios
            print(f"{a['n']:>7} -> {b['n']:>7}: " + "  ".join(f"{c} {r}" for c, r in ratios.items()))
    meta = run_meta(load0, threads=args.threads, torch=torch.__version__)
    print(json.dumps(meta))
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
