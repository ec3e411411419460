r"""A greedy adaptive attack on F₂ estimation, in the spirit of Hardt & Woodruff (STOC 2013).

Threat model TM-B-stream (turnstile): the estimate is published after every update and the
adversary picks the next update from it. Each step inserts a fresh key with weight +1 and reads
the estimate ``e``; the key is kept if ``e`` rose by at least 1 over the last reading (its
random signs line up with the sketch's current content), otherwise it is deleted again (one
more update) — except that after ``patience`` rejections in a row the key is kept anyway, so
that the stream keeps growing and a defence that freezes its output still has to track it.
True F₂ is the number of kept keys; a linear sketch's estimate grows faster, so
``estimate / F₂`` climbs without bound.

**Success**: ``estimate / F₂ ≥ 2`` (with ``F₂ ≥ min_f2``, so that a coincidence on the first few
keys does not count). For a plain CountSketch ``f2()`` this takes a number of updates roughly
proportional to its number of counters (measured in ``benchmarks/bench_robust.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import InvalidParameterError
from .result import AttackResult

__all__ = ["f2_attack"]

F2_KEY_START = 1 << 41


def f2_attack(
    target: Any,
    *,
    updates: int = 2000,
    patience: int = 20,
    min_f2: int = 16,
    ratio: float = 2.0,
    stop_on_success: bool = True,
    read: Any = None,
) -> AttackResult:
    """Attack anything with ``update(item, weight)`` and an F₂ reading (``target.f2()`` or ``read()``).

    ``updates`` is the budget of stream updates (insertions and deletions). Returns an
    :class:`AttackResult`; ``error_ratio`` is the worst ``|estimate/F₂ − 1|`` seen with
    ``F₂ ≥ min_f2``; ``details`` hold the final estimate, F₂, ``max_ratio`` and the per-step
    ``estimates`` and ``f2s`` arrays.
    """
    read = target.f2 if read is None else read
    if not callable(read):
        raise InvalidParameterError("f2_attack needs a target with f2() or a read() callable")
    key = F2_KEY_START
    kept = 0
    cur = float(read())
    rejected = 0
    steps, traj, ests, f2s = [], [], [], []
    used = 0
    broke_at = None
    worst = 0.0
    max_ratio = 0.0
    while used < updates:
        target.update(key, 1)
        used += 1
        e = float(read())
        if e - cur >= 1.0 or rejected >= patience:
            kept += 1
            cur = e
            rejected = 0
        else:
            target.update(key, -1)
            used += 1
            rejected += 1
            cur = float(read())
        key += 1
        r = cur / kept if kept else 0.0
        steps.append(used)
        traj.append(r)
        ests.append(cur)
        f2s.append(kept)
        if kept >= min_f2:
            worst = max(worst, abs(r - 1.0))
            max_ratio = max(max_ratio, r)
            if broke_at is None and r >= ratio:
                broke_at = used
                if stop_on_success:
                    break
    counters = getattr(target, "memory_counters", None)
    if counters is None and hasattr(target, "width"):
        counters = target.width * target.depth
    return AttackResult(
        attack="greedy adaptive F2",
        target=repr(target),
        success=broke_at is not None,
        queries=broke_at if broke_at is not None else used,
        cost_unit="updates",
        error_ratio=worst,
        metric="estimate / F₂",
        threshold=ratio,
        steps=np.asarray(steps),
        trajectory=np.asarray(traj),
        memory_counters=int(counters or 0),
        details={"estimate": cur, "f2": kept, "max_ratio": max_ratio,
                 "estimates": np.asarray(ests), "f2s": np.asarray(f2s)},
    )
