"""sketchkit.attention: the pieces of HyperAttention and their exactness, unbiasedness and gradients (CPU, float64)."""

from __future__ import annotations

import functools
import math
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from sketchkit.attention import (  # noqa: E402
    HyperAttention,
    angular_buckets,
    block_diagonal_attention,
    block_importance_sample,
    causal_recursion,
    causal_sample_sizes,
    cluster_key_blocks,
    exact_attention_lse,
    exact_key_sets,
    gray_code,
    hyper_attention,
    lsh_projections,
    merge_lse_partials,
    range_systematic_sample,
    resolve_params,
    route_fanouts,
    route_queries,
    routing_products_per_query,
    sampled_residual,
    scored_pairs_per_query,
    sortlsh_order,
    tree_fanouts,
    uniform_sample,
)
from sketchkit.attention._routing import ROUTE_TOP  # noqa: E402
from sketchkit.errors import InvalidParameterError, ItemTypeError  # noqa: E402

F = torch.nn.functional
SMALL = {"block_size": 16, "query_block": 16, "top_blocks": 2, "sample_size": 16, "min_seq_len": 0}

# The first logsumexp of a process was seen off by ~2.6e-10 (research note): warm it up once.
torch.logsumexp(torch.randn(64, 64, dtype=torch.float64), -1)


def qkv(n=200, d=16, b=1, h=2, seed=0, n_k=None):
    g = torch.Generator().manual_seed(seed)
    n_k = n if n_k is None else n_k
    return (torch.randn(b, h, n, d, generator=g, dtype=torch.float64),
            torch.randn(b, h, n_k, d, generator=g, dtype=torch.float64),
            torch.randn(b, h, n_k, d, generator=g, dtype=torch.float64))


def exact(q, k, v, causal=False):
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def true_lse(q, k, mask=None):
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask, -math.inf)
    return torch.logsumexp(s, -1)


# ---------------------------------------------------------------- exact attention with LSE, and the merge
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("backend", ["torch", "flash"])
def test_exact_attention_lse_matches_sdpa(causal, backend):
    q, k, v = qkv(137)
    out, lse = exact_attention_lse(q, k, v, causal=causal, backend=backend)
    assert torch.allclose(out, exact(q, k, v, causal), atol=1e-10, rtol=0)
    mask = torch.ones(137, 137, dtype=torch.bool).tril() if causal else None
    assert torch.allclose(lse, true_lse(q, k, mask), atol=1e-10, rtol=0)


def test_exact_attention_lse_key_bias_masks_and_empty_rows():
    q, k, v = qkv(20)
    bias = torch.zeros(1, 2, 20, dtype=torch.float64)
    bias[..., 5:] = -math.inf
    out, lse = exact_attention_lse(q, k, v, key_bias=bias)
    assert torch.allclose(out, exact(q, k[..., :5, :], v[..., :5, :]), atol=1e-12)
    out, lse = exact_attention_lse(q, k, v, key_bias=torch.full_like(bias, -math.inf))
    assert bool((out == 0).all()) and bool(torch.isneginf(lse).all())


def test_key_bias_folded_into_a_head_dimension_matches_the_masked_kernel():
    """The CUDA route for key masks and log-weights (extra head dimension), checked through the CPU kernel."""
    from sketchkit.attention._lse import _flash_with_bias_dimension

    q, k, v = (t.requires_grad_() for t in qkv(10, d=5, h=2, seed=2, n_k=12))
    bias = torch.randn(1, 2, 1, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    bias[..., 7:9] = -math.inf
    out, lse = _flash_with_bias_dimension(q, k, v, bias, 0.4, False)
    ref_out, ref_lse = exact_attention_lse(q, k, v, scale=0.4, key_bias=bias[..., 0, :], backend="torch")
    assert torch.allclose(out, ref_out, atol=1e-12) and torch.allclose(lse, ref_lse, atol=1e-12)
    fn = lambda a, b, c: _flash_with_bias_dimension(a, b, c, bias, 0.4, False)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (q, k, v), atol=1e-6, rtol=1e-5, fast_mode=True)


def test_merge_of_disjoint_key_sets_is_exact():
    q, k, v = qkv(300, n_k=500)
    perm = torch.randperm(500, generator=torch.Generator().manual_seed(3))
    a, b = perm[:170], perm[170:]
    o1, l1 = exact_attention_lse(q, k[..., a, :], v[..., a, :])
    o2, l2 = exact_attention_lse(q, k[..., b, :], v[..., b, :])
    out, lse = merge_lse_partials(o1, l1, o2, l2)
    assert torch.allclose(out, exact(q, k, v), atol=1e-10, rtol=0)
    assert torch.allclose(lse, true_lse(q, k), atol=1e-10, rtol=0)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=12, max_size=12), st.permutations([0, 1, 2, 3]))
