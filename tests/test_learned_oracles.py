"""Oracles: scores, training objectives, sizes, byte files."""

from __future__ import annotations

import numpy as np
import pytest

from sketchkit import _format, from_bytes
from sketchkit.errors import CorruptSketchError, InvalidParameterError, ItemTypeError, WrongSketchTypeError
from sketchkit.learned import HybridOracle, KeySetOracle, LookupOracle, NgramOracle, Oracle, RandomOracle
from sketchkit.learned._features import fold, ngram_matrix
from sketchkit.learned.gbm import CLASS_FEATURES, GBMOracle, dense_features


def pattern_counts(n: int = 400) -> dict:
    """Items ending in 'ing' are heavy, items starting with 'zq' light: learnable from spelling."""
    rng = np.random.default_rng(0)
    out = {}
    for _ in range(n):
        stem = "".join(rng.choice(list("abcdefghij"), size=4))
        out[stem + "ing"] = int(rng.integers(200, 400))
        out["zq" + stem] = int(rng.integers(1, 3))
    return out


def test_lookup_scores_prunes_and_ranks():
    lk = LookupOracle.from_counts({"a": 99, "b": 9, "c": 1, 7: 4})
    assert np.allclose(lk.score(["a", "b", "zzz", 7]), np.log1p([99, 9, 0, 4]))
    assert len(lk.pruned(2)) == 2 and lk.pruned(2).score(["c"])[0] == 0.0
    assert lk.threshold_for(2) == pytest.approx(np.log1p(9), rel=1e-6)
    assert lk.threshold_for(0) == np.inf and lk.threshold_for(10) == 0.0
    assert lk.nbytes == 4 * 12
    # a str and its UTF-8 bytes are the same item: their counts add up
    assert LookupOracle.from_counts({"x": 2, b"x": 3}).score(["x"])[0] == pytest.approx(np.log1p(5))


def test_key_set_holds_what_a_pruned_lookup_answers():
    counts = {f"w{i}": 1000 - i for i in range(500)}
    lk = LookupOracle.from_counts(counts)
    threshold = lk.threshold_for(100)
    ks = KeySetOracle.from_lookup(lk, threshold, 100)
    items = list(counts) + [f"unseen{i}" for i in range(2000)]
    # membership equals "passes the lookup's threshold" (no fingerprint collision among these items)
    assert np.array_equal(ks.score(items) >= ks.threshold_for(100), lk.pruned(100).score(items) >= threshold)
    assert len(ks) == 100 and ks.nbytes == 4 * 100 == ks._fp.nbytes
    assert ks.threshold_for(0) == np.inf and ks.threshold_for(1) == 0.5
    clone = from_bytes(ks.to_bytes())
    assert isinstance(clone, KeySetOracle) and clone == ks and np.array_equal(clone.score(items), ks.score(items))
    assert len(KeySetOracle.from_lookup(lk, threshold)) == 100  # capacity None: every entry that passes
    empty = KeySetOracle(np.empty(0, dtype=np.uint32))
    assert empty.nbytes == 0 and not empty.score(["w0"]).any()
    # crafted bytes: unsorted fingerprints, a size that does not match
    body = np.array([2], dtype="<u8").tobytes() + np.array([7, 3], dtype="<u4").tobytes()
    with pytest.raises(CorruptSketchError):
        from_bytes(_format.pack(KeySetOracle._family, 0, body))
    with pytest.raises(CorruptSketchError):
        from_bytes(_format.pack(KeySetOracle._family, 0, body[:-2]))
    with pytest.raises(InvalidParameterError):
        KeySetOracle(np.array([-1]))
    with pytest.raises(InvalidParameterError):
        KeySetOracle.from_lookup(RandomOracle(1), 0.5)


def test_history_lookup_ranks_rising_items_above_fading_ones():
    # 'up' grows period after period, 'down' shrinks: equal totals, but the forecast favours 'up'
    periods = [{"up": 1, "down": 40, "flat": 10, "x": 3}, {"up": 5, "down": 20, "flat": 10},
               {"up": 20, "down": 5, "flat": 10, "y": 1}, {"up": 40, "down": 1, "flat": 10}]
    h = LookupOracle.from_history(periods)
    up, down, flat, unseen = h.score(["up", "down", "flat", "never"])
    assert up > flat > down and unseen == 0.0
    assert len(h) == 5 and len(LookupOracle.from_history(periods, capacity=2)) == 2
    with pytest.raises(InvalidParameterError):
        LookupOracle.from_history(periods[:2])


def test_lookup_rejects_bad_counts():
    for bad in ({"a": 0}, {"a": -1}, (["a", "b"], [1]), (["a"], [1.5]), 42):
        with pytest.raises(InvalidParameterError):
            LookupOracle.from_counts(bad)
    with pytest.raises(ItemTypeError):
        LookupOracle.from_counts({1.5: 3})


