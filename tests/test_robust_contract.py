"""Keyed sketches beyond the generic contract (which tests/test_contract.py runs on them, as on
every registered family): the same key gives the same bytes in any process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sketchkit.robust import KeyedCountMin, KeyedCountSketch

KEY = bytes(range(16))


@pytest.mark.parametrize("cls", [KeyedCountSketch, KeyedCountMin])
def test_same_key_same_bytes_under_another_hash_salt(cls, tmp_path):
    out = tmp_path / "s.bin"
    code = (f"from sketchkit.robust import {cls.__name__} as C; s = C(64, 3, key=bytes(range(16))); "
            f"s.update_batch([1, 'a', b'zz', -3] * 3); open({str(out)!r}, 'wb').write(s.to_bytes())")
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ, PYTHONHASHSEED="12345"))
    ours = cls(64, 3, key=KEY)
    ours.update_batch([1, "a", b"zz", -3] * 3)
    assert cls.from_bytes(out.read_bytes()) == ours
