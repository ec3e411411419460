"""Sketching operators: the frozen hash spec, apply paths against the explicit matrix, embedding quality."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("scipy")
import scipy.sparse as sp  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sketchkit.errors import InvalidParameterError, ItemTypeError, SketchError  # noqa: E402
from sketchkit.hashing import GOLDEN, MASK64, derive_key, mix64  # noqa: E402
from sketchkit.linalg import (  # noqa: E402
    LINALG_DOMAIN,
    CountSketchOperator,
    GaussianSketch,
    SparseSign,
    make_operator,
)


def spec_positions(seed, n, zeta, d):
    """The position spec of the module docstring, in plain Python."""
    key = derive_key(seed, LINALG_DOMAIN, 0)
    out = []
    for i in range(n):
        col = []
        for j in range(zeta):
            h = mix64((key + GOLDEN * (i * zeta + j + 1)) & MASK64)
            lo, hi = j * d // zeta, (j + 1) * d // zeta
            col.append((lo + ((h >> 32) * (hi - lo) >> 32), 1.0 if h & 1 else -1.0))
        out.append(col)
    return out


def test_domain_is_three():
    assert LINALG_DOMAIN == 3


def test_golden_positions_seed_1729():
    S = SparseSign(16, 4, nnz_per_col=2, seed=1729).to_sparse().tocsc()
    assert S.indices.reshape(4, 2).tolist() == [[4, 15], [6, 13], [1, 15], [4, 13]]
    assert np.sign(S.data).reshape(4, 2).tolist() == [[-1, 1], [-1, 1], [-1, 1], [1, -1]]


@pytest.mark.parametrize("zeta,d", [(1, 7), (3, 10), (8, 64), (5, 5)])
def test_kernel_matches_python_spec(zeta, d):
    S = SparseSign(d, 300, nnz_per_col=zeta, seed=99).to_sparse().tocsc()
    spec = spec_positions(99, 300, zeta, d)
    assert S.indices.reshape(300, zeta).tolist() == [[b for b, _ in col] for col in spec]
    signs = np.array([[s for _, s in col] for col in spec])
    np.testing.assert_array_equal(S.data.reshape(300, zeta), signs / math.sqrt(zeta))


def test_columns_have_distinct_positions_and_unit_norm():
    S = SparseSign(40, 500, nnz_per_col=8, seed=3).to_sparse().tocsc()
    for i in range(500):
        rows = S.indices[S.indptr[i]:S.indptr[i + 1]]
        assert len(set(rows.tolist())) == 8
    np.testing.assert_allclose(sp.linalg.norm(S, axis=0), 1.0)


def test_reproducible_and_seed_dependent():
    a = SparseSign(50, 200, seed=5).to_sparse()
    b = SparseSign(50, 200, seed=5).to_sparse()
    c = SparseSign(50, 200, seed=6).to_sparse()
    assert (a != b).nnz == 0
    assert (a != c).nnz > 0
    g1 = GaussianSketch(20, 100, seed=5).to_sparse().toarray()
    np.testing.assert_array_equal(g1, GaussianSketch(20, 100, seed=5).to_sparse().toarray())


@pytest.mark.parametrize("kind", ["sparse_sign", "countsketch", "gaussian"])
def test_apply_paths_match_explicit_matrix(kind):
    rng = np.random.default_rng(0)
    S = make_operator(kind, 37, 900, seed=11)
    Sx = S.to_sparse().toarray()
    A = rng.standard_normal((900, 6))
    As = sp.random(900, 6, density=0.1, random_state=1, format="csr")
    np.testing.assert_allclose(S @ A, Sx @ A, atol=1e-12)
    np.testing.assert_allclose(S @ A[:, 0], Sx @ A[:, 0], atol=1e-12)
    np.testing.assert_allclose(S @ As, Sx @ As.toarray(), atol=1e-12)
    np.testing.assert_allclose(S @ As.tocoo(), Sx @ As.toarray(), atol=1e-12)  # other formats go via CSR
    np.testing.assert_allclose(S @ np.asfortranarray(A), Sx @ A, atol=1e-12)
    np.testing.assert_allclose(S.apply_right(A.T), A.T @ Sx.T, atol=1e-12)
    np.testing.assert_allclose(S.apply_right(sp.csr_matrix(As.T)), As.T.toarray() @ Sx.T, atol=1e-12)
    Y = rng.standard_normal((37, 3))
    np.testing.assert_allclose(S.transpose_apply(Y), Sx.T @ Y, atol=1e-12)
    L = S.as_linear_operator()
    np.testing.assert_allclose(L.matvec(A[:, 1]), Sx @ A[:, 1], atol=1e-12)
    np.testing.assert_allclose(L.rmatvec(Y[:, 0]), Sx.T @ Y[:, 0], atol=1e-12)


def test_parallel_and_serial_builds_agree(monkeypatch):
    from sketchkit.linalg import _threads

    rng = np.random.default_rng(1)
    A = rng.standard_normal((5000, 4))
    S = SparseSign(64, 5000, seed=2)
    serial = S @ A
    monkeypatch.setattr(_threads, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(_threads, "numba_threads", lambda: 2)
    np.testing.assert_array_equal(S @ A, serial)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 60), st.integers(1, 8), st.integers(1, 4), st.integers(0, 2**64 - 1), st.floats(-3, 3))
def test_linear_and_dense_sparse_agree(n, zeta, k, seed, alpha):
    d = zeta + 3
    rng = np.random.default_rng(n)
    X, Z = rng.standard_normal((n, k)), rng.standard_normal((n, k))
    X[rng.random((n, k)) < 0.5] = 0.0
    S = SparseSign(d, n, nnz_per_col=zeta, seed=seed)
    np.testing.assert_allclose(S @ (alpha * X + Z), alpha * (S @ X) + S @ Z, atol=1e-10)
    np.testing.assert_allclose(S @ sp.csr_matrix(X), S @ X, atol=1e-12)


def mean_norm_ratio_off(apply) -> bool:
    """E||Sx||^2 = ||x||^2; Var(||Sx||^2 / ||x||^2) <= 2/d, so the mean over 1000 seeds has
    sd <= 0.0063: True when it is more than 0.02 from 1. ``apply(seed, x)`` is S @ x."""
    x = np.random.default_rng(4).standard_normal(400)
    ratios = [np.sum(apply(s, x) ** 2) / np.sum(x**2) for s in range(1000)]
    return abs(np.mean(ratios) - 1.0) > 0.02


@pytest.mark.parametrize("kind", ["sparse_sign", "countsketch", "gaussian"])
def test_norm_is_preserved_in_expectation(kind):
    assert not mean_norm_ratio_off(lambda s, x: make_operator(kind, 50, 400, seed=s) @ x)


def test_the_norm_check_fails_on_a_mis_scaled_operator():
    """Entries 5% too large (a normalisation off by 1.05) are reported."""
    assert mean_norm_ratio_off(lambda s, x: 1.05 * (make_operator("sparse_sign", 50, 400, seed=s) @ x))


def distortion(S, U):
    sv = np.linalg.svd(S @ U, compute_uv=False)
    return float(np.max(np.abs(sv - 1.0)))


def test_coherent_matrix_breaks_countsketch_not_sparse_sign():
    N, k = 4000, 50
    coherent = np.zeros((N, k))
    coherent[:k] = np.eye(k)
    haar, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((N, k)))
    for d in (400, 1600):
        bound = 1.5 * math.sqrt(k / d)
        for seed in range(3):
            assert distortion(SparseSign(d, N, seed=seed), coherent) <= bound
            assert distortion(SparseSign(d, N, seed=seed), haar) <= bound
            assert distortion(CountSketchOperator(d, N, seed=seed), haar) <= bound
    # Davidson-Szarek: sqrt(k/d) + t/sqrt(d) with t = 3 fails with probability 2e^{-4.5} < 0.03
    assert distortion(GaussianSketch(400, N, seed=1), haar) <= math.sqrt(k / 400) + 3 / math.sqrt(400)
    # CountSketch on [I; 0]: two unit rows sharing a bucket make two columns of SU parallel, so
    # sigma_min = 0 and the distortion is 1; that happens with probability 1 - prod(1 - i/d).
    for d, seeds in ((400, 10), (1600, 60)):
        p_fail = 1 - math.prod(1 - i / d for i in range(k))
        fails = sum(distortion(CountSketchOperator(d, N, seed=s), coherent) >= 0.999 for s in range(seeds))
        sd = math.sqrt(seeds * p_fail * (1 - p_fail))
        assert abs(fails - seeds * p_fail) <= 4 * sd + 1
    assert p_fail > 0.5  # even at d = 32 k, CountSketch fails on most seeds


def test_bad_parameters_and_inputs():
    with pytest.raises(InvalidParameterError):
        SparseSign(4, 10, nnz_per_col=8)
    with pytest.raises(InvalidParameterError):
        SparseSign(0, 10)
    with pytest.raises(InvalidParameterError):
        SparseSign(4, 10, seed=-1)
    with pytest.raises(InvalidParameterError):
        make_operator("fourier", 4, 10)
    S = SparseSign(8, 10)
    with pytest.raises(InvalidParameterError, match="11 rows"):
        S @ np.ones((11, 2))
    with pytest.raises(ItemTypeError):
        S @ np.array(["a"] * 10)
    with pytest.raises(ItemTypeError):
        S @ (np.ones(10) * 1j)
    with pytest.raises(InvalidParameterError):
        S @ np.ones((10, 2, 2))
    with pytest.raises(SketchError):
        S.transpose_apply(np.ones((3, 1)))


# ------------------------------------------------------------ hash once per operator (issue #17)
def _old_formula_right(seed, A, zeta, d, csr):
    """``A @ S.T`` as the kernels computed it before the positions were cached: the hash of column c
    evaluated again for every row (and every non-zero), same loop order, same arithmetic."""
    spec = spec_positions(seed, A.shape[1], zeta, d)
    scale = 1.0 / math.sqrt(zeta)
    out = np.zeros((A.shape[0], d))
    for r in range(A.shape[0]):
        cols = A.indices[A.indptr[r]:A.indptr[r + 1]] if csr else range(A.shape[1])
        vals = A.data[A.indptr[r]:A.indptr[r + 1]] if csr else A[r]
        for c, a in zip(cols, vals):
            v = a * scale
            for b, s in spec[c]:
                out[r, b] += s * v
    return out


def _old_formula_rows(seed, A, w, zeta, d):
    """``S @ diag(w) @ A`` with the old per-row formula (one part: fewer than 4096 rows)."""
    spec = spec_positions(seed, A.shape[0], zeta, d)
    scale = 1.0 / math.sqrt(zeta)
    out = np.zeros((d, A.shape[1]))
    for i in range(A.shape[0]):
        for b, s in spec[i]:
            s *= scale * w[i]
            for c in range(A.shape[1]):
                out[b, c] += s * A[i, c]
    return out


@pytest.mark.parametrize("zeta,d", [(1, 5), (3, 11), (8, 20)])
def test_cached_positions_are_bit_identical_to_the_old_formula(zeta, d):
    rng = np.random.default_rng(zeta)
    A = rng.standard_normal((9, 60))
    A[rng.random(A.shape) < 0.6] = 0.0
    S = SparseSign(d, 60, nnz_per_col=zeta, seed=1234)
    np.testing.assert_array_equal(S.apply_right(A), _old_formula_right(1234, A, zeta, d, csr=False))
    C = sp.csr_matrix(A)
    np.testing.assert_array_equal(S.apply_right(C), _old_formula_right(1234, C, zeta, d, csr=True))
    B = rng.standard_normal((60, 4))
    w = rng.random(60)
    np.testing.assert_array_equal(S.apply(B, row_weights=w), _old_formula_rows(1234, B, w, zeta, d))
    np.testing.assert_array_equal(S @ B, _old_formula_rows(1234, B, np.ones(60), zeta, d))


def test_the_bit_identity_check_fails_on_a_wrong_sign():
    """The reference above is sharp: one flipped sign in the cached codes is detected."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 30))
    S = SparseSign(11, 30, nnz_per_col=3, seed=1234)
    S.code[7, 1] = ~S.code[7, 1]
    assert not np.array_equal(S.apply_right(A), _old_formula_right(1234, A, 3, 11, csr=False))


