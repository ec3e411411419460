"""Sketch-and-precondition / sketch-and-solve least squares against LAPACK and theory."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("scipy")
import scipy.sparse as sp  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from sketchkit.errors import InvalidItemError, InvalidParameterError, ItemTypeError  # noqa: E402
from sketchkit.linalg import lstsq  # noqa: E402


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # test problems are small: BLAS threads only add waiting on a shared machine
    with threadpool_limits(1):
        yield


def problem(N, n, cond, seed=0, noise=1e-3):
    """A = U diag(logspace(0, -log10 cond)) V^T; b = A x + r with r orthogonal to range(A), so x is exact."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((N, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (U * np.logspace(0, -math.log10(cond), n)) @ V.T
    x = rng.standard_normal(n)
    r = rng.standard_normal(N)
    r -= U @ (U.T @ r)
    return A, A @ x + noise * r / np.linalg.norm(r) * math.sqrt(N), x


def backward_error(A, b, x):
    r = b - A @ x
    return np.linalg.norm(A.T @ r) / (np.linalg.norm(A) * np.linalg.norm(r))


def test_matches_lapack_on_random_problem():
    A, b, _ = problem(3000, 40, 1e3)
    res = lstsq(A, b, seed=1)
    ref = np.linalg.lstsq(A, b, rcond=None)[0]
    assert res.converged and res.method == "precondition" and res.sketch == "sparse_sign"
    np.testing.assert_allclose(res.x, ref, rtol=1e-9, atol=1e-9)
    assert res.backward_error <= 1e-12
    assert abs(res.backward_error - backward_error(A, b, res.x)) <= 1e-13  # reported = recomputed
    assert res.residual_norm == pytest.approx(np.linalg.norm(b - A @ res.x), rel=1e-10)


@pytest.mark.parametrize("cond", [1e2, 1e4, 1e6, 1e8, 1e10])
def test_iterations_flat_in_condition_number(cond):
    A, b, x = problem(8000, 100, cond)
    res = lstsq(A, b, tol=1e-10, seed=0)
    assert res.converged and res.backward_error <= 1e-10
    assert res.iterations <= 40  # kappa(A R^-1) is set by the sketch (10n rows here), not by A
    # perturbation theory (Wedin): forward error <~ kappa*be*(1 + kappa*||r||/(||A|| ||x||)), here ||A||_2 = 1
    ratio = np.linalg.norm(b - A @ x) / np.linalg.norm(x)
    assert np.linalg.norm(res.x - x) / np.linalg.norm(x) <= 10 * cond * 1e-10 * (1 + cond * ratio)


@pytest.mark.parametrize("factor", ["qr", "cholesky"])
def test_factor_choices_agree(factor):
    A, b, _ = problem(4000, 50, 1e5, seed=2)
    res = lstsq(A, b, factor=factor)
    assert res.factor == factor and res.converged and res.iterations <= 40


def test_auto_factor_switches_to_qr_when_cholesky_is_too_lossy():
    A, b, _ = problem(4000, 50, 1e9, seed=3)
    assert lstsq(A, b).factor == "qr"
    A, b, _ = problem(4000, 50, 1e3, seed=3)
    assert lstsq(A, b).factor == "cholesky"


def test_sketch_and_solve_residual_within_embedding_bound():
    A, b, _ = problem(20000, 30, 1e4, noise=1.0)
    opt = np.linalg.norm(b - A @ np.linalg.lstsq(A, b, rcond=None)[0])
    for d in (200, 800):
        eta = 1.5 * math.sqrt((A.shape[1] + 1) / d)
        for seed in range(3):
            res = lstsq(A, b, method="solve", sketch_size=d, seed=seed)
            assert opt <= res.residual_norm <= (1 + eta) / (1 - eta) * opt
            assert res.iterations == 0


def test_sparse_ill_scaled_converges_in_few_iterations():
    """The sketch preconditioner makes the iteration count independent of the column scales
    (1 .. 1e4 here): what is asserted is sketchkit's own behaviour, never how far an
    unpreconditioned third-party solver gets."""
    rng = np.random.default_rng(5)
    N, n = 5000, 50
    A = sp.random(N, n, density=0.05, random_state=6, format="csr")
    A = sp.csr_matrix(A @ sp.diags(np.logspace(0, 4, n)))  # column scales 1 .. 1e4
    b = rng.standard_normal(N)
    res = lstsq(A, b, tol=1e-10)
    assert res.converged and res.iterations <= 40
    dense_ref = np.linalg.lstsq(A.toarray(), b, rcond=None)[0]
    np.testing.assert_allclose(A @ res.x, A @ dense_ref, rtol=0, atol=1e-8 * np.linalg.norm(b))
    assert backward_error(A.toarray(), b, res.x) < 1e-8


