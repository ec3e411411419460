"""Fused Triton kernels for the block-sparse part of HyperAttention (``backend="triton"``): forward and backward.

One kernel covers both sparse parts: each query block attends to a *list of key rows* of the original ``k``/``v``
(``idx``), with an optional additive bias per entry (the residual's log-weights, ``-inf`` for padding). The
exact part is the list ``order[selected * b + 0..b-1]`` (its chosen key blocks), the residual the sampled
positions; the kernel reads the rows where they are, so neither the gathered key blocks nor the gathered
samples are materialised, and it returns the log-sum-exp (online softmax in float32, FlashAttention-style), which
the log-sum-exp merge needs. The backward kernel recomputes each tile's scores from the saved LSE
(FlashAttention-2's scheme, with the LSE's own gradient added: ``dS = P (dP - delta + dlse)``), writes ``dQ`` per
query block and accumulates ``dK``/``dV`` into the key rows with atomic adds (rows repeat across and within
query blocks).

Correctness is tested against the reference path (``tests/test_attention_triton.py``) on the CPU under Triton's
interpreter (``TRITON_INTERPRET=1``), which runs the same kernel source with numpy; no GPU run was made. Triton is
not a dependency (the wheel is ~290 MB, ~1 GB installed): ``pip install triton`` to use it.
"""

from __future__ import annotations

import functools
import math

import torch


