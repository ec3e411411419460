"""``hyper_attention``: HyperAttention (Han, Jayaram, Karbasi, Mirrokni, Woodruff, Zandieh, ICLR 2024) with
clustered heavy-key retrieval by default and the published sortLSH pairing as an option.

What it computes (non-causal, per query ``i``): an exact part over a key set ``S_i`` (the key blocks its query
block was matched to) plus an importance-sampled estimate of ``sum_{j not in S_i} exp(s_ij) [1, v_j]``, merged
through their log-sum-exp normalisers. Guarantee: the estimate of the softmax normaliser is unbiased for every
query (``E exp(lse_i) = sum_j exp(s_ij)`` over the sampling, conditional on the routing), and the result equals
exact attention whenever the exact part covers all keys (``n_k <= min_seq_len``, or all blocks selected).
The output itself is a ratio estimator (biased, consistent); its error is what the quality benchmark measures.
"""

from __future__ import annotations

import contextlib
import math

import torch

from ..errors import InvalidParameterError, ItemTypeError
from ._blocks import block_attention, block_diagonal_attention, to_blocks
from ._causal import causal_recursion
from ._lse import exact_attention_lse, merge_lse_partials
from ._random import as_generator
from ._residual import range_systematic_sample, sampled_residual, uniform_sample
from ._routing import _take_rows, cluster_key_blocks, route_queries, routing_products_per_query, tree_fanouts
from ._sortlsh import lsh_projections, sortlsh_order
from ._triton import block_rows, gathered_attention_lse, padding_bias

METHODS = ("routed", "sortlsh")
#: ``"triton"``: the routed method's block-sparse parts (chosen key blocks, residual samples) through the fused
#: Triton kernels of :mod:`._triton` (forward and backward); every dense exact piece as ``"auto"``.
BACKENDS = ("auto", "flash", "torch", "triton")


def _dense(backend: str) -> str:
    """The backend of the dense exact pieces (short inputs, the causal recursion's base blocks)."""
    return "auto" if backend == "triton" else backend

#: The published configuration (official code ``insuhan/hyper-attn``): sortLSH with 7 bits, 256-key blocks,
#: 256 uniform samples, exact below 4,096 tokens.
PUBLISHED = {"method": "sortlsh", "lsh_bits": 7, "block_size": 256, "sample_size": 256, "min_seq_len": 4096}

#: This package's defaults (measured in docs/benchmarks/attention.md).
DEFAULTS = {
    "method": "routed",
    "block_size": 64,
    "query_block": 128,
    "top_blocks": 4,
    "sample_size": 512,
    "min_seq_len": 1024,
    "lsh_bits": 7,
    "kmeans_iters": 5,
    "sample_mix": 0.2,
    "spread": True,
}


#: Benchmarks may set this to ``fn(stage_name) -> context manager`` to time the stages of the routed pass
#: (``benchmarks/bench_attention_scaling.py``); ``None``: no overhead.
STAGE_HOOK = None


def _stage(name):
    return contextlib.nullcontext() if STAGE_HOOK is None else STAGE_HOOK(name)


def _gather_rows(x, idx):
    """``x [G, n, e]``, ``idx [G, m]`` -> ``[G, m, e]``."""
    return _take_rows(x, idx)


def _scatter_rows(x, idx):
    out = torch.empty_like(x)
    return out.scatter(1, idx.unsqueeze(-1).expand(*idx.shape, x.shape[-1]), x)


@torch.no_grad()
def _routing_plan(qf, kf, scale, p, gen):
    with _stage("cluster"):
        blocks = cluster_key_blocks(kf.detach(), p["block_size"], p["kmeans_iters"], gen)
    with _stage("route"):
        plan = route_queries(qf.detach(), blocks, scale, p["query_block"], p["top_blocks"], p["spread"])
    return blocks, plan


