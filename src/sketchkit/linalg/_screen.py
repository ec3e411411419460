"""Exact column defects of a sparse matrix: zero columns and exact copies of another column.

Term-document matrices have both (terms that never occur in a slice of the rows, terms that always occur
together with equal weights). They make ``A`` rank-deficient in a way that needs no numerical rank decision:
setting them aside before any factorization leaves a smaller problem that is often of full rank, so a plain
Cholesky factor serves where a pivoted one (LAPACK ``dpstrf``, level-2 BLAS, about 10x slower at n = 1,000)
would otherwise be needed, and the minimum-norm solution is known in closed form (below).

Detection, in ``O(nnz)``: a column is empty when it holds no non-zero value; every other column gets a
fingerprint, its count of non-zeros and the wrapping 64-bit sum of a hash of each (row, value bits) pair
(:func:`._kernels.column_fingerprints`: integer sums are exact and order-free, so equal columns always share
it), and columns sharing one are compared exactly on their (row, value) pairs. A collision of unequal
columns costs one comparison and merges nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ColumnScreen:
    """``keep`` (ascending) spans the columns; each ``drop[i]`` equals column ``rep[i]`` (a kept column) or is
    zero (``rep[i] == -1``). ``copies[j]`` is how many columns equal kept column ``keep[j]`` (itself included)."""

    keep: np.ndarray
    drop: np.ndarray
    rep: np.ndarray
    copies: np.ndarray

    @property
    def n(self) -> int:
        return self.keep.size + self.drop.size

    def split(self, y: np.ndarray) -> np.ndarray:
        """The minimum-norm ``x`` with ``A x = A_keep y``: each kept coefficient shared equally by its copies,
        zero on empty columns. (The null space of ``A`` is spanned by ``e_i - e_j`` for equal columns ``i, j``
        and ``e_j`` for empty ones when ``A_keep`` has full rank; ``x`` is orthogonal to all of them.)"""
        share = y / self.copies
        x = np.zeros(self.n)
        x[self.keep] = share
        dup = self.rep >= 0
        x[self.drop[dup]] = share[np.searchsorted(self.keep, self.rep[dup])]
        return x


def screen_columns(M) -> ColumnScreen | None:
    """The exact defects of the CSR matrix ``M`` (module docstring); None when it has none."""
    import scipy.sparse as sp

    from . import _kernels as K

    n = M.shape[1]
    data = np.ascontiguousarray(M.data, dtype=np.float64)
    nnz, fp = K.column_fingerprints(M.indptr, M.indices, data.view(np.uint64), n)
    empty = nnz == 0
    cand = np.flatnonzero(~empty)
    order = cand[np.lexsort((fp[cand], nnz[cand]))]
    same = (nnz[order[1:]] == nnz[order[:-1]]) & (fp[order[1:]] == fp[order[:-1]])
    rep = np.full(n, -1, dtype=np.int64)  # for a duplicate: the column it equals
    if same.any():
        in_run = np.zeros(order.size, dtype=bool)
        in_run[1:] |= same
        in_run[:-1] |= same
        cols = np.sort(order[in_run])  # ascending: a group's first column is its representative
        C = sp.csc_matrix(M[:, cols])
        C.eliminate_zeros()
        C.sort_indices()
        first: dict = {}
        for pos, j in enumerate(cols.tolist()):
            s, e = C.indptr[pos], C.indptr[pos + 1]
            rep[j] = first.setdefault((C.indices[s:e].tobytes(), C.data[s:e].tobytes()), j)
        rep[rep == np.arange(n)] = -1
    dropped = empty | (rep >= 0)
    if not dropped.any():
        return None
    keep = np.flatnonzero(~dropped)
    drop = np.flatnonzero(dropped)
    rep_d = np.where(empty[drop], -1, rep[drop])
    copies = np.ones(keep.size, dtype=np.int64)
    np.add.at(copies, np.searchsorted(keep, rep_d[rep_d >= 0]), 1)
    return ColumnScreen(keep, drop, rep_d, copies.astype(np.float64))
