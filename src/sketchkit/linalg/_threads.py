"""How many threads the linear-algebra code uses: exactly what the caller set, never a guess from load.

* numba kernels run with ``numba.get_num_threads()`` threads (set it with ``numba.set_num_threads`` or
  ``NUMBA_NUM_THREADS``); calls below ``PARALLEL_MIN_WORK`` multiply-adds, and every call when that
  count is 1, run the serial build (no parallel region to wake).
* BLAS/LAPACK calls run with whatever the caller's thread pools allow (``threadpoolctl``,
  ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS``): sketchkit never lowers or raises them itself.

The choice depends only on the call's size and these settings, so a benchmark that pins both sides
to the same counts compares like with like.
"""

from __future__ import annotations

PARALLEL_MIN_WORK = 1 << 22


def numba_threads() -> int:
    """The numba thread count the caller set (``numba.get_num_threads()``)."""
    import numba

    return int(numba.get_num_threads())


def use_parallel(work: int) -> bool:
    """True when a kernel of ``work`` multiply-adds runs its parallel build."""
    return work >= PARALLEL_MIN_WORK and numba_threads() > 1
