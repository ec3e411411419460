"""Hashed character n-gram features of items, for oracles that learn from the item itself.

An item becomes text (``str`` as is, ``bytes`` decoded as Latin-1, ``int`` in decimal), is cut
to ``MAX_CHARS`` characters and framed as ``"\\x02" + text + "\\x03"``; every character n-gram
for n in 1..``max_n`` plus one length token is hashed (sketchkit's XXH64 under a domain-5 key)
into ``2**bits`` columns. The hashing trick keeps the model's size fixed, whatever the vocabulary.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidParameterError, ItemTypeError
from ..hashing import as_item_list, derive_key, hash_items
from ._common import LEARNED_DOMAIN

MAX_CHARS = 60
FEATURE_SEED = derive_key(0, LEARNED_DOMAIN, 1)


def item_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item).decode("latin-1")
    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        return str(int(item))
    raise ItemTypeError(f"cannot derive features from a {type(item).__name__}; use str, bytes or int items")


def ngram_matrix(items: Any, bits: int, max_n: int):
    """Sparse CSR matrix (n_items × 2**bits) of hashed n-gram counts (scipy imported lazily)."""
    from scipy import sparse

    if not 8 <= bits <= 24:
        raise InvalidParameterError(f"bits must be in [8, 24], got {bits}")
    if not 1 <= max_n <= 6:
        raise InvalidParameterError(f"max_n must be in [1, 6], got {max_n}")
    batch = as_item_list(items)
    grams: list[str] = []
    lengths = np.zeros(len(batch), dtype=np.int64)
    for i, item in enumerate(batch.tolist() if isinstance(batch, np.ndarray) else batch):
        text = item_text(item)[:MAX_CHARS]
        framed = "\x02" + text + "\x03"
        start = len(grams)
        grams.append(f"\x01len{len(text)}")
        for n in range(1, max_n + 1):
            grams.extend(f"{n}{framed[j : j + n]}" for j in range(len(framed) - n + 1))
        lengths[i] = len(grams) - start
    indptr = np.zeros(len(batch) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    cols = (hash_items(grams, FEATURE_SEED) & np.uint64((1 << bits) - 1)).astype(np.int64)
    data = np.ones(len(grams), dtype=np.float64)
    mat = sparse.csr_matrix((data, cols, indptr), shape=(len(batch), 1 << bits))
    mat.sum_duplicates()
    return mat


def fold(mat, bits: int):
    """The same features hashed into ``2**bits`` columns (a column index keeps its low bits)."""
    from scipy import sparse

    if mat.shape[1] == 1 << bits:
        return mat
    if mat.shape[1] < 1 << bits:
        raise InvalidParameterError(f"cannot fold {mat.shape[1]} columns up to 2**{bits}")
    out = sparse.csr_matrix((mat.data, mat.indices & ((1 << bits) - 1), mat.indptr), shape=(mat.shape[0], 1 << bits))
    out.sum_duplicates()
    return out
