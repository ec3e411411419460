"""Randomized SVD: sketchkit.linalg.randomized_svd vs sklearn.utils.extmath.randomized_svd (no sign flip).

Usage: lowrank.py THREADS {dense,csr}
"""

import os
import sys

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
               os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]

import linalg_data as data  # noqa: E402
import numpy as np  # noqa: E402
from _pin import run  # noqa: E402
from bench_linalg import decaying_dense  # noqa: E402
from sklearn.utils.extmath import randomized_svd as sk_rsvd  # noqa: E402

from sketchkit.linalg import randomized_svd  # noqa: E402

threads, which = int(sys.argv[1]), sys.argv[2]
if which == "dense":
    A, s = decaying_dense(20_000, 2000)
    k = 50
else:
    A = data.stdlib_lines(2000, 400_000)[0]
    k = 20
randomized_svd(A[:3000], 5)  # compile
t, out = run(threads, {
    "sklearn": lambda: sk_rsvd(A, k, n_oversamples=10, n_iter="auto", flip_sign=False, random_state=0),
    "sketchkit": lambda: randomized_svd(A, k, oversample=10, n_iter="auto", seed=0),
})
if which == "dense":
    opt = np.sqrt(np.sum(s[k:] ** 2))
    err = {key: np.linalg.norm(A - (u * sv) @ vt) / opt for key, (u, sv, vt) in out.items()}
    print(f"time ratio {t['sketchkit'] / t['sklearn']:.2f}x, error/optimal sketchkit {err['sketchkit']:.5f} "
          f"sklearn {err['sklearn']:.5f}")
else:
    print(f"time ratio {t['sketchkit'] / t['sklearn']:.2f}x, captured energy sketchkit "
          f"{np.linalg.norm(out['sketchkit'][1]):.4f} sklearn {np.linalg.norm(out['sklearn'][1]):.4f}")
