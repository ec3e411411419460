"""The contract every sketch honours, and the input checks they share."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar

import numpy as np

from . import _format
from .errors import (
    CounterOverflowError,
    IncompatibleSketchError,
    InvalidParameterError,
    ItemTypeError,
)
from .hashing import DEFAULT_SEED, ITEM_DOMAIN, _hash_batch, as_item_list, check_seed, derive_key, mapping_batch

INT64_MAX = (1 << 63) - 1
INT32_MAX = (1 << 31) - 1

S = TypeVar("S", bound="Sketch")

_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}


def largest_fitting(lo: int, hi: int, fits: Callable[[int], bool]) -> int:
    """The largest n in [lo, hi] with ``fits(n)``, for a ``fits`` true up to some n and false
    after it (lo when none fits: callers check). Sizes sketches from memory budgets."""
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def parse_memory(budget: int | str) -> int:
    """Bytes in a budget given as an int or a string such as ``"256KiB"``, ``"1MB"``, ``"4096"``."""
    if isinstance(budget, (int, np.integer)) and not isinstance(budget, bool):
        value = int(budget)
    elif isinstance(budget, str):
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", budget)
        if not m or m.group(2).lower() not in _UNITS:
            raise InvalidParameterError(
                f"cannot read memory budget {budget!r}: use e.g. 65536, '64KiB', '1MiB', '1MB'"
            )
        value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    else:
        raise InvalidParameterError(f"memory budget must be an int or a string, got {type(budget).__name__}")
    if value <= 0:
        raise InvalidParameterError(f"memory budget must be positive, got {budget!r}")
    return value


def check_positive_int(name: str, value: Any, maximum: int = (1 << 32) - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidParameterError(f"{name} must be an int, got {type(value).__name__}")
    value = int(value)
    if not 1 <= value <= maximum:
        raise InvalidParameterError(f"{name} must be in [1, {maximum}], got {value}")
    return value


def check_probability(name: str, value: Any, *, open_low: bool = True) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be a number in (0, 1), got {value!r}") from None
    if not (0.0 < v < 1.0):
        raise InvalidParameterError(f"{name} must be in (0, 1), got {value!r}")
    return v


def as_weights(weights: Any, n: int) -> tuple[np.ndarray | None, int, int]:
    """Check a batch's weights: ``(int64 array or None for all ones, signed sum, absolute sum)``."""
    if weights is None:
        return None, n, n
    if isinstance(weights, (int, np.integer)) and not isinstance(weights, bool):
        w = int(weights)
        if abs(w) > INT64_MAX:
            raise CounterOverflowError(f"weight {w} is outside the int64 range")
        arr = np.full(n, w, dtype=np.int64)
        return arr, w * n, abs(w) * n
    arr = np.asarray(weights)
    if arr.size == 0 and not isinstance(weights, np.ndarray):
        arr = arr.astype(np.int64)  # an empty list or tuple: numpy would call it float64
    if arr.dtype == object:
        if not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in arr.ravel()):
            raise ItemTypeError("weights must be integers")
        try:
            arr = arr.astype(np.int64)
        except OverflowError:
            raise CounterOverflowError("a weight is outside the int64 range") from None
    if arr.dtype.kind not in "iu":
        raise ItemTypeError(
            f"weights must be integers, got dtype {arr.dtype} (sketch counters are exact integers)"
        )
    if arr.ndim != 1 or arr.shape[0] != n:
        raise InvalidParameterError(f"weights must be one-dimensional with {n} entries, got shape {arr.shape}")
    if arr.dtype == np.uint64 and n and int(arr.max()) > INT64_MAX:
        raise CounterOverflowError("a weight is outside the int64 range")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if n and int(arr.min()) == -(1 << 63):
        raise CounterOverflowError("weight -2**63 has no positive counterpart in int64")
    # float sums are exact below 2**53; above, fall back to Python ints to stay exact.
    approx = float(np.abs(arr).sum(dtype=np.float64))
    if approx < 2.0**52:
        return arr, int(arr.sum()), int(np.abs(arr).sum())
    return arr, sum(arr.tolist()), sum(abs(x) for x in arr.tolist())


