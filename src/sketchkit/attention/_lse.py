"""Exact attention that also returns the log-sum-exp, and the exact merge of partial attentions.

Every partial attention in this package returns ``(out, lse)`` where, for query row ``i`` and the key set
``S`` it covered, ``lse_i = log sum_{j in S} w_j exp(scale * q_i . k_j)`` (``w_j = 1`` for exact parts, the
inverse inclusion weight for sampled parts) and ``out_i`` is the matching normalised average of the values.
Two parts over disjoint key sets merge exactly through their normalisers (:func:`merge_lse_partials`).
"""

from __future__ import annotations

import math

import torch

# Rows of the score matrix processed at once on the plain-torch path: caps memory at ~2**25 scores.
_SCORE_BUDGET = 1 << 25


def merge_lse_partials(out1, lse1, out2, lse2):
    """Merge two partial attentions over disjoint key sets: exact (``lse = logaddexp``; weights ``e^(lse_p - lse)``).

    Rows where both parts are empty (``lse = -inf``) give ``out = 0`` and ``lse = -inf``.

    >>> import torch
    >>> o, l = merge_lse_partials(torch.ones(1, 2), torch.zeros(1), torch.zeros(1, 2), torch.zeros(1))
    >>> o.tolist(), round(float(l[0]), 6)
    ([[0.5, 0.5]], 0.693147)
    """
    lse = torch.logaddexp(lse1, lse2)
    finite = torch.isfinite(lse)
    ref = torch.where(finite, lse, torch.zeros_like(lse))
    w1 = torch.where(finite, torch.exp(lse1 - ref), torch.zeros_like(lse)).unsqueeze(-1)
    w2 = torch.where(finite, torch.exp(lse2 - ref), torch.zeros_like(lse)).unsqueeze(-1)
    return (w1 * out1.to(w1.dtype) + w2 * out2.to(w2.dtype)).to(out1.dtype), lse


def attention_from_scores(scores, v):
    """``(softmax(scores) @ v, logsumexp(scores))`` with ``-inf`` scores allowed (empty rows give 0, -inf)."""
    lse = torch.logsumexp(scores.float() if scores.dtype in (torch.float16, torch.bfloat16) else scores, dim=-1)
    ref = torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse))
    p = torch.exp(scores - ref.unsqueeze(-1).to(scores.dtype))
    return p.to(v.dtype) @ v, lse


