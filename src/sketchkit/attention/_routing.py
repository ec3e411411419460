"""Heavy-key retrieval by clustered key blocks (the improvement over sortLSH that this package defaults to).

Why: on real attention inputs queries and keys have large, different mean directions, so sortLSH buckets of
queries and keys do not line up and the t-th sorted query block meets unrelated keys (research note, sketchkit
issue #8). Here keys are *clustered* (a few Lloyd iterations of k-means on the centred keys, the clusters laid out
in the Gray-code order of their centroids' LSH buckets) and cut into equal blocks; every block gets a summary
(the mean of its centred keys). Each query scores the block summaries (``nb = n/b`` inner products, the cost of a
few more keys), queries are sorted by their best block and cut into query blocks, and each query block
*matches* the key blocks with the largest average softmax weight instead of being paired by position. The same
block weights serve as the proposal for the importance-sampled residual.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._blocks import to_blocks
from ._random import device_generator
from ._sortlsh import angular_buckets, gray_code, lsh_projections

# Elements of a [rows, clusters] score matrix processed at once (memory cap for long contexts).
_CHUNK = 1 << 27


def _chunked_rows(x: torch.Tensor, fn, rows_per_elem: int):
    """Apply ``fn`` to row chunks of ``x [G, n, d]`` (dim 1) and concatenate along dim 1."""
    g, n = x.shape[:2]
    step = max(1, _CHUNK // max(1, g * rows_per_elem))
    if step >= n:
        return fn(x)
    return torch.cat([fn(x[:, s : s + step]) for s in range(0, n, step)], dim=1)


def _matmul_dtype(x: torch.Tensor) -> torch.dtype:
    """Routing arithmetic runs in half precision on GPUs (tensor cores), in float32/float64 elsewhere."""
    if x.is_cuda and x.dtype in (torch.float16, torch.bfloat16):
        return x.dtype
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def kmeans_assign(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Nearest centroid (squared Euclidean) of each row: ``x [G, n, d]``, ``centroids [G, C, d]`` -> ``[G, n]``."""
    half_norm = 0.5 * (centroids.float() * centroids.float()).sum(-1).unsqueeze(-2)
    c = centroids.to(x.dtype).transpose(-1, -2)
    return _chunked_rows(x, lambda part: ((part @ c).float() - half_norm).argmax(-1), centroids.shape[1])


def kmeans(x: torch.Tensor, n_clusters: int, iters: int, generator, fit_per_cluster: int = 32):
    """Lloyd's k-means on ``x [G, n, d]``; returns ``(centroids [G, C, d] float32+, assign [G, n])``.

    The centroids are fitted on a uniform subsample of ``fit_per_cluster * C`` rows (all rows if fewer), then
    every row is assigned once. Centroids start at distinct random rows of the subsample (draws from
    ``generator``); empty clusters keep their previous centroid.
    """
    g, n, d = x.shape
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    gen = device_generator(generator, x.device)
    fit = x
    if fit_per_cluster * n_clusters < n:
        pick = torch.rand(g, n, generator=gen, device=x.device).argsort(dim=-1)[:, : fit_per_cluster * n_clusters]
        fit = torch.gather(x, 1, pick.unsqueeze(-1).expand(-1, -1, d))
    m = fit.shape[1]
    starts = torch.rand(g, m, generator=gen, device=x.device).argsort(dim=-1)[:, :n_clusters]
    cent = torch.gather(fit, 1, starts.unsqueeze(-1).expand(-1, -1, d)).to(acc)
    ones = torch.ones(g, m, device=x.device, dtype=acc)
    for _ in range(iters):
        assign = kmeans_assign(fit, cent)
        sums = torch.zeros_like(cent).scatter_add_(1, assign.unsqueeze(-1).expand(-1, -1, d), fit.to(acc))
        counts = torch.zeros(g, n_clusters, device=x.device, dtype=acc).scatter_add_(1, assign, ones)
        cent = torch.where(counts.unsqueeze(-1) > 0, sums / counts.clamp(min=1).unsqueeze(-1), cent)
    return cent, kmeans_assign(x, cent)