def test_merge_is_exact_in_any_order_and_grouping(labels, order):
    """Property: split keys into up to 4 parts (some empty), merge in any order: always exact attention."""
    q, k, v = qkv(9, d=4, h=1, n_k=12, seed=5)
    parts = []
    for part in order:
        idx = torch.tensor([j for j, lab in enumerate(labels) if lab == part], dtype=torch.long)
        parts.append(exact_attention_lse(q, k[..., idx, :], v[..., idx, :]))
    out, lse = parts[0]
    for o, l in parts[1:]:
        out, lse = merge_lse_partials(out, lse, o, l)
    assert torch.allclose(out, exact(q, k, v), atol=1e-12)
    assert torch.allclose(lse, true_lse(q, k), atol=1e-12)


# ---------------------------------------------------------------- sortLSH
def test_gray_code_is_the_reflected_sequence_and_adjacent_codes_differ_in_one_bit():
    codes = gray_code(torch.arange(128))
    assert sorted(codes.tolist()) == list(range(128))
    assert all(bin(int(a) ^ int(b)).count("1") == 1 for a, b in zip(codes[:-1], codes[1:]))
    assert gray_code(torch.tensor([5])).item() == 7


def test_angular_buckets_are_the_sign_bits():
    proj = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, -1.0]], dtype=torch.float64)
    x = torch.tensor([[1.0, 1.0], [-1.0, 2.0], [-1.0, -1.0]], dtype=torch.float64)
    # bits (x.g0>0, x.g1>0, x.g2>0): (1,1,0)=3, (0,1,0)=2, (0,0,0)=0
    assert angular_buckets(x, proj).tolist() == [3, 2, 0]


def test_sortlsh_order_sorts_by_gray_key_and_is_seeded():
    x = torch.randn(1, 300, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    proj = lsh_projections(8, 7, rng=11, dtype=torch.float64)
    assert torch.equal(proj, lsh_projections(8, 7, rng=11, dtype=torch.float64))
    order = sortlsh_order(x, proj)
    keys = gray_code(angular_buckets(x, proj)).gather(1, order)
    assert bool((keys[:, 1:] >= keys[:, :-1]).all())
    assert sorted(order[0].tolist()) == list(range(300))


# ---------------------------------------------------------------- blocks cover everything => exact
@pytest.mark.parametrize("n", [100, 257])
def test_one_block_no_sampling_is_exact(n):
    q, k, v = qkv(n)
    out, lse, _ = block_diagonal_attention(q, k, v, block_size=1024)
    assert torch.allclose(out, exact(q, k, v), atol=1e-10, rtol=0)
    assert torch.allclose(lse, true_lse(q, k), atol=1e-10, rtol=0)


def test_block_diagonal_attention_attends_to_its_own_block_only():
    q, k, v = qkv(90, n_k=70)  # 3 key blocks of 32 (last holds 6), 30 query rows per block
    out, lse, qblock = block_diagonal_attention(q, k, v, block_size=32)
    assert qblock.tolist() == [i // 30 for i in range(90)]
    for blk in range(3):
        rows, cols = slice(30 * blk, 30 * blk + 30), slice(32 * blk, min(70, 32 * blk + 32))
        assert torch.allclose(out[..., rows, :], exact(q[..., rows, :], k[..., cols, :], v[..., cols, :]), atol=1e-12)


@pytest.mark.parametrize("method", ["routed", "sortlsh"])
@pytest.mark.parametrize("causal", [False, True])
def test_hyper_attention_is_exact_when_blocks_cover_all_keys(method, causal):
    q, k, v = qkv(203)
    if method == "routed":
        params = dict(block_size=16, query_block=16, top_blocks=13, sample_size=8, min_seq_len=50)
    else:
        params = dict(method="sortlsh", block_size=256, sample_size=8, min_seq_len=50)
    out = hyper_attention(q, k, v, causal=causal, rng=0, **params)
    assert torch.allclose(out, exact(q, k, v, causal), atol=1e-10, rtol=0)


@pytest.mark.parametrize("causal", [False, True])
def test_short_inputs_fall_back_to_exact(causal):
    q, k, v = qkv(120)
    out, lse = hyper_attention(q, k, v, causal=causal, rng=0, return_lse=True)  # 120 <= min_seq_len
    assert torch.allclose(out, exact(q, k, v, causal), atol=1e-10, rtol=0)
    mask = torch.ones(120, 120, dtype=torch.bool).tril() if causal else None
    assert torch.allclose(lse, true_lse(q, k, mask), atol=1e-10, rtol=0)


def test_scale_argument_matches_sdpa():
    q, k, v = qkv(64)
    out = hyper_attention(q, k, v, scale=0.3, rng=0)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, scale=0.3), atol=1e-10)


