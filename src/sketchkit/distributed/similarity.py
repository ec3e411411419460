"""Near-duplicate clusters of a text column on Dask, bit-identical to one process.

:func:`dedup_column` runs the pipeline of :func:`sketchkit.similarity.find_clusters` with the
corpus spread over partitions:

1. per partition (a task each): Fast Similarity Sketch signatures of its documents and their
   band keys; the signatures stay on the workers;
2. the ``(band, key, document)`` rows are shuffled by key: each partition cuts its rows into
   buckets by ``key % buckets`` and bucket j gathers the j-th piece of every partition, so each
   run of equal (band, key) lands in one task; there each run, sorted by document index, yields
   the same candidate pairs as one process (every member with up to ``max_compare`` first
   members of its run);
3. the candidate pairs (few: near-duplicates) come back to the driver, deduplicated; one task per
   pair of signature partitions verifies its pairs by the signatures' estimated similarity;
4. the driver merges the verified pairs into connected components (union-find) and returns each
   document's cluster id, the lowest document index of its cluster.

Every step is a function of the documents, the seed and the parameters only (no arrival order,
no Python ``hash``), so the labels equal ``find_clusters(signatures, threshold, bands=...,
rows=..., skip=empty)`` on the whole column in one process, bit for bit (tested). Empty
documents are never paired.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..similarity import FastSimilaritySketch, Shingling, optimal_params
from ..similarity import _kernels as K
from ..similarity.dedup import _candidate_pairs, components


def _signatures(texts: Any, k: int, seed: int, shingling: Shingling, bands: int, rows: int):
    docs = list(texts) if not isinstance(texts, list) else texts
    docs = ["" if d is None else d for d in docs]
    sigs = FastSimilaritySketch.signatures(docs, k, seed=seed, shingling=shingling)
    empty = sigs[:, 0] == K.EMPTY
    return sigs, K.band_keys(sigs, bands, rows), empty


def _split_rows(part: tuple, offset: int, buckets: int) -> list[np.ndarray]:
    """This partition's ``(band, key, document)`` rows (uint64, 3 columns), cut into ``buckets``
    by ``key % buckets``: every row with one (band, key) lands in the same bucket."""
    _, bkeys, empty = part
    bands = bkeys.shape[1]
    live = np.flatnonzero(~empty)
    rows = np.empty((live.size * bands, 3), dtype=np.uint64)
    rows[:, 0] = np.tile(np.arange(bands, dtype=np.uint64), live.size)
    rows[:, 1] = bkeys[live].ravel()
    rows[:, 2] = np.repeat((live + offset).astype(np.uint64), bands)
    which = rows[:, 1] % np.uint64(buckets)
    order = np.argsort(which, kind="stable")
    cuts = np.searchsorted(which[order], np.arange(1, buckets, dtype=np.uint64))
    return np.split(rows[order], cuts)


def _bucket_pairs(max_compare: int, *pieces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs of one bucket: runs of equal (band, key), members in document order,
    paired as in one process."""
    rows = np.concatenate(pieces) if pieces else np.empty((0, 3), np.uint64)
    if rows.shape[0] == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = np.lexsort((rows[:, 2], rows[:, 1], rows[:, 0]))
    r = rows[order]
    run = np.cumsum(np.r_[True, (r[1:, 0] != r[:-1, 0]) | (r[1:, 1] != r[:-1, 1])]).astype(np.uint64)
    left, right = _candidate_pairs(run[:, None], max_compare, np.zeros(r.shape[0], dtype=np.bool_))
    doc = r[:, 2].astype(np.int64)
    a, b = doc[left], doc[right]
    return np.minimum(a, b), np.maximum(a, b)


def _verify(part_a: tuple, part_b: tuple, off_a: int, off_b: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    sa, sb = part_a[0], part_b[0]
    eq = (sa[left - off_a] == sb[right - off_b]).mean(axis=1)
    return eq


def dedup_column(column: Any, threshold: float = 0.8, *, k: int = 128, shingling: Shingling | None = None,
                 seed: int | None = None, bands: int | None = None, rows: int | None = None,
                 weights: tuple[float, float] = (0.1, 0.9), max_compare: int = 16) -> np.ndarray:
    """Cluster id of every document of a Dask Series (or Bag) of strings: the lowest index (in
    column order) of its near-duplicate cluster. Equal to the one-process result bit for bit."""
    import dask

    from ..hashing import DEFAULT_SEED, check_seed

    seed = check_seed(DEFAULT_SEED if seed is None else seed)
    shingling = shingling if shingling is not None else Shingling(n=5, normalize=True)
    if bands is None or rows is None:
        bands, rows = optimal_params(float(threshold), k, *weights)
    parts = column.to_delayed()
    lengths = dask.compute(*[dask.delayed(len)(p) for p in parts])
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    n = int(offsets[-1])
    # computed once and kept on the workers: the shuffle reads their band keys, the verification
    # their signatures
    sig_parts = list(dask.persist(*[dask.delayed(_signatures)(p, k, seed, shingling, bands, rows) for p in parts]))
    # the shuffle: each partition cuts its band rows into buckets by key; bucket j gathers the
    # j-th piece of every partition
    buckets = max(1, len(parts))
    splits = [dask.delayed(_split_rows, nout=buckets)(sp, int(o), buckets) for sp, o in zip(sig_parts, offsets)]
    found = dask.compute(*[dask.delayed(_bucket_pairs)(max_compare, *[sp[j] for sp in splits])
                           for j in range(buckets)])
    left = np.concatenate([f[0] for f in found]) if found else np.empty(0, np.int64)
    right = np.concatenate([f[1] for f in found]) if found else np.empty(0, np.int64)
    if left.size:
        code = np.unique(left * n + right)
        left, right = code // n, code % n
    # verification, one task per pair of signature partitions
    pa = np.searchsorted(offsets, left, side="right") - 1
    pb = np.searchsorted(offsets, right, side="right") - 1
    tasks, sel = [], []
    for a, b in sorted(set(zip(pa.tolist(), pb.tolist()))):
        idx = np.flatnonzero((pa == a) & (pb == b))
        sel.append(idx)
        tasks.append(dask.delayed(_verify)(sig_parts[a], sig_parts[b], int(offsets[a]), int(offsets[b]),
                                           left[idx], right[idx]))
    sims = np.empty(left.size)
    for idx, s in zip(sel, dask.compute(*tasks)):
        sims[idx] = s
    keep = sims >= threshold
    return components(n, left[keep], right[keep])
