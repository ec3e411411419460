"""Where a distributed job runs: an existing scheduler, a fresh local cluster, or the default."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import dask

from .._base import check_positive_int
from ..errors import InvalidParameterError

__all__ = ["dask_client", "LOCAL_CLUSTER_CONFIG"]

# Sketch jobs are many small root tasks (one per partition) whose outputs are small sketches.
# Dask's default root-task queuing (worker-saturation 1.1) hands a worker its next partition only
# after a round trip to the scheduler, so a busy scheduler leaves workers idle between tasks;
# assigning them up front costs no memory here, since a finished partition is just a sketch.
LOCAL_CLUSTER_CONFIG = {"distributed.scheduler.worker-saturation": float("inf")}


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` for the duration of a ``with`` block (None: dask's default).

    ``scheduler``: the address of a running scheduler (``"tcp://host:8786"``); the client is
    closed afterwards, the cluster is left running. ``workers``: start a
    ``LocalCluster`` of that many single-threaded worker *processes* (real pickling, one core
    each) and shut it down afterwards; its scheduler assigns partitions to workers up front
    (``LOCAL_CLUSTER_CONFIG``, worth setting on your own clusters too). Scripts that start one need the
    ``if __name__ == "__main__":`` guard, or the worker processes fail to start.
    """
    if workers is not None and scheduler is not None:
        raise InvalidParameterError("give either workers (start a local cluster) or scheduler (connect), not both")
    if workers is None and scheduler is None:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        if not isinstance(scheduler, str) or not scheduler:
            raise InvalidParameterError(f"scheduler must be an address such as 'tcp://host:8786', got {scheduler!r}")
        with Client(scheduler) as client:
            yield client
        return
    n = check_positive_int("workers", workers, 1024)
    with dask.config.set(LOCAL_CLUSTER_CONFIG):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, Client(cluster) as client:
        yield client
