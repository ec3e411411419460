"""Exact attention of query blocks to chosen key blocks (the heavy part of HyperAttention).

Keys are laid out in blocks ``[..., nb, b, d]`` (a padding mask marks missing keys); query block ``t`` attends
exactly to the key blocks ``selected[..., t, :]``. The published method's block-diagonal pass is the special case
``selected[t] = t`` on sortLSH-sorted queries and keys.
"""

from __future__ import annotations

import math

import torch

from ._lse import exact_attention_lse


def gather_blocks(blocks: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
    """``blocks [G, nb, b, ...]``, ``selected [G, t, r]`` -> ``[G, t, r*b, ...]``: the chosen blocks, concatenated."""
    g, t, r = selected.shape
    rest = blocks.shape[2:]
    nb = blocks.shape[1]
    flat = blocks.reshape(g * nb, -1)  # one row per block: a flat row gather (faster than an expanded gather)
    idx = (selected + (torch.arange(g, device=selected.device) * nb).view(g, 1, 1)).reshape(-1)
    out = flat.index_select(0, idx).reshape(g, t, r, *rest)
    return out.reshape(g, t, r * rest[0], *rest[1:])


def block_attention(q_blocks, k_blocks, v_blocks, selected, key_valid=None, scale=None, backend="auto"):
    """Exact attention of each query block to its selected key blocks: ``(out, lse)`` shaped like ``q_blocks``.

    ``q_blocks [G, t, bq, d]``, ``k_blocks``/``v_blocks [G, nb, b, d]``, ``selected [G, t, r]`` (distinct block
    ids per row), ``key_valid [G, nb, b]`` bool or None (all keys real). Whether to mask is decided by the caller
    from the shapes (``key_valid=None`` when there is no padding), never by inspecting the mask (a host sync).
    """
    k_sel = gather_blocks(k_blocks, selected)
    v_sel = gather_blocks(v_blocks, selected)
    bias = None
    if key_valid is not None:
        valid = gather_blocks(key_valid, selected)
        bias = torch.zeros(valid.shape, dtype=q_blocks.dtype, device=q_blocks.device).masked_fill(~valid, -math.inf)
    return exact_attention_lse(q_blocks, k_sel, v_sel, scale=scale, key_bias=bias, backend=backend)


def to_blocks(x: torch.Tensor, block: int, n_blocks: int):
    """Zero-pad ``x [G, n, ...]`` to ``n_blocks * block`` rows and view it as ``[G, n_blocks, block, ...]``."""
    g, n = x.shape[:2]
    pad = n_blocks * block - n
    if pad:
        x = torch.cat([x, x.new_zeros(g, pad, *x.shape[2:])], dim=1)
    return x.reshape(g, n_blocks, block, *x.shape[2:])


def block_diagonal_attention(q, k, v, block_size, scale=None, backend="auto"):
    """Query block ``i`` attends exactly to key block ``i``, in the given row order (published step 3).

    ``q [..., n_q, d]``, ``k``/``v [..., n_k, d]``. There are ``nb = ceil(n_k / block_size)`` key blocks (the
    last one padded with masked keys, which add nothing) and each query block has ``ceil(n_q / nb)`` rows.
    Returns ``(out, lse)`` with ``out [..., n_q, d]`` and the id of each query's block ``[n_q]``.
    With one block it is exact attention.
    """
    lead = q.shape[:-2]
    n_q, n_k, d = q.shape[-2], k.shape[-2], q.shape[-1]
    qf, kf, vf = q.reshape(-1, n_q, d), k.reshape(-1, n_k, d), v.reshape(-1, n_k, v.shape[-1])
    nb = -(-n_k // block_size)
    rows = -(-n_q // nb)
    qb, kb, vb = to_blocks(qf, rows, nb), to_blocks(kf, block_size, nb), to_blocks(vf, block_size, nb)
    valid = None
    if nb * block_size != n_k:  # static: only the last block is padded
        valid = to_blocks(torch.ones(kf.shape[:2], dtype=torch.bool, device=q.device), block_size, nb)
    selected = torch.arange(nb, device=q.device).view(1, nb, 1).expand(qf.shape[0], -1, -1)
    out, lse = block_attention(qb, kb, vb, selected, valid, scale=scale, backend=backend)
    out = out.reshape(qf.shape[0], nb * rows, -1)[:, :n_q]
    lse = lse.reshape(qf.shape[0], nb * rows)[:, :n_q]
    query_block = torch.arange(n_q, device=q.device) // rows
    return out.reshape(*lead, n_q, -1), lse.reshape(*lead, n_q), query_block
