"""Sketches on a Dask cluster: one sketch per partition on the workers, a tree of merges, one
ordinary sketch back in the driver (install with ``pip install sketchkit[dask]``).

Three ways in, each taking any sketchkit sketch as a template (its class, shape and seed):

* :func:`sketch_bag`, :func:`sketch_array`, :func:`sketch_column` for dask collections, and
  :func:`sketch_groupby` / :func:`sketch_aggregation` for one sketch per group;
* :func:`sketch_text_files`, :func:`sketch_csv`, :func:`sketch_parquet` to read files by glob,
  each task streaming its share in bounded batches;
* :func:`merge_sketches` for a bag of sketches built elsewhere;
* :func:`distinct_count`: a :class:`~sketchkit.cardinality.Distinct` of an array, bag or column;
* :func:`quantiles_groupby`: quantiles per group (p99 latency per endpoint) from one sketch each;
* :func:`dedup_column`: near-duplicate clusters of a text column, equal to one process's.

:func:`dask_client` runs any of them on a fresh local cluster (:func:`local_cluster`, configured
by ``LOCAL_CLUSTER_CONFIG``, its workers warmed by :func:`warm_workers`) or on a running one.

Sketches travel between processes only as their versioned ``to_bytes`` form. Hashing never
uses Python's salted ``hash()``, so a sketch built on a worker answers identically in the
driver, whatever ``PYTHONHASHSEED`` either runs under. Configurations that differ between
partitions (or between the workers and the driver) raise
:class:`~sketchkit.errors.IncompatibleSketchError` naming both.
"""

from __future__ import annotations

try:
    import dask  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("sketchkit.distributed needs dask: pip install 'sketchkit[dask]'") from exc

from ._partials import STREAM_BATCH
from .cardinality import distinct_count
from .cluster import LOCAL_CLUSTER_CONFIG, WarmSketchkit, dask_client, local_cluster, warm_workers
from .collections import merge_sketches, sketch_array, sketch_bag, sketch_column
from .files import sketch_csv, sketch_parquet, sketch_text_files
from .groupby import sketch_aggregation, sketch_groupby
from .quantiles import quantiles_groupby
from .similarity import dedup_column

__all__ = [
    "LOCAL_CLUSTER_CONFIG",
    "STREAM_BATCH",
    "WarmSketchkit",
    "dask_client",
    "dedup_column",
    "distinct_count",
    "local_cluster",
    "merge_sketches",
    "quantiles_groupby",
    "sketch_aggregation",
    "sketch_array",
    "sketch_bag",
    "sketch_column",
    "sketch_csv",
    "sketch_groupby",
    "sketch_parquet",
    "sketch_text_files",
    "warm_workers",
]
