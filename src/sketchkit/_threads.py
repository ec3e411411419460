"""How many threads sketchkit's batch updates use, and the split that keeps them exact.

A linear sketch's table is a sum over the stream, so a large batch can be cut into parts, each
part added into its own zeroed table on its own thread, and the tables summed: integer
counters add exactly, so the result is bit-identical to one thread whatever the split.

The thread count is, in order: what :func:`set_threads` (or the :func:`threads` context) set;
else ``SKETCHKIT_NUM_THREADS``; else the cores this process may run on, capped by
``NUMBA_NUM_THREADS`` and ``OMP_NUM_THREADS`` when they are set. Dask's worker processes set
``OMP_NUM_THREADS=1``, so a one-thread Dask worker stays on one thread, as BLAS does there.

Small batches stay on the calling thread: a part must carry at least ``MIN_KEYS_PER_THREAD``
keys and at least ``TABLE_PASSES`` times the table's size (the sum costs a pass over each extra
table). Tables larger than ``MAX_SPLIT_TABLE_BYTES`` stay on one thread too: a copy of the table
per thread costs memory, and the speed-up has been measured only up to that size. The
thresholds come from ``benchmarks/bench_threads.py`` (idle 2-core AMD EPYC: 1.87-2.00x for
every table from 16 KiB to 4 MiB with 10 M keys).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .errors import InvalidParameterError

__all__ = ["get_threads", "set_threads", "threads", "split_update", "run_tasks"]

MIN_KEYS_PER_THREAD = 1 << 17
TABLE_PASSES = 4
MAX_SPLIT_TABLE_BYTES = 4 << 20
SLICES_PER_THREAD = 4

_override: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_lock = threading.Lock()


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        n = int(value)
    except ValueError:
        return None
    return n if n >= 1 else None


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


def get_threads() -> int:
    """The number of threads a large batch update may use now (see the module docstring)."""
    if _override is not None:
        return _override
    explicit = _env_int("SKETCHKIT_NUM_THREADS")
    if explicit is not None:
        return explicit
    n = _available_cores()
    for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        cap = _env_int(name)
        if cap is not None:
            n = min(n, cap)
    return max(1, n)


def _check(n: int | None) -> int | None:
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= int(n) <= 1024:
        raise InvalidParameterError(f"thread count must be an int in [1, 1024] or None, got {n!r}")
    return int(n)


def set_threads(n: int | None) -> None:
    """Use ``n`` threads for large batch updates from now on (None: back to the default)."""
    global _override
    _override = _check(n)


@contextlib.contextmanager
def threads(n: int | None) -> Iterator[None]:
    """``with sketchkit.threads(1): ...`` runs the block's batch updates with ``n`` threads."""
    global _override
    previous = _override
    _override = _check(n)
    try:
        yield
    finally:
        _override = previous


def _executor(size: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < size:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="sketchkit")
            _pool_size = size
        return _pool


def parts_for(n_keys: int, table_size: int, table_bytes: int = 0) -> int:
    """How many parts (threads) a batch of ``n_keys`` into a table of ``table_size`` counters
    (``table_bytes`` bytes) gets."""
    if table_bytes > MAX_SPLIT_TABLE_BYTES:
        return 1
    by_keys = n_keys // MIN_KEYS_PER_THREAD
    by_table = n_keys // max(1, TABLE_PASSES * table_size)
    return max(1, min(get_threads(), by_keys, by_table + 1))


def split_update(table: np.ndarray, n_keys: int, update: Callable[[np.ndarray, int, int], None]) -> None:
    """Run ``update(part_table, start, stop)`` over ``[0, n_keys)`` in parts and add the parts'
    tables into ``table``. ``update`` must release the GIL (a ``nogil`` kernel) to overlap.

    Each thread owns one table and takes the next slice of the batch until none is left
    (``SLICES_PER_THREAD`` slices per thread), so a thread slowed by a neighbour's load does
    not leave the other waiting at the end; the sum is the same whichever thread took which."""
    parts = parts_for(n_keys, table.size, table.nbytes)
    if parts <= 1:
        update(table, 0, n_keys)
        return
    bounds = np.linspace(0, n_keys, parts * SLICES_PER_THREAD + 1).astype(np.int64).tolist()
    taken = iter(range(len(bounds) - 1))
    take = threading.Lock()

    def work(own: np.ndarray) -> None:
        while True:
            with take:
                i = next(taken, None)
            if i is None:
                return
            update(own, bounds[i], bounds[i + 1])

    extra = [np.zeros_like(table) for _ in range(parts - 1)]
    pool = _executor(parts - 1)
    futures = [pool.submit(work, t) for t in extra]
    work(table)
    for f in futures:
        f.result()
    for t in extra:
        table += t


def run_tasks(tasks: list[Callable[[], None]], n_keys: int) -> None:
    """Run independent tasks (each touching its own state, releasing the GIL) on the pool when
    the batch of ``n_keys`` is large enough to pay for threads, else one after another."""
    workers = min(get_threads(), len(tasks))
    if workers <= 1 or n_keys < MIN_KEYS_PER_THREAD:
        for task in tasks:
            task()
        return
    for f in [_executor(workers).submit(task) for task in tasks]:
        f.result()