# ---------------------------------------------------------------- causal recursion
@pytest.mark.parametrize("n,min_len", [(301, 37), (256, 16), (77, 100)])
def test_causal_recursion_is_exact_with_exact_pieces(n, min_len):
    q, k, v = qkv(n)
    out, lse = causal_recursion(
        q, k, v, min_len,
        lambda a, b, c: exact_attention_lse(a, b, c),
        lambda a, b, c: exact_attention_lse(a, b, c, causal=True),
    )
    assert torch.allclose(out, exact(q, k, v, True), atol=1e-10, rtol=0)
    assert torch.allclose(lse, true_lse(q, k, torch.ones(n, n, dtype=torch.bool).tril()), atol=1e-10, rtol=0)


# ---------------------------------------------------------------- the sampled residual
def unbiased_failures(est, truth, ratio_tol: float) -> list[str]:
    """Estimates over seeds (rows of ``est``) of per-query normalisers ``truth``: each query's
    mean within 4.5 standard errors of the truth, and the median mean/truth within
    ``1 ± ratio_tol``. Returns what fails."""
    z = (est.mean(0) - truth) / (est.std(0) / math.sqrt(len(est)))
    ratio = float((est.mean(0) / truth).median())
    failures = [] if float(z.abs().max()) < 4.5 else [f"a mean {float(z.abs().max()):.1f} standard errors off"]
    return failures + ([] if abs(ratio - 1) < ratio_tol else [f"median mean/truth {ratio:.3f}"])


def uniform_residual_estimates(weight_scale: float = 1.0):
    """200 seeds of the sampled-residual normaliser over keys 50..299 (keys 0..49 exact), with
    the importance weights multiplied by ``weight_scale`` (1: the stated inverse probabilities)."""
    q, k, v = qkv(40, n_k=300, h=1)
    own = torch.zeros(300, dtype=torch.bool)
    own[:50] = True  # pretend keys 0..49 were computed exactly
    truth = torch.exp(true_lse(q, k[..., 50:, :]))[0, 0]
    est = []
    for seed in range(200):
        idx, log_w = uniform_sample(300, 24, 1, torch.Generator().manual_seed(seed))
        log_w = log_w + math.log(weight_scale)
        exclude = own[idx].view(1, 1, 24).expand(1, 40, 24)
        _, lse = sampled_residual(q[0], k[0][:, idx[0]], v[0][:, idx[0]], log_w, exclude.squeeze(0).unsqueeze(0))
        est.append(torch.exp(lse)[0])
    return torch.stack(est), truth


def test_uniform_residual_normaliser_is_unbiased_over_seeds():
    assert unbiased_failures(*uniform_residual_estimates(), ratio_tol=0.03) == []


def test_the_unbiasedness_check_fails_on_weights_ten_percent_too_large():
    """Importance weights 1.1× the inverse sampling probabilities bias every normaliser: reported."""
    assert unbiased_failures(*uniform_residual_estimates(1.1), ratio_tol=0.03) != []


def test_block_importance_sample_weights_are_inverse_probabilities():
    proposal = torch.tensor([[[0.7, 0.0, 0.3]]], dtype=torch.float64)
    counts = torch.tensor([[4, 4, 2]])
    idx, log_w = block_importance_sample(proposal, counts, 4, 20000, torch.Generator().manual_seed(0))
    blk, off = idx // 4, idx % 4
    assert not bool((blk == 1).any()) and bool((off < counts[0][blk]).all())
    # E[sum_t w_t f(j_t)] = sum_j f(j) for f = 1: total weight estimates the number of eligible keys (4 + 2)
    assert abs(float(torch.exp(log_w).sum()) - 6.0) < 0.1
    assert torch.allclose(torch.exp(log_w[blk == 0]), torch.tensor(4 / (20000 * 0.7), dtype=torch.float64))


# a proposal over 4 key ranges (one of probability 0) in 40 blocked positions; positions 37..39 are padding
SYS_START = torch.tensor([[[0, 10, 16, 20]]])
SYS_SIZE = torch.tensor([[[10, 6, 4, 20]]])
SYS_PROP = torch.tensor([[[0.5, 0.0, 0.15, 0.35]]], dtype=torch.float64)
SYS_VALID = (torch.arange(40) < 37).unsqueeze(0)


