r"""RobustCountSketch: a keyed CountSketch whose answers stay accurate under adaptive queries,
for a stated number of them, with sketch switching past that number.

**The adversary (TM-B-query).** It does not know the key or the seed's rows; it submits
vectors (or stream windows) sketched with the *same* randomness, sees every answer, and picks
the next input from what it saw ("insert z, query, delete z", or a public top-k list recomputed
per window). Against the plain median estimator such an adversary needs only :math:`O(\ell)`
queries (ℓ = rows) to build a vector whose sketch is badly biased (Cohen, Lyu, Nelson,
Sarlós, Shechner, Stemmer, *On the robustness of CountSketch to adaptive inputs*, ICML 2022,
arXiv:2202.13736, and :func:`~sketchkit.robust.attacks.median_attack`); no estimator can do
better than :math:`\tilde O(\ell^2)` (Cohen et al., AAAI 2023, arXiv:2207.00956).

**The estimator.** Cohen et al.'s robust estimator (confirmed from their abstract and the
authors' code, ``google-research/robust_count_sketch``; the full text was not available here)
reads a key through a *count over the rows* — its sign alignment, the share of the key's
measurements that agree in sign — on a slightly modified sketch (each key in each bucket
independently), and protects that count with differential privacy, each row's randomness being
one individual: the adversary learns about any one row only at the per-answer privacy rate, and
composition lets :math:`\tilde O(\ell^2)` answers pass before it can steer the rows. Here the
count's value form, the median (the value whose count of rows below it is ℓ/2), is released
through the Gaussian mechanism on the rows of a plain keyed CountSketch; the exponential-mechanism
rank median, closer to the paper's private count, is
:class:`~sketchkit.robust.rank_median.RankMedianEstimator`, measured beside it (``docs/robustness.md``).
Each answer is

.. math:: \hat f(x) = \operatorname{round}\big(\operatorname{median}_{j} X_j(x)
          + \mathcal N(0, \tau^2)\big), \qquad \tau = \eta\,\hat\sigma,

with fresh noise per answer, :math:`X_j(x) = s_j(x)\,C[j, h_j(x)]` over the active copy's
rows and :math:`\hat\sigma = \operatorname{median}_j \operatorname{median}_b |C[j,b]| / 0.6745`
the bucket noise (the normal scale of the counters, unaffected by up to a quarter of the
buckets holding heavy items). Changing one row moves the median by about one order-statistic
gap, :math:`\approx 2.5\sigma/\ell`, so an answer costs privacy
:math:`\rho_0 \approx 3/(\eta\ell)^2` (zCDP) and :math:`Q` answers :math:`Q\rho_0`: the
budget grows as :math:`\eta^2\ell^2`. **η is the one trade-off parameter**: larger η, more
noise (oblivious error ≈ η σ̂) and more adaptive queries survived (≈ η²ℓ²).
The proof constants are far too large to be useful at ℓ ≤ 21, so the budget is *measured*
(``benchmarks/bench_robust.py``, ``docs/robustness.md``): with η = 1.5, width 32 and tails
of 200, the Cohen et al. attack and two forms adapted to the noise (averaging repeated answers;
weighting each tail by the answers' margin) needed ≥ 7.8·η²·ℓ² answers in every trial at
ℓ ∈ {5, 9, 11, 17, 21} (the margin-weighted form is the strongest, 0.6–0.7× the others); the
budget is ``query_budget = max(8ℓ, ⌊3·η²·ℓ²⌋)`` answers per copy, at most 0.4× that.

**Guarantee** (what ``tests/test_robust_countsketch.py`` checks).

* *Oblivious answers* (inputs chosen without seeing answers or the key): each answer is
  within :meth:`error_bound` ``(δ) = (1.25/√ℓ + η)·z_δ·σ̂``, :math:`z_\delta = \sqrt{2\ln(2/\delta)}`,
  of the true count with probability at least :math:`1-\delta` (the median's error has
  standard deviation ≈ 1.25 σ/√ℓ, the noise η σ̂; checked at δ = 0.01 on 3,000 answers,
  measured 100 % inside at every depth 5–21).
* *Adaptive answers (TM-B-query)*: the same, for the first ``query_budget`` answers of each
  copy — a measured statement (above), not a proof. A **query** is one call that releases
  answers (``estimate``, ``estimate_batch``, ``bounds*``, ``top``), whatever the number of
  items in it.
* *Past the budget* the active copy is retired and the next one answers (**sketch switching**,
  Ben-Eliezer, Jayaram, Woodruff, Yogev, PODS 2020): every copy is fed every update, so a
  fresh copy has seen the whole stream but answered nothing. When the last copy's budget is
  spent, queries raise :class:`QueryBudgetExhausted`; nothing is answered silently beyond
  the guarantee. Memory is ``copies`` × one ℓ-row sketch.
* *White box.* ``table``, ``row_estimates``, ``f2`` and the bytes are not covered: the bytes
  hold the key (and the query count, so that reloading does not refill the budget).

Identity is the seed, the key, and the shape ``(depth, width, copies, η, query_budget)``.
Merging adds the tables and keeps the larger query count of the two (answers given by
sketches queried separately must be counted by the caller); ``empty_like`` keeps the count,
since the empty sketch shares the randomness the answers exposed.

Payload (after the common header)::

    u32 depth (rows per copy) | u32 copies | u32 active copy | u64 answers of the active copy
    | u64 query_budget | f64 eta | 16-byte key | the CountSketch payload of
    sketchkit.frequency._linear (depth*copies rows)

>>> rcs = RobustCountSketch(width=64, depth=9, key=bytes(16), rng=1)
>>> rcs.update_batch(["a"] * 40 + [f"x{i}" for i in range(400)])
>>> abs(rcs.estimate("a") - 40) <= rcs.error_bound()
True
>>> rcs.queries_answered, rcs.query_budget
(1, 546)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _ids as ids
from .._base import check_positive_int
from .._format import Reader, le_bytes, register
from ..errors import CorruptSketchError, InvalidParameterError, SketchError
from ..frequency import _kernels as K
from ..frequency._linear import LinearSketch
from ..hashing import DEFAULT_SEED, check_seed, derive_key, row_keys
from ._siphash import KEY_BYTES
from .keyed import KEYED_DOMAIN, KeyedCountSketch

__all__ = ["RobustCountSketch", "QueryBudgetExhausted", "default_query_budget", "bucket_noise"]

FAMILY = ids.ROBUST_COUNTSKETCH
MEDIAN_SD = math.sqrt(math.pi / 2)  # the median of ℓ normals has sd ≈ 1.2533 σ / √ℓ
MAD_TO_SD = 0.6744897501960817  # median |N(0, 1)|
DEFAULT_ETA = 1.5
BUDGET_PER_ETA2_L2 = 3  # budget = 3·η²·ℓ²: at most 0.4× the smallest measured break (≥ 7.8·η²·ℓ²)
MAX_BUDGET = 1 << 62


class QueryBudgetExhausted(SketchError, RuntimeError):
    """Every copy of a robust sketch has answered its query budget: its adaptive guarantee is spent."""


def default_query_budget(depth: int, eta: float) -> int:
    """``max(8·ℓ, ⌊3·η²·ℓ²⌋)`` answers per copy (see the module docstring)."""
    return int(min(MAX_BUDGET, max(8 * depth, math.floor(BUDGET_PER_ETA2_L2 * eta * eta * depth * depth))))


def bucket_noise(table: np.ndarray) -> float:
    """σ̂: the median over rows of each row's median |counter|, over 0.6745 (the normal scale)."""
    if table.size == 0:
        return 0.0
    per_row = np.median(np.abs(table.astype(np.float64)), axis=1)
    return float(np.median(per_row)) / MAD_TO_SD