@pytest.mark.parametrize("objective", ["mse", "coverage"])
def test_ngram_model_learns_from_spelling(objective):
    train = pattern_counts()
    model = NgramOracle.fit(train, objective=objective, bits=10, heavy_share=0.45)
    unseen_heavy = ["kkkking", "jjhhing", "abbaing"]
    unseen_light = ["zqkkkk", "zqjjhh", "zqabba"]
    assert model.score(unseen_heavy).min() > model.score(unseen_light).max()
    assert model.nbytes == 4 * (1024 + 1 + len(model._ranks))
    assert model.threshold_for(1) >= model.threshold_for(100) >= model.threshold_for(10**6)
    clone = Oracle.from_bytes(model.to_bytes())
    assert clone == model and clone.objective == objective
    assert np.array_equal(clone.score(unseen_heavy), model.score(unseen_heavy))


def test_mse_fit_matches_a_reference_ridge():
    from sklearn.linear_model import Ridge

    train = pattern_counts(100)
    x = ngram_matrix(list(train), 10, 3)
    y = np.log1p(np.array(list(train.values()), dtype=float))
    ref = Ridge(alpha=1.0, solver="lsqr", tol=1e-8).fit(x, y)
    model = NgramOracle.fit(train, bits=10)
    assert np.abs(model.score(list(train)) - ref.predict(x)).max() < 1e-3


def test_features_fold_to_fewer_bits():
    words = ["alpha", "beta", "gamma", 12, b"raw"]
    big = ngram_matrix(words, 12, 3)
    assert (fold(big, 10) != ngram_matrix(words, 10, 3)).nnz == 0
    # folding leaves its input intact (it once compacted the shared arrays in place)
    assert fold(big, 4).shape == (5, 16)
    assert (big != ngram_matrix(words, 12, 3)).nnz == 0
    with pytest.raises(InvalidParameterError):
        fold(ngram_matrix(words, 10, 3), 12)
    with pytest.raises(InvalidParameterError):
        ngram_matrix(words, 30, 3)
    with pytest.raises(ItemTypeError):
        ngram_matrix([1.5], 10, 3)


def test_ngram_fit_checks():
    with pytest.raises(InvalidParameterError):
        NgramOracle.fit({"a": 3}, bits=10)
    with pytest.raises(InvalidParameterError):
        NgramOracle.fit(pattern_counts(10), objective="mae")
    with pytest.raises(InvalidParameterError):
        NgramOracle.fit(pattern_counts(10), bits=20)  # dense normal equations need bits <= 14
    with pytest.raises(InvalidParameterError):
        NgramOracle.fit({"a": 1, "b": 1}, objective="coverage", bits=10)  # no light items


def test_hybrid_uses_lookup_where_known_and_model_elsewhere():
    train = pattern_counts(50)
    lookup = LookupOracle.from_counts(train, capacity=10)
    model = NgramOracle.fit(train, bits=10)
    hy = HybridOracle(lookup, model)
    known = [k for k in train if lookup.score([k])[0] > 0][:3]
    assert np.array_equal(hy.score(known), lookup.score(known))
    assert np.array_equal(hy.score(["qqqqing"]), model.score(["qqqqing"]))
    assert hy.nbytes == lookup.nbytes + model.nbytes
    assert Oracle.from_bytes(hy.to_bytes()) == hy
    with pytest.raises(InvalidParameterError):
        HybridOracle(model, lookup)


def test_random_oracle_is_a_reproducible_uniform_control():
    a, b = RandomOracle(5), RandomOracle(5)
    items = np.arange(20000, dtype=np.int64)
    s = a.score(items)
    assert np.array_equal(s, b.score(items)) and not np.array_equal(s, RandomOracle(6).score(items))
    assert 0.0 <= s.min() and s.max() < 1.0 and abs(s.mean() - 0.5) < 0.01
    assert Oracle.from_bytes(a.to_bytes()) == a and a.nbytes == 8


def test_oracle_files_are_checked():
    lk = LookupOracle.from_counts({"a": 3})
    data = bytearray(lk.to_bytes())
    with pytest.raises(WrongSketchTypeError):
        NgramOracle.from_bytes(bytes(data))
    assert from_bytes(bytes(data)) == lk
    data[-6] ^= 1
    with pytest.raises(CorruptSketchError):
        Oracle.from_bytes(bytes(data))


@pytest.mark.parametrize("objective", ["mse", "coverage"])
def test_gbm_oracle_learns_from_spelling_and_round_trips(objective):
    train = pattern_counts()
    gbm = GBMOracle.fit(train, n_trees=30, max_leaves=6, objective=objective, heavy_share=0.45)
    unseen_heavy = ["kkkking", "jjhhing", "abbaing"]
    unseen_light = ["zqkkkk", "zqjjhh", "zqabba"]
    assert gbm.score(unseen_heavy).min() > gbm.score(unseen_light).max()
    assert gbm.n_trees == 30 and gbm.threshold_for(1) >= gbm.threshold_for(100) >= gbm.threshold_for(10**6)
    n_nodes = len(gbm._feature)
    assert gbm.nbytes == 10 * n_nodes + 4 * (30 + 1 + len(gbm._ranks)) + 8 * 31  # tree starts: int64
    clone = from_bytes(gbm.to_bytes())
    assert isinstance(clone, GBMOracle) and clone == gbm and clone.objective == objective
    assert np.array_equal(clone.score(unseen_heavy), gbm.score(unseen_heavy))
    # usable as the model half of a hybrid
    hy = HybridOracle(LookupOracle.from_counts(train, capacity=5), gbm, offset=1.0)
    assert np.array_equal(hy.score(["qqqqing"]), gbm.score(["qqqqing"]) - 1.0)