def systematic_totals(sampler=range_systematic_sample, seeds=400, m=12):
    """Per seed, the weighted sample total ``sum_t w_t f(j_t)`` of ``f(j) = 1 + j`` (over valid positions of the
    ranges of positive probability, the truth is ``sum f = 55 + 74 + 493 = 622``)."""
    f = torch.arange(40, dtype=torch.float64) + 1
    out = []
    for seed in range(seeds):
        idx, log_w = sampler(SYS_PROP, SYS_START, SYS_SIZE, m, torch.Generator().manual_seed(seed), SYS_VALID)
        out.append(float((torch.exp(log_w) * f[idx]).sum()))
    return torch.tensor(out, dtype=torch.float64)


def test_systematic_sample_is_stratified_with_inverse_probability_weights():
    m = 12
    idx, log_w = range_systematic_sample(SYS_PROP, SYS_START, SYS_SIZE, m, torch.Generator().manual_seed(3), SYS_VALID)
    pos = idx[0, 0]
    ranges = torch.bucketize(pos, torch.tensor([10, 16, 20]), right=True)
    # range c gets floor(m P_c) or ceil(m P_c) draws: 6, 0, 1-2, 4-5
    counts = torch.bincount(ranges, minlength=4).tolist()
    assert counts[0] == 6 and counts[1] == 0 and counts[2] in (1, 2) and counts[3] in (4, 5) and sum(counts) == m
    # positions with m p_j <= 1 (every one here: 12 * 0.35 / 20 < 1) are drawn at most once
    assert len(set(pos.tolist())) == m
    # weight 1 / (m p_j), p_j = P_c / size_c; padding positions weigh 0
    expected = (SYS_SIZE[0, 0][ranges].double() / (m * SYS_PROP[0, 0][ranges])).log()
    expected = torch.where(pos < 37, expected, torch.tensor(-math.inf, dtype=torch.float64))
    assert torch.equal(torch.isinf(log_w[0, 0]), pos >= 37)
    assert torch.allclose(log_w[0, 0], expected, atol=1e-12, rtol=0)


def test_systematic_sample_total_is_unbiased_and_beats_independent_draws():
    from sketchkit.attention import range_importance_sample

    est = systematic_totals()
    z = (float(est.mean()) - 622.0) / (float(est.std()) / math.sqrt(len(est)))
    assert abs(z) < 4.5
    iid = systematic_totals(range_importance_sample)
    assert float(est.std()) < 0.5 * float(iid.std())  # the between-range part of the variance is gone


def test_the_systematic_unbiasedness_check_fails_on_a_broken_sampler():
    """The same check reports a sampler whose weights ignore the range sizes (``1 / (m P_c)``)."""

    def broken(proposal, starts, sizes, m, gen, valid):
        idx, log_w = range_systematic_sample(proposal, starts, sizes, m, gen, valid)
        pick_size = torch.gather(sizes, 2, torch.bucketize(idx, starts[0, 0], right=True) - 1)
        return idx, log_w - torch.log(pick_size.double())

    est = systematic_totals(broken)
    z = (float(est.mean()) - 622.0) / (float(est.std()) / math.sqrt(len(est)))
    assert abs(z) >= 4.5


def test_causal_sample_sizes_share_the_budget_by_square_root_of_the_rectangle():
    p = resolve_params()
    sizes = causal_sample_sizes(16384, p)
    assert list(sizes) == [8192, 4096, 2048] and sum(sizes.values()) == 3 * 512
    ratio = [sizes[h] / math.sqrt(h) for h in sizes]
    assert max(ratio) - min(ratio) < 2 / math.sqrt(2048)  # proportional up to the integer rounding
    big = causal_sample_sizes(1 << 20, p)
    assert max(big.values()) == 2 * 512  # the cap
    assert causal_sample_sizes(16384, resolve_params(method="sortlsh")) == {8192: 256, 4096: 256}
    # the cost per query counts the allocated samples: same total as sample_size per rectangle
    plain = scored_pairs_per_query(16384, causal=True, method="routed")
    assert plain == scored_pairs_per_query(16384, causal=True)


def test_causal_pass_uses_the_allocated_sample_sizes(monkeypatch):
    import sketchkit.attention._hyper as hyper

    seen = {}
    real = hyper._noncausal

    def spy(q, k, v, scale, p, gen, backend):
        seen[k.shape[-2]] = p["sample_size"]
        return real(q, k, v, scale, p, gen, backend)

    monkeypatch.setattr(hyper, "_noncausal", spy)
    q, k, v = qkv(256, h=1)
    params = dict(block_size=8, query_block=16, top_blocks=2, sample_size=16, min_seq_len=32)
    hyper_attention(q, k, v, causal=True, rng=0, **params)
    # 128 + 64 keys: 32 samples shared as sqrt(128) : sqrt(64); the 32-key rectangles are exact (min_seq_len)
    assert causal_sample_sizes(256, resolve_params(**params)) == {128: 19, 64: 13}
    assert seen == {128: 19, 64: 13, 32: 16}


