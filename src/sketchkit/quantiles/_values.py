"""Input checks shared by the quantile sketches: numbers in, float64 out, nothing non-finite."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._base import as_weights
from .._jit import njit
from ..errors import InvalidItemError, InvalidParameterError, ItemTypeError

_EXACT_INT = 1 << 53  # integers above this magnitude have no exact float64


@njit(cache=True, nogil=True)
def _scan(arr):
    """One pass: (index of the first non-finite value or -1, whether a zero occurs, min, max)."""
    lo = np.inf
    hi = -np.inf
    zero = False
    for i in range(arr.shape[0]):
        v = arr[i]
        if not (v - v == 0.0):  # NaN or ±inf
            return i, zero, lo, hi
        zero |= v == 0.0
        lo = min(lo, v)
        hi = max(hi, v)
    return -1, zero, lo, hi


def scan_floats(arr: np.ndarray) -> tuple[np.ndarray, float, float]:
    """A float64 batch checked in one compiled pass: ``(arr with -0.0 as 0.0, min, max)``;
    NaN or ±inf raises :class:`InvalidItemError` naming the first."""
    bad, zero, lo, hi = _scan(arr)
    if bad >= 0:
        raise InvalidItemError(
            f"item {bad} of the batch is {arr[bad]!r}: NaN and ±inf have no rank, so the whole batch was "
            "rejected and the sketch is unchanged (drop or map them first, e.g. x[np.isfinite(x)])"
        )
    if zero:  # store -0.0 as 0.0: one canonical sorted order
        arr = arr + 0.0
    return arr, float(lo), float(hi)


def _reject_nonfinite(arr: np.ndarray) -> None:
    bad = ~np.isfinite(arr)
    i = int(np.argmax(bad))
    raise InvalidItemError(
        f"item {i} of the batch is {arr[i]!r}: NaN and ±inf have no rank, so the whole batch was "
        "rejected and the sketch is unchanged (drop or map them first, e.g. x[np.isfinite(x)])"
    )


def as_values_and_range(values: Any) -> tuple[np.ndarray, float, float]:
    """:func:`as_values` and the batch's minimum and maximum (NaN, NaN when empty), from the
    same compiled pass for float64 arrays."""
    if isinstance(values, np.ndarray) and values.dtype == np.float64 and values.ndim == 1 and values.size > 64:
        return scan_floats(np.ascontiguousarray(values))
    arr = as_values(values)
    if not arr.size:
        return arr, float("nan"), float("nan")
    return arr, float(arr.min()), float(arr.max())


def as_values(values: Any) -> np.ndarray:
    """A batch of numbers as a one-dimensional float64 array, refusing anything that is not a
    finite real number (the whole batch is refused; nothing is changed by the caller)."""
    if isinstance(values, np.ndarray):
        arr = values
    else:
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            try:
                values = list(values)
            except TypeError:
                raise ItemTypeError(
                    f"a batch of numbers must be an array or a sequence, got {type(values).__name__}"
                ) from None
        if len(values) == 0:
            return np.empty(0, dtype=np.float64)
        for v in values:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise ItemTypeError(
                    f"quantile sketches take real numbers (int or float), got {type(v).__name__} {v!r}"
                )
            if isinstance(v, (int, np.integer)) and not -_EXACT_INT <= int(v) <= _EXACT_INT:
                raise InvalidItemError(f"{v} is outside ±2**53 and has no exact float64; convert it explicitly")
        try:
            arr = np.asarray(values)
        except OverflowError:
            raise InvalidItemError("an int in the batch is too large for float64 without rounding") from None
        if arr.dtype == object:  # ints beyond int64 mixed in
            raise InvalidItemError("an int in the batch is outside ±2**53 and has no exact float64")
    if arr.ndim != 1:
        raise InvalidParameterError(f"a batch must be one-dimensional, got shape {arr.shape}")
    kind = arr.dtype.kind
    if kind == "f":
        if arr.dtype.itemsize > 8:
            raise ItemTypeError(f"dtype {arr.dtype} would lose precision as float64")
        out = np.ascontiguousarray(arr, dtype=np.float64)
        if out.size > 64:
            return scan_floats(out)[0]
        if out.size and not np.isfinite(out).all():
            _reject_nonfinite(out)
        if out.size and not np.all(out):  # a zero: store -0.0 as 0.0 (one canonical sorted order)
            out = out + 0.0
        return out
    if kind in "iu":
        if arr.size and (int(arr.max()) > _EXACT_INT or int(arr.min()) < -_EXACT_INT):
            raise InvalidItemError(
                "an int in the batch is outside ±2**53 and has no exact float64; convert it explicitly"
            )
        return np.ascontiguousarray(arr, dtype=np.float64)
    raise ItemTypeError(f"quantile sketches take real numbers, got an array of dtype {arr.dtype}")


def as_value(x: Any) -> float:
    """One number as a finite float (the single-item path of ``update``/``rank``)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise ItemTypeError(f"quantile sketches take real numbers (int or float), got {type(x).__name__} {x!r}")
    if isinstance(x, (int, np.integer)) and not -_EXACT_INT <= int(x) <= _EXACT_INT:
        raise InvalidItemError(f"{x} is outside ±2**53 and has no exact float64; convert it explicitly")
    v = float(x) + 0.0  # -0.0 becomes 0.0
    if v != v or v in (float("inf"), float("-inf")):
        raise InvalidItemError(f"{x!r} has no rank: NaN and ±inf are refused and the sketch is unchanged")
    return v


def nonneg_weights(weights: Any, n: int) -> tuple[np.ndarray | None, int]:
    """Checked weights (None: all ones) and their sum; negative weights are refused."""
    w, total, _abs_total = as_weights(weights, n)
    if w is not None and n and int(w.min()) < 0:
        raise InvalidParameterError("quantile sketches take non-negative integer weights only")
    return w, total


def check_q(q: Any) -> float:
    try:
        v = float(q)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"a quantile's rank must be a number in [0, 1], got {q!r}") from None
    if not 0.0 <= v <= 1.0:
        raise InvalidParameterError(f"a quantile's rank must be in [0, 1], got {q!r}")
    return v


def check_qs(qs: Any) -> np.ndarray:
    arr = np.asarray(qs, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidParameterError(f"ranks must be one-dimensional, got shape {arr.shape}")
    if arr.size and not (np.all(arr >= 0.0) and np.all(arr <= 1.0)):  # also refuses NaN
        raise InvalidParameterError("every rank must be in [0, 1]")
    return arr


def check_splits(splits: Any) -> np.ndarray:
    arr = as_values(splits)
    if arr.size and np.any(np.diff(arr) <= 0):
        raise InvalidParameterError("split points must be strictly increasing")
    return arr
