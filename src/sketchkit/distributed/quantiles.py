"""Quantiles of dask collections in one pass, per group too: "p99 latency per endpoint".

:func:`quantiles_groupby` builds one sketch per group on the workers (through
:func:`~sketchkit.distributed.sketch_groupby`) and answers the quantiles in the driver. With the
default :class:`~sketchkit.quantiles.DDSketch` template the group sketches are bit-identical to
one process's (bucket counts merge exactly); with a :class:`~sketchkit.quantiles.KLL` template
they carry KLL's rank guarantee, and their bytes depend on how the partitions were merged.
"""

from __future__ import annotations

from typing import Any

from ..quantiles import DDSketch
from .groupby import sketch_groupby

__all__ = ["quantiles_groupby"]


def quantiles_groupby(
    frame: Any,
    by: Any,
    column: Any,
    qs: Any = (0.5, 0.9, 0.99, 0.999),
    *,
    sketch: Any = None,
    inclusive: bool = True,
    split_every: int = 8,
) -> Any:
    """A pandas DataFrame indexed by group with the quantiles ``qs`` of ``frame[column]``
    (columns ``q0.5``, ``q0.99``, ...) and ``count``; missing values are skipped.

    >>> import dask, dask.dataframe as dd, pandas as pd
    >>> df = pd.DataFrame({"endpoint": ["/a", "/b"] * 500, "ms": [float(i % 100 + 1) for i in range(1000)]})
    >>> with dask.config.set(scheduler="sync"):
    ...     out = quantiles_groupby(dd.from_pandas(df, npartitions=4), "endpoint", "ms", [0.5, 0.99])
    >>> list(out.index), int(out.loc["/a", "count"])
    (['/a', '/b'], 500)
    """
    import pandas as pd

    template = DDSketch(0.01) if sketch is None else sketch
    qs = [float(q) for q in qs]
    sketches = sketch_groupby(frame, by, column, template, split_every=split_every)
    keys = sorted(sketches)
    rows = [[*sketches[k].quantiles(qs, inclusive=inclusive), sketches[k].total_weight] for k in keys]
    return pd.DataFrame(rows, index=pd.Index(keys, name=by), columns=[f"q{q:g}" for q in qs] + ["count"])
