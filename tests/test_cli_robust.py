"""``sketchkit topk --robust``: the list published from a RobustTopK (issue #18)."""

from __future__ import annotations

import io
import json
import sys

import pytest

from sketchkit.cli import main


def _run(args, capsys, monkeypatch, stdin=""):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(stdin.encode()))))
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_topk_robust_lists_the_heavy_items(tmp_path, capsys, monkeypatch):
    words = ["alpha"] * 400 + ["beta"] * 300 + ["gamma"] * 200 + [f"w{i}" for i in range(3000)]
    path = tmp_path / "words.txt"
    path.write_text("\n".join(words) + "\n")
    status, out, err = _run(["topk", "--robust", "-k", "3", "--json", "--summary", "--memory", "64KiB", path],
                            capsys, monkeypatch)
    assert status == 0, err
    lines = [json.loads(x) for x in out.splitlines()]
    items = [r["item"] for r in lines if r["type"] == "item"]
    assert items == ["alpha", "beta", "gamma"]
    summary = [r for r in lines if r["type"] == "summary"][0]
    assert summary["sketch"] == "RobustTopK"
    assert "adaptive queries covered" in summary["guarantee"]


@pytest.mark.parametrize("extra", [["--workers", "2"]])
def test_topk_robust_refuses_distributed_runs(tmp_path, capsys, monkeypatch, extra):
    path = tmp_path / "w.txt"
    path.write_text("a\nb\n")
    status, _, err = _run(["topk", "--robust", *extra, path], capsys, monkeypatch)
    assert status == 2 and "--robust" in err
