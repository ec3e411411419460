"""Similarity sketches: MinHash signatures of sets and documents, compact b-bit signatures,
and an LSH index for near-duplicate search. See docs/similarity.md."""

from __future__ import annotations

from ._text import Shingling
from .bbit import bbit_jaccard, bbit_variance, to_bbit, unpack_bbit
from .dedup import Clusters, find_clusters
from .lsh import MinHashLSH, candidate_probability, optimal_params
from .minhash import FastSimilaritySketch, MinHash, OnePermMinHash, minhash_variance, oph_variance

__all__ = [
    "MinHash",
    "OnePermMinHash",
    "FastSimilaritySketch",
    "MinHashLSH",
    "Shingling",
    "optimal_params",
    "candidate_probability",
    "find_clusters",
    "Clusters",
    "minhash_variance",
    "oph_variance",
    "to_bbit",
    "unpack_bbit",
    "bbit_jaccard",
    "bbit_variance",
]
