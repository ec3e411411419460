"""The causal recursion of HyperAttention (Han et al., ICLR 2024, Alg. 4).

The causal score matrix splits into two causal diagonal halves and one full (non-causal) lower-left rectangle:
second-half queries against first-half keys. The halves are stacked as extra heads and recursed on; the
rectangle goes to any non-causal approximation, and its ``(out, lse)`` is merged into the second half.
Below ``min_seq_len`` the base case is exact causal attention. Odd lengths get one zero row appended at the end,
which no real query can see under the causal mask.
"""

from __future__ import annotations

import torch

from ._lse import merge_lse_partials


def causal_recursion(q, k, v, min_seq_len: int, off_diagonal, base):
    """Causal attention ``(out, lse)`` of ``q, k, v [B, H, n, d]`` built from ``base`` (exact causal attention
    on blocks of at most ``min_seq_len`` rows) and ``off_diagonal(q2, k1, v1) -> (out, lse)`` for the rectangles.

    Exact whenever ``off_diagonal`` is exact.
    """
    n = q.shape[-2]
    if n <= min_seq_len:
        return base(q, k, v)
    pad = n % 2
    if pad:
        q, k, v = (torch.cat([t, t.new_zeros(*t.shape[:-2], 1, t.shape[-1])], dim=-2) for t in (q, k, v))
    h = (n + pad) // 2
    heads = q.shape[1]
    stack = lambda t: torch.cat([t[:, :, :h], t[:, :, h:]], dim=1)  # noqa: E731 - halves as extra heads
    out_d, lse_d = causal_recursion(stack(q), stack(k), stack(v), min_seq_len, off_diagonal, base)
    out_off, lse_off = off_diagonal(q[:, :, h:], k[:, :, :h], v[:, :, :h])
    out2, lse2 = merge_lse_partials(out_d[:, heads:], lse_d[:, heads:], out_off, lse_off)
    out = torch.cat([out_d[:, :heads], out2], dim=2)[:, :, :n]
    lse = torch.cat([lse_d[:, :heads], lse2], dim=2)[:, :, :n]
    return out, lse
