"""sketchkit.linalg against numpy / SciPy / scikit-learn, at pinned and equal thread counts, with verdicts.

Usage: .venv/bin/python benchmarks/bench_linalg.py [--quick] [--threads 1,2]
       [--sections dense,sparse,lowrank,ipm,learned] [--reps 3] [--json out.json]

For every thread count ``t`` of ``--threads`` every contender runs with ``t`` threads: BLAS/LAPACK and
OpenMP through ``threadpoolctl.threadpool_limits(t)``, numba through ``numba.set_num_threads(t)``
(sketchkit never picks its own count: ``sketchkit/linalg/_threads.py``). Baselines and sketchkit are
interleaved rep by rep in one process and each time is the median over ``--reps``: ratios are
meaningful on a shared machine even when absolute times are not. The 1-minute load average is
recorded before and after every section. ``--quick`` shrinks every problem for a shared 2-core box.

Goals (issue #17), each printed as a verdict line:
* dense tall least squares: ≥ 3x the faster of numpy ``lstsq`` (gelsd) and SciPy ``gelsy``, residual
  ≤ (1 + 1e-8) x LAPACK's, on three families (graded Gaussian, coherent, heavy-tailed rows);
* sparse: ≥ 3x the faster of SciPy LSQR and LSMR (same stopping test: backward error ≤ 1e-10), residual
  ≤ (1 + 1e-8) x the best of them, on tf-idf of real text (``benchmarks/linalg_data.py``), including
  rank-deficient (empty and duplicate columns);
* low rank: ≤ 1.0x scikit-learn ``randomized_svd`` time (both at their default ``n_iter="auto"``, same
  oversampling, no sign flip) at equal or lower error (distance to the optimum rank-k error), dense and CSR;
* IPM: sketch-preconditioned normal equations vs the plain Cholesky IPM (same code).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time

import numba
import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.sparse.linalg import lsmr, lsqr
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linalg_data as data  # noqa: E402

from sketchkit.linalg import linprog_ipm, lstsq, randomized_svd  # noqa: E402

VERDICTS: list[str] = []


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def verdict(goal: str, ok: bool, detail: str) -> None:
    line = f"[{'MET' if ok else 'NOT MET'}] {goal}: {detail}"
    VERDICTS.append(line)
    log(line)


def load() -> float:
    return round(os.getloadavg()[0], 2)


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        return next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "?")
    except OSError:
        return platform.processor() or "?"


def interleaved(fns: dict, reps: int) -> tuple[dict, dict]:
    """Run each contender once per rep, in turn; return (median seconds, last output) per name."""
    times = {k: [] for k in fns}
    outs = {}
    for _ in range(reps):
        for k, fn in fns.items():
            t = time.perf_counter()
            outs[k] = fn()
            times[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) for k, v in times.items()}, outs


# ------------------------------------------------------------------ dense least squares
def dense_family(name: str, N: int, n: int, seed: int = 0):
    """b = A x + noise for three families of tall A (kappa ~ 1e6 in each)."""
    rng = np.random.default_rng(seed)
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    scales = np.logspace(0, -6, n)
    if name == "graded":  # Gaussian rows, graded singular values
        A = (rng.standard_normal((N, n)) * scales) @ V.T
    elif name == "coherent":  # n rows carry most of the mass (leverage ~1): uniform sampling fails here
        A = (rng.standard_normal((N, n)) * 1e-3 * scales) @ V.T
        A[:n] += np.diag(scales) @ V.T * math.sqrt(N)
    elif name == "heavy":  # Student-t rows (df 1.5): a few rows of huge norm, non-uniform leverage
        A = (rng.standard_t(1.5, size=(N, n)) * scales) @ V.T
    else:
        raise ValueError(name)
    A = np.ascontiguousarray(A)
    b = A @ rng.standard_normal(n) + 1e-3 * np.linalg.norm(A) / math.sqrt(N * n) * rng.standard_normal(N)
    return A, b


def bench_dense(N, n, reps, threads):
    rows = []
    for fam in ("graded", "coherent", "heavy"):
        A, b = dense_family(fam, N, n)
        t, out = interleaved({
            "gelsd": lambda A=A, b=b: np.linalg.lstsq(A, b, rcond=None)[0],
            "gelsy": lambda A=A, b=b: sla.lstsq(A, b, lapack_driver="gelsy", check_finite=False)[0],
            "sketchkit": lambda A=A, b=b: lstsq(A, b, tol=1e-10),
        }, reps)
        res = out["sketchkit"]
        r_lapack = min(np.linalg.norm(b - A @ out["gelsd"]), np.linalg.norm(b - A @ out["gelsy"]))
        best = min(t["gelsd"], t["gelsy"])
        row = dict(family=fam, N=N, n=n, threads=threads, **{f"{k}_s": v for k, v in t.items()},
                   ratio=best / t["sketchkit"], residual_ratio=float(res.residual_norm / r_lapack),
                   backward_error=res.backward_error, iterations=res.iterations, factor=res.factor, load=load())
        log("  dense", row)
        rows.append(row)
    ok = all(r["ratio"] >= 3 and r["residual_ratio"] <= 1 + 1e-8 for r in rows)
    verdict(f"dense lstsq >= 3x faster LAPACK, equal residual, {threads} thread(s)", ok,
            ", ".join(f"{r['family']} {r['ratio']:.2f}x (res {r['residual_ratio'] - 1:+.1e})" for r in rows))
    return rows


# ------------------------------------------------------------------ sparse least squares
def sparse_problems(quick: bool):
    big = 150_000 if quick else 400_000
    A, b = data.stdlib_lines(1000, big)
    yield "stdlib lines tf-idf", A, b
    sub = 20_000 if quick else 40_000
    yield f"stdlib first {sub} lines (rank-deficient)", A[:sub], b[:sub]
    A, b = data.debian_bullets(500)
    yield "debian changelog bullets tf-idf", A, b
    A, b = data.sketchkit_lines(500)
    yield "sketchkit's own sources tf-idf", A, b


def bench_sparse(quick, reps, threads, problems):
    rows = []
    for name, A, b in problems:
        empty, dup = data.column_defects(A)
        t, out = interleaved({
            "lsqr": lambda A=A, b=b: lsqr(A, b, atol=1e-10, btol=1e-10, iter_lim=50_000)[:3],
            "lsmr": lambda A=A, b=b: lsmr(A, b, atol=1e-10, btol=1e-10, maxiter=50_000)[:3],
            "sketchkit": lambda A=A, b=b: lstsq(A, b, tol=1e-10),
            "sketchkit_sketch_only": lambda A=A, b=b: lstsq(A, b, tol=1e-10, gram="never"),
        }, reps)
        res, res_s = out["sketchkit"], out["sketchkit_sketch_only"]
        resid = {k: float(np.linalg.norm(b - A @ out[k][0])) for k in ("lsqr", "lsmr")}
        resid["sketchkit"], resid["sketch_only"] = res.residual_norm, res_s.residual_norm
        ref = min(resid.values())
        best = min(t["lsqr"], t["lsmr"])
        row = dict(problem=name, shape=list(A.shape), nnz=int(A.nnz), empty_cols=empty, duplicate_cols=dup,
                   threads=threads, **{f"{k}_s": v for k, v in t.items()},
                   lsqr_iterations=int(out["lsqr"][2]), lsmr_iterations=int(out["lsmr"][2]),
                   ratio=best / t["sketchkit"], ratio_sketch_only=best / t["sketchkit_sketch_only"],
                   residual_ratio=resid["sketchkit"] / ref, residual_ratio_sketch_only=resid["sketch_only"] / ref,
                   lsqr_residual_ratio=resid["lsqr"] / ref, lsmr_residual_ratio=resid["lsmr"] / ref,
                   factor=res.factor, rank=res.rank, iterations=res.iterations, backward_error=res.backward_error,
                   factor_sketch_only=res_s.factor, iterations_sketch_only=res_s.iterations, load=load())
        log("  sparse", row)
        rows.append(row)
    # the default (gram="auto") takes the exact-AᵀA path when 4 Σ nnz(row)² < d n² and its Cholesky
    # factor passes u κ₁(R)² <= 0.1, else the sketch: each verdict names the path that ran
    ok = all(r["ratio"] >= 3 and r["residual_ratio"] <= 1 + 1e-8 for r in rows)
    verdict(f"sparse lstsq, default path (exact AᵀA Cholesky when 4·Σnnz(row)² < d·n² and u·κ₁(R)² <= 0.1, "
            f"else the sketch), >= 3x faster of LSQR/LSMR, equal residual, {threads} thread(s)", ok,
            ", ".join(f"{r['problem']} {r['ratio']:.2f}x (path: {r['factor']})" for r in rows))
    ok = all(r["ratio_sketch_only"] >= 3 and r["residual_ratio_sketch_only"] <= 1 + 1e-8 for r in rows)
    verdict(f"sparse lstsq, sketch-preconditioned path alone (gram='never'), >= 3x faster of LSQR/LSMR, "
            f"equal residual, {threads} thread(s)", ok,
            ", ".join(f"{r['problem']} {r['ratio_sketch_only']:.2f}x ({r['factor_sketch_only']}, "
                      f"{r['iterations_sketch_only']} its)" for r in rows))
    return rows


# ------------------------------------------------------------------ low rank
def decaying_dense(m, n, seed=0):
    """A = U diag(j^-1/2) V^T with orthonormal U (stacked sign-flipped copies of one n x n orthogonal
    matrix, scaled: U^T U = I exactly) and V; the optimal rank-k error is known exactly."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = np.arange(1, n + 1) ** -0.5
    B = (Q * s) @ V.T
    blocks = m // n
    signs = rng.choice([-1.0, 1.0], size=(blocks * n, 1))
    A = np.ascontiguousarray(np.tile(B, (blocks, 1)) * signs / math.sqrt(blocks))
    return A, s


