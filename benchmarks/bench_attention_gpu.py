"""GPU speed of ``sketchkit.attention.hyper_attention`` against ``scaled_dot_product_attention`` (one short run).

On one H100/H200 in bf16, batch 1 x 32 heads, head dim 64 and 128, contexts 16,384 .. 262,144: forward time of
SDPA forced to the FlashAttention-2 backend and to the cuDNN backend, and of hyper_attention at its defaults
(the settings of the quality gate), at its defaults with ``backend="triton"`` (the fused kernels for the sparse
parts; only with triton installed and a CUDA device) and at the published settings, causal and non-causal, plus causal
forward+backward at 131,072 tokens. Median of a few CUDA-event timings after one warm-up call, each item
skipped (and recorded as skipped) once the time budget (default 170 s) is spent. Writes a JSON file and a PNG
plot of speed-up over FlashAttention-2 against context length.

Run (GPU): ``.venv/bin/python benchmarks/bench_attention_gpu.py``
Logic check on CPU at tiny sizes: ``.venv/bin/python benchmarks/bench_attention_gpu.py --cpu-smoke``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from sketchkit.attention import PUBLISHED, hyper_attention, triton_available

ROOT = Path(__file__).resolve().parents[1]


def sdpa_backends():
    """{name: context manager factory} for the SDPA backends to compare (FA2 and cuDNN on CUDA; math on CPU)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    if torch.cuda.is_available():
        return {"fa2": lambda: sdpa_kernel(SDPBackend.FLASH_ATTENTION),
                "cudnn": lambda: sdpa_kernel(SDPBackend.CUDNN_ATTENTION)}
    return {"fa2": lambda: sdpa_kernel(SDPBackend.MATH), "cudnn": lambda: sdpa_kernel(SDPBackend.MATH)}


def timer(fn, reps: int) -> float:
    """Median milliseconds of ``fn()`` over ``reps`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(reps):
        if torch.cuda.is_available():
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            stop.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(stop))
        else:
            t = time.perf_counter()
            fn()
            times.append(1e3 * (time.perf_counter() - t))
    return statistics.median(times)


def make_inputs(n, d, heads, dtype, device, requires_grad=False):
    g = torch.Generator(device=device).manual_seed(n + d)
    return [torch.randn(1, heads, n, d, generator=g, device=device, dtype=dtype).requires_grad_(requires_grad)
            for _ in range(3)]


def plan(lengths, dims, fwd_bwd_length):
    """(kind, n, d, causal, method) items in order: short contexts first so a cut run still has a curve."""
    items = []
    for n in lengths:
        for d in dims:
            for causal in (True, False):
                for method in ("fa2", "cudnn", "hyper", "hyper_triton", "published"):
                    items.append(("fwd", n, d, causal, method))
    for d in dims:
        for method in ("fa2", "hyper", "hyper_triton"):
            items.append(("fwd+bwd", fwd_bwd_length, d, True, method))
    return items


def run(args):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    backends = sdpa_backends()
    hyper_params = {} if not args.cpu_smoke else {"min_seq_len": 64, "block_size": 32, "query_block": 32,
                                                  "sample_size": 32}
    published = dict(PUBLISHED) if not args.cpu_smoke else dict(PUBLISHED, min_seq_len=64, block_size=32,
                                                                sample_size=32)
    results, deadline = [], time.perf_counter() + args.budget_s
    for kind, n, d, causal, method in plan(args.lengths, args.dims, args.fwd_bwd_length):
        row = {"kind": kind, "n": n, "d": d, "causal": causal, "method": method}
        if time.perf_counter() > deadline:
            results.append({**row, "skipped": "time budget"})
            continue
        if method == "hyper_triton" and (device != "cuda" or not triton_available()):
            results.append({**row, "skipped": "needs triton and a CUDA device"})
            continue
        q, k, v = make_inputs(n, d, args.heads, dtype, device, requires_grad=(kind == "fwd+bwd"))
        if method in backends:
            ctx = backends[method]

            def call(q=q, k=k, v=v, ctx=ctx, causal=causal):
                with ctx():
                    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        else:
            params = published if method == "published" else hyper_params
            backend = "triton" if method == "hyper_triton" else "auto"

            def call(q=q, k=k, v=v, causal=causal, params=params, backend=backend):
                return hyper_attention(q, k, v, causal=causal, rng=0, backend=backend, **params)

        fn = call
        if kind == "fwd+bwd":
            grad = torch.randn_like(q)

            def fn(call=call, q=q, k=k, v=v, grad=grad):
                q.grad = k.grad = v.grad = None
                call().backward(grad)

        try:
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            with torch.no_grad() if kind == "fwd" else torch.enable_grad():
                row["ms"] = timer(fn, args.reps if n < 131072 else max(1, args.reps - 2))
            if device == "cuda":
                row["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:  # noqa: PERF203 - record and go on
            row["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        results.append(row)
        print(json.dumps(row), flush=True)
        del q, k, v
        if device == "cuda":
            torch.cuda.empty_cache()
    return results


def speedups(results):
    """{(kind, d, causal, method): [(n, fa2_ms / method_ms)]} for the methods timed beside FA2."""
    base = {(r["kind"], r["n"], r["d"], r["causal"]): r["ms"] for r in results if r["method"] == "fa2" and "ms" in r}
    out = {}
    for r in results:
        key = (r["kind"], r["n"], r["d"], r["causal"])
        if r["method"] != "fa2" and "ms" in r and key in base:
            out.setdefault((r["kind"], r["d"], r["causal"], r["method"]), []).append((r["n"], base[key] / r["ms"]))
    return out


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, causal in zip(axes, (True, False)):
        for (kind, d, c, method), pts in sorted(speedups(results).items()):
            if kind != "fwd" or c != causal:
                continue
            xs, ys = zip(*sorted(pts))
            style = {"hyper": "-o", "published": "--s", "cudnn": ":^"}[method]
            ax.plot(xs, ys, style, label=f"{method}, d={d}")
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("context length (tokens)")
        ax.set_title(("causal" if causal else "non-causal") + " forward")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("speed-up over SDPA FlashAttention-2")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[16384, 32768, 65536, 131072, 262144])
    ap.add_argument("--dims", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--fwd-bwd-length", type=int, default=131072)
    ap.add_argument("--budget-s", type=float, default=170.0)
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on CPU: checks the script's logic only")
    ap.add_argument("--json", default=str(ROOT / "docs" / "attention_gpu.json"))
    ap.add_argument("--png", default=str(ROOT / "docs" / "attention_gpu_speedup.png"))
    args = ap.parse_args(argv)
    if args.cpu_smoke:
        args.lengths, args.dims, args.heads, args.reps, args.fwd_bwd_length = [256, 512], [16, 32], 2, 1, 512
    elif not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --cpu-smoke to check the logic on CPU")
    t0 = time.perf_counter()
    results = run(args)
    meta = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "torch": torch.__version__,
            "device": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu",
            "dtype": "bfloat16" if torch.cuda.is_available() else "float32", "heads": args.heads,
            "seconds": round(time.perf_counter() - t0, 1)}
    speed = {f"{k[0]} d={k[1]} {'causal' if k[2] else 'non-causal'} {k[3]}": v for k, v in speedups(results).items()}
    Path(args.json).write_text(json.dumps({"meta": meta, "results": results, "speedup_vs_fa2": speed}, indent=1))
    plot(results, args.png)
    print(json.dumps(meta))
    for name, pts in speed.items():
        print(name, " ".join(f"{n}:{s:.2f}x" for n, s in pts))


if __name__ == "__main__":
    main()
