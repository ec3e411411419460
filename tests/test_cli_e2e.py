"""End-to-end tests of the ``sketchkit`` command line, each through a real subprocess: stdin,
files, compressed inputs, JSON output parsed back, merging of halves, and every bad input of
issue #3 (exit status, one line on stderr naming the problem, never a traceback)."""

import bz2
import gzip
import io
import json
import lzma
import os
import signal
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

import sketchkit

WORDS = "the quick brown fox jumps over the lazy dog the end fox".split()


def cli(*args, stdin=None, cwd=None, timeout=180):
    return subprocess.run(
        [sys.executable, "-m", "sketchkit.cli", *map(str, args)],
        input=stdin, capture_output=True, cwd=cwd, timeout=timeout,
    )


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def run_inprocess(capsysbinary, monkeypatch):
    """``main(argv)`` in this process (fast): same parser, same error handling as the subprocess."""
    from sketchkit.cli import main

    def run(*args, cwd, stdin=b""):
        monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(stdin))))
        status = main([str(a) for a in args])
        out, err = capsysbinary.readouterr()
        return Result(status, out, err)

    return run


def zipf_text(n_lines=3000, seed=0):
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n_lines):
        ranks = rng.zipf(1.3, size=8)
        lines.append(" ".join(f"w{int(r) % 5000}" for r in ranks))
    return "\n".join(lines) + "\n"


def assert_one_line_error(proc, pattern, status=1):
    err = proc.stderr.decode()
    assert proc.returncode == status, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sketchkit: error: ")
    assert pattern in lines[0], err


def test_topk_from_stdin_as_json_is_exact_when_everything_fits():
    text = " ".join(WORDS) + "\n"
    proc = cli("topk", "-k", "3", "--json", stdin=text.encode())
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    items = [r for r in records if r["type"] == "item"]
    summary = records[-1]
    assert summary["type"] == "summary" and summary["sketch"] == "SpaceSaving"
    assert summary["total_weight"] == len(WORDS)
    assert [(r["item"], r["estimate"], r["lower"], r["upper"]) for r in items[:2]] == [
        ("the", 3, 3, 3), ("fox", 2, 2, 2)]
    assert items[0]["rank"] == 1 and items[0]["share"] == pytest.approx(3 / len(WORDS))


