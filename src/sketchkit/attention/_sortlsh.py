"""sortLSH: angular LSH buckets visited in Gray-code order (Han et al., HyperAttention, ICLR 2024, Sec. 3).

A vector's bucket is ``b = sum_i 2^i [x . g_i > 0]`` for ``r`` Gaussian directions ``g_i``; rows are sorted by the
reflected Gray sequence ``b ^ (b >> 1)`` (the authors' ``perm[b]``), so that nearby sort positions tend to share
most hash bits. Queries and keys share the directions and are sorted separately (stable sort).
"""

from __future__ import annotations

import torch

from ._random import as_generator, device_generator


def gray_code(b: torch.Tensor) -> torch.Tensor:
    """The reflected binary Gray code ``b ^ (b >> 1)`` (the published sort key of bucket ``b``).

    >>> import torch
    >>> gray_code(torch.arange(8)).tolist()
    [0, 1, 3, 2, 6, 7, 5, 4]
    """
    return torch.bitwise_xor(b, b >> 1)


def lsh_projections(dim, num_bits, rng=None, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """``[dim, num_bits]`` standard Gaussian directions drawn from ``rng`` (int seed or ``torch.Generator``)."""
    gen = device_generator(as_generator(rng), device or "cpu")  # drawn where they are used: no blocking copy
    return torch.randn(dim, num_bits, generator=gen, dtype=torch.float32, device=gen.device).to(dtype=dtype)


def angular_buckets(x: torch.Tensor, projections: torch.Tensor) -> torch.Tensor:
    """Bucket ids ``sum_i 2^i [x . g_i > 0]`` of the rows of ``x`` (``[..., n, d]`` -> ``[..., n]`` int64)."""
    bits = (x @ projections.to(x.dtype)) > 0
    weights = 2 ** torch.arange(projections.shape[-1], device=x.device)
    return (bits.long() * weights).sum(-1)


def sortlsh_order(x: torch.Tensor, projections: torch.Tensor) -> torch.Tensor:
    """The stable permutation sorting the rows of ``x`` by the Gray-code key of their bucket (``[..., n]``)."""
    return torch.argsort(gray_code(angular_buckets(x, projections)), dim=-1, stable=True)
