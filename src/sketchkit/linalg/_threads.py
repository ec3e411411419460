"""When to let BLAS and the numba kernels use more than one thread.

On a shared, oversubscribed machine a multithreaded call waits for descheduled threads: a QR of a
1600 x 200 matrix took 3 s with OpenBLAS's two threads at load 18 on 2 cores, against milliseconds
alone. So small factorizations, and any work while no core is idle, run single-threaded.
"""

from __future__ import annotations

import contextlib
import os

from threadpoolctl import threadpool_limits

BLAS_PARALLEL_MIN_FLOPS = 2e9


def idle_core() -> bool:
    """True when the 1-minute load average leaves at least one core free."""
    try:
        return os.getloadavg()[0] < (os.cpu_count() or 1)
    except OSError:  # pragma: no cover - platforms without a load average
        return True


def blas_threads(flops: float) -> contextlib.AbstractContextManager:
    """A context that limits BLAS to one thread unless the call is big and a core is idle."""
    if flops >= BLAS_PARALLEL_MIN_FLOPS and idle_core():
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")