def test_routed_normaliser_is_unbiased_over_seeds():
    """The whole non-causal pass: E exp(lse) equals the true softmax normaliser (routing and samples vary).
    200 seeds: a query's estimate is skewed (a rare heavy draw), so its t-statistic over few seeds has a long tail
    (one of these 128 queries reached 4.7 over seeds 0-59 and 2.9 over seeds 0-399)."""
    q, k, v = qkv(128, h=1, seed=2)
    truth = torch.exp(true_lse(q, k))[0, 0]
    est = torch.stack([torch.exp(hyper_attention(q, k, v, rng=s, return_lse=True, **SMALL)[1])[0, 0]
                       for s in range(200)])
    assert unbiased_failures(est, truth, ratio_tol=0.02) == []
    # the same check reports the sampled part dropped (the exact blocks alone underestimate)
    unsampled = {**SMALL, "sample_size": 0}
    dropped = torch.stack([torch.exp(hyper_attention(q, k, v, rng=s, return_lse=True, **unsampled)[1])[0, 0]
                           for s in range(10)])
    assert unbiased_failures(dropped, truth, ratio_tol=0.02) != []


def pooled_failures(est, truth, ratio_tol: float) -> list[str]:
    """For skewed estimates (a rarely drawn heavy key gives a rare large value, so one query's t-statistic over
    a few dozen seeds is unreliable): per seed the mean over queries of estimate/truth, whose mean over seeds must
    be within 4.5 standard errors of 1, and the median per-query mean/truth within ``1 ± ratio_tol``."""
    pooled = (est / truth).mean(1)
    z = (float(pooled.mean()) - 1.0) / (float(pooled.std()) / math.sqrt(len(pooled)))
    ratio = float((est.mean(0) / truth).median())
    failures = [] if abs(z) < 4.5 else [f"pooled mean {z:.1f} standard errors off"]
    return failures + ([] if abs(ratio - 1) < ratio_tol else [f"median mean/truth {ratio:.3f}"])


@functools.lru_cache(maxsize=1)
def padded_tree_estimates():
    """60 seeds of the normaliser on 300 keys in blocks of 8: tree [3, 16] over 384 padded rows."""
    q, k, v = qkv(300, h=1, seed=5)
    params = dict(block_size=8, query_block=16, top_blocks=2, sample_size=16, min_seq_len=0)
    truth = torch.exp(true_lse(q, k))[0, 0]
    est = torch.stack([torch.exp(hyper_attention(q, k, v, rng=s, return_lse=True, **params)[1])[0, 0]
                       for s in range(60)])
    return est, truth


def test_routed_normaliser_is_unbiased_with_a_padded_tree():
    """Beam and residual partition over 2 levels, padding positions in the sampled ranges."""
    assert pooled_failures(*padded_tree_estimates(), ratio_tol=0.02) == []


def test_the_pooled_check_fails_on_a_normaliser_five_percent_too_large():
    est, truth = padded_tree_estimates()
    assert pooled_failures(1.05 * est, truth, ratio_tol=0.02) != []


# ---------------------------------------------------------------- heavy-key retrieval
def planted(n=2048, d=64, seed=0):
    """Queries planted near one key each: q_i = 3 k_pi(i) + N(0, I) (cos ~ 0.95), as in the research note."""
    g = torch.Generator().manual_seed(seed)
    k = torch.randn(1, 1, n, d, generator=g, dtype=torch.float64)
    pi = torch.randperm(n, generator=g)
    q = 3 * k[..., pi, :] + torch.randn(1, 1, n, d, generator=g, dtype=torch.float64)
    v = torch.randn(1, 1, n, d, generator=g, dtype=torch.float64)
    return q, k, v, pi


def test_planted_heavy_keys_are_found_and_sampling_helps():
    q, k, v, pi = planted()
    mask = exact_key_sets(q, k, rng=0, min_seq_len=0)[0, 0]
    recall = float(mask[torch.arange(2048), pi].float().mean())
    assert recall >= 0.6
    pub = exact_key_sets(q, k, rng=0, method="sortlsh", min_seq_len=0)[0, 0]
    assert float(pub[torch.arange(2048), pi].float().mean()) >= 0.4  # the published method works here too
    ref = exact(q, k, v)
    err = lambda o: float((o - ref).norm() / ref.norm())  # noqa: E731
    e0 = err(hyper_attention(q, k, v, rng=0, min_seq_len=0, sample_size=0))
    e1 = err(hyper_attention(q, k, v, rng=0, min_seq_len=0, sample_size=1024))
    assert e1 < e0


