"""HyperAttention for PyTorch (extra ``[torch]``): long-context attention by heavy-entry retrieval, O(n log n).

Han, Jayaram, Karbasi, Mirrokni, Woodruff, Zandieh, "HyperAttention: Long-context Attention in Near-Linear
Time", ICLR 2024. The heavy part of each query's attention is computed exactly on key blocks it is routed to,
the rest is estimated by sampling, and the parts are merged through their log-sum-exp normalisers; a recursion
handles the causal mask. The default retrieval routes query blocks through a k-means tree over the keys (see
:mod:`._routing`); the published sortLSH pairing is ``method="sortlsh"``.
This package is the only place sketchkit imports torch.
"""

from __future__ import annotations

from ._blocks import block_attention, block_diagonal_attention
from ._causal import causal_recursion
from ._hyper import (
    DEFAULTS,
    PUBLISHED,
    causal_sample_sizes,
    exact_key_sets,
    hyper_attention,
    resolve_params,
    scored_pairs_per_query,
)
from ._lse import exact_attention_lse, fused_kernel_available, merge_lse_partials
from ._module import HyperAttention
from ._residual import (
    block_importance_sample,
    range_importance_sample,
    range_systematic_sample,
    sampled_residual,
    uniform_sample,
)
from ._routing import (
    cluster_key_blocks,
    kmeans,
    route_fanouts,
    route_queries,
    routing_products_per_query,
    tree_fanouts,
)
from ._sortlsh import angular_buckets, gray_code, lsh_projections, sortlsh_order
from ._triton import gathered_attention_lse, triton_available

__all__ = [
    "DEFAULTS",
    "PUBLISHED",
    "HyperAttention",
    "angular_buckets",
    "block_attention",
    "block_diagonal_attention",
    "block_importance_sample",
    "causal_recursion",
    "causal_sample_sizes",
    "cluster_key_blocks",
    "exact_attention_lse",
    "exact_key_sets",
    "fused_kernel_available",
    "gathered_attention_lse",
    "gray_code",
    "hyper_attention",
    "kmeans",
    "lsh_projections",
    "merge_lse_partials",
    "range_importance_sample",
    "range_systematic_sample",
    "resolve_params",
    "route_fanouts",
    "route_queries",
    "routing_products_per_query",
    "sampled_residual",
    "scored_pairs_per_query",
    "sortlsh_order",
    "tree_fanouts",
    "triton_available",
    "uniform_sample",
]
