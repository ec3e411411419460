r"""The Cohen–Lyu–Nelson–Sarlós–Shechner–Stemmer attack on the CountSketch median (ICML 2022).

Threat model TM-B-query: vectors are sketched with the same randomness and each is answered
("insert z, query, delete z"); the seed is unknown (the attack works on keyed sketches too).
The signal holds two keys A, B at ``signal`` bucket-noise units
:math:`\sigma = \sqrt{T/w}` (and optionally ``decoys`` keys at ``decoy_signal`` units, as in the
authors' ``sim_1``; the default, no decoys, is their "larger estimate" variant: decoys only
occupy buckets and slow the attack down, 585–1022 instead of 311–457 queries at depth 21). Query t adds a fresh
tail :math:`z^{(t)}` of T never-reused keys with random ±1 weights; the adversary sees only
*which of A, B is reported* (the larger answer; equivalently which one a top-``decoys + 1``
list contains), and sums the tails signed by that bit into an accumulator ``Acc``:
``+z`` if A won, ``−z`` if B won, skipped on a tie. The bit correlates with tail mass in A's and
B's median rows, so ``Acc``'s sketch grows a bias at A (positive) and B (negative) linear in the
number of collected tails while its noise grows as the square root.

**Adapting to a noisy defence.** ``repeats=m``: each tail is queried ``m`` times on the same
sketch state and the answers averaged before the bit is taken, which strips fresh per-answer
noise by √m at m times the queries (every answer counts as a query).
``weighting="margin"``: the tail enters ``Acc`` with weight ``min(6, round(|a − b| / margin_unit))``
instead of 1 (a confident answer counts more; a near tie, mostly noise, is dropped), with
``margin_unit`` about the answers' noise (η·√(T/w) for a noisy median whose η is public, 1 for
the plain median); the score's norm is then :math:`\sqrt{\sum_t k_t^2 T / w}`.

Score (computed by the harness with the sketch's own randomness, never used by the
adversary): :math:`\mathrm{BNR}_A = \operatorname{median}_j X_j(A; \mathrm{Acc}) /
\sqrt{\text{collected}\cdot T/w}`, and likewise for B. **Success**: :math:`\mathrm{BNR}_A \ge 2`
and :math:`\mathrm{BNR}_B \le -2` at once (with threshold :math:`\lVert\mathrm{Acc}\rVert^2/(w/3)`,
BNR ≥ √3 already makes A a reported ℓ₂ heavy hitter of the harmless vector Acc, whose true
count at A is 0). The trajectory is :math:`\min(\mathrm{BNR}_A, -\mathrm{BNR}_B)` per query.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...errors import InvalidParameterError
from ...frequency.countmin import CountMin
from ...frequency.countsketch import CountSketch
from .result import AttackResult

__all__ = ["median_attack", "ATTACK_KEY_START"]

ATTACK_KEY_START = 1 << 40  # tails use keys from here upwards, never reused


def median_attack(
    sketch: CountSketch,
    *,
    estimator: Any = None,
    queries: int = 1000,
    tail: int = 200,
    signal: float = 10.0,
    decoys: int = 0,
    decoy_signal: float = 20.0,
    target_bnr: float = 2.0,
    stop_on_success: bool = True,
    repeats: int = 1,
    weighting: str = "sign",
    margin_unit: float = 1.0,
    rng: Any = None,
) -> AttackResult:
    """Run the attack for at most ``queries`` queries on an empty CountSketch (plain or keyed), or
    any turnstile sketch with ``update_batch``, ``estimate_batch``, ``empty_like`` and ``width``
    (Count-Min is refused: its estimate is a minimum, and negative tails break its bounds).

    ``estimator``: what answers the queries, any object with ``estimate_batch(items)`` reading
    ``sketch`` (default: the sketch itself, i.e. the standard median). ``rng`` seeds the
    attacker's tails. Returns an :class:`AttackResult` whose ``queries`` is the first query at
    which both BNRs passed ``target_bnr`` (or all queries spent), ``error_ratio`` the final
    ``min(BNR_A, −BNR_B) / target_bnr``. ``repeats``: answers averaged per tail (queries counts
    answers, so a run spends at most ``queries`` answers on ``queries // repeats`` tails).
    """
    needed = ("update_batch", "estimate_batch", "empty_like", "is_empty", "width")
    if isinstance(sketch, CountMin) or not all(hasattr(sketch, n) for n in needed):
        raise InvalidParameterError(
            f"median_attack needs a turnstile point-query sketch with {', '.join(needed)} "
            f"(a CountSketch, keyed or not), got {type(sketch).__name__}")
    if not sketch.is_empty():
        raise InvalidParameterError("median_attack needs an empty sketch")
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise InvalidParameterError(f"repeats must be an int >= 1, got {repeats!r}")
    if weighting not in ("sign", "margin") or not (margin_unit > 0):
        raise InvalidParameterError(f"weighting must be 'sign' or 'margin' (margin_unit > 0), got {weighting!r}")
    answer = sketch if estimator is None else estimator
    width = sketch.width
    sigma = math.sqrt(tail / width)
    heavy = np.arange(2 + decoys, dtype=np.int64)  # A = 0, B = 1, then the decoys
    weights = np.array([round(signal * sigma)] * 2 + [round(decoy_signal * sigma)] * decoys, dtype=np.int64)
    sketch.update_batch(heavy, weights)
    ab = heavy[:2]

    gen = np.random.default_rng(rng)
    acc = sketch.empty_like()
    collected = 0
    energy = 0  # Σ k² over collected tails: ‖Acc‖² = energy · T
    next_key = ATTACK_KEY_START
    rounds = max(1, queries // repeats)
    traj = np.full(rounds, np.nan)
    bnr = np.zeros(2)
    broke_at = None
    t = 0
    for t in range(rounds):
        z = np.arange(next_key, next_key + tail, dtype=np.int64)
        next_key += tail
        s = gen.integers(0, 2, size=tail, dtype=np.int64) * 2 - 1
        sketch.update_batch(z, s)
        a = b = 0.0
        for _ in range(repeats):
            ea, eb = answer.estimate_batch(ab)
            a, b = a + float(ea), b + float(eb)
        sketch.update_batch(z, -s)
        k = 1 if weighting == "sign" else min(6, round(abs(a - b) / (repeats * margin_unit)))
        if a != b and k:
            acc.update_batch(z, (s if a > b else -s) * k)
            collected += 1
            energy += k * k
            bnr = _score(acc, sketch, ab) / math.sqrt(energy * tail / width)
        traj[t] = min(bnr[0], -bnr[1])
        if broke_at is None and traj[t] >= target_bnr:
            broke_at = (t + 1) * repeats
            if stop_on_success:
                break
    used = t + 1
    traj = traj[:used]
    details = {"bnr_a": float(bnr[0]), "bnr_b": float(bnr[1]), "collected": collected, "tail": tail,
               "repeats": repeats}
    if collected:
        # Is A an l2 heavy hitter of the harmless Acc (true count 0) at k = width // 3?
        est_a = float(_score(acc, sketch, ab)[0])
        details["a_heavy_in_acc"] = est_a * est_a >= energy * tail / max(1, width // 3)
    return AttackResult(
        attack="CLNSSS median attack" + (f" (averaging {repeats} answers)" if repeats > 1 else "")
        + (" (margin-weighted)" if weighting == "margin" else ""),
        target=repr(answer),
        success=broke_at is not None,
        queries=broke_at if broke_at is not None else used * repeats,
        cost_unit="queries",
        error_ratio=float(traj[-1] / target_bnr) if used else 0.0,
        metric="min(BNR_A, −BNR_B)",
        threshold=target_bnr,
        steps=np.arange(1, used + 1) * repeats,
        trajectory=np.nan_to_num(traj),
        memory_counters=getattr(sketch, "depth", 1) * width,
        details=details,
    )


def _score(acc: Any, sketch: Any, items: np.ndarray) -> np.ndarray:
    """The harness's noise-free median of ``acc`` at ``items``, on the rows that answer the
    attacked sketch's queries (never shown to the adversary, never counted as a query)."""
    plain = getattr(acc, "_plain_estimate", None)
    if plain is not None:
        return plain(items, getattr(sketch, "active_copy", 0))
    return acc.estimate_batch(items).astype(np.float64)