def test_gbm_scores_equal_the_fitted_estimators():
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    train = pattern_counts(150)
    items = list(train)
    counts = np.array(list(train.values()), dtype=float)
    x = dense_features(items, 5)
    params = {"max_iter": 25, "max_leaf_nodes": 7, "learning_rate": 0.2, "early_stopping": False, "random_state": 0}
    heavy = (counts >= np.sort(counts)[::-1][29]).astype(int)  # heavy_share 0.1 of 300 items
    with threadpool_limits(limits=1, user_api="openmp"):  # idle OpenMP threads spin on a busy machine
        reg = HistGradientBoostingRegressor(**params).fit(x, np.log1p(counts))
        clf = HistGradientBoostingClassifier(**params).fit(x, heavy, sample_weight=counts / counts.mean())
    opts = {"bits": 5, "n_trees": 25, "max_leaves": 7, "learning_rate": 0.2}
    mse = GBMOracle.fit(train, **opts)
    cov = GBMOracle.fit(train, objective="coverage", heavy_share=0.1, **opts)
    probe = items + ["never-seen", "zq", "ing", "a.b-c_D9é"]
    xp = dense_features(probe, 5)
    assert np.abs(mse.score(probe) - reg.predict(xp)).max() < 1e-4
    assert np.abs(cov.score(probe) - clf.decision_function(xp)).max() < 1e-4


def test_dense_features_count_character_classes():
    x = dense_features(["Ab1.-_x é", 42, b"\xff"], bits=4)
    assert x.shape == (3, 16 + len(CLASS_FEATURES))
    # chars, digits, upper, lower, non-ascii bytes, dots, dashes (- and _), other
    assert x[0, 16:].tolist() == [9, 1, 1, 2, 2, 1, 2, 1]
    assert x[1, 16:].tolist() == [2, 2, 0, 0, 0, 0, 0, 0]
    assert x[2, 16:].tolist() == [1, 0, 0, 0, 2, 0, 0, 0]  # bytes read as Latin-1: 'ÿ', 2 UTF-8 bytes
    assert x[0, :16].sum() == 12 + 11 + 10 + 1  # n-grams n = 1..3 of the 12 framed bytes + the length column
    with pytest.raises(InvalidParameterError):
        dense_features(["a"], bits=1)


def test_gbm_fit_and_file_checks():
    with pytest.raises(InvalidParameterError):
        GBMOracle.fit({"a": 3})
    for bad in ({"n_trees": 0}, {"max_leaves": 1}, {"learning_rate": 0.0}, {"features": np.zeros((3, 4))},
                {"objective": "mae"}, {"heavy_share": 1.0}):
        with pytest.raises(InvalidParameterError):
            GBMOracle.fit(pattern_counts(10), **bad)
    with pytest.raises(InvalidParameterError):
        GBMOracle.fit({"a": 1, "b": 1}, objective="coverage")  # no light items
    good = GBMOracle([0, -1, -1], [1, 0, 0], [2, 0, 0], [0.5, -1.0, 1.0], [3], 0.0, bits=4)
    x = np.zeros((2, 24), dtype=np.float32)
    x[1, 0] = 1.0  # one split on feature 0 at 0.5: left leaf -1, right leaf +1
    assert good.score_features(x).tolist() == [-1.0, 1.0]
    with pytest.raises(InvalidParameterError):
        good.score_features(x[:, :10])
    for args in (([0, -1, -1], [0, 0, 0], [2, 0, 0]),   # a child that is its own parent: scoring would loop
                 ([0, -1, -1], [1, 0, 0], [3, 0, 0]),   # a child outside its tree
                 ([99, -1, -1], [1, 0, 0], [2, 0, 0])):  # a feature that does not exist
        with pytest.raises(InvalidParameterError):
            GBMOracle(*args, [0.5, -1.0, 1.0], [3], 0.0, bits=4)
    data = bytearray(good.to_bytes())
    assert from_bytes(bytes(data)) == good
    with pytest.raises(CorruptSketchError):
        from_bytes(bytes(data[:-10]))
    payload_at = 24
    bad = bytearray(data)
    bad[payload_at + 4: payload_at + 8] = (1000).to_bytes(4, "little")  # claims 1000 trees
    with pytest.raises(CorruptSketchError):
        GBMOracle._from_payload(0, 0, _format.Reader(memoryview(bytes(bad[payload_at:-4]))))