def _check_eta(eta: Any) -> float:
    try:
        v = float(eta)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"eta must be a finite number >= 0, got {eta!r}") from None
    if not (math.isfinite(v) and 0.0 <= v <= 1e6):
        raise InvalidParameterError(f"eta must be a finite number in [0, 1e6], got {eta!r}")
    return v


class RobustCountSketch(KeyedCountSketch):
    """Keyed CountSketch answering point queries through a noisy median, with a query budget
    and sketch switching (see the module docstring for the guarantee and the adversary).

    Parameters
    ----------
    width : counters per row.
    depth : rows per copy, odd (default 21; the budget grows as depth²).
    copies : independent copies for sketch switching (default 1; memory × copies).
    eta : noise in units of the bucket noise: the accuracy/robustness trade-off (default 1.5).
    query_budget : answers per copy (default ``max(8·depth, 3·eta²·depth²)``).
    seed, key : identity, as :class:`KeyedCountSketch` (``key=None``: a fresh secret key).
    rng : seed or Generator for the answers' noise (algorithmic randomness, not identity;
        default: fresh OS entropy, which an adversary cannot predict).
    """

    __slots__ = ("_block", "_copies", "_eta", "_budget", "_active", "_answered", "_rng")
    _family = FAMILY

    def __init__(
        self,
        width: int,
        depth: int = 21,
        *,
        copies: int = 1,
        eta: float = DEFAULT_ETA,
        query_budget: int | None = None,
        seed: int = DEFAULT_SEED,
        key: bytes | None = None,
        rng: Any = None,
        dtype: str = "int32",
    ):
        depth = check_positive_int("depth", depth, 1 << 12)
        if depth % 2 == 0:
            raise InvalidParameterError(f"RobustCountSketch depth must be odd (median of rows), got {depth}")
        copies = check_positive_int("copies", copies, 1 << 12)
        if depth * copies > 1 << 16:
            raise InvalidParameterError(f"depth × copies must be at most 65536, got {depth * copies}")
        eta = _check_eta(eta)
        budget = default_query_budget(depth, eta) if query_budget is None else \
            check_positive_int("query_budget", query_budget, MAX_BUDGET)
        self._init_key(key)
        LinearSketch.__init__(self, width, depth * copies, seed=seed, dtype=dtype)
        self._row_keys = row_keys(self._seed, depth * copies, KEYED_DOMAIN)
        self._block, self._copies, self._eta, self._budget = depth, copies, eta, budget
        self._active = 0
        self._answered = 0
        self._rng = np.random.default_rng(rng)

    # ------------------------------------------------------------------ shape
    @property
    def depth(self) -> int:
        """Rows per copy (ℓ)."""
        return self._block

    @property
    def rows(self) -> int:
        """Rows held in all: depth × copies."""
        return self._table.shape[0]

    @property
    def copies(self) -> int:
        return self._copies

    @property
    def eta(self) -> float:
        """Noise scale in units of the bucket noise (the trade-off parameter)."""
        return self._eta

    @property
    def query_budget(self) -> int:
        """Answers each copy gives before it is retired."""
        return self._budget

    @property
    def queries_answered(self) -> int:
        """Answers released so far, all copies together."""
        return self._active * self._budget + self._answered

    @property
    def queries_left(self) -> int:
        """Answers still covered by the adaptive guarantee (all remaining copies)."""
        return self._copies * self._budget - self.queries_answered

    @property
    def active_copy(self) -> int:
        return self._active

    def _shape(self) -> tuple:
        return (self._block, self.width, self._copies, self._eta, self._budget)

    @classmethod
    def _check_shape(cls, depth: int, width: int) -> None:
        """Rows are checked against depth × copies after the prefix is read."""

    # ------------------------------------------------------------------ sizing
    @classmethod
    def from_memory(cls, budget: int | str, *, depth: int = 21, copies: int = 1, seed: int = DEFAULT_SEED,
                    **params: Any) -> RobustCountSketch:
        """The widest sketch of ``depth`` rows × ``copies`` whose state fits in ``budget``."""
        depth = check_positive_int("depth", depth, 1 << 12)
        copies = check_positive_int("copies", copies, 1 << 12)
        return cls(cls._width_for_memory(budget, depth * copies), depth, copies=copies, seed=seed, **params)

    def _copy_params(self, out: Any) -> None:
        super()._copy_params(out)
        out._block, out._copies, out._eta, out._budget = self._block, self._copies, self._eta, self._budget
        out._active, out._answered = self._active, self._answered
        # a child generator drawn from this one: reproducible under a seeded rng, cheap
        out._rng = np.random.default_rng(int(self._rng.integers(1 << 63)))

    # ------------------------------------------------------------------ queries
    def _spend(self) -> tuple[int, int]:
        """Count one query; switch copies past the budget; refuse when none is left."""
        if self._answered >= self._budget:
            if self._active + 1 >= self._copies:
                raise QueryBudgetExhausted(
                    f"all {self._copies} cop{'y' if self._copies == 1 else 'ies'} of this RobustCountSketch "
                    f"answered their {self._budget} queries: the adaptive guarantee is spent (build a new sketch "
                    f"with a fresh key, or more copies)")
            self._active += 1
            self._answered = 0
        self._answered += 1
        lo = self._active * self._block
        return lo, lo + self._block

    def _block_table(self) -> np.ndarray:
        lo = self._active * self._block
        return self._table[lo: lo + self._block]

    def sigma_hat(self) -> float:
        """The active copy's bucket noise σ̂ (see the module docstring)."""
        return bucket_noise(self._block_table())

    def _estimate_keys(self, keys, raw) -> np.ndarray:
        """Noisy median of the active copy's rows (one query)."""
        lo, hi = self._spend()
        rows = K.cs_row_values(self._table, self._row_keys, keys, raw, self._item_seed)[:, lo:hi]
        med = np.median(rows.astype(np.float64), axis=1)
        tau = self._eta * bucket_noise(self._table[lo:hi])
        if tau > 0:
            med = med + self._rng.normal(0.0, tau, size=med.shape[0])
        return np.rint(med).astype(np.int64)

    def _plain_estimate(self, items: Any, copy: int | None = None) -> np.ndarray:
        """The noise-free median of one copy's rows (white box: for attack harnesses that score
        with the sketch's own randomness; not an answer and not counted)."""
        lo = (self._active if copy is None else int(copy)) * self._block
        keys, raw = self._keys_of(items)
        rows = K.cs_row_values(self._table, self._row_keys, keys, raw, self._item_seed)[:, lo: lo + self._block]
        return np.median(rows.astype(np.float64), axis=1)

    def _bounds_keys(self, keys, raw) -> tuple[np.ndarray, np.ndarray]:
        """estimate ∓ ceil(error_bound(0.01)) (one query)."""
        est = self._estimate_keys(keys, raw)
        e = math.ceil(self.error_bound())
        return est - e, est + e

    def top(self, k: int, candidates: Any = None) -> list[tuple[Any, int, int, int]]:
        """The ``k`` candidates with the largest answers, as ``(item, estimate, lower, upper)``,
        heaviest first (one query). The sketch keeps no items: without ``candidates`` only an
        empty sketch answers (``[]``)."""
        if candidates is None:
            if self.is_empty():
                return []
            raise InvalidParameterError("RobustCountSketch keeps no items: pass the candidates to rank")
        cands = candidates if isinstance(candidates, np.ndarray) else list(candidates)
        if len(cands) == 0:
            return []
        est = self.estimate_batch(cands)
        e = math.ceil(self.error_bound())
        order = np.argsort(-est, kind="stable")[: max(0, int(k))]
        return [(_py(cands[i]), int(est[i]), int(est[i]) - e, int(est[i]) + e) for i in order]

    def error_bound(self, delta: float = 0.01) -> float:
        """(1.25/√ℓ + η)·z·σ̂ with z = √(2 ln(2/δ)): the per-answer error bound (oblivious, or
        adaptive within the budget)."""
        if not 0.0 < delta < 1.0:
            raise InvalidParameterError(f"delta must be in (0, 1), got {delta!r}")
        z = math.sqrt(2.0 * math.log(2.0 / delta))
        return (MEDIAN_SD / math.sqrt(self._block) + self._eta) * z * self.sigma_hat()

    @property
    def delta(self) -> float:
        """Failure probability of :meth:`error_bound` per answer (its default δ)."""
        return 0.01

    def f2(self) -> float:
        """F2 estimate from the active copy's rows (white box: not a counted query)."""
        t = self._block_table().astype(np.float64)
        return float(np.median(np.einsum("ij,ij->i", t, t)))

    def guarantee(self) -> str:
        return (f"|f̂−f| ≤ {(MEDIAN_SD / math.sqrt(self._block) + self._eta) * 3.26:.3g}·σ̂ w.p. ≥ 0.99 per answer, "
                f"adaptive queries covered: {self.queries_left} of {self._copies}×{self._budget} left")

    def _describe(self) -> str:
        return (f"width={self.width}, depth={self._block}, copies={self._copies}, eta={self._eta:g}, "
                f"key_id={self.key_id:#018x}")

    # ------------------------------------------------------------------ merge
    def _merge_state(self, other: Any) -> None:
        super()._merge_state(other)
        if (other._active, other._answered) > (self._active, self._answered):
            self._active, self._answered = other._active, other._answered

    # ------------------------------------------------------------------ bytes
    def _payload(self) -> tuple[int, bytes]:
        head = np.array([self._block, self._copies, self._active], dtype="<u4").tobytes()
        head += np.array([self._answered, self._budget], dtype="<u8").tobytes()
        head += np.array([self._eta], dtype="<f8").tobytes()
        body = np.array([self.rows, self.width], dtype="<u4").tobytes()
        body += bytes([self._table.dtype.itemsize, 0])
        body += np.array([self._total], dtype="<i8").tobytes() + np.array([self._abs_total], dtype="<u8").tobytes()
        return 0, head + self._key + body + le_bytes(self._table)

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader):
        block, copies, active, answered, budget, eta = reader.unpack("IIIQQd")
        if not (1 <= block <= 1 << 12 and block % 2 == 1 and 1 <= copies <= 1 << 12 and block * copies <= 1 << 16):
            raise CorruptSketchError(f"invalid RobustCountSketch shape: depth {block}, copies {copies}")
        if not (1 <= budget <= MAX_BUDGET and active < copies and answered <= budget):
            raise CorruptSketchError(f"invalid RobustCountSketch query state: copy {active}/{copies}, "
                                     f"{answered}/{budget} answers")
        if not (math.isfinite(eta) and 0.0 <= eta <= 1e6):
            raise CorruptSketchError(f"invalid RobustCountSketch eta {eta!r}")
        key = reader.raw(KEY_BYTES)
        out = LinearSketch._from_payload.__func__(cls, seed, flags, reader)
        if out._table.shape[0] != block * copies:
            raise CorruptSketchError(f"RobustCountSketch holds {out._table.shape[0]} rows, not {block}×{copies}")
        out._init_key(key)
        out._row_keys = row_keys(seed, block * copies, KEYED_DOMAIN)
        out._block, out._copies, out._eta, out._budget = int(block), int(copies), float(eta), int(budget)
        out._active, out._answered = int(active), int(answered)
        out._rng = np.random.default_rng()
        return out

    @property
    def nbytes(self) -> int:
        return int(self._table.nbytes + self._row_keys.nbytes) + KEY_BYTES

    @classmethod
    def _contract_examples(cls, seed: int):
        key = derive_key(check_seed(seed), KEYED_DOMAIN, 1 << 33).to_bytes(8, "little") * 2
        return [(cls(32, 3, copies=2, seed=seed, key=key), cls(32, 5, copies=2, seed=seed, key=key)),
                (cls(16, 5, seed=seed, key=key), cls(16, 5, eta=1.0, seed=seed, key=key))]


def _py(item: Any) -> Any:
    return item.item() if isinstance(item, np.generic) else item


register(FAMILY, RobustCountSketch)
