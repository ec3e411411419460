"""``sketchkit demo``: what it reads, what it prints, where its picture goes."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from sketchkit._cli import demo

LATIN1 = "# -*- coding: latin-1 -*-\nname = 'café café'\n".encode("latin-1")


def test_as_utf8_keeps_utf8_and_decodes_a_declared_encoding():
    assert demo.as_utf8(b"x = 1\n") == b"x = 1\n"
    assert demo.as_utf8("s = 'café'\n".encode()) == "s = 'café'\n".encode()
    assert demo.as_utf8(LATIN1) == LATIN1.decode("latin-1").encode("utf-8")
    assert demo.as_utf8(b"s = '\xff\xfe'\n") is None  # neither UTF-8 nor a declared encoding


def _sources(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("def f(x):\n    return x + x\n" * 50)
    (src / "b.py").write_text("import os\nx = os.path.join('a', 'b')\n" * 30)
    (src / "latin.py").write_bytes(LATIN1 * 200)
    (src / "broken.py").write_bytes(b"bad = '\xff'\n" * 5)
    return src


def _args(src, **kw):
    opts = dict(k=3, kind="spacesaving", memory=64 * 1024, seed=1729, plot=None, no_plot=True, source=str(src))
    opts.update(kw)
    return argparse.Namespace(**opts)


def test_demo_prints_the_comparison_without_warnings(tmp_path, capsys):
    assert demo.run_demo(_args(_sources(tmp_path))) == 0
    out, err = capsys.readouterr()
    assert err == ""  # the demo's own input raises no invalid-UTF-8 warning
    assert ": 3 files," in out  # broken.py is left out, latin.py decoded
    assert "ties at the 3rd exact count" in out
    assert "café" in out and "recall@3: 1.00" in out
    assert out.count(" count ") >= 2 and "exact dict" in out and "read + tokenise + count" in out


@pytest.mark.parametrize("kind", ["countsketch", "heavyhitters"])
def test_demo_runs_every_top_k_kind(tmp_path, capsys, kind):
    assert demo.run_demo(_args(_sources(tmp_path), kind=kind)) == 0
    assert "recall@3: 1.00" in capsys.readouterr().out


def test_the_picture_goes_to_the_user_cache_not_the_working_tree(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    tree = tmp_path / "repo"
    (tree / "docs").mkdir(parents=True)
    cache = tmp_path / "cache"
    env = dict(os.environ, SKETCHKIT_CACHE_DIR=str(cache))
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from sketchkit.cli import main; sys.exit(main())",
         "demo", "-k", "3", "--source", str(_sources(tmp_path))],
        cwd=tree, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    picture = cache / "demo" / "demo_topk.png"
    assert f"plot: {picture}" in done.stdout
    assert picture.read_bytes().startswith(b"\x89PNG")
    assert list(tree.rglob("*")) == [tree / "docs"]  # nothing written under the working directory
