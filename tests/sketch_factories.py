"""One factory per sketch class: the generic contract suite runs against each of them.

Other modules (robust, learned) append their classes here so the same contract covers them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sketchkit as sk


@dataclass(frozen=True)
class Factory:
    name: str
    make: Callable[..., Any]  # make(seed=...) -> empty sketch
    linear: bool  # merge(sk(A), sk(B)) == sk(A ++ B) exactly
    int_keys_only: bool = False
    signed: bool = False  # accepts negative weights
    other_shape: Callable[..., Any] | None = None  # an incompatible shape, same class


FACTORIES = [
    Factory("CountSketch", lambda seed=7: sk.CountSketch(64, 5, seed=seed), linear=True, signed=True,
            other_shape=lambda seed=7: sk.CountSketch(32, 5, seed=seed)),
    Factory("CountMin", lambda seed=7: sk.CountMin(64, 4, seed=seed), linear=True, signed=True,
            other_shape=lambda seed=7: sk.CountMin(64, 3, seed=seed)),
    Factory("CountMinConservative", lambda seed=7: sk.CountMin(64, 4, seed=seed, conservative=True), linear=False,
            other_shape=lambda seed=7: sk.CountMin(64, 4, seed=seed)),
    Factory("SpaceSaving", lambda seed=7: sk.SpaceSaving(8, seed=seed), linear=False,
            other_shape=lambda seed=7: sk.SpaceSaving(9, seed=seed)),
    Factory("HeavyHitters", lambda seed=7: sk.HeavyHitters(32, 3, 6, seed=seed), linear=False,
            other_shape=lambda seed=7: sk.HeavyHitters(32, 3, 7, seed=seed)),
    Factory("DyadicHeavyHitters",
            lambda seed=7: sk.DyadicHeavyHitters(32, 3, universe_bits=12, level_bits=4, seed=seed),
            linear=True, int_keys_only=True, signed=True,
            other_shape=lambda seed=7: sk.DyadicHeavyHitters(32, 3, universe_bits=16, level_bits=4, seed=seed)),
]
