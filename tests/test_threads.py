"""Multi-threaded batch updates are bit-identical to one thread (never timed here), and the
thread count follows its documented settings."""

from __future__ import annotations

import numpy as np
import pytest

import sketchkit as sk
from sketchkit import _threads
from sketchkit.robust import KeyedCountSketch


@pytest.fixture
def tiny_thresholds(monkeypatch):
    """Split even small batches, so that the threaded path runs on test-sized data."""
    monkeypatch.setattr(_threads, "MIN_KEYS_PER_THREAD", 1)
    monkeypatch.setattr(_threads, "TABLE_PASSES", 0)


MAKERS = [
    lambda: sk.CountSketch(257, 5, seed=3),
    lambda: sk.CountMin(311, 4, seed=3),
    lambda: KeyedCountSketch(128, 3, seed=3, key=bytes(range(16))),
]


@pytest.mark.parametrize("make", MAKERS)
@pytest.mark.parametrize("parts", [2, 3, 7])
def test_split_update_is_bit_identical_to_one_thread(make, parts, tiny_thresholds):
    rng = np.random.default_rng(parts)
    ints = rng.integers(-(2**40), 2**40, 5000)
    words = [f"w{x}" for x in rng.zipf(1.3, 3000)]
    weights = rng.integers(-3, 9, 5000)
    for batch, w in ((ints, None), (ints, weights), (words, None), (words, weights[:3000])):
        with sk.threads(1):
            one = make()
            one.update_batch(batch, w)
        with sk.threads(parts):
            assert _threads.parts_for(len(batch), one.table.size) == parts
            many = make()
            many.update_batch(batch, w)
        assert many == one


def test_conservative_countmin_stays_on_one_thread(tiny_thresholds, monkeypatch):
    calls = []
    monkeypatch.setattr(_threads, "split_update", lambda *a: calls.append(a))
    with sk.threads(4):
        sk.CountMin(64, 3, conservative=True).update_batch(np.arange(1000))
    assert calls == []


def test_small_batches_stay_on_the_calling_thread():
    with sk.threads(8):
        assert _threads.parts_for(1000, 1000) == 1
        assert _threads.parts_for(10 * _threads.MIN_KEYS_PER_THREAD, 10**9) == 1  # the sum would dominate
        assert _threads.parts_for(8 * _threads.MIN_KEYS_PER_THREAD, 1000) == 8
        assert _threads.parts_for(8 * _threads.MIN_KEYS_PER_THREAD, 1000, _threads.MAX_SPLIT_TABLE_BYTES + 1) == 1


def test_thread_count_settings(monkeypatch):
    for name in ("SKETCHKIT_NUM_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    cores = _threads._available_cores()
    assert sk.get_threads() == cores
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what a Dask worker process has
    assert sk.get_threads() == 1
    monkeypatch.setenv("SKETCHKIT_NUM_THREADS", "3")
    assert sk.get_threads() == 3
    with sk.threads(2):
        assert sk.get_threads() == 2
    assert sk.get_threads() == 3
    sk.set_threads(5)
    try:
        assert sk.get_threads() == 5
    finally:
        sk.set_threads(None)
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(sk.InvalidParameterError):
            sk.set_threads(bad)


@pytest.mark.parametrize("parts", [2, 5])
def test_dyadic_levels_in_parallel_are_bit_identical(parts, tiny_thresholds):
    rng = np.random.default_rng(parts)
    keys = rng.integers(0, 2**20, 4000)
    weights = rng.integers(-3, 9, 4000)
    make = lambda: sk.DyadicHeavyHitters(64, 3, universe_bits=20, level_bits=4, seed=5)  # noqa: E731
    for w in (None, weights):
        with sk.threads(1):
            one = make()
            one.update_batch(keys, w)
        with sk.threads(parts):
            many = make()
            many.update_batch(keys, w)
        assert many == one


def test_split_update_covers_every_key_once(tiny_thresholds):
    """Threads take slices from a shared queue: together the slices are [0, n) exactly once."""
    seen: list[tuple[int, int]] = []

    def update(table, start, stop):
        table[0] += stop - start
        seen.append((start, stop))

    table = np.zeros(4, dtype=np.int64)
    with sk.threads(3):
        _threads.split_update(table, 1001, update)
    assert table[0] == 1001
    assert len(seen) == 3 * _threads.SLICES_PER_THREAD
    ends = sorted(seen)
    assert ends[0][0] == 0 and ends[-1][1] == 1001
    assert all(a[1] == b[0] for a, b in zip(ends, ends[1:]))
