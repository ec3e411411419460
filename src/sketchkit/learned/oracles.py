r"""Frequency oracles: a score for each item of a batch, higher meaning "predicted heavier".

Every oracle is deterministic (the same item always gets the same score, in any process), has a
byte size that the learned sketches charge to their memory budget (:attr:`Oracle.nbytes`: the
bytes of the arrays it holds), and a versioned byte form written with :mod:`sketchkit._format`
(family ids 23–26, 28, 29), so an oracle file can be shipped next to sketches.

* :class:`LookupOracle` — counts from a training period (Hsu et al. 2019's "table lookup"
  baseline): score :math:`\ln(1 + c_{train}(x))`, 0 for unseen items.
* :class:`NgramOracle` — a linear model on hashed character n-grams of the item, trained either
  on the log-count MSE of Hsu, Indyk, Katabi, Vakilian (ICLR 2019) or on a coverage surrogate
  after Du, Wang, Mitzenmacher (ICML 2021): mass-weighted logistic regression of "is among the
  heaviest training items", so that ranking errors cost in proportion to the mass they misroute.
* :class:`HybridOracle` — the lookup score where the lookup knows the item, the model's otherwise.
* :class:`RandomOracle` — a uniform pseudo-random score: the control that carries no information.
* :class:`KeySetOracle` — membership in a set of predicted-heavy items (32-bit fingerprints): what
  a learned sketch keeps of a lookup pruned for its threshold and capacity, at a third of the size.

Scores are ``float64`` arrays; ``oracle.score(items)`` accepts what ``Sketch.update_batch`` does.

>>> lookup = LookupOracle.from_counts({"the": 99, "cat": 3})
>>> lookup.score(["the", "cat", "dog"]).round(3).tolist()
[4.605, 1.386, 0.0]
>>> LookupOracle.from_bytes(lookup.to_bytes()) == lookup
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from .. import _format
from .. import _ids as ids
from .._base import check_positive_int
from .._format import Reader, le_bytes
from ..errors import CorruptSketchError, InvalidParameterError, WrongSketchTypeError
from ..hashing import DEFAULT_SEED, check_seed, derive_key, hash_items
from ._common import LEARNED_DOMAIN, LOOKUP_KEY_BYTES, WEIGHT_BYTES, oracle_keys
from ._features import fold, ngram_matrix

FAMILY_LOOKUP = ids.LOOKUP_ORACLE
FAMILY_NGRAM = ids.NGRAM_ORACLE
FAMILY_HYBRID = ids.HYBRID_ORACLE
FAMILY_RANDOM = ids.RANDOM_ORACLE
FAMILY_KEYSET = ids.KEYSET_ORACLE

OBJECTIVES = ("mse", "coverage")


def counts_arrays(counts: Any) -> tuple[list | np.ndarray, np.ndarray]:
    """``(items, counts)`` from a mapping item -> count or a pair of sequences; counts ≥ 1."""
    if isinstance(counts, Mapping):
        items = list(counts.keys())
        values = np.fromiter((int(v) for v in counts.values()), dtype=np.int64, count=len(items))
    else:
        try:
            items, values = counts
        except (TypeError, ValueError):
            raise InvalidParameterError("counts must be a mapping item -> count or a pair (items, counts)") from None
        values = np.asarray(values)
        if values.dtype.kind not in "iu":
            raise InvalidParameterError(f"counts must be integers, got dtype {values.dtype}")
        values = values.astype(np.int64)
        if isinstance(items, np.ndarray) and items.dtype.kind in "USOT":
            items = items.tolist()
        if len(items) != len(values):
            raise InvalidParameterError(f"{len(items)} items but {len(values)} counts")
    if len(values) and int(values.min()) < 1:
        raise InvalidParameterError("training counts must be positive")
    return items, values


def rank_scores(scores: np.ndarray) -> np.ndarray:
    """The training scores at ranks 1, 2, 4, 8, ... (float32): enough to place a threshold by
    capacity without storing the training items (a model oracle's :meth:`Oracle.threshold_for`)."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if len(ordered) == 0:
        return np.empty(0, dtype=np.float32)
    at = (1 << np.arange(int(math.log2(len(ordered))) + 1)) - 1
    return ordered[at].astype(np.float32)


def threshold_from_ranks(ranks: np.ndarray, capacity: int) -> float:
    """Score at training rank ``capacity`` from :func:`rank_scores`, interpolated in log-rank."""
    if capacity <= 0:
        return math.inf
    pos = math.log2(capacity)
    if pos >= len(ranks) - 1:
        return float(ranks[-1])
    lo = int(pos)
    frac = pos - lo
    return float((1 - frac) * ranks[lo] + frac * ranks[lo + 1])


class Oracle:
    """Interface: ``score(items) -> float64 array`` and ``nbytes`` (charged to the budget)."""

    _family: ClassVar[int]
    kind: ClassVar[str]

    def score(self, items: Any) -> np.ndarray:
        raise NotImplementedError

    @property
    def nbytes(self) -> int:
        raise NotImplementedError

    def threshold_for(self, capacity: int) -> float:
        """A score threshold that about ``capacity`` items of a stream like the training one pass
        (used when no validation period is at hand; :func:`~sketchkit.learned.tune` does better)."""
        raise InvalidParameterError(f"{type(self).__name__} has no training ranks: give the threshold explicitly")

    # ------------------------------------------------------------------ bytes
    def _payload(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader) -> Oracle:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """The oracle file: sketchkit's byte format (magic, version, family, CRC-32)."""
        return _format.pack(self._family, 0, self._payload())

    @classmethod
    def from_bytes(cls, data: Any) -> Oracle:
        """Read an oracle written by :meth:`to_bytes`; defects raise a SerializationError."""
        out = _format.load(data)
        if not isinstance(out, cls):
            raise WrongSketchTypeError(f"bytes hold a {type(out).__name__}, not a {cls.__name__}")
        return out

    def __reduce__(self) -> tuple:
        return (_format.load, (self.to_bytes(),))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Oracle):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]


