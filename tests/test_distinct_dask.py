"""distributed.distinct_count: registers (and a ThetaSketch entirely) bit-identical to one process."""

from __future__ import annotations

import numpy as np
import pytest

dask = pytest.importorskip("dask")
pd = pytest.importorskip("pandas")

import dask.array as da  # noqa: E402
import dask.bag as db  # noqa: E402
import dask.dataframe as dd  # noqa: E402

from sketchkit.cardinality import Distinct, ThetaSketch  # noqa: E402
from sketchkit.distributed import distinct_count  # noqa: E402


def test_array_registers_match_one_process():
    items = np.arange(200_000) % 50_000
    with dask.config.set(scheduler="sync"):
        d = distinct_count(da.from_array(items, chunks=20_000), precision=10, seed=3)
    one = Distinct(10, seed=3)
    one.update_batch(items)
    assert (d._words == one._words).all() and d.total_weight == one.total_weight
    assert d.estimator == "ml" and d.estimate() == one.estimate_ml()
    assert abs(d.estimate() / 50_000 - 1) <= d.relative_error()


def test_theta_and_columns_and_bags():
    items = [f"u{i % 3000}" for i in range(20_000)]
    frame = dd.from_pandas(pd.DataFrame({"user": items}), npartitions=3)
    with dask.config.set(scheduler="sync"):
        t = distinct_count(frame, column="user", sketch=ThetaSketch(256, seed=1))
        b = distinct_count(db.from_sequence(items, npartitions=4), precision=8, seed=1)
    one = ThetaSketch(256, seed=1)
    one.update_batch(items)
    assert t == one
    ref = Distinct(8, seed=1)
    ref.update_batch(items)
    assert (b._words == ref._words).all()
    with pytest.raises(TypeError):
        distinct_count([1, 2, 3])


def test_distinct_users_per_country_in_one_pass():
    from sketchkit.distributed import sketch_groupby

    rng = np.random.default_rng(0)
    pdf = pd.DataFrame({"country": rng.choice(["fr", "de", "us"], 30_000), "user": rng.integers(0, 8_000, 30_000)})
    with dask.config.set(scheduler="sync"):
        per = sketch_groupby(dd.from_pandas(pdf, npartitions=3), "country", "user", Distinct(10, seed=2))
    for country, sk in per.items():
        rows = pdf[pdf.country == country]
        one = Distinct(10, seed=2)
        one.update_batch(rows.user.to_numpy())
        assert (sk._words == one._words).all()
        assert abs(sk.estimate() / rows.user.nunique() - 1) <= sk.relative_error()
