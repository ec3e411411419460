"""Dense tall least squares: sketchkit.linalg.lstsq vs the faster of numpy gelsd / SciPy gelsy.

Usage: dense_lstsq.py THREADS {graded,coherent,heavy} [N n]
"""

import os
import sys

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
               os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]

import numpy as np  # noqa: E402
import scipy.linalg as sla  # noqa: E402
from _pin import run  # noqa: E402
from bench_linalg import dense_family  # noqa: E402

from sketchkit.linalg import lstsq  # noqa: E402

threads, fam = int(sys.argv[1]), sys.argv[2]
N, n = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (300_000, 200)
A, b = dense_family(fam, N, n)
lstsq(A[:1000], b[:1000])  # compile
t, out = run(threads, {
    "gelsd": lambda: np.linalg.lstsq(A, b, rcond=None)[0],
    "gelsy": lambda: sla.lstsq(A, b, lapack_driver="gelsy", check_finite=False)[0],
    "sketchkit": lambda: lstsq(A, b, tol=1e-10),
})
r_lapack = min(np.linalg.norm(b - A @ out["gelsd"]), np.linalg.norm(b - A @ out["gelsy"]))
print(f"{fam} {N}x{n}: ratio {min(t['gelsd'], t['gelsy']) / t['sketchkit']:.2f}x, "
      f"residual / LAPACK's - 1 = {out['sketchkit'].residual_norm / r_lapack - 1:+.1e}")
