"""Heavy-key retrieval through a balanced k-means tree over the keys (the default ``method="routed"``).

Why clusters: on real attention inputs queries and keys have large, different mean directions, so sortLSH
buckets of queries and keys do not line up (research note, sketchkit issue #8). Why a tree: one flat k-means
with ``n/b`` clusters, scored by every query, costs ``n^2/b`` products and an ``[n, n/b]`` score tensor
(issue #19); a tree with fan-out 16 costs ``O(n log n)`` and never holds more than ``O(n)`` scores per level.

**Keys.** The keys are centred (no query's softmax changes) and padded with copies of real keys, marked invalid,
to ``N = b * prod(fanouts)`` rows (no padding when ``n/b`` is a power of two; at most ``2x`` otherwise). Level 0
runs k-means with ``fanouts[0] <= 16`` centroids on all keys, every lower level a 16-centroid k-means inside each
node (all nodes of a level batched: equal sizes, static shapes); each node's keys are sorted stably by their
cluster (clusters in the Gray-code order of their centroids' LSH buckets) and *cut* into equal children. The
leaves are the key blocks of ``b`` keys. Every node keeps the mean and spread of its valid keys and their count.

**Queries.** A node's score for a query is its estimated log-mass ``scale q.mu + log n_c + scale^2 |q|^2 s_c / 2``
(one matmul of ``[q, |q|^2, 1]`` with the node table). Queries descend the tree in blocks: all score the top
level, are sorted by their best node and cut into query blocks; each block votes for 4 parents (the nodes at the
quantiles of its sorted rows) and its rows pick the best of those parents' children; repeat to the leaves, then
sort by best leaf. Each final query block runs a beam search (beam 16 per level) on the mean over its queries of
the softmax over the current partition of the keys (nodes dropped so far plus the candidates), selects
``top_blocks`` leaves for exact attention and keeps every other part of the partition (dropped nodes, unselected
candidate leaves) with its mean softmax weight as the residual's proposal.

Cost (products per key or query, ``L = ceil(log16(n/b))`` levels): k-means ``<= iters*32*16 + 16`` per key and
level amortised, descent ``16 + 64 (L - 1)``, beam ``<= 16 + 256 (L - 1)``; memory ``O(n d)``. The measured
scaling is in docs/attention.md (``benchmarks/bench_attention_scaling.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._blocks import to_blocks
from ._random import device_generator
from ._sortlsh import angular_buckets, gray_code, lsh_projections

FANOUT = 16  # children per node below the top level
BEAM = 16  # nodes a query block keeps per level
VOTES = 4  # parents whose children a query block's rows score while descending
FIT_PER_CLUSTER = 32  # k-means is fitted on this many sampled rows per centroid, then every row is assigned
_NEG = -1e30  # log-count of a node without valid keys (finite: keeps matmuls free of inf * 0)
_BEAM_ELEMS = 1 << 24  # scores held at once by the beam search (query blocks are processed in chunks)


def tree_fanouts(n_blocks: int, fanout: int = FANOUT) -> list[int]:
    """Fan-outs top-down: ``[top] + [fanout] * (L - 1)`` with ``top <= fanout`` and ``prod >= n_blocks``.

    >>> tree_fanouts(128), tree_fanouts(1024), tree_fanouts(1000), tree_fanouts(5)
    ([8, 16], [4, 16, 16], [4, 16, 16], [5])
    """
    n_blocks = max(1, int(n_blocks))
    depth = 1
    while fanout**depth < n_blocks:
        depth += 1
    lower = fanout ** (depth - 1)
    return [-(-n_blocks // lower)] + [fanout] * (depth - 1)


def _acc(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def kmeans_assign(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Nearest centroid (squared Euclidean) of each row: ``x [B, s, d]``, ``centroids [B, C, d]`` -> ``[B, s]``."""
    half_norm = 0.5 * (centroids * centroids).sum(-1).unsqueeze(-2)
    return ((x.to(centroids.dtype) @ centroids.transpose(-1, -2)) - half_norm).argmax(-1)


