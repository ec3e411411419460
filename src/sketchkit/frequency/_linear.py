"""What CountSketch and Count-Min share: a depth × width table of integer counters.

Payload layout (little-endian), after the common header of :mod:`sketchkit._format`::

    u32 depth | u32 width | u8 counter bytes (4 or 8) | u8 reserved | i64 total weight
    | u64 total absolute weight | depth*width counters (row-major, int32 or int64)

Counters start as int32 and are promoted to int64 as soon as the total absolute weight could
push one past 2**31 - 1: a counter's magnitude never exceeds the total absolute weight, so
this check is exact and nothing ever wraps. Past int64 the update is refused
(:class:`~sketchkit.errors.CounterOverflowError`) before any change.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._base import INT32_MAX, INT64_MAX, Sketch, check_positive_int, parse_memory
from .._format import Reader, le_bytes
from .._threads import split_update
from ..errors import CorruptSketchError, InvalidParameterError
from ..hashing import DEFAULT_SEED, row_keys
from ._query import FrequencySketch

_DTYPES = {"int32": np.int32, "int64": np.int64}
_NO_WEIGHTS = np.empty(0, dtype=np.int64)  # the kernels' "every weight is 1"


class LinearSketch(FrequencySketch):
    """A depth × width table of counters addressed by the hash family's rows."""

    __slots__ = ("_table", "_row_keys")
    linear = True
    turnstile = True
    hashed_updates = True
    # bytes a subclass holds beyond the table and the row keys (a secret key, say), so that
    # from_memory(b).nbytes <= b holds for it too
    _fixed_nbytes = 0

    def __init__(self, width: int, depth: int, *, seed: int = DEFAULT_SEED, dtype: str = "int32"):
        super().__init__(seed)
        width = check_positive_int("width", width, (1 << 31) - 1)
        depth = check_positive_int("depth", depth, 1 << 16)
        if dtype not in _DTYPES:
            raise InvalidParameterError(f"dtype must be 'int32' or 'int64', got {dtype!r}")
        self._table = np.zeros((depth, width), dtype=_DTYPES[dtype])
        self._row_keys = row_keys(self._seed, depth)

    # ------------------------------------------------------------------ shape
    @property
    def depth(self) -> int:
        """Number of rows (independent hash functions)."""
        return self._table.shape[0]

    @property
    def width(self) -> int:
        """Counters per row."""
        return self._table.shape[1]

    @property
    def counter_dtype(self) -> str:
        """'int32', or 'int64' once the total absolute weight passed 2**31 - 1."""
        return str(self._table.dtype)

    @property
    def table(self) -> np.ndarray:
        """A read-only view of the counters (depth × width)."""
        view = self._table.view()
        view.flags.writeable = False
        return view

    @property
    def nbytes(self) -> int:
        return int(self._table.nbytes + self._row_keys.nbytes)

    def _shape(self) -> tuple:
        return (self.depth, self.width)

    @classmethod
    def _contract_examples(cls, seed: int):
        return cls(64, 5, seed=seed), cls(32, 5, seed=seed)

    @classmethod
    def _width_for_memory(cls, budget: int | str, depth: int, counter_bytes: int = 4) -> int:
        nbytes = parse_memory(budget) - cls._fixed_nbytes
        width = (nbytes - 16 * depth) // (depth * counter_bytes)  # row keys: 16 bytes a row
        if width < 1:
            raise InvalidParameterError(f"memory budget {budget!r} is too small for {depth} rows")
        return int(width)

    def empty_like(self):
        out = type(self).__new__(type(self))
        Sketch.__init__(out, self._seed)
        out._table = np.zeros(self._table.shape, dtype=self._table.dtype)
        out._row_keys = self._row_keys.copy()
        self._copy_params(out)
        return out

    def _copy_params(self, out: Any) -> None:
        """Hook for subclasses with extra parameters."""

    # ------------------------------------------------------------------ overflow
    def _reserve(self, abs_total: int) -> None:
        super()._reserve(abs_total)
        if self._table.dtype == np.int32 and self._abs_total + abs_total > INT32_MAX:
            self._table = self._table.astype(np.int64)

    def _add(self, kernel: Any, keys: np.ndarray, raw: bool, weights: np.ndarray | None) -> None:
        """Run an additive update kernel over the batch, split across threads when it is large
        (:mod:`sketchkit._threads`: bit-identical to one thread)."""
        w = _NO_WEIGHTS if weights is None else weights

        def update(table: np.ndarray, start: int, stop: int) -> None:
            kernel(table, self._row_keys, keys[start:stop], raw, self._item_seed, w[start:stop] if w.size else w)

        split_update(self._table, len(keys), update)

    # ------------------------------------------------------------------ merge
    def _merge_state(self, other: Any) -> None:
        # _reserve has already promoted self if the sum could overflow int32.
        if other._table.dtype.itemsize > self._table.dtype.itemsize:
            self._table = self._table.astype(other._table.dtype)
        self._table += other._table

    # ------------------------------------------------------------------ bytes
    def _payload(self) -> tuple[int, bytes]:
        head = np.array([self.depth, self.width], dtype="<u4").tobytes()
        head += bytes([self._table.dtype.itemsize, 0])
        head += np.array([self._total], dtype="<i8").tobytes() + np.array([self._abs_total], dtype="<u8").tobytes()
        return self._flags(), head + le_bytes(self._table)

    def _flags(self) -> int:
        return 0

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader):
        """Read the payload and refuse any state the constructor and updates cannot reach:
        shape outside the constructor's ranges (``_check_shape``), unknown flags, totals that
        no stream gives, int32 counters past 2**31 − 1 total weight, or a table no stream of
        that total weight fills (``_check_rows``), so later updates cannot wrap a counter."""
        depth, width, itemsize, reserved, total, abs_total = reader.unpack("IIBBqQ")
        if not (1 <= depth <= 1 << 16 and 1 <= width <= INT32_MAX) or itemsize not in (4, 8) or reserved:
            raise CorruptSketchError(f"invalid {cls.__name__} shape {depth}x{width} ({itemsize}-byte counters)")
        cls._check_shape(depth, width)
        if depth * width * itemsize > reader.remaining:
            raise CorruptSketchError("sketch payload size does not match its declared shape")
        check_totals(total, abs_total)
        if itemsize == 4 and abs_total > INT32_MAX:
            raise CorruptSketchError("int32 counters with a total absolute weight past 2**31 - 1")
        table = reader.array(np.int32 if itemsize == 4 else np.int64, depth * width).reshape(depth, width)
        out = cls.__new__(cls)
        Sketch.__init__(out, seed)
        out._table = table
        out._row_keys = row_keys(seed, depth)
        out._total = int(total)
        out._abs_total = int(abs_total)
        out._set_flags(flags)
        out._check_rows(*row_sums(table, abs_total))
        return out

    @classmethod
    def _check_shape(cls, depth: int, width: int) -> None:
        """Hook: refuse a shape the class's constructor refuses (CountSketch: even depth)."""

    def _check_rows(self, signed: list[int], absolute: list[int]) -> None:
        """Refuse a table whose rows no stream gives: an update of weight w changes one
        counter per row by ±w, so each row's sum of |counters| is at most the total absolute
        weight (which bounds every counter). Subclasses add what their update rule keeps."""
        if max(absolute) > self._abs_total:
            raise CorruptSketchError(f"{type(self).__name__} counters exceed the total absolute weight")

    def _set_flags(self, flags: int) -> None:
        if flags:
            raise CorruptSketchError(f"unknown flags {flags:#x} for {type(self).__name__}")

    def _describe(self) -> str:
        return f"width={self.width}, depth={self.depth}"