@dataclass
class KeyBlocks:
    """Keys permuted into clustered blocks: ``order[G, n_k]`` (blocked position -> key id), ``valid[G, nb, b]``,
    ``summaries[G, nb, d]`` (mean centred key of each block), ``counts[G, nb]`` (real keys per block),
    ``spreads[G, nb]`` (mean squared distance of the block's keys to its mean, per dimension)."""

    order: torch.Tensor
    valid: torch.Tensor
    summaries: torch.Tensor
    counts: torch.Tensor
    spreads: torch.Tensor
    block_size: int

    @property
    def n_blocks(self) -> int:
        return self.valid.shape[1]


def cluster_key_blocks(k: torch.Tensor, block_size: int, iters: int, generator, lsh_bits: int = 8) -> KeyBlocks:
    """Cluster the centred keys ``k [G, n, d]`` into ``ceil(n/b)`` clusters and cut the clustered order into blocks.

    Centring the keys does not change any query's softmax (it shifts each row of scores by a constant) but makes
    the clusters follow the key directions that separate keys rather than their shared mean.
    """
    g, n, d = k.shape
    nb = -(-n // block_size)
    kc = (k - k.mean(1, keepdim=True, dtype=torch.float32).to(k.dtype)).to(_matmul_dtype(k))
    cent, assign = kmeans(kc, nb, iters, generator)
    # Lay clusters out in the Gray-code order of their centroids' LSH buckets so straddling blocks mix neighbours.
    proj = lsh_projections(d, lsh_bits, generator, device=k.device)
    cluster_key = gray_code(angular_buckets(cent, proj)) * nb + torch.arange(nb, device=k.device)
    rank = torch.argsort(torch.argsort(cluster_key, dim=-1), dim=-1)
    order = torch.argsort(torch.gather(rank, 1, assign), dim=-1, stable=True)
    kc_sorted = torch.gather(kc, 1, order.unsqueeze(-1).expand(-1, -1, d))
    valid = to_blocks(torch.ones(g, n, dtype=torch.bool, device=k.device), block_size, nb)
    counts = valid.sum(-1)
    kb = to_blocks(kc_sorted.float() if kc_sorted.dtype != torch.float64 else kc_sorted, block_size, nb)
    summaries = kb.sum(2) / counts.unsqueeze(-1)
    sq = ((kb - summaries.unsqueeze(2)) ** 2).sum(-1) * valid
    spreads = sq.sum(2) / counts / d
    return KeyBlocks(order, valid, summaries, counts, spreads, block_size)


def block_scores(q: torch.Tensor, blocks: KeyBlocks, scale: float, spread: bool = True) -> torch.Tensor:
    """Estimated log-mass of each key block for each query: ``scale q.mu_c + log n_c (+ scale^2 |q|^2 s_c / 2)``.

    The last term is the second-order (log-normal) correction ``log E exp(scale q.k) ~ scale q.mu + scale^2
    q^T Sigma q / 2`` with an isotropic ``Sigma_c = s_c I``: without it a wide block looks lighter than it is.
    """
    s = (q @ blocks.summaries.to(q.dtype).transpose(-1, -2)).to(blocks.summaries.dtype)
    s = scale * s + torch.log(blocks.counts.to(s.dtype)).unsqueeze(-2)
    if spread:
        s = s + 0.5 * scale**2 * (q.to(s.dtype) ** 2).sum(-1, keepdim=True) * blocks.spreads.unsqueeze(-2)
    return s


def route_queries(q: torch.Tensor, blocks: KeyBlocks, scale: float, query_block: int, spread: bool = True):
    """Sort queries by their best key block and give each query block its block weights.

    Returns ``(q_order [G, n_q], weights [G, t, nb])`` where ``weights[., t, c]`` is the mean over the real
    queries of query block ``t`` of ``softmax_c`` of :func:`block_scores`: the routing score and the residual
    proposal.
    """
    g, n_q, _ = q.shape
    qf = q.to(_matmul_dtype(q))
    nb = blocks.n_blocks
    score = lambda part: block_scores(part, blocks, scale, spread)  # noqa: E731
    best = _chunked_rows(qf, lambda part: score(part).argmax(-1), nb)
    q_order = torch.argsort(best, dim=-1, stable=True)
    t = -(-n_q // query_block)
    q_sorted = torch.gather(qf, 1, q_order.unsqueeze(-1).expand(-1, -1, qf.shape[-1]))
    probs = _chunked_rows(q_sorted, lambda part: torch.softmax(score(part), -1), nb)
    weights = to_blocks(probs, query_block, t).sum(2)
    real = to_blocks(torch.ones(g, n_q, 1, device=q.device), query_block, t).sum(2)
    return q_order, weights / real