def _routed(qf, kf, vf, scale, p, gen, backend):
    g, n_k, d = kf.shape
    n_q = qf.shape[1]
    b, bq = p["block_size"], p["query_block"]
    blocks, plan = _routing_plan(qf, kf, scale, p, gen)
    nb, r = blocks.n_blocks, plan.selected.shape[-1]
    t = plan.selected.shape[1]
    fused = backend == "triton"
    valid = None if blocks.valid is None else blocks.valid.reshape(g, -1)
    with _stage("exact"):
        rows = blocks.order % n_k  # padding rows are copies of real keys, masked by blocks.valid
        q_blocks = to_blocks(_gather_rows(qf, plan.q_order), bq, t)
        if fused:  # the kernel reads the chosen rows of k and v where they are
            key_rows, pos = block_rows(rows, plan.selected, b)
            bias = None if valid is None else padding_bias(valid, pos)
            out, lse = gathered_attention_lse(q_blocks, kf, vf, key_rows, bias, scale)
        else:
            k_blocks = to_blocks(_gather_rows(kf, rows), b, nb)
            v_blocks = to_blocks(_gather_rows(vf, rows), b, nb)
            out, lse = block_attention(q_blocks, k_blocks, v_blocks, plan.selected, blocks.valid, scale, backend)
    m = p["sample_size"]
    if m > 0 and nb > r:
        with torch.no_grad(), _stage("sample"):
            counts = plan.part_count
            total = counts.sum(-1, keepdim=True)
            uniform = counts / total.clamp(min=1)
            guided = plan.part_weight / plan.part_weight.sum(-1, keepdim=True).clamp_min(1e-30)
            proposal = p["sample_mix"] * uniform + (1.0 - p["sample_mix"]) * guided
            # a query block whose exact part covers every valid key draws (zero-weight) samples from part 0
            empty = total == 0
            first = torch.zeros_like(proposal)
            first[..., 0] = 1.0
            proposal = torch.where(empty, first, proposal)
            idx, log_w = range_systematic_sample(proposal, plan.part_start, plan.part_size, m, gen, valid)
            log_w = log_w.masked_fill(empty, -math.inf)
        with _stage("residual"):
            if fused:  # samples read from k and v where they are (blocked position -> row)
                sample_rows = torch.gather(rows, 1, idx.reshape(g, t * m)).view(g, t, m)
                out_r, lse_r = gathered_attention_lse(q_blocks, kf, vf, sample_rows, log_w, scale)
                out_r, lse_r = out_r.to(out.dtype), lse_r.to(lse.dtype)
            else:
                k_s = _gather_rows(k_blocks.reshape(g, nb * b, d), idx.reshape(g, t * m)).reshape(g, t, m, d)
                v_s = _gather_rows(v_blocks.reshape(g, nb * b, -1), idx.reshape(g, t * m)).reshape(g, t, m, -1)
                out_r, lse_r = sampled_residual(q_blocks, k_s, v_s, log_w, scale=scale, backend=backend)
            out, lse = merge_lse_partials(out, lse, out_r, lse_r)
    with _stage("unsort"):
        q_order = plan.q_order
        out = _scatter_rows(out.reshape(g, t * bq, -1)[:, :n_q], q_order)
        flat_lse = lse.reshape(g, t * bq)[:, :n_q]
        lse = torch.empty_like(flat_lse).scatter(1, q_order, flat_lse)
    return out, lse


@torch.no_grad()
def _sortlsh_plan(qf, kf, p, gen):
    proj = lsh_projections(kf.shape[-1], p["lsh_bits"], gen, dtype=qf.dtype, device=qf.device)
    return sortlsh_order(qf.detach(), proj), sortlsh_order(kf.detach(), proj)