def check_totals(total: int, abs_total: int, *, insertion_only: bool = False) -> None:
    """Refuse stored totals no stream gives: the absolute total fits int64, bounds the signed
    one and has its parity (Σ|w| − Σw = 2·Σ_{w<0}|w|); insertion-only they are equal."""
    if abs_total > INT64_MAX or abs(total) > abs_total or (abs_total - total) % 2:
        raise CorruptSketchError("inconsistent total weights in sketch bytes")
    if insertion_only and total != abs_total:
        raise CorruptSketchError("negative total weight in the bytes of an insertion-only sketch")


def row_sums(table: np.ndarray, bound: int) -> tuple[list[int], list[int]]:
    """Each row's exact sum and sum of absolute values, as Python ints; refuses a counter
    whose magnitude exceeds ``bound`` first (so no absolute value overflows)."""
    if table.size and (int(table.max()) > bound or int(table.min()) < -bound):
        raise CorruptSketchError("a counter exceeds the total absolute weight")
    if table.dtype == np.int32:  # width < 2**31 terms below 2**31: exact in int64
        wide = table.astype(np.int64)
        return wide.sum(axis=1).tolist(), np.abs(wide).sum(axis=1).tolist()
    # int64: sum the high and low 32-bit halves of the magnitudes separately in uint64 (each
    # sum stays below 2**63), then recombine exactly
    mag = np.abs(table).view(np.uint64)
    neg = table < 0

    def split_sum(values: np.ndarray) -> list[int]:
        hi = (values >> np.uint64(32)).sum(axis=1, dtype=np.uint64).tolist()
        lo = (values & np.uint64(0xFFFFFFFF)).sum(axis=1, dtype=np.uint64).tolist()
        return [(h << 32) + q for h, q in zip(hi, lo)]

    absolute = split_sum(mag)
    negative = split_sum(np.where(neg, mag, np.uint64(0)))
    return [a - 2 * n for a, n in zip(absolute, negative)], absolute


def log_inverse(delta: float) -> float:
    return math.log(1.0 / delta)
