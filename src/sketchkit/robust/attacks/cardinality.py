r"""Deflating and inflating a HyperLogLog-family distinct count when the hash is known
(Paterson & Raynal, "HyperLogLog: Exponentially Bad in Adversarial Settings", IEEE EuroS&P 2022,
IACR ePrint 2021/1139; Reviriego, Adell, Ting 2020 for inflation).

Threat model TM-A-offline: the adversary knows the hash function and its seed (sketchkit's item
hash is public, XXH64 keyed by ``derive_key(seed, ITEM_DOMAIN, 0)``; the default seed is 1729)
and chooses which items enter the stream. It hashes candidate items itself and sends only those
whose (register, update value) pair serves it:

* **deflate**: only items whose update value is the smallest (``k = 1`` in
  :class:`~sketchkit.cardinality.Distinct`: one hash in 8). Every register stops at ``u = 1``
  after a few of them, no further item changes the state, and the estimate freezes near
  :math:`m\ln m`-ish while the true count grows without bound: the error is as large as the
  adversary's patience (exponentially bad in the paper's sense: the estimate stays put while the
  true count grows by any factor).
* **inflate**: one item per register with at least ``bits`` leading zeros after the index
  (:math:`2^{bits}` hash evaluations per register): ``m`` distinct items make the registers'
  maximum-likelihood estimate (what any merge of the sketch reports) about :math:`m\,2^{bits}`.
  The martingale estimate of the unmerged sketch rises only to about :math:`m \ln m`: it adds
  :math:`1/\mu` per state change and each crafted item lowers :math:`\mu` by about
  :math:`1/m` at most, so inflating it needs items that hit the few state-changing values left,
  at :math:`2^{bits}` times the cost each (for int items the seeded hash is a bijection,
  ``sketchkit.hashing._unhash_int64``, so an adversary with the seed needs no search at all).

Against a sketch whose seed is secret (:func:`sketchkit.hashing.random_seed`, or a key from
:func:`sketchkit.robust.keyed.new_key` turned into a seed), the adversary's selection is made with
the wrong hash and is an ordinary random sample: the estimate stays within the stated bound.
``tests/test_cardinality_attack.py`` and ``docs/robustness.md`` show both.

**Success**: ``|estimate/true - 1|`` exceeds the sketch's stated ``relative_error(0.01)``
(``error_ratio > 1``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import InvalidParameterError
from ...hashing import ITEM_DOMAIN, _hash_int64, derive_key
from .result import AttackResult

__all__ = ["cardinality_attack"]


def _select(hashes: np.ndarray, p: int, mode: str, bits: int) -> np.ndarray:
    """Mask of the hashes the attacker keeps (the update rule of Distinct's registers)."""
    up = np.uint64(p)
    if mode == "deflate":
        s = (hashes >> (np.uint64(62) - up)) & np.uint64(3)
        top = (hashes >> (np.uint64(61) - up)) & np.uint64(1)
        return (s == 0) & (top == 1)  # no leading zero, lowest sub-bucket: update value 1
    zeros = (hashes >> (np.uint64(62 - bits) - up)) & np.uint64((1 << bits) - 1)
    return zeros == 0


def cardinality_attack(
    target: Any,
    *,
    mode: str = "deflate",
    inserts: int = 100_000,
    bits: int = 12,
    attacker_seed: int | None = None,
    chunk: int = 1 << 18,
    rng: Any = None,
) -> AttackResult:
    """Feed ``target`` (a :class:`~sketchkit.cardinality.Distinct`) items chosen with the hash of
    ``attacker_seed`` (default: the target's own seed, i.e. a known seed).

    ``mode="deflate"`` inserts up to ``inserts`` distinct chosen items; ``mode="inflate"`` one item
    with ``bits`` leading zeros per register. Cost: hash evaluations. ``details`` hold the final
    estimate and true count; ``trajectory`` is ``estimate / true`` after each batch."""
    if mode not in ("deflate", "inflate"):
        raise InvalidParameterError(f"mode must be 'deflate' or 'inflate', got {mode!r}")
    if not 1 <= bits <= 40:
        raise InvalidParameterError(f"bits must be in [1, 40], got {bits}")
    p = int(target.precision)
    m = 1 << p
    seed = target.seed if attacker_seed is None else int(attacker_seed)
    item_seed = np.uint64(derive_key(seed, ITEM_DOMAIN, 0))
    rng = np.random.default_rng(rng)
    start = int(rng.integers(0, 1 << 62))
    want = inserts if mode == "deflate" else m
    taken = np.zeros(m, dtype=bool)
    hashed = 0
    true = 0
    steps, traj = [], []
    while true < want and hashed < 1 << 40:
        cand = np.arange(start, start + chunk, dtype=np.int64)
        start += chunk
        h = _hash_int64(cand, item_seed)
        hashed += chunk
        keep = _select(h, p, mode, bits)
        if mode == "inflate":
            idx = (h >> np.uint64(64 - p)).astype(np.int64)
            keep &= ~taken[idx]
            sel = np.flatnonzero(keep)
            _, first = np.unique(idx[sel], return_index=True)  # one item per fresh register
            sel = sel[first]
            taken[idx[sel]] = True
        else:
            sel = np.flatnonzero(keep)
        chosen = cand[sel][: want - true]
        if chosen.size == 0:
            continue
        target.update_batch(chosen)
        true += int(chosen.size)
        steps.append(true)
        traj.append(target.estimate() / true)
    est = float(target.estimate())
    bound = float(target.relative_error(0.01)) or 1e-12
    err = abs(est / true - 1) if true else 0.0
    return AttackResult(
        attack=f"cardinality-{mode}",
        target=type(target).__name__ + ("" if attacker_seed is None else " (secret seed)"),
        success=err > bound,
        queries=hashed,
        cost_unit="hash evaluations",
        error_ratio=err / bound,
        metric="estimate / true distinct",
        threshold=1.0,
        steps=np.asarray(steps),
        trajectory=np.asarray(traj),
        memory_counters=m,
        details={
            "estimate": est,
            "estimate_ml": float(target.estimate_ml()) if hasattr(target, "estimate_ml") else est,
            "true": true,
            "relative_error_bound": bound,
        },
        step_label="distinct items inserted",
    )