class LookupOracle(Oracle):
    """Training-period counts: score ln(1 + count), 0.0 for items never seen.

    ``capacity`` keeps only the heaviest entries (ties broken by item hash): a learned sketch only
    ever asks whether a score passes its threshold, so entries below it are dead weight.
    """

    _family = FAMILY_LOOKUP
    kind = "lookup"

    def __init__(self, keys: np.ndarray, scores: np.ndarray):
        keys = np.asarray(keys, dtype=np.uint64)
        scores = np.asarray(scores, dtype=np.float32)
        if keys.ndim != 1 or keys.shape != scores.shape:
            raise InvalidParameterError("keys and scores must be one-dimensional and of equal length")
        order = np.argsort(keys, kind="stable")
        keys, scores = keys[order], scores[order]
        if len(keys) > 1 and bool(np.any(keys[1:] == keys[:-1])):
            raise InvalidParameterError("lookup keys must be distinct")
        if not np.all(np.isfinite(scores)):
            raise InvalidParameterError("lookup scores must be finite")
        self._keys = keys
        self._scores = scores

    @classmethod
    def from_counts(cls, counts: Any, capacity: int | None = None) -> LookupOracle:
        """From a mapping item -> count (or ``(items, counts)``); items hashed by the oracle key."""
        items, values = counts_arrays(counts)
        keys = oracle_keys(items) if len(values) else np.empty(0, dtype=np.uint64)
        # the same item given twice (say as str and as its UTF-8 bytes) adds up
        keys, inverse = np.unique(keys, return_inverse=True)
        values = np.bincount(inverse, weights=values, minlength=len(keys)).astype(np.int64)
        out = cls(keys, np.log1p(values.astype(np.float64)))
        return out.pruned(capacity) if capacity is not None else out

    @classmethod
    def from_history(cls, periods: list, capacity: int | None = None, alpha: float = 1.0) -> LookupOracle:
        """A *learned* lookup: each known item's score is a ridge model's forecast of its next-period
        log-count from its own history, so rising items outrank fading ones (drift).

        ``periods``: count mappings, oldest first (at least 3). Features of an item against a list
        of periods: ln(1 + count) in the last period, in the one before, in all older ones
        together, and whether it appeared in the last one. The model is fit to predict the last
        period from the ones before it, then applied to all periods. Size as a lookup (the model's
        four weights are folded into the scores).
        """
        if len(periods) < 3:
            raise InvalidParameterError("from_history needs at least 3 periods, oldest first")
        if not alpha > 0:
            raise InvalidParameterError("alpha must be positive")
        parts = []
        for period in periods:
            items, values = counts_arrays(period)
            keys = oracle_keys(items) if len(values) else np.empty(0, dtype=np.uint64)
            keys, inverse = np.unique(keys, return_inverse=True)
            parts.append((keys, np.bincount(inverse, weights=values, minlength=len(keys))))
        universe = np.unique(np.concatenate([k for k, _ in parts]))

        def column(part) -> np.ndarray:
            keys, values = part
            out = np.zeros(len(universe))
            out[np.searchsorted(universe, keys)] = values
            return out

        counts = np.stack([column(p) for p in parts])  # periods × items

        def features(block: np.ndarray) -> np.ndarray:
            older = block[:-2].sum(axis=0)
            return np.stack([np.log1p(block[-1]), np.log1p(block[-2]), np.log1p(older), block[-1] > 0], axis=1)

        x, y = features(counts[:-1]), np.log1p(counts[-1])
        seen = (counts[:-1].sum(axis=0) > 0) | (y > 0)
        x, y = x[seen], y[seen]
        xm, ym = x.mean(axis=0), y.mean()
        xc = x - xm
        w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - ym))
        scores = np.maximum((features(counts) - xm) @ w + ym, 0.0)
        out = cls(universe, scores)
        return out.pruned(capacity) if capacity is not None else out

    def pruned(self, capacity: int) -> LookupOracle:
        """A copy keeping the ``capacity`` highest scores (ties: smaller item hash first)."""
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) or capacity < 0:
            raise InvalidParameterError(f"capacity must be a non-negative int, got {capacity!r}")
        if capacity >= len(self._keys):
            return self
        order = np.lexsort((self._keys, -self._scores.astype(np.float64)))[: int(capacity)]
        return LookupOracle(self._keys[order], self._scores[order])

    def __len__(self) -> int:
        return len(self._keys)

    def score(self, items: Any) -> np.ndarray:
        return self.score_keys(oracle_keys(items))

    def score_keys(self, keys: np.ndarray) -> np.ndarray:
        """Scores of items given by their oracle keys (:func:`~sketchkit.learned._common.oracle_keys`)."""
        return self._lookup(keys, 0.0)

    def _lookup(self, keys: np.ndarray, missing: float) -> np.ndarray:
        out = np.full(len(keys), missing, dtype=np.float64)
        if len(self._keys) == 0 or len(keys) == 0:
            return out
        pos = self._positions(keys)
        hit = self._keys[pos] == keys
        out[hit] = self._scores[pos[hit]]
        return out

    def _positions(self, keys: np.ndarray) -> np.ndarray:
        # binary search of sorted queries: random ones measured 8x slower (cache misses)
        order = np.argsort(keys, kind="stable")
        pos = np.empty(len(keys), dtype=np.intp)
        pos[order] = np.searchsorted(self._keys, keys[order])
        pos[pos == len(self._keys)] = 0
        return pos

    def threshold_for(self, capacity: int) -> float:
        """The ``capacity``-th highest training score (exact: the lookup holds the ranking)."""
        if capacity <= 0:
            return math.inf
        if capacity > len(self._scores):
            return 0.0
        return float(np.sort(self._scores)[::-1][capacity - 1])

    def contains_keys(self, keys: np.ndarray) -> np.ndarray:
        if len(self._keys) == 0:
            return np.zeros(len(keys), dtype=bool)
        return self._keys[self._positions(keys)] == keys

    @property
    def nbytes(self) -> int:
        return LOOKUP_KEY_BYTES * len(self._keys)

    def _payload(self) -> bytes:
        return np.array([len(self._keys)], dtype="<u8").tobytes() + le_bytes(self._keys) + le_bytes(self._scores)

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader) -> LookupOracle:
        (n,) = reader.unpack("Q")
        if n * LOOKUP_KEY_BYTES != reader.remaining:
            raise CorruptSketchError("lookup oracle size does not match its entry count")
        keys = reader.array(np.uint64, n)
        scores = reader.array(np.float32, n)
        try:
            return cls(keys, scores)
        except InvalidParameterError as exc:
            raise CorruptSketchError(f"invalid lookup oracle: {exc}") from None

    def __repr__(self) -> str:
        return f"LookupOracle({len(self._keys)} entries)"