def kmeans(x: torch.Tensor, n_clusters: int, iters: int, generator, fit_per_cluster: int = FIT_PER_CLUSTER):
    """Lloyd's k-means on ``x [B, s, d]``; returns ``(centroids [B, C, d] float32+, assign [B, s])``.

    The centroids are fitted on ``min(s, fit_per_cluster * C)`` rows drawn uniformly with replacement (all rows
    if that many), then every row is assigned once: ``iters * fit_per_cluster * C^2 + s * C`` products per batch
    row. Centroids start at the first ``C`` fitting rows (random rows); empty clusters keep their centroid.
    """
    b, s, d = x.shape
    acc = _acc(x)
    gen = device_generator(generator, x.device)
    m = min(s, fit_per_cluster * n_clusters)
    if m < s:
        pick = torch.randint(0, s, (b, m), generator=gen, device=x.device)
        fit = torch.gather(x, 1, pick.unsqueeze(-1).expand(-1, -1, d)).to(acc)
    else:
        perm = torch.rand(b, s, generator=gen, device=x.device).argsort(dim=-1)
        fit = torch.gather(x, 1, perm.unsqueeze(-1).expand(-1, -1, d)).to(acc)
    cent = fit[:, :n_clusters].clone()
    ones = torch.ones(b, m, device=x.device, dtype=acc)
    for _ in range(iters):
        assign = kmeans_assign(fit, cent)
        sums = torch.zeros_like(cent).scatter_add_(1, assign.unsqueeze(-1).expand(-1, -1, d), fit)
        counts = torch.zeros(b, n_clusters, device=x.device, dtype=acc).scatter_add_(1, assign, ones)
        cent = torch.where(counts.unsqueeze(-1) > 0, sums / counts.clamp(min=1).unsqueeze(-1), cent)
    return cent, kmeans_assign(x, cent)


@dataclass
class KeyBlocks:
    """Keys laid out by the tree. ``order [G, N]``: blocked position -> row of the padded keys (row ``j`` is key
    ``j % n``; rows ``>= n`` are padding copies); ``valid [G, nb, b]`` or None when ``N == n`` (no padding);
    ``fanouts``; per level ``l`` (top-down) ``means[l] [G, nodes_l, d]`` (mean centred valid key),
    ``spreads[l] [G, nodes_l]`` (mean squared distance to the mean, per dimension) and ``counts[l] [G, nodes_l]``
    (valid keys). The last level's nodes are the ``nb = N / b`` key blocks."""

    order: torch.Tensor
    valid: torch.Tensor | None
    fanouts: list
    means: list
    spreads: list
    counts: list
    block_size: int
    n_keys: int

    @property
    def n_blocks(self) -> int:
        return self.order.shape[1] // self.block_size

    @property
    def summaries(self) -> torch.Tensor:
        return self.means[-1]


