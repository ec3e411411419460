"""Where a distributed job runs: an existing scheduler, a fresh local cluster, or the default."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import dask
from distributed import WorkerPlugin

from .._base import check_positive_int
from ..errors import InvalidParameterError

__all__ = ["dask_client", "local_cluster", "warm_workers", "LOCAL_CLUSTER_CONFIG", "WarmSketchkit"]

# Sketch jobs are many small root tasks (one per partition) whose outputs are small sketches.
# Dask's default root-task queuing (worker-saturation 1.1) hands a worker its next partition only
# after a round trip to the scheduler, so a busy scheduler leaves workers idle between tasks;
# assigning them up front costs no memory here, since a finished partition is just a sketch.
# The rest quiets the housekeeping that wakes every process many times a second (the statistical
# profiler samples each worker's task thread every 10 ms, event-loop and memory monitors every
# 20-500 ms): measured on a 2-worker LocalCluster it burned 0.12 CPU-s per second of wall time,
# idle or busy, and 0.02 with these settings. What is lost: the dashboard's profile page and
# finer-grained system graphs; memory limits are still enforced, checked every 0.5 s.
LOCAL_CLUSTER_CONFIG = {
    "distributed.scheduler.worker-saturation": float("inf"),
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "500ms",
}


class WarmSketchkit(WorkerPlugin):
    """Imports sketchkit and loads its common kernels from numba's cache when a worker starts.

    A fresh worker process spends about two seconds of CPU on its first sketch task (importing
    numba and sketchkit, loading the compiled update and query kernels), inside the first job that reaches
    it. Registered as a plugin, that happens at start-up instead, on every worker, including
    one that replaces a worker that died.
    """

    name = "sketchkit-warm"

    def setup(self, worker: Any) -> None:
        try:
            warm_process()
        except Exception as exc:  # only a head start: never keep a worker from joining over it
            logging.getLogger(__name__).warning("sketchkit warm-up failed on this worker: %r", exc)


def warm_process() -> None:
    """Import sketchkit.distributed (and pyarrow's Parquet reader) and run the int64 update and
    query kernels once."""
    import numpy as np

    from .. import CountMin, CountSketch
    from . import _tree  # noqa: F401  (registers dask's sizeof for sketches)

    with contextlib.suppress(ImportError):
        import pyarrow.parquet  # noqa: F401
    from ..hashing import NUMBA_INT_BATCH

    # a batch as large as a task's: smaller int64 batches run on the C kernels, large ones on the
    # numba kernels the warm-up loads: the queries always, the updates where the C updates'
    # AVX-512 form does not run
    keys = np.arange(NUMBA_INT_BATCH, dtype=np.int64)
    for cls in (CountSketch, CountMin):
        sketch = cls(width=64, depth=3)
        sketch.update_batch(keys)
        sketch.estimate_batch(keys)


def local_cluster(workers: int) -> Any:
    """The ``LocalCluster`` :func:`dask_client` starts: ``workers`` single-threaded worker processes."""
    from distributed import LocalCluster

    n = check_positive_int("workers", workers, 1024)
    with dask.config.set(LOCAL_CLUSTER_CONFIG):  # for the scheduler and nannies, built in here
        # The worker processes get the settings explicitly: a nanny keeps a shallow copy of the
        # global config, which leaving this block reverts, so a worker it restarts after a crash
        # would otherwise come back with dask's defaults.
        return LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, config=dict(LOCAL_CLUSTER_CONFIG)
        )


def warm_workers(client: Any) -> None:
    """Register :class:`WarmSketchkit` (runs now on the current workers, later on new ones)."""
    client.register_plugin(WarmSketchkit(), name=WarmSketchkit.name)


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` for the duration of a ``with`` block (None: dask's default).

    ``scheduler``: the address of a running scheduler (``"tcp://host:8786"``); the client is
    closed afterwards, the cluster is left running. ``workers``: start a
    ``LocalCluster`` of that many single-threaded worker *processes* (real pickling, one core
    each) and shut it down afterwards; its scheduler assigns partitions to workers up front and
    its housekeeping is quieted (``LOCAL_CLUSTER_CONFIG``, worth setting on your own clusters
    too), and its workers import sketchkit as they start (:class:`WarmSketchkit`). Scripts that
    start one need the ``if __name__ == "__main__":`` guard, or the worker processes fail to start.
    """
    if workers is not None and scheduler is not None:
        raise InvalidParameterError("give either workers (start a local cluster) or scheduler (connect), not both")
    if workers is None and scheduler is None:
        yield None
        return
    from distributed import Client

    if scheduler is not None:
        if not isinstance(scheduler, str) or not scheduler:
            raise InvalidParameterError(f"scheduler must be an address such as 'tcp://host:8786', got {scheduler!r}")
        with Client(scheduler) as client:
            yield client
        return
    cluster = local_cluster(workers)
    with cluster, Client(cluster) as client:
        warm_workers(client)
        yield client
