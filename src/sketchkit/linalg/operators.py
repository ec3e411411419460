r"""Random sketching operators :math:`S \in \mathbb{R}^{d\times N}` for tall matrices.

* :class:`SparseSign` with :math:`\zeta` non-zeros :math:`\pm 1/\sqrt{\zeta}` per column (OSNAP,
  Nelson & Nguyễn, FOCS 2013; block construction of Kane & Nelson, JACM 2014). Applied to a dense or
  CSR matrix in :math:`O(\zeta\,\mathrm{nnz}(A))` time with no dense intermediate.
* :class:`CountSketchOperator`: the :math:`\zeta = 1` case (Clarkson & Woodruff, STOC 2013).
* :class:`GaussianSketch`: i.i.d. :math:`N(0, 1/d)` entries, the dense reference, :math:`O(dNk)`.

**Guarantee** (what ``tests/test_linalg_operators.py`` checks). For every operator
:math:`\mathbb{E}\lVert Sx\rVert^2 = \lVert x\rVert^2` (each column of :math:`S` has unit norm and
independent signs). For an orthonormal :math:`U \in \mathbb{R}^{N\times k}` the distortion
:math:`\max_i |\sigma_i(SU) - 1|` of a Gaussian sketch is at most :math:`\sqrt{k/d} + t/\sqrt d` with
probability :math:`1 - 2e^{-t^2/2}` (Davidson–Szarek); the tests check the sparse sign sketch with
:math:`\zeta = 8` against :math:`1.5\sqrt{k/d}`, on incoherent (Haar) and fully coherent
(:math:`U = [I; 0]`) inputs alike (Cohen 2016 proves :math:`d = O(k\log k)` suffices for
:math:`\zeta = O(\log k)`). CountSketch needs :math:`d = O(k^2)` (Nelson & Nguyễn's lower bound is
tight for :math:`\zeta = 1`): on the coherent :math:`U` it collides two rows of opposite sign with
probability :math:`\approx 1 - e^{-k^2/d}` and then :math:`\sigma_{\min}(SU) = 0`, distortion 1.
So :class:`SparseSign` with :math:`\zeta = 8` (Epperly 2023) is the default everywhere in
:mod:`sketchkit.linalg`.

Seeds. The hash key of an operator is ``derive_key(seed, LINALG_DOMAIN, 0)`` with
``LINALG_DOMAIN = 3`` (see :mod:`sketchkit.hashing`): the same ``(seed, d, N, ζ)`` gives the same
operator in every process and on every machine.

>>> import numpy as np
>>> S = SparseSign(64, 1000, nnz_per_col=8, seed=7)
>>> A = np.arange(3000.0).reshape(1000, 3)
>>> SA = S @ A
>>> SA.shape, bool(np.allclose(SA, S.to_sparse() @ A))
((64, 3), True)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from .. import _ids as ids
from .._base import check_positive_int
from ..errors import InvalidItemError, InvalidParameterError, ItemTypeError
from ..hashing import DEFAULT_SEED, check_seed, derive_key
from . import _kernels as K
from ._threads import numba_threads

LINALG_DOMAIN = ids.LINALG_DOMAIN
DEFAULT_NNZ = 8  # Epperly, "Which sketch should I use?" (2023): zeta = 8 is robust and cheap
_GAUSS_BLOCK = 4096
_GEMM_MAX_D = 16  # dense A @ S.T by BLAS while d <= 16 * zeta ...
_GEMM_MIN_WORK = 1 << 20  # ... and the product is big enough to matter

__all__ = [
    "LINALG_DOMAIN",
    "SketchOperator",
    "SparseSign",
    "CountSketchOperator",
    "GaussianSketch",
    "make_operator",
    "as_matrix",
]


def as_matrix(A: Any, name: str = "A") -> np.ndarray | sp.csr_matrix:
    """``A`` as a float64 C-contiguous 2-D array or a float64 CSR matrix (1-D becomes a column)."""
    if sp.issparse(A):
        A = sp.csr_matrix(A)
        if A.dtype != np.float64:
            if not np.issubdtype(A.dtype, np.number) or np.issubdtype(A.dtype, np.complexfloating):
                raise ItemTypeError(f"{name} must hold real numbers, got dtype {A.dtype}")
            A = A.astype(np.float64)
        A.sum_duplicates()
        return A
    arr = np.asarray(A)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ItemTypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ItemTypeError(f"{name} must be real, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise InvalidParameterError(f"{name} must be 1-D or 2-D, got {arr.ndim} dimensions")
    return np.ascontiguousarray(arr, dtype=np.float64)


def check_finite(M: np.ndarray, what: str) -> None:
    """Non-finite entries of the input always reach the (small) sketch, so checking it is enough."""
    if not np.isfinite(M).all():
        raise InvalidItemError(f"{what} contains NaN or infinity")


class SketchOperator:
    """A seeded linear map :math:`S \\in \\mathbb{R}^{d\\times N}` applied without forming it.

    ``S @ A`` (= :meth:`apply`) sketches the rows of an ``N x k`` matrix; :meth:`apply_right`
    computes ``A @ S.T`` for an ``m x N`` matrix (a sketch of its columns, the range finder's
    test matrix); :meth:`transpose_apply` computes ``S.T @ Y``.
    """

    kind = "abstract"

    def __init__(self, d: int, n: int, seed: int = DEFAULT_SEED):
        self.d = check_positive_int("d (sketch size)", d)
        self.n = check_positive_int("n (rows sketched)", n, maximum=(1 << 62))
        self.seed = check_seed(seed)
        self._key = np.uint64(derive_key(self.seed, LINALG_DOMAIN, 0))

    @property
    def shape(self) -> tuple[int, int]:
        return (self.d, self.n)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(d={self.d}, n={self.n}, seed={self.seed})"

    def _check_rows(self, A: Any, axis: int) -> np.ndarray | sp.csr_matrix:
        M = as_matrix(A)
        if M.shape[axis] != self.n:
            raise InvalidParameterError(
                f"operator is {self.d} x {self.n} but the matrix has {M.shape[axis]} "
                f"{'rows' if axis == 0 else 'columns'}"
            )
        return M

    @property
    def nbytes(self) -> int:
        """Bytes of arrays the operator holds between calls (none for a generated-on-the-fly sketch)."""
        return 0

    def __matmul__(self, A: Any) -> np.ndarray:
        out = self.apply(A)
        return out[:, 0] if np.ndim(A) == 1 else out

    def apply(self, A: Any) -> np.ndarray:
        raise NotImplementedError

    def apply_right(self, A: Any) -> np.ndarray:
        raise NotImplementedError

    def transpose_apply(self, Y: Any) -> np.ndarray:
        raise NotImplementedError

    def to_sparse(self) -> sp.csc_matrix:
        raise NotImplementedError

    def as_linear_operator(self) -> LinearOperator:
        """``S`` as a :class:`scipy.sparse.linalg.LinearOperator` (matvec ``S x``, rmatvec ``S.T y``)."""
        return LinearOperator(
            self.shape,
            matvec=lambda x: self.apply(np.asarray(x).reshape(self.n, -1)),
            rmatvec=lambda y: self.transpose_apply(np.asarray(y).reshape(self.d, -1)),
            matmat=lambda X: self.apply(X),
            rmatmat=lambda Y: self.transpose_apply(Y),
            dtype=np.float64,
        )


class SparseSign(SketchOperator):
    """Sparse sign embedding (OSNAP): ``nnz_per_col`` entries ±1/√ζ per column, one per block.

    ``d`` must be at least ``nnz_per_col``. Applying costs :math:`O(\\zeta\\,\\mathrm{nnz}(A))`.
    """

    kind = "sparse_sign"

    def __init__(self, d: int, n: int, nnz_per_col: int = DEFAULT_NNZ, seed: int = DEFAULT_SEED):
        super().__init__(d, n, seed)
        self.nnz_per_col = check_positive_int("nnz_per_col", nnz_per_col, maximum=1 << 16)
        if self.nnz_per_col > self.d:
            raise InvalidParameterError(f"nnz_per_col={self.nnz_per_col} exceeds the sketch size d={self.d}")
        if self.d > np.iinfo(np.int32).max:
            raise InvalidParameterError(f"sketch size d={self.d} exceeds 2**31 - 1")
        self._scale = 1.0 / math.sqrt(self.nnz_per_col)
        self._code: np.ndarray | None = None

    @property
    def code(self) -> np.ndarray:
        """The ``(N, nnz_per_col)`` int32 position codes (``bucket``, or ``~bucket`` for sign -1).

        Hashed once, on first use, and kept: every apply reads them, so ``A @ S.T`` for an ``m x N``
        matrix costs ``N * nnz_per_col`` hash evaluations, not ``m`` times that.
        """
        if self._code is None:
            self._code = K.codes(self._key, self.n, self.nnz_per_col, self.d)
        return self._code

    @property
    def nbytes(self) -> int:
        """Bytes held: the cached position codes (``4 * N * nnz_per_col`` once built, else 0)."""
        return 0 if self._code is None else int(self._code.nbytes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(d={self.d}, n={self.n}, nnz_per_col={self.nnz_per_col}, seed={self.seed})"

    def _bounds(self) -> np.ndarray:
        parts = max(1, min(numba_threads(), self.n // 4096 + 1))
        return np.linspace(0, self.n, parts + 1).astype(np.int64)

    def apply(self, A: Any, row_weights: np.ndarray | None = None) -> np.ndarray:
        """``S @ A`` (or ``S @ diag(row_weights) @ A``, dense A only) for an ``N x k`` dense array or
        scipy sparse matrix; returns a dense ``d x k``."""
        M = self._check_rows(A, 0)
        if row_weights is not None:
            if sp.issparse(M):
                M = sp.csr_matrix(sp.diags(row_weights) @ M)
            else:
                w = np.ascontiguousarray(row_weights, dtype=np.float64)
                kernel = K.pick("apply_rows_dense", M.size * self.nnz_per_col)
                return kernel(self.code, M, w, self.d, self._scale, self._bounds())
        if sp.issparse(M):
            # column by column (CSC): each output column is built in cache; returned as the
            # transpose of the k x d result (Fortran order, what LAPACK's QR wants anyway)
            C = sp.csc_matrix(M)
            C.sort_indices()
            return K.pick("apply_cols_csc", C.nnz * self.nnz_per_col)(
                self.code, C.indptr, C.indices, C.data, C.shape[1], self.d, self._scale,
            ).T
        kernel = K.pick("apply_rows_dense", M.size * self.nnz_per_col)
        return kernel(self.code, M, np.ones(self.n), self.d, self._scale, self._bounds())

    def apply_right(self, A: Any) -> np.ndarray:
        """``A @ S.T`` for an ``m x N`` dense array or scipy sparse matrix; returns a dense ``m x d``."""
        M = self._check_rows(A, 1)
        if sp.issparse(M):
            return K.pick("apply_right_csr", M.nnz * self.nnz_per_col)(
                self.code, M.indptr, M.indices, M.data, M.shape[0], self.d, self._scale,
            )
        work = M.size * self.nnz_per_col
        if self.d <= _GEMM_MAX_D * self.nnz_per_col and work >= _GEMM_MIN_WORK:
            # a BLAS product with the explicit N x d matrix S.T does m N d multiply-adds at ~15x the
            # rate of the m N zeta scattered adds (measured, one thread): cheaper while d <= 16 zeta
            return M @ self.dense_transpose()
        return K.pick("apply_right_dense", work)(self.code, M, self.d, self._scale)

    def dense_transpose(self) -> np.ndarray:
        """``S.T`` as a dense ``N x d`` array (built from the cached codes, not kept)."""
        rows, signs = K.positions(self.code)
        out = np.zeros((self.n, self.d))
        out[np.repeat(np.arange(self.n), self.nnz_per_col), rows.ravel()] = signs.ravel() * self._scale
        return out

    def transpose_apply(self, Y: Any) -> np.ndarray:
        """``S.T @ Y`` for a dense ``d x k`` array; returns ``N x k``."""
        M = as_matrix(Y, "Y")
        if M.shape[0] != self.d:
            raise InvalidParameterError(f"operator is {self.d} x {self.n} but Y has {M.shape[0]} rows")
        kernel = K.pick("apply_transpose", self.n * M.shape[1] * self.nnz_per_col)
        return kernel(self.code, M, self._scale)

    def to_sparse(self) -> sp.csc_matrix:
        """The explicit ``d x N`` matrix (CSC, ``nnz_per_col`` entries per column)."""
        rows, signs = K.positions(self.code)
        indptr = np.arange(0, self.n * self.nnz_per_col + 1, self.nnz_per_col)
        return sp.csc_matrix((signs.ravel() * self._scale, rows.ravel(), indptr), shape=self.shape)


class CountSketchOperator(SparseSign):
    """CountSketch as a linear map (Clarkson & Woodruff 2013): one ±1 per column.

    Cheapest to apply, but needs :math:`d = O(k^2)` rows on coherent inputs (see module docstring).
    """

    kind = "countsketch"

    def __init__(self, d: int, n: int, seed: int = DEFAULT_SEED):
        super().__init__(d, n, nnz_per_col=1, seed=seed)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(d={self.d}, n={self.n}, seed={self.seed})"


class GaussianSketch(SketchOperator):
    """Dense Gaussian sketch with :math:`N(0, 1/d)` entries generated from the hashed seed.

    The reference embedding (rotation invariant, no coherence issue); costs :math:`O(dNk)`.
    """

    kind = "gaussian"

    def _block(self, start: int, stop: int) -> np.ndarray:
        return K.gaussian_block(self._key, start, stop - start, self.d) / math.sqrt(self.d)

    def apply(self, A: Any) -> np.ndarray:
        M = self._check_rows(A, 0)
        out = np.zeros((self.d, M.shape[1]))
        for s in range(0, self.n, _GAUSS_BLOCK):
            e = min(self.n, s + _GAUSS_BLOCK)
            out += self._block(s, e) @ M[s:e]
        return np.asarray(out)

    def apply_right(self, A: Any) -> np.ndarray:
        M = self._check_rows(A, 1)
        out = np.zeros((M.shape[0], self.d))
        for s in range(0, self.n, _GAUSS_BLOCK):
            e = min(self.n, s + _GAUSS_BLOCK)
            out += np.asarray(M[:, s:e] @ self._block(s, e).T)
        return out

    def transpose_apply(self, Y: Any) -> np.ndarray:
        M = as_matrix(Y, "Y")
        if M.shape[0] != self.d:
            raise InvalidParameterError(f"operator is {self.d} x {self.n} but Y has {M.shape[0]} rows")
        starts = range(0, self.n, _GAUSS_BLOCK)
        return np.vstack([self._block(s, min(self.n, s + _GAUSS_BLOCK)).T @ M for s in starts])

    def to_sparse(self) -> sp.csc_matrix:
        starts = range(0, self.n, _GAUSS_BLOCK)
        return sp.csc_matrix(np.hstack([self._block(s, min(self.n, s + _GAUSS_BLOCK)) for s in starts]))


def make_operator(
    kind: str, d: int, n: int, *, nnz_per_col: int = DEFAULT_NNZ, seed: int = DEFAULT_SEED
) -> SketchOperator:
    """Build an operator by name: ``"sparse_sign"`` (default elsewhere), ``"countsketch"``, ``"gaussian"``."""
    if kind == "sparse_sign":
        return SparseSign(d, n, nnz_per_col=nnz_per_col, seed=seed)
    if kind == "countsketch":
        return CountSketchOperator(d, n, seed=seed)
    if kind == "gaussian":
        return GaussianSketch(d, n, seed=seed)
    raise InvalidParameterError(f"unknown sketch kind {kind!r}: use 'sparse_sign', 'countsketch' or 'gaussian'")
