r"""CountSketch++ (Aamand, Chen, Nguyen, Silwal, Vakilian, NeurIPS 2023, arXiv 2312.07535).

A budget of :math:`S` counters is split in two halves. One **big** CountSketch of ``rows`` rows
and width :math:`w_b = \lfloor S/(2\,\mathrm{rows})\rfloor`, and :math:`T = \lfloor\log_2 S\rfloor`
**small** CountSketches of ``rows`` rows and width :math:`w_s = \max(3, \lfloor S/(2\,\mathrm{rows}\,T)
\rfloor)`. A query takes :math:`m` = the median over the small tables of their estimates; if
:math:`m < \tau = C\,(\log_2 S / S)\,N` (:math:`N` = total absolute weight) the answer is **0**,
otherwise the big table's estimate. Light items, the great majority under skew, are answered
exactly 0 instead of carrying the big table's noise: the unweighted error drops, while
mid-heavy items zeroed by mistake can raise the frequency-weighted error (both are measured in
``benchmarks/bench_learned.py``). Layout of the parameters follows the authors' supplementary code
as reproduced in Liz490/Heavy_Hitter_Oracles (protocol only; no code taken).

**Guarantee** (checked in ``tests/test_learned_cspp.py``). With :math:`\varepsilon_b = 2/\sqrt{w_b}`,
:math:`\varepsilon_s = 2/\sqrt{w_s}`, :math:`\delta_r = \Pr[\mathrm{Bin}(\mathrm{rows}, 1/4) \ge
(\mathrm{rows}+1)/2]` and :math:`\delta_T = \Pr[\mathrm{Bin}(T, \delta_r) \ge \lceil T/2\rceil]`,
for every item, over the seed,

.. math:: |\hat f(x) - f(x)| \le \max\big(\tau + \varepsilon_s \lVert f\rVert_2,\ \varepsilon_b\lVert f\rVert_2\big)
          \quad\text{with probability} \ge 1 - \delta_r - \delta_T .

Why: the big estimate is a CountSketch estimate (error :math:`\le\varepsilon_b\lVert f\rVert_2` but
with probability :math:`\delta_r`); a zero answer means :math:`m < \tau`, and :math:`m` is within
:math:`\varepsilon_s\lVert f\rVert_2` of :math:`f(x)` unless half the small tables fail. Weights may
be negative; the threshold then uses the total absolute weight.

>>> sk = CountSketchPlusPlus(4096, seed=5)
>>> sk.update_batch(["a"] * 500 + ["b"] * 3 + [str(i) for i in range(2000)])
>>> sk.estimate("a"), sk.estimate("b")
(500, 0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _ids as ids
from .._base import INT32_MAX, check_positive_int, largest_fitting, parse_memory
from .._format import Reader, le_bytes, register
from ..errors import CorruptSketchError, InvalidParameterError
from ..frequency import FrequencySketch
from ..frequency import _kernels as K
from ..frequency.countsketch import median_failure
from ..hashing import DEFAULT_SEED, derive_key, row_keys
from ._common import COUNTER_BYTES, LEARNED_DOMAIN

FAMILY = ids.COUNTSKETCH_PLUS_PLUS
ROW_KEY_BYTES = 16  # two uint64 hash keys per row
_EMPTY = np.empty(0, dtype=np.int64)


def planned_nbytes(counters: int, rows: int) -> int:
    """Bytes of a :class:`CountSketchPlusPlus` of ``counters`` int32 counters: tables and row keys."""
    big, n_small, small = layout(counters, rows)
    return 4 * rows * (big + n_small * small) + ROW_KEY_BYTES * rows * (1 + n_small)


def layout(counters: int, rows: int) -> tuple[int, int, int]:
    """(big width, number of small tables, small width) for ``counters`` counters of ``rows`` rows."""
    n_small = max(1, int(math.floor(math.log2(counters))))
    big = counters // (2 * rows)
    small = max(3, counters // (2 * rows * n_small))
    return big, n_small, small


class CountSketchPlusPlus(FrequencySketch):
    """CountSketch++: a big CountSketch answering only items the small ones call heavy.

    Parameters
    ----------
    counters : total number of counters S (memory ≈ 4·S bytes at int32, plus 16 bytes of hash
        keys per row of each table: :attr:`nbytes`).
    rows : rows per table (odd; the authors use 3).
    c : the threshold constant C of τ = C·log₂(S)/S·N (the authors try 5, 8, 11).
    seed : hash seed (identity; checked on merge).
    """

    __slots__ = ("_counters", "_rows", "_c", "_big", "_small", "_big_keys", "_small_keys")
    _family = FAMILY
    # capabilities (sketchkit.testing): tables add on merge; any integer weights; hashes suffice
    linear = True
    turnstile = True
    hashed_updates = True

    def __init__(self, counters: int, *, rows: int = 3, c: float = 8.0, seed: int = DEFAULT_SEED):
        super().__init__(seed)
        rows = check_positive_int("rows", rows, 15)
        if rows % 2 == 0:
            raise InvalidParameterError(f"rows must be odd (median of rows), got {rows}")
        counters = check_positive_int("counters", counters, 1 << 31)
        big, n_small, small = layout(counters, rows)
        if big < 1 or counters < 4 * rows:
            raise InvalidParameterError(f"{counters} counters are too few for tables of {rows} rows")
        c = float(c)
        if not (math.isfinite(c) and c >= 0):
            raise InvalidParameterError(f"c must be a finite non-negative number, got {c}")
        self._counters, self._rows, self._c = counters, rows, c
        self._big = np.zeros((rows, big), dtype=np.int32)
        self._small = np.zeros((n_small, rows, small), dtype=np.int32)
        self._make_keys()

    def _make_keys(self) -> None:
        self._big_keys = row_keys(self._seed, self._rows)
        self._small_keys = [
            row_keys(derive_key(self._seed, LEARNED_DOMAIN, 16 + t), self._rows) for t in range(self._small.shape[0])
        ]

    @classmethod
    def from_memory(
        cls, budget: int | str, *, rows: int = 3, c: float = 8.0, seed: int = DEFAULT_SEED
    ) -> CountSketchPlusPlus:
        """The most counters whose tables and row keys (:attr:`nbytes`) fit in ``budget``."""
        total = parse_memory(budget)
        rows = check_positive_int("rows", rows, 15)
        counters = largest_fitting(4 * rows, max(4 * rows, total // COUNTER_BYTES),
                                   lambda s: planned_nbytes(s, rows) <= total)
        if planned_nbytes(counters, rows) > total:
            raise InvalidParameterError(f"memory budget {budget!r} is too small for tables of {rows} rows")
        return cls(counters, rows=rows, c=c, seed=seed)

    # ------------------------------------------------------------------ shape
    @property
    def counters(self) -> int:
        return self._counters

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def c(self) -> float:
        return self._c

    @property
    def threshold(self) -> float:
        """τ = C·log₂(S)/S·N, N the total absolute weight so far."""
        return self._c * math.log2(self._counters) / self._counters * self._abs_total

    @property
    def nbytes(self) -> int:
        """Bytes of the counters and of every table's row keys."""
        keys = self._big_keys.nbytes + sum(k.nbytes for k in self._small_keys)
        return int(self._big.nbytes + self._small.nbytes + keys)

    def _shape(self) -> tuple:
        return (self._counters, self._rows, self._c)

    @classmethod
    def _contract_examples(cls, seed: int):
        return (cls(300, seed=seed), cls(300, rows=5, seed=seed))

    def empty_like(self) -> CountSketchPlusPlus:
        return CountSketchPlusPlus(self._counters, rows=self._rows, c=self._c, seed=self._seed)

    # ------------------------------------------------------------------ updates
    def _reserve(self, abs_total: int) -> None:
        super()._reserve(abs_total)
        if self._big.dtype == np.int32 and self._abs_total + abs_total > INT32_MAX:
            self._big = self._big.astype(np.int64)
            self._small = self._small.astype(np.int64)

    def _update_keys(self, keys, raw, weights, batch) -> None:
        w = _EMPTY if weights is None else weights
        K.cs_update(self._big, self._big_keys, keys, raw, self._item_seed, w)
        for t, rk in enumerate(self._small_keys):
            K.cs_update(self._small[t], rk, keys, raw, self._item_seed, w)

    # ------------------------------------------------------------------ queries
    def _estimate_keys(self, keys: np.ndarray, raw: bool) -> np.ndarray:
        """0 where the small tables' median is below τ, the big table's estimate elsewhere."""
        big = K.cs_estimate(self._big, self._big_keys, keys, raw, self._item_seed)
        small = np.stack([K.cs_estimate(self._small[t], rk, keys, raw, self._item_seed)
                          for t, rk in enumerate(self._small_keys)])
        m = np.median(small, axis=0)
        return np.where(m >= self.threshold, big, 0).astype(np.int64)

    def _f2_hi(self) -> float:
        t = self._big.astype(np.float64)
        f2 = float(np.median(np.einsum("ij,ij->i", t, t)))
        eps_b = 2.0 / math.sqrt(self._big.shape[1])
        return f2 / (1.0 - min(math.sqrt(2.0) * eps_b, 0.5))

    @property
    def epsilon(self) -> float:
        """ε_b = 2/√w_b, the big table's ε (the guarantee adds τ + ε_s‖f‖₂ for zeroed answers)."""
        return 2.0 / math.sqrt(self._big.shape[1])

    def error_bound(self) -> float:
        """max(τ + ε_s·√F2_hi, ε_b·√F2_hi), F2_hi the big table's upper estimate of ‖f‖₂²."""
        root = math.sqrt(max(self._f2_hi(), 0.0))
        eps_b = 2.0 / math.sqrt(self._big.shape[1])
        eps_s = 2.0 / math.sqrt(self._small.shape[2])
        return max(self.threshold + eps_s * root, eps_b * root)

    @property
    def delta(self) -> float:
        """δ_r + δ_T of the guarantee (module docstring)."""
        d_r = median_failure(self._rows)
        return d_r + _tail(self._small.shape[0], d_r)

    def _bounds_keys(self, keys: np.ndarray, raw: bool) -> tuple[np.ndarray, np.ndarray]:
        """estimate ∓ error_bound(), rounded outwards: around the true count w.p. ≥ 1 − δ."""
        est = self._estimate_keys(keys, raw)
        e = math.ceil(self.error_bound())
        return est - e, est + e

    def guarantee(self) -> str:
        return f"|f̂−f| ≤ {self.error_bound():.4g} w.p. ≥ {1 - self.delta:.4g} per item"

    def _describe(self) -> str:
        return f"counters={self._counters}, rows={self._rows}, c={self._c}"

    # ------------------------------------------------------------------ merge
    def _merge_state(self, other: Any) -> None:
        if other._big.dtype.itemsize > self._big.dtype.itemsize:
            self._big = self._big.astype(np.int64)
            self._small = self._small.astype(np.int64)
        self._big += other._big
        self._small += other._small

    # ------------------------------------------------------------------ bytes
    def _payload(self) -> tuple[int, bytes]:
        head = np.array([self._counters, self._rows], dtype="<u4").tobytes()
        head += np.array([self._c], dtype="<f8").tobytes() + bytes([self._big.dtype.itemsize]) + bytes(7)
        head += np.array([self._total], dtype="<i8").tobytes() + np.array([self._abs_total], dtype="<u8").tobytes()
        return 0, head + le_bytes(self._big) + le_bytes(self._small)

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader) -> CountSketchPlusPlus:
        counters, rows = reader.unpack("II")
        (c,) = reader.unpack("d")
        itemsize = reader.unpack("B7x")[0]
        total, abs_total = reader.unpack("qQ")
        if flags or itemsize not in (4, 8) or abs(total) > abs_total or (itemsize == 4 and abs_total > INT32_MAX):
            raise CorruptSketchError("invalid CountSketchPlusPlus header")
        # check the declared sizes against the bytes present before allocating anything
        if not (1 <= rows <= 15 and rows % 2 and 4 * rows <= counters):
            raise CorruptSketchError(f"invalid CountSketchPlusPlus shape: {counters} counters, {rows} rows")
        big, n_small, small = layout(counters, rows)
        if reader.remaining != itemsize * rows * (big + n_small * small):
            raise CorruptSketchError("CountSketchPlusPlus payload size does not match its parameters")
        try:
            out = cls(counters, rows=rows, c=c, seed=seed)
        except InvalidParameterError as exc:
            raise CorruptSketchError(f"invalid CountSketchPlusPlus parameters: {exc}") from None
        dt = np.int32 if itemsize == 4 else np.int64
        out._big = reader.array(dt, out._big.size).reshape(out._big.shape)
        out._small = reader.array(dt, out._small.size).reshape(out._small.shape)
        # an update moves a counter by at most its |weight|: a larger counter is crafted, and
        # an int32 one would wrap on a later update (they widen on the total, not the counters)
        for t in (out._big, out._small):
            if t.size and (int(t.max()) > abs_total or int(t.min()) < -abs_total):
                raise CorruptSketchError("CountSketchPlusPlus counters exceed the total absolute weight")
        out._total, out._abs_total = int(total), int(abs_total)
        return out



def _tail(n: int, p: float) -> float:
    """P[Bin(n, p) ≥ ⌈n/2⌉] (the median of an even count fails when half the tables do)."""
    need = (n + 1) // 2
    return float(sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(need, n + 1)))


register(FAMILY, CountSketchPlusPlus)
