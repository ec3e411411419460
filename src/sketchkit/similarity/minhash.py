r"""MinHash signatures of sets for Jaccard similarity: classic k-hash MinHash (Broder 1997),
one-permutation hashing (Li, Owen & Zhang, NIPS 2012) with optimal densification (Shrivastava,
ICML 2017), and Fast Similarity Sketching (Dahlgaard, Knudsen & Thorup, FOCS 2017), the
default of the batch and dedup tools: as fast as one permutation, lower variance than both.

All three summarise a set :math:`A` (of items, or of a document's shingles) by ``k`` uint32 values;
the Jaccard similarity :math:`J = |A\cap B|/|A\cup B|` of two sets is estimated by the share of
equal values, :math:`\hat J = \frac1k\sum_i [s_i(A) = s_i(B)]`. Both are exact under union:
the signature of :math:`A\cup B` is the element-wise minimum of the two signatures, so
``merge`` equals one pass over both streams bit for bit (``linear = True``).

Payload layout (little-endian), after the common header of :mod:`sketchkit._format`::

    u32 k | u32 reserved (0) | i64 total weight | u64 total absolute weight | k × u32 values

Values are the raw slots (k-hash, fast similarity) or raw bins (one permutation, before
densification); ``0xFFFFFFFF`` marks an empty one. A k-hash or fast-similarity signature is
all empty (no update) or has no empty slot; a one-permutation signature has at most
``total`` non-empty bins, at least one once updated; the two totals are equal (every weight
is 1). Bytes breaking these are refused.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np

from .. import _ids as ids
from .._base import Sketch, check_positive_int, check_probability, parse_memory
from .._format import Reader, le_bytes, register
from ..errors import CorruptSketchError, IncompatibleSketchError, InvalidParameterError
from ..hashing import DEFAULT_SEED, GOLDEN, MASK64, _hash_int64, check_seed, derive_key, mix64
from . import _kernels as K
from ._text import Shingling, as_shingling, document_buffer

MAX_K = 1 << 16
# indices of the MINHASH_DOMAIN stream: 2i, 2i + 1 are slot i's multiplier and offset
_DENSIFY_INDEX = 1 << 40
_NGRAM_INDEX = (1 << 40) + 1
_FSS_INDEX = (1 << 40) + 2


def _mix64_array(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@lru_cache(maxsize=64)
def _slot_keys(seed: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Slot i's multiplier ``derive_key(seed, MINHASH_DOMAIN, 2i) | 1`` and offset
    ``derive_key(seed, MINHASH_DOMAIN, 2i + 1)``, vectorised (uint64 arithmetic wraps mod 2**64).
    Shared by every MinHash of this seed and k (a process-wide cache, not counted in nbytes)."""
    base = np.uint64(mix64((seed + GOLDEN * (ids.MINHASH_DOMAIN + 1)) & MASK64))
    with np.errstate(over="ignore"):
        keys = _mix64_array(base + np.uint64(GOLDEN) * np.arange(1, 2 * k + 1, dtype=np.uint64))
    a = keys[0::2] | np.uint64(1)
    b = keys[1::2].copy()
    a.flags.writeable = False
    b.flags.writeable = False
    return a, b


def densify_key(seed: int) -> np.uint64:
    return np.uint64(derive_key(seed, ids.MINHASH_DOMAIN, _DENSIFY_INDEX))


def ngram_key(seed: int) -> np.uint64:
    return np.uint64(derive_key(seed, ids.MINHASH_DOMAIN, _NGRAM_INDEX))


def fss_key(seed: int) -> np.uint64:
    return np.uint64(derive_key(seed, ids.MINHASH_DOMAIN, _FSS_INDEX))


def minhash_variance(j: float, k: int) -> float:
    """Var of the k-hash estimator: :math:`J(1-J)/k` (a binomial share of k independent slots)."""
    return j * (1.0 - j) / k


def _occupancy(f: int, k: int) -> np.ndarray:
    """P(m bins non-empty), m = 0..k, after f items fall uniformly into k bins."""
    p = np.zeros(k + 1)
    p[0] = 1.0
    for _ in range(f):
        nxt = p * (np.arange(k + 1) / k)
        nxt[1:] += p[:-1] * ((k - np.arange(k)) / k)
        p = nxt
    return p


