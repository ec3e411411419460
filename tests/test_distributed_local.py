"""sketchkit.distributed on dask's synchronous scheduler: readers, conversions, bad input.

The cluster tests (worker processes, pickling, a killed worker) are in
test_distributed_cluster.py; here everything runs in this process so that edge cases stay cheap.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from functools import partial

import numpy as np
import pytest

pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import dask.bag as db  # noqa: E402
import dask.dataframe as dd  # noqa: E402
import fsspec  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sketchkit import CountMin, CountSketch, IncompatibleSketchError, InvalidItemError, InvalidParameterError  # noqa: E402
from sketchkit.distributed import (  # noqa: E402
    dask_client,
    merge_sketches,
    sketch_array,
    sketch_bag,
    sketch_column,
    sketch_csv,
    sketch_groupby,
    sketch_parquet,
    sketch_text_files,
)
from sketchkit.distributed.files import (  # noqa: E402
    ROWS_PER_TASK,
    _range_lines,
    cut_row_groups,
    default_rows_per_task,
    parquet_tasks,
    text_ranges,
)
from sketchkit.errors import ItemTypeError  # noqa: E402

pytestmark = pytest.mark.dask


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="sync"):
        yield


def one_pass(template, items, weights=None):
    out = template.copy()
    out.update_batch(items, weights)
    return out


def make_cm():
    return CountMin(width=211, depth=3, seed=11)


def words(line: str) -> list:
    return line.split()


# ----------------------------------------------------------------------------- text ranges
lines_strategy = st.lists(
    st.text(alphabet=st.sampled_from("ab é\r"), max_size=12), max_size=40
)


@settings(max_examples=60, deadline=None)
@given(lines=lines_strategy, crlf=st.booleans(), trailing=st.booleans(), blocksize=st.integers(1, 50))
def test_byte_ranges_cover_every_line_exactly_once(tmp_path_factory, lines, crlf, trailing, blocksize):
    eol = "\r\n" if crlf else "\n"
    text = eol.join(lines) + (eol if trailing and lines else "")
    path = tmp_path_factory.mktemp("ranges") / "f.txt"
    path.write_bytes(text.encode("utf-8"))
    fs = fsspec.filesystem("file")
    tasks = text_ranges(fs, [str(path)], blocksize)
    got = [ln for (p, s, e, c) in tasks for ln in _range_lines(fs, p, s, e, c)]
    assert b"".join(got) == path.read_bytes()  # every byte once, in order
    *complete, last = path.read_bytes().split(b"\n")
    assert got == [ln + b"\n" for ln in complete] + ([last] if last else [])  # cut only after b"\n"


def test_text_files_match_one_pass_for_plain_and_compressed(tmp_path):
    rng = np.random.default_rng(5)
    lines = [" ".join(f"w{k}" for k in rng.zipf(1.5, size=rng.integers(0, 9)) % 500) for _ in range(3000)]
    body = ("\n".join(lines) + "\n").encode()
    (tmp_path / "a.txt").write_bytes(body)
    (tmp_path / "b.txt.gz").write_bytes(gzip.compress(body))
    (tmp_path / "c.txt.bz2").write_bytes(bz2.compress(body))
    (tmp_path / "d.txt.xz").write_bytes(lzma.compress(body))
    tokens = [w for ln in lines for w in ln.split()]
    got = sketch_text_files([str(tmp_path / "[a-d].txt*")], make_cm, words, blocksize="1KiB", split_every=3)
    assert got == one_pass(make_cm(), tokens * 4)
    assert got.total_weight == 4 * len(tokens)


def test_text_files_strip_line_ends_before_tokenizing(tmp_path):
    (tmp_path / "t.txt").write_bytes(b"x\r\ny\nz")
    got = sketch_text_files([str(tmp_path / "t.txt")], make_cm, partial(str.split, sep=None), blocksize="2")
    assert got == one_pass(make_cm(), ["x", "y", "z"])


def test_a_line_longer_than_max_line_bytes_is_refused_with_its_offset(tmp_path):
    body = b"a b\n" + b"x" * 5000 + b"\n" + b"c\n"
    (tmp_path / "long.txt").write_bytes(body)
    (tmp_path / "long.txt.gz").write_bytes(gzip.compress(body))
    for name in ("long.txt", "long.txt.gz"):
        path = str(tmp_path / name)
        with pytest.raises(InvalidItemError, match=r"line at (decompressed )?byte 4 is longer than 1000 bytes"):
            sketch_text_files([path], make_cm, words, blocksize="1KiB", max_line_bytes=1000)
        got = sketch_text_files([path], make_cm, words, blocksize="1KiB", max_line_bytes="5001")
        assert got == one_pass(make_cm(), ["a", "b", "x" * 5000, "c"])
    # The cap counts the newline: a line of exactly max_line bytes passes, one byte more does not.
    fs = fsspec.filesystem("file")
    path = str(tmp_path / "long.txt")
    assert list(_range_lines(fs, path, 4, len(body), None, max_line=5001)) == [b"x" * 5000 + b"\n", b"c\n"]
    with pytest.raises(InvalidItemError, match="longer than 5000"):
        list(_range_lines(fs, path, 4, len(body), None, max_line=5000))
    # A range that starts inside the long line skips it in bounded steps (its owner reports it).
    assert list(_range_lines(fs, path, 100, len(body), None, max_line=10)) == [b"c\n"]


def test_text_files_reject_bad_utf8_and_bad_arguments(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\xfe\n")
    with pytest.raises(InvalidItemError, match="not UTF-8"):
        sketch_text_files([str(bad)], make_cm, words)
    with pytest.raises(InvalidParameterError, match="no file matches"):
        sketch_text_files([str(tmp_path / "nothing-*.txt")], make_cm, words)
    with pytest.raises(InvalidParameterError, match="no file matches"):
        sketch_text_files([str(tmp_path / "nothing-[0-3].txt")], make_cm, words)
    with pytest.raises(InvalidParameterError, match="no file matches"):
        sketch_text_files([str(tmp_path)], make_cm, words)  # a folder is not a file
    with pytest.raises(InvalidParameterError, match="standard input"):
        sketch_text_files(["-"], make_cm, words)
    with pytest.raises(InvalidParameterError, match="make_sketch"):
        sketch_text_files([str(bad)], "CountMin", words)
    with pytest.raises(InvalidParameterError, match="empty sketch"):
        sketch_text_files([str(bad)], partial(one_pass, make_cm(), ["x"]), words)
    with pytest.raises(InvalidParameterError, match="split_every"):
        sketch_text_files([str(tmp_path / "bad.txt")], make_cm, words, split_every=1)
    with pytest.raises(InvalidParameterError, match="not both"):
        sketch_text_files([str(bad)], make_cm, words, workers=1, scheduler="tcp://127.0.0.1:1")


def random_seed_cm():
    from sketchkit.hashing import random_seed

    return CountMin(width=64, depth=3, seed=random_seed())


def test_factory_with_a_fresh_seed_per_call_is_refused(tmp_path):
    (tmp_path / "a.txt").write_text("a b c\n" * 200)
    with pytest.raises(IncompatibleSketchError, match="different seeds"):
        sketch_text_files([str(tmp_path / "a.txt")], random_seed_cm, words, blocksize="100")


# ----------------------------------------------------------------------------- collections
@settings(max_examples=25, deadline=None)
@given(
    keys=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=300),
    nparts=st.integers(1, 9),
    split_every=st.integers(2, 5),
)
def test_bag_and_array_equal_one_pass_bit_for_bit(keys, nparts, split_every):
    template = CountSketch(width=53, depth=5, seed=2)
    expected = one_pass(template, np.array(keys, dtype=np.int64))
    bag = db.from_sequence(keys, npartitions=nparts) if keys else db.from_sequence([], npartitions=1)
    assert sketch_bag(bag, template, split_every=split_every) == expected
    if keys:
        arr = da.from_array(np.array(keys, dtype=np.int64), chunks=max(1, len(keys) // nparts))
        assert sketch_array(arr, template, split_every=split_every) == expected


def test_weighted_inputs_and_template_contents_are_kept():
    template = CountMin(width=97, depth=5, seed=4)
    template.update("seen-before", 3)
    snapshot = template.to_bytes()
    pairs = [("a", 2), ("b", -1), ("a", 5)]
    got = sketch_bag(db.from_sequence(pairs, npartitions=2), template, weighted=True)
    assert got == one_pass(template, ["a", "b", "a"], [2, -1, 5])
    assert got.total_weight == 3 + 6
    assert template.to_bytes() == snapshot  # the template is untouched
    keys = da.from_array(np.arange(40) % 6, chunks=7)
    weights = da.from_array(np.arange(40), chunks=7)
    assert sketch_array(keys, template, weights=weights) == one_pass(template, np.arange(40) % 6, np.arange(40))
    with pytest.raises(InvalidParameterError, match="chunks"):
        sketch_array(keys, template, weights=da.from_array(np.arange(40), chunks=8))
    with pytest.raises(InvalidItemError, match="pairs"):
        sketch_bag(db.from_sequence(["a", "b"]), template, weighted=True)


def test_two_dimensional_array_is_read_block_by_block():
    x = np.arange(60).reshape(6, 10) % 13
    arr = da.from_array(x, chunks=(4, 3))
    got = sketch_array(arr, CountSketch(width=31, depth=3))
    assert got == one_pass(CountSketch(width=31, depth=3), x.reshape(-1))


def test_dataframe_columns_int_str_and_weights():
    pdf = pd.DataFrame({"k": np.arange(500) % 17, "s": [f"u{i % 23}" for i in range(500)], "w": np.arange(500) % 4})
    df = dd.from_pandas(pdf, npartitions=6)
    cs = CountSketch(width=89, depth=5, seed=8)
    assert sketch_column(df, "k", cs) == one_pass(cs, pdf["k"].to_numpy())
    assert sketch_column(df, "s", cs, split_every=2) == one_pass(cs, pdf["s"].tolist())
    assert sketch_column(df, "s", cs, weight_column="w") == one_pass(cs, pdf["s"].tolist(), pdf["w"].to_numpy())
    with pytest.raises(InvalidParameterError, match="no column 'nope'"):
        sketch_column(df, "nope", cs)


def test_missing_and_float_values_are_refused_not_dropped():
    df = dd.from_pandas(pd.DataFrame({"s": ["a", None, "b"], "f": [1.5, 2.0, 3.0]}), npartitions=1)
    with pytest.raises(InvalidItemError, match="1 missing"):
        sketch_column(df, "s", make_cm())
    with pytest.raises(ItemTypeError, match="float"):
        sketch_column(df, "f", make_cm())


def test_merge_sketches_names_both_configurations():
    a, b = CountMin(width=64, depth=3), CountMin(width=64, depth=3)
    a.update_batch(["x", "y"])
    b.update_batch(["x"])
    merged = merge_sketches(db.from_sequence([a, b.to_bytes()], npartitions=2))
    assert merged == a + b
    wider = CountMin(width=128, depth=3)
    with pytest.raises(IncompatibleSketchError, match=r"shape=\(3, 64, False\).*shape=\(3, 128, False\)"):
        merge_sketches(db.from_sequence([a, wider], npartitions=2))
    with pytest.raises(IncompatibleSketchError, match="CountSketch"):
        merge_sketches(db.from_sequence([a, CountSketch(width=64, depth=3)], npartitions=2))
    with pytest.raises(InvalidParameterError, match="at least one"):
        merge_sketches(db.from_sequence([], npartitions=1))


def test_bad_templates_are_refused():
    with pytest.raises(InvalidParameterError, match="sketchkit sketch"):
        sketch_bag(db.from_sequence([1, 2]), object())
    with pytest.raises(InvalidParameterError, match="split_every"):
        sketch_bag(db.from_sequence([1, 2], npartitions=2), make_cm(), split_every=1)
    with pytest.raises(InvalidParameterError, match="not both"):
        with dask_client(workers=1, scheduler="tcp://127.0.0.1:1"):
            pass


# ----------------------------------------------------------------------------- groupby
def test_groupby_gives_each_group_its_one_pass_sketch():
    rng = np.random.default_rng(1)
    pdf = pd.DataFrame({"g": rng.integers(0, 5, 2000), "item": [f"i{v}" for v in rng.zipf(1.4, 2000) % 300]})
    df = dd.from_pandas(pdf, npartitions=7)
    template = CountSketch(width=61, depth=5, seed=6)
    got = sketch_groupby(df, "g", "item", template, split_every=2)
    assert sorted(got) == sorted(pdf["g"].unique())
    for g, sub in pdf.groupby("g"):
        assert got[g] == one_pass(template, sub["item"].tolist())


def test_groupby_missing_values_raise_unless_dropped():
    pdf = pd.DataFrame({"g": [1, 1, 2, 2], "item": ["a", None, "b", "b"]})
    df = dd.from_pandas(pdf, npartitions=2)
    with pytest.raises(InvalidItemError, match="1 missing"):
        sketch_groupby(df, "g", "item", make_cm())
    got = sketch_groupby(df, "g", "item", make_cm(), dropna=True)
    assert got[1] == one_pass(make_cm(), ["a"]) and got[2] == one_pass(make_cm(), ["b", "b"])


# ----------------------------------------------------------------------------- csv / parquet
def test_csv_by_glob_plain_and_gzip_with_dtype(tmp_path):
    pdf = pd.DataFrame({"key": np.arange(3000) % 41, "w": np.arange(3000) % 3})
    pdf.iloc[:1500].to_csv(tmp_path / "p1.csv", index=False)
    with gzip.open(tmp_path / "p2.csv.gz", "wt") as fh:
        pdf.iloc[1500:].to_csv(fh, index=False)
    tmpl = CountMin(width=101, depth=4)
    got = sketch_csv(str(tmp_path / "p*.csv*"), "key", tmpl, weight_column="w", blocksize="4KiB")
    assert got == one_pass(tmpl, pdf["key"].to_numpy(), pdf["w"].to_numpy())
    as_text = sketch_csv(str(tmp_path / "p*.csv*"), "key", tmpl, dtype=str)
    assert as_text == one_pass(tmpl, [str(k) for k in pdf["key"]])
    assert as_text != one_pass(tmpl, pdf["key"].to_numpy())  # 12 and "12" are different items


def test_parquet_row_groups_are_streamed_and_exact(tmp_path):
    rng = np.random.default_rng(2)
    keys = rng.integers(0, 1000, 50_000)
    names = np.array([f"n{k}" for k in keys % 97])
    for i in range(3):
        sl = slice(i * 20_000, (i + 1) * 20_000)
        table = pa.table({"k": keys[sl], "name": names[sl], "w": np.ones(len(keys[sl]), dtype=np.int64)})
        pq.write_table(table, tmp_path / f"part{i}.parquet", row_group_size=4_000)
    tmpl = CountSketch(width=257, depth=5, seed=3)
    glob = str(tmp_path / "part*.parquet")
    assert sketch_parquet(glob, "k", tmpl, split_every=4) == one_pass(tmpl, keys)
    assert sketch_parquet(glob, "name", tmpl, weight_column="w") == one_pass(tmpl, names.tolist())
    with pytest.raises(InvalidParameterError, match="no column 'zz'"):
        sketch_parquet(glob, "zz", tmpl)
    pq.write_table(pa.table({"k": pa.array([1, None, 3], type=pa.int64())}), tmp_path / "nulls.parquet")
    with pytest.raises(InvalidItemError, match="1 missing"):
        sketch_parquet(str(tmp_path / "nulls.parquet"), "k", tmpl)


row_groups_strategy = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 50)), min_size=1, max_size=30
)


@settings(max_examples=100, deadline=None)
@given(runs=row_groups_strategy, rows_per_task=st.integers(1, 400))
def test_row_groups_are_cut_in_order_into_near_equal_tasks(runs, rows_per_task):
    groups = [(path, i, rows) for i, (path, rows) in enumerate(runs)]
    tasks = cut_row_groups(groups, rows_per_task)
    # every row group exactly once, in order, consecutive groups of one file merged into one piece
    assert [(p, g) for task in tasks for p, gs in task for g in gs] == [(p, g) for p, g, _ in groups]
    assert all(a[0] != b[0] for task in tasks for a, b in zip(task, task[1:]))
    rows = {(p, g): r for p, g, r in groups}
    total, biggest = sum(rows.values()), max(rows.values())
    n = max(1, min(len(groups), -(-total // rows_per_task)))
    assert 1 <= len(tasks) <= n
    if total:
        share = total / n
        for task in tasks:
            assert abs(sum(rows[(p, g)] for p, gs in task for g in gs) - share) <= biggest
        if biggest <= share:  # no row group larger than a share: no share is left empty
            assert len(tasks) == n


@settings(deadline=None)  # a loaded machine can stall any one example past the default
@given(total=st.integers(0, 10**11), threads=st.integers(1, 4096))
def test_default_task_size_caps_rows_and_feeds_every_thread_twice(total, threads):
    rows = default_rows_per_task(total, threads)
    assert 1 <= rows <= ROWS_PER_TASK
    n_tasks = -(-total // rows)
    if rows < ROWS_PER_TASK:  # shrunk below the cap only to give each thread two tasks
        assert n_tasks <= 2 * threads and (rows == 1 or -(-total // (rows - 1)) > 2 * threads)
    else:  # at the cap only when capped tasks already give each thread two
        assert -(-total // (2 * threads)) >= ROWS_PER_TASK


def test_parquet_tasks_span_files_and_big_row_groups_are_streamed(tmp_path, monkeypatch):
    keys = np.random.default_rng(4).integers(0, 5000, 60_000)
    for i in range(3):
        pq.write_table(pa.table({"k": keys[i * 20_000 : (i + 1) * 20_000]}), tmp_path / f"p{i}.parquet",
                       row_group_size=4_000)
    pq.write_table(pa.table({"k": pa.array([], type=pa.int64())}), tmp_path / "p3.parquet")  # no rows
    glob = str(tmp_path / "p*.parquet")
    fs = fsspec.filesystem("file")
    paths = sorted(str(p) for p in tmp_path.glob("p*.parquet"))
    tasks = parquet_tasks(fs, paths, ["k"], rows_per_task=12_000)
    assert len(tasks) == 5 and any(len(task) == 2 for task in tasks)  # 15 row groups of 4,000 rows
    tmpl = CountSketch(width=257, depth=5, seed=3)
    seen = []
    # the namespace sketch_parquet really runs in (pytest's doctest import may load files.py twice)
    namespace = sketch_parquet.__globals__
    real = namespace["_record_batches"]

    def spy(pf, groups, columns):
        for rb in real(pf, groups, columns):
            seen.append(rb.num_rows)
            yield rb

    monkeypatch.setitem(namespace, "_record_batches", spy)
    assert sketch_parquet(glob, "k", tmpl, rows_per_task=12_000, split_every=2) == one_pass(tmpl, keys)
    assert seen == [4_000] * 15  # a row group that fits a batch is read whole
    monkeypatch.setitem(namespace, "PARQUET_BATCH", 1_500)
    seen.clear()
    assert sketch_parquet(glob, "k", tmpl) == one_pass(tmpl, keys)
    assert max(seen) == 1_500 and sum(seen) == 60_000  # larger ones are streamed in batches
    with pytest.raises(InvalidParameterError, match="rows_per_task"):
        sketch_parquet(glob, "k", tmpl, rows_per_task=0)
    assert sketch_parquet(str(tmp_path / "p3.parquet"), "k", tmpl) == tmpl  # no rows: the template


def test_parquet_on_a_non_local_file_system_goes_through_fsspec():
    fs = fsspec.filesystem("memory")
    keys = np.random.default_rng(6).integers(0, 900, 9_000)
    for i in range(2):
        with fs.open(f"/sk-test/part{i}.parquet", "wb") as fh:
            pq.write_table(pa.table({"k": keys[i * 4_500 : (i + 1) * 4_500]}), fh, row_group_size=1_000)
    tmpl = CountMin(width=101, depth=4, seed=2)
    try:
        got = sketch_parquet("memory://sk-test/part*.parquet", "k", tmpl, rows_per_task=2_000)
    finally:
        fs.rm("/sk-test", recursive=True)
    assert got == one_pass(tmpl, keys)


def test_a_failed_warm_up_is_logged_and_does_not_stop_the_worker(monkeypatch, caplog):
    from sketchkit.distributed import WarmSketchkit

    namespace = WarmSketchkit.setup.__globals__

    def broken():
        raise OSError("numba cache unreadable")

    monkeypatch.setitem(namespace, "warm_process", broken)
    with caplog.at_level("WARNING"):
        WarmSketchkit().setup(worker=None)
    assert "warm-up failed" in caplog.text and "numba cache unreadable" in caplog.text


def test_dask_sees_a_sketch_at_its_size():
    from dask.sizeof import sizeof

    cs = CountSketch(width=4096, depth=5)
    assert sizeof(cs) == cs.nbytes >= 4096 * 5 * 4


def test_a_non_linear_summary_comes_back_exactly_as_the_tree_built_it():
    from sketchkit import SpaceSaving
    from sketchkit.distributed._partials import merge_partials

    keys = np.random.default_rng(3).zipf(1.3, 4000)
    template = SpaceSaving(capacity=25, seed=1)
    # One partition: no merge node at all, so the result is the one-pass summary itself (folding
    # it into the empty template, as a merge would, changes a SpaceSaving's state).
    assert sketch_array(da.from_array(keys, chunks=-1), template) == one_pass(template, keys)
    parts = [one_pass(template, chunk) for chunk in np.array_split(keys, 3)]
    got = sketch_array(da.from_array(keys, chunks=((1334, 1333, 1333),)), template, split_every=3)
    assert got == merge_partials(parts)  # the tree: one node of fan-in 3
    assert got.total_weight == len(keys)


def test_a_uint64_column_past_int64_is_refused_naming_the_column():
    """uint64 keys >= 2**63 lie outside the int item domain: refused, never wrapped to negative
    int64 keys; the ones inside it give the one-pass sketch."""
    big = np.array([1, 2**63 + 5, 7], dtype=np.uint64)
    pdf = pd.DataFrame({"k": big, "ok": np.array([1, 2**63 - 1, 7], dtype=np.uint64), "w": big})
    df = dd.from_pandas(pdf, npartitions=2)
    cm = make_cm()
    with pytest.raises(InvalidItemError, match=r"column 'k'.*2\*\*63"):
        sketch_column(df, "k", cm)
    with pytest.raises(InvalidItemError, match=r"weight column 'w'.*2\*\*63"):
        sketch_column(df, "ok", cm, weight_column="w")
    assert sketch_column(df, "ok", cm) == one_pass(cm, np.array([1, 2**63 - 1, 7], dtype=np.int64))
    from sketchkit.distributed._partials import column_batch

    with pytest.raises(InvalidItemError, match=r"column 'a'.*2\*\*63"):
        column_batch(pa.array([3, 2**64 - 1], type=pa.uint64()), "column 'a'")
    assert column_batch(pa.array([3, 2**63 - 1], type=pa.uint64())).tolist() == [3, 2**63 - 1]


@pytest.mark.parametrize("make", [lambda: CountMin(width=97, depth=3, seed=4, dtype="int64"),
                                  lambda: CountSketch(width=97, depth=3, seed=4, dtype="int64")])
def test_an_int64_template_gives_int64_counters_bit_for_bit(make):
    """The documented identity with ``copy(); update_batch`` holds for the counter width too."""
    template = make()
    keys = np.arange(300) % 23
    want = one_pass(template, keys)
    assert want.counter_dtype == "int64"
    got_array = sketch_array(da.from_array(keys, chunks=70), template)
    got_bag = sketch_bag(db.from_sequence(keys.tolist(), npartitions=3), template)
    got_column = sketch_column(dd.from_pandas(pd.DataFrame({"k": keys}), npartitions=3), "k", template)
    for got in (got_array, got_bag, got_column):
        assert got.counter_dtype == "int64"
        assert got.to_bytes() == want.to_bytes()
