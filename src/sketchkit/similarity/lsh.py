r"""Locality-sensitive hashing over MinHash signatures (banding; Indyk & Motwani 1998, Broder
1997; *Mining of Massive Datasets* ch. 3): an index with insert, query, remove, top-k and bytes,
and the choice of ``(bands, rows)`` for a target similarity.

A signature of k values is cut into ``bands`` bands of ``rows`` values (bands·rows ≤ k). Two
sets become candidates when some band agrees entirely; for Jaccard similarity s that happens
with probability :math:`P(s) = 1 - (1 - s^r)^b` (independent slots). :func:`optimal_params`
picks (b, r) minimising :math:`w_{fp}\int_0^t P(s)\,ds + w_{fn}\int_t^1 (1 - P(s))\,ds`, the
weighted false-positive and false-negative areas below and above the threshold t (Gauss-Legendre
quadrature, 64 nodes). Candidates are then checked by the signatures' estimated similarity, so
the index defaults to recall-heavy weights (0.1, 0.9): false positives cost one comparison,
false negatives are lost.

Byte layout of an index (family ``LSH_INDEX``), after the common header::

    f64 threshold | u32 k | u32 bands | u32 rows | u32 n | u8 kind (0 any, 1 MinHash,
    2 OnePermMinHash, 3 FastSimilaritySketch) | 3 × u8 reserved | n keys | n × k u32 signatures (row-major)

A key is ``u8 0 | i64`` (an int) or ``u8 1 | u32 length | UTF-8`` (a str). The band tables are
rebuilt on load (they are a function of the signatures).
"""

from __future__ import annotations

import math
import struct
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np

from .. import _format
from .. import _ids as ids
from .._base import check_positive_int
from ..errors import CorruptSketchError, IncompatibleSketchError, InvalidParameterError, ItemTypeError
from ..hashing import DEFAULT_SEED, check_seed
from . import _kernels as K
from .minhash import MAX_K, FastSimilaritySketch, MinHash, OnePermMinHash, _Signature

_KINDS = {0: None, 1: MinHash, 2: OnePermMinHash, 3: FastSimilaritySketch}