def rank_k_optimum(A, k):
    """(‖A‖_F, best rank-k error) from the eigenvalues of the n x n Gram matrix (n = 2,000 here)."""
    G = A.T @ A
    lam = np.linalg.eigvalsh(G.toarray() if sp.issparse(G) else G)[::-1]
    total = float(lam.sum())
    return math.sqrt(total), math.sqrt(max(total - float(lam[:k].sum()), 0.0))


def bench_lowrank(quick, reps, threads, csr):
    """Both factorisations are orthogonal projections of A (QQᵀA truncated; A V Vᵀ), so the error is
    sqrt(‖A‖_F² − ‖s‖²) exactly, compared with the optimum from the full eigen-decomposition of AᵀA."""
    from sklearn.utils.extmath import randomized_svd as sk_rsvd

    rows = []
    m, n, k = (8000, 1000, 50) if quick else (20_000, 2000, 50)
    A, _ = decaying_dense(m, n)
    problems = [(f"dense {m}x{n}, sigma_j = j^-1/2, k={k}", A, k),
                (f"CSR stdlib tf-idf {csr.shape[0]}x{csr.shape[1]}, nnz {csr.nnz}, k=20", csr, 20)]
    for name, M, kk in problems:
        norm, opt = rank_k_optimum(M, kk)
        t, out = interleaved({
            "sklearn": lambda M=M, kk=kk: sk_rsvd(M, kk, n_oversamples=10, n_iter="auto", flip_sign=False,
                                                   random_state=0),
            "sketchkit": lambda M=M, kk=kk: randomized_svd(M, kk, oversample=10, n_iter="auto", seed=0),
            "sketchkit_subspace": lambda M=M, kk=kk: randomized_svd(M, kk, oversample=10, n_iter="auto",
                                                                     method="subspace", seed=0),
        }, reps)
        err = {key: math.sqrt(max(norm**2 - float(np.sum(v[1] ** 2)), 0.0)) / opt for key, v in out.items()}
        rows.append(dict(problem=name, threads=threads, **{f"{kk2}_s": v for kk2, v in t.items()},
                         time_ratio=t["sketchkit"] / t["sklearn"],
                         time_ratio_subspace=t["sketchkit_subspace"] / t["sklearn"],
                         **{f"err_over_opt_{kk2}": v for kk2, v in err.items()}, load=load()))
    for r in rows:
        log("  lowrank", r)
    for r, what in zip(rows, ("dense", "CSR")):
        ok = r["time_ratio"] <= 1.0 and r["err_over_opt_sketchkit"] <= r["err_over_opt_sklearn"]
        verdict(f"low rank {what} <= 1.0x sklearn time (target 0.85x) at equal or lower error, {threads} thread(s)",
                ok, f"{r['time_ratio']:.2f}x time, error/optimal {r['err_over_opt_sketchkit']:.7f} vs "
                f"{r['err_over_opt_sklearn']:.7f} (method='subspace': {r['time_ratio_subspace']:.2f}x, "
                f"{r['err_over_opt_sketchkit_subspace']:.7f})")
    return rows