def oph_variance(intersection: int, union: int, k: int) -> float:
    r"""Var of the densified one-permutation estimator for sets with ``|A∩B| = a`` and
    ``|A∪B| = f``, derived here in the model of Shrivastava (ICML 2017): the union's items fall into k bins
    uniformly; a bin non-empty for the union matches with probability :math:`J = a/f`, two
    distinct ones both match with probability :math:`J\tilde R`, :math:`\tilde R = (a-1)/(f-1)`
    (minima drawn without replacement); each of the :math:`e = k - m` empty bins copies a
    uniform, independent non-empty bin. With :math:`c_j` the number of slots reading bin j,
    :math:`S = \sum_j c_j^2` has :math:`E[S \mid m] = m + 3e - e/m + e^2/m`, and

    .. math:: \operatorname{Var}\hat J = J(1-\tilde R)\,E[S]/k^2 + J(\tilde R - J).

    With no empty bin (:math:`S = k`) this is at most :math:`J(1-J)/k` (sampling without
    replacement); empty bins raise it, by far less than earlier densifications."""
    a, f = int(intersection), int(union)
    if not 0 <= a <= f or f < 1:
        raise InvalidParameterError(f"need 0 <= intersection <= union and union >= 1, got {a}, {f}")
    k = check_positive_int("k", k, MAX_K)
    j = a / f
    rt = (a - 1) / (f - 1) if f > 1 else 0.0
    p = _occupancy(f, k)
    m = np.arange(1, k + 1, dtype=np.float64)
    e = k - m
    s = m + 3 * e - e / m + e * e / m
    es = float((p[1:] * s).sum() / p[1:].sum())
    return j * (1.0 - rt) * es / (k * k) + j * (rt - j)