def test_exact_key_sets_describe_the_exact_part():
    """With no samples, the output is exact attention restricted to the reported key sets."""
    q, k, v = qkv(160, seed=4)
    for params in (dict(SMALL, sample_size=0), dict(method="sortlsh", block_size=32, sample_size=0, min_seq_len=0)):
        mask = exact_key_sets(q, k, rng=7, **params)
        assert bool((mask.sum(-1) > 0).all())
        out = hyper_attention(q, k, v, rng=7, **params)
        assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-10)


@pytest.mark.parametrize("n, b, fan", [(200, 32, [7]), (2048, 16, [8, 16]), (1000, 8, [8, 16]), (2000, 4, [2, 16, 16])])
def test_cluster_key_blocks_is_a_balanced_tree_over_the_keys(n, b, fan):
    """Padded to b * prod(fanouts) rows with copies, each real key in exactly one leaf, node stats exact."""
    k = torch.randn(3, n, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    blocks = cluster_key_blocks(k, b, 3, torch.Generator().manual_seed(1))
    big_n = b * math.prod(fan)
    assert blocks.fanouts == fan and tuple(blocks.order.shape) == (3, big_n)
    assert all(sorted(row.tolist()) == list(range(big_n)) for row in blocks.order)
    valid = blocks.order < n
    assert (blocks.valid is None) == (big_n == n)
    if blocks.valid is not None:
        assert torch.equal(blocks.valid.reshape(3, -1), valid)
    kc = k - k.mean(1, keepdim=True)
    assert blocks.route_fanouts == route_fanouts(big_n // b)
    nodes = 1
    for level, c in enumerate(blocks.route_fanouts):  # routing nodes: contiguous ranges of the blocked order
        nodes *= c
        rows = kc.gather(1, (blocks.order % n)[..., None].expand(-1, -1, 8)).view(3, nodes, -1, 8)
        w = valid.view(3, nodes, -1, 1).double()
        assert torch.equal(blocks.counts[level], w.sum((2, 3)))
        mean = (rows * w).sum(2) / w.sum(2).clamp(min=1)
        assert torch.allclose(blocks.means[level], mean, atol=1e-12)


def test_tree_fanouts_cover_the_blocks_with_bounded_top():
    for nb in (1, 5, 16, 17, 128, 256, 257, 1000, 4096, 70000):
        fan = tree_fanouts(nb)
        assert math.prod(fan) >= nb and fan[0] <= 16 and all(f == 16 for f in fan[1:])
        assert math.prod(fan) < 2 * nb or nb <= 16


def test_route_fanouts_halve_to_a_bounded_top():
    """One binary level per doubling of the leaves, top level at most ROUTE_TOP, for every tree's leaf count."""
    for nb in (1, 5, 16, 17, 128, 256, 257, 1000, 4096, 70000):
        leaves = math.prod(tree_fanouts(nb))
        fan = route_fanouts(leaves)
        assert math.prod(fan) == leaves and fan[0] <= ROUTE_TOP and all(f == 2 for f in fan[1:])
        assert fan[0] > ROUTE_TOP // 2 or len(fan) == 1  # halved only while above the bound
    assert [len(route_fanouts(128 << j)) for j in range(5)] == [1, 2, 3, 4, 5]


def test_routing_products_per_query_counts_every_product():
    """White-box count: every k-means row-centroid product (kmeans_assign calls) and every query-node product
    (matmuls whose inner dimension is d + 2: the top level once, then the beam's levels) of one routed pass,
    per query, equals routing_products_per_query. Tree [2, 16, 16] over 512 leaves, routing [128, 2, 2]."""
    import sketchkit.attention._routing as routing

    n, b, d, iters, bq = 4096, 8, 5, 3, 16
    counted = {"km": 0, "route": 0}
    real_assign = routing.kmeans_assign

    def assign(x, centroids):
        counted["km"] += x.shape[0] * x.shape[1] * centroids.shape[1]
        return real_assign(x, centroids)

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.overloadpacket.__name__ in ("bmm", "mm") and args[0].shape[-1] == d + 2:
                counted["route"] += args[0].numel() // (d + 2) * args[1].shape[-1]
            return func(*args, **(kwargs or {}))

    k, q = torch.randn(2, 1, n, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    old = routing.kmeans_assign
    routing.kmeans_assign = assign
    try:
        blocks = cluster_key_blocks(k, b, iters, gen)
        with Count():
            route_queries(q, blocks, 0.3, bq, 4)
    finally:
        routing.kmeans_assign = old
    assert blocks.fanouts == [2, 16, 16] and blocks.route_fanouts == [128, 2, 2]
    assert counted["route"] == n * (128 + 16 + 16)
    assert (counted["km"] + counted["route"]) / n == routing_products_per_query(n, n, b, iters)


# ---------------------------------------------------------------- no host syncs, no [n, n/b] tensors
class _Watch(TorchDispatchMode):
    """Records the largest tensor any op returns; raises on ops that read a device value back to the host."""

    SYNCS = ("_local_scalar_dense", "nonzero", "masked_select", "unique", "bincount", "repeat_interleave")

    def __init__(self, forbid_syncs=True):
        super().__init__()
        self.largest, self.forbid = 0, forbid_syncs

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if self.forbid and any(s in name for s in self.SYNCS):
            raise AssertionError(f"host sync in the hot path: aten.{name}")
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


@pytest.mark.parametrize("causal", [False, True])
def test_forward_and_backward_make_no_host_sync(causal):
    """No .item()/bool()/int()/float()/.tolist() of a tensor (all go through aten._local_scalar_dense), no
    nonzero/masked_select/unique in forward or backward, with padded key blocks (n not a multiple of b)."""
    q, k, v = (t.float().requires_grad_() for t in qkv(1000, d=16, h=2, seed=3))
    params = dict(block_size=16, query_block=32, top_blocks=2, sample_size=16, min_seq_len=100)
    for backend in ("auto", "torch"):
        with _Watch():
            out, lse = hyper_attention(q, k, v, causal=causal, rng=0, return_lse=True, backend=backend, **params)
            (out.square().sum() + lse.sum()).backward()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("causal", [False, True])
def test_no_cuda_sync_in_forward_and_backward(causal):
    """On a GPU: forward + backward under CUDA sync-debug mode "error" after a warm-up call."""
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(1, 2, 3000, 64, device="cuda", dtype=torch.bfloat16, generator=g).requires_grad_()
               for _ in range(3))
    params = dict(min_seq_len=512)
    hyper_attention(q, k, v, causal=causal, rng=0, **params).float().sum().backward()  # warm-up
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        hyper_attention(q, k, v, causal=causal, rng=1, **params).float().sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode(0)


def test_the_sync_check_detects_a_host_sync():
    x = torch.randn(10)
    with pytest.raises(AssertionError, match="host sync"), _Watch():
        bool((x > 0).all())


def test_no_intermediate_of_size_n_by_n_over_b_at_65k_tokens():
    """Peak-memory proxy, deterministic: the largest tensor any aten op returns during a non-causal forward at
    65,536 tokens (fp32, 1 head, d = 64) is at most 4 n d elements (the gathered residual samples, t*512*d).
    The old routing held [n, n/64] probabilities (16 n d here)."""
    n, d = 65536, 64
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 1, n, d, generator=g) for _ in range(3))
    watch = _Watch(forbid_syncs=False)
    with torch.no_grad(), watch:
        hyper_attention(q, k, v, rng=0)
    assert watch.largest <= 4 * n * d, watch.largest
    broken = _Watch(forbid_syncs=False)  # the check reports an [n, n/b] tensor
    with broken:
        torch.zeros(n, n // 64)
    assert broken.largest > 4 * n * d


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("params", [dict(SMALL), dict(method="sortlsh", block_size=16, sample_size=8, min_seq_len=0)])
@pytest.mark.parametrize("causal", [False, True])
def test_gradients_match_finite_differences(params, causal):
    q, k, v = (t.requires_grad_() for t in qkv(40, d=3, h=1, seed=6))
    params = dict(params, min_seq_len=12) if causal else params
    fn = lambda a, b, c: hyper_attention(a, b, c, causal=causal, rng=3, return_lse=True, **params)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (q, k, v), atol=1e-6, rtol=1e-5, fast_mode=True)


