"""Known-seed collision attack on Count-Min and CountSketch (white-box hash, no feedback).

Threat model TM-W: the attacker knows the library's code and the sketch's seed (the public
default, or read from serialized bytes) and crafts items offline, seeing no answers. For each
attacked row it scans integer keys until one lands in the target's bucket (for CountSketch,
also with the sign it wants): about ``width`` (or ``2 * width``) hash evaluations per row. It
then inserts each collider with a large weight ``F``.

* Count-Min (all ``d`` rows): ``est(t) >= F`` while ``f(t) = 0`` and ``N = d F``: the error is
  ``w / (e d)`` times the guarantee ``(e/w) N``; 150× at ``d = 5, w = 2048``.
* CountSketch (a majority ``(d+1)/2`` of rows suffices to move the median): inflation gives
  ``est(t) ≈ F`` with ``||f||_2 ≈ F sqrt((d+1)/2)``; deflation cancels a key of weight ``F``.
  At ``d = 5, w = 2048`` the error is 11–13× the guarantee ``(2/sqrt w) ||f||_2``.

Against :class:`~sketchkit.robust.KeyedCountMin` / :class:`~sketchkit.robust.KeyedCountSketch`
the attacker cannot evaluate the hash: colliders computed from the public description land at
random and the guarantee holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import InvalidParameterError
from ...frequency.countmin import CountMin
from ...frequency.countsketch import CountSketch
from ...hashing import hash_items, row_keys
from .result import AttackResult

__all__ = ["public_placement", "find_colliders", "collision_attack"]

_CHUNK = 1 << 14


def public_placement(seed: int, depth: int, width: int, items: Any) -> tuple[np.ndarray, np.ndarray]:
    """Buckets and signs, shape (n, depth), that the public hash spec gives ``items`` under ``seed``.

    This is exactly what an attacker who knows the code and the seed can compute (hashing spec,
    item 4); it is the placement of a plain sketch, not of a keyed one.
    """
    h = hash_items(items, seed)
    rk = row_keys(seed, depth)
    v = h[:, None] * rk[None, :, 0] + rk[None, :, 1]  # uint64 arithmetic wraps modulo 2**64
    buckets = ((v >> np.uint64(32)) * np.uint64(width)) >> np.uint64(32)
    signs = np.where((v & np.uint64(1 << 31)) != 0, 1, -1)
    return buckets.astype(np.int64), signs.astype(np.int64)


def find_colliders(
    seed: int,
    depth: int,
    width: int,
    target: Any,
    *,
    rows: Any = None,
    sign: int | None = None,
    start: int = 1 << 40,
    max_calls: int | None = None,
) -> tuple[list[int], int]:
    """One integer key per row in ``rows`` that shares the target's bucket in that row.

    ``sign``: None (any sign, Count-Min), +1 (same sign as the target: inflates it) or -1
    (opposite sign: cancels it). Keys are scanned upwards from ``start``. Returns
    ``(colliders, hash_calls)``; raises :class:`InvalidParameterError` past ``max_calls``
    (default ``20 * depth * width``).
    """
    rows = list(range(depth)) if rows is None else [int(r) for r in rows]
    max_calls = 20 * depth * width if max_calls is None else max_calls
    tb, ts = public_placement(seed, depth, width, [target])
    found: dict[int, int] = {}
    calls = 0
    base = start
    while len(found) < len(rows):
        cand = np.arange(base, base + _CHUNK, dtype=np.int64)
        b, s = public_placement(seed, depth, width, cand)
        last = -1
        for r in rows:
            if r in found:
                continue
            ok = b[:, r] == tb[0, r]
            if sign is not None:
                ok &= s[:, r] == sign * ts[0, r]
            hits = np.flatnonzero(ok)
            if hits.size and int(cand[hits[0]]) not in found.values():
                found[r] = int(cand[hits[0]])
                last = max(last, int(hits[0]))
        calls += _CHUNK if len(found) < len(rows) else last + 1
        base += _CHUNK
        if calls > max_calls:
            raise InvalidParameterError(f"no colliders for rows {sorted(set(rows) - set(found))} in {max_calls} calls")
    return [found[r] for r in rows], calls


def collision_attack(
    sketch: Any,
    target: int = 7,
    *,
    weight: int = 10_000,
    mode: str = "inflate",
    background: int = 20_000,
    colliders: list[int] | None = None,
    rng: Any = None,
) -> AttackResult:
    """Run the known-seed collision attack on an empty Count-Min or CountSketch (plain or keyed).

    Inserts ``background`` unit-weight random keys, then (``mode="deflate"``, CountSketch
    only) the target with ``weight``, then each collider with ``weight``. ``colliders``
    default to those the public spec gives for the sketch's seed; pass the colliders found
    for a plain sketch to show that they miss a keyed one. Success: error ≥ 10 × guarantee,
    the guarantee being ``(e/w) ||f||_1`` (Count-Min) or ``(2/sqrt w) ||f||_2`` (CountSketch),
    with ``f`` the exact counts.
    """
    if isinstance(sketch, CountMin):
        signed, guarantee_name = False, "(e/w)·‖f‖₁"
    elif isinstance(sketch, CountSketch):
        signed, guarantee_name = True, "(2/√w)·‖f‖₂"
    else:
        raise InvalidParameterError(f"collision_attack needs a CountMin or CountSketch, got {type(sketch).__name__}")
    if mode not in ("inflate", "deflate") or (mode == "deflate" and not signed):
        raise InvalidParameterError(f"mode must be 'inflate' (or 'deflate' for CountSketch), got {mode!r}")
    if not sketch.is_empty():
        raise InvalidParameterError("collision_attack needs an empty sketch (it tracks the exact counts)")
    depth, width = sketch.depth, sketch.width
    calls = 0
    if colliders is None:
        rows = range(depth) if not signed else range((depth + 1) // 2)
        sign = None if not signed else (1 if mode == "inflate" else -1)
        colliders, calls = find_colliders(sketch.seed, depth, width, target, rows=rows, sign=sign)

    gen = np.random.default_rng(rng)
    bg = np.unique(gen.integers(1 << 50, 1 << 60, size=background, dtype=np.int64))
    exact: dict[int, int] = dict.fromkeys(bg.tolist(), 1)
    sketch.update_batch(bg)
    if mode == "deflate":
        sketch.update(target, weight)
        exact[target] = exact.get(target, 0) + weight

    def ratio() -> float:
        counts = np.fromiter(exact.values(), dtype=np.float64, count=len(exact))
        bound = sketch.epsilon * (np.abs(counts).sum() if not signed else np.sqrt((counts**2).sum()))
        return abs(sketch.estimate(target) - exact.get(target, 0)) / bound

    trajectory = [ratio()]
    for c in colliders:
        sketch.update(c, weight)
        exact[c] = exact.get(c, 0) + weight
        trajectory.append(ratio())
    final = trajectory[-1]
    return AttackResult(
        attack=f"known-seed collisions ({mode})",
        target=repr(sketch),
        success=final >= 10.0,
        queries=calls,
        cost_unit="hash calls (offline)",
        error_ratio=final,
        metric=f"|error| / {guarantee_name}",
        threshold=10.0,
        steps=np.arange(len(trajectory)),
        trajectory=np.asarray(trajectory),
        memory_counters=depth * width,
        details={"colliders": list(colliders), "estimate": sketch.estimate(target), "true": exact.get(target, 0)},
        step_label="colliders inserted",
    )
