"""``sketchkit quantiles``: a column of numbers, bad values (fatal or --skip-bad), both sketches,
NDJSON, conventions, sketch output."""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys

import numpy as np
import pytest

import sketchkit
from sketchkit import cli
from sketchkit._cli import quantiles


def run(argv, capsys):
    """Through ``sketchkit.cli.main`` when the command is registered there, else a parser that
    declares only it (same option helpers and error handling)."""
    if "quantiles" in cli.build_parser()._subparsers._group_actions[0].choices:
        status = cli.main(argv)
    else:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers(dest="command")
        quantiles.add_command(lambda n, help: sub.add_parser(n, help=help), cli._add_output_options)
        args = parser.parse_args(argv)
        try:
            status = args.func(args)
        except (cli.CLIError, cli.InvalidParameterError) as e:
            print(f"sketchkit: error: {e}", file=sys.stderr)
            status = 2 if isinstance(e, cli.UsageError) else 1
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    ms = rng.lognormal(3, 1, 20_000)
    lines = [f"GET /a {v:.6f} ok" for v in ms]
    lines[10] = "GET /a - ok"  # unparsable
    lines[20] = "GET /a nan ok"  # not finite
    lines[30] = "short"  # missing column
    path = tmp_path / "log.txt"
    path.write_text("\n".join(lines) + "\n")
    good = np.array([float(f"{v:.6f}") for i, v in enumerate(ms) if i not in (10, 20, 30)])
    return str(path), np.sort(good)


def test_bad_value_is_fatal_and_names_the_line(table, capsys):
    status, out, err = run(["quantiles", table[0], "--field", "3"], capsys)
    assert status == 1 and out == ""
    assert f"{table[0]}:11: '-', not a finite number" in err and "--skip-bad" in err


def test_skip_bad_counts_and_reports(table, capsys):
    path, good = table
    status, out, err = run(["quantiles", path, "--field", "3", "--skip-bad", "--json", "-q", "0.5,0.99,1"], capsys)
    assert status == 0
    recs = [json.loads(line) for line in out.splitlines()]
    summary = recs[-1]
    assert summary["type"] == "summary" and summary["items"] == good.size and summary["bad"] == 3
    assert "skipped 3 value(s)" in err and ":21: 'nan'" in err and ":31: ''" in err
    eps = float(summary["guarantee"].split("±")[1].split()[0])
    assert summary["guarantee"].endswith("with probability 99%")
    for rec in recs[:-1]:
        true = np.searchsorted(good, rec["value"], side="right") / good.size
        assert abs(true - rec["q"]) <= eps + 2 ** 8 / good.size
    assert recs[2]["value"] == good[-1]


def test_ddsketch_value_guarantee_and_gzip(table, tmp_path, capsys):
    path, good = table
    gz = tmp_path / "log.txt.gz"
    with open(path, "rb") as f:
        gz.write_bytes(gzip.compress(f.read()))
    status, out, _ = run(["quantiles", str(gz), "--field", "3", "--skip-bad", "--sketch", "ddsketch", "--plain",
                          "-q", "0.99,0.999"], capsys)
    assert status == 0
    for line in out.splitlines():
        q, v = map(float, line.split("\t"))
        true = good[math.ceil(q * good.size) - 1]
        assert abs(v - true) <= 0.01 * true * 1.0001 + 1e-3  # printed with 4 decimals


def test_whole_lines_delimiter_header_exclusive_and_output(tmp_path, capsys):
    csv = tmp_path / "t.csv"
    csv.write_text("id,value\n" + "".join(f"{i},{i}\n" for i in range(1, 11)))
    sk_path = tmp_path / "q.sk"
    status, out, _ = run(["quantiles", str(csv), "--field", "2", "--delimiter", ",", "--header", "--plain",
                          "-q", "0.5", "-o", str(sk_path)], capsys)
    assert status == 0 and out.strip() == "0.5\t5"
    status, out, _ = run(["quantiles", str(csv), "--field", "2", "--delimiter", ",", "--header", "--plain",
                          "-q", "0.5", "--exclusive"], capsys)
    assert out.strip() == "0.5\t6"
    loaded = sketchkit.from_bytes(sk_path.read_bytes())
    assert isinstance(loaded, sketchkit.KLL) and loaded.total_weight == 10
    plain = tmp_path / "n.txt"
    plain.write_text("3\n1\n2\n")
    status, out, _ = run(["quantiles", str(plain)], capsys)
    assert status == 0 and out.splitlines()[0].split() == ["q", "value"] and "3 values" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-q", "1.5"], "--quantiles"),
        (["-q", "a,b"], "--quantiles"),
        (["--delimiter", ","], "--delimiter needs --field"),
        (["--sketch", "ddsketch", "--alpha", "0.9"], "--alpha"),
    ],
)
def test_usage_errors(tmp_path, capsys, argv, message):
    f = tmp_path / "n.txt"
    f.write_text("1\n")
    status, _, err = run(["quantiles", str(f), *argv], capsys)
    assert status == 2 and message in err


def test_no_numbers_is_an_error(tmp_path, capsys):
    f = tmp_path / "n.txt"
    f.write_text("x\ny\n")
    status, _, err = run(["quantiles", str(f), "--skip-bad"], capsys)
    assert status == 1 and "no numbers" in err


def test_answers_from_a_saved_and_merged_sketch(tmp_path, capsys):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("".join(f"{i}\n" for i in range(1, 1001)))
    b.write_text("".join(f"{i}\n" for i in range(1001, 2001)))
    for f in (a, b):
        status, _, _ = run(["quantiles", str(f), "--sketch", "ddsketch", "-o", str(f) + ".sk", "--plain"], capsys)
        assert status == 0
    merged = sketchkit.from_bytes((tmp_path / "a.txt.sk").read_bytes()) + sketchkit.from_bytes(
        (tmp_path / "b.txt.sk").read_bytes()
    )
    (tmp_path / "m.sk").write_bytes(merged.to_bytes())
    status, out, _ = run(["quantiles", "--sketch-file", str(tmp_path / "m.sk"), "--json", "-q", "0.5"], capsys)
    recs = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and abs(recs[0]["value"] - 1000) <= 10 and recs[1]["items"] == 2000
    assert "within ±1% of the true value" in recs[1]["guarantee"]
    status, _, err = run(["quantiles", str(a), "--sketch-file", str(tmp_path / "m.sk")], capsys)
    assert status == 2 and "not both" in err
