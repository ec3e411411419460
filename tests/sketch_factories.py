"""The frequency sketches the hypothesis-driven contract tests (tests/test_contract.py) run on.

Derived from the byte-format registry and each class's ``_contract_examples``, never from a list
of names: a newly registered frequency sketch is covered as soon as it declares its examples.
(Every registered family, frequency or not, also runs the shipped ``sketchkit.testing`` checks.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sketchkit.frequency import FrequencySketch
from sketchkit.testing import registered_sketch_classes


@dataclass(frozen=True)
class Factory:
    name: str
    make: Callable[..., Any]  # make(seed=...) -> empty sketch
    linear: bool  # merge(sk(A), sk(B)) == sk(A ++ B) exactly
    int_keys_only: bool = False
    signed: bool = False  # accepts negative weights
    other_shape: Callable[..., Any] | None = None  # an incompatible shape, same class


def _pairs(cls: type, seed: int) -> list:
    pairs = cls._contract_examples(seed)
    return pairs if isinstance(pairs, list) else [pairs]


def _factories() -> list[Factory]:
    out = []
    for cls in registered_sketch_classes():
        if not issubclass(cls, FrequencySketch):
            continue
        try:
            pairs = _pairs(cls, 7)
        except NotImplementedError:  # test_contract checks that every class declares examples
            continue
        for k, (ex, _) in enumerate(pairs):
            name = cls.__name__ if len(pairs) == 1 else f"{cls.__name__}[{k}]"
            out.append(Factory(
                name,
                make=lambda seed=7, cls=cls, k=k: _pairs(cls, seed)[k][0],
                linear=ex.linear,
                int_keys_only=ex.item_kind == "int",
                signed=ex.turnstile,
                other_shape=lambda seed=7, cls=cls, k=k: _pairs(cls, seed)[k][1],
            ))
    return out


FACTORIES = _factories()
