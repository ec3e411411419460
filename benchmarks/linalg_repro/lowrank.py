"""Randomized SVD: sketchkit.linalg.randomized_svd vs sklearn.utils.extmath.randomized_svd, both at their
defaults (n_iter="auto", 10 oversamples; no sign flip), error measured against the optimum.

Usage: lowrank.py THREADS {dense,csr}
"""

import math
import os
import sys

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
               os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]

import linalg_data as data  # noqa: E402
import numpy as np  # noqa: E402
from _pin import run  # noqa: E402
from bench_linalg import decaying_dense, rank_k_optimum  # noqa: E402
from sklearn.utils.extmath import randomized_svd as sk_rsvd  # noqa: E402

from sketchkit.linalg import randomized_svd  # noqa: E402

threads, which = int(sys.argv[1]), sys.argv[2]
if which == "dense":
    A, _ = decaying_dense(20_000, 2000)
    k = 50
else:
    A = data.stdlib_lines(2000, 400_000)[0]
    k = 20
norm, opt = rank_k_optimum(A, k)
randomized_svd(A[:3000], 5)  # compile
t, out = run(threads, {
    "sklearn": lambda: sk_rsvd(A, k, n_oversamples=10, n_iter="auto", flip_sign=False, random_state=0),
    "sketchkit": lambda: randomized_svd(A, k, oversample=10, n_iter="auto", seed=0),
})
# both results are orthogonal projections of A, so the error is sqrt(|A|_F^2 - |s|^2)
err = {key: math.sqrt(max(norm**2 - float(np.sum(sv**2)), 0.0)) / opt for key, (_, sv, _) in out.items()}
print(f"time ratio {t['sketchkit'] / t['sklearn']:.2f}x, error/optimal sketchkit {err['sketchkit']:.7f} "
      f"sklearn {err['sklearn']:.7f}")