@pytest.mark.parametrize(
    "params", [dict(SMALL, sample_size=0), dict(method="sortlsh", block_size=32, sample_size=0, min_seq_len=0)]
)
def test_gradients_equal_autograd_of_exact_attention_on_the_chosen_key_sets(params):
    """What is differentiated: the plan (clusters, routing, buckets) is a constant of the backward pass, so with
    no samples the gradients of (out, lse) are autograd's gradients of exact attention masked to those key sets."""
    q, k, v = qkv(160, seed=4)
    mask = exact_key_sets(q, k, rng=7, **params)
    g = torch.Generator().manual_seed(8)
    g_out = torch.randn(1, 2, 160, 16, generator=g, dtype=torch.float64)
    g_lse = torch.randn(1, 2, 160, generator=g, dtype=torch.float64)

    def grads(fn):
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        out, lse = fn(*leaves)
        ((out * g_out).sum() + (lse * g_lse).sum()).backward()
        return [t.grad for t in leaves]

    got = grads(lambda a, b, c: hyper_attention(a, b, c, rng=7, return_lse=True, **params))
    ref = grads(lambda a, b, c: (F.scaled_dot_product_attention(a, b, c, attn_mask=mask), true_lse(a, b, mask)))
    for x, y in zip(got, ref):
        assert torch.allclose(x, y, atol=1e-10, rtol=0)


