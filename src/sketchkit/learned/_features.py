"""Hashed n-gram features of items, for oracles that learn from the item itself.

An item becomes text (``str`` as is, ``bytes`` decoded as Latin-1, ``int`` in decimal), is cut to
``MAX_CHARS`` characters, encoded as UTF-8 and framed as ``b"\\x02" + text + b"\\x03"``. Every
byte n-gram for n in 1..``max_n`` is hashed with sketchkit's XXH64 under a key of hash domain 5
that depends on n, and one more column marks the text's length; the hash's low ``bits`` bits
pick the column. The hashing trick keeps the model's size fixed, whatever the vocabulary, and a
matrix at more bits folds exactly onto fewer (:func:`fold`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from ..errors import InvalidParameterError, ItemTypeError
from ..hashing import _xxh64_span, as_item_list, derive_key
from ._common import LEARNED_DOMAIN

MAX_CHARS = 60
MAX_N = 6
# one XXH64 key per n-gram length, one salt for the length column
_NGRAM_KEYS = np.array([derive_key(0, LEARNED_DOMAIN, 10 + n) for n in range(MAX_N + 1)], dtype=np.uint64)
_LENGTH_SALT = np.uint64(derive_key(0, LEARNED_DOMAIN, 9))


def item_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item).decode("latin-1")
    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        return str(int(item))
    raise ItemTypeError(f"cannot derive features from a {type(item).__name__}; use str, bytes or int items")


@njit(cache=True)
def _ngram_columns(buf, offsets, lengths, max_n, keys, salt, mask):
    """Columns of every framed item's n-grams (plus its length column), item after item."""
    n_items = offsets.shape[0] - 1
    total = 0
    for i in range(n_items):
        size = offsets[i + 1] - offsets[i]
        for n in range(1, max_n + 1):
            if size >= n:
                total += size - n + 1
        total += 1
    cols = np.empty(total, dtype=np.int64)
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    k = 0
    for i in range(n_items):
        lo, hi = offsets[i], offsets[i + 1]
        for n in range(1, max_n + 1):
            for s in range(lo, hi - n + 1):
                cols[k] = np.int64(_xxh64_span(buf, s, s + n, keys[n]) & mask)
                k += 1
        z = np.uint64(lengths[i]) + salt
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        cols[k] = np.int64((z ^ (z >> np.uint64(31))) & mask)
        k += 1
        indptr[i + 1] = k
    return cols, indptr


def ngram_matrix(items: Any, bits: int, max_n: int):
    """Sparse CSR matrix (n_items × 2**bits) of hashed n-gram counts (scipy imported lazily)."""
    from scipy import sparse

    if not 8 <= bits <= 24:
        raise InvalidParameterError(f"bits must be in [8, 24], got {bits}")
    if not 1 <= max_n <= MAX_N:
        raise InvalidParameterError(f"max_n must be in [1, {MAX_N}], got {max_n}")
    batch = as_item_list(items)
    texts = [item_text(x)[:MAX_CHARS] for x in (batch.tolist() if isinstance(batch, np.ndarray) else batch)]
    try:
        encoded = [b"\x02" + t.encode("utf-8") + b"\x03" for t in texts]
    except UnicodeEncodeError:
        raise InvalidParameterError("an item holds a lone surrogate that UTF-8 cannot encode") from None
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    buf = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    cols, indptr = _ngram_columns(buf, offsets, lengths, max_n, _NGRAM_KEYS, _LENGTH_SALT, np.uint64((1 << bits) - 1))
    mat = sparse.csr_matrix((np.ones(len(cols)), cols, indptr), shape=(len(texts), 1 << bits))
    mat.sum_duplicates()
    return mat


def fold(mat, bits: int):
    """The same features hashed into ``2**bits`` columns (a column index keeps its low bits)."""
    from scipy import sparse

    if mat.shape[1] == 1 << bits:
        return mat
    if mat.shape[1] < 1 << bits:
        raise InvalidParameterError(f"cannot fold {mat.shape[1]} columns up to 2**{bits}")
    # copies: sum_duplicates compacts data and indptr in place, which would corrupt ``mat``
    out = sparse.csr_matrix((mat.data.copy(), mat.indices & ((1 << bits) - 1), mat.indptr.copy()),
                            shape=(mat.shape[0], 1 << bits))
    out.sum_duplicates()
    return out
