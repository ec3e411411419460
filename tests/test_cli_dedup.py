"""``sketchkit dedup`` end to end: formats, clusters, bad input (one line, exit status, nothing lost)."""

from __future__ import annotations

import io
import json
import sys

import pytest

from sketchkit import cli


def run(argv, capsys, stdin: bytes | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    status = cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _docs(n=40, seed=0):
    import random

    rng = random.Random(seed)
    words = [f"w{i}" for i in range(2000)]
    return [" ".join(rng.choice(words) for _ in range(80)) for _ in range(n)]


@pytest.fixture
def corpus(tmp_path):
    docs = _docs()
    lines = docs + [docs[3], docs[7] + " extra", "", docs[3].upper()]  # 40, 41, 42 (empty), 43
    path = tmp_path / "c.txt"
    path.write_text("\n".join(lines) + "\n")
    return path, lines


def test_lines_keep_first_of_each_cluster(corpus, tmp_path, capsys):
    path, lines = corpus
    out = tmp_path / "kept.txt"
    status, stdout, err = run(["dedup", str(path), "--threshold", "0.8", "-o", str(out), "-q"], capsys)
    assert status == 0 and stdout == ""
    kept = out.read_text().split("\n")[:-1]
    assert kept == lines[:40] + [""]  # the copy, the near copy, the upper-case copy are gone; empty kept
    summary = err.splitlines()[-1]  # (a first run may print the one-line compile notice before it)
    assert summary.startswith("sketchkit: dedup: 44 documents (1 empty, kept), 3 near-duplicates removed")


def test_clusters_output_and_no_normalize(corpus, capsys):
    path, lines = corpus
    status, stdout, _ = run(["dedup", str(path), "--clusters", "--no-normalize", "-q"], capsys)
    rows = [tuple(map(int, line.split("\t"))) for line in stdout.splitlines()]
    assert status == 0 and len(rows) == len(lines)
    assert rows[40] == (40, 3) and rows[41] == (41, 7) and rows[42] == (42, 42) and rows[43] == (43, 43)


def test_clusters_are_transitive(tmp_path, capsys):
    base = [f"w{i}" for i in range(60)]
    a = base
    b = base[:40] + [f"x{i}" for i in range(20)]
    c = base[:20] + [f"x{i}" for i in range(20)] + [f"y{i}" for i in range(20)]
    path = tmp_path / "t.txt"
    path.write_text("\n".join(" ".join(x) for x in (a, b, c)) + "\n")
    status, stdout, _ = run(["dedup", str(path), "--threshold", "0.45", "--ngram", "1", "--exact", "--clusters",
                             "--bands", "64", "--rows", "2", "-q"], capsys)
    # J(a,b) = J(b,c) = 0.5, J(a,c) = 0.2: one cluster through b
    assert status == 0 and stdout == "0\t0\n1\t0\n2\t0\n"


def test_jsonl_field_and_exact(tmp_path, capsys):
    docs = _docs(20)
    recs = [{"id": i, "body": {"text": d}} for i, d in enumerate(docs)] + [{"id": 99, "body": {"text": docs[0]}}]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    status, stdout, err = run(["dedup", str(path), "--field", "body.text", "--exact", "-q"], capsys)
    assert status == 0 and [json.loads(x)["id"] for x in stdout.splitlines()] == list(range(20))
    assert "(exact: 1 by exact Jaccard)" in err


def test_stdin_is_read(corpus, capsys, monkeypatch):
    path, lines = corpus
    status, stdout, _ = run(["dedup", "-", "-q"], capsys, stdin=path.read_bytes(), monkeypatch=monkeypatch)
    assert status == 0 and stdout.split("\n")[:-1] == lines[:40] + [""]


def test_stdin_compressed_and_named_in_errors(tmp_path, capsys, monkeypatch):
    import gzip

    data = gzip.compress(b"one two three four five six\none two three four five six\n")
    status, stdout, _ = run(["dedup", "-", "-q"], capsys, stdin=data, monkeypatch=monkeypatch)
    assert status == 0 and stdout == "one two three four five six\n"
    status, _, err = run(["dedup", "-", "--format", "jsonl", "-q"], capsys, stdin=b'{"x": 1}\n',
                         monkeypatch=monkeypatch)
    assert status == 1
    _one_error(err, "<stdin>:1: record has no field 'text'")


def test_per_file_directory(tmp_path, capsys):
    d = tmp_path / "docs"
    d.mkdir()
    docs = _docs(3)
    for name, text in (("a.txt", docs[0]), ("b.txt", docs[1]), ("c.txt", docs[0] + "\n"), ("d.txt", docs[2])):
        (d / name).write_text(text)
    status, stdout, _ = run(["dedup", str(d), "--per-file", "--clusters", "-q"], capsys)
    rows = [line.split("\t") for line in stdout.splitlines()]
    assert status == 0 and [r[0].rsplit("/", 1)[1] for r in rows] == ["a.txt", "b.txt", "c.txt", "d.txt"]
    assert rows[2][1] == rows[0][0] and rows[3][1] == rows[3][0]


def test_parquet_in_and_out(tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    docs = _docs(10)
    table = pa.table({"id": list(range(12)), "text": docs + [docs[2], None]})
    src, dst = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pq.write_table(table, src)
    status, _, err = run(["dedup", str(src), "-o", str(dst), "-q"], capsys)
    assert status == 0 and pq.read_table(dst).column("id").to_pylist() == list(range(10)) + [11]
    status, _, err = run(["dedup", str(src), "--field", "body", "-o", str(dst), "-q"], capsys)
    assert status == 1 and "no column 'body'" in err and err.count("\n") == 1


# ----------------------------------------------------------------------------- bad input
def _one_error(err, *parts):
    assert err.count("\n") == 1 and err.startswith("sketchkit: error: "), err
    for p in parts:
        assert p in err, err


@pytest.mark.parametrize("content,parts", [
    (b'{"text": "a b c"}\n{"other": 1}\n', ["d.jsonl:2", "no field 'text'"]),
    (b'{"text": "a b c"}\n{"text": 5}\n', ["d.jsonl:2", "is a int, not a string"]),
    (b'{"text": "a b c"}\n{not json\n', ["d.jsonl:2", "invalid JSON"]),
])
def test_bad_json_lines_stop_before_any_output(tmp_path, capsys, content, parts):
    path = tmp_path / "d.jsonl"
    path.write_bytes(content)
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    status, stdout, err = run(["dedup", str(path), "-o", str(out), "-q"], capsys)
    assert status == 1 and stdout == ""
    _one_error(err, *parts)
    assert out.read_text() == "previous\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl", "out.jsonl"]  # no temporary left


def test_invalid_utf8_is_an_error_unless_replaced(tmp_path, capsys):
    path = tmp_path / "c.txt"
    path.write_bytes(b"good line one two three\nbad \xff\xfe line\n")
    status, stdout, err = run(["dedup", str(path), "-q"], capsys)
    assert status == 1 and stdout == ""
    _one_error(err, "c.txt:2", "invalid UTF-8 at byte 4")
    out = tmp_path / "out.txt"
    status, _, _ = run(["dedup", str(path), "--errors", "replace", "-o", str(out), "-q"], capsys)
    assert status == 0 and out.read_bytes() == path.read_bytes()  # records are written back byte for byte


def test_empty_documents_and_empty_input(tmp_path, capsys):
    path = tmp_path / "e.txt"
    path.write_text("\n\n   \n")
    status, stdout, err = run(["dedup", str(path), "-q"], capsys)
    assert status == 0 and stdout == "\n\n   \n" and "3 documents (3 empty, kept)" in err
    empty = tmp_path / "none.txt"
    empty.write_text("")
    status, _, err = run(["dedup", str(empty), "-q"], capsys)
    assert status == 1
    _one_error(err, "no documents")


@pytest.mark.parametrize("argv,part", [
    (["--field", "x"], "--field applies to JSON-lines and Parquet"),
    (["--bands", "4"], "both --bands and --rows"),
    (["--bands", "20", "--rows", "10"], "exceeds the 128 hashes"),
    (["--threshold", "1.5"], "expected a number in (0, 1)"),
    (["--exact", "--verify", "signature"], "--exact contradicts --verify signature"),
])
def test_bad_command_lines_exit_2(corpus, capsys, argv, part):
    path, _ = corpus
    status, stdout, err = run(["dedup", str(path), *argv, "-q"], capsys)
    assert status == 2 and stdout == ""
    _one_error(err, part)


def test_missing_file_exit_1(tmp_path, capsys):
    status, _, err = run(["dedup", str(tmp_path / "nope.txt"), "-q"], capsys)
    assert status == 1
    _one_error(err, "nope.txt: no such file")


def test_progress_on_a_terminal_only(tmp_path):
    import os
    import pty
    import subprocess

    from test_cli_progress import _read_all

    text = tmp_path / "in.txt"
    text.write_text("\n".join(_docs(10000)) + "\n")
    env = dict(os.environ, SKETCHKIT_PROGRESS_DELAY="0")
    env.pop("TERM", None)
    code = "import sys; sys.modules['rich'] = None; from sketchkit.cli import main; sys.exit(main())"
    cmd = [sys.executable, "-c", code, "dedup", str(text), "-o", str(tmp_path / "out.txt")]
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    err = _read_all(master)
    proc.communicate(timeout=120)
    os.close(master)
    assert proc.returncode == 0 and b"sketching" in err
    done = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0 and b"sketching" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith(b"sketchkit: dedup: 10,000 documents")


def test_batches_close_at_the_document_or_byte_limit(monkeypatch):
    from sketchkit._cli import dedup

    monkeypatch.setattr(dedup, "CHUNK_DOCS", 3)
    monkeypatch.setattr(dedup, "CHUNK_BYTES", 10)
    sizes = [1, 1, 1, 1, 12, 2, 2]
    records = [(dedup.Record(i, "x" * n), n) for i, n in enumerate(sizes)]
    batches = [[r.raw for r in b] for b in dedup._batched(records)]
    assert batches == [[0, 1, 2], [3, 4], [5, 6]]