def test_hash_is_evaluated_once_per_column_and_position(monkeypatch):
    """Every apply path of one operator reads the same cached codes: N * zeta hash evaluations in
    all, whatever the number of rows of the matrices it is applied to."""
    from sketchkit.linalg import _kernels as K

    evaluations = []
    real = K.codes

    def counting(key, n, zeta, d):
        evaluations.append(n * zeta)
        return real(key, n, zeta, d)

    monkeypatch.setattr(K, "codes", counting)
    m, N, zeta, d = 500, 200, 8, 24
    S = SparseSign(d, N, nnz_per_col=zeta, seed=5)
    assert S.nbytes == 0  # nothing hashed or held before first use
    rng = np.random.default_rng(2)
    A = rng.standard_normal((m, N))
    S.apply_right(A)
    S.apply_right(sp.csr_matrix(A))
    S.apply(A.T.copy())
    S.apply(sp.csr_matrix(A.T))
    S.transpose_apply(rng.standard_normal((d, 3)))
    S.to_sparse()
    assert evaluations == [N * zeta]
    assert S.nbytes == S.code.nbytes == 4 * N * zeta


def test_blas_path_of_apply_right_matches_the_kernel():
    """Large dense inputs with d <= 16 zeta go through A @ S.T by BLAS: same matrix as the kernel's."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((700, 400))
    S = SparseSign(40, 400, nnz_per_col=8, seed=9)
    assert A.size * 8 >= 1 << 20
    np.testing.assert_allclose(S.apply_right(A), A @ S.to_sparse().T.toarray(), rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(S.dense_transpose(), S.to_sparse().T.toarray())