def test_rank_deficient_dense_is_minimum_norm():
    """Columns that are combinations of others (not duplicates): the pivoted Cholesky finds rank 10 and
    the answer is LAPACK's minimum-norm solution, from either factor choice."""
    rng = np.random.default_rng(7)
    B = rng.standard_normal((3000, 10))
    A = np.hstack([B, B[:, :3] @ rng.standard_normal((3, 5))])  # rank 10, 15 columns
    b = rng.standard_normal(3000)
    ref = np.linalg.lstsq(A, b, rcond=None)[0]  # minimum-norm solution
    for factor in ("auto", "qr"):
        res = lstsq(A, b, factor=factor)
        assert res.factor == "pivoted" and res.rank == 10 and res.converged
        np.testing.assert_allclose(A @ res.x, A @ ref, atol=1e-9)
        np.testing.assert_allclose(res.x, ref, atol=1e-8)


def term_document(seed=3, N=6000, n=120, combination=False):
    """A tf-idf-like CSR matrix with what real term-document data has: 9 empty columns (terms of
    other documents), 3 groups of exact duplicate columns (terms always seen together), skewed
    column scales; b a real-valued target with a residual. ``combination``: column 100 becomes
    column 5 + 2 * column 7 (a dependency no exact screen sees)."""
    rng = np.random.default_rng(seed)
    A = sp.random(N, n, density=0.03, random_state=seed, format="csc")
    A = sp.csc_matrix(A @ sp.diags(np.logspace(0, 3, n)))
    cols = [A[:, j] for j in range(n)]
    for j in (4, 17, 30, 44, 58, 71, 85, 99, 110):
        cols[j] = sp.csc_matrix((N, 1))
    for src, dups in ((2, (50, 90)), (10, (11,)), (60, (61, 62, 63))):
        for j in dups:
            cols[j] = cols[src].copy()
    if combination:
        cols[100] = cols[5] + 2.0 * cols[7]
    A = sp.csr_matrix(sp.hstack(cols))
    A.eliminate_zeros()
    return A, rng.standard_normal(N)


@pytest.mark.parametrize("combination,gram,factor", [
    (False, "never", "cholesky"), (False, "auto", "gram"),  # exact defects only: screened, plain Cholesky
    (True, "never", "pivoted"), (True, "auto", "gram-pivoted"),  # plus a combination: pivoted Cholesky
])
def test_rank_deficient_sparse_matches_scipy_minimum_norm(combination, gram, factor):
    """Every rank-revealing path: the exact screen of empty and duplicate columns followed by a plain
    Cholesky factor of the kept columns (of the sketch's Gram matrix, or of the exact AᵀA, chosen here
    because the rows are short), and, when a column is a combination of others, pivoted Cholesky."""
    A, b = term_document(combination=combination)
    res = lstsq(A, b, tol=1e-12, gram=gram)
    assert res.factor == factor and res.converged
    assert res.rank == 120 - 9 - 6 - combination
    dense = A.toarray()
    ref = np.linalg.lstsq(dense, b, rcond=None)[0]  # gelsd: the minimum-norm solution
    assert abs(res.residual_norm - np.linalg.norm(b - dense @ ref)) <= 1e-12 * np.linalg.norm(b)
    np.testing.assert_allclose(res.x, ref, rtol=0, atol=1e-9 * np.linalg.norm(ref))
    empty = np.flatnonzero(np.diff(A.tocsc().indptr) == 0)
    assert empty.size == 9 and np.all(res.x[empty] == 0.0)
    for src, dups in ((2, (50, 90)), (10, (11,)), (60, (61, 62, 63))):
        np.testing.assert_allclose(res.x[list(dups)], res.x[src], rtol=1e-9)  # weight shared equally
    # LSQR from x0 = 0 stays in the row space, so it also converges to the minimum-norm solution
    from scipy.sparse.linalg import lsqr

    x_lsqr = lsqr(A, b, atol=1e-14, btol=1e-14, iter_lim=20000)[0]
    np.testing.assert_allclose(res.x, x_lsqr, rtol=0, atol=1e-7 * np.linalg.norm(ref))


