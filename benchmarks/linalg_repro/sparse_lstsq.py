"""Sparse least squares on tf-idf of real text: sketchkit.linalg.lstsq vs the faster of LSQR / LSMR.

Usage: sparse_lstsq.py THREADS {stdlib,deficient,debian,sketchkit}
"""

import os
import sys

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
               os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]

import linalg_data as data  # noqa: E402
import numpy as np  # noqa: E402
from _pin import run  # noqa: E402
from scipy.sparse.linalg import lsmr, lsqr  # noqa: E402

from sketchkit.linalg import lstsq  # noqa: E402

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
