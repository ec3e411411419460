r"""The attack on a public top-k ("trending") list: the Cohen et al. (ICML 2022) attack run
through the list alone, on insertion-only windows.

The list is recomputed for each window of the stream with the same sketch randomness (a
fresh window sketch with the same seed or key). Each window holds ``k − 1`` decoys at
``decoy_signal`` and two items A, B at ``signal`` bucket-noise units
:math:`\sigma = \sqrt{T/w}`, plus a fresh tail of T never-reused keys counted once each,
chosen by the adversary. The adversary sees only the list; when A is listed and B is not, it
keeps that window's tail. The kept tails correlate with the rows that decide A's place, so the
window made of them alone — A's true count 0 — is biased at A linearly in the number kept,
its noise only as the square root.

**Success** (a light item reported heavy): :math:`\mathrm{BNR}_A \ge` ``target_bnr`` (2),
with :math:`\mathrm{BNR}_A` the plain median of the kept tails' sketch at A over
:math:`\sqrt{\text{kept}\cdot T/w}`, scored by the harness on the rows that answer the list
(``score_sketch``: the list's own randomness, never shown to the adversary). At BNR ≥ √3,
A is an ℓ₂ heavy hitter of that window at k = w/3 for any median-based list (and it displaces
a listed heavy item). Rounds are lists seen.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ...errors import InvalidParameterError
from .result import AttackResult

__all__ = ["topk_attack", "TOPK_KEY_START"]

TOPK_KEY_START = 1 << 42


def topk_attack(
    new_window: Callable[[], Any],
    score_sketch: Any,
    *,
    k: int = 10,
    rounds: int = 2000,
    tail: int = 200,
    signal: float = 10.0,
    decoy_signal: float = 20.0,
    target_bnr: float = 2.0,
    rng: Any = None,
) -> AttackResult:
    """Attack a top-k list. ``new_window()`` returns an empty window (``update_batch(items,
    weights)`` and ``top(k)`` giving rows whose first field is the item);
    ``score_sketch`` is an empty sketch placing items as the windows do (the same seed, or the
    robust sketch itself), used only to score. ``rng`` seeds the tails' order."""
    if not hasattr(score_sketch, "empty_like") or not hasattr(score_sketch, "width"):
        raise InvalidParameterError("topk_attack needs a score_sketch with empty_like() and width")
    if k < 2:
        raise InvalidParameterError(f"k must be at least 2 (A or B takes the last place), got {k}")
    width = score_sketch.width
    sigma = math.sqrt(tail / width)
    signal_keys = np.arange(k + 1, dtype=np.int64)  # A = 0, B = 1, decoys 2..k
    weights = np.array([round(signal * sigma)] * 2 + [round(decoy_signal * sigma)] * (k - 1), dtype=np.int64)
    gen = np.random.default_rng(rng)
    acc = score_sketch.empty_like()
    kept = 0
    next_key = TOPK_KEY_START
    traj = np.zeros(rounds)
    broke_at = None
    bnr = 0.0
    t = 0
    for t in range(rounds):
        z = np.arange(next_key, next_key + tail, dtype=np.int64)
        next_key += tail
        w = new_window()
        w.update_batch(z[gen.permutation(tail)])
        w.update_batch(signal_keys, weights)
        listed = {row[0] for row in w.top(k)}
        if 0 in listed and 1 not in listed:
            acc.update_batch(z)
            kept += 1
            bnr = float(_score(acc, score_sketch)) / math.sqrt(kept * tail / width)
        traj[t] = bnr
        if bnr >= target_bnr:
            broke_at = t + 1
            break
    used = t + 1
    return AttackResult(
        attack="top-k list attack (insertion-only windows)",
        target=repr(score_sketch),
        success=broke_at is not None,
        queries=broke_at if broke_at is not None else used,
        cost_unit="lists seen",
        error_ratio=bnr / target_bnr,
        metric="BNR_A of the kept tails",
        threshold=target_bnr,
        steps=np.arange(1, used + 1),
        trajectory=traj[:used],
        memory_counters=getattr(score_sketch, "rows", getattr(score_sketch, "depth", 1)) * width,
        details={"kept": kept, "bnr_a": bnr, "tail": tail, "k": k},
        step_label="lists seen (windows)",
    )


def _score(acc: Any, sketch: Any) -> float:
    item = np.zeros(1, dtype=np.int64)
    plain = getattr(acc, "_plain_estimate", None)
    if plain is not None:
        return float(plain(item, getattr(sketch, "active_copy", 0))[0])
    return float(acc.estimate_batch(item)[0])