def cluster_key_blocks(k: torch.Tensor, block_size: int, iters: int, generator, lsh_bits: int = 8) -> KeyBlocks:
    """Build the balanced k-means tree of the centred keys ``k [G, n, d]`` (see the module docstring)."""
    g, n, d = k.shape
    acc = _acc(k)
    fan = tree_fanouts(-(-n // block_size))
    big_n = math.prod(fan) * block_size
    kc = k.to(acc) - k.mean(1, keepdim=True, dtype=acc)
    if big_n > n:
        kc = kc.index_select(1, torch.arange(big_n, device=k.device) % n)
    gen = device_generator(generator, k.device)
    proj = lsh_projections(d, lsh_bits, gen, dtype=acc, device=k.device)
    order = torch.arange(big_n, device=k.device).expand(g, -1)
    nodes, size = 1, big_n
    for c in fan:
        x = _take_rows(kc, order).view(g * nodes, size, d)
        cent, assign = kmeans(x, c, iters, gen)
        cluster_key = gray_code(angular_buckets(cent, proj)) * c + torch.arange(c, device=k.device)
        rank = torch.argsort(torch.argsort(cluster_key, dim=-1), dim=-1)
        local = torch.argsort(torch.gather(rank, 1, assign), dim=-1, stable=True)
        order = torch.gather(order.reshape(g * nodes, size), 1, local).view(g, big_n)
        nodes, size = nodes * c, size // c
    del x
    nb = big_n // block_size
    kb = _take_rows(kc, order).view(g, nb, block_size, d)
    valid = None
    if big_n > n:
        valid = (order < n).view(g, nb, block_size)
        w = valid.to(acc).unsqueeze(-1)
        s1, s2, cnt = (kb * w).sum(2), ((kb * kb).sum(-1, keepdim=True) * w).sum((2, 3)), w.sum((2, 3))
    else:
        s1, s2 = kb.sum(2), (kb * kb).sum((2, 3))
        cnt = torch.full((g, nb), float(block_size), dtype=acc, device=k.device)
    del kb
    means, spreads, counts = [], [], []
    nodes = 1
    for c in fan:
        nodes *= c
        a1, a2, ac = (t.view(g, nodes, nb // nodes, *t.shape[2:]).sum(2) for t in (s1, s2, cnt))
        mu = a1 / ac.clamp(min=1).unsqueeze(-1)
        means.append(mu)
        spreads.append(((a2 / ac.clamp(min=1) - (mu * mu).sum(-1)) / d).clamp(min=0))
        counts.append(ac)
    return KeyBlocks(order, valid, fan, means, spreads, counts, block_size, n)


@dataclass
class RoutePlan:
    """``q_order [G, n_q]`` (sorted position -> query), ``selected [G, t, r]`` (leaf blocks per query block),
    and the residual's partition per query block: ``part_start``/``part_size`` (key range in the blocked order),
    ``part_count`` (valid keys; 0 for entries that are not parts), ``part_weight`` (mean softmax weight)."""

    q_order: torch.Tensor
    selected: torch.Tensor
    part_start: torch.Tensor
    part_size: torch.Tensor
    part_count: torch.Tensor
    part_weight: torch.Tensor


def _node_table(blocks: KeyBlocks, level: int, scale: float, spread: bool) -> torch.Tensor:
    """``[G, nodes, d + 2]``: a node's log-mass score is ``[q, |q|^2, 1] . row``."""
    mu, s, c = blocks.means[level], blocks.spreads[level], blocks.counts[level]
    sp = 0.5 * scale**2 * s if spread else torch.zeros_like(s)
    logn = torch.where(c > 0, torch.log(c.clamp(min=1)), torch.full_like(c, _NEG))
    return torch.cat([scale * mu, sp.unsqueeze(-1), logn.unsqueeze(-1)], dim=-1)


def _gather_nodes(table: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``table [G, nodes, e]``, ``ids [G, t, K]`` -> ``[G, t, K, e]`` (one row gather over the flattened table)."""
    g, nodes, e = table.shape
    offset = (torch.arange(g, device=ids.device) * nodes).view(g, 1, 1)
    return table.reshape(g * nodes, e).index_select(0, (ids + offset).reshape(-1)).view(*ids.shape, e)


def _take_rows(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``x [G, n, e]``, ``idx [G, m]`` -> ``x[g, idx[g]]`` ``[G, m, e]`` (a flat row gather: faster than
    ``torch.gather`` with an expanded index on the CPU)."""
    g, n, e = x.shape
    offset = (torch.arange(g, device=idx.device) * n).unsqueeze(-1)
    return x.reshape(g * n, e).index_select(0, (idx + offset).reshape(-1)).view(g, idx.shape[1], e)


def _quantile_votes(keys: torch.Tensor, n_real: torch.Tensor, p: int) -> torch.Tensor:
    """``p`` parents per block of sorted rows ``keys [G, t, bq]``: the keys at the ``(j + 1/2)/p`` quantiles of
    the block's ``n_real [t]`` real rows, so every value held by more than ``bq/p`` rows is chosen (repeats
    are harmless: a repeated parent's children are scored twice)."""
    pos = ((torch.arange(p, device=keys.device) + 0.5) / p * n_real.unsqueeze(-1)).long()  # [t, p]
    return torch.gather(keys, 2, pos.unsqueeze(0).expand(keys.shape[0], -1, -1))


def _descend(qa: torch.Tensor, tables: list, fan: list, query_block: int) -> torch.Tensor:
    """Best leaf of each query by the block-voted descent; ``qa [G, n_q, d + 2]`` -> ``[G, n_q]``."""
    g, n_q, e = qa.shape
    key = (qa @ tables[0].transpose(-1, -2)).argmax(-1)
    t = -(-n_q // query_block)
    n_real = (n_q - torch.arange(t, device=qa.device) * query_block).clamp(max=query_block)
    for level in range(1, len(fan)):
        order = torch.argsort(key, dim=-1, stable=True)
        qs = to_blocks(_take_rows(qa, order), query_block, t)
        ks = to_blocks(torch.gather(key, 1, order), query_block, t)
        parents = _quantile_votes(ks, n_real, min(VOTES, math.prod(fan[:level])))
        cand = (parents.unsqueeze(-1) * fan[level] + torch.arange(fan[level], device=qa.device)).flatten(-2)
        scores = qs @ _gather_nodes(tables[level], cand).transpose(-1, -2)
        best = torch.gather(cand, 2, scores.argmax(-1)).reshape(g, t * query_block)[:, :n_q]
        key = torch.empty_like(key).scatter(1, order, best)
    return key


def _beam(qs: torch.Tensor, real: torch.Tensor, tables: list, fan: list, top_blocks: int):
    """Beam search of query blocks ``qs [G, t, bq, d + 2]`` (``real [1, t, bq]``): ``(selected, parts)`` with
    ``parts`` a list per level of ``(node ids [G, t, K], weight [G, t, K], is_part [G, t, K])``.

    Per level one exponential of the scores: with ``e_ij = exp(s_ij - max_j s_ij)`` the row normaliser, the
    block's mean softmax weights and the dropped nodes' mass are sums of ``e`` (two matrix-vector products)."""
    g, t = qs.shape[:2]
    w_real = real.to(qs.dtype)
    n_real = w_real.sum(-1, keepdim=True)
    cand = torch.arange(fan[0], device=qs.device).expand(g, t, -1)
    lse_drop = torch.full(qs.shape[:3], -math.inf, dtype=qs.dtype, device=qs.device)
    parts = []
    for level in range(len(fan)):
        scores = qs @ _gather_nodes(tables[level], cand).transpose(-1, -2)  # [G, t, bq, K]
        top_row = scores.amax(-1)
        e = torch.exp(scores - top_row.unsqueeze(-1))
        z = torch.logaddexp(lse_drop, top_row + torch.log(e.sum(-1)))
        coef = (torch.exp(top_row - z) * w_real / n_real).unsqueeze(-2)  # [G, t, 1, bq]
        weight = (coef @ e).squeeze(-2)  # mean over the block's real rows of the softmax over the partition
        last = level == len(fan) - 1
        keep = min(top_blocks if last else BEAM, cand.shape[-1])
        top = weight.topk(keep, dim=-1).indices
        kept = torch.gather(cand, 2, top)
        is_part = torch.ones_like(cand, dtype=torch.bool).scatter(2, top, False)
        parts.append((cand, weight * is_part, is_part))
        if last:
            return kept, parts
        dropped = (e @ is_part.to(e.dtype).unsqueeze(-1)).squeeze(-1)
        lse_drop = torch.logaddexp(lse_drop, top_row + torch.log(dropped))
        cand = (kept.unsqueeze(-1) * fan[level + 1] + torch.arange(fan[level + 1], device=qs.device)).flatten(-2)
    raise AssertionError("unreachable")


def route_queries(q: torch.Tensor, blocks: KeyBlocks, scale: float, query_block: int, top_blocks: int,
                  spread: bool = True) -> RoutePlan:
    """Sort the queries ``q [G, n_q, d]`` by their descended leaf, cut them into query blocks and run each
    block's beam search (module docstring). Scores are float32 (float64 for float64 inputs)."""
    g, n_q, d = q.shape
    acc = blocks.means[0].dtype
    fan = blocks.fanouts
    qf = q.to(acc)
    qa = torch.cat([qf, (qf * qf).sum(-1, keepdim=True), torch.ones_like(qf[..., :1])], dim=-1)
    tables = [_node_table(blocks, lvl, scale, True if spread else False) for lvl in range(len(fan))]
    q_order = torch.argsort(_descend(qa, tables, fan, query_block), dim=-1, stable=True)
    t = -(-n_q // query_block)
    qs = to_blocks(_take_rows(qa, q_order), query_block, t)
    real = to_blocks(torch.ones(1, n_q, dtype=torch.bool, device=q.device), query_block, t)
    width = max(fan[0], BEAM * FANOUT)
    step = max(1, _BEAM_ELEMS // max(1, g * query_block * width))
    chunks = [_beam(qs[:, s : s + step], real[:, s : s + step], tables, fan, top_blocks) for s in range(0, t, step)]
    selected = torch.cat([c[0] for c in chunks], dim=1) if len(chunks) > 1 else chunks[0][0]
    starts, sizes, counts, weights = [], [], [], []
    big_n = blocks.order.shape[1]
    for level in range(len(fan)):
        ids = torch.cat([c[1][level][0] for c in chunks], dim=1)
        weight = torch.cat([c[1][level][1] for c in chunks], dim=1)
        is_part = torch.cat([c[1][level][2] for c in chunks], dim=1)
        size = big_n // math.prod(fan[: level + 1])
        cnt = torch.gather(blocks.counts[level], 1, ids.reshape(g, -1)).view(ids.shape) * is_part
        starts.append(ids * size)
        sizes.append(torch.full_like(ids, size))
        counts.append(cnt)
        weights.append(weight)
    cat = lambda xs: torch.cat(xs, dim=-1)  # noqa: E731
    return RoutePlan(q_order, selected, cat(starts), cat(sizes), cat(counts), cat(weights))


def routing_products_per_query(n_q: int, n_k: int, block_size: int, iters: int) -> float:
    """Query-centroid, key-centroid and query-node products of :func:`cluster_key_blocks` + :func:`route_queries`
    per query (k-means amortised over the ``n_q`` queries), for ``scored_pairs_per_query``."""
    fan = tree_fanouts(-(-n_k // block_size))
    big_n = math.prod(fan) * block_size
    km, nodes = 0, 1
    for c in fan:
        size = big_n // nodes
        km += nodes * (iters * min(size, FIT_PER_CLUSTER * c) * c + size * c)
        nodes *= c
    descent = fan[0] + sum(min(VOTES, math.prod(fan[:lvl])) * fan[lvl] for lvl in range(1, len(fan)))
    beam, width = fan[0], fan[0]
    for lvl in range(1, len(fan)):
        width = min(BEAM, width) * fan[lvl]
        beam += width
    return km / n_q + descent + beam
