"""``sketchkit distinct``: per-input and total rows, NDJSON, exact comparison, sketch output."""

from __future__ import annotations

import argparse
import json

import pytest

import sketchkit
from sketchkit import cli
from sketchkit._cli import distinct


def run(argv, capsys):
    """Through ``sketchkit.cli.main`` when the command is registered there, else a parser that
    declares only it (same option helpers)."""
    if "distinct" in cli.build_parser()._subparsers._group_actions[0].choices:
        status = cli.main(argv)
    else:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers(dest="command")
        distinct.add_command(
            lambda n, help: sub.add_parser(n, help=help), cli._add_input_options, cli._add_output_options
        )
        args = parser.parse_args(argv)
        try:
            status = args.func(args)
        except (cli.CLIError, cli.InvalidParameterError) as e:
            print(f"sketchkit: error: {e}", file=__import__("sys").stderr)
            status = 2 if isinstance(e, cli.UsageError) else 1
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.fixture
def files(tmp_path):
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_text("".join(f"{i}\n" for i in range(1, 5001)))
    b.write_text("".join(f"{i}\n" for i in range(3000, 9001)))
    return str(a), str(b)


def test_rows_per_input_and_total_as_ndjson(files, capsys):
    status, out, _ = run(["distinct", *files, "--lines", "--json", "-q", "--exact"], capsys)
    assert status == 0
    recs = [json.loads(line) for line in out.splitlines()]
    assert [r["input"] for r in recs] == [files[0], files[1], "total"]
    assert [r["exact"] for r in recs] == [5000, 6001, 9000]
    for r in recs:
        assert r["type"] == "distinct" and r["lower"] <= r["exact"] <= r["upper"]
        assert abs(r["error"]) <= r["relative_error"]
    assert recs[-1]["estimator"] == "ml" and recs[0]["estimator"] == "martingale"


def test_sketch_file_and_sizing(files, tmp_path, capsys):
    path = str(tmp_path / "t.sk")
    status, out, _ = run(
        ["distinct", *files, "--lines", "--plain", "-q", "--memory", "4KiB", "-o", path, "--total-only"], capsys
    )
    assert status == 0 and len(out.splitlines()) == 1 and out.startswith("total\t")
    with open(path, "rb") as f:
        sk = sketchkit.from_bytes(f.read())
    assert isinstance(sk, sketchkit.Distinct) and sk.nbytes <= 4096
    assert abs(sk.estimate() / 9000 - 1) <= sk.relative_error()


def test_weights_are_refused(files, capsys):
    status, _, err = run(["distinct", files[0], "--field", "1", "--weight-field", "1", "-q"], capsys)
    assert status == 2 and "weight" in err