def _sortlsh(qf, kf, vf, scale, p, gen, backend):
    g, n_k, d = kf.shape
    b = p["block_size"]
    q_order, k_order = _sortlsh_plan(qf, kf, p, gen)
    qs, ks, vs = _gather_rows(qf, q_order), _gather_rows(kf, k_order), _gather_rows(vf, k_order)
    out, lse, query_block = block_diagonal_attention(qs, ks, vs, b, scale, backend)
    m, nb = p["sample_size"], -(-n_k // b)
    if m > 0 and nb > 1:
        with torch.no_grad():
            idx, log_w = uniform_sample(n_k, m, g, gen, device=qf.device)
            # samples landing in the query's own block are already counted exactly (the Triton path's mask)
            exclude = (idx // b).unsqueeze(1) == query_block.view(1, -1, 1)
        out_r, lse_r = sampled_residual(qs, _gather_rows(ks, idx), _gather_rows(vs, idx), log_w, exclude, scale)
        out, lse = merge_lse_partials(out, lse, out_r, lse_r)
    return _scatter_rows(out, q_order), torch.empty_like(lse).scatter(1, q_order, lse)


def _rectangle_sizes(n: int, min_seq_len: int) -> list[int]:
    """Key counts of the causal recursion's rectangles, largest first (one per recursion level)."""
    sizes = []
    while n > min_seq_len:
        n = (n + n % 2) // 2
        sizes.append(n)
    return sizes


def _samples_drawn(h: int, p) -> bool:
    """Whether the non-causal pass over an ``h x h`` rectangle samples a residual (it is not exact)."""
    if _is_short(h, h, p) or p["sample_size"] == 0:
        return False
    return math.prod(tree_fanouts(-(-h // p["block_size"]))) > p["top_blocks"]


def causal_sample_sizes(n: int, p) -> dict:
    """Residual samples per query block for each sampled rectangle of the causal recursion, by key count.

    ``method="routed"``: the ``L`` sampled rectangles (key counts ``h_1 > h_2 > ...``, halving per level) share
    ``L * sample_size`` samples in proportion to ``sqrt(h_l)`` (largest remainders; at most ``2 * sample_size``
    each, which keeps the residual's memory ``O(n d)``). Each rectangle serves as many queries and on real
    inputs its squared error grows like ``h_l / m_l`` (a larger residual holds more heavy keys the exact blocks
    missed); minimising ``sum_l h_l / m_l`` at a fixed total gives ``m_l ~ sqrt(h_l)``. The total, hence the
    cost per query, is that of ``sample_size`` per rectangle unless the cap binds (``L >= 6``: 131,072 tokens at
    the defaults, 3,068 samples instead of 3,072).
    ``method="sortlsh"``: ``sample_size`` everywhere (the published recursion).
    """
    sizes = [h for h in _rectangle_sizes(n, p["min_seq_len"]) if _samples_drawn(h, p)]
    m = p["sample_size"]
    if p["method"] != "routed" or len(sizes) < 2:
        return {h: m for h in sizes}
    total, mass = m * len(sizes), sum(math.sqrt(h) for h in sizes)
    share = [total * math.sqrt(h) / mass for h in sizes]
    counts = [int(x) for x in share]
    for i in sorted(range(len(sizes)), key=lambda i: counts[i] - share[i])[: total - sum(counts)]:
        counts[i] += 1
    return {h: max(1, min(2 * m, c)) for h, c in zip(sizes, counts)}


def _is_short(n_q, n_k, p) -> bool:
    """Exact below the threshold: ``n <= min_seq_len`` (routed); the official code's ``n_q < min_seq_len`` (sortlsh)."""
    if p["method"] == "sortlsh":
        return n_q < p["min_seq_len"]
    return n_k <= p["min_seq_len"] or n_q <= p["min_seq_len"]


def _noncausal(q, k, v, scale, p, gen, backend):
    """Non-causal approximation ``(out, lse)`` for ``[B, H, n, d]`` inputs."""
    n_q, n_k = q.shape[-2], k.shape[-2]
    if _is_short(n_q, n_k, p):
        return exact_attention_lse(q, k, v, scale=scale, backend=_dense(backend))
    lead = q.shape[:-2]
    flat = lambda t: t.reshape(-1, t.shape[-2], t.shape[-1])  # noqa: E731
    fn = _routed if p["method"] == "routed" else _sortlsh
    out, lse = fn(flat(q), flat(k), flat(v), scale, p, gen, backend if fn is _routed else _dense(backend))
    return out.reshape(*lead, n_q, -1), lse.reshape(*lead, n_q)


def exact_key_sets(q, k, scale=None, *, rng=None, **params) -> torch.Tensor:
    """The heavy-key finder on its own: which keys each query attends to *exactly* in one non-causal pass.

    Returns a bool mask ``[B, H, n_q, n_k]`` (``O(n^2)`` memory: for measuring recall on moderate ``n``). With
    the same ``rng`` seed it reproduces the key sets of ``hyper_attention(..., causal=False)``.
    """
    p = resolve_params(**params)
    gen = as_generator(rng)
    scale = float(q.shape[-1] ** -0.5 if scale is None else scale)
    n_q, n_k = q.shape[-2], k.shape[-2]
    qf, kf = q.reshape(-1, n_q, q.shape[-1]), k.reshape(-1, n_k, k.shape[-1])
    g = qf.shape[0]
    if _is_short(n_q, n_k, p):
        return torch.ones(*q.shape[:-1], n_k, dtype=torch.bool, device=q.device)
    if p["method"] == "routed":
        blocks, plan = _routing_plan(qf, kf, scale, p, gen)
        selected, q_order = plan.selected, plan.q_order
        chosen = torch.zeros(g, selected.shape[1], blocks.n_blocks, dtype=torch.bool, device=q.device)
        chosen = chosen.scatter(2, selected, True).repeat_interleave(p["query_block"], dim=1)[:, :n_q]
        chosen = _scatter_rows(chosen, q_order)  # per original query: chosen key blocks
        big_n = blocks.order.shape[1]
        position = torch.empty_like(blocks.order).scatter(
            1, blocks.order, torch.arange(big_n, device=q.device).expand(g, -1).contiguous()
        )
        key_block = position[:, :n_k] // p["block_size"]  # rows < n_k are the real keys
    else:
        q_order, k_order = _sortlsh_plan(qf, kf, p, gen)
        nb = -(-n_k // p["block_size"])
        rows = -(-n_q // nb)
        q_block = torch.empty_like(q_order).scatter(1, q_order, (torch.arange(n_q, device=q.device) // rows)
                                                    .expand(g, -1).contiguous())
        chosen = torch.nn.functional.one_hot(q_block, nb).bool()
        key_block = torch.empty_like(k_order).scatter(
            1, k_order, (torch.arange(n_k, device=q.device) // p["block_size"]).expand(g, -1).contiguous()
        )
    mask = torch.gather(chosen, 2, key_block.unsqueeze(1).expand(-1, n_q, -1))
    return mask.reshape(*q.shape[:-1], n_k)


def resolve_params(**overrides) -> dict:
    """The full parameter set: :data:`DEFAULTS` (or :data:`PUBLISHED` for ``method="sortlsh"``) plus overrides."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise InvalidParameterError(f"unknown hyper_attention parameter(s): {sorted(unknown)}")
    method = overrides.get("method", DEFAULTS["method"])
    if method not in METHODS:
        raise InvalidParameterError(f"method must be one of {METHODS}, got {method!r}")
    p = dict(DEFAULTS)
    if method == "sortlsh":
        p.update(PUBLISHED)
    p.update(overrides)
    for name in ("block_size", "query_block", "top_blocks", "lsh_bits"):
        if isinstance(p[name], bool) or not isinstance(p[name], int) or p[name] < 1:
            raise InvalidParameterError(f"{name} must be a positive int, got {p[name]!r}")
    for name in ("sample_size", "min_seq_len", "kmeans_iters"):
        if isinstance(p[name], bool) or not isinstance(p[name], int) or p[name] < 0:
            raise InvalidParameterError(f"{name} must be a non-negative int, got {p[name]!r}")
    if not 0.0 < float(p["sample_mix"]) <= 1.0:
        raise InvalidParameterError(f"sample_mix must be in (0, 1], got {p['sample_mix']!r}")
    return p


def _check_inputs(q, k, v, causal):
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise ItemTypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 4:
            raise InvalidParameterError(f"{name} must be [B, H, n, d] (4-D), got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise ItemTypeError(f"{name} must be a floating tensor, got {t.dtype}")
    if q.shape[:2] != k.shape[:2] or k.shape[:3] != v.shape[:3] or q.shape[-1] != k.shape[-1]:
        raise InvalidParameterError(
            f"shapes do not match SDPA conventions: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
        )
    if causal and q.shape[-2] != k.shape[-2]:
        raise InvalidParameterError("causal=True needs as many queries as keys")


def hyper_attention(q, k, v, causal=False, scale=None, *, rng=None, return_lse=False, backend="auto", **params):
    """Approximate ``scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)`` in ``O(n log n)``.

    Cost (measured on the CPU, docs/attention.md): ``O(n log n)`` products (a k-means tree over the keys, a
    routing tree with 128 top nodes scored once per query and a beam of 8 over one binary level per doubling;
    256 exact keys + 512 samples per query at the defaults), ``O(n (d + 128))`` extra memory, time(2n)/time(n)
    2.03-2.09 for the whole pass and at most 2.26 for any stage from 8k to 131k tokens.

    ``q [B, H, n_q, d]``, ``k [B, H, n_k, d]``, ``v [B, H, n_k, d_v]``; returns ``[B, H, n_q, d_v]`` (and the
    per-row log-sum-exp ``[B, H, n_q]`` if ``return_lse``). ``rng``: int seed or ``torch.Generator`` for the
    k-means starts, LSH directions and samples (``None``: fresh OS entropy). ``params`` (see :data:`DEFAULTS`):
    ``method`` (``"routed"``: clustered key blocks matched to query blocks + importance-sampled residual;
    ``"sortlsh"``: the published pairing with :data:`PUBLISHED` defaults), ``block_size`` (keys per block),
    ``query_block``, ``top_blocks`` (key blocks per query block), ``sample_size`` (residual samples per query
    block), ``min_seq_len`` (exact at or below this length; the causal recursion's base size), ``lsh_bits``,
    ``kmeans_iters``, ``sample_mix`` (share of the residual proposal that is uniform over uncovered keys).
    ``backend``: ``"auto"``/``"flash"``/``"torch"`` for every exact piece (see :func:`exact_attention_lse`);
    ``"triton"``: the routed method's chosen key blocks and residual samples through one fused Triton kernel that
    reads them in place and returns the LSE, with a fused backward (needs ``triton``; CPU tensors under
    ``TRITON_INTERPRET=1``), the dense pieces as ``"auto"``.

    Guarantees (tested): exact when every key is covered exactly (``n <= min_seq_len``); the merge and the causal
    recursion are exact; the residual normaliser is unbiased over ``rng``. Gradients flow through everything
    continuous (scores, values, log-sum-exp merges, sample weights applied as constants); the discrete choices
    (clusters, routing, LSH buckets, sample indices and their importance weights) are not differentiated.

    >>> import torch
    >>> q = torch.randn(1, 2, 64, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> ref = torch.nn.functional.scaled_dot_product_attention(q, q, q)
    >>> bool(torch.allclose(hyper_attention(q, q, q, rng=0), ref))  # 64 <= min_seq_len: exact
    True
    """
    _check_inputs(q, k, v, causal)
    if backend not in BACKENDS:
        raise InvalidParameterError(f"backend must be one of {BACKENDS}, got {backend!r}")
    p = resolve_params(**params)
    gen = as_generator(rng)
    if scale is None:
        scale = q.shape[-1] ** -0.5
    scale = float(scale)
    if causal:
        per_size = {h: {**p, "sample_size": m} for h, m in causal_sample_sizes(q.shape[-2], p).items()}
        out, lse = causal_recursion(
            q, k, v, p["min_seq_len"],
            lambda q2, k1, v1: _noncausal(q2, k1, v1, scale, per_size.get(k1.shape[-2], p), gen, backend),
            lambda qb, kb, vb: exact_attention_lse(qb, kb, vb, scale=scale, causal=True, backend=_dense(backend)),
        )
    else:
        out, lse = _noncausal(q, k, v, scale, p, gen, backend)
    return (out, lse) if return_lse else out


def scored_pairs_per_query(n: int, causal: bool = False, n_keys: int | None = None, **params) -> float:
    """Mean number of scored products per query: exact query-key pairs + samples + every routing product
    (``method="routed"``: the k-means key-centroid products amortised over the queries, the queries' products
    with the routing tree's top level and the beam's nodes; see :func:`._routing.routing_products_per_query`).

    This is the cost the quality benchmark equalises across methods.

    >>> scored_pairs_per_query(8192)  # 4 blocks of 64 + 512 samples + routing (128 leaves: k-means, top level)
    961.25
    >>> scored_pairs_per_query(8192, method="sortlsh")  # 256 + 256
    512.0
    """
    p = resolve_params(**params)

    def noncausal(nq, nk):
        if _is_short(nq, nk, p):
            return float(nk)
        if p["method"] == "sortlsh":
            return float(min(p["block_size"], nk) + p["sample_size"])
        routing = routing_products_per_query(nq, nk, p["block_size"], p["kmeans_iters"])
        nb = math.prod(tree_fanouts(-(-nk // p["block_size"])))
        r = min(p["top_blocks"], nb)
        return float(r * p["block_size"] + (p["sample_size"] if nb > r else 0) + routing)

    if not causal:
        return noncausal(n, n if n_keys is None else n_keys)

    per_size = causal_sample_sizes(n, p)

    def rec(m):
        if m <= p["min_seq_len"]:
            return (m + 1) / 2
        h = (m + m % 2) // 2
        cost = noncausal(h, h) + (per_size[h] - p["sample_size"] if h in per_size else 0)
        return rec(h) + cost / 2

    return rec(n)
