"""sketchkit.distributed on a real LocalCluster with worker *processes* (issue #6 acceptance).

One cluster (2 single-threaded worker processes) serves the whole module, so every test pays
for real pickling between processes and for workers whose PYTHONHASHSEED dask pins to 6640,
while this driver process runs under another one.
"""

from __future__ import annotations

import os
import re
from functools import partial
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import dask.bag as db  # noqa: E402
import dask.dataframe as dd  # noqa: E402

from sketchkit import CountMin, CountSketch, IncompatibleSketchError  # noqa: E402
from sketchkit.distributed import (  # noqa: E402
    LOCAL_CLUSTER_CONFIG,
    dask_client,
    local_cluster,
    sketch_array,
    sketch_bag,
    sketch_column,
    sketch_groupby,
    sketch_text_files,
    warm_workers,
)

pytestmark = pytest.mark.dask


@pytest.fixture(scope="session")
def client():
    cluster = local_cluster(2)  # what dask_client(workers=2) starts: nanny-supervised processes
    with cluster, distributed.Client(cluster) as c:
        c.wait_for_workers(2)
        warm_workers(c)
        yield c


def one_pass(template, items, weights=None):
    out = template.copy()
    out.update_batch(items, weights)
    return out


def zipf_words(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"w{k}" for k in rng.zipf(1.3, n) % 5000]


def make_cs():
    return CountSketch(width=1021, depth=5, seed=99)


def words(line: str) -> list:
    return line.split()


# ----------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("split_every", [2, 8])
def test_linear_sketches_merged_from_partitions_equal_one_pass(client, split_every):
    items = zipf_words(20_000, 1)
    keys = np.random.default_rng(2).integers(-(2**40), 2**40, 30_000)
    for template in (CountSketch(width=509, depth=5, seed=7), CountMin(width=509, depth=5, seed=7)):
        assert sketch_bag(db.from_sequence(items, npartitions=13), template, split_every=split_every) == one_pass(
            template, items
        )
        assert sketch_array(da.from_array(keys, chunks=3_001), template, split_every=split_every) == one_pass(
            template, keys
        )
    frame = dd.from_pandas(pd.DataFrame({"k": keys}), npartitions=9)
    assert sketch_column(frame, "k", make_cs(), split_every=split_every) == one_pass(make_cs(), keys)


def test_groupby_on_worker_processes(client):
    pdf = pd.DataFrame({"g": np.arange(6000) % 4, "item": zipf_words(6000, 3)})
    got = sketch_groupby(dd.from_pandas(pdf, npartitions=5), "g", "item", make_cs(), split_every=2)
    for g, sub in pdf.groupby("g"):
        assert got[g] == one_pass(make_cs(), sub["item"].tolist())


# ----------------------------------------------------------------------------- worker -> driver
def _build_on_worker(items: list[str]) -> CountMin:
    sketch = CountMin(width=4096, depth=5, seed=123)
    sketch.update_batch(items)
    return sketch  # travels back pickled, i.e. as its to_bytes form


def test_sketch_built_on_worker_answers_correctly_in_driver(client):
    rng = np.random.default_rng(4)
    items = [f"key-{k}" for k in rng.integers(0, 97, 20_000)]
    first, second = items[:10_000], items[10_000:]
    worker = next(iter(client.scheduler_info()["workers"]))
    remote = client.submit(_build_on_worker, first, workers=[worker], pure=False).result()
    pid = client.run(os.getpid, workers=[worker])[worker]
    assert pid != os.getpid()
    exact = pd.Series(items).value_counts()
    local = _build_on_worker(second)
    local.merge(remote)  # merged in the driver with a driver-built sketch
    assert local == one_pass(CountMin(width=4096, depth=5, seed=123), items)
    # 97 keys in 4096 columns: with this seed no key collides in every row, so counts are exact.
    assert all(local.estimate(k) == n for k, n in exact.items())
    assert all(remote.estimate(k) == n for k, n in pd.Series(first).value_counts().items())


def hash_seeded_cm():
    # The trap of STYLE.md §3: builtin hash() of a str is salted per process. Dask pins
    # PYTHONHASHSEED on its workers, so they agree with each other but not with the driver.
    return CountMin(width=64, depth=3, seed=hash("sketchkit") % 2**63)


@pytest.mark.skipif(os.environ.get("PYTHONHASHSEED") == "6640", reason="driver salted like the workers")
def test_worker_driver_configuration_mismatch_is_caught(client, tmp_path):
    (tmp_path / "a.txt").write_text("a b c\n" * 500)
    with pytest.raises(IncompatibleSketchError, match="make_sketch\\(\\) called in the driver"):
        sketch_text_files([str(tmp_path / "a.txt")], hash_seeded_cm, words, blocksize="512")


def test_mismatched_partition_configurations_raise(client, tmp_path):
    (tmp_path / "a.txt").write_text("a b c\n" * 500)
    # Seeds differ between the two worker processes; should one worker have run every range,
    # the driver's own make_sketch() differs from it instead. Either way: refused, not summed.
    with pytest.raises(IncompatibleSketchError, match="(different partitions|called in the driver).*different seeds"):
        sketch_text_files([str(tmp_path / "a.txt")], partial(_pid_seeded_cm), words, blocksize="256", split_every=4)


