r"""Learned CountSketch matrices for low-rank approximation (Indyk, Vakilian & Yuan, NeurIPS 2019).

A CountSketch matrix :math:`S \in \mathbb{R}^{m\times n}` has one non-zero per column: row ``i`` of
``A`` (n x d) is added, times ``values[i]``, to sketch row ``positions[i]``. From :math:`SA` the rank-k
approximation is the best rank-k matrix whose rows lie in :math:`\mathrm{rowspace}(SA)`:
:math:`\tilde A = [AV]_kV^T` with :math:`V` an orthonormal basis of :math:`\mathrm{rowspace}(SA)`
(Clarkson & Woodruff 2009, the "SCW" estimator of the paper).

:meth:`LearnedSketchingMatrix.fit` learns from training matrices of one family:

* positions: the ``heavy`` rows (``heavy > 0``) with the largest mean squared norm on the training set
  each get a sketch row of their own; the others are hashed (domain 3 of :mod:`sketchkit.hashing`) into
  the remaining rows. With ``positions="greedy"`` (the greedy position search of Li, Lin, Liu, Sheng &
  Xu, "Learning the positions in CountSketch", ICLR 2023) the hashed rows are then visited once,
  heaviest first, and each is moved to the shared bucket that minimises the training loss below (its
  current bucket included, so the training loss never increases; ``n·(m − heavy)`` evaluations of the
  loss, each an SVD of the ``m x d`` sketch per training matrix; numpy only);
* values (``epochs > 0``): by gradient descent (Adam) on the mean of :math:`\lVert A - \tilde
  A\rVert_F / \lVert A\rVert_F` over the training matrices, keeping the best values seen (needs torch,
  the ``[torch]`` extra; torch is imported only inside :meth:`fit`). ``epochs=0`` keeps the ±1 values.
  The loss is computed as :math:`(1 - \sum_{i\le k}\lambda_i)^{1/2}` from the eigenvalues of
  :math:`(AV)^T AV` (Cholesky of :math:`SA(SA)^T`, ``eigvalsh``), not through an SVD, so its gradient
  stays finite at repeated singular values (the SVD route stopped at the first step at k = 10 on digits).

``random_rows > 0`` appends an ordinary random CountSketch of that many rows (the paper's mixed sketch).
**Guarantee** (deterministic, checked in ``tests/test_linalg_learned.py``): because the
estimator's error can only shrink when the row space grows, a mixed sketch's error on *any* matrix is
at most that of its random part alone, so the worst-case guarantee of a random CountSketch of
``random_rows`` rows (Clarkson & Woodruff 2013: :math:`(1+\varepsilon)`-optimal with constant
probability for ``random_rows`` :math:`= O(k^2/\varepsilon^2)`) carries over whatever was learned.
The family-specific gain is measured, not promised: see docs/benchmarks/linalg.md.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> A = rng.standard_normal((500, 6)) @ rng.standard_normal((6, 30))   # rank 6
>>> sk = LearnedSketchingMatrix.random(m=12, n=500, seed=1)
>>> bool(np.linalg.norm(A - sk.low_rank(A, 6)) < 1e-9 * np.linalg.norm(A))
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._base import check_positive_int
from ..errors import InvalidParameterError
from ..hashing import DEFAULT_SEED
from .operators import CountSketchOperator, as_matrix, check_finite

__all__ = ["LearnedSketchingMatrix", "rowspace_basis", "rowspace_low_rank"]


def rowspace_basis(SA: np.ndarray) -> np.ndarray:
    """Orthonormal basis (d x r) of the row space of ``SA``, r its numerical rank.

    From the SVD, not a QR of ``SA.T``: a QR returns m columns whatever the rank, and the columns for
    an empty or dependent sketch row would be directions the sketch never saw.
    """
    _, s, Vt = np.linalg.svd(SA, full_matrices=False)
    r = int(np.sum(s > max(SA.shape) * np.finfo(np.float64).eps * (s[0] if s.size else 0.0)))
    return Vt[:r].T


def rowspace_low_rank(A: np.ndarray, SA: np.ndarray, k: int) -> np.ndarray:
    """Best rank-``k`` approximation of ``A`` with rows in the row space of ``SA`` (the SCW estimator)."""
    V = rowspace_basis(SA)
    AV = A @ V
    U, s, Wt = np.linalg.svd(AV, full_matrices=False)
    return (U[:, :k] * s[:k]) @ (Wt[:k] @ V.T)


class LearnedSketchingMatrix:
    """A CountSketch matrix with given (learned) positions and values, plus an optional random part."""

    def __init__(self, positions: np.ndarray, values: np.ndarray, m: int, *, random_rows: int = 0,
                 seed: int = DEFAULT_SEED):
        self.positions = np.asarray(positions, dtype=np.int64)
        self.values = np.asarray(values, dtype=np.float64)
        self.m = check_positive_int("m", m)
        self.n = self.positions.shape[0]
        if self.values.shape != self.positions.shape or self.positions.ndim != 1:
            raise InvalidParameterError("positions and values must be 1-D arrays of the same length")
        if self.n and (self.positions.min() < 0 or self.positions.max() >= self.m):
            raise InvalidParameterError(f"positions must lie in [0, {self.m})")
        self.random_rows = int(random_rows)
        self.seed = seed
        self._random = CountSketchOperator(self.random_rows, self.n, seed=seed) if self.random_rows else None

    @classmethod
    def random(cls, m: int, n: int, *, seed: int = DEFAULT_SEED) -> LearnedSketchingMatrix:
        """An ordinary random CountSketch (hash domain 3), the baseline learned sketches are compared with."""
        S = CountSketchOperator(m, n, seed=seed).to_sparse().tocsc()
        return cls(S.indices.copy(), S.data.copy(), m)

    @property
    def rows(self) -> int:
        return self.m + self.random_rows

    def matrix(self) -> sp.csr_matrix:
        """The explicit (m + random_rows) x n sketch matrix."""
        L = sp.csr_matrix((self.values, (self.positions, np.arange(self.n))), shape=(self.m, self.n))
        if self._random is None:
            return L
        return sp.csr_matrix(sp.vstack([L, self._random.to_sparse()]))

    def sketch(self, A: Any) -> np.ndarray:
        M = as_matrix(A)
        if M.shape[0] != self.n:
            raise InvalidParameterError(f"sketch has {self.n} columns but A has {M.shape[0]} rows")
        SA = np.asarray(self.matrix() @ M)
        check_finite(SA, "A")
        return SA

    def low_rank(self, A: Any, k: int) -> np.ndarray:
        """Rank-``k`` approximation of ``A`` from this sketch (:func:`rowspace_low_rank`)."""
        k = check_positive_int("k", k)
        M = as_matrix(A)
        SA = self.sketch(M)
        if k > min(SA.shape):
            raise InvalidParameterError(f"k = {k} exceeds the sketch's rank bound {min(SA.shape)}")
        return rowspace_low_rank(M, SA, k)

    def error(self, A: Any, k: int) -> float:
        """:math:`\\lVert A - \\tilde A\\rVert_F`."""
        M = as_matrix(A)
        return float(np.linalg.norm(M - self.low_rank(M, k)))

    @classmethod
    def fit(
        cls,
        train: Sequence[Any],
        m: int,
        k: int,
        *,
        heavy: int | None = None,  # default 0: values only, as in Indyk et al.
        positions: str = "hashed",
        random_rows: int = 0,
        epochs: int = 150,
        lr: float = 0.05,
        seed: int = DEFAULT_SEED,
    ) -> LearnedSketchingMatrix:
        """Learn positions (heavy rows first; ``positions`` ``"hashed"`` or ``"greedy"``) and values
        (``epochs`` > 0, needs torch) on ``train`` (list of n x d arrays)."""
        if positions not in ("hashed", "greedy"):
            raise InvalidParameterError(f"positions must be 'hashed' or 'greedy', got {positions!r}")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise InvalidParameterError(f"epochs must be an int >= 0, got {epochs!r}")
        torch = None
        if epochs > 0:
            try:
                import torch
            except ImportError as exc:  # pragma: no cover - only without the extra
                raise ImportError("LearnedSketchingMatrix.fit needs torch: pip install 'sketchkit[torch]'") from exc
        mats = [as_matrix(A) for A in train]
        if not mats:
            raise InvalidParameterError("train must hold at least one matrix")
        n = mats[0].shape[0]
        if any(M.shape[0] != n for M in mats):
            raise InvalidParameterError("all training matrices must have the same number of rows")
        for M in mats:
            check_finite(M, "a training matrix")
        m = check_positive_int("m", m)
        k = check_positive_int("k", k)
        if k > m:
            raise InvalidParameterError(f"k = {k} exceeds the sketch size m = {m}")
        heavy = 0 if heavy is None else int(heavy)
        if not 0 <= heavy < m:
            raise InvalidParameterError(f"heavy must be in [0, m), got {heavy}")

        # positions: the heaviest rows get a bucket each, the rest are hashed into the others
        weight = sum(np.einsum("ij,ij->i", M, M) / max(float(np.sum(M * M)), 1e-300) for M in mats)
        order = np.argsort(-weight, kind="stable")
        base = CountSketchOperator(m - heavy, n, seed=seed).to_sparse().tocsc()
        pos = heavy + base.indices.astype(np.int64)
        values = base.data.copy()
        pos[order[:heavy]] = np.arange(heavy)
        values[order[:heavy]] = 1.0
        if positions == "greedy":
            pos = _greedy_positions(mats, pos, values, m, k, heavy, order[heavy:])
        if torch is None:
            return cls(pos, values, m, random_rows=random_rows, seed=seed)

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny matrices: extra intra-op threads only add waiting
        try:
            vals = _train_values(torch, mats, pos, values, m, k, int(epochs), lr)
        finally:
            torch.set_num_threads(threads)
        return cls(pos, vals, m, random_rows=random_rows, seed=seed)


def training_loss(mats: Sequence[np.ndarray], SAs: Sequence[np.ndarray], k: int) -> float:
    """Mean over the training matrices of ``‖A − Ã‖_F / ‖A‖_F`` for sketches ``SAs[i] = S @ mats[i]``.

    From the Gram matrix ``AᵀA`` (d x d): ``‖A − [AV]_kVᵀ‖_F² = ‖A‖_F² − (sum of the k largest
    eigenvalues of VᵀAᵀAV)``, V the row-space basis of the sketch (:func:`rowspace_basis`).
    """
    return _loss([A.T @ A for A in mats], SAs, k)


def _loss(grams: Sequence[np.ndarray], SAs: Sequence[np.ndarray], k: int) -> float:
    total = 0.0
    for G, SA in zip(grams, SAs):
        V = rowspace_basis(SA)
        sq = float(np.trace(G))
        captured = float(np.sum(np.linalg.eigvalsh(V.T @ G @ V)[-k:])) if V.shape[1] else 0.0
        total += math.sqrt(max(sq - captured, 0.0) / max(sq, 1e-300))
    return total / len(SAs)


def _greedy_positions(mats: list[np.ndarray], positions: np.ndarray, values: np.ndarray, m: int, k: int,
                      first: int, order: np.ndarray) -> np.ndarray:
    """One greedy sweep (Li et al. 2023): each row of ``order`` in turn moves to the bucket in
    ``[first, m)`` with the smallest :func:`training_loss`, its current bucket among the candidates."""
    pos = positions.copy()
    grams = [A.T @ A for A in mats]
    SAs = []
    for A in mats:
        SA = np.zeros((m, A.shape[1]))
        np.add.at(SA, pos, values[:, None] * A)
        SAs.append(SA)
    for i in order:
        rows = [values[i] * A[i] for A in mats]
        best, best_j = math.inf, int(pos[i])
        for j in range(first, m):
            moved = []
            for SA, r in zip(SAs, rows):
                SA2 = SA.copy()
                SA2[pos[i]] -= r
                SA2[j] += r
                moved.append(SA2)
            loss = _loss(grams, moved, k)
            if loss < best or (loss == best and j == pos[i]):
                best, best_j = loss, j
        if best_j != pos[i]:
            for SA, r in zip(SAs, rows):
                SA[pos[i]] -= r
                SA[best_j] += r
            pos[i] = best_j
    return pos


def _train_values(torch: Any, mats: list[np.ndarray], positions: np.ndarray, values: np.ndarray, m: int, k: int,
                  epochs: int, lr: float) -> np.ndarray:
    """Adam on the mean relative error of the SCW estimator over the training matrices."""
    torch_mats = [torch.from_numpy(M / max(np.linalg.norm(M), 1e-300)) for M in mats]
    pos_t = torch.from_numpy(positions)
    vals = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([vals], lr=lr)
    best, best_vals = math.inf, values.copy()
    for _ in range(epochs):
        opt.zero_grad()
        loss = 0.0
        for M in torch_mats:
            SA = torch.zeros((m, M.shape[1]), dtype=torch.float64).index_add(0, pos_t, vals[:, None] * M)
            # ||M - [MV]_k V^T||_F^2 = ||M||^2 - (sum of the k largest eigenvalues of (MV)^T MV), with
            # V V^T = SA^T (SA SA^T)^-1 SA: eigenvalues only, whose gradient stays finite where the SVD's
            # (1 / (s_i^2 - s_j^2) terms) is infinite at repeated singular values
            G = SA @ SA.T
            G = G + (1e-10 * torch.trace(G).detach() / m + 1e-300) * torch.eye(m, dtype=torch.float64)
            B = torch.linalg.solve_triangular(torch.linalg.cholesky(G), SA @ M.T, upper=False)
            captured = torch.linalg.eigvalsh(B @ B.T)[-k:].sum()
            loss = loss + torch.sqrt(torch.clamp(1.0 - captured, min=1e-30))  # ||M||_F = 1
        loss = loss / len(torch_mats)
        value = float(loss.detach())
        if not math.isfinite(value):
            break  # keep the best values seen
        if value < best:
            best, best_vals = value, vals.detach().numpy().copy()
        loss.backward()
        if not bool(torch.isfinite(vals.grad).all()):
            break
        opt.step()
    return best_vals
