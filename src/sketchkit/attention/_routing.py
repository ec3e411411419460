"""Heavy-key retrieval through a balanced k-means tree over the keys (the default ``method="routed"``).

Why clusters: on real attention inputs queries and keys have large, different mean directions, so sortLSH
buckets of queries and keys do not line up (research note, sketchkit issue #8). Why a tree: one flat k-means
with ``n/b`` clusters, scored by every query, costs ``n^2/b`` products and an ``[n, n/b]`` score tensor
(issue #19); a tree costs ``O(n log n)`` and never holds more than ``O(n)`` scores.

**Keys.** The keys are centred (no query's softmax changes) and padded with copies of real keys, marked invalid,
to ``N = b * prod(fanouts)`` rows (no padding when ``n/b`` is a power of two; at most ``2x`` otherwise). Level 0
runs k-means with ``fanouts[0] <= 16`` centroids on all keys, every lower level a 16-centroid k-means inside each
node (all nodes of a level batched: equal sizes, static shapes); each node's keys are sorted stably by their
cluster (clusters in the Gray-code order of their centroids' LSH buckets) and *cut* into equal children. The
leaves are the key blocks of ``b`` keys, laid out in tree order.

**Routing tree.** Queries route through a second tree over the same leaf order (:func:`route_fanouts`): its top
level has ``T <= ROUTE_TOP = 128`` nodes of ``nb / T`` consecutive leaves, and every level below halves its
parent's range, down to the leaves; one doubling of ``n`` adds one binary level and nothing else. Every node
keeps the mean and spread of its valid keys and their count. A node's score for a query is its estimated
log-mass ``scale q.mu + log n_c + scale^2 |q|^2 s_c / 2`` (one product of ``[q, |q|^2, 1]`` with the node's row).

**Queries.** Pass 1, in chunks of queries: every query scores the ``T`` top nodes once (kept for pass 2) and is
keyed by its best and second-best top node; one stable sort by that key, cut into query blocks. Pass 2, in chunks
of query blocks: each block runs a beam search, level 0 on the stored top scores, then ``BEAM = 8`` nodes kept per
level and their ``2 * BEAM`` halves scored, on the mean over its queries of the softmax over the current
partition of the keys (nodes dropped so far plus the candidates); it selects ``top_blocks`` leaves for exact
attention and keeps every other part of the partition (dropped nodes, unselected candidate leaves) with its mean
softmax weight as the residual's proposal.

Cost per query (``m = log2(nb / T)`` binary levels): ``T + 2 BEAM m`` query-node products (128 + 16 m at the
defaults once ``n >= 8,192``), k-means ``<= iters*32*16 + 16`` per key and level amortised; memory ``O(n (d + T))``
(the stored top scores, ``[n, T]``). Both passes work on chunks of ``2^20`` scores, so the working set does not
grow with ``n``. The measured scaling is in docs/attention.md (``benchmarks/bench_attention_scaling.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._blocks import to_blocks
from ._random import device_generator
from ._sortlsh import angular_buckets, gray_code, lsh_projections

FANOUT = 16  # children per k-means tree node below the top level
ROUTE_TOP = 128  # nodes of the routing tree's top level (every query scores all of them, once)
BEAM = 8  # nodes a query block keeps per level below the routing tree's top
FIT_PER_CLUSTER = 32  # k-means is fitted on this many sampled rows per centroid, then every row is assigned
_NEG = -1e30  # log-count of a node without valid keys (finite: keeps matmuls free of inf * 0)
_CHUNK_ELEMS = 1 << 20  # scores per chunk of queries: the routing's working set stays in cache at every n


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


def route_fanouts(n_blocks: int, top: int = ROUTE_TOP) -> list[int]:
    """Fan-outs of the routing tree over ``n_blocks`` leaves: ``[T] + [2] * m``, ``T = n_blocks / 2^m`` the first
    halving that is ``<= top`` or odd (``T <= top`` whenever ``n_blocks`` comes from :func:`tree_fanouts` with
    ``top >= 16``). Its nodes are contiguous ranges of leaves: one doubling of ``n`` adds one binary level.

    >>> route_fanouts(128), route_fanouts(2048), route_fanouts(160), route_fanouts(5)
    ([128], [128, 2, 2, 2, 2], [80, 2], [5])
    """
    t, m = max(1, int(n_blocks)), 0
    while t > top and t % 2 == 0:
        t, m = t // 2, m + 1
    return [t] + [2] * m


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
    ``fanouts`` (the k-means tree); ``route_fanouts`` (the routing tree, :func:`route_fanouts`) and per routing
    level ``l`` (top-down; node ``i`` of a level with ``c`` nodes is the key range ``[i N / c, (i + 1) N / c)``)
    ``means[l] [G, c, d]`` (mean centred valid key), ``spreads[l] [G, c]`` (mean squared distance to the mean, per
    dimension) and ``counts[l] [G, c]`` (valid keys). The last level's nodes are the ``nb = N / b`` key blocks."""

    order: torch.Tensor
    valid: torch.Tensor | None
    fanouts: list
    route_fanouts: list
    means: list
    spreads: list
    counts: list
    block_size: int
    n_keys: int

    @property
    def n_blocks(self) -> int:
        return self.order.shape[1] // self.block_size


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
    rfan = route_fanouts(nb)
    means, spreads, counts = [], [], []
    nodes = 1
    for c in rfan:
        nodes *= c
        a1, a2, ac = (t.view(g, nodes, nb // nodes, *t.shape[2:]).sum(2) for t in (s1, s2, cnt))
        mu = a1 / ac.clamp(min=1).unsqueeze(-1)
        means.append(mu)
        spreads.append(((a2 / ac.clamp(min=1) - (mu * mu).sum(-1)) / d).clamp(min=0))
        counts.append(ac)
    return KeyBlocks(order, valid, fan, rfan, means, spreads, counts, block_size, n)


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


def _take_rows(x: torch.Tensor, idx: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """``x [G, n, e]``, ``idx [G, m]`` -> ``x[g, idx[g]]`` ``[G, m, e]`` (a flat row gather: faster than
    ``torch.gather`` with an expanded index on the CPU), into the flat buffer ``out`` if given."""
    g, n, e = x.shape
    offset = (torch.arange(g, device=idx.device) * n).unsqueeze(-1)
    flat = (idx + offset).reshape(-1)
    if out is not None:
        return torch.index_select(x.reshape(g * n, e), 0, flat, out=out.view(-1, e)).view(g, idx.shape[1], e)
    return x.reshape(g * n, e).index_select(0, flat).view(g, idx.shape[1], e)


def _sort_key(top_scores: torch.Tensor) -> torch.Tensor:
    """Sort key of each query: its best top node ``c1``, then its second best ``c2``: ``c1 * T + c2``
    (``top_scores [G, n_q, T]`` -> ``[G, n_q]``)."""
    two = top_scores.topk(min(2, top_scores.shape[-1]), dim=-1).indices
    return two[..., 0] * top_scores.shape[-1] + two[..., -1]


def _beam(qs: torch.Tensor, real: torch.Tensor, top_scores: torch.Tensor, tables: list, fan: list,
          top_blocks: int, buf: torch.Tensor):
    """Beam search of query blocks ``qs [G, t, bq, e]`` (``real [1, t, bq]``; their scores of the top level
    ``top_scores [G, t, bq, T]``): ``(selected, parts)`` with ``parts`` a list per level of
    ``(node ids [G, t, K], weight [G, t, K], is_part [G, t, K])``. ``buf``: flat workspace for the scores of the
    levels below the top (reused: fresh memory for every level would cost page faults of the same order as the
    arithmetic).

    Per level one exponential of the scores: with ``e_ij = exp(s_ij - max_j s_ij)`` the row normaliser, the
    block's mean softmax weights and the dropped nodes' mass are sums of ``e`` (two matrix-vector products)."""
    g, t = qs.shape[:2]
    w_real = real.to(qs.dtype)
    n_real = w_real.sum(-1, keepdim=True)
    cand = torch.arange(fan[0], device=qs.device).expand(g, t, -1)
    lse_drop = torch.full(qs.shape[:3], -math.inf, dtype=qs.dtype, device=qs.device)
    parts = []
    for level in range(len(fan)):
        if level == 0:
            scores = top_scores
        else:
            out = buf[: qs.shape[0] * t * qs.shape[2] * cand.shape[-1]].view(*qs.shape[:3], cand.shape[-1])
            scores = torch.matmul(qs, _gather_nodes(tables[level], cand).transpose(-1, -2), out=out)  # [G, t, bq, K]
        top_row = scores.amax(-1)
        e = scores.sub_(top_row.unsqueeze(-1)).exp_()  # in place: the scores are not needed again
        e_sum = e.sum(-1)
        z = torch.logaddexp(lse_drop, top_row + torch.log(e_sum))
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
        if level == 0:  # wide: subtract the kept columns (a rounding error here only touches the normaliser)
            kept_e = torch.gather(e, 3, top.unsqueeze(2).expand(-1, -1, e.shape[2], -1)).sum(-1)
            dropped = (e_sum - kept_e).clamp_min(0)
        else:
            dropped = (e @ is_part.to(e.dtype).unsqueeze(-1)).squeeze(-1)
        lse_drop = torch.logaddexp(lse_drop, top_row + torch.log(dropped))
        cand = (kept.unsqueeze(-1) * fan[level + 1] + torch.arange(fan[level + 1], device=qs.device)).flatten(-2)
    raise AssertionError("unreachable")


def route_queries(q: torch.Tensor, blocks: KeyBlocks, scale: float, query_block: int, top_blocks: int,
                  spread: bool = True) -> RoutePlan:
    """Score the routing tree's top level once per query, descend greedily to a leaf, sort the queries
    ``q [G, n_q, d]`` by it, cut them into query blocks and run each block's beam search (module docstring).
    Scores are float32 (float64 for float64 inputs)."""
    g, n_q, d = q.shape
    acc = blocks.means[0].dtype
    fan = blocks.route_fanouts
    qf = q.to(acc)
    qa = torch.cat([qf, (qf * qf).sum(-1, keepdim=True), torch.ones_like(qf[..., :1])], dim=-1)
    tables = [_node_table(blocks, lvl, scale, True if spread else False) for lvl in range(len(fan))]
    # pass 1, chunks of queries in input order: top-level scores (kept for the beam) and the descended leaf
    top_scores = torch.empty(g, n_q, fan[0], dtype=acc, device=q.device)
    key = torch.empty(g, n_q, dtype=torch.long, device=q.device)
    rows = max(1, _CHUNK_ELEMS // (g * max(fan[0], qa.shape[-1])))
    for s in range(0, n_q, rows):
        sc = qa[:, s : s + rows] @ tables[0].transpose(-1, -2)
        top_scores[:, s : s + rows] = sc
        key[:, s : s + rows] = _sort_key(sc)
    q_order = torch.argsort(key, dim=-1, stable=True)
    del key
    # pass 2, chunks of query blocks in sorted order: the beam search
    t = -(-n_q // query_block)
    step = max(1, _CHUNK_ELEMS // max(1, g * query_block * max(fan[0], BEAM * 2)))
    chunks = []
    e = qa.shape[-1]
    buf = torch.empty(g * step * query_block * max(fan[0], BEAM * 2, e) * 3, dtype=acc, device=q.device)
    for s in range(0, t, step):
        nt = min(step, t - s)
        idx = q_order[:, s * query_block : (s + nt) * query_block]
        real = to_blocks(torch.ones(1, idx.shape[1], dtype=torch.bool, device=q.device), query_block, nt)
        m = g * nt * query_block
        if idx.shape[1] == nt * query_block:  # full chunk: gather into the workspace
            qs = _take_rows(qa, idx, buf[m * fan[0] : m * (fan[0] + e)]).view(g, nt, query_block, e)
            top = _take_rows(top_scores, idx, buf[: m * fan[0]]).view(g, nt, query_block, fan[0])
        else:
            qs = to_blocks(_take_rows(qa, idx), query_block, nt)
            top = to_blocks(_take_rows(top_scores, idx), query_block, nt)
        chunks.append(_beam(qs, real, top, tables, fan, top_blocks, buf[m * (fan[0] + e) :]))
    del top_scores
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
    rfan = route_fanouts(math.prod(fan))
    top = rfan[0]  # the top level, scored once: the sort key and the beam's first level
    beam, width = 0, rfan[0]
    for c in rfan[1:]:
        width = min(BEAM, width) * c
        beam += width
    return km / n_q + top + beam