def _plain_attention_lse(q, k, v, scale, causal, key_bias):
    n_q, n_k = q.shape[-2], k.shape[-2]
    rows = max(1, _SCORE_BUDGET // max(1, n_k * max(1, q[..., 0, 0].numel())))
    outs, lses = [], []
    for start in range(0, n_q, rows):
        stop = min(n_q, start + rows)
        s = (q[..., start:stop, :] @ k.transpose(-1, -2)) * scale
        if key_bias is not None:
            s = s + key_bias.unsqueeze(-2).to(s.dtype)
        if causal:
            qi = torch.arange(start, stop, device=q.device).unsqueeze(-1)
            kj = torch.arange(n_k, device=q.device)
            s = s.masked_fill(kj > qi, -math.inf)  # top-left aligned, as scaled_dot_product_attention
        o, lse = attention_from_scores(s, v)
        outs.append(o)
        lses.append(lse)
    if len(outs) == 1:
        return outs[0], lses[0]
    return torch.cat(outs, dim=-2), torch.cat(lses, dim=-1)


class _FlashWithLSE(torch.autograd.Function):
    """torch's fused flash kernel (CUDA, or its CPU twin) with a backward that also carries the LSE's gradient.

    d lse_i / d q_i = scale * (P K)_i and d lse_i / d k_j = scale * P_ij q_i, so the LSE gradient costs one more
    fused forward (values = keys) and one more fused backward (grad_out = g_lse * q, values = keys). ``mask``
    (CPU only): an additive float mask broadcastable to ``[B, H, n_q, n_k]`` (0 or ``-inf``).
    """

    @staticmethod
    def forward(ctx, q, k, v, scale, causal, mask):
        out, lse, extra = _flash_forward(q, k, v, scale, causal, mask)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.extra, ctx.scale, ctx.causal, ctx.mask = extra, scale, causal, mask
        return out, lse

    @staticmethod
    def backward(ctx, g_out, g_lse):
        q, k, v, out, lse = ctx.saved_tensors
        scale, causal, mask = ctx.scale, ctx.causal, ctx.mask
        if g_out is None:
            g_out = torch.zeros_like(out)
        dq, dk, dv = _flash_backward(g_out.contiguous(), q, k, v, out, lse, ctx.extra, scale, causal, mask)
        if g_lse is not None:  # no data-dependent skip: that would be a host sync on every backward
            acc = torch.float64 if q.dtype == torch.float64 else torch.float32
            g = g_lse.unsqueeze(-1).to(acc)
            pk, lse_k, extra_k = _flash_forward(q, k, k, scale, causal, mask)
            dq = dq + (scale * g * pk.to(acc)).to(dq.dtype)
            gq = (g * q.to(acc)).to(q.dtype).contiguous()
            _, _, dk_extra = _flash_backward(gq, q, k, k, pk, lse_k, extra_k, scale, causal, mask)
            dk = dk + scale * dk_extra
        return dq, dk, dv, None, None, None


def _flash_forward(q, k, v, scale, causal, mask=None):
    if q.is_cuda:
        r = torch.ops.aten._scaled_dot_product_flash_attention(q, k, v, 0.0, causal, False, scale=scale)
        return r[0], r[1][..., : q.shape[-2]], r[2:8]
    out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        q, k, v, 0.0, causal, attn_mask=mask, scale=scale
    )
    return out, lse, None


def _flash_backward(g, q, k, v, out, lse, extra, scale, causal, mask=None):
    if q.is_cuda:
        cq, ck, mq, mk, seed, offset = extra
        return torch.ops.aten._scaled_dot_product_flash_attention_backward(
            g, q, k, v, out, lse, cq, ck, mq, mk, 0.0, causal, seed, offset, scale=scale
        )
    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
        g, q, k, v, out, lse, 0.0, causal, attn_mask=mask, scale=scale
    )


def _flash_with_bias_dimension(q4, k4, v4, key_bias4, scale, causal):
    """Fused attention with an additive key bias on kernels that take no mask (CUDA's flash kernel): the bias is
    folded into one extra head dimension, ``[q, 1] . [k, bias / scale] = q.k + bias / scale``, so the kernel's
    ``scale`` multiplies it back exactly; the head dimension is zero-padded to a multiple of 8 (``v`` too, the
    output is sliced back). ``-inf`` biases become ``-3e4 * scale`` (``exp`` underflows to 0; finite, so the
    backward never forms ``0 * inf``). Inputs ``[B, H, n, d]``, ``key_bias4 [B, H, 1, n_k]``."""
    d, dv = q4.shape[-1], v4.shape[-1]
    width = -(-max(d + 1, dv) // 8) * 8
    col = (key_bias4.transpose(-1, -2).float().clamp(min=-3e4 * scale) / scale).to(k4.dtype)  # [B, H, n_k, 1]
    col = col.expand(*k4.shape[:-1], 1)
    qa = torch.cat([q4, torch.ones_like(q4[..., :1]), q4.new_zeros(*q4.shape[:-1], width - d - 1)], dim=-1)
    ka = torch.cat([k4, col, k4.new_zeros(*k4.shape[:-1], width - d - 1)], dim=-1)
    va = torch.cat([v4, v4.new_zeros(*v4.shape[:-1], width - dv)], dim=-1) if width > dv else v4
    out, lse = _FlashWithLSE.apply(qa, ka, va.contiguous(), float(scale), causal, None)
    return out[..., :dv], lse


def fused_kernel_available(q: torch.Tensor, masked: bool = False) -> bool:
    """Whether :func:`exact_attention_lse` (``backend="auto"``) uses torch's fused flash kernel for tensors like
    ``q``: on the CPU always (float32/float64/bf16/fp16, key masks included: the CPU kernel takes an additive
    mask), on CUDA in fp16/bf16 with head dim a multiple of 8 up to 256 (up to 248 with a key mask, which is folded
    into an extra head dimension)."""
    if not hasattr(torch.ops.aten, "_scaled_dot_product_flash_attention"):
        return False
    if q.device.type == "cpu":
        return q.dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16)
    # CUDA: a key mask costs one extra head dimension (``_flash_with_bias_dimension``), padded to a multiple of 8
    return (
        q.is_cuda
        and q.dtype in (torch.float16, torch.bfloat16)
        and q.shape[-1] + (8 if masked else 0) <= 256
        and q.shape[-1] % 8 == 0
    )


