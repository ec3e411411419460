"""Constants shared by the learned sketches: the hash domain, the sizes of what they store."""

from __future__ import annotations

import numpy as np

from .. import _ids as ids
from ..hashing import derive_key, hash_items

# Hash domain 5 is sketchkit.learned's (see sketchkit.hashing: domains 2..15 are reserved).
LEARNED_DOMAIN = ids.LEARNED_DOMAIN
# Oracles identify items by a hash that does not depend on any sketch's seed, so one oracle
# file serves sketches of every seed.
ORACLE_ITEM_SEED = derive_key(0, LEARNED_DOMAIN, 0)

# Sizes (bytes) of what this package stores; every nbytes is the bytes of the arrays held
# (the exact table's layout is in ._exact):
COUNTER_BYTES = 4  # one sketch counter (int32, as CountMin/CountSketch store them)
LOOKUP_KEY_BYTES = 12  # one lookup-oracle entry: 8-byte item hash + float32 score
WEIGHT_BYTES = 4  # one float32 model weight


def oracle_keys(items) -> np.ndarray:
    """Seed-independent 64-bit identities of items (XXH64 under the domain-5 oracle key)."""
    return hash_items(items, ORACLE_ITEM_SEED)