def candidate_probability(s: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """:math:`1 - (1 - s^r)^b`: chance that two sets of Jaccard similarity s share a band."""
    return 1.0 - (1.0 - np.asarray(s, dtype=np.float64) ** rows) ** bands


@lru_cache(maxsize=256)
def optimal_params(threshold: float, k: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """``(bands, rows)`` with bands·rows ≤ k minimising the weighted false-positive area
    :math:`\\int_0^t P` plus false-negative area :math:`\\int_t^1 (1-P)` (weights 0.5/0.5 give
    the same choices as datasketch's MinHashLSH, e.g. (9, 13) for t = 0.8, k = 128)."""
    t = float(threshold)
    if not 0.0 < t < 1.0:
        raise InvalidParameterError(f"threshold must be in (0, 1), got {threshold!r}")
    k = check_positive_int("k", k, MAX_K)
    if fp_weight < 0 or fn_weight < 0 or fp_weight + fn_weight <= 0:
        raise InvalidParameterError("weights must be non-negative and not both zero")
    x, w = np.polynomial.legendre.leggauss(64)
    lo, hi = 0.5 * t * (x + 1.0), t + 0.5 * (1.0 - t) * (x + 1.0)
    best, best_err = (1, 1), math.inf
    for b in range(1, k + 1):
        r = np.arange(1, k // b + 1, dtype=np.float64)[:, None]
        fp = 0.5 * t * ((1.0 - (1.0 - lo**r) ** b) * w).sum(axis=1)
        fn = 0.5 * (1.0 - t) * (((1.0 - hi**r) ** b) * w).sum(axis=1)
        err = fp_weight * fp + fn_weight * fn
        i = int(np.argmin(err))
        if err[i] < best_err - 1e-15:
            best, best_err = (b, i + 1), float(err[i])
    return best


def _sig_kind(sig: Any) -> int:
    for kind, cls in _KINDS.items():
        if cls is not None and type(sig) is cls:
            return kind
    return 0


class MinHashLSH:
    """An LSH index of MinHash signatures: insert/remove by key, query by similarity, top-k.

    Parameters
    ----------
    threshold : the Jaccard similarity a query looks for (0 < t < 1).
    k : signature length (default 128).
    bands, rows : the banding; by default :func:`optimal_params` with ``weights``.
    weights : ``(false-positive, false-negative)`` weights of the choice (default (0.1, 0.9):
        queries verify candidates on the stored signatures, so recall is what banding must buy).
    seed : the signatures' seed, checked when a MinHash object is inserted or queried.

    **Guarantee**: a stored set of similarity s to the query is a candidate with probability
    :func:`candidate_probability` (s, bands, rows) for k-hash signatures (independent slots);
    ``query`` returns the candidates whose estimated similarity is ≥ threshold. ``top_k`` ranks
    candidates (``exhaustive=True``: every stored signature) by estimated similarity. Keys are
    ints or strs. Memory: k·4 bytes a signature plus the band tables (Python dicts).
    """

    _family: ClassVar[int] = ids.LSH_INDEX

    def __init__(self, threshold: float = 0.8, k: int = 128, *, bands: int | None = None, rows: int | None = None,
                 weights: tuple[float, float] = (0.1, 0.9), seed: int = DEFAULT_SEED):
        t = float(threshold)
        if not 0.0 < t < 1.0:
            raise InvalidParameterError(f"threshold must be in (0, 1), got {threshold!r}")
        self._k = check_positive_int("k", k, MAX_K)
        if (bands is None) != (rows is None):
            raise InvalidParameterError("give both bands and rows, or neither")
        if bands is None:
            bands, rows = optimal_params(t, self._k, float(weights[0]), float(weights[1]))
        self._bands = check_positive_int("bands", bands, self._k)
        self._rows = check_positive_int("rows", rows, self._k)
        if self._bands * self._rows > self._k:
            raise InvalidParameterError(f"bands * rows = {self._bands * self._rows} exceeds k = {self._k}")
        self._threshold = t
        self._seed = check_seed(seed)
        self._kind = 0
        self._keys: list[Any] = []  # slot -> key (None once removed)
        self._slot: dict[Any, int] = {}
        self._sigs = np.empty((0, self._k), dtype=np.uint32)
        self._bkeys = np.empty((0, self._bands), dtype=np.uint64)
        self._tables: list[dict[int, list[int]]] = [{} for _ in range(self._bands)]

    # ------------------------------------------------------------------ properties
    @property
    def threshold(self) -> float:
        return self._threshold

    @property
    def k(self) -> int:
        return self._k

    @property
    def params(self) -> tuple[int, int]:
        """``(bands, rows)``."""
        return self._bands, self._rows

    @property
    def seed(self) -> int:
        return self._seed

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, key: Any) -> bool:
        return key in self._slot

    def keys(self) -> list:
        """Stored keys in insertion order."""
        return [x for x in self._keys if x is not None]

    @property
    def total_weight(self) -> int:
        """Number of stored signatures (what ``sketchkit info`` shows as the weight)."""
        return len(self._slot)

    def is_empty(self) -> bool:
        return not self._slot

    def guarantee(self) -> str:
        b, r = self.params
        return (f"{b}x{r} bands: a set of similarity s is a candidate with probability 1-(1-s^{r})^{b} "
                f"({float(candidate_probability(self._threshold, b, r)):.2f} at s = t = {self._threshold})")

    @property
    def nbytes(self) -> int:
        """Bytes of the signature and band-key arrays, at their capacity (the dicts and keys come on
        top)."""
        return int(self._sigs.nbytes + self._bkeys.nbytes)

    def __repr__(self) -> str:
        b, r = self.params
        return (f"MinHashLSH(threshold={self._threshold}, k={self._k}, bands={b}, rows={r}, n={len(self)}, "
                f"P(candidate | J=t) = {float(candidate_probability(self._threshold, b, r)):.2f})")

    # ------------------------------------------------------------------ signatures in
    def _as_matrix(self, sigs: Any) -> np.ndarray:
        if isinstance(sigs, _Signature):
            sigs = [sigs]
        if isinstance(sigs, (list, tuple)) and sigs and isinstance(sigs[0], _Signature):
            for s in sigs:
                self._check_sketch(s)
            return np.stack([s.signature() for s in sigs])
        arr = np.asarray(sigs)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.dtype != np.uint32 or arr.ndim != 2 or arr.shape[1] != self._k:
            raise ItemTypeError(
                f"signatures must be uint32 with {self._k} columns (or MinHash sketches), got {arr.dtype} {arr.shape}"
            )
        return np.ascontiguousarray(arr)

    def _check_sketch(self, s: _Signature) -> None:
        kind = _sig_kind(s)
        if s.seed != self._seed or s.k != self._k or (self._kind and kind != self._kind):
            raise IncompatibleSketchError(
                f"a {type(s).__name__}(k={s.k}, seed={s.seed}) does not fit this index "
                f"(k={self._k}, seed={self._seed}, kind={_KINDS[self._kind].__name__ if self._kind else 'any'})"
            )

    def _note_kind(self, sigs: Any) -> None:
        first = sigs if isinstance(sigs, _Signature) else sigs[0] if isinstance(sigs, (list, tuple)) and sigs else None
        if isinstance(first, _Signature) and not self._kind:
            self._kind = _sig_kind(first)

    # ------------------------------------------------------------------ updates
    def insert(self, key: Any, signature: Any) -> None:
        """Store one signature (a MinHash/OnePermMinHash or a uint32 array of k values) under ``key``."""
        self.insert_batch([key], signature)

    def insert_batch(self, keys: list, signatures: Any) -> None:
        """Store many at once (a list of sketches or an n × k uint32 matrix); all or nothing."""
        keys = list(keys)
        if not keys and len(signatures) == 0:
            return
        mat = self._as_matrix(signatures)
        if len(keys) != mat.shape[0]:
            raise InvalidParameterError(f"{len(keys)} keys for {mat.shape[0]} signatures")
        seen = set()
        for key in keys:
            if isinstance(key, bool) or not isinstance(key, (int, str)):
                raise ItemTypeError(f"index keys must be int or str, got {type(key).__name__}")
            if isinstance(key, int) and not -(1 << 63) <= key < (1 << 63):
                raise InvalidParameterError(f"int key {key} is outside the int64 range")
            if key in self._slot or key in seen:
                raise InvalidParameterError(f"key {key!r} is already in the index")
            seen.add(key)
        self._note_kind(signatures)
        bk = K.band_keys(mat, self._bands, self._rows)
        start = len(self._keys)
        self._grow(start + mat.shape[0])
        self._sigs[start : start + mat.shape[0]] = mat
        self._bkeys[start : start + mat.shape[0]] = bk
        for i, key in enumerate(keys):
            slot = start + i
            self._keys.append(key)
            self._slot[key] = slot
        for b, table in enumerate(self._tables):
            for i, v in enumerate(bk[:, b].tolist()):
                table.setdefault(v, []).append(start + i)

    def _grow(self, needed: int) -> None:
        """Room for ``needed`` slots; capacity doubles, so n single inserts copy O(n) values."""
        cap = self._sigs.shape[0]
        if needed <= cap:
            return
        cap = max(needed, 2 * cap, 16)
        sigs = np.empty((cap, self._k), dtype=np.uint32)
        bkeys = np.empty((cap, self._bands), dtype=np.uint64)
        used = len(self._keys)
        sigs[:used] = self._sigs[:used]
        bkeys[:used] = self._bkeys[:used]
        self._sigs, self._bkeys = sigs, bkeys

    def remove(self, key: Any) -> None:
        """Forget ``key`` (KeyError if absent)."""
        slot = self._slot.pop(key)
        self._keys[slot] = None
        for b, table in enumerate(self._tables):
            v = int(self._bkeys[slot, b])
            bucket = table[v]
            bucket.remove(slot)
            if not bucket:
                del table[v]

    # ------------------------------------------------------------------ queries
    def _query_sig(self, signature: Any) -> np.ndarray:
        if isinstance(signature, _Signature):
            self._check_sketch(signature)
        mat = self._as_matrix(signature)
        if mat.shape[0] != 1:
            raise InvalidParameterError("query takes one signature")
        return mat

    def _candidates(self, mat: np.ndarray) -> np.ndarray:
        bk = K.band_keys(mat, self._bands, self._rows)[0].tolist()
        found: set[int] = set()
        for b, v in enumerate(bk):
            bucket = self._tables[b].get(v)
            if bucket:
                found.update(bucket)
        return np.fromiter(sorted(found), dtype=np.int64, count=len(found))

    def _similarities(self, sig: np.ndarray, slots: np.ndarray) -> np.ndarray:
        if slots.size == 0:
            return np.empty(0)
        return (self._sigs[slots] == sig[None, :]).mean(axis=1)

    def query(self, signature: Any, *, verify: bool = True) -> list:
        """Keys sharing a band with ``signature`` whose estimated similarity is ≥ threshold
        (``verify=False``: every candidate), most similar first."""
        mat = self._query_sig(signature)
        slots = self._candidates(mat)
        sims = self._similarities(mat[0], slots)
        if verify:
            keep = sims >= self._threshold
            slots, sims = slots[keep], sims[keep]
        order = np.argsort(-sims, kind="stable")
        return [self._keys[s] for s in slots[order].tolist()]

    def top_k(self, signature: Any, n: int = 10, *, exhaustive: bool = False) -> list[tuple[Any, float]]:
        """Up to ``n`` ``(key, estimated similarity)`` pairs, most similar first, among the LSH
        candidates (``exhaustive=True``: among every stored signature, exact ranking)."""
        n = check_positive_int("n", n)
        mat = self._query_sig(signature)
        if exhaustive:
            slots = np.fromiter(sorted(self._slot.values()), dtype=np.int64, count=len(self._slot))
        else:
            slots = self._candidates(mat)
        sims = self._similarities(mat[0], slots)
        order = np.argsort(-sims, kind="stable")[:n]
        return [(self._keys[s], float(x)) for s, x in zip(slots[order].tolist(), sims[order].tolist())]

    def signature(self, key: Any) -> np.ndarray:
        """The stored signature of ``key`` (a copy)."""
        return self._sigs[self._slot[key]].copy()

    # ------------------------------------------------------------------ bytes
    def to_bytes(self) -> bytes:
        """Versioned, checksummed bytes (:mod:`sketchkit._format`); removed entries are dropped."""
        live = sorted(self._slot.values())
        head = struct.pack("<dIIIIB3x", self._threshold, self._k, self._bands, self._rows, len(live), self._kind)
        parts = [head]
        for s in live:
            key = self._keys[s]
            if isinstance(key, int):
                parts.append(struct.pack("<Bq", 0, key))
            else:
                raw = key.encode("utf-8")
                parts.append(struct.pack("<BI", 1, len(raw)) + raw)
        parts.append(_format.le_bytes(self._sigs[live]) if live else b"")
        return _format.pack(self._family, self._seed, b"".join(parts), 0)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> MinHashLSH:
        return _format.load(data, expected=cls)

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: _format.Reader) -> MinHashLSH:
        if flags:
            raise CorruptSketchError(f"unknown flags {flags:#x} for MinHashLSH")
        t, k, bands, rows, n, kind = reader.unpack("dIIIIB3x")
        valid = 0.0 < t < 1.0 and 1 <= k <= MAX_K and bands >= 1 and rows >= 1 and bands * rows <= k
        if not valid or kind not in _KINDS:
            raise CorruptSketchError("invalid MinHashLSH parameters")
        if n > reader.remaining // 9:
            raise CorruptSketchError("MinHashLSH entry count exceeds the payload")
        keys: list[Any] = []
        for _ in range(n):
            (tag,) = reader.unpack("B")
            if tag == 0:
                keys.append(reader.unpack("q")[0])
            elif tag == 1:
                (length,) = reader.unpack("I")
                try:
                    keys.append(reader.raw(length).decode("utf-8"))
                except UnicodeDecodeError:
                    raise CorruptSketchError("MinHashLSH key is not UTF-8") from None
            else:
                raise CorruptSketchError(f"unknown MinHashLSH key tag {tag}")
        if len(set(keys)) != n:
            raise CorruptSketchError("MinHashLSH has a duplicate key")
        sigs = reader.array(np.uint32, n * k).reshape(n, k)
        out = cls(t, k, bands=bands, rows=rows, seed=seed)
        if n:
            out.insert_batch(keys, sigs)
        out._kind = kind
        return out

    def __reduce__(self) -> tuple:
        return (_format.load, (self.to_bytes(),))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MinHashLSH):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]


_format.register(ids.LSH_INDEX, MinHashLSH)
