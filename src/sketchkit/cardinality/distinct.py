r"""Distinct counting with ExaLogLog (Ertl, "ExaLogLog: Space-Efficient and Practical
Approximate Distinct Counting up to the Exa-Scale", EDBT 2025, arXiv 2402.13726).

``Distinct(precision=p)`` holds :math:`m = 2^p` registers of 28 bits (ELL with t = 2, d = 20):
each keeps the largest update value seen and which of the 20 values below it occurred. The
paper's memory-variance product for these registers is 3.67 against 6.48 for HyperLogLog with
6-bit registers: 43 % less memory at equal error.
The register layout and the update rule are in :mod:`sketchkit.cardinality._ell`.

Three estimators, picked by the sketch's history (:attr:`Distinct.estimator` says which):

* ``"exact"`` -- while at most ``sparse_limit`` distinct item hashes have been seen the sketch
  keeps them (sorted uint64, no more bytes than the register array) and answers their count:
  exact up to 64-bit hash collisions (probability below :math:`n^2/2^{65}`).
* ``"martingale"`` -- the dense sketch of one stream keeps the martingale (historic inverse
  probability) estimate: at every state change it adds :math:`1/\mu`, :math:`\mu` the exact
  probability that a new item changes the state (Ertl 2024, Alg. 2; Cohen 2015, Ting 2014). The
  switch from the exact set replays the kept hashes in a seeded pseudo-random order (a bijection
  of the hash keyed from ``DISTINCT_DOMAIN``), so the estimate continues without a jump.
* ``"ml"`` -- after two dense sketches were merged, the maximum-likelihood estimate from the
  registers (the Poisson likelihood of the paper, solved by safeguarded Newton). Merging a sketch
  still in exact mode into another replays its hashes instead, and keeps the martingale.

**Guarantee** (what ``tests/test_distinct_stats.py`` checks, over 1,000 seeds per cardinality,
:math:`n = 10^3 \ldots 10^9`). Let :math:`\sigma_p = \sqrt{3.8 / (28 m)}`, the relative standard
error of a memory-variance product (register bits x relative variance) of 3.8; the paper derives
3.67 for the ML estimator and less for the martingale one. Then

* the relative standard error of the estimate is at most :math:`\sigma_p`
  (``precision=10``: 1.15 %, 3,592 bytes of registers);
* :math:`|\hat n / n - 1| \le \sigma_p \sqrt{2 \ln(2/\delta)}` with probability at least
  :math:`1 - \delta` (``relative_error(delta)``; :math:`\delta = 1\%`: 3.26 :math:`\sigma_p`,
  3.7 % at ``precision=10``);
* the estimate is exact while in exact mode, and the mean relative error at every :math:`n`
  stays within :math:`4\sigma_p/\sqrt{\text{seeds}}` of 0 (no bias bump where the modes switch).

Cardinalities above :math:`10^6` are tested by an exact jump-ahead simulation of the same
register process (the number of items until the next state change is geometric with the
sketch's own :math:`\mu`), cross-checked against real hashes fed through the update kernel.

Items are hashed with the sketch's seed (XXH64, :mod:`sketchkit.hashing`); ``update_hashed``
takes 64-bit hashes computed elsewhere. Weights other than 1 are refused: a count of distinct
items ignores multiplicities.

**Byte layout** of the payload (little-endian), after the common header (:mod:`sketchkit._format`):

=======  ======================================================================================
u8, u64  precision p (4..22), number of updates (total_weight)
(flags)  header flags: bit 0 dense, bit 1 merged (ML estimator; dense only), bit 2 registers range-coded
sparse   u32 count (<= sparse_limit), then count strictly increasing u64 hashes
dense    f64 martingale estimate (NaN when merged), then the 28-bit registers as
         ``7 * 2**p / 16`` u64 words, or (bit 2, ``to_compact_bytes``) i16 c, u32 length L and L
         bytes: the registers range-coded (``_ell.rc_encode``) with the occurrence
         probabilities of the Poisson model at 2**(c/16) items per register
=======  ======================================================================================
"""

from __future__ import annotations

import math
import struct
import sys
from typing import Any, ClassVar

import numpy as np

from .. import _ids as ids
from .._base import Sketch, as_weights, largest_fitting, parse_memory
from .._format import Reader, register
from ..errors import CorruptSketchError, InvalidParameterError, ItemTypeError
from ..hashing import DEFAULT_SEED, derive_key
from . import _ell as E

