"""The one table of byte-format family ids and hash-derivation domains.

Every serialized sketch names its class by a family id (byte 5 of the header, see
:mod:`sketchkit._format`); every derived hash stream uses ``derive_key(seed, DOMAIN, index)``
(see :mod:`sketchkit.hashing`) with a domain from this table. An id or a domain is assigned once
and never reused, so bytes written by any release stay readable and no two streams collide.
Modules import their numbers from here instead of writing literals.

Extension packages (robust, learned, ...) register their readers when imported; the reader
finds the package that owns an unknown id through the ``sketchkit.families`` entry points
declared in ``pyproject.toml``, so the core never names an extension package itself.
"""

from __future__ import annotations

# ---------------------------------------------------------------- family ids (u8)
# core frequency sketches
COUNTSKETCH = 1
COUNTMIN = 2
SPACESAVING = 3
HEAVY_HITTERS = 4
DYADIC_HEAVY_HITTERS = 5
# robust (10-19)
KEYED_COUNTSKETCH = 10
KEYED_COUNTMIN = 11
ROBUST_COUNTSKETCH = 12  # keyed CountSketch answering through a noisy median, with a query budget
# learned (20-29)
LEARNED_COUNTMIN = 20
LEARNED_COUNTSKETCH = 21
COUNTSKETCH_PLUS_PLUS = 22
LOOKUP_ORACLE = 23
NGRAM_ORACLE = 24
HYBRID_ORACLE = 25
RANDOM_ORACLE = 26
LEARNED_COUNTSKETCH_PLUS_PLUS = 27
GBM_ORACLE = 28
KEYSET_ORACLE = 29  # membership in a set of predicted-heavy items (32-bit fingerprints)
# cardinality and set operations (30-39)
DISTINCT = 30
THETA = 31
# quantiles (40-49)
KLL = 40
RELATIVE_QUANTILES = 41
# similarity (50-59)
MINHASH = 50
ONE_PERM_MINHASH = 51
LSH_INDEX = 52
FAST_SIMILARITY = 53  # Fast Similarity Sketching (Dahlgaard, Knudsen & Thorup 2017)

# ---------------------------------------------------------------- hash domains
ITEM_DOMAIN = 0  # item hash key: derive_key(seed, ITEM_DOMAIN, 0)
ROW_DOMAIN = 1  # per-row multiply-add parameters of the frequency sketches
DYADIC_DOMAIN = 2  # seeds of DyadicHeavyHitters' per-level CountSketches
LINALG_DOMAIN = 3  # sparse embedding operators
KEYED_DOMAIN = 4  # row parameters of the keyed (robust) sketches
LEARNED_DOMAIN = 5  # learned sketches' own rows and oracle keys
DISTINCT_DOMAIN = 6  # cardinality sketches
QUANTILES_DOMAIN = 7  # quantile sketches' compaction coins
MINHASH_DOMAIN = 8  # MinHash permutations
