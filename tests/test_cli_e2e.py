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
import time
from collections import Counter

import numpy as np
import pytest

import sketchkit

WORDS = "the quick brown fox jumps over the lazy dog the end fox".split()


SKETCHKIT = [sys.executable, "-m", "sketchkit"]


def _sigint_default():
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a child of a job that ignores Ctrl-C would inherit that


def cli(*args, stdin=None, cwd=None, timeout=180):
    return subprocess.run(
        [*SKETCHKIT, *map(str, args)], input=stdin, capture_output=True, cwd=cwd, timeout=timeout,
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


def messages(err: bytes) -> list[str]:
    """stderr's lines, less the one-time notice that numba is compiling (a cold cache)."""
    return [x for x in err.decode().splitlines() if not x.startswith("sketchkit: compiling kernels")]


def assert_one_line_error(proc, pattern, status=1):
    err = proc.stderr.decode()
    assert proc.returncode == status, err
    assert "Traceback" not in err
    lines = messages(proc.stderr)
    assert len(lines) == 1, err
    assert lines[0].startswith("sketchkit: error: ")
    assert pattern in lines[0], err


def test_topk_from_stdin_as_json_is_exact_when_everything_fits():
    text = " ".join(WORDS) + "\n"
    proc = cli("topk", "-k", "3", "--json", "--summary", stdin=text.encode())
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
    proc = run_inprocess("topk", path, "-k", "10", "--exact", "--memory", "64KiB", "--json", "--summary", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    truth = Counter(text.split())
    for r in records[:-1]:
        assert r["exact"] == truth[r["item"]]
        assert r["lower"] <= r["exact"] <= r["upper"]  # SpaceSaving bounds are deterministic
    summary = records[-1]
    assert summary["recall"] == 1.0 and summary["bounds_held"] == summary["rows"] == 10
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
    sketch = sketchkit.from_bytes((tmp_path / "w.sk").read_bytes())
    assert info["guarantee"] == sketch.guarantee() and 0 < info["delta"] < 1
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
        (["topk", "good.txt", "--kind", "countmin", "--memory", "8"], "too small", 2),
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
        preexec_fn=_sigint_default,
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
    cases = [  # each is a bad command line: status 2, and the command's own --help named
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
        proc = run_inprocess(*args, cwd=tmp_path)
        assert_one_line_error(proc, message, 2)
        assert f"(see 'sketchkit {args[0]} --help')" in proc.stderr.decode()
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


# ----------------------------------------------------------------------------- issue #13: a Unix citizen
def many_words(n_distinct=6000, repeat=2):
    return " ".join(f"w{i}" for i in range(n_distinct) for _ in range(repeat)) + "\n"


def test_closed_stdout_ends_quietly_with_141(tmp_path):
    (tmp_path / "big.txt").write_text(many_words())
    proc = subprocess.Popen([*SKETCHKIT, "topk", "big.txt", "-k", "5000", "--plain"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()  # `| head -1`: 5000 rows are far more than a pipe buffer holds
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, err
    assert first.split(b"\t")[0] == b"1" and messages(err) == []


def test_ctrl_c_while_importing_exits_130_without_a_traceback(tmp_path):
    # PYTHONPROFILEIMPORTTIME reports each import on stderr as it completes: Ctrl-C goes in right
    # after numpy's first module is reported, i.e. in the middle of the start-up imports
    env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1")
    proc = subprocess.Popen([*SKETCHKIT, "topk", "--lines"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=tmp_path, preexec_fn=_sigint_default)
    while True:
        line = proc.stderr.readline()
        if not line or b"numpy" in line:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    lines = [x for x in messages(err) if not x.startswith("import time:")]
    assert proc.returncode == 130, lines
    assert lines == ["sketchkit: interrupted"] and out == b""


def test_ctrl_c_while_reading_stdin_exits_130(tmp_path):
    proc = subprocess.Popen([*SKETCHKIT, "topk", "--lines"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path, preexec_fn=_sigint_default)
    proc.stdin.write(b"a line\n")
    proc.stdin.flush()
    # once the command has answered --version-like work it is past its imports: wait for it to read
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _reads_stdin(proc.pid):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and messages(err) == ["sketchkit: interrupted"] and out == b""


def _reads_stdin(pid):
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return "pipe" in f.read()  # blocked reading a pipe
    except OSError:
        return False


def test_python_dash_m_sketchkit_and_cli_are_the_same_program():
    for module in ("sketchkit", "sketchkit.cli"):
        proc = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, timeout=60)
        assert proc.returncode == 0 and proc.stdout.decode().strip() == f"sketchkit {sketchkit.__version__}"


def test_options_and_operands_in_any_order(tmp_path, run_inprocess):
    (tmp_path / "k.bin").write_bytes(np.array([5, 5, 7], dtype="<i8").tobytes())
    assert run_inprocess("build", "--int64", "k.bin", "-o", "k.sk", "--kind", "countmin", cwd=tmp_path).returncode == 0
    expected = ["5\t2\t2\t2", "7\t1\t1\t1"]
    for order in (["k.sk", "--int64", "5", "7", "--plain"], ["k.sk", "5", "--int64", "7", "--plain"],
                  ["--plain", "k.sk", "5", "7", "--int64"]):
        proc = run_inprocess("query", *order, cwd=tmp_path)
        assert proc.returncode == 0, (order, proc.stderr)
        assert proc.stdout.decode().splitlines() == expected, order
    (tmp_path / "a.txt").write_text("x y\n")
    (tmp_path / "b.txt").write_text("y\n")
    rows = _rows(run_inprocess("topk", "a.txt", "--json", "b.txt", "-k", "1", cwd=tmp_path))
    assert (rows[0]["item"], rows[0]["estimate"]) == ("y", 2)


@pytest.mark.parametrize("args,message", [
    (["--memory", "1B"], "too small"),
    (["--kind", "countsketch", "--depth", "4"], "depth must be odd"),
    (["--kind", "spacesaving", "--depth", "3"], "--depth applies to"),
    (["--no-such-option"], "unrecognized arguments: --no-such-option"),
    (["--every", "soon"], "argument --every"),
    (["--field", "city"], "--field/--weight-field NAME needs --header"),
    (["--normalize", "NFX"], "argument --normalize"),
])
def test_bad_parameters_exit_2_and_point_to_the_command_help(tmp_path, run_inprocess, args, message):
    (tmp_path / "a.txt").write_text("x y\n")
    proc = run_inprocess("topk", "a.txt", *args, cwd=tmp_path)
    assert_one_line_error(proc, message, 2)
    assert proc.stderr.decode().rstrip().endswith("(see 'sketchkit topk --help')")


def test_bad_parameter_through_the_installed_command(tmp_path):
    (tmp_path / "a.txt").write_text("x y\n")
    assert_one_line_error(cli("topk", "a.txt", "--memory", "1B", cwd=tmp_path), "too small", 2)


def test_json_rows_are_items_only_and_the_summary_holds_numbers(tmp_path, run_inprocess):
    (tmp_path / "z.txt").write_text(zipf_text(500))
    plain_json = run_inprocess("topk", "z.txt", "-k", "5", "--json", "--exact", cwd=tmp_path)
    lines = [json.loads(x) for x in plain_json.stdout.decode().splitlines()]
    assert len(lines) == 5 and all("item" in r for r in lines)  # `| jq .item` prints no null
    with_summary = run_inprocess("topk", "z.txt", "-k", "5", "--json", "--exact", "--summary", cwd=tmp_path)
    *rows, summary = [json.loads(x) for x in with_summary.stdout.decode().splitlines()]
    assert rows == lines and summary["type"] == "summary"
    numbers = {k: v for k, v in summary.items() if k not in ("type", "sketch", "guarantee")}
    assert numbers and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers.values())
    assert summary["bounds_held"] == summary["rows"] == 5 and 0 <= summary["recall"] <= 1
    plain = run_inprocess("topk", "z.txt", "-k", "5", "--plain", "--summary", cwd=tmp_path)
    assert len(plain.stdout.decode().splitlines()) == 5  # the summary went to stderr
    assert "sketchkit: total_weight: " in plain.stderr.decode()


def test_help_shows_groups_examples_and_exit_status():
    from sketchkit.cli import build_parser

    parser = build_parser()
    top = parser.format_help()
    assert "examples:" in top and "exit status:" in top
    assert all(f"\n  {code} " in top for code in (0, 1, 2, 130, 141))
    sub = parser._subparsers._group_actions[0].choices
    topk = sub["topk"].format_help()
    general = topk.split("options:")[1].split("\n\n")[0]
    assert "--lines" not in general and "--json" not in general and "--memory" not in general
    item_group = topk.split("what an item is")[1].split("\n\n")[0]
    assert all(opt in item_group for opt in ("--lines", "--field", "--json-field", "--int64", "--ignore-case"))
    for name, command in sub.items():
        text = command.format_help()
        assert "examples:" in text and "exit status:" in text, name
        assert f"usage: sketchkit {name}" in text


def test_help_through_the_command():
    proc = cli("topk", "--help")
    assert proc.returncode == 0 and b"exit status:" in proc.stdout and proc.stderr == b""


def test_a_budget_too_small_for_k_warns_and_names_one_that_answers(tmp_path, run_inprocess):
    (tmp_path / "z.txt").write_text(zipf_text(3000))
    small = run_inprocess("topk", "z.txt", "--memory", "1KiB", "-k", "50", "--plain", cwd=tmp_path)
    assert small.returncode == 0
    rows = small.stdout.decode().splitlines()
    assert len(rows) < 50
    warning = small.stderr.decode().strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("sketchkit: warning: --memory 1KiB holds")
    suggested = warning[0].split("try --memory ")[1].split()[0]
    enough = run_inprocess("topk", "z.txt", "--memory", suggested, "-k", "50", "--plain", cwd=tmp_path)
    assert len(enough.stdout.decode().splitlines()) == 50
    assert "holds" not in enough.stderr.decode()  # the budget named now lists k items
    # a budget that answers k: no warning at all
    fits = run_inprocess("topk", "z.txt", "-k", "10", "--plain", cwd=tmp_path)
    assert fits.returncode == 0 and fits.stderr == b""


def test_loose_bounds_warn(tmp_path, run_inprocess):
    # 300 distinct items twice each through 60 counters: every row's bounds are wider than its count
    (tmp_path / "flat.txt").write_text(many_words(300, 2))
    proc = run_inprocess("topk", "flat.txt", "--memory", "2KiB", "-k", "5", "--plain", cwd=tmp_path)
    assert proc.returncode == 0 and "leaves bounds up to" in proc.stderr.decode()


def test_binary_input_is_refused_unless_binary(tmp_path, run_inprocess):
    (tmp_path / "prog").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00 some text\nmore text\n")
    proc = run_inprocess("topk", "prog", cwd=tmp_path)
    assert_one_line_error(proc, "prog: binary file (a NUL byte at offset 7)", 1)
    assert "--binary" in proc.stderr.decode()
    anyway = run_inprocess("topk", "prog", "--binary", "--plain", cwd=tmp_path)
    assert anyway.returncode == 0
    assert anyway.stdout.decode().splitlines()[0].split("\t")[1:3] == ["text", "2"]
    # --int64 input is binary by nature and is never refused
    (tmp_path / "k.bin").write_bytes(np.zeros(4, dtype="<i8").tobytes())
    assert run_inprocess("topk", "--int64", "k.bin", cwd=tmp_path).returncode == 0


def test_every_reports_while_a_slow_pipe_is_still_open(tmp_path):
    import select

    proc = subprocess.Popen([*SKETCHKIT, "topk", "--lines", "--json", "-k", "1", "--every", "0.2s"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        report = None
        deadline = time.monotonic() + 90
        while report is None and time.monotonic() < deadline:
            proc.stdin.write(b"ERROR disk full\nERROR disk full\nINFO ok\n")
            proc.stdin.flush()
            if select.select([proc.stdout], [], [], 0.3)[0]:
                report = json.loads(proc.stdout.readline())
        assert report is not None, "no report while the input was still open"
        assert report["item"] == "ERROR disk full" and report["final"] is False
        proc.stdin.write(b"INFO ok\n" * 1000)
        proc.stdin.close()  # EOF: the final answer, as without --every
        out, err = proc.stdout.read(), proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    final = json.loads(out.decode().splitlines()[-1])
    assert proc.returncode == 0, err
    assert (final["item"], final["final"]) == ("INFO ok", True) and final["report"] > report["report"]


def test_every_n_items(tmp_path, run_inprocess):
    words = ("a\n" * 60000 + "b\n" * 50000).encode()  # 220 KB: four 64 KiB chunks
    (tmp_path / "w.txt").write_bytes(words)
    proc = run_inprocess("topk", "w.txt", "--every", "30000", "--json", "-k", "1", cwd=tmp_path)
    rows = [json.loads(x) for x in proc.stdout.decode().splitlines()]
    assert [r["report"] for r in rows] == list(range(1, len(rows) + 1)) and len(rows) >= 3
    assert [r["final"] for r in rows] == [False] * (len(rows) - 1) + [True]
    assert rows[-1]["estimate"] == 60000 and rows[0]["estimate"] < 60000
    table = run_inprocess("topk", "w.txt", "--every", "30000", "-k", "1", cwd=tmp_path).stdout.decode()
    assert table.count("# report ") == len(rows) - 1 and "# final: 110,000 items" in table


def test_ignore_case_and_normalize(tmp_path, run_inprocess):
    text = "Straße STRASSE strasse Café Cafe\u0301 ﬁne FINE fine\n"
    (tmp_path / "u.txt").write_text(text)

    def counts(*opts):
        return {r["item"]: r["estimate"] for r in _rows(run_inprocess("topk", "u.txt", "--json", *opts,
                                                                     cwd=tmp_path))}

    assert counts()["fine"] == 1 and counts()["Cafe"] == 1  # a lone combining mark is not a word character
    assert counts("--normalize", "NFC")["Café"] == 2
    assert counts("--ignore-case") == {"strasse": 3, "café": 1, "cafe": 1, "fine": 3}  # casefold: ß = ss, ﬁ = fi
    assert counts("--fold", "--normalize", "NFKC") == {"strasse": 3, "café": 2, "fine": 3}
    assert counts("--normalize", "NFKC")["fine"] == 2 and counts("--normalize", "NFKC")["FINE"] == 1
    lines = {r["item"]: r["estimate"] for r in _rows(run_inprocess(
        "topk", "--lines", "--ignore-case", "--json", cwd=tmp_path, stdin=b"GET /A\nget /a\n"))}
    assert lines == {"get /a": 2}
    # a sketch built with them is queried with them: the key as given, counted as the sketch saw it
    opts = ["--fold", "--normalize", "NFKC"]
    assert run_inprocess("build", "u.txt", "-o", "u.sk", "--kind", "countmin", *opts, cwd=tmp_path).returncode == 0
    q = run_inprocess("query", "u.sk", "STRASSE", "ﬁne", "--plain", *opts, cwd=tmp_path).stdout.decode().splitlines()
    assert [row.split("\t")[:2] for row in q] == [["STRASSE", "3"], ["ﬁne", "3"]]


def test_field_by_header_name(tmp_path, run_inprocess):
    (tmp_path / "s.csv").write_text('name,city,n\nann,"Paris, FR",3\nbob,Oslo,2\ncid,"Paris, FR",4\n')
    (tmp_path / "s.tsv").write_text("\ufeffname\tcity\tn\nann\tParis, FR\t3\nbob\tOslo\t2\ncid\tParis, FR\t4\n")
    expected = [("Paris, FR", 7), ("Oslo", 2)]
    for args in (["s.csv", "--field", "city", "--weight-field", "n", "--header"],
                 ["s.csv", "--field", "2", "--weight-field", "n", "--header-in"],
                 ["s.tsv", "--field", "city", "--weight-field", "3", "--header", "--delimiter", "tab"]):
        rows = _rows(run_inprocess("topk", *args, "--json", cwd=tmp_path))
        assert [(r["item"], r["estimate"]) for r in rows] == expected, args
    missing = run_inprocess("topk", "s.csv", "--field", "town", "--header", cwd=tmp_path)
    assert_one_line_error(missing, "s.csv: no column 'town' for --field in the header line (name, city, n)", 1)


def test_skip_bad_counts_malformed_records_instead_of_stopping(tmp_path, run_inprocess):
    (tmp_path / "e.ndjson").write_bytes(
        b'{"u": "a", "w": 2}\n{oops\n{"u": "b", "w": "many"}\n{"u": "\xff"}\n{"u": "a", "w": 1}\n{"u": "c"}\n'
    )
    stopped = run_inprocess("topk", "e.ndjson", "--json-field", "u", "--weight-field", "w", cwd=tmp_path)
    assert_one_line_error(stopped, "e.ndjson: line 2: invalid JSON", 1)
    proc = run_inprocess("topk", "e.ndjson", "--json-field", "u", "--weight-field", "w", "--skip-bad", "--json",
                         cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert {r["item"]: r["estimate"] for r in _rows(proc)} == {"a": 3}
    warnings = proc.stderr.decode().strip().splitlines()
    assert warnings == [
        "sketchkit: warning: 1 line(s) had invalid UTF-8 (skipped them)",
        "sketchkit: warning: 1 record(s) lacked the --json-field/--weight-field path (skipped)",
        "sketchkit: warning: skipped 2 malformed record(s) (--skip-bad); the first: e.ndjson: line 2: invalid JSON "
        "(Expecting property name enclosed in double quotes)",
    ]
    (tmp_path / "s.csv").write_text("k,w\nx,1\ny,two\nx,3\n")
    csv_rows = _rows(run_inprocess("topk", "s.csv", "--field", "k", "--weight-field", "w", "--header", "--skip-bad",
                                   "--json", cwd=tmp_path))
    assert [(r["item"], r["estimate"]) for r in csv_rows] == [("x", 4)]


# ----------------------------------------------------------------------------- docs/distributed.md's own cluster
def _documented_dask_env():
    """The `export DASK_...=...` lines of docs/distributed.md, the recipe these tests run."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "distributed.md").read_text()
    return dict(re.findall(r"^export (DASK_[A-Z_]+)=(\S+)$", doc, flags=re.M))


DASK_ENV = _documented_dask_env()


def _start(args, cwd, env):
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # its own process group: the nannies' workers go with it


def _stop(proc):
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


def test_distributed_env_names_match_local_cluster_config():
    pytest.importorskip("distributed")
    from sketchkit.distributed import LOCAL_CLUSTER_CONFIG

    code = ("import json, dask; from sketchkit.distributed import LOCAL_CLUSTER_CONFIG as C; "
            "print(json.dumps({k: str(dask.config.get(k)) for k in C}))")
    assert len(DASK_ENV) == len(LOCAL_CLUSTER_CONFIG)
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, **DASK_ENV}, capture_output=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {k: str(v) for k, v in LOCAL_CLUSTER_CONFIG.items()}


@pytest.mark.slow
@pytest.mark.dask
def test_documented_cluster_recipe_end_to_end(tmp_path):
    """`dask scheduler` and `dask worker ADDR --nthreads 1 --nworkers 2` as separate processes with
    the documented DASK_ variables; sketchkit --scheduler then gives the one-process answer, the
    settings hold on the scheduler and on every worker, and still hold after the workers restart."""
    pytest.importorskip("distributed")
    import shutil

    from distributed import Client

    dask_cmd = shutil.which("dask", path=os.path.dirname(sys.executable)) or shutil.which("dask")
    assert dask_cmd, "the dask command comes with the [dask] extra"
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text(zipf_text(400, seed=5))
    (data / "b.txt.gz").write_bytes(gzip.compress(zipf_text(300, seed=6).encode()))
    env = {**os.environ, **DASK_ENV}
    scheduler_file = tmp_path / "scheduler.json"
    procs = [_start([dask_cmd, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(scheduler_file)], tmp_path, env)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline and procs[0].poll() is None:
            time.sleep(0.1)
        assert scheduler_file.exists(), procs[0].stderr.read1().decode() if procs[0].poll() is not None else ""
        time.sleep(0.2)  # the file is written whole, but give it its newline
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        # workers start in another folder: relative paths given to sketchkit must still resolve
        procs.append(_start([dask_cmd, "worker", address, "--nthreads", "1", "--nworkers", "2", "--no-dashboard"],
                            "/", env))
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=90)

            def settings(dask_scheduler=None):
                import dask

                return [str(dask.config.get(k)) for k in DASK_ENV_KEYS]

            expected = ["inf", "False", "1s", "5s", "500ms"]
            assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.WORKER_SATURATION) == float("inf")
            assert list(client.run(settings).values()) == [expected, expected]

            opts = ["--kind", "countmin", "--memory", "32KiB", "-q"]
            local = cli("build", "a.txt", "b.txt.gz", "-o", "local.sk", *opts, cwd=data, timeout=120)
            remote = cli("build", "a.txt", f"file://{data}/b.txt.gz", "-o", "remote.sk", "--scheduler", address, *opts,
                         cwd=data, timeout=120)  # a relative path and an fsspec URL
            assert local.returncode == 0 and remote.returncode == 0, remote.stderr
            assert (data / "remote.sk").read_bytes() == (data / "local.sk").read_bytes()
            top = cli("topk", "a.txt", "b.txt.gz", "--scheduler", address, "-k", "3", "--json", cwd=data, timeout=120)
            rows = _rows(top)
            truth = Counter((zipf_text(400, seed=5) + zipf_text(300, seed=6)).split())
            assert [r["item"] for r in rows] == [w for w, _ in truth.most_common(3)]

            client.restart(timeout=90)  # nannies start fresh worker processes, with the same environment
            client.wait_for_workers(2, timeout=90)
            assert list(client.run(settings).values()) == [expected, expected]
    finally:
        for proc in reversed(procs):
            _stop(proc)


DASK_ENV_KEYS = [
    "distributed.scheduler.worker-saturation",
    "distributed.worker.profile.enabled",
    "distributed.admin.tick.interval",
    "distributed.admin.system-monitor.interval",
    "distributed.worker.memory.monitor-interval",
]


def test_query_on_a_sketch_without_point_queries_is_one_line_and_exit_1(tmp_path, run_inprocess):
    kll = sketchkit.KLL(64)
    kll.update_batch([1.0, 2.0, 3.0])
    (tmp_path / "q.sk").write_bytes(kll.to_bytes())
    res = run_inprocess("query", "q.sk", "1", cwd=tmp_path)
    assert res.returncode == 1
    err = res.stderr.decode().strip()
    assert len(err.splitlines()) == 1 and "holds a KLL" in err and "quantiles --sketch-file" in err


@pytest.mark.parametrize("kind", ["countmin", "countsketch"])
@pytest.mark.parametrize("memory", ["16KiB", "64KiB"])
def test_linear_topk_stays_within_memory_with_its_candidates(tmp_path, run_inprocess, kind, memory):
    """A linear sketch keeps no items: the candidate set beside it shares --memory (a quarter), so the
    reported bytes, sketch plus candidates, stay within the budget."""
    from sketchkit.cli import parse_memory

    (tmp_path / "z.txt").write_text(zipf_text(3000))
    proc = run_inprocess("topk", "z.txt", "--kind", kind, "--memory", memory, "-k", "5", "--json", "--summary",
                         cwd=tmp_path)
    assert proc.returncode == 0
    summary = json.loads(proc.stdout.decode().splitlines()[-1])
    assert 0.7 * parse_memory(memory) < summary["sketch_bytes"] <= parse_memory(memory)


def test_a_candidate_set_too_small_for_k_warns(tmp_path, run_inprocess):
    (tmp_path / "z.txt").write_text(zipf_text(3000))
    proc = run_inprocess("topk", "z.txt", "--kind", "countmin", "--memory", "2KiB", "-k", "50", "--plain",
                         cwd=tmp_path)
    assert proc.returncode == 0 and len(proc.stdout.decode().splitlines()) < 50
    warning = proc.stderr.decode().strip().splitlines()
    assert len(warning) == 1 and "fewer than -k 50" in warning[0] and "try --memory" in warning[0]
