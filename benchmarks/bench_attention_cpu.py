"""CPU speed of ``hyper_attention`` against ``torch.nn.functional.scaled_dot_product_attention`` (same run).

fp32, batch 1, ``--heads`` heads, d = 64, the same inputs as ``bench_attention_scaling.py`` (clustered keys),
``torch.set_num_threads(--threads)`` for both contenders (SDPA picks torch's fused flash CPU kernel for these
inputs). Items: non-causal forward, causal forward, causal forward+backward (``(out * g).sum().backward()``),
at each ``--n``. Times: process CPU seconds (``time.process_time``) and wall seconds, best of ``--repeats``;
the ratio is SDPA / hyper on CPU seconds (with one thread a shared machine's load moves wall time, not the CPU
time of the work). Goals of issue #19 at 32k and 65k: >= 3x non-causal, >= 2x causal forward, >= 1.5x causal
forward+backward. Standalone: ``.venv/bin/python benchmarks/bench_attention_cpu.py --n 32768``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import run_meta  # noqa: E402
from bench_attention_scaling import inputs  # noqa: E402

from sketchkit.attention import hyper_attention  # noqa: E402

F = torch.nn.functional


def timed(fn, repeats):
    best = None
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        run = (time.process_time() - c0, time.perf_counter() - w0)
        best = run if best is None or run[0] < best[0] else best
    return best


def items(q, k, v, seed):
    g = torch.randn(q.shape, generator=torch.Generator().manual_seed(1))

    def fwd_bwd(fn):
        def run():
            a, b, c = (t.detach().requires_grad_() for t in (q, k, v))
            (fn(a, b, c) * g).sum().backward()
        return run

    hyper = lambda a, b, c, causal: hyper_attention(a, b, c, causal=causal, rng=seed)  # noqa: E731
    sdpa = lambda a, b, c, causal: F.scaled_dot_product_attention(a, b, c, is_causal=causal)  # noqa: E731
    out = {}
    for name, causal in (("noncausal_fwd", False), ("causal_fwd", True)):
        out[name] = {
            "sdpa": lambda causal=causal: torch.no_grad()(sdpa)(q, k, v, causal),
            "hyper": lambda causal=causal: torch.no_grad()(hyper)(q, k, v, causal),
        }
    out["causal_fwd_bwd"] = {
        "sdpa": fwd_bwd(lambda a, b, c: sdpa(a, b, c, True)),
        "hyper": fwd_bwd(lambda a, b, c: hyper(a, b, c, True)),
    }
    return out


GOALS = {"noncausal_fwd": 3.0, "causal_fwd": 2.0, "causal_fwd_bwd": 1.5}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[32768, 65536])
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--items", nargs="+", default=list(GOALS))
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()
    rows = []
    for n in args.n:
        q, k, v = inputs(n, args.heads, 64)
        for name, fns in items(q, k, v, 0).items():
            if name not in args.items:
                continue
            fns["hyper"]()  # warm-up (first-call allocations)
            res = {who: timed(fn, args.repeats) for who, fn in fns.items()}
            row = {"n": n, "item": name,
                   "sdpa_cpu_s": round(res["sdpa"][0], 3), "hyper_cpu_s": round(res["hyper"][0], 3),
                   "sdpa_wall_s": round(res["sdpa"][1], 3), "hyper_wall_s": round(res["hyper"][1], 3),
                   "speedup_cpu": round(res["sdpa"][0] / res["hyper"][0], 2),
                   "speedup_wall": round(res["sdpa"][1] / res["hyper"][1], 2), "goal": GOALS[name],
                   "load": round(os.getloadavg()[0], 2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    meta = run_meta(load0, threads=args.threads, torch=torch.__version__)
    print(json.dumps(meta))
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