class NgramOracle(Oracle):
    """A linear model on hashed character n-grams (features in :mod:`sketchkit.learned._features`).

    ``objective="mse"``: ridge regression of ln(1 + count) (Hsu et al. 2019), score = predicted
    log-count. ``objective="coverage"``: logistic regression of "count is among the ``heavy_share``
    heaviest training items" with each item weighted by its count, a surrogate of the coverage
    objective of Du, Wang, Mitzenmacher (ICML 2021); score = the logit. Fitting needs
    scikit-learn (the ``[learned]`` extra), imported only when :meth:`fit` runs; scoring needs
    numpy and scipy. Size: ``2**bits`` float32 weights + intercept.
    """

    _family = FAMILY_NGRAM
    kind = "model"

    def __init__(
        self, weights: np.ndarray, intercept: float, *, max_n: int = 3, objective: str = "mse", ranks: Any = ()
    ):
        weights = np.asarray(weights, dtype=np.float32)
        ranks = np.asarray(ranks, dtype=np.float32)
        if ranks.ndim != 1 or len(ranks) > 64 or not np.all(np.isfinite(ranks)):
            raise InvalidParameterError("ranks must be at most 64 finite scores")
        self._ranks = ranks
        bits = int(round(math.log2(max(len(weights), 1))))
        if weights.ndim != 1 or len(weights) != 1 << bits or not 8 <= bits <= 24:
            raise InvalidParameterError("weights must be a vector of 2**bits entries, 8 <= bits <= 24")
        if objective not in OBJECTIVES:
            raise InvalidParameterError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if not (np.all(np.isfinite(weights)) and math.isfinite(intercept)):
            raise InvalidParameterError("model weights must be finite")
        self._weights = weights
        self._intercept = float(np.float32(intercept))
        self._bits = bits
        self._max_n = check_positive_int("max_n", max_n, 6)
        self._objective = objective

    @classmethod
    def fit(
        cls,
        counts: Any,
        *,
        objective: str = "mse",
        bits: int = 14,
        max_n: int = 3,
        alpha: float = 1.0,
        heavy_share: float = 0.01,
        features: Any = None,
    ) -> NgramOracle:
        """Train on a mapping item -> training count (or ``(items, counts)``).

        ``alpha``: ridge penalty (mse) or inverse of logistic ``C`` (coverage);
        ``heavy_share``: fraction of training items labelled heavy for the coverage objective;
        ``features``: the items' :func:`~sketchkit.learned._features.ngram_matrix` at ``bits`` or
        more (folded down), to share one extraction between several fits.

        The MSE fit solves the ridge normal equations in numpy (intercept unpenalised); the
        coverage fit uses scikit-learn's logistic regression, imported here.
        """
        if objective not in OBJECTIVES:
            raise InvalidParameterError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if not (alpha > 0 and 0 < heavy_share < 1):
            raise InvalidParameterError("alpha must be positive and heavy_share in (0, 1)")
        items, values = counts_arrays(counts)
        if len(values) < 2:
            raise InvalidParameterError("an n-gram oracle needs at least two training items")
        x = ngram_matrix(items, bits, max_n) if features is None else fold(features, bits)
        if x.shape[0] != len(values):
            raise InvalidParameterError(f"features have {x.shape[0]} rows for {len(values)} items")
        if objective == "mse":
            coef, intercept = _ridge(x, np.log1p(values.astype(np.float64)), alpha)
            return cls(coef, intercept, max_n=max_n, objective=objective)._with_ranks(x)
        from sklearn.linear_model import LogisticRegression

        n_heavy = max(1, int(round(heavy_share * len(values))))
        cut = np.sort(values)[::-1][n_heavy - 1]
        labels = (values >= cut).astype(np.int64)
        if labels.min() == labels.max():
            raise InvalidParameterError("the coverage objective needs both heavy and light training items")
        model = LogisticRegression(C=1.0 / alpha, solver="liblinear", max_iter=500)
        model.fit(x, labels, sample_weight=values.astype(np.float64) / values.mean())
        out = cls(model.coef_.ravel(), float(model.intercept_[0]), max_n=max_n, objective=objective)
        return out._with_ranks(x)

    def _with_ranks(self, x) -> NgramOracle:
        self._ranks = rank_scores(self.score_features(x))
        return self

    def threshold_for(self, capacity: int) -> float:
        """Score at training rank ``capacity``, interpolated in log-rank between stored ranks."""
        if capacity > 0 and len(self._ranks) == 0:
            return super().threshold_for(capacity)
        return threshold_from_ranks(self._ranks, capacity)

    @property
    def objective(self) -> str:
        return self._objective

    @property
    def bits(self) -> int:
        return self._bits

    def score(self, items: Any) -> np.ndarray:
        return self.score_features(ngram_matrix(items, self._bits, self._max_n))

    def score_features(self, x: Any) -> np.ndarray:
        """Scores from an n-gram matrix at ``bits`` or more columns (folded down)."""
        x = fold(x, self._bits)
        return np.asarray(x @ self._weights.astype(np.float64)).ravel() + self._intercept

    @property
    def nbytes(self) -> int:
        return WEIGHT_BYTES * (len(self._weights) + 1 + len(self._ranks))

    def _payload(self) -> bytes:
        head = bytes([self._bits, self._max_n, OBJECTIVES.index(self._objective), len(self._ranks)])
        head += np.array([self._intercept], dtype="<f4").tobytes() + le_bytes(self._ranks)
        return head + le_bytes(self._weights)

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader) -> NgramOracle:
        bits, max_n, obj, n_ranks = reader.unpack("BBBB")
        if not 8 <= bits <= 24 or obj >= len(OBJECTIVES) or not 1 <= max_n <= 6 or n_ranks > 64:
            raise CorruptSketchError("invalid n-gram oracle parameters")
        (intercept,) = reader.unpack("f")
        ranks = reader.array(np.float32, n_ranks)
        if reader.remaining != 4 << bits:
            raise CorruptSketchError("n-gram oracle weight count does not match its bits")
        weights = reader.array(np.float32, 1 << bits)
        try:
            return cls(weights, intercept, max_n=max_n, objective=OBJECTIVES[obj], ranks=ranks)
        except InvalidParameterError as exc:
            raise CorruptSketchError(f"invalid n-gram oracle: {exc}") from None

    def __repr__(self) -> str:
        return f"NgramOracle(bits={self._bits}, max_n={self._max_n}, objective={self._objective!r})"


