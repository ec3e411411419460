"""The generic sketch contract (tests/test_contract.py) run against the keyed sketches.

The contract's own test functions are reused as they are; only the factories are ours. The
subprocess test (hashes independent of PYTHONHASHSEED) looks factories up by name in
sketch_factories, so it is replaced by the equivalent check below.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import test_contract as contract
from sketch_factories import Factory
from sketchkit.robust import KeyedCountMin, KeyedCountSketch

KEY = bytes(range(16))
KEYED = [
    Factory("KeyedCountSketch", lambda seed=7: KeyedCountSketch(64, 5, seed=seed, key=KEY), linear=True, signed=True,
            other_shape=lambda seed=7: KeyedCountSketch(32, 5, seed=seed, key=KEY)),
    Factory("KeyedCountMin", lambda seed=7: KeyedCountMin(64, 4, seed=seed, key=KEY), linear=True, signed=True,
            other_shape=lambda seed=7: KeyedCountMin(64, 3, seed=seed, key=KEY)),
]
SKIP = {"test_built_in_one_process_identical_in_another"}
CONTRACT = sorted(n for n in dir(contract) if n.startswith("test_") and n not in SKIP)


@pytest.mark.parametrize("name", CONTRACT)
@pytest.mark.parametrize("f", KEYED, ids=[f.name for f in KEYED])
def test_keyed_sketches_honour_the_contract(f, name):
    getattr(contract, name)(f=f)


@pytest.mark.parametrize("cls", [KeyedCountSketch, KeyedCountMin])
def test_same_key_same_bytes_under_another_hash_salt(cls, tmp_path):
    out = tmp_path / "s.bin"
    code = (f"from sketchkit.robust import {cls.__name__} as C; s = C(64, 3, key=bytes(range(16))); "
            f"s.update_batch([1, 'a', b'zz', -3] * 3); open({str(out)!r}, 'wb').write(s.to_bytes())")
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ, PYTHONHASHSEED="12345"))
    ours = cls(64, 3, key=KEY)
    ours.update_batch([1, "a", b"zz", -3] * 3)
    assert cls.from_bytes(out.read_bytes()) == ours
