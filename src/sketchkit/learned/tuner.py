"""Choose a learned sketch's depth and heavy share of memory on a validation period only.

Protocol of Hsu et al. (ICLR 2019), with the exact table's capacity fixed: for every
``(depth, heavy_fraction)`` in the grid, the exact table gets ``heavy_fraction`` of the budget,
the threshold is the oracle's score of the ``capacity``-th highest-scored validation item (for
lookup and hybrid oracles: of their own ``capacity``-th entry), the sketch gets the rest, and
the validation count vector is streamed through it. The best grid point goes to the test period
unchanged. ``heavy_fraction = 0`` (no exact counters, no oracle charged) is always in the grid
and wins unless exact counters gain at least ``min_gain`` *and* more than the hash noise, measured
again on fresh hash seeds (the grid's minimum is biased low: a winner's curse), so a useless oracle
falls back to the plain sketch.

>>> from sketchkit.learned.oracles import LookupOracle
>>> valid = {f"w{i}": 1000 // (i + 1) for i in range(300)}
>>> best = tune("countmin", 1200, LookupOracle.from_counts(valid, capacity=40), valid)
>>> best.heavy_fraction > 0, best.capacity > 0
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._base import check_positive_int
from ..errors import InvalidParameterError
from ..hashing import DEFAULT_SEED
from ._common import oracle_keys
from .metrics import loss_hsu
from .oracles import HybridOracle, KeySetOracle, LookupOracle, Oracle, counts_arrays
from .sketches import LearnedCountMin, LearnedCountSketch, LearnedCountSketchPlusPlus, capacity_for

# oracles whose threshold comes from their own training ranking, not from validation scores
RANKED = (LookupOracle, HybridOracle)
KINDS = {"countmin": LearnedCountMin, "countsketch": LearnedCountSketch, "cspp": LearnedCountSketchPlusPlus}
DEFAULT_DEPTHS = {"countmin": (1, 2, 3, 4), "countsketch": (1, 3), "cspp": (3,)}
DEFAULT_FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)


class ScoredOracle(Oracle):
    """An oracle's scores frozen for a known item set (keeps repeated evaluations cheap).

    Same scores and the same ``nbytes`` as the wrapped oracle on those items; any other item
    is scored by the wrapped oracle. Not serializable: for evaluation only.
    """

    kind = "scored"

    def __init__(self, oracle: Oracle, items: Any, scores: np.ndarray | None = None):
        self.base = oracle
        scores = oracle.score(items) if scores is None else np.asarray(scores, dtype=np.float64)
        keys = oracle_keys(items)
        order = np.argsort(keys, kind="stable")
        self._table = LookupOracle(keys[order], np.zeros(len(keys), dtype=np.float32))
        self._table._scores = scores[order]  # float64: the exact scores, not float32 copies
        self._nbytes = oracle.nbytes

    def charged(self, nbytes: int) -> ScoredOracle:
        """The same scores, charged ``nbytes`` (a pruned lookup's size)."""
        out = object.__new__(ScoredOracle)
        out.base, out._table, out._nbytes = self.base, self._table, int(nbytes)
        return out

    def score(self, items: Any) -> np.ndarray:
        out = self._table._lookup(oracle_keys(items), math.nan)
        miss = np.isnan(out)
        if miss.any():
            batch = items.tolist() if isinstance(items, np.ndarray) else list(items)
            out[miss] = self.base.score([batch[i] for i in np.flatnonzero(miss)])
        return out

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def to_bytes(self) -> bytes:
        return self.base.to_bytes()


def threshold_at_rank(scores: np.ndarray, rank: int) -> float:
    """Score of the ``rank``-th highest (1-based); -inf when ``rank`` exceeds the items."""
    if rank <= 0:
        return math.inf
    if rank > len(scores):
        return -math.inf
    return float(np.partition(np.asarray(scores, dtype=np.float64), len(scores) - rank)[len(scores) - rank])


@dataclass
class TunedConfig:
    """The chosen grid point and every point's validation error."""

    kind: str
    budget: int
    depth: int
    heavy_fraction: float
    threshold: float
    capacity: int
    valid_error: float
    grid: dict = field(default_factory=dict)
    check: dict = field(default_factory=dict)

    def build(self, oracle: Oracle | None, seed: int = DEFAULT_SEED):
        """An empty sketch of this configuration, ``oracle`` being the tuned one or its refit.

        Lookup and hybrid oracles know their own ranking, so they get the threshold of their
        ``capacity``-th entry, as in tuning; a lookup is then reduced to the set of those entries
        (:func:`held_oracle`: a :class:`KeySetOracle`, threshold 0.5). Other oracles keep the
        validation threshold. Ignored when capacity is 0."""
        threshold = self.threshold
        if self.capacity and oracle is not None:
            base = oracle.base if isinstance(oracle, ScoredOracle) else oracle
            if isinstance(base, RANKED):
                threshold = base.threshold_for(self.capacity)
                held, held_threshold = held_oracle(base, threshold, self.capacity)
                if isinstance(oracle, ScoredOracle):
                    oracle = oracle.charged(held.nbytes)  # the same routing, from the frozen scores
                else:
                    oracle, threshold = held, held_threshold
        return KINDS[self.kind].from_memory(
            self.budget,
            oracle if self.capacity else None,
            heavy_fraction=self.heavy_fraction,
            threshold=threshold,
            depth=self.depth,
            seed=seed,
        )


def held_oracle(oracle: Oracle, threshold: float, capacity: int) -> tuple[Oracle, float]:
    """``(held, threshold)``: what a sketch of ``capacity`` exact entries holds of ``oracle`` at
    ``threshold``, with the same routing. A lookup becomes the set of its entries that can pass (at
    most ``capacity``, the heaviest; 4 bytes an entry instead of 12) and threshold 0.5; at a
    threshold ≤ 0 every item passes (unseen items score 0), so the set is empty. Other oracles are
    held whole."""
    if isinstance(oracle, LookupOracle) and math.isfinite(threshold):
        if threshold <= 0.0:
            return KeySetOracle(np.empty(0, dtype=np.uint32)), threshold
        held = KeySetOracle.from_lookup(oracle, threshold, capacity)
        return held, held.threshold_for(capacity)
    return oracle, threshold


def charge(oracle: Oracle, capacity: int, scale: float) -> int:
    """Bytes charged to ``oracle`` in a validation run at ``scale`` × a budget whose exact table
    holds ``capacity`` entries: ``scale`` × what the sketch :meth:`TunedConfig.build` makes holds of
    it (:func:`held_oracle`). Scaled once: sizing the oracle for the validation capacity and then
    scaling again would charge a lookup ``scale²`` × its size."""
    held = oracle
    if isinstance(oracle, RANKED):
        held = held_oracle(oracle, oracle.threshold_for(capacity), capacity)[0]
    return int(math.ceil(held.nbytes * scale))


def evaluate(sketch, items: Any, counts: np.ndarray, metric=loss_hsu) -> float:
    """Stream a count vector (items in the given order, weight = count) and score the estimates."""
    sketch.update_batch(items, counts)
    return metric(counts, sketch.estimate_batch(items))


def tune(
    kind: str,
    budget: int,
    oracle: Oracle | None,
    valid_counts: Any,
    *,
    depths: tuple[int, ...] | None = None,
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS,
    seed: int = DEFAULT_SEED,
    metric=loss_hsu,
    scale: float = 1.0,
    scores: np.ndarray | None = None,
    n_seeds: int = 3,
    min_gain: float = 0.05,
    noise_z: float = 2.0,
) -> TunedConfig:
    """Pick ``(depth, heavy_fraction)`` and the threshold on ``valid_counts`` (item -> count).

    ``scale``: the validation runs get ``scale × budget`` bytes and the oracle is charged ``scale ×``
    the bytes it will hold at the full budget (a lookup pruned to the full budget's capacity, as
    :meth:`TunedConfig.build` prunes it), so that a budget sized for the test period keeps its
    counters per distinct key on a smaller validation period (``scale = n_valid / n_test``) and
    every part of the budget shrinks alike; otherwise a validation period with fewer distinct keys
    fits whole into exact counters and rewards any oracle. ``scores``: the oracle's
    scores of the validation items, if already known. Grid points whose split leaves no room for
    the sketch are skipped. With ``oracle=None`` only ``heavy_fraction=0`` is tried.

    Each grid point's error is the median over ``n_seeds`` hash seeds (``seed``, ``seed + 1``,
    ...): one unlucky seed, two heavy items colliding in most CountSketch rows, measured 5× the
    typical E_w on D3. The best plain point (``heavy_fraction = 0``) and the best point with exact
    counters are then run again on ``n_seeds`` fresh seeds (``seed + n_seeds``, ...), because the
    minimum over a dozen noisy grid points is biased low. Exact counters are chosen only if, on
    those fresh seeds, the mean log-error gain ``g`` over plain satisfies
    ``g >= -ln(1 - min_gain) + noise_z · se``, ``se`` being the standard error of ``g`` from the
    spread across seeds (0 when ``n_seeds = 1``): a gain within the hash noise of one validation
    period is not evidence enough to spend memory on an oracle. ``min_gain = noise_z = 0`` picks
    whichever is better on the fresh seeds. ``valid_error`` is the chosen point's median error on
    the fresh seeds (unbiased, comparable across oracles tuned with the same seeds); ``grid`` holds
    the selection errors and ``check`` the comparison.
    """
    if kind not in KINDS:
        raise InvalidParameterError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    items, counts = counts_arrays(valid_counts)
    if len(counts) == 0:
        raise InvalidParameterError("validation counts are empty")
    depths = DEFAULT_DEPTHS[kind] if depths is None else tuple(depths)
    fractions = (0.0,) if oracle is None else tuple(fractions)
    if not 0 < scale <= 1e6:
        raise InvalidParameterError(f"scale must be positive, got {scale}")
    n_seeds = check_positive_int("n_seeds", n_seeds, 1000)
    if not 0.0 <= min_gain < 1.0:
        raise InvalidParameterError(f"min_gain must be in [0, 1), got {min_gain}")
    if not 0.0 <= noise_z <= 10.0:
        raise InvalidParameterError(f"noise_z must be in [0, 10], got {noise_z}")
    scored = ScoredOracle(oracle, items, scores) if oracle is not None else None
    scores = scored.score(items) if scored is not None else None
    small = max(1, int(budget * scale))

    def errors(point: tuple, first_seed: int) -> np.ndarray | None:
        """Validation errors of a grid point on ``n_seeds`` hash seeds; None if it does not fit."""
        depth, frac, threshold, charged = point
        try:
            sketches = [KINDS[kind].from_memory(
                small, charged, heavy_fraction=frac, threshold=threshold, depth=depth, seed=first_seed + i,
            ) for i in range(n_seeds)]
        except InvalidParameterError:
            return None
        return np.array([evaluate(sk, items, counts, metric) for sk in sketches])

    grid: dict = {}
    best: dict[str, tuple[float, TunedConfig, tuple]] = {}
    for frac in fractions:
        capacity = capacity_for(small, frac)
        full_capacity = capacity_for(budget, frac)
        if not capacity:
            threshold = math.inf
        elif isinstance(oracle, RANKED):
            threshold = oracle.threshold_for(capacity)
        else:
            threshold = threshold_at_rank(scores, capacity)
        charged = scored.charged(charge(oracle, full_capacity, scale)) if capacity else None
        for depth in depths:
            point = (depth, frac, threshold, charged)
            errs = errors(point, seed)
            if errs is None:
                continue
            err = float(np.median(errs))
            grid[(depth, frac)] = err
            side = "plain" if frac == 0 else "learned"
            if side not in best or err < best[side][0]:
                cfg = TunedConfig(kind, int(budget), depth, frac, threshold, full_capacity, err)
                best[side] = (err, cfg, point)
    if not best:
        raise InvalidParameterError(f"budget {budget} B is too small for every grid point")
    fresh = {side: errors(point, seed + n_seeds) for side, (_, _, point) in best.items()}
    if "plain" not in best or "learned" not in best:
        chosen = next(iter(best))
        check: dict = {"fresh_median": {chosen: float(np.median(fresh[chosen]))}}
    else:
        logs = {side: np.log(np.maximum(e, 1e-300)) for side, e in fresh.items()}
        gain = float(logs["plain"].mean() - logs["learned"].mean())
        se = 0.0 if n_seeds == 1 else float(np.sqrt(sum(v.var(ddof=1) for v in logs.values()) / n_seeds))
        need = -math.log1p(-min_gain) + noise_z * se
        chosen = "learned" if gain >= need else "plain"
        check = {"log_gain": gain, "se": se, "needed": need,
                 "fresh_median": {side: float(np.median(e)) for side, e in fresh.items()}}
    cfg = best[chosen][1]
    cfg.valid_error = check["fresh_median"][chosen]
    cfg.grid, cfg.check = grid, check
    return cfg
