"""pandas conveniences (pandas stays optional: it is only imported by the caller, or inside
:func:`quantiles_by` to build its result)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidItemError
from .ddsketch import DDSketch
from .kll import KLL


def _values(series: Any, dropna: bool) -> np.ndarray:
    missing = int(series.isna().sum())
    if missing and not dropna:
        raise InvalidItemError(f"the series holds {missing} missing values (dropna=True skips them, as pandas does)")
    if missing:
        series = series.dropna()
    return series.to_numpy(dtype=np.float64) if series.dtype.kind in "fiu" else np.asarray(series.tolist())


def sketch_series(series: Any, sketch: KLL | DDSketch | None = None, *, weights: Any = None,
                  dropna: bool = True) -> KLL | DDSketch:
    """A quantile sketch of a pandas Series of numbers: ``sketch`` (an empty template, filled in
    place and returned) or a new ``KLL(200)``. Missing values (NaN, None, NA) are skipped like
    ``Series.quantile`` skips them (``dropna=False`` refuses them); ±inf is refused like every
    update. ``weights``: a Series or array of non-negative ints, aligned with ``series``."""
    out = KLL() if sketch is None else sketch
    if weights is not None:
        w = np.asarray(weights)
        keep = ~series.isna().to_numpy() if dropna else np.ones(len(series), dtype=bool)
        if not dropna and not keep.all():
            raise InvalidItemError("the series holds missing values (dropna=True skips them with their weights)")
        out.update_batch(series[keep].to_numpy(dtype=np.float64), w[keep])
        return out
    out.update_batch(_values(series, dropna))
    return out


def quantiles_by(frame: Any, by: Any, column: Any, qs: Any = (0.5, 0.9, 0.99, 0.999), *,
                 sketch: KLL | DDSketch | None = None, inclusive: bool = True) -> Any:
    """One row per group of ``frame.groupby(by)`` with the quantiles ``qs`` of ``column``
    (columns ``q0.5``, ``q0.99``, ...) and ``count``: "p99 latency per endpoint" in one pass.
    ``sketch`` is the template of every group's sketch (default ``DDSketch(0.01)``: value error
    within 1 % for the tail). Missing values are skipped."""
    import pandas as pd

    template = DDSketch(0.01) if sketch is None else sketch
    qs = [float(q) for q in qs]
    rows, keys = [], []
    for key, group in frame.groupby(by, sort=True)[column]:
        s = sketch_series(group, template.empty_like())
        rows.append([*s.quantiles(qs, inclusive=inclusive), s.total_weight])
        keys.append(key)
    index = pd.Index(keys, name=by) if not isinstance(by, (list, tuple)) else pd.MultiIndex.from_tuples(keys, names=by)
    return pd.DataFrame(rows, index=index, columns=[f"q{q:g}" for q in qs] + ["count"])
