"""The sampled residual: an unbiased estimate of the attention mass the exact blocks did not cover.

For a query ``i`` with exact key set ``S_i`` the residual normaliser is ``R_i = sum_{j not in S_i} exp(s_ij)``.
Draw keys ``j_1..j_m`` independently with probabilities ``p_j`` and give each the weight ``1 / (m p_j)``;
then ``sum_t [j_t not in S_i] exp(s_{i j_t}) / (m p_{j_t})`` has expectation exactly ``R_i`` (and the same
estimator with ``v`` gives the unnormalised residual output). ``p`` uniform over all ``n`` keys is the published
choice (weight ``n / m``); :func:`block_importance_sample` and :func:`range_importance_sample` draw from a
per-query-block proposal instead, and :func:`range_systematic_sample` (the routed method's default) draws the same
proposal systematically: the same weights, still unbiased, with a stratified, lower-variance spread of draws.
"""

from __future__ import annotations

import math

import torch

from ._lse import attention_from_scores, exact_attention_lse
from ._random import device_generator


def sampled_residual(q, k_samples, v_samples, log_weight, exclude=None, scale=None, backend="auto"):
    """``(out, lse)`` of the weighted sample: ``lse_i = log sum_t [t not excluded for i] w_t exp(scale q_i.k_t)``.

    ``q [..., L, d]``; ``k_samples``/``v_samples [..., m, d]``; ``log_weight [..., m]`` (``log w_t``);
    ``exclude [..., L, m]`` bool or None: samples that fall in the query's exact key set (they are already
    counted exactly; excluding them keeps the total unbiased). Without ``exclude`` and in float32/float64 the
    log-weights are an additive key bias of :func:`exact_attention_lse` (the fused kernel: no ``[L, m]`` score
    tensor); otherwise scores and weights are formed in float32 at least (log-weights need more than bf16's
    8 mantissa bits).
    """
    if scale is None:
        scale = q.shape[-1] ** -0.5
    if exclude is None and q.dtype in (torch.float32, torch.float64):
        return exact_attention_lse(q, k_samples, v_samples, scale=scale, key_bias=log_weight.to(q.dtype),
                                   backend=backend)
    acc = torch.float64 if q.dtype == torch.float64 else torch.float32
    bias = log_weight.to(acc).unsqueeze(-2)
    if exclude is not None:
        bias = bias.masked_fill(exclude, -math.inf)
    scores = (q @ k_samples.transpose(-1, -2)).to(acc) * scale + bias
    out, lse = attention_from_scores(scores, v_samples)
    return out.to(v_samples.dtype), lse


def uniform_sample(n_keys: int, m: int, groups: int, generator, device=None):
    """``[groups, m]`` key indices drawn uniformly with replacement, and their log weight ``log(n/m)``."""
    gen = device_generator(generator, device or "cpu")
    idx = torch.randint(0, n_keys, (groups, m), generator=gen, device=gen.device)
    log_w = torch.full((groups, m), math.log(n_keys / m), device=device)
    return idx, log_w


def block_importance_sample(proposal, block_counts, block_size, m, generator):
    """Draw ``m`` keys per row from a block-level proposal: block ``c`` w.p. ``proposal[..., c]``, then a key
    uniformly among the block's ``block_counts[..., c]`` real keys.

    ``proposal [G, t, nb]`` (rows sum to 1), ``block_counts [G, nb]``. Returns ``idx [G, t, m]`` (positions in the
    blocked key order, ``block * block_size + offset``) and ``log_weight [G, t, m]`` with
    ``w = 1 / (m * P(key)) = count / (m * proposal)``.
    """
    g, t, nb = proposal.shape
    gen = device_generator(generator, proposal.device)
    blk = torch.multinomial(proposal.reshape(-1, nb).float(), m, replacement=True, generator=gen).reshape(g, t, m)
    counts = torch.gather(block_counts.unsqueeze(1).expand(-1, t, -1), 2, blk)
    u = torch.rand((g, t, m), generator=gen, dtype=torch.float64, device=proposal.device)
    offset = (u * counts).long().clamp_max(counts - 1)
    p_blk = torch.gather(proposal, 2, blk).double()
    log_w = torch.log(counts.double()) - math.log(m) - torch.log(p_blk)
    return blk * block_size + offset, log_w


