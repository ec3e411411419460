"""pandas conveniences of the quantile sketches (skipped without pandas)."""

from __future__ import annotations

import math

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from sketchkit.errors import InvalidItemError  # noqa: E402
from sketchkit.quantiles import KLL, DDSketch, quantiles_by, sketch_series  # noqa: E402


def test_sketch_series_skips_missing_like_pandas():
    s = pd.Series([3.0, None, 1.0, np.nan, 2.0])
    sk = sketch_series(s)
    assert isinstance(sk, KLL) and sk.total_weight == 3
    assert sk.quantile(0.5) == s.quantile(0.5, interpolation="lower") == 2.0
    with pytest.raises(InvalidItemError, match="missing"):
        sketch_series(s, dropna=False)
    with pytest.raises(InvalidItemError):
        sketch_series(pd.Series([1.0, math.inf]))


def test_sketch_series_fills_a_template_and_takes_weights():
    template = DDSketch(0.02)
    out = sketch_series(pd.Series([1, 2, 3]), template, weights=pd.Series([1, 0, 5]))
    assert out is template and out.total_weight == 6 and out.quantile(1.0) == 3.0
    ints = sketch_series(pd.Series([5, 1, 4], dtype="int64"))
    assert ints.quantile(0.0) == 1.0


def test_quantiles_by_matches_per_group_sketches():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"endpoint": rng.choice(["/a", "/b", "/c"], 3000), "ms": rng.lognormal(3, 1, 3000)})
    df.loc[::50, "ms"] = np.nan
    out = quantiles_by(df, "endpoint", "ms", [0.5, 0.99])
    assert list(out.columns) == ["q0.5", "q0.99", "count"] and list(out.index) == ["/a", "/b", "/c"]
    for key, group in df.groupby("endpoint"):
        vals = group["ms"].dropna().to_numpy()
        assert out.loc[key, "count"] == vals.size
        srt = np.sort(vals)
        v = srt[math.ceil(0.99 * vals.size) - 1]
        assert abs(out.loc[key, "q0.99"] - v) <= 0.01 * v  # the DDSketch guarantee


def test_dask_quantiles_groupby_is_one_process_exact():
    dd = pytest.importorskip("dask.dataframe")
    dask = pytest.importorskip("dask")
    from sketchkit.distributed import quantiles_groupby

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"endpoint": rng.choice(["/a", "/b"], 4000), "ms": rng.lognormal(3, 1, 4000)})
    with dask.config.set(scheduler="sync"):
        out = quantiles_groupby(dd.from_pandas(df, npartitions=5), "endpoint", "ms", [0.5, 0.999])
    local = quantiles_by(df, "endpoint", "ms", [0.5, 0.999])
    pd.testing.assert_frame_equal(out, local, check_dtype=False)
