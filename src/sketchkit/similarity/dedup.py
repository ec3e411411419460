r"""Near-duplicate clusters of a whole signature matrix at once: band keys, one sort per band,
candidate pairs, verification, union-find. No Python object per document.

1. Band keys: an n × bands uint64 matrix (:func:`~sketchkit.similarity._kernels.band_keys`).
2. Candidates: per band, documents sorted by key (stable, so by index within a key); each
   member of a run of equal keys is paired with each of the run's first ``max_compare``
   members that precede it (bounding the work on huge runs of identical documents to
   ``max_compare`` pairs a member; a member similar to none of those first ones can still join
   through another band).
3. Verification: a candidate pair is kept when its estimated similarity (the share of equal
   signature values) is ≥ threshold, or, given exact shingle sets, when their exact Jaccard is
   (``verify="exact"``); ``verify="hybrid"`` computes the exact Jaccard only for the pairs whose
   estimate lies within ``AMBIGUOUS_SE`` standard errors :math:`\sqrt{t(1-t)/k}` of the
   threshold, where the estimate cannot decide.
4. Clusters: connected components of the kept pairs (union-find), so A~B and B~C put A, B, C
   in one cluster even when A and C are not similar. Each document's cluster id is the lowest
   document index in its cluster (deterministic: the same input gives the same ids).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._jit import njit
from ..errors import InvalidParameterError
from . import _kernels as K
from .lsh import optimal_params

AMBIGUOUS_SE = 3.0  # hybrid verification: exact Jaccard within this many standard errors of t


def ambiguous(estimates: np.ndarray, threshold: float, k: int) -> np.ndarray:
    """Pairs whose estimate is within AMBIGUOUS_SE standard errors of the threshold."""
    return np.abs(estimates - threshold) <= AMBIGUOUS_SE * np.sqrt(threshold * (1.0 - threshold) / k)


@njit(cache=True)
def _candidate_pairs(bkeys, max_compare, skip):
    n, bands = bkeys.shape
    cap = 1024
    left = np.empty(cap, dtype=np.int64)
    right = np.empty(cap, dtype=np.int64)
    m = 0
    for b in range(bands):
        col = bkeys[:, b].copy()
        order = np.argsort(col, kind="mergesort")
        start = 0
        while start < n:
            end = start + 1
            v = col[order[start]]
            while end < n and col[order[end]] == v:
                end += 1
            for p in range(start + 1, end):
                i = order[p]
                if skip[i]:
                    continue
                lim = min(p, start + max_compare)
                for q in range(start, lim):
                    j = order[q]
                    if skip[j]:
                        continue
                    if m == cap:
                        cap *= 2
                        nl = np.empty(cap, dtype=np.int64)
                        nr = np.empty(cap, dtype=np.int64)
                        nl[:m] = left[:m]
                        nr[:m] = right[:m]
                        left, right = nl, nr
                    left[m] = min(i, j)
                    right[m] = max(i, j)
                    m += 1
            start = end
    return left[:m], right[:m]


@njit(cache=True)
def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@njit(cache=True)
def components(n, left, right):
    """Cluster id of each of n nodes given edges: the lowest node index of its component."""
    parent = np.arange(n, dtype=np.int64)
    for e in range(left.shape[0]):
        a = _find(parent, left[e])
        b = _find(parent, right[e])
        if a != b:
            if a < b:
                parent[b] = a
            else:
                parent[a] = b
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        out[i] = _find(parent, i)
    return out


def exact_jaccard_pairs(shingles: np.ndarray, starts: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Exact Jaccard of the shingle-hash sets of documents ``left[i]`` and ``right[i]`` (CSR:
    document d's hashes are ``shingles[starts[d]:starts[d + 1]]``)."""
    out = np.empty(left.shape[0])
    for e, (i, j) in enumerate(zip(left.tolist(), right.tolist())):
        a = np.unique(shingles[starts[i] : starts[i + 1]])
        b = np.unique(shingles[starts[j] : starts[j + 1]])
        union = np.union1d(a, b).size
        out[e] = np.intersect1d(a, b, assume_unique=True).size / union if union else 1.0
    return out


@dataclass
class Clusters:
    """Result of :func:`find_clusters`."""

    labels: np.ndarray  # cluster id of each document: the lowest index in its cluster
    candidate_pairs: int  # distinct pairs sharing a band
    verified_pairs: int  # of those, similar enough
    bands: int
    rows: int

    @property
    def n_duplicates(self) -> int:
        """Documents that are not the representative (lowest index) of their cluster."""
        return int(np.count_nonzero(self.labels != np.arange(self.labels.size)))

    def keep_mask(self) -> np.ndarray:
        """True for each cluster's representative (and every singleton)."""
        return self.labels == np.arange(self.labels.size)


def candidate_pairs(sigs: np.ndarray, bands: int, rows: int, *, skip: np.ndarray | None = None,
                    max_compare: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``(left, right)`` index pairs (left < right) that share a band."""
    bk = K.band_keys(np.ascontiguousarray(sigs, dtype=np.uint32), bands, rows)
    return candidate_pairs_from_keys(bk, skip=skip, max_compare=max_compare)


def candidate_pairs_from_keys(bkeys: np.ndarray, *, skip: np.ndarray | None = None,
                              max_compare: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """:func:`candidate_pairs` from an n × bands matrix of band keys, sorted by (left, right)."""
    n = bkeys.shape[0]
    if skip is None:
        skip = np.zeros(n, dtype=np.bool_)
    left, right = _candidate_pairs(np.ascontiguousarray(bkeys, dtype=np.uint64), max_compare, skip)
    if left.size:
        code = np.unique(left * n + right)
        left, right = code // n, code % n
    return left, right


def find_clusters(sigs: np.ndarray, threshold: float, *, bands: int | None = None, rows: int | None = None,
                  weights: tuple[float, float] = (0.1, 0.9), skip: np.ndarray | None = None,
                  exact: tuple[np.ndarray, np.ndarray] | None = None, verify: str | None = None,
                  max_compare: int = 16) -> Clusters:
    """Near-duplicate clusters of the rows of a signature matrix (n × k uint32).

    ``skip``: documents never paired (empty ones, say); ``exact``: ``(shingles, starts)``, the
    documents' shingle hashes (CSR), for ``verify="exact"`` (the default when given) or
    ``"hybrid"``; without it ``verify`` is ``"signature"``."""
    sigs = np.ascontiguousarray(sigs, dtype=np.uint32)
    verify = verify or ("exact" if exact is not None else "signature")
    if verify not in ("signature", "hybrid", "exact"):
        raise InvalidParameterError(f"verify must be 'signature', 'hybrid' or 'exact', got {verify!r}")
    if verify != "signature" and exact is None:
        raise InvalidParameterError(f"verify={verify!r} needs the shingle sets: exact=(shingles, starts)")
    if bands is None or rows is None:
        bands, rows = optimal_params(float(threshold), sigs.shape[1], *weights)
    left, right = candidate_pairs(sigs, bands, rows, skip=skip, max_compare=max_compare)
    if verify == "exact":
        sims = exact_jaccard_pairs(exact[0], exact[1], left, right)
    else:
        sims = K.equal_fraction_pairs(sigs, left, right)
        if verify == "hybrid":
            near = ambiguous(sims, float(threshold), sigs.shape[1])
            sims[near] = exact_jaccard_pairs(exact[0], exact[1], left[near], right[near])
    keep = sims >= threshold
    labels = components(sigs.shape[0], left[keep], right[keep])
    return Clusters(labels, int(left.size), int(keep.sum()), bands, rows)
