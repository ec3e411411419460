"""``HyperAttention``: the module form of :func:`hyper_attention` (no parameters of its own)."""

from __future__ import annotations

import torch

from ._hyper import hyper_attention, resolve_params
from ._random import as_generator


class HyperAttention(torch.nn.Module):
    """``forward(q, k, v, causal=False, scale=None)`` = :func:`hyper_attention` with this module's settings.

    The module holds one ``torch.Generator`` seeded from ``rng`` (so successive calls draw fresh samples but
    a run is reproducible from the seed). Guarantees are those of :func:`hyper_attention`.

    >>> import torch
    >>> att = HyperAttention(rng=0, min_seq_len=16, block_size=8, query_block=8, sample_size=8)
    >>> q = torch.randn(1, 2, 64, 8, generator=torch.Generator().manual_seed(1))
    >>> att(q, q, q, causal=True).shape
    torch.Size([1, 2, 64, 8])
    """

    def __init__(self, rng=None, backend: str = "auto", **params):
        super().__init__()
        self.params = resolve_params(**params)
        self.generator = as_generator(rng)
        self.backend = backend

    def forward(self, q, k, v, causal: bool = False, scale=None):
        return hyper_attention(q, k, v, causal=causal, scale=scale, rng=self.generator, backend=self.backend,
                               **self.params)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.params.items())