# ------------------------------------------------------------------ IPM
def random_lp(m, n, seed=0, col_scale=0.0):
    """Feasible bounded LP, A m x n dense; ``col_scale`` > 0 grades the columns over 10^col_scale."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    if col_scale:
        A *= np.logspace(0, -col_scale, n)
    x0 = rng.random(n) * (rng.random(n) < 0.5)
    z0 = rng.random(n) * (x0 == 0)
    return A.T @ rng.standard_normal(m) + z0, A, A @ x0


def bench_ipm(sizes, threads):
    rows = []
    for m, n, cs in sizes:
        c, A, b = random_lp(m, n, col_scale=cs)
        row = dict(m=m, n=n, col_scale=cs, threads=threads)
        for solver in ("cholesky", "sketch"):
            t = time.perf_counter()
            res = linprog_ipm(c, A, b, normal_solver=solver)
            row[f"{solver}_s"] = time.perf_counter() - t
            row[f"{solver}_status"] = res.status
            row[f"{solver}_fun"] = res.fun
            row[f"{solver}_iterations"] = res.iterations
            if solver == "sketch":
                row["cg_max"] = max(res.cg_iterations)
        row["sketch_speedup"] = row["cholesky_s"] / row["sketch_s"]
        row["load"] = load()
        log("  ipm", row)
        rows.append(row)
    wins = [r for r in rows if r["sketch_speedup"] > 1 and r["sketch_status"] == "optimal"]
    verdict(f"IPM: sketch preconditioner beats plain Cholesky on some measured LP, {threads} thread(s)", bool(wins),
            ", ".join(f"{r['m']}x{r['n']} (cols 1e-{r['col_scale']:g}) {r['sketch_speedup']:.2f}x" for r in rows))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller problems, for a shared 2-core machine")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--sections", default="dense,sparse,lowrank,ipm")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ipm-sizes", default=None, help="m x n x column-scale-decades, e.g. 200x20000x0,400x40000x6")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    sections = args.sections.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    res = dict(command=" ".join(sys.argv), cpu=cpu_model(), cpus=os.cpu_count(), load_before=os.getloadavg(),
               numpy=np.__version__, numba=numba.__version__,
               blas=[(i.get("internal_api"), i.get("version")) for i in threadpool_info()])
    problems = list(sparse_problems(args.quick)) if "sparse" in sections else []
    csr = data.stdlib_lines(2000, 150_000 if args.quick else 400_000)[0] if "lowrank" in sections else None
    ipm_sizes = args.ipm_sizes or ("200x20000x0,200x20000x6" if args.quick else "400x40000x0,400x40000x6,1000x20000x0")
    ipm_sizes = [tuple(float(v) if i == 2 else int(v) for i, v in enumerate(s.split("x")))
                 for s in ipm_sizes.split(",")]
    N, n = (100_000, 100) if args.quick else (300_000, 200)
    for t in threads:
        numba.set_num_threads(t)
        with threadpool_limits(t):
            # load every compiled kernel outside the timings (dense, CSR, both apply directions)
            warm = np.random.default_rng(0).standard_normal((3000, 40))
            lstsq(warm, warm[:, 0] + 1.0)
            lstsq(sp.csr_matrix(warm), warm[:, 0] + 1.0, gram="never")
            randomized_svd(warm, 5)
            randomized_svd(sp.csr_matrix(warm), 5)
            if "dense" in sections:
                res[f"dense_t{t}"] = bench_dense(N, n, args.reps, t)
            if "sparse" in sections:
                res[f"sparse_t{t}"] = bench_sparse(args.quick, args.reps, t, problems)
            if "lowrank" in sections:
                res[f"lowrank_t{t}"] = bench_lowrank(args.quick, args.reps, t, csr)
            if "ipm" in sections:
                res[f"ipm_t{t}"] = bench_ipm(ipm_sizes, t)
    if "learned" in sections:
        from bench_linalg_learned import bench_learned

        res["learned"] = bench_learned()
        for fam in ("sklearn digits", "sklearn sample image", "babynames"):
            rows = [r for r in res["learned"] if r["family"].startswith(fam)]
            best = {k: max((r for r in rows if r["k"] == k), key=lambda r: r["mean_reduction"], default=None)
                    for k in (5, 10)}
            verdict(f"learned low-rank sketch cuts held-out excess error >= 50% at k = 5 and 10, {fam}",
                    all(b is not None and b["mean_reduction"] >= 0.5 for b in best.values()),
                    ", ".join(f"k={k}: " + ("not run" if b is None else
                                            f"{100 * b['mean_reduction']:.0f}% "
                                            f"({b.get('learned') or b.get('positions')})") for k, b in best.items()))
    res["load_after"] = os.getloadavg()
    res["verdicts"] = VERDICTS
    text = json.dumps(res, indent=1, default=float)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    print("\n".join(VERDICTS))


if __name__ == "__main__":
    main()
