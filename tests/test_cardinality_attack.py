"""The Paterson-Raynal attack on Distinct: breaks it when the hash seed is known, not when the
seed is secret (the keyed defence)."""

from __future__ import annotations

import pytest

from sketchkit.cardinality import Distinct
from sketchkit.errors import InvalidParameterError
from sketchkit.hashing import random_seed
from sketchkit.robust.attacks import cardinality_attack


def test_deflation_with_a_known_seed_breaks_the_guarantee():
    d = Distinct(8, seed=1729)
    r = cardinality_attack(d, mode="deflate", inserts=20_000, rng=1)
    assert r.success and r.error_ratio > 5
    assert r.details["true"] == 20_000 and r.details["estimate"] < 2_000
    # the estimate froze: 20,000 more chosen items do not move it
    before = d.estimate()
    r2 = cardinality_attack(d, mode="deflate", inserts=20_000, rng=2)
    assert d.estimate() == before and r2.details["true"] == 20_000


def test_inflation_with_a_known_seed_breaks_the_ml_estimate():
    d = Distinct(8, seed=1729)
    r = cardinality_attack(d, mode="inflate", bits=10, rng=1)
    assert r.details["true"] == 256
    assert r.details["estimate_ml"] > 20 * 256
    assert r.success


@pytest.mark.parametrize("mode", ["deflate", "inflate"])
def test_a_secret_seed_defeats_it(mode):
    d = Distinct(8, seed=random_seed())
    r = cardinality_attack(d, mode=mode, inserts=20_000, bits=10, attacker_seed=1729, rng=1)
    assert not r.success and r.error_ratio <= 1
    assert abs(r.details["estimate_ml"] / r.details["true"] - 1) <= r.details["relative_error_bound"]


def test_bad_mode_is_refused():
    with pytest.raises(InvalidParameterError):
        cardinality_attack(Distinct(8), mode="explode")
