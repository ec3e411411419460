"""Sparse least squares on tf-idf of real text: sketchkit.linalg.lstsq vs the faster of LSQR / LSMR.

Usage: sparse_lstsq.py THREADS {stdlib,deficient,debian,sketchkit}
"""

import sys

import linalg_data as data
import numpy as np
from _pin import run
from scipy.sparse.linalg import lsmr, lsqr

from sketchkit.linalg import lstsq

threads, which = int(sys.argv[1]), sys.argv[2]
if which in ("stdlib", "deficient"):
    A, b = data.stdlib_lines(1000, 400_000)
    if which == "deficient":
        A, b = A[:40_000], b[:40_000]
elif which == "debian":
    A, b = data.debian_bullets(500)
else:
    A, b = data.sketchkit_lines(500)
print(which, A.shape, "nnz", A.nnz, "empty/duplicate columns", data.column_defects(A))
t, out = run(threads, {
    "lsqr": lambda: lsqr(A, b, atol=1e-10, btol=1e-10, iter_lim=50_000)[0],
    "lsmr": lambda: lsmr(A, b, atol=1e-10, btol=1e-10, maxiter=50_000)[0],
    "sketchkit": lambda: lstsq(A, b, tol=1e-10),
})
res = out["sketchkit"]
ref = min(np.linalg.norm(b - A @ out["lsqr"]), np.linalg.norm(b - A @ out["lsmr"]), res.residual_norm)
print(f"ratio {min(t['lsqr'], t['lsmr']) / t['sketchkit']:.2f}x ({res.factor}, rank {res.rank}), "
      f"residual / best - 1 = {res.residual_norm / ref - 1:+.1e}")