def exact_attention_lse(q, k, v, scale=None, causal=False, key_bias=None, backend="auto"):
    """Exact attention over all keys, returning ``(out, lse)``; inputs ``[..., n, d]`` (SDPA layout).

    ``key_bias`` (``[..., n_k]``) is added to every query's scores of those keys: 0 or ``-inf`` masks keys, a
    finite value weights a key by ``exp(bias)`` (the sampled residual's log importance weights). ``causal`` is
    top-left aligned like
    ``scaled_dot_product_attention(is_causal=True)``. ``backend``: ``"auto"`` uses torch's fused flash kernel
    (``torch.ops.aten._scaled_dot_product_flash_attention[_for_cpu]``, which returns the LSE) wherever
    :func:`fused_kernel_available` says so (always on the CPU, key masks included; CUDA in fp16/bf16 without a
    key mask folded into an extra head dimension), else plain torch (chunked matmul + ``logsumexp``, any dtype,
    any device); ``"flash"`` forces the fused kernel; ``"torch"`` forces plain torch. Both are
    differentiable, the LSE included.

    >>> import torch
    >>> q = k = v = torch.eye(2, dtype=torch.float64).view(1, 1, 2, 2)
    >>> out, lse = exact_attention_lse(q, k, v, scale=1.0)
    >>> round(float(lse[0, 0, 0]), 6) == round(math.log(math.e + 1), 6)
    True
    """
    if scale is None:
        scale = q.shape[-1] ** -0.5
    masked = key_bias is not None
    if k.shape[-2] == 0 or q.shape[-2] == 0 or v.shape[-1] != q.shape[-1]:
        # the kernels need equal head sizes; the CPU kernel divides by zero on empty inputs
        return _plain_attention_lse(q, k, v, scale, causal, key_bias)
    if backend == "flash" or (backend == "auto" and fused_kernel_available(q, masked)):
        lead = q.shape[:-2]
        q4, k4, v4 = (t.reshape(-1, 1, t.shape[-2], t.shape[-1]) if t.dim() != 4 else t for t in (q, k, v))
        mask = None
        if masked:
            # [..., n_k] -> [B*, 1, 1, n_k]: one key row per (batch, head), broadcast over the queries
            mask = key_bias.to(torch.float32 if q.is_cuda else q.dtype)
            mask = mask.reshape(q4.shape[0], -1, 1, k.shape[-2]).expand(-1, q4.shape[1], -1, -1)
        if masked and q.is_cuda:  # CUDA's flash kernel takes no mask
            out, lse = _flash_with_bias_dimension(q4, k4, v4, mask, float(scale), causal)
        else:
            out, lse = _FlashWithLSE.apply(q4.contiguous(), k4.contiguous(), v4.contiguous(), float(scale), causal,
                                           mask)
        out, lse = out.reshape(*lead, q.shape[-2], v.shape[-1]), lse.reshape(*lead, q.shape[-2])
        if masked:
            # the kernel reports lse = 0 for a row whose keys are all masked; the merge needs -inf there
            empty = ~torch.isfinite(key_bias).any(-1, keepdim=True)
            lse = lse.masked_fill(empty, -math.inf)
            out = out.masked_fill(empty.unsqueeze(-1), 0.0)
        return out, lse
    return _plain_attention_lse(q, k, v, scale, causal, key_bias)
