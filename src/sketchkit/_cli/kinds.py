"""Which sketch each ``--kind`` names, how it is sized from ``--memory``, and how it answers.

``make_sketch`` is a top-level function so that ``functools.partial(make_sketch, ...)`` pickles
for the distributed path. Classes are looked up on the :mod:`sketchkit` package at call time,
so kinds whose class is missing from this installation fail with one clear line.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import sketchkit

from ..errors import InvalidParameterError
from .common import CLIError, UsageError

# kind name -> class name on the sketchkit package
KINDS = {
    "spacesaving": "SpaceSaving",
    "heavyhitters": "HeavyHitters",
    "countsketch": "CountSketch",
    "countmin": "CountMin",
    "dyadic": "DyadicHeavyHitters",
}
LINEAR_KINDS = ("countsketch", "countmin")
DEPTH_KINDS = ("countsketch", "countmin", "heavyhitters", "dyadic")

# How each known class's bound reads; classes added later fall back to their docstring.
DIRECTIONS = {
    "CountMin": "one-sided: f <= estimate <= f + eps*N (right side w.p. >= 1-delta per item; N = total |weight|)",
    "CountSketch": "two-sided: |estimate - f| <= eps*||f||_2 w.p. >= 1-delta per item",
    "SpaceSaving": "deterministic: lower <= f <= upper = estimate for tracked items; "
    "an untracked item has f <= floor <= N/capacity",
    "HeavyHitters": "exact <= f always; lower <= f <= upper w.p. >= 1-2*delta per candidate (CountSketch half-width)",
    "DyadicHeavyHitters": "strict turnstile: lower <= f <= upper w.p. >= 1-2*delta per level (leaf CountSketch bound)",
}


def sketch_class(kind: str) -> Any:
    name = KINDS.get(kind)
    if name is None:
        raise UsageError(f"unknown --kind {kind!r}: choose from {', '.join(KINDS)}")
    cls = getattr(sketchkit, name, None)
    if cls is None:
        raise CLIError(f"--kind {kind} needs sketchkit.{name}, which this installation does not have")
    return cls


def make_sketch(
    kind: str, memory: int, seed: int, depth: int | None = None, conservative: bool = False, k: int | None = None
) -> Any:
    """An empty sketch of ``kind`` using at most ``memory`` bytes of state (``k``: the top-k the
    caller will ask for, which sizes a heavyhitters candidate set). Parameters the class refuses
    (a budget too small, an even CountSketch depth) are a bad command line: :class:`UsageError`."""
    cls = sketch_class(kind)
    opts: dict[str, Any] = {"seed": seed}
    if depth is not None:
        if kind not in DEPTH_KINDS:
            raise UsageError(f"--depth applies to --kind {', '.join(DEPTH_KINDS)} only")
        opts["depth"] = depth
    if conservative:
        if kind != "countmin":
            raise UsageError("--conservative applies to --kind countmin only")
        opts["conservative"] = True
    if kind == "heavyhitters" and k is not None:
        opts["k"] = k
    try:
        return cls.from_memory(memory, **opts)
    except InvalidParameterError as e:
        raise UsageError(f"--kind {kind}: {e}") from None


def estimates(sketch: Any, items: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(estimate, lower, upper) of each item, batched where the class offers it."""
    def batch(name: str) -> np.ndarray:
        fn = getattr(sketch, name + "_batch", None)
        if fn is not None:
            return np.asarray(fn(items), dtype=np.int64)
        one = getattr(sketch, name)
        return np.array([int(one(x)) for x in items], dtype=np.int64)

    return batch("estimate"), batch("lower_bound"), batch("upper_bound")


def top_rows(sketch: Any, k: int, candidates: Any = None) -> list[tuple[Any, int, int, int]]:
    """The k heaviest ``(item, estimate, lower, upper)``, from the sketch's own ``top`` or from
    the candidate set kept beside a linear sketch."""
    if hasattr(sketch, "top"):
        return [(r[0], int(r[1]), int(r[2]), int(r[3])) for r in sketch.top(k)]
    if candidates is None:
        raise CLIError(f"a {type(sketch).__name__} keeps no items: it cannot list its heaviest ones")
    return candidates.top(k)


def number(value: Any) -> str:
    """Floats to 6 significant digits for people; everything else as it is."""
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            return str(value)
        return f"{value:.6g}"
    return str(value)


def describe(sketch: Any) -> list[tuple[str, Any]]:
    """What ``info`` prints: identity, shape, size, weight and the guarantee, via getattr so
    any sketch class prints what it has."""
    cls = type(sketch)
    rows: list[tuple[str, Any]] = [("type", cls.__name__)]
    for attr in ("width", "depth", "capacity", "levels", "conservative", "counter_dtype"):
        value = getattr(sketch, attr, None)
        if value is not None and not callable(value):
            rows.append((attr, value))
    rows += [
        ("seed", sketch.seed),
        ("state bytes", sketch.nbytes),
        ("serialized bytes", len(sketch.to_bytes())),
        ("total weight", sketch.total_weight),
        ("empty", sketch.is_empty()),
    ]
    for attr in ("epsilon", "delta"):
        value = getattr(sketch, attr, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((attr, value))
    bound = getattr(sketch, "error_bound", None)
    if callable(bound):
        try:
            rows.append(("error bound now", bound()))
        except Exception as e:  # noqa: BLE001 - a class added later may need arguments
            rows.append(("error bound now", f"unavailable ({type(e).__name__})"))
    guarantee = getattr(sketch, "guarantee", None)
    if callable(guarantee):
        guarantee = guarantee()
    if not isinstance(guarantee, str):
        guarantee = DIRECTIONS.get(cls.__name__)
    if guarantee is None:
        doc = (cls.__doc__ or "").strip().splitlines()
        guarantee = doc[0] if doc else "not stated by this class"
    rows.append(("guarantee", guarantee))
    return rows