def range_importance_sample(proposal, starts, sizes, m, generator, valid=None):
    """Draw ``m`` keys per row from a proposal over key ranges: range ``c`` w.p. ``proposal[..., c]``, then a
    position uniformly in ``[starts[c], starts[c] + sizes[c])``; ``w = sizes[c] / (m * proposal[c])``.

    ``proposal``/``starts``/``sizes [G, t, P]`` (rows sum to 1); ``valid [G, N]`` bool or None: positions that are
    padding get ``log w = -inf`` (they contribute nothing, which keeps the estimate unbiased over the valid keys).
    Returns ``idx [G, t, m]`` (positions) and ``log_weight [G, t, m]``.
    """
    g, t, parts = proposal.shape
    gen = device_generator(generator, proposal.device)
    pick = torch.multinomial(proposal.reshape(-1, parts).float(), m, replacement=True, generator=gen)
    pick = pick.reshape(g, t, m)
    size = torch.gather(sizes, 2, pick)
    u = torch.rand((g, t, m), generator=gen, dtype=torch.float64, device=proposal.device)
    idx = torch.gather(starts, 2, pick) + (u * size).long().clamp_max(size - 1)
    log_w = torch.log(size.double()) - math.log(m) - torch.log(torch.gather(proposal, 2, pick).double())
    if valid is not None:
        ok = torch.gather(valid, 1, idx.reshape(g, t * m)).view(g, t, m)
        log_w = log_w.masked_fill(~ok, -math.inf)
    return idx, log_w


def range_systematic_sample(proposal, starts, sizes, m, generator, valid=None):
    """Systematic (stratified) version of :func:`range_importance_sample`: the same key density
    ``p_j = proposal[c] / sizes[c]`` for a position ``j`` of range ``c``, but the ``m`` draws are the points
    ``(s + u) / m``, ``s = 0..m-1``, of the density's cumulative distribution over the ranges laid end to end,
    with one uniform ``u`` per row (Madow's systematic sampling). Each draw has weight ``1 / (m p_j)`` as before.

    Unbiased: ``E sum_s f(j_s) / (m p_{j_s}) = sum_j f(j)`` (the ``m`` points together cover ``[0, 1)`` uniformly
    once). Unlike independent draws, a range of probability ``P`` gets ``floor(m P)`` or ``ceil(m P)`` draws, evenly
    spaced inside it, and a position with ``m p_j <= 1`` is drawn at most once: the between-range part of the
    variance is gone, and within a range (keys in tree order, i.e. clustered) the draws are spread out.
    Same arguments and returns as :func:`range_importance_sample`.
    """
    g, t, parts = proposal.shape
    gen = device_generator(generator, proposal.device)
    prob = proposal.double()
    prob = prob / prob.sum(-1, keepdim=True).clamp_min(1e-300)
    cdf = prob.cumsum(-1)
    cdf = cdf / cdf[..., -1:]  # the last entry exactly 1: every point (< 1) falls in a range of positive probability
    u = torch.rand((g, t, 1), generator=gen, dtype=torch.float64, device=proposal.device)
    points = (torch.arange(m, dtype=torch.float64, device=proposal.device) + u) / m  # [G, t, m] in [0, 1)
    pick = torch.searchsorted(cdf, points, right=True).clamp_max(parts - 1)
    p_pick = torch.gather(prob, 2, pick)
    below = torch.gather(cdf, 2, pick) - p_pick  # the CDF where the range starts
    frac = ((points - below) / p_pick.clamp_min(1e-300)).clamp(0.0, 1.0)
    size = torch.gather(sizes, 2, pick)
    idx = torch.gather(starts, 2, pick) + (frac * size).long().clamp(min=0).clamp_max(size - 1)
    log_w = torch.log(size.double()) - math.log(m) - torch.log(p_pick)
    if valid is not None:
        ok = torch.gather(valid, 1, idx.reshape(g, t * m)).view(g, t, m)
        log_w = log_w.masked_fill(~ok, -math.inf)
    return idx, log_w