@pytest.mark.parametrize("backend", ["torch", "flash"])
def test_exact_attention_lse_gradients_include_the_lse(backend):
    q, k, v = (t.requires_grad_() for t in qkv(20, d=8, h=2, seed=1))
    for causal in (False, True):
        fn = lambda a, b, c, causal=causal: exact_attention_lse(a, b, c, causal=causal, backend=backend)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (q, k, v), atol=1e-6, rtol=1e-5, fast_mode=True)


# ---------------------------------------------------------------- API
def test_module_form_matches_function_and_is_reproducible():
    q, k, v = qkv(100)
    a = HyperAttention(rng=5, **SMALL)
    b = HyperAttention(rng=5, **SMALL)
    out = a(q, k, v)
    assert torch.equal(out, b(q, k, v))
    assert torch.equal(out, hyper_attention(q, k, v, rng=torch.Generator().manual_seed(5), **SMALL))
    assert not torch.equal(a(q, k, v), out)  # the module's generator moves on
    assert "block_size=16" in repr(a)


def test_seeded_calls_are_deterministic_and_seeds_matter():
    q, k, v = qkv(100)
    assert torch.equal(hyper_attention(q, k, v, rng=1, **SMALL), hyper_attention(q, k, v, rng=1, **SMALL))
    assert not torch.equal(hyper_attention(q, k, v, rng=1, **SMALL), hyper_attention(q, k, v, rng=2, **SMALL))


def test_float32_and_cross_attention_shapes():
    q, k, v = (t.float() for t in qkv(70, n_k=130))
    v = torch.randn(1, 2, 130, 5)
    out = hyper_attention(q, k, v, rng=0, **SMALL)
    assert out.shape == (1, 2, 70, 5) and out.dtype == torch.float32 and bool(torch.isfinite(out).all())


def test_scored_pairs_per_query():
    assert scored_pairs_per_query(1000) == 1000.0  # below min_seq_len: all pairs
    # exact 4 x 128 + 256 samples + routing: k-means (tree [2, 16] over 32 leaves of 128 keys, 5 iterations:
    # level 0 5*64*2 + 4096*2, level 1 2 nodes * (5*512*16 + 2048*16)) / 4096 + the routing tree's top level (all
    # 32 leaves, scored once: the beam has no level below it)
    km = (5 * 64 * 2 + 4096 * 2 + 2 * (5 * 512 * 16 + 2048 * 16)) / 4096
    assert scored_pairs_per_query(4096, block_size=128, top_blocks=4, sample_size=256) == 512 + 256 + km + 32
    assert scored_pairs_per_query(8, causal=True, min_seq_len=8) == 4.5
    # causal: halves recursed (4.5 each at n=8) plus the rectangle's 8 exact pairs for half the queries
    assert scored_pairs_per_query(16, causal=True, min_seq_len=8) == 4.5 + 8 / 2


@pytest.mark.parametrize(
    "call, exc",
    [
        (lambda q: hyper_attention(q[0], q, q), InvalidParameterError),
        (lambda q: hyper_attention(q.long(), q, q), ItemTypeError),
        (lambda q: hyper_attention([1], q, q), ItemTypeError),
        (lambda q: hyper_attention(q, q[..., :5], q), InvalidParameterError),
        (lambda q: hyper_attention(q, q[..., :50, :], q[..., :50, :], causal=True), InvalidParameterError),
        (lambda q: hyper_attention(q, q, q, block_size=0), InvalidParameterError),
        (lambda q: hyper_attention(q, q, q, bucket_bits=3), InvalidParameterError),
        (lambda q: hyper_attention(q, q, q, method="lsh"), InvalidParameterError),
        (lambda q: hyper_attention(q, q, q, sample_mix=0.0), InvalidParameterError),
        (lambda q: hyper_attention(q, q, q, rng="seed"), InvalidParameterError),
    ],
)
def test_bad_input_raises_sketchkit_errors(call, exc):
    q = qkv(60)[0]
    with pytest.raises(exc):
        call(q)


def test_importing_sketchkit_does_not_import_torch():
    code = "import sys, sketchkit; assert 'torch' not in sys.modules; import sketchkit.attention; print('ok')"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "ok"