def test_topk_exact_reports_recall_and_bounds(tmp_path, run_inprocess):
    path = tmp_path / "z.txt"
    text = zipf_text()
    path.write_text(text)
    proc = run_inprocess("topk", path, "-k", "10", "--exact", "--memory", "64KiB", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    truth = Counter(text.split())
    for r in records[:-1]:
        assert r["exact"] == truth[r["item"]]
        assert r["lower"] <= r["exact"] <= r["upper"]  # SpaceSaving bounds are deterministic
    summary = records[-1]
    assert summary["recall"] == 1.0 and summary["bounds_hold"] == "10/10"
    assert summary["distinct_items"] == len(truth)


def test_table_output_and_plain(tmp_path, run_inprocess):
    path = tmp_path / "w.txt"
    path.write_text(" ".join(WORDS) + "\n")
    table = run_inprocess("topk", path, "-k", "2", cwd=tmp_path).stdout.decode().splitlines()
    assert table[0].split() == ["rank", "item", "estimate", "lower", "upper", "share"]
    assert table[1].split()[:3] == ["1", "the", "3"]
    plain = run_inprocess("topk", path, "-k", "2", "--plain", cwd=tmp_path).stdout.decode().splitlines()
    assert plain[0].split("\t")[:5] == ["1", "the", "3", "3", "3"]


@pytest.mark.parametrize("kind,through", [("countsketch", "subprocess"), ("countmin", "inprocess")])
def test_merge_of_halves_equals_sketch_of_whole(tmp_path, kind, through, run_inprocess):
    merge = cli if through == "subprocess" else run_inprocess  # builds in-process: subprocesses are slow
    text = zipf_text(2000, seed=1)
    lines = text.splitlines(keepends=True)
    (tmp_path / "a.txt").write_text("".join(lines[:700]))
    (tmp_path / "b.txt").write_text("".join(lines[700:]))
    (tmp_path / "all.txt").write_text(text)
    opts = ["--kind", kind, "--memory", "64KiB", "--seed", "99"]
    for name in ("a", "b", "all"):
        assert run_inprocess("build", f"{name}.txt", "-o", f"{name}.sk", *opts, cwd=tmp_path).returncode == 0
    proc = merge("merge", "a.sk", "b.sk", "-o", "merged.sk", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "merged.sk").read_bytes() == (tmp_path / "all.sk").read_bytes()
    merged = sketchkit.from_bytes((tmp_path / "merged.sk").read_bytes())
    assert merged.seed == 99 and merged.total_weight == len(text.split())


def test_int64_dyadic_merge_of_halves_equals_whole(tmp_path, run_inprocess):
    cli = run_inprocess
    rng = np.random.default_rng(3)
    keys = (rng.zipf(1.4, 20000) % 1000).astype("<i8")
    (tmp_path / "a.bin").write_bytes(keys[:9000].tobytes())
    (tmp_path / "b.bin").write_bytes(keys[9000:].tobytes())
    (tmp_path / "all.bin").write_bytes(keys.tobytes())
    for name in ("a", "b", "all"):
        proc = cli("build", "--int64", f"{name}.bin", "-o", f"{name}.sk", "--kind", "dyadic", "--memory", "256KiB",
                   cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    assert cli("merge", "a.sk", "b.sk", "-o", "m.sk", cwd=tmp_path).returncode == 0
    assert (tmp_path / "m.sk").read_bytes() == (tmp_path / "all.sk").read_bytes()
    top = json.loads(cli("topk", "--int64", "all.bin", "--kind", "dyadic", "-k", "1", "--json",
                         cwd=tmp_path).stdout.decode().splitlines()[0])
    assert top["item"] == int(Counter(keys.tolist()).most_common(1)[0][0])


def test_compressed_inputs_give_the_same_sketch(tmp_path, run_inprocess):
    text = zipf_text(500, seed=2).encode()
    (tmp_path / "t.txt").write_bytes(text)
    (tmp_path / "t.txt.gz").write_bytes(gzip.compress(text))
    (tmp_path / "t.txt.bz2").write_bytes(bz2.compress(text))
    (tmp_path / "t.txt.xz").write_bytes(lzma.compress(text))
    opts = ["--kind", "countmin", "--memory", "32KiB"]
    for name in ("t.txt", "t.txt.gz", "t.txt.bz2", "t.txt.xz"):
        assert run_inprocess("build", name, "-o", name + ".sk", *opts, cwd=tmp_path).returncode == 0
    # gzip on stdin is recognised by its magic bytes (a real pipe: through a subprocess)
    assert cli("build", "-", "-o", "stdin.sk", *opts, stdin=gzip.compress(text), cwd=tmp_path).returncode == 0
    ref = (tmp_path / "t.txt.sk").read_bytes()
    for name in ("t.txt.gz.sk", "t.txt.bz2.sk", "t.txt.xz.sk", "stdin.sk"):
        assert (tmp_path / name).read_bytes() == ref, name


def test_query_and_info(tmp_path, run_inprocess):
    (tmp_path / "w.txt").write_text(" ".join(WORDS) + "\n")
    built = run_inprocess("build", "w.txt", "-o", "w.sk", "--kind", "countmin", "--memory", "16KiB", cwd=tmp_path)
    assert built.returncode == 0
    rows = [json.loads(x) for x in cli("query", "w.sk", "the", "cat", "--json", cwd=tmp_path).stdout.splitlines()]
    assert rows[0] == {"item": "the", "estimate": 3, "lower": 3, "upper": 3}
    assert rows[1]["item"] == "cat" and rows[1]["lower"] == 0
    keys_from_stdin = run_inprocess("query", "w.sk", "--plain", stdin=b"fox\nthe\n", cwd=tmp_path).stdout.decode()
    assert keys_from_stdin.splitlines()[0].split("\t")[:2] == ["fox", "2"]
    info = json.loads(run_inprocess("info", "w.sk", "--json", cwd=tmp_path).stdout)
    assert info["type"] == "CountMin" and info["total_weight"] == len(WORDS) and info["seed"] == 1729
    assert info["serialized_bytes"] == (tmp_path / "w.sk").stat().st_size
    assert "f <= estimate <= f + eps*N" in info["guarantee"] and 0 < info["delta"] < 1
    text = run_inprocess("info", "w.sk", cwd=tmp_path).stdout.decode()
    assert "guarantee" in text and "epsilon" in text


def _bad_inputs(tmp: str):
    good = os.path.join(tmp, "good.txt")
    with open(good, "w") as f:
        f.write("alpha beta alpha\n")
    cm = sketchkit.CountMin(width=64, depth=3, seed=1)
    cm.update_batch(["a", "b"])
    data = cm.to_bytes()
    files = {
        "cm.sk": data,
        "cm_seed2.sk": sketchkit.CountMin(width=64, depth=3, seed=2).to_bytes(),
        "cm_wide.sk": sketchkit.CountMin(width=128, depth=3, seed=1).to_bytes(),
        "cs.sk": sketchkit.CountSketch(width=64, depth=3, seed=1).to_bytes(),
        "truncated.sk": data[:40],
        "corrupt.sk": data[:30] + bytes([data[30] ^ 0xFF]) + data[31:],
        "empty.txt": b"",
        "bad_utf8.txt": b"fine\nbad \xff\xfe here\n",
        "bad.json": b'{"a": 1}\n{oops\n',
        "broken.gz": gzip.compress(b"some text\n" * 100)[:25],
        "ragged.bin": b"\x01" * 12,
    }
    for name, content in files.items():
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(content)
    return [
        (["topk", "missing.txt"], "missing.txt: no such file", 1),
        (["topk", "."], ".: is a directory", 1),
        (["topk", "empty.txt"], "no items", 1),
        (["topk", "bad_utf8.txt", "--errors", "strict"], "bad_utf8.txt: line 2: invalid UTF-8", 1),
        (["topk", "bad.json", "--json-field", "a"], "bad.json: line 2: invalid JSON", 1),
        (["topk", "broken.gz"], "broken.gz: corrupt or truncated compressed data", 1),
        (["topk", "--int64", "ragged.bin"], "4 trailing bytes", 1),
        (["info", "truncated.sk"], "truncated.sk: sketch bytes truncated", 1),
        (["query", "corrupt.sk", "a"], "corrupt.sk: sketch bytes corrupted", 1),
        (["info", "good.txt"], "good.txt: not a sketchkit sketch file", 1),
        (["info", "empty.txt"], "empty.txt: empty file", 1),
        (["merge", "cm.sk", "cm_seed2.sk", "-o", "out.sk"], "different seeds", 1),
        (["merge", "cm.sk", "cs.sk", "-o", "out.sk"], "cannot merge a CountSketch into a CountMin", 1),
        (["merge", "cm.sk", "cm_wide.sk", "-o", "out.sk"], "different shapes", 1),
        (["topk", "--no-such-option", "good.txt"], "unrecognized arguments: --no-such-option", 2),
        (["topk", "good.txt", "--memory", "lots"], "cannot read memory budget", 2),
        (["topk", "good.txt", "--kind", "countmin", "--memory", "8"], "too small", 1),
        (["build", "good.txt", "-o", "no/such/dir/x.sk"], "cannot write", 1),
    ]


def test_every_bad_input_gives_one_line_and_loses_nothing(tmp_path, run_inprocess):
    cases = _bad_inputs(str(tmp_path))
    before = sorted(os.listdir(tmp_path))
    for args, message, status in cases:
        assert_one_line_error(run_inprocess(*args, cwd=tmp_path), message, status)
    # no output file appeared, no temporary file was left behind, inputs untouched
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("case", [0, 11, 14])  # missing file, different seeds, unknown option
def test_bad_input_through_a_subprocess(tmp_path, case):
    args, message, status = _bad_inputs(str(tmp_path))[case]
    assert_one_line_error(cli(*args, cwd=tmp_path), message, status)


@pytest.mark.slow
def test_every_bad_input_through_a_subprocess(tmp_path):
    cases = _bad_inputs(str(tmp_path))
    before = sorted(os.listdir(tmp_path))
    for args, message, status in cases:
        assert_one_line_error(cli(*args, cwd=tmp_path), message, status)
    assert sorted(os.listdir(tmp_path)) == before


def test_invalid_utf8_replaced_by_default_with_a_count(tmp_path, run_inprocess):
    (tmp_path / "bad.txt").write_bytes(b"ok ok\nbad \xff ok\n\xfe\n")
    proc = run_inprocess("topk", "bad.txt", "--plain", cwd=tmp_path)
    assert proc.returncode == 0
    warning = "sketchkit: warning: 2 line(s) had invalid UTF-8 (replaced bad bytes with U+FFFD)"
    assert proc.stderr.decode().strip() == warning
    assert proc.stdout.decode().splitlines()[0].split("\t")[1:3] == ["ok", "3"]
    skipped = run_inprocess("topk", "bad.txt", "--plain", "--errors", "skip", cwd=tmp_path)
    assert skipped.stdout.decode().splitlines()[0].split("\t")[1:3] == ["ok", "2"]


def test_interrupted_build_leaves_no_file(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "sketchkit.cli", "build", "-", "-o", "out.sk", "--kind", "countmin"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
    )
    # 9.6 MB through a 64 KiB pipe: when write returns, the child has read more than two 4 MiB
    # chunks, so it is past start-up and inside the streaming loop, waiting for more input:
    # the signal needs no sleep before it
    proc.stdin.write(b"some words here\n" * 600000)
    proc.stdin.flush()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    proc.stdin.close()
    assert proc.returncode == 130, err
    assert err.decode().strip() == "sketchkit: interrupted"
    assert os.listdir(tmp_path) == []


def _rows(result):
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.decode().splitlines() if '"type": "item"' in line]


def test_input_modes_through_the_command_line(tmp_path, run_inprocess):
    (tmp_path / "s.csv").write_text('name,city,n\nann,"Paris, FR",3\nbob,Oslo,2\ncid,"Paris, FR",4\nshort\n')
    rows = _rows(run_inprocess("topk", "s.csv", "--field", "2", "--weight-field", "3", "--header", "--json",
                               cwd=tmp_path))
    assert [(r["item"], r["estimate"]) for r in rows] == [("Paris, FR", 7), ("Oslo", 2)]
    records = ['{"u": {"id": 5}, "w": 2}', '{"u": {"id": "x"}, "w": 1}', '{"u": {"id": 5}, "w": 1}']
    (tmp_path / "e.ndjson").write_text("\n".join(records) + "\n")
    rows = _rows(run_inprocess("topk", "e.ndjson", "--json-field", "u.id", "--weight-field", "w", "--json",
                               cwd=tmp_path))
    assert [(r["item"], r["estimate"]) for r in rows] == [("5", 3), ("x", 1)]
    (tmp_path / "l.txt").write_text("a b\r\n\na b\nc\n")
    rows = _rows(run_inprocess("topk", "l.txt", "--lines", "--json", cwd=tmp_path))
    assert {r["item"]: r["estimate"] for r in rows} == {"a b": 2, "": 1, "c": 1}
    rows = _rows(run_inprocess("topk", "l.txt", "--pattern", "[a-z] [a-z]", "--json", cwd=tmp_path))
    assert [(r["item"], r["estimate"]) for r in rows] == [("a b", 2)]
    (tmp_path / "k.bin").write_bytes(np.array([7, 7, -3, 7, 2**40], dtype="<i8").tobytes())
    rows = _rows(run_inprocess("topk", "--int64", "k.bin", "--json", cwd=tmp_path))
    assert (rows[0]["item"], rows[0]["estimate"]) == (7, 3)
    built = run_inprocess("build", "--int64", "k.bin", "-o", "k.sk", "--kind", "countsketch", cwd=tmp_path)
    assert built.returncode == 0
    q = run_inprocess("query", "k.sk", "7", "--int64", "--plain", cwd=tmp_path)
    assert q.stdout.decode().split("\t")[:2] == ["7", "3"]


def test_option_conflicts_are_one_line_errors(tmp_path, run_inprocess):
    (tmp_path / "a.txt").write_text("x y\n")
    cases = [
        (["topk", "a.txt", "--lines", "--weight-field", "2"], "--weight-field needs --field or --json-field"),
        (["topk", "a.txt", "--lines", "--pattern", "x"], "--pattern applies to --tokens only"),
        (["topk", "a.txt", "--kind", "spacesaving", "--conservative"], "--conservative applies to --kind countmin"),
        (["topk", "a.txt", "--pattern", "("], "invalid --pattern"),
        (["topk", "a.txt", "--field", "1", "--delimiter", "ab"], "--delimiter must be one character"),
        (["build", "a.txt", "-o", "x.sk", "--oracle", "o", "--kind", "spacesaving"], "--oracle needs --kind"),
        (["topk", "-", "--workers", "2"], "--workers/--scheduler read files, not stdin"),
        (["topk", "a.txt", "--kind", "dyadic"], "--kind dyadic takes integer keys"),
    ]
    for args, message in cases:
        assert_one_line_error(run_inprocess(*args, cwd=tmp_path), message, 1)
    assert_one_line_error(run_inprocess("topk", "a.txt", "--lines", "--int64", cwd=tmp_path), "not allowed with", 2)


@pytest.mark.slow
@pytest.mark.dask
def test_workers_build_equals_local_build(tmp_path):
    pytest.importorskip("distributed")
    (tmp_path / "a.txt").write_text(zipf_text(400, seed=5))
    (tmp_path / "b.txt.gz").write_bytes(gzip.compress(zipf_text(300, seed=6).encode()))
    opts = ["--kind", "countmin", "--memory", "32KiB", "-q"]
    local = cli("build", "a.txt", "b.txt.gz", "-o", "local.sk", *opts, cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    remote = cli("build", "a.txt", "b.txt.gz", "-o", "workers.sk", "--workers", "2", *opts, cwd=tmp_path)
    assert remote.returncode == 0, remote.stderr
    assert (tmp_path / "workers.sk").read_bytes() == (tmp_path / "local.sk").read_bytes()