class _Signature(Sketch):
    """What both MinHash variants share: k uint32 values, min-merge, text shingling."""

    __slots__ = ("_values",)
    linear: ClassVar[bool] = True
    turnstile: ClassVar[bool] = False
    weighted: ClassVar[bool] = False
    item_kind: ClassVar[str] = "any"
    hashed_updates: ClassVar[bool] = True
    _method: ClassVar[int]
    _slot_bytes: ClassVar[int]

    def __init__(self, k: int = 128, *, seed: int = DEFAULT_SEED):
        super().__init__(seed)
        k = check_positive_int("k", k, MAX_K)
        self._values = np.full(k, K.EMPTY, dtype=np.uint32)

    # ------------------------------------------------------------------ shape
    @property
    def k(self) -> int:
        """Number of signature values (hash functions or bins)."""
        return self._values.shape[0]

    def _shape(self) -> tuple:
        return (self.k,)

    @property
    def shape(self) -> tuple:
        """Everything besides the seed that must match for a merge or a comparison: ``(k,)``."""
        return self._shape()

    @classmethod
    def _contract_examples(cls, seed: int) -> tuple[Sketch, Sketch]:
        return cls(16, seed=seed), cls(32, seed=seed)

    def _describe(self) -> str:
        return f"k={self.k}"

    def empty_like(self):
        return type(self)(self.k, seed=self._seed)

    @classmethod
    def from_memory(cls, budget: int | str, *, seed: int = DEFAULT_SEED):
        """The largest k whose state fits in ``budget`` bytes (``nbytes <= budget``)."""
        k = min(parse_memory(budget) // cls._slot_bytes, MAX_K)
        if k < 1:
            raise InvalidParameterError(f"memory budget {budget!r} is below one slot ({cls._slot_bytes} bytes)")
        return cls(k, seed=seed)

    @classmethod
    def from_error(cls, epsilon: float, delta: float = 0.05, *, seed: int = DEFAULT_SEED):
        """Smallest k with :math:`P(|\\hat J - J| > \\varepsilon) \\le \\delta` by Hoeffding's
        inequality, :math:`k = \\lceil \\ln(2/\\delta) / (2\\varepsilon^2)\\rceil` (independent
        slots; for one permutation it holds while no bin is empty, sampling without
        replacement)."""
        epsilon = check_probability("epsilon", epsilon)
        delta = check_probability("delta", delta)
        return cls(min(MAX_K, math.ceil(math.log(2.0 / delta) / (2.0 * epsilon * epsilon))), seed=seed)

    @property
    def nbytes(self) -> int:
        return int(self._values.nbytes)

    # ------------------------------------------------------------------ updates
    def _check_weights(self, weights, abs_total) -> None:
        if weights is not None and weights.size and bool((weights != 1).any()):
            raise InvalidParameterError(
                f"{type(self).__name__} summarises a set: every weight must be 1 (weighted=False)"
            )

    def _update_keys(self, keys, raw, weights, batch) -> None:
        if raw:
            keys = _hash_int64(keys, self._item_seed)
        self._fold(keys)

    def _fold(self, hashes: np.ndarray) -> None:
        raise NotImplementedError

    def update_text(self, doc: str | bytes, shingling: Shingling | None = None, **kwargs: Any) -> None:
        """Add a document's shingles (see :class:`Shingling`: ``unit``, ``n``, ``normalize``,
        ``words``). Adds one to the total weight per shingle occurrence."""
        sh = as_shingling(shingling, **kwargs)
        buf, off = document_buffer([doc], sh)
        flat, _ = K.text_shingles(buf, off, sh.mode, sh.n, self._item_seed, ngram_key(self._seed))
        if flat.size:
            self._fold(flat)
            self._total += int(flat.size)
            self._abs_total += int(flat.size)

    @classmethod
    def from_text(cls, doc: str | bytes, k: int = 128, *, seed: int = DEFAULT_SEED,
                  shingling: Shingling | None = None, **kwargs: Any):
        """A new signature of one document's shingles."""
        out = cls(k, seed=seed)
        out.update_text(doc, shingling, **kwargs)
        return out

    @classmethod
    def signatures(cls, docs: Any, k: int = 128, *, seed: int = DEFAULT_SEED,
                   shingling: Shingling | None = None, unit: str | None = None, n: int | None = None,
                   normalize: bool | None = None, words: str | None = None) -> np.ndarray:
        """Signature matrix (``len(docs)`` × k, uint32) of many documents at once: a list of
        str/bytes, a pandas Series or a pyarrow string column. Row i is ``from_text(docs[i])``'s
        :meth:`signature`. No Python call per shingle (one per document only with
        ``normalize`` or ``words="unicode"``)."""
        sh = as_shingling(shingling, unit=unit, n=n, normalize=normalize, words=words)
        k = check_positive_int("k", k, MAX_K)
        seed = check_seed(seed)
        item_seed = cls(1, seed=seed)._item_seed
        buf, off = document_buffer(docs, sh)
        a, b = _slot_keys(seed, k) if cls._method == K.METHOD_KHASH else (np.empty(0, np.uint64),) * 2
        raw = K.text_signatures(buf, off, sh.mode, sh.n, item_seed, ngram_key(seed), cls._method, a, b, k,
                                fss_key(seed))
        return cls._finish_rows(raw, seed)

    @classmethod
    def _finish_rows(cls, raw: np.ndarray, seed: int) -> np.ndarray:
        return raw

    def _merge_state(self, other: Any) -> None:
        np.minimum(self._values, other._values, out=self._values)

    # ------------------------------------------------------------------ queries
    def signature(self) -> np.ndarray:
        """The k values compared by :meth:`jaccard` and by an LSH index (a copy, uint32)."""
        return self._values.copy()

    def jaccard(self, other: _Signature) -> float:
        """Estimated Jaccard similarity: the share of equal signature values (1.0 for two
        empty sets)."""
        if type(other) is not type(self):
            raise IncompatibleSketchError(f"cannot compare a {type(self).__name__} with a {type(other).__name__}")
        if other._seed != self._seed or other.k != self.k:
            raise IncompatibleSketchError(
                f"cannot compare signatures of different seeds or sizes: ({self._seed}, k={self.k}) and "
                f"({other._seed}, k={other.k})"
            )
        return float(np.count_nonzero(self.signature() == other.signature())) / self.k

    def to_bbit(self, b: int) -> np.ndarray:
        """The lowest ``b`` bits of each value, packed (b in 1, 2, 4, 8, 16): see :func:`to_bbit`."""
        from .bbit import to_bbit

        return to_bbit(self.signature(), b)

    # ------------------------------------------------------------------ bytes
    def _payload(self) -> tuple[int, bytes]:
        head = np.array([self.k, 0], dtype="<u4").tobytes()
        head += np.array([self._total], dtype="<i8").tobytes() + np.array([self._abs_total], dtype="<u8").tobytes()
        return 0, head + le_bytes(self._values)

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader):
        if flags:
            raise CorruptSketchError(f"unknown flags {flags:#x} for {cls.__name__}")
        k, reserved, total, abs_total = reader.unpack("IIqQ")
        if not 1 <= k <= MAX_K or reserved:
            raise CorruptSketchError(f"invalid {cls.__name__} size k={k}")
        if total != abs_total or total < 0:
            raise CorruptSketchError(f"{cls.__name__} totals disagree ({total}, {abs_total}): every weight is 1")
        values = reader.array(np.uint32, k)
        filled = int(np.count_nonzero(values != K.EMPTY))
        cls._check_filled(filled, k, int(total))
        cls._check_values(values)
        out = cls.__new__(cls)
        Sketch.__init__(out, seed)
        out._values = values
        out._total = int(total)
        out._abs_total = int(abs_total)
        return out

    @classmethod
    def _check_filled(cls, filled: int, k: int, total: int) -> None:
        raise NotImplementedError

    @classmethod
    def _check_values(cls, values: np.ndarray) -> None:
        """Refuse values no update could produce (beyond the empty marker: none by default)."""


