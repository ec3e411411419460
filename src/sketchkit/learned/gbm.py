r"""A gradient-boosted tree oracle on dense features of the item's spelling.

:class:`GBMOracle` fits boosted trees on :func:`dense_features` with scikit-learn's
histogram gradient boosting (after Ke et al., "LightGBM", NeurIPS 2017), for one of the two
objectives of :class:`~sketchkit.learned.oracles.NgramOracle`: ``"mse"`` regresses ln(1 + count)
(Hsu, Indyk, Katabi, Vakilian, ICLR 2019); ``"coverage"`` is a mass-weighted classification of
"among the ``heavy_share`` heaviest training items" (a surrogate of Du, Wang, Mitzenmacher,
ICML 2021), scored by its logit. It then keeps only the fitted trees in its own flat arrays:
scoring needs numpy and numba, not scikit-learn, and the oracle file is sketchkit's versioned
byte format (family 28), not a pickle. Scores equal the estimator's ``predict`` (mse) or
``decision_function`` (coverage) up to float32 rounding of the leaf values (checked in
``tests/test_learned_oracles.py``).

Features carry no fitted parameters, so they cost no memory: ``2**bits`` columns of hashed byte
n-gram counts (n = 1..``max_n``, :func:`~sketchkit.learned._features.ngram_matrix` folded down)
and :data:`CLASS_FEATURES`, counts of character classes of the item's UTF-8 text. All features
are integers, so the split thresholds (midpoints) are exact in float32.

Size (charged to a learned sketch's budget): 10 bytes per tree node (feature int16, two child
indices uint16, a threshold or leaf value float32), 4 per tree (its node count), 4 for the
baseline and 4 per stored training rank.

>>> counts = {f"{w}{i}": (300 if w == "run" else 2) for w in ("run", "zzq") for i in range(40)}
>>> oracle = GBMOracle.fit(counts, n_trees=20, max_leaves=4)
>>> bool(oracle.score(["run99"])[0] > oracle.score(["zzq99"])[0])
True
>>> Oracle.from_bytes(oracle.to_bytes()) == oracle
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from .. import _format
from .. import _ids as ids
from .._base import check_positive_int
from .._format import Reader, le_bytes
from ..errors import CorruptSketchError, InvalidParameterError
from ..hashing import as_item_list
from ._common import WEIGHT_BYTES
from ._features import MAX_CHARS, MAX_N, fold, item_text, ngram_matrix
from .oracles import OBJECTIVES, Oracle, counts_arrays, rank_scores, threshold_from_ranks

FAMILY_GBM = ids.GBM_ORACLE
NODE_BYTES = 10
MAX_TREES = 4096
MAX_TREE_NODES = 1 << 15  # child indices are uint16; an int16 feature index
# counts over the item's UTF-8 bytes (its framing excluded), in this column order
CLASS_FEATURES = ("chars", "digits", "upper", "lower", "non-ascii", "dots", "dashes", "other")


def class_counts(texts: list[str]) -> np.ndarray:
    """``len(texts) × 8`` float32 counts of :data:`CLASS_FEATURES` (texts cut to ``MAX_CHARS``)."""
    cut = [t[:MAX_CHARS] for t in texts]
    try:
        encoded = [t.encode("utf-8") for t in cut]
    except UnicodeEncodeError:
        raise InvalidParameterError("an item holds a lone surrogate that UTF-8 cannot encode") from None
    out = np.zeros((len(cut), len(CLASS_FEATURES)), dtype=np.float32)
    out[:, 0] = np.fromiter(map(len, cut), dtype=np.int64, count=len(cut))
    sizes = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    buf = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    owner = np.repeat(np.arange(len(cut)), sizes)
    digit = (buf >= 0x30) & (buf <= 0x39)
    upper = (buf >= 0x41) & (buf <= 0x5A)
    lower = (buf >= 0x61) & (buf <= 0x7A)
    high = buf >= 0x80
    dot = buf == 0x2E
    dash = (buf == 0x2D) | (buf == 0x5F)
    other = ~(digit | upper | lower | high | dot | dash)
    for col, mask in enumerate((digit, upper, lower, high, dot, dash, other), start=1):
        out[:, col] = np.bincount(owner[mask], minlength=len(cut))
    return out


def dense_features(items: Any, bits: int = 6, max_n: int = 3, ngrams: Any = None) -> np.ndarray:
    """``n_items × (2**bits + 8)`` float32: hashed n-gram counts, then :data:`CLASS_FEATURES`.

    ``ngrams``: the items' :func:`~sketchkit.learned._features.ngram_matrix` at ``bits`` or more
    columns and the same ``max_n`` (folded down), to share one extraction.
    """
    if not 2 <= bits <= 12:
        raise InvalidParameterError(f"bits must be in [2, 12], got {bits}")
    batch = as_item_list(items)
    batch = batch.tolist() if isinstance(batch, np.ndarray) else list(batch)
    grams = ngram_matrix(batch, max(bits, 8), max_n) if ngrams is None else ngrams
    if grams.shape[0] != len(batch):
        raise InvalidParameterError(f"n-gram matrix has {grams.shape[0]} rows for {len(batch)} items")
    hashed = fold(grams, bits).toarray().astype(np.float32)
    return np.hstack([hashed, class_counts([item_text(x) for x in batch])])


@njit(cache=True)
def _predict(x, feature, left, right, value, starts, baseline):
    out = np.full(x.shape[0], baseline)
    for t in range(starts.shape[0] - 1):
        base = starts[t]
        for i in range(x.shape[0]):
            node = base
            while feature[node] >= 0:
                if x[i, feature[node]] <= value[node]:
                    node = base + left[node]
                else:
                    node = base + right[node]
            out[i] += value[node]
    return out


class GBMOracle(Oracle):
    """Boosted trees on :func:`dense_features`: score = predicted ln(1 + count) (mse) or the logit
    of "heavy" (coverage).

    Trees are stored node-wise: ``feature`` (−1 for a leaf), ``left``/``right`` (child indices
    within the tree, each larger than its parent's, so scoring always ends), ``value`` (the split
    threshold, "go left when feature ≤ value", or the leaf's value). ``starts[t]`` is tree t's
    first node. Fitting needs scikit-learn (the ``[learned]`` extra), imported only in :meth:`fit`.
    """

    _family = FAMILY_GBM
    kind = "gbm"

    def __init__(
        self, feature: Any, left: Any, right: Any, value: Any, tree_sizes: Any, baseline: float, *,
        bits: int = 6, max_n: int = 3, ranks: Any = (), objective: str = "mse",
    ):
        if objective not in OBJECTIVES:
            raise InvalidParameterError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        self._objective = objective
        self._bits = check_positive_int("bits", bits, 12)
        self._max_n = check_positive_int("max_n", max_n, MAX_N)
        if not 2 <= self._bits <= 12:
            raise InvalidParameterError(f"bits must be in [2, 12], got {bits}")
        self._feature = np.asarray(feature, dtype=np.int16)
        self._left = np.asarray(left, dtype=np.uint16)
        self._right = np.asarray(right, dtype=np.uint16)
        self._value = np.asarray(value, dtype=np.float32)
        self._sizes = np.asarray(tree_sizes, dtype=np.uint32)
        self._baseline = float(np.float32(baseline))
        self._ranks = np.asarray(ranks, dtype=np.float32)
        self._starts = np.zeros(len(self._sizes) + 1, dtype=np.int64)
        np.cumsum(self._sizes, out=self._starts[1:])
        self._check()

    def _check(self) -> None:
        n = len(self._feature)
        if not all(a.ndim == 1 and len(a) == n for a in (self._left, self._right, self._value)):
            raise InvalidParameterError("tree node arrays must be one-dimensional and of equal length")
        if not 1 <= len(self._sizes) <= MAX_TREES or self._sizes.min() < 1 or self._sizes.max() > MAX_TREE_NODES:
            raise InvalidParameterError(f"1 to {MAX_TREES} trees of 1 to {MAX_TREE_NODES} nodes each")
        if self._starts[-1] != n:
            raise InvalidParameterError("tree sizes do not add up to the node count")
        if not (np.all(np.isfinite(self._value)) and math.isfinite(self._baseline)):
            raise InvalidParameterError("thresholds, leaf values and the baseline must be finite")
        if self._ranks.ndim != 1 or len(self._ranks) > 64 or not np.all(np.isfinite(self._ranks)):
            raise InvalidParameterError("ranks must be at most 64 finite scores")
        index = np.arange(n) - np.repeat(self._starts[:-1], self._sizes)  # node index within its tree
        size = np.repeat(self._sizes, self._sizes).astype(np.int64)
        split = self._feature >= 0
        if np.any(self._feature < -1) or np.any(self._feature[split] >= self.n_features):
            raise InvalidParameterError(f"split features must be in [0, {self.n_features})")
        for child in (self._left, self._right):
            c = child.astype(np.int64)
            if np.any((c[split] <= index[split]) | (c[split] >= size[split])):
                raise InvalidParameterError("a child index must lie after its parent, inside its tree")

    @classmethod
    def fit(
        cls,
        counts: Any,
        *,
        bits: int = 6,
        max_n: int = 3,
        n_trees: int = 40,
        max_leaves: int = 8,
        learning_rate: float = 0.1,
        objective: str = "mse",
        heavy_share: float = 0.01,
        features: Any = None,
        n_threads: int | None = 1,
    ) -> GBMOracle:
        """Train on a mapping item -> training count (or ``(items, counts)``).

        ``heavy_share``: fraction of training items labelled heavy for the coverage objective.

        ``features``: the items' :func:`dense_features` at the same ``bits`` and ``max_n``, to share
        one extraction. Deterministic (``random_state=0``, no early stopping, no subsampling).
        ``n_threads``: OpenMP threads of the fit (None: scikit-learn's default, all cores); one by
        default because idle OpenMP threads spin, which measured 50× slower on a busy 2-core machine.
        """
        if not isinstance(bits, int) or not 2 <= bits <= 12:
            raise InvalidParameterError(f"bits must be an int in [2, 12], got {bits!r}")
        if n_threads is not None:
            n_threads = check_positive_int("n_threads", n_threads, 1024)
        n_trees = check_positive_int("n_trees", n_trees, MAX_TREES)
        max_leaves = check_positive_int("max_leaves", max_leaves, MAX_TREE_NODES // 2)
        if max_leaves < 2:
            raise InvalidParameterError("max_leaves must be at least 2")
        if not 0 < learning_rate <= 1:
            raise InvalidParameterError(f"learning_rate must be in (0, 1], got {learning_rate}")
        if objective not in OBJECTIVES:
            raise InvalidParameterError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if not 0 < heavy_share < 1:
            raise InvalidParameterError(f"heavy_share must be in (0, 1), got {heavy_share}")
        items, values = counts_arrays(counts)
        if len(values) < 2:
            raise InvalidParameterError("a GBM oracle needs at least two training items")
        x = dense_features(items, bits, max_n) if features is None else np.asarray(features, dtype=np.float32)
        if x.shape != (len(values), (1 << bits) + len(CLASS_FEATURES)):
            raise InvalidParameterError(f"features have shape {x.shape} for {len(values)} items at bits={bits}")
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from threadpoolctl import threadpool_limits

        params = {"max_iter": n_trees, "max_leaf_nodes": max_leaves, "learning_rate": learning_rate,
                  "early_stopping": False, "random_state": 0}
        if objective == "mse":
            model, y, weight = HistGradientBoostingRegressor(**params), np.log1p(values.astype(np.float64)), None
        else:
            n_heavy = max(1, int(round(heavy_share * len(values))))
            y = (values >= np.sort(values)[::-1][n_heavy - 1]).astype(np.int64)
            if y.min() == y.max():
                raise InvalidParameterError("the coverage objective needs both heavy and light training items")
            model, weight = HistGradientBoostingClassifier(**params), values.astype(np.float64) / values.mean()
        with threadpool_limits(limits=n_threads, user_api="openmp"):
            model.fit(x, y, sample_weight=weight)
        out = cls._from_sklearn(model, bits, max_n, objective)
        out._ranks = rank_scores(out.score_features(x))
        return out

    @classmethod
    def _from_sklearn(cls, model: Any, bits: int, max_n: int, objective: str) -> GBMOracle:
        """Copy the fitted trees (scikit-learn's predictor node records, pre-order) into flat arrays."""
        parts = []
        for (tree,) in model._predictors:
            nodes = tree.nodes
            leaf = nodes["is_leaf"].astype(bool)
            parts.append((np.where(leaf, -1, nodes["feature_idx"]), np.where(leaf, 0, nodes["left"]),
                          np.where(leaf, 0, nodes["right"]), np.where(leaf, nodes["value"], nodes["num_threshold"])))
        feature, left, right, value = (np.concatenate(col) for col in zip(*parts))
        sizes = [len(p[0]) for p in parts]
        baseline = float(np.asarray(model._baseline_prediction).ravel()[0])
        return cls(feature, left, right, value, sizes, baseline, bits=bits, max_n=max_n, objective=objective)

    @property
    def objective(self) -> str:
        return self._objective

    @property
    def n_features(self) -> int:
        return (1 << self._bits) + len(CLASS_FEATURES)

    @property
    def n_trees(self) -> int:
        return len(self._sizes)

    @property
    def bits(self) -> int:
        return self._bits

    def threshold_for(self, capacity: int) -> float:
        """Score at training rank ``capacity``, interpolated in log-rank between stored ranks."""
        if len(self._ranks) == 0:
            return super().threshold_for(capacity)
        return threshold_from_ranks(self._ranks, capacity)

    def score(self, items: Any) -> np.ndarray:
        return self.score_features(dense_features(items, self._bits, self._max_n))

    def score_features(self, x: Any) -> np.ndarray:
        """Scores from a :func:`dense_features` matrix at this oracle's ``bits``."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise InvalidParameterError(f"features must have {self.n_features} columns, got shape {x.shape}")
        return _predict(x, self._feature, self._left, self._right, self._value, self._starts, self._baseline)

    @property
    def nbytes(self) -> int:
        """Bytes of every array held (nodes, tree sizes and starts, ranks) and the float32 baseline."""
        arrays = (self._feature, self._left, self._right, self._value, self._sizes, self._starts, self._ranks)
        return sum(a.nbytes for a in arrays) + WEIGHT_BYTES

    def _payload(self) -> bytes:
        head = bytes([self._bits, self._max_n, len(self._ranks), OBJECTIVES.index(self._objective)])
        head += np.array([len(self._sizes), len(self._feature)], dtype="<u4").tobytes()
        head += np.array([self._baseline], dtype="<f4").tobytes() + le_bytes(self._ranks) + le_bytes(self._sizes)
        return head + le_bytes(self._feature) + le_bytes(self._left) + le_bytes(self._right) + le_bytes(self._value)

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader) -> GBMOracle:
        bits, max_n, n_ranks, obj = reader.unpack("BBBB")
        if obj >= len(OBJECTIVES):
            raise CorruptSketchError("invalid GBM oracle objective")
        n_trees, n_nodes = reader.unpack("II")
        (baseline,) = reader.unpack("f")
        # sizes are checked against the bytes present before any array is built
        if reader.remaining != 4 * (n_ranks + n_trees) + NODE_BYTES * n_nodes:
            raise CorruptSketchError("GBM oracle size does not match its tree and node counts")
        ranks = reader.array(np.float32, n_ranks)
        sizes = reader.array(np.uint32, n_trees)
        arrays = [reader.array(dtype, n_nodes) for dtype in (np.int16, np.uint16, np.uint16, np.float32)]
        try:
            return cls(*arrays, sizes, baseline, bits=bits, max_n=max_n, ranks=ranks, objective=OBJECTIVES[obj])
        except InvalidParameterError as exc:
            raise CorruptSketchError(f"invalid GBM oracle: {exc}") from None

    def __repr__(self) -> str:
        return f"GBMOracle({self.n_trees} trees, {len(self._feature)} nodes, bits={self._bits}, {self._objective!r})"


_format.register(FAMILY_GBM, GBMOracle)
