"""Dask near-duplicate clusters equal the one-process clusters bit for bit (synchronous scheduler)."""

from __future__ import annotations

import random

import numpy as np
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")

from sketchkit.similarity import FastSimilaritySketch, Shingling, find_clusters  # noqa: E402
from sketchkit.similarity import _kernels as K  # noqa: E402


def _corpus():
    rng = random.Random(5)
    words = [f"w{i}" for i in range(3000)]
    base = [" ".join(rng.choice(words) for _ in range(60)) for _ in range(120)]
    docs = list(base)
    for i in range(60):  # near copies: one to four word edits
        w = base[i].split()
        for _ in range(rng.randint(1, 4)):
            w[rng.randrange(len(w))] = f"e{rng.randrange(10**6)}"
        docs.append(" ".join(w))
    docs += [base[7]] * 20 + ["", "  "] + [base[8].upper()]  # a run longer than max_compare, empties
    rng.shuffle(docs)
    return docs


@pytest.mark.parametrize("npartitions", [1, 4, 7])
def test_dask_clusters_equal_one_process(npartitions):
    from sketchkit.distributed.similarity import dedup_column

    docs = _corpus()
    sh = Shingling(n=5, normalize=True)
    col = dd.from_pandas(pd.Series(docs, dtype=object), npartitions=npartitions)
    with dask.config.set(scheduler="sync"):
        labels = dedup_column(col, 0.7, shingling=sh, seed=3)
    sigs = FastSimilaritySketch.signatures(docs, 128, seed=3, shingling=sh)
    ref = find_clusters(sigs, 0.7, skip=sigs[:, 0] == K.EMPTY)
    assert labels.tolist() == ref.labels.tolist()
    assert ref.n_duplicates > 40  # the check has clusters to compare (20 copies, the 1-2 edit near copies)
    assert np.unique(labels).size < len(docs)


@pytest.mark.dask
@pytest.mark.slow  # starts a two-process LocalCluster: 10-30 s on the shared machine
def test_local_cluster_clusters_equal_one_process():
    from sketchkit.distributed import dask_client
    from sketchkit.distributed.similarity import dedup_column

    docs = _corpus()
    sh = Shingling(n=5, normalize=True)
    with dask_client(workers=2):
        labels = dedup_column(dd.from_pandas(pd.Series(docs, dtype=object), npartitions=4), 0.7, shingling=sh, seed=3)
    sigs = FastSimilaritySketch.signatures(docs, 128, seed=3, shingling=sh)
    assert labels.tolist() == find_clusters(sigs, 0.7, skip=sigs[:, 0] == K.EMPTY).labels.tolist()