def triton_available() -> bool:
    """Whether ``triton`` imports (the kernel then runs on CUDA tensors, or anywhere under ``TRITON_INTERPRET=1``)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def _kernel():
    import triton
    import triton.language as tl

    @triton.jit
    def gathered_attention_fwd(
        Q, K, V, IDX, BIAS, OUT, LSE,
        rows_q, n_idx, d, dv, scale,
        sq_g, sq_t, sq_r, sk_g, sk_r, sv_g, sv_r, si_g, si_t, sb_g, sb_t, so_g, so_t, so_r, sl_g, sl_t,
        HAS_BIAS: tl.constexpr, BQ: tl.constexpr, BK: tl.constexpr, BD: tl.constexpr, BDV: tl.constexpr,
        PREC: tl.constexpr,
    ):
        blk = tl.program_id(0)
        grp = tl.program_id(1)
        rq = tl.arange(0, BQ)
        rd = tl.arange(0, BD)
        rdv = tl.arange(0, BDV)
        q_ok = rq < rows_q
        q = tl.load(Q + grp * sq_g + blk * sq_t + rq[:, None] * sq_r + rd[None, :],
                    mask=q_ok[:, None] & (rd[None, :] < d), other=0.0).to(tl.float32)
        m_i = tl.full([BQ], float("-inf"), tl.float32)
        l_i = tl.zeros([BQ], tl.float32)
        acc = tl.zeros([BQ, BDV], tl.float32)
        for start in range(0, n_idx, BK):
            rk = start + tl.arange(0, BK)
            k_ok = rk < n_idx
            rows = tl.load(IDX + grp * si_g + blk * si_t + rk, mask=k_ok, other=0)
            k = tl.load(K + grp * sk_g + rows[:, None] * sk_r + rd[None, :],
                        mask=k_ok[:, None] & (rd[None, :] < d), other=0.0).to(tl.float32)
            s = tl.dot(q, tl.trans(k), input_precision=PREC) * scale
            if HAS_BIAS:
                bias = tl.load(BIAS + grp * sb_g + blk * sb_t + rk, mask=k_ok, other=float("-inf"))
                s = s + bias.to(tl.float32)[None, :]
            s = tl.where(k_ok[None, :], s, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(s, 1))
            m_ref = tl.where(m_new == float("-inf"), 0.0, m_new)  # rows with no key yet: keep everything at 0
            alpha = tl.exp(m_i - m_ref)
            p = tl.exp(s - m_ref[:, None])
            l_i = l_i * alpha + tl.sum(p, 1)
            v = tl.load(V + grp * sv_g + rows[:, None] * sv_r + rdv[None, :],
                        mask=k_ok[:, None] & (rdv[None, :] < dv), other=0.0).to(tl.float32)
            acc = acc * alpha[:, None] + tl.dot(p, v, input_precision=PREC)
            m_i = m_new
        empty = l_i == 0.0
        out = acc / tl.where(empty, 1.0, l_i)[:, None]
        lse = tl.where(empty, float("-inf"), m_i + tl.log(tl.where(empty, 1.0, l_i)))
        tl.store(OUT + grp * so_g + blk * so_t + rq[:, None] * so_r + rdv[None, :], out,
                 mask=q_ok[:, None] & (rdv[None, :] < dv))
        tl.store(LSE + grp * sl_g + blk * sl_t + rq, lse, mask=q_ok)

    @triton.jit
    def gathered_attention_bwd(
        Q, K, V, IDX, BIAS, DO, LSE, DLSE, DELTA, DQ, DK, DV,
        rows_q, n_idx, d, dv, scale,
        sq_g, sq_t, sq_r, sk_g, sk_r, sv_g, sv_r, si_g, si_t, sb_g, sb_t, so_g, so_t, so_r, sl_g, sl_t,
        HAS_BIAS: tl.constexpr, BQ: tl.constexpr, BK: tl.constexpr, BD: tl.constexpr, BDV: tl.constexpr,
        PREC: tl.constexpr,
    ):
        blk = tl.program_id(0)
        grp = tl.program_id(1)
        rq = tl.arange(0, BQ)
        rd = tl.arange(0, BD)
        rdv = tl.arange(0, BDV)
        q_ok = rq < rows_q
        q_mask = q_ok[:, None] & (rd[None, :] < d)
        q = tl.load(Q + grp * sq_g + blk * sq_t + rq[:, None] * sq_r + rd[None, :], mask=q_mask, other=0.0)
        q = q.to(tl.float32)
        o_mask = q_ok[:, None] & (rdv[None, :] < dv)
        do = tl.load(DO + grp * so_g + blk * so_t + rq[:, None] * so_r + rdv[None, :], mask=o_mask, other=0.0)
        do = do.to(tl.float32)
        lse = tl.load(LSE + grp * sl_g + blk * sl_t + rq, mask=q_ok, other=float("-inf"))
        dlse = tl.load(DLSE + grp * sl_g + blk * sl_t + rq, mask=q_ok, other=0.0)
        delta = tl.load(DELTA + grp * sl_g + blk * sl_t + rq, mask=q_ok, other=0.0)
        live = lse > float("-inf")
        lse_ref = tl.where(live, lse, 0.0)
        dq = tl.zeros([BQ, BD], tl.float32)
        for start in range(0, n_idx, BK):
            rk = start + tl.arange(0, BK)
            k_ok = rk < n_idx
            rows = tl.load(IDX + grp * si_g + blk * si_t + rk, mask=k_ok, other=0)
            k_mask = k_ok[:, None] & (rd[None, :] < d)
            v_mask = k_ok[:, None] & (rdv[None, :] < dv)
            k = tl.load(K + grp * sk_g + rows[:, None] * sk_r + rd[None, :], mask=k_mask, other=0.0).to(tl.float32)
            v = tl.load(V + grp * sv_g + rows[:, None] * sv_r + rdv[None, :], mask=v_mask, other=0.0).to(tl.float32)
            s = tl.dot(q, tl.trans(k), input_precision=PREC) * scale
            if HAS_BIAS:
                bias = tl.load(BIAS + grp * sb_g + blk * sb_t + rk, mask=k_ok, other=float("-inf"))
                s = s + bias.to(tl.float32)[None, :]
            s = tl.where(k_ok[None, :] & live[:, None], s, float("-inf"))
            p = tl.exp(s - lse_ref[:, None])
            dp = tl.dot(do, tl.trans(v), input_precision=PREC)
            ds = p * (dp - delta[:, None] + dlse[:, None])
            dq += tl.dot(ds, k, input_precision=PREC) * scale
            dk = tl.dot(tl.trans(ds), q, input_precision=PREC) * scale
            tl.atomic_add(DK + grp * sk_g + rows[:, None] * sk_r + rd[None, :], dk, mask=k_mask)
            dv_tile = tl.dot(tl.trans(p), do, input_precision=PREC)
            tl.atomic_add(DV + grp * sv_g + rows[:, None] * sv_r + rdv[None, :], dv_tile, mask=v_mask)
        tl.store(DQ + grp * sq_g + blk * sq_t + rq[:, None] * sq_r + rd[None, :], dq, mask=q_mask)

    return gathered_attention_fwd, gathered_attention_bwd


def _pow2(x: int, least: int = 16) -> int:
    return max(least, 1 << max(0, int(x) - 1).bit_length())


def _launch(which: int, q_blocks, k, v, idx, bias, scale, key_tile, out_like, lse_like, *tensors):
    """Run kernel ``which`` (0 forward, 1 backward) with ``tensors`` after the bias; strides of the
    ``[G, t, bq, dv]`` tensors from ``out_like``, of the ``[G, t, bq]`` ones from ``lse_like``."""
    g, t, bq, d = q_blocks.shape
    dv, n_idx = v.shape[-1], idx.shape[-1]
    has_bias = bias is not None
    b = bias if has_bias else idx  # a placeholder pointer when unused
    _kernel()[which][(t, g)](
        q_blocks, k, v, idx, b, *tensors,
        bq, n_idx, d, dv, scale,
        q_blocks.stride(0), q_blocks.stride(1), q_blocks.stride(2), k.stride(0), k.stride(1),
        v.stride(0), v.stride(1), idx.stride(0), idx.stride(1),
        b.stride(0) if has_bias else 0, b.stride(1) if has_bias else 0,
        out_like.stride(0), out_like.stride(1), out_like.stride(2), lse_like.stride(0), lse_like.stride(1),
        HAS_BIAS=has_bias, BQ=_pow2(bq), BK=_pow2(min(key_tile, max(n_idx, 1))), BD=_pow2(d), BDV=_pow2(dv),
        # rows are multiplied in float32: exact (IEEE) for float32 inputs, TF32 tensor cores for half inputs (their
        # 8-11 significant bits fit TF32's); Triton's interpreter could not run bf16 operands in tl.dot
        PREC="ieee" if q_blocks.dtype in (torch.float32, torch.float64) else "tf32",
    )


class _GatheredAttention(torch.autograd.Function):
    """Forward and backward kernels; the bias is a constant (log-weights and padding masks)."""

    @staticmethod
    def forward(ctx, q_blocks, k, v, idx, bias, scale, key_tile):
        g, t, bq, _ = q_blocks.shape
        out = torch.empty(g, t, bq, v.shape[-1], dtype=torch.float32, device=q_blocks.device)
        lse = torch.empty(g, t, bq, dtype=torch.float32, device=q_blocks.device)
        _launch(0, q_blocks, k, v, idx, bias, scale, key_tile, out, lse, out, lse)
        ctx.save_for_backward(q_blocks, k, v, idx, bias, out, lse)
        ctx.scale, ctx.key_tile = scale, key_tile
        return out, lse

    @staticmethod
    def backward(ctx, d_out, d_lse):
        q_blocks, k, v, idx, bias, out, lse = ctx.saved_tensors
        d_out = torch.zeros_like(out) if d_out is None else d_out.to(torch.float32).contiguous()
        d_lse = torch.zeros_like(lse) if d_lse is None else d_lse.to(torch.float32).contiguous()
        delta = (d_out * out).sum(-1).contiguous()
        dq = torch.empty(q_blocks.shape, dtype=torch.float32, device=q_blocks.device)
        dk = torch.zeros(k.shape, dtype=torch.float32, device=k.device)
        dv = torch.zeros(v.shape, dtype=torch.float32, device=v.device)
        _launch(1, q_blocks, k, v, idx, bias, ctx.scale, ctx.key_tile, d_out, lse, d_out, lse, d_lse, delta, dq, dk,
                dv)
        return dq.to(q_blocks.dtype), dk.to(k.dtype), dv.to(v.dtype), None, None, None, None


def gathered_attention_lse(q_blocks, k, v, idx, bias=None, scale=None, key_tile: int = 32):
    """``(out, lse)`` of each query block over a list of key rows, by the fused Triton kernels.

    ``q_blocks [G, t, bq, d]``; ``k [G, N, d]``, ``v [G, N, dv]`` (rows where they are: nothing is gathered);
    ``idx [G, t, L]`` int (rows of ``k``/``v`` per query block; repeats count repeatedly); ``bias [G, t, L]`` or
    None (added to the scores; ``-inf`` drops the entry; a constant of the backward). Equals
    ``exact_attention_lse(q_blocks, k[idx], v[idx], key_bias=bias)``; computed in float32, returned in ``v``'s
    dtype (``lse`` float32). Differentiable in ``q_blocks``, ``k``, ``v`` (the backward kernel recomputes the
    scores per tile and accumulates ``dK``/``dV`` of repeated rows with atomic adds), the LSE's gradient included.
    """
    scale = float(q_blocks.shape[-1] ** -0.5 if scale is None else scale)
    q_blocks, k, v = q_blocks.contiguous(), k.contiguous(), v.contiguous()
    idx = idx.to(torch.int64).contiguous()
    bias = None if bias is None else bias.to(torch.float32).contiguous()
    out, lse = _GatheredAttention.apply(q_blocks, k, v, idx, bias, scale, key_tile)
    return out.to(v.dtype), lse


def block_rows(order_rows, selected, block_size: int):
    """Key rows of the chosen blocks: ``order_rows [G, N]`` (blocked position -> row of ``k``), ``selected [G, t, r]``
    -> ``[G, t, r * b]`` (``order_rows[selected * b + 0..b-1]``): integers only, no key is copied."""
    g, t, r = selected.shape
    pos = (selected.unsqueeze(-1) * block_size + torch.arange(block_size, device=selected.device)).reshape(g, t * r
                                                                                                          * block_size)
    return torch.gather(order_rows, 1, pos).view(g, t, r * block_size), pos.view(g, t, r * block_size)


def padding_bias(valid_flat, positions):
    """``0`` for real keys, ``-inf`` for padding: ``valid_flat [G, N]`` bool at blocked ``positions [G, t, L]``."""
    g, t, n_idx = positions.shape
    ok = torch.gather(valid_flat, 1, positions.reshape(g, t * n_idx)).view(g, t, n_idx)
    return torch.zeros(ok.shape, dtype=torch.float32, device=ok.device).masked_fill(~ok, -math.inf)