def check_hashes(hashes: Any) -> np.ndarray:
    """A one-dimensional uint64 array of item hashes (what :meth:`Sketch.item_hashes` returns)."""
    arr = np.asarray(hashes)
    if arr.dtype != np.uint64 or arr.ndim != 1:
        raise ItemTypeError(
            f"hashes must be a one-dimensional uint64 array (from item_hashes), got {arr.dtype} of shape {arr.shape}"
        )
    return np.ascontiguousarray(arr)


def format_bytes(n: int) -> str:
    """``n`` bytes as a short human figure: ``'812 B'``, ``'16.0 KiB'``, ``'1.5 MiB'``."""
    if n < 1024:
        return f"{n} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}"
    return f"{n} B"  # unreachable


class Sketch:
    """Base class: identity (family, seed), updates, merging, bytes, pickling, equality.

    What every sketch offers (the contract :func:`sketchkit.testing.check_sketch` verifies):
    ``update``/``update_batch`` (bit-identical to the loop), ``merge`` (also ``+``, ``+=``,
    ``merge_all``) after :meth:`check_mergeable`, ``shape``, ``is_mergeable``, ``to_bytes``/
    ``from_bytes`` and pickle through the same bytes, ``copy``, ``empty_like``, ``is_empty``,
    ``from_error``/``from_memory`` (``from_memory(b).nbytes <= b``), read-only ``seed``,
    ``total_weight`` and ``nbytes`` (the bytes the state really holds).

    A subclass implements the hooks ``_shape``, ``_update_keys``, ``_merge_state``,
    ``_payload``/``_from_payload``, ``empty_like`` and ``nbytes``, and declares the capabilities
    below plus ``_contract_examples`` so the shipped contract check can exercise it.
    """

    _family: ClassVar[int]
    # capabilities, read by sketchkit.testing.check_sketch
    linear: ClassVar[bool] = False  # merge(sk(A), sk(B)) == sk(A ++ B), bit for bit
    turnstile: ClassVar[bool] = False  # accepts negative weights
    weighted: ClassVar[bool] = True  # accepts integer weights other than 1
    item_kind: ClassVar[str] = "any"  # "any" (int, str, bytes), "int" (int keys only), "float"
    hashed_updates: ClassVar[bool] = False  # update_hashed() is supported
    __slots__ = ("_seed", "_item_seed", "_total", "_abs_total", "__weakref__")

    def __init__(self, seed: int = DEFAULT_SEED):
        self._seed = check_seed(seed)
        self._item_seed = np.uint64(derive_key(self._seed, ITEM_DOMAIN, 0))
        self._total = 0
        self._abs_total = 0

    # ------------------------------------------------------------------ identity
    @property
    def seed(self) -> int:
        """The hash seed: part of the sketch's identity, checked on merge."""
        return self._seed

    @property
    def total_weight(self) -> int:
        """Sum of all update weights (signed)."""
        return self._total

    @property
    def total_abs_weight(self) -> int:
        """Sum of the absolute values of all update weights (what bounds every counter)."""
        return self._abs_total

    def is_empty(self) -> bool:
        """True when no update with a non-zero weight was ever applied."""
        return self._abs_total == 0

    @property
    def shape(self) -> tuple:
        """Everything besides the seed that two sketches must share to merge (sizes, modes)."""
        return self._shape()

    def _shape(self) -> tuple:
        raise NotImplementedError

    @classmethod
    def _contract_from_memory(cls, budget: str) -> Sketch:
        """The sketch ``from_memory(budget)`` gives with default options (the contract check's
        memory tests); families whose from_memory needs more arguments override this."""
        return cls.from_memory(budget)  # type: ignore[attr-defined]

    @classmethod
    def _contract_examples(cls, seed: int) -> tuple[Sketch, Sketch]:
        """A small empty instance with ``seed`` and an empty one of an incompatible shape (the
        same seed): what :func:`sketchkit.testing.check_sketch` builds its streams on."""
        raise NotImplementedError

    # ------------------------------------------------------------------ updates
    def update(self, item: Any, weight: int = 1) -> None:
        """Add ``weight`` occurrences of ``item`` (the same as a batch of one)."""
        if isinstance(weight, bool) or not isinstance(weight, (int, np.integer)):
            raise ItemTypeError(f"weight must be an int, got {type(weight).__name__}")
        self.update_batch([item], [weight])

    def update_batch(self, items: Iterable[Any] | np.ndarray, weights: Any = None) -> None:
        """Add a batch of items, bit-identical to calling :meth:`update` on each in order.

        ``items``: a numpy integer array (fast path), or a list of ints, strs or bytes.
        ``weights``: None (all 1), one int, or an integer array of the same length.
        A mapping (``Counter``, ``{item: count}``) adds each key weighted by its int value.
        Validation happens before any state changes: a rejected batch changes nothing.
        """
        items, weights = mapping_batch(items, weights)
        batch = as_item_list(items)
        w, total, abs_total = as_weights(weights, len(batch))
        self._check_weights(w, abs_total)
        if len(batch) == 0:
            return
        # hash first: an unencodable item must fail before anything (even a counter
        # promotion) happens
        keys, raw = self._hash_batch_of(batch)
        self._reserve(abs_total)
        self._update_keys(keys, raw, w, batch)
        self._total += total
        self._abs_total += abs_total

    def _check_weights(self, weights: np.ndarray | None, abs_total: int) -> None:
        """Hook: refuse weights the sketch cannot take (negative ones, say)."""

    def _reserve(self, abs_total: int) -> None:
        """Refuse, before any change, an update that could overflow an int64 counter."""
        if self._abs_total + abs_total > INT64_MAX:
            raise CounterOverflowError(
                f"total absolute weight would reach {self._abs_total + abs_total}, past the int64 "
                "counter range; split the stream across sketches"
            )

    def _update_keys(self, keys: np.ndarray, raw_int: bool, weights: np.ndarray | None, batch: Any) -> None:
        raise NotImplementedError

    def _hash_batch_of(self, batch: list | np.ndarray) -> tuple[np.ndarray, bool]:
        """``(keys, raw)`` for the kernels: raw int64 items (hashed inside the kernel) or item
        hashes. Keyed variants override this one place."""
        if isinstance(batch, np.ndarray):
            return batch, True
        return _hash_batch(batch, self._item_seed), False

    def _keys_of(self, items: Any) -> tuple[np.ndarray, bool]:
        return self._hash_batch_of(as_item_list(items))

    def item_hashes(self, items: Any) -> np.ndarray:
        """The 64-bit item hashes this sketch places ``items`` by (uint64), for
        :meth:`update_hashed`: hash once, feed several sketches of the same seed (or key)."""
        keys, raw = self._keys_of(items)
        return _hash_batch(keys, self._item_seed) if raw else np.ascontiguousarray(keys, dtype=np.uint64)

    def update_hashed(self, hashes: np.ndarray, weights: Any = None) -> None:
        """Add items given by their :meth:`item_hashes` (a uint64 array), exactly as
        ``update_batch(items, weights)`` would. Sketches that must report items back (top-k
        summaries) or place raw integer keys do not take hashes."""
        if not self.hashed_updates:
            raise ItemTypeError(f"{type(self).__name__} needs the items themselves, not their hashes")
        h = check_hashes(hashes)
        w, total, abs_total = as_weights(weights, len(h))
        self._check_weights(w, abs_total)
        if len(h) == 0:
            return
        self._reserve(abs_total)
        self._update_keys(h, False, w, None)
        self._total += total
        self._abs_total += abs_total

    # ------------------------------------------------------------------ merging
    def is_mergeable(self, other: Any) -> bool:
        """True when :meth:`merge` would accept ``other`` (same class, seed and shape, and
        whatever else the class requires, such as the same secret key)."""
        try:
            self.check_mergeable(other)
        except IncompatibleSketchError:
            return False
        return True

    def check_mergeable(self, other: Any) -> None:
        """Raise :class:`~sketchkit.errors.IncompatibleSketchError`, naming both values, unless
        ``other`` can be merged into this sketch."""
        self._check_compatible(other)

    def _check_compatible(self, other: Any) -> None:
        if type(other) is not type(self):
            raise IncompatibleSketchError(
                f"cannot merge a {type(other).__name__} into a {type(self).__name__}"
            )
        if other._seed != self._seed:
            raise IncompatibleSketchError(f"cannot merge sketches with different seeds: {self._seed} and {other._seed}")
        if other._shape() != self._shape():
            raise IncompatibleSketchError(
                f"cannot merge sketches of different shapes: {self._shape()} and {other._shape()}"
            )

    def merge(self: S, other: S) -> S:
        """Fold ``other`` into this sketch in place and return ``self``; ``other`` is untouched.

        Raises :class:`~sketchkit.errors.IncompatibleSketchError` unless both have the same
        class, shape and seed."""
        self.check_mergeable(other)
        if other is self:
            other = other.copy()
        self._reserve(other._abs_total)
        self._merge_state(other)
        self._total += other._total
        self._abs_total += other._abs_total
        return self

    def _merge_state(self, other: Any) -> None:
        raise NotImplementedError

    def __iadd__(self: S, other: S) -> S:
        return self.merge(other)

    def __add__(self: S, other: S) -> S:
        if not isinstance(other, Sketch):
            return NotImplemented
        return self.copy().merge(other)

    @classmethod
    def merge_all(cls: type[S], sketches: Iterable[S]) -> S:
        """Merge an iterable of compatible sketches into a new one (inputs untouched)."""
        it = iter(sketches)
        try:
            first = next(it)
        except StopIteration:
            raise InvalidParameterError("merge_all needs at least one sketch") from None
        if not isinstance(first, cls):
            raise IncompatibleSketchError(f"expected {cls.__name__}, got {type(first).__name__}")
        out = first.copy()
        for s in it:
            out.merge(s)
        return out

    def empty_like(self: S) -> S:
        """A new empty sketch with the same shape and seed (mergeable with this one)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ bytes
    def to_bytes(self) -> bytes:
        """The versioned, checksummed byte form (see :mod:`sketchkit._format`)."""
        flags, payload = self._payload()
        return _format.pack(self._family, self._seed, payload, flags)

    @classmethod
    def from_bytes(cls: type[S], data: bytes | bytearray | memoryview) -> S:
        """Rebuild a sketch written by :meth:`to_bytes`; any defect raises a SerializationError."""
        return _format.load(data, expected=cls)

    def _payload(self) -> tuple[int, bytes]:
        raise NotImplementedError

    @classmethod
    def _from_payload(cls: type[S], seed: int, flags: int, reader: _format.Reader) -> S:
        raise NotImplementedError

    def __reduce__(self) -> tuple:
        return (_format.load, (self.to_bytes(),))

    def copy(self: S) -> S:
        """An independent deep copy."""
        return _format.load(self.to_bytes())

    def __copy__(self: S) -> S:
        return self.copy()

    def __deepcopy__(self: S, memo: dict) -> S:
        return self.copy()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable

    @property
    def nbytes(self) -> int:
        """Memory held by the sketch's state, in bytes."""
        raise NotImplementedError

    def _describe(self) -> str:
        """The parameters shown by ``repr`` (subclasses list theirs)."""
        return ""

    def guarantee(self) -> str:
        """The sketch's guarantee in one line, with its current numbers."""
        return ""

    def __repr__(self) -> str:
        params = self._describe()
        head = f"{type(self).__name__}({params + ', ' if params else ''}seed={self._seed})"
        parts = [f"total_weight={self._total}", f"{format_bytes(self.nbytes)}"]
        g = self.guarantee()
        if g:
            parts.append(g)
        return f"{head} [{'; '.join(parts)}]"