class MinHash(_Signature):
    r"""Classic k-hash MinHash (Broder, *On the resemblance and containment of documents*,
    1997): slot i keeps :math:`\min_{x\in A} h_i(x)` for k hash functions.

    **Guarantee** (what ``tests/test_similarity.py`` checks): for each slot,
    :math:`P[s_i(A) = s_i(B)] = J`, independently across slots, so :math:`\hat J` is unbiased
    with :math:`\operatorname{Var}\hat J = J(1-J)/k` (:func:`minhash_variance`; 0.035 standard
    error at J = 0.8, k = 128) and :math:`P(|\hat J - J| > \varepsilon) \le 2e^{-2k\varepsilon^2}`
    (Hoeffding). Holds for ideal hashing; here :math:`h_i(x)` is the top 32 bits of
    :math:`a_i x + b_i \bmod 2^{64}` applied to the 64-bit XXH64 item hash :math:`x`, with
    :math:`a_i` (odd), :math:`b_i` derived from the seed (``MINHASH_DOMAIN``).

    Costs k multiply-adds per item; :class:`OnePermMinHash` gives the same accuracy at one
    hash per item. State: k uint32 values; the 2k hash keys (16 bytes a slot) are shared by
    every MinHash of the same seed and k in the process.

    >>> a = MinHash.from_text("the quick brown fox jumps over the lazy dog", n=2, seed=1)
    >>> b = MinHash.from_text("the quick brown fox jumps over a lazy dog", n=2, seed=1)
    >>> 0.3 < a.jaccard(b) < 0.9
    True
    """

    __slots__ = ()
    _family = ids.MINHASH
    _method = K.METHOD_KHASH
    _slot_bytes = 4

    def _fold(self, hashes: np.ndarray) -> None:
        a, b = _slot_keys(self._seed, self.k)
        K.khash_update(self._values, a, b, hashes)

    def variance(self, j: float) -> float:
        """:math:`J(1-J)/k`, the variance of :meth:`jaccard` at true similarity ``j``."""
        return minhash_variance(float(j), self.k)

    @classmethod
    def _check_filled(cls, filled: int, k: int, total: int) -> None:
        if filled not in (0, k) or (filled == 0) != (total == 0):
            raise CorruptSketchError(f"MinHash with {filled} of {k} slots set after {total} updates")

    def guarantee(self) -> str:
        return f"σ ≤ {0.5 / math.sqrt(self.k):.3f} (sd of J at k={self.k}: sqrt(J(1-J)/k))"