def _pid_seeded_cm():
    return CountMin(width=64, depth=3, seed=os.getpid())


# ----------------------------------------------------------------------------- a killed worker
def kill_once_tokenize(marker: str, line: str) -> list:
    """Tokenize, but the first worker to reach line 'die' exits hard mid-range."""
    if line == "die":
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return ["die"]
        os._exit(1)
    return line.split()


def test_worker_killed_mid_job_is_retried_exactly(client, tmp_path):
    rng = np.random.default_rng(9)
    lines = [" ".join(f"t{k}" for k in rng.integers(0, 300, 8)) for _ in range(4000)]
    lines[2500] = "die"
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n")
    marker = str(tmp_path / "died")
    got = sketch_text_files(
        [str(tmp_path / "in.txt")],
        make_cs,
        partial(kill_once_tokenize, marker),
        scheduler=client.scheduler.address,
        blocksize="16KiB",
        split_every=3,
    )
    assert os.path.exists(marker)  # a worker really died mid-range
    tokens = [t for ln in lines for t in ln.split()]
    assert got == one_pass(make_cs(), tokens)  # nothing lost, nothing counted twice
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it for later tests


# ----------------------------------------------------------------------------- the CLI entry
@pytest.mark.slow  # starts and stops a second cluster: 10-30 s on the shared 2-core machine
def test_entry_point_starts_and_closes_its_own_local_cluster(tmp_path):
    (tmp_path / "a.txt").write_text("x y x\nz x\n" * 100)
    before = set(distributed.client._global_clients)  # noqa: SLF001
    got = sketch_text_files([str(tmp_path / "*.txt")], make_cs, words, workers=2, blocksize="128")
    assert got == one_pass(make_cs(), ["x", "y", "x", "z", "x"] * 100)
    alive = [c for k, c in distributed.client._global_clients.items() if k not in before and c.status == "running"]
    assert alive == []


def worker_state() -> tuple:
    import sys

    import dask

    quiet = tuple(dask.config.get(k) for k in LOCAL_CLUSTER_CONFIG)
    return quiet, "numba" in sys.modules and "sketchkit.distributed.files" in sys.modules


def test_local_cluster_workers_run_quietly_with_the_warm_up_plugin(client):
    states = client.run(worker_state)
    assert len(states) == 2
    for quiet, _ in states.values():
        assert quiet == tuple(LOCAL_CLUSTER_CONFIG.values())  # the config reached the worker processes
    plugins = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins))
    assert "sketchkit-warm" in plugins  # so a worker that replaces a dead one starts warm too


@pytest.mark.slow  # starts and stops a second cluster
def test_dask_client_workers_are_warm_before_any_task():
    with dask_client(workers=1) as c:
        # nothing has run on it yet: only the plugin can have imported numba and the readers
        assert [warm for _, warm in c.run(worker_state).values()] == [True]


# ----------------------------------------------------------------------------- docs
DOCS = Path(__file__).resolve().parents[1] / "docs" / "distributed.md"
SKIP_MARK = "<!-- not run by the tests"


def doc_examples() -> list[str]:
    """The ```python blocks of docs/distributed.md, except those marked as starting a cluster."""
    text = DOCS.read_text()
    blocks = re.findall(r"(<!--[^\n]*-->\n)?```python\n(.*?)```", text, flags=re.S)
    return [code for mark, code in blocks if not mark.startswith(SKIP_MARK)]


def test_docs_examples_run_on_the_cluster(client):
    examples = doc_examples()
    assert len(examples) >= 4  # bag, array, dataframe/groupby, files
    for code in examples:
        exec(compile(code, str(DOCS), "exec"), {"__name__": "docs_example"})


# ----------------------------------------------------------------------------- any sketch
def make_spacesaving():
    from sketchkit import SpaceSaving

    return SpaceSaving(capacity=60, seed=5)


def test_non_linear_summary_keeps_its_merge_guarantee_on_the_cluster(client, tmp_path):
    rng = np.random.default_rng(12)
    lines = [" ".join(f"s{k}" for k in rng.zipf(1.3, 6) % 2000) for _ in range(3000)]
    (tmp_path / "z.txt").write_text("\n".join(lines) + "\n")
    paths = [str(tmp_path / "z.txt")]
    got = sketch_text_files(paths, make_spacesaving, words, blocksize="8KiB", split_every=3)
    with dask.config.set(scheduler="sync"):  # same ranges, same tree, one process
        assert got == sketch_text_files(paths, make_spacesaving, words, blocksize="8KiB", split_every=3)
    exact = pd.Series([t for ln in lines for t in ln.split()]).value_counts()
    n = int(exact.sum())
    assert got.total_weight == n
    tracked = {row[0] for row in got.top()}
    for item, f in exact.items():
        if f > n / 60:  # SpaceSaving: every item above N/capacity is tracked after any merge tree
            assert item in tracked
    for item, _estimate, lower, upper in got.top(10):
        assert lower <= exact[item] <= upper