FAMILY = ids.DISTINCT
FLAG_DENSE = 1
FLAG_MERGED = 2
FLAG_CODED = 4
_KNOWN_FLAGS = FLAG_DENSE | FLAG_MERGED | FLAG_CODED
LAM_CODE_LIMIT = 16 * 70
MIN_P, MAX_P = 4, 22
MVP_BOUND = 3.8
_INT64_MAX = (1 << 63) - 1
_LITTLE = sys.byteorder == "little"


def _sigma(p: int) -> float:
    return math.sqrt(MVP_BOUND / (E.REG_BITS * (1 << p)))


def _dense_nbytes(p: int) -> int:
    return 8 * E.words_for(p) + 16  # registers + the two one-element state boxes


class Distinct(Sketch):
    """Approximate count of distinct items (ExaLogLog registers, martingale / ML estimators).

    Parameters
    ----------
    precision : log2 of the number of registers, 4..22 (default 10: 1,024 registers, 3.6 KB,
        relative standard error <= 1.15 %).
    seed : the hash seed (identity; checked on merge).
    """

    __slots__ = ("_p", "_hashes", "_words", "_w32", "_est", "_alpha", "_merged")
    _family = FAMILY
    linear: ClassVar[bool] = False  # registers merge exactly; the martingale estimate is per stream
    turnstile: ClassVar[bool] = False
    weighted: ClassVar[bool] = False
    item_kind: ClassVar[str] = "any"
    hashed_updates: ClassVar[bool] = True

    def __init__(self, precision: int = 10, *, seed: int = DEFAULT_SEED):
        super().__init__(seed)
        if isinstance(precision, bool) or not isinstance(precision, (int, np.integer)):
            raise InvalidParameterError(f"precision must be an int, got {type(precision).__name__}")
        if not MIN_P <= int(precision) <= MAX_P:
            raise InvalidParameterError(f"precision must be in [{MIN_P}, {MAX_P}], got {precision}")
        if not _LITTLE:  # pragma: no cover - the register kernels read uint32 halves
            raise RuntimeError("Distinct needs a little-endian machine")
        E.ready()
        self._p = int(precision)
        self._hashes = np.empty(0, dtype=np.uint64)
        self._words = None
        self._w32 = None
        self._est = None
        self._alpha = None
        self._merged = False

    # ------------------------------------------------------------------ sizing
    @classmethod
    def from_error(cls, epsilon: float, delta: float = 0.01, *, seed: int = DEFAULT_SEED) -> Distinct:
        """Smallest sketch with ``|n̂/n - 1| <= epsilon`` with probability >= 1 - delta."""
        from .._base import check_probability

        epsilon = check_probability("epsilon", epsilon)
        delta = check_probability("delta", delta)
        z = math.sqrt(2.0 * math.log(2.0 / delta))
        for p in range(MIN_P, MAX_P + 1):
            if _sigma(p) * z <= epsilon:
                return cls(p, seed=seed)
        raise InvalidParameterError(
            f"epsilon={epsilon} needs more than 2**{MAX_P} registers; the smallest reachable is {_sigma(MAX_P) * z:.2g}"
        )

    @classmethod
    def from_memory(cls, budget: int | str, *, seed: int = DEFAULT_SEED) -> Distinct:
        """The most precise sketch whose dense state fits in ``budget`` bytes."""
        b = parse_memory(budget)
        if _dense_nbytes(MIN_P) > b:
            raise InvalidParameterError(f"memory budget {b} B is below the smallest sketch ({_dense_nbytes(MIN_P)} B)")
        return cls(largest_fitting(MIN_P, MAX_P, lambda p: _dense_nbytes(p) <= b), seed=seed)

    @classmethod
    def _contract_examples(cls, seed: int) -> tuple[Distinct, Distinct]:
        return cls(6, seed=seed), cls(7, seed=seed)

    def empty_like(self) -> Distinct:
        return Distinct(self._p, seed=self._seed)

    # ------------------------------------------------------------------ properties
    @property
    def precision(self) -> int:
        return self._p

    @property
    def num_registers(self) -> int:
        return 1 << self._p

    @property
    def sparse_limit(self) -> int:
        """Most distinct hashes kept exactly (no more bytes than the register array)."""
        return E.words_for(self._p)

    @property
    def shape(self) -> tuple:
        return (self._p,)

    def _shape(self) -> tuple:
        return (self._p,)

    @property
    def is_dense(self) -> bool:
        return self._words is not None

    @property
    def estimator(self) -> str:
        """ "exact", "martingale" or "ml": the estimator :meth:`estimate` uses now."""
        if self._words is None:
            return "exact"
        return "ml" if self._merged else "martingale"

    @property
    def sigma(self) -> float:
        """σ_p = sqrt(3.8 / (28 m)): the stated bound on the relative standard error."""
        return _sigma(self._p)

    def relative_error(self, delta: float = 0.01) -> float:
        """Stated bound: |n̂/n - 1| <= σ_p·sqrt(2 ln(2/δ)) with probability >= 1 - δ (0 while exact)."""
        from .._base import check_probability

        delta = check_probability("delta", delta)
        if self._words is None:
            return 0.0
        return self.sigma * math.sqrt(2.0 * math.log(2.0 / delta))

    def bounds(self, delta: float = 0.01) -> tuple[float, float]:
        """(lower, upper) around the estimate from :meth:`relative_error`."""
        est = self.estimate()
        e = self.relative_error(delta)
        return est / (1.0 + e), (est / (1.0 - e) if e < 1.0 else math.inf)

    @property
    def nbytes(self) -> int:
        if self._words is None:
            return int(self._hashes.nbytes)
        return int(self._words.nbytes + self._est.nbytes + self._alpha.nbytes)

    # ------------------------------------------------------------------ updates
    def _check_weights(self, weights, abs_total) -> None:
        if weights is not None and weights.size and (int(weights.min()) != 1 or int(weights.max()) != 1):
            raise InvalidParameterError(
                "Distinct counts distinct items and takes no weights (only weight 1); "
                "use a frequency sketch for weighted counts"
            )

    def _update_keys(self, keys, raw, weights, batch) -> None:
        self._fold(keys, bool(raw))

    def update_hashed(self, hashes: Any, weights: Any = None) -> None:
        """Add items given by their 64-bit hashes: a one-dimensional uint64 array, such as
        :meth:`item_hashes` returns (then exactly ``update_batch(items)``), or uniformly random
        hashes computed elsewhere (how the tests simulate 10^9 distinct items)."""
        arr = np.asarray(hashes)
        if arr.dtype != np.uint64 or arr.ndim != 1:
            raise ItemTypeError(f"hashes must be a one-dimensional uint64 array, got {arr.dtype} of shape {arr.shape}")
        arr = np.ascontiguousarray(arr)
        w, total, abs_total = as_weights(weights, arr.shape[0])
        self._check_weights(w, abs_total)
        if arr.shape[0] == 0:
            return
        self._reserve(abs_total)
        self._fold(arr, False)
        self._total += total
        self._abs_total += abs_total

    def item_hashes(self, items: Any) -> np.ndarray:
        """The 64-bit hashes this sketch counts ``items`` by (uint64), for :meth:`update_hashed`."""
        keys, raw = self._keys_of(items)
        return E.hash_keys(keys, raw, self._item_seed)

    def _fold(self, keys: np.ndarray, raw: bool) -> None:
        start, n = 0, keys.shape[0]
        while self._words is None and start < n:
            # exact mode: hash a prefix at a time, so a large batch that leaves it early is
            # hashed once, inside the dense kernel
            room = self.sparse_limit - self._hashes.size
            stop = min(n, start + max(1024, 4 * room))
            hashes = E.hash_keys(keys[start:stop], raw, self._item_seed)
            pos = E.new_in_order(hashes, self._hashes, room)
            if pos.size <= room:
                if pos.size:
                    self._hashes = np.union1d(self._hashes, hashes[pos])
                start = stop
                continue
            self._hashes = np.union1d(self._hashes, hashes[pos[:-1]])
            self._densify()
            self._dense(hashes, False, int(pos[-1]))
            start = stop
        if start < n:
            self._dense(keys, raw, start)

    def _dense(self, keys: np.ndarray, raw: bool, start: int) -> None:
        if self._merged:
            E.dense_update_plain(self._w32, self._p, keys, raw, self._item_seed, start)
        else:
            E.dense_update_hip(
                self._w32, self._p, keys, raw, self._item_seed, start, self._est, self._alpha, *_tables(self._p)
            )

    def _replay_order(self, hashes: np.ndarray) -> np.ndarray:
        # a keyed bijection of the hash: an order independent of the register and value bits
        mult = np.uint64(derive_key(self._seed, ids.DISTINCT_DOMAIN, 0) | 1)
        return hashes[np.argsort(hashes * mult, kind="stable")]

    def _densify(self) -> None:
        self._words = np.zeros(E.words_for(self._p), dtype=np.uint64)
        self._w32 = self._words.view(np.uint32)
        self._est = np.zeros(1, dtype=np.float64)
        self._alpha = np.zeros(1, dtype=np.uint64)  # 2**64 (every register empty), wrapped
        hashes = self._replay_order(self._hashes)
        self._hashes = np.empty(0, dtype=np.uint64)
        E.dense_update_hip(
            self._w32, self._p, hashes, False, self._item_seed, 0, self._est, self._alpha, *_tables(self._p)
        )

    # ------------------------------------------------------------------ merging
    def merge(self, other: Distinct) -> Distinct:
        """Fold ``other`` in (see :class:`~sketchkit._base.Sketch`); two dense sketches of the same
        precision and seed take a direct path to the register kernel (one C call where the C
        helper is built: under a microsecond for two 3.6 KB sketches), everything else the
        checked general one."""
        if type(other) is Distinct and type(self) is Distinct and other is not self:
            w = self._words
            ow = other._words
            if (
                w is not None
                and ow is not None
                and other._p == self._p
                and other._seed == self._seed
                and self._abs_total + other._abs_total <= _INT64_MAX
            ):
                (E.MERGE or E.merge_function())(w, ow)
                if not self._merged:
                    self._merged = True
                    self._est[0] = np.nan
                self._total += other._total
                self._abs_total += other._abs_total
                return self
        return super().merge(other)

    def _merge_state(self, other: Distinct) -> None:
        if other._words is None:
            if other._hashes.size:
                self._fold(self._replay_order(other._hashes), False)
            return
        if self._words is None:
            mine = self._replay_order(self._hashes)
            self._words = other._words.copy()
            self._w32 = self._words.view(np.uint32)
            self._est = other._est.copy()
            self._alpha = other._alpha.copy()
            self._merged = other._merged
            self._hashes = np.empty(0, dtype=np.uint64)
            if mine.size:
                self._fold(mine, False)
            return
        (E.MERGE or E.merge_function())(self._words, other._words)
        self._merged = True
        self._est[0] = np.nan

    # ------------------------------------------------------------------ queries
    def estimate(self) -> float:
        """Estimated number of distinct items (see :attr:`estimator` for the method)."""
        if self._words is None:
            return float(self._hashes.size)
        if not self._merged:
            return float(self._est[0])
        return self.estimate_ml()

    def estimate_ml(self) -> float:
        """The maximum-likelihood estimate from the registers (any mode; exact count while sparse)."""
        if self._words is None:
            return float(self._hashes.size)
        alpha, beta = E.ml_coefficients(self._w32, 1 << self._p, self._p)
        return float((1 << self._p) * E.ml_solve(alpha, beta))

    def guarantee(self) -> str:
        """The guarantee in one line, with the current numbers."""
        if self._words is None:
            return f"exact count {self._hashes.size:,} (up to {self.sparse_limit:,} distinct hashes are kept)"
        return (
            f"estimate {self.estimate():,.0f} ({self.estimator}); |n^/n - 1| <= {100 * self.relative_error(0.01):.2g}% "
            f"with probability >= 99% (sigma_p = {100 * self.sigma:.3g}%, MVP <= {MVP_BOUND})"
        )

    def __repr__(self) -> str:
        err = self.relative_error(0.01) if self._words is not None else 0.0
        return (
            f"Distinct(precision={self._p}, seed={self._seed}, estimate={self.estimate():.6g}, "
            f"estimator={self.estimator!r}, ±{100 * err:.2g}% at 99%, nbytes={self.nbytes})"
        )

    # ------------------------------------------------------------------ bytes
    def _payload(self) -> tuple[int, bytes]:
        head = np.uint8(self._p).tobytes() + np.uint64(self._total).astype("<u8").tobytes()
        if self._words is None:
            return 0, head + np.uint32(self._hashes.size).tobytes() + self._hashes.astype("<u8").tobytes()
        flags = FLAG_DENSE | (FLAG_MERGED if self._merged else 0)
        regs = self._words[:-1].astype("<u8").tobytes()
        est = np.float64(np.nan if self._merged else self._est[0]).tobytes()
        return flags, head + est + regs

    def to_compact_bytes(self) -> bytes:
        """Smaller bytes for storage or the network (``from_bytes`` reads both forms): the
        registers range-coded with the probabilities of the Poisson model at the sketch's own
        ML estimate, about 16.8 bits a register instead of 28 (the registers' entropy). Costs
        about 1 µs per register each way."""
        from .._format import pack

        flags, payload = self._payload()
        if not flags & FLAG_DENSE:
            return pack(self._family, self._seed, payload, flags)
        m = 1 << self._p
        lam = max(self.estimate_ml() / m, 2.0**-60)
        code = min(max(round(16 * math.log2(lam)), -LAM_CODE_LIMIT), LAM_CODE_LIMIT)
        coded = E.rc_encode(self._w32, m, E.coding_probabilities(self._p, code)).tobytes()
        body = payload[:17] + struct.pack("<hI", code, len(coded)) + coded
        return pack(self._family, self._seed, body, flags | FLAG_CODED)

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader) -> Distinct:
        if flags & ~_KNOWN_FLAGS:
            raise CorruptSketchError(f"unknown Distinct flags {flags:#x}")
        p, total = reader.unpack("BQ")
        if not MIN_P <= p <= MAX_P:
            raise CorruptSketchError(f"Distinct precision {p} outside [{MIN_P}, {MAX_P}]")
        if total > (1 << 63) - 1:
            raise CorruptSketchError(f"Distinct update count {total} outside the int64 range")
        E.ready()
        out = cls.__new__(cls)
        Sketch.__init__(out, seed)
        out._p = p
        out._words = out._w32 = out._est = out._alpha = None
        out._merged = False
        if not flags & FLAG_DENSE:
            if flags:
                raise CorruptSketchError("a sparse Distinct carries no other flags")
            (count,) = reader.unpack("I")
            if count > E.words_for(p):
                raise CorruptSketchError(f"sparse Distinct holds {count} hashes, more than its limit {E.words_for(p)}")
            hashes = reader.array(np.uint64, count)
            if count > 1 and not bool(np.all(hashes[1:] > hashes[:-1])):
                raise CorruptSketchError("sparse Distinct hashes are not strictly increasing")
            if total < count or (count == 0) != (total == 0):
                raise CorruptSketchError(f"sparse Distinct with {count} hashes cannot have {total} updates")
            out._hashes = hashes
            out._total = out._abs_total = total
            return out
        if total <= E.words_for(p):
            raise CorruptSketchError(f"a dense Distinct needs more than {E.words_for(p)} updates, not {total}")
        out._hashes = np.empty(0, dtype=np.uint64)
        out._total = out._abs_total = total
        (est,) = reader.unpack("d")
        nw = E.words_for(p) - 1
        m = 1 << p
        if flags & FLAG_CODED:
            code, clen = reader.unpack("hI")
            if abs(code) > LAM_CODE_LIMIT:
                raise CorruptSketchError(f"Distinct coding parameter {code} out of range")
            coded = np.frombuffer(reader.raw(clen), dtype=np.uint8)
            prob0 = E.coding_probabilities(p, code)
            words = np.zeros(nw + 1, dtype=np.uint64)
            left = E.rc_decode(coded, m, prob0, words.view(np.uint32))
            if left != 0 or int(words[-1]) != 0:
                raise CorruptSketchError("Distinct coded registers are truncated or padded")
            # one coding per register state: re-encoding must give the same bytes back
            if E.rc_encode(words.view(np.uint32), m, prob0).tobytes() != coded.tobytes():
                raise CorruptSketchError("Distinct coded registers are not in canonical form")
            words = words[:nw]
        else:
            words = reader.array(np.uint64, nw)
        out._words = np.zeros(nw + 1, dtype=np.uint64)
        out._words[:nw] = words
        out._w32 = out._words.view(np.uint32)
        bad = E.check_registers(out._w32, m, E.max_value(p))
        if bad >= 0:
            raise CorruptSketchError(f"Distinct register {bad} holds a state no update produces")
        if int(np.count_nonzero(out._words)) == 0:
            raise CorruptSketchError("a dense Distinct has at least one non-empty register")
        out._merged = bool(flags & FLAG_MERGED)
        out._est = np.zeros(1, dtype=np.float64)
        out._alpha = np.zeros(1, dtype=np.uint64)
        if out._merged:
            if not math.isnan(est):
                raise CorruptSketchError("a merged Distinct stores no martingale estimate (NaN)")
            out._est[0] = np.nan
        else:
            if not (math.isfinite(est) and est >= 1.0):
                raise CorruptSketchError(f"invalid Distinct martingale estimate {est}")
            out._est[0] = est
            out._alpha[0] = E.total_units(out._w32, m, *_tables(p))
        return out


_TABLES: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _tables(p: int) -> tuple[np.ndarray, np.ndarray]:
    t = _TABLES.get(p)
    if t is None:
        t = _TABLES[p] = (E.rho_units(p), E.tail_units(p))
    return t


register(FAMILY, Distinct)