def test_the_minimum_norm_check_fails_on_the_basic_solution(monkeypatch):
    """The basic solution (all weight on one of each duplicate group) has the same residual but not
    the minimum norm: with the projection switched off the comparison above fails."""
    import importlib

    module = importlib.import_module("sketchkit.linalg.lstsq")
    monkeypatch.setattr(module.Preconditioner, "min_norm", lambda self, x: x)
    for combination in (False, True):
        A, b = term_document(combination=combination)
        res = lstsq(A, b, tol=1e-12, gram="never")
        ref = np.linalg.lstsq(A.toarray(), b, rcond=None)[0]
        assert abs(res.residual_norm - np.linalg.norm(b - A @ ref)) <= 1e-12 * np.linalg.norm(b)
        assert not np.allclose(res.x, ref, rtol=0, atol=1e-9 * np.linalg.norm(ref))


def _defects_by_brute_force(A):
    """{dropped column: the lowest equal column or -1 for an empty one}, comparing every pair."""
    C = sp.csc_matrix(A)
    C.eliminate_zeros()
    C.sort_indices()
    cols = [(C.indices[C.indptr[j]:C.indptr[j + 1]].tolist(), C.data[C.indptr[j]:C.indptr[j + 1]].tolist())
            for j in range(C.shape[1])]
    out = {}
    for j, col in enumerate(cols):
        if not col[0]:
            out[j] = -1
            continue
        first = next(i for i in range(j + 1) if cols[i] == col)
        if first < j:
            out[j] = first
    return out


@pytest.mark.parametrize("seed", range(6))
def test_screen_finds_exactly_the_empty_and_duplicate_columns(seed):
    """Planted defects in random orders, with stored explicit zeros (+0.0 and -0.0) that must not count,
    a near-duplicate (one value off by one ulp) and a column equal to another up to a sign (not equal):
    the screen agrees with the pairwise comparison, and ``split`` gives the minimum-norm weights."""
    from sketchkit.linalg._screen import screen_columns

    rng = np.random.default_rng(seed)
    N, n = 300, 60
    A = sp.random(N, n, density=0.05, random_state=seed, format="lil")
    dense = A.toarray()
    src = rng.choice(n, 8, replace=False)
    for s, t in zip(src[:4], src[4:]):
        dense[:, t] = dense[:, s]
    dense[:, rng.choice(n, 5, replace=False)] = 0.0
    j = int(rng.integers(n))
    if dense[:, j].any():
        near = rng.integers(n)
        dense[:, near] = dense[:, j]
        dense[np.flatnonzero(dense[:, j])[0], near] = np.nextafter(dense[np.flatnonzero(dense[:, j])[0], j], 9.0)
    k = int(rng.integers(n))
    dense[:, (k + 1) % n] = -dense[:, k]
    dense[-1, :2] = 0.0  # the stored zeros below go there
    A = sp.csr_matrix(dense)
    A.data = np.append(A.data, [0.0, -0.0])  # two stored zeros in the last row
    A.indices = np.append(A.indices, [0, 1]).astype(A.indices.dtype)
    A.indptr[-1] += 2
    A.sort_indices()
    want = _defects_by_brute_force(A)
    sc = screen_columns(A)
    got = {} if sc is None else dict(zip(sc.drop.tolist(), sc.rep.tolist()))
    assert got == want
    if sc is not None:
        y = rng.standard_normal(sc.keep.size)
        x = sc.split(y)
        Ad = A.toarray()
        np.testing.assert_allclose(Ad @ x, Ad[:, sc.keep] @ y, rtol=1e-12, atol=1e-12)
        # orthogonal to the null space: equal within each group, zero on empty columns
        for d, r in got.items():
            assert x[d] == (0.0 if r < 0 else x[r])