def _ridge(x: Any, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge regression with an unpenalised intercept via the normal equations (columns ≤ 2**14)."""
    if x.shape[1] > 1 << 14:
        raise InvalidParameterError("the MSE fit solves dense normal equations: use bits <= 14")
    n = x.shape[0]
    col_sum = np.asarray(x.sum(axis=0)).ravel()
    gram = (x.T @ x).toarray()
    # centre implicitly: X_c' X_c = X'X - s s'/n, X_c' y_c = X'y - s·mean(y)
    gram -= np.outer(col_sum, col_sum) / n
    gram[np.diag_indices_from(gram)] += alpha
    rhs = np.asarray(x.T @ y).ravel() - col_sum * y.mean()
    coef = np.linalg.solve(gram, rhs)
    intercept = float(y.mean() - col_sum @ coef / n)
    return coef, intercept


class HybridOracle(Oracle):
    """Lookup where it knows the item, model elsewhere: unseen and drifting items get a guess.

    Both parts should score on the same scale (a lookup and an ``objective="mse"`` model both
    predict ln(1 + count)); ``offset`` is subtracted from the model's scores, a handicap for
    guesses against counts (tuned on validation in the benchmark). Size: the sum of both parts.
    """

    _family = FAMILY_HYBRID
    kind = "hybrid"

    def __init__(self, lookup: LookupOracle, model: Oracle, offset: float = 0.0):
        if not isinstance(lookup, LookupOracle) or not isinstance(model, Oracle):
            raise InvalidParameterError("HybridOracle(lookup, model) takes a LookupOracle and an Oracle")
        offset = float(offset)
        if not math.isfinite(offset):
            raise InvalidParameterError(f"offset must be finite, got {offset}")
        self.lookup = lookup
        self.model = model
        self.offset = offset

    def score(self, items: Any) -> np.ndarray:
        keys = oracle_keys(items)
        out = self.lookup._lookup(keys, np.nan)
        miss = np.isnan(out)
        if miss.any():
            batch = items.tolist() if isinstance(items, np.ndarray) else list(items)
            out[miss] = self.model.score([batch[i] for i in np.flatnonzero(miss)]) - self.offset
        return out

    def threshold_for(self, capacity: int) -> float:
        """The lookup's ranking while ``capacity`` fits in it, then the model's (minus the offset)."""
        n = len(self.lookup)
        if capacity <= n:
            return self.lookup.threshold_for(capacity)
        return min(self.model.threshold_for(capacity - n) - self.offset, self.lookup.threshold_for(n))

    @property
    def nbytes(self) -> int:
        return self.lookup.nbytes + self.model.nbytes

    def _payload(self) -> bytes:
        a, b = self.lookup.to_bytes(), self.model.to_bytes()
        head = np.array([self.offset], dtype="<f8").tobytes() + np.array([len(a), len(b)], dtype="<u8").tobytes()
        return head + a + b

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader) -> HybridOracle:
        (offset,) = reader.unpack("d")
        la, lb = reader.unpack("QQ")
        if la + lb != reader.remaining:
            raise CorruptSketchError("hybrid oracle part sizes do not match the payload")
        lookup = _format.load(reader.raw(la))
        model = _format.load(reader.raw(lb))
        if not isinstance(lookup, LookupOracle) or not isinstance(model, Oracle):
            raise CorruptSketchError("hybrid oracle parts have the wrong types")
        try:
            return cls(lookup, model, offset)
        except InvalidParameterError as exc:
            raise CorruptSketchError(f"invalid hybrid oracle: {exc}") from None

    def __repr__(self) -> str:
        return f"HybridOracle({self.lookup!r}, {self.model!r}, offset={self.offset})"


class RandomOracle(Oracle):
    """Uniform pseudo-random scores in [0, 1), a fixed function of (seed, item): the control.

    Its "randomness" is a hash (domain 5 of :mod:`sketchkit.hashing`), so it is reproducible and
    the same in every process. Size: 8 bytes (the seed).
    """

    _family = FAMILY_RANDOM
    kind = "random"

    def __init__(self, seed: int = DEFAULT_SEED):
        self._seed = check_seed(seed)
        self._key = derive_key(self._seed, LEARNED_DOMAIN, 2)

    def score(self, items: Any) -> np.ndarray:
        h = hash_items(items, self._key)
        return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))

    @property
    def nbytes(self) -> int:
        return 8

    def _payload(self) -> bytes:
        return np.array([self._seed], dtype="<u8").tobytes()

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader) -> RandomOracle:
        (s,) = reader.unpack("Q")
        return cls(s)

    def __repr__(self) -> str:
        return f"RandomOracle(seed={self._seed})"


class KeySetOracle(Oracle):
    """Membership in a set of predicted-heavy items: score 1.0 for a member, 0.0 otherwise.

    A learned sketch only asks whether an item's score passes its threshold. Given a lookup
    pruned for that threshold and the sketch's capacity, the answer is membership, and a set of
    32-bit fingerprints (the top half of each item's oracle key) answers it in 4 bytes an entry
    instead of the lookup's 12 (:meth:`from_lookup`; use threshold 0.5). A non-member whose
    fingerprint equals a member's (probability at most ``len(self) / 2**32`` per item) scores 1.0:
    it may take an exact counter, which costs a slot but no accuracy, since exact counters are
    exact whichever items hold them. Size: 4 bytes per fingerprint.
    """

    _family = FAMILY_KEYSET
    kind = "keyset"

    def __init__(self, fingerprints: Any):
        fp = np.asarray(fingerprints)
        if fp.ndim != 1 or (len(fp) and fp.dtype.kind not in "iu"):
            raise InvalidParameterError("fingerprints must be a one-dimensional integer array")
        if len(fp) and (int(fp.min()) < 0 or int(fp.max()) >= 1 << 32):
            raise InvalidParameterError("fingerprints must be 32-bit unsigned integers")
        self._fp = np.unique(fp.astype(np.uint32))

    @classmethod
    def from_lookup(cls, lookup: LookupOracle, threshold: float, capacity: int | None = None) -> KeySetOracle:
        """The items of ``lookup`` whose score passes ``threshold`` (at most ``capacity`` of them,
        the heaviest, ties by item hash, as :meth:`LookupOracle.pruned` keeps them)."""
        if not isinstance(lookup, LookupOracle):
            raise InvalidParameterError(f"from_lookup takes a LookupOracle, got {type(lookup).__name__}")
        keep = lookup._scores >= threshold
        kept = LookupOracle(lookup._keys[keep], lookup._scores[keep])
        if capacity is not None:
            kept = kept.pruned(capacity)
        return cls(fingerprints(kept._keys))

    def __len__(self) -> int:
        return len(self._fp)

    def score(self, items: Any) -> np.ndarray:
        return self.score_keys(oracle_keys(items))

    def score_keys(self, keys: np.ndarray) -> np.ndarray:
        """Scores of items given by their oracle keys: 1.0 for members, 0.0 otherwise."""
        out = np.zeros(len(keys), dtype=np.float64)
        if len(self._fp) and len(keys):
            fp = fingerprints(keys)
            pos = np.searchsorted(self._fp, fp)
            pos[pos == len(self._fp)] = 0
            out[self._fp[pos] == fp] = 1.0
        return out

    def threshold_for(self, capacity: int) -> float:
        """0.5 (members pass) for any positive capacity: the set holds no ranking."""
        return math.inf if capacity <= 0 else 0.5

    @property
    def nbytes(self) -> int:
        return int(self._fp.nbytes)

    def _payload(self) -> bytes:
        return np.array([len(self._fp)], dtype="<u8").tobytes() + le_bytes(self._fp)

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader) -> KeySetOracle:
        (n,) = reader.unpack("Q")
        if flags or 4 * n != reader.remaining:
            raise CorruptSketchError("key-set oracle size does not match its entry count")
        fp = reader.array(np.uint32, n)
        if n > 1 and bool(np.any(fp[1:] <= fp[:-1])):
            raise CorruptSketchError("key-set oracle fingerprints are not strictly increasing")
        return cls(fp)

    def __repr__(self) -> str:
        return f"KeySetOracle({len(self._fp)} items)"


def fingerprints(keys: np.ndarray) -> np.ndarray:
    """32-bit fingerprints of oracle keys: their top 32 bits."""
    return (np.asarray(keys, dtype=np.uint64) >> np.uint64(32)).astype(np.uint32)


for _family, _cls in (
    (FAMILY_LOOKUP, LookupOracle),
    (FAMILY_NGRAM, NgramOracle),
    (FAMILY_HYBRID, HybridOracle),
    (FAMILY_RANDOM, RandomOracle),
    (FAMILY_KEYSET, KeySetOracle),
):
    _format.register(_family, _cls)