class OnePermMinHash(_Signature):
    r"""One-permutation MinHash (Li, Owen & Zhang, NIPS 2012) with optimal densification
    (Shrivastava, *Optimal Densification for Fast and Accurate Minwise Hashing*, ICML 2017).

    One hash per item: its top 32 bits pick one of k bins, its low 32 bits compete for that
    bin's minimum. The state keeps the raw bins (so merging stays an exact minimum); the
    :meth:`signature` densifies them: each empty bin walks its own data-independent sequence of
    bins until it meets a non-empty one and copies its value.

    **Guarantee** (what ``tests/test_similarity.py`` checks): :math:`\hat J` is unbiased with
    :math:`\operatorname{Var}\hat J` given by :func:`oph_variance` (the paper's model: bins
    non-empty for :math:`A\cup B` match with probability J, drawn without replacement; each
    empty bin copies an independent uniform non-empty one). When :math:`|A\cup B| \gg k`
    no bin is empty and the variance is at most MinHash's :math:`J(1-J)/k`.

    Costs O(1) per item plus O(k) expected per densification (O(k²) worst case, when almost all
    bins are empty). State: k uint32 values.
    """

    __slots__ = ()
    _family = ids.ONE_PERM_MINHASH
    _method = K.METHOD_OPH
    _slot_bytes = 4

    def _fold(self, hashes: np.ndarray) -> None:
        K.oph_update(self._values, hashes)

    @classmethod
    def _finish_rows(cls, raw: np.ndarray, seed: int) -> np.ndarray:
        return K.densify_rows(raw, densify_key(seed))

    def signature(self) -> np.ndarray:
        out = np.empty_like(self._values)
        K.densify_into(self._values, out, densify_key(self._seed))
        return out

    def raw_bins(self) -> np.ndarray:
        """The bins before densification (``0xFFFFFFFF`` = empty): what merging takes the minimum of."""
        return self._values.copy()

    def variance(self, intersection: int, union: int) -> float:
        """:func:`oph_variance` for this k."""
        return oph_variance(intersection, union, self.k)

    @classmethod
    def _check_filled(cls, filled: int, k: int, total: int) -> None:
        if filled > total or (filled == 0) != (total == 0):
            raise CorruptSketchError(f"OnePermMinHash with {filled} non-empty bins after {total} updates")

    def guarantee(self) -> str:
        return f"σ ≤ {0.5 / math.sqrt(self.k):.3f} while no bin is empty (see oph_variance)"


class FastSimilaritySketch(_Signature):
    r"""Fast Similarity Sketching (Dahlgaard, Knudsen & Thorup, *Fast Similarity Sketching*,
    FOCS 2017): k bins, no empty bin, no densification, exact under union.

    Items are thrown into random bins in rounds; round j's values carry j in their top bits, so
    a bin keeps an item of its earliest round; rounds stop as soon as every bin is filled
    (after about :math:`\max(1, k\ln k/n)` rounds for n items; round k + i sends every item
    to bin ``(o(x) + i) mod k``, so 2k rounds always fill every bin). A large set costs one hash
    per item, like one-permutation hashing; a small one costs O(k log k) in all.

    **Guarantee** (what ``tests/test_similarity.py`` checks): each bin's minimum over
    :math:`A\cup B` comes from an element of :math:`A\cup B` chosen uniformly at random (every
    element's values are i.i.d.), so :math:`P[s_b(A) = s_b(B)] = J` for every bin and
    :math:`\hat J` is unbiased; its variance is at most the k-hash :math:`J(1-J)/k`
    (one-round case: sampling without replacement; the paper shows the bins concentrate like
    independent ones). The fraction below the round bits has :math:`32 - \lceil\log_2 2k
ceil`
    bits (24 at k = 128): two distinct items tie with probability :math:`2^{-24}` there.

    Merging is an element-wise minimum (the sketch is the minimum over every (item, round)
    value, a function of the set): ``merge`` equals one pass. State: k uint32 values.
    """

    __slots__ = ()
    _family = ids.FAST_SIMILARITY
    _method = K.METHOD_FSS
    _slot_bytes = 4

    def _fold(self, hashes: np.ndarray) -> None:
        K.fss_update(self._values, hashes, fss_key(self._seed))

    def variance_bound(self, j: float) -> float:
        """:math:`J(1-J)/k`, the bound on the variance of :meth:`jaccard` at similarity ``j``."""
        return minhash_variance(float(j), self.k)

    @classmethod
    def _check_filled(cls, filled: int, k: int, total: int) -> None:
        if filled not in (0, k) or (filled == 0) != (total == 0):
            raise CorruptSketchError(f"FastSimilaritySketch with {filled} of {k} bins set after {total} updates")

    @classmethod
    def _check_values(cls, values: np.ndarray) -> None:
        k = values.shape[0]
        shift = 32 - int(K.round_bits(k))
        live = values[values != K.EMPTY]
        if live.size and int(live.max()) >> shift > 2 * k - 1:
            raise CorruptSketchError(f"FastSimilaritySketch value from round {int(live.max()) >> shift}, past the last "
                                     f"round {2 * k - 1}")

    def guarantee(self) -> str:
        return f"σ ≤ {0.5 / math.sqrt(self.k):.3f} (sd of J ≤ sqrt(J(1-J)/k))"


register(ids.MINHASH, MinHash)
register(ids.FAST_SIMILARITY, FastSimilaritySketch)
register(ids.ONE_PERM_MINHASH, OnePermMinHash)