def test_screen_verifies_fingerprint_matches(monkeypatch):
    """All fingerprints forced equal: the exact comparison alone decides, so nothing unequal is merged."""
    from sketchkit.linalg import _kernels as K
    from sketchkit.linalg._screen import screen_columns

    A, _ = term_document()
    real = K.column_fingerprints

    def colliding(indptr, indices, bits, n):
        nnz, fp = real(indptr, indices, bits, n)
        return nnz, np.zeros_like(fp)

    monkeypatch.setattr(K, "column_fingerprints", colliding)
    sc = screen_columns(A)
    assert dict(zip(sc.drop.tolist(), sc.rep.tolist())) == _defects_by_brute_force(A)


def test_exact_gram_is_left_for_the_sketch_when_too_ill_conditioned():
    """Column scales 1 .. 1e9: u kappa^2 is far above 0.1, so the exact AᵀA is not used (neither plain
    nor pivoted: dropping a column would change the residual) and the sketch path solves it."""
    rng = np.random.default_rng(5)
    A = sp.random(6000, 40, density=0.1, random_state=6, format="csr")
    A = sp.csr_matrix(A @ sp.diags(np.logspace(0, 9, 40)))
    b = rng.standard_normal(6000)
    res = lstsq(A, b, tol=1e-10)
    assert res.factor in ("cholesky", "qr") and res.sketch == "sparse_sign" and res.rank == 40
    assert res.converged
    assert lstsq(sp.csr_matrix(np.eye(60, 6)) + 0, np.ones(60), tol=1e-10).factor == "gram"


def test_full_rank_ill_conditioned_is_not_mistaken_for_rank_deficient():
    """kappa = 1e10: the pivoted Cholesky of Y^T Y sees rank < n, but the check on Y itself rejects
    dropping columns, so QR factors the full sketch and every column keeps its weight."""
    A, b, x = problem(4000, 40, 1e10)
    res = lstsq(A, b, tol=1e-10)
    assert res.factor == "qr" and res.rank == 40


def test_consistent_system_converges_on_residual():
    A, _, x = problem(2000, 20, 1e3)
    res = lstsq(A, A @ x)
    assert res.converged
    np.testing.assert_allclose(res.x, x, rtol=1e-8, atol=1e-8)


def test_gaussian_and_countsketch_sketches_also_work():
    A, b, _ = problem(3000, 20, 1e6)
    for kind in ("gaussian", "countsketch"):
        res = lstsq(A, b, sketch=kind, tol=1e-10)
        assert res.converged and res.sketch == kind


def test_bad_inputs_raise_sketchkit_errors():
    A, b, _ = problem(200, 5, 10.0)
    with pytest.raises(InvalidParameterError):
        lstsq(A.T, b[:5])  # wide
    with pytest.raises(InvalidParameterError):
        lstsq(A, b[:-1])
    with pytest.raises(InvalidParameterError):
        lstsq(A, b, method="normal")
    with pytest.raises(InvalidParameterError):
        lstsq(A, b, sketch_size=3)
    with pytest.raises(InvalidParameterError):
        lstsq(A, b, tol=0)
    bad = A.copy()
    bad[17, 2] = np.nan
    with pytest.raises(InvalidItemError):
        lstsq(bad, b)
    with pytest.raises(InvalidItemError):
        lstsq(A, np.where(np.arange(200) == 3, np.inf, b))
    with pytest.raises(ItemTypeError):
        lstsq(A.astype(complex), b)
    assert np.isnan(bad[17, 2])  # inputs are not modified


@pytest.mark.parametrize("gram", ["auto", "never"])
@pytest.mark.parametrize("case", ["all zero", "all equal", "one zero column", "zero, copies and others"])
def test_screen_edge_cases_match_gelsd(case, gram):
    """Every column set aside, every column one copy, and a mix: the minimum-norm solution still."""
    rng = np.random.default_rng(1)
    col = rng.standard_normal((50, 1))
    dense = {
        "all zero": np.zeros((50, 5)),
        "all equal": np.repeat(col, 4, axis=1),
        "one zero column": np.zeros((50, 1)),
        "zero, copies and others": np.hstack([np.zeros((50, 1)), col, col, rng.standard_normal((50, 2))]),
    }[case]
    b = rng.standard_normal(50)
    res = lstsq(sp.csr_matrix(dense), b, gram=gram)
    ref = np.linalg.lstsq(dense, b, rcond=None)[0]
    assert res.converged and res.rank == np.linalg.matrix_rank(dense)
    np.testing.assert_allclose(res.x, ref, rtol=0, atol=1e-12)
