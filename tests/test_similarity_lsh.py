"""MinHashLSH (banding, index, bytes) and whole-matrix near-duplicate clusters."""

from __future__ import annotations

import math
import pickle
import struct

import numpy as np
import pytest

import sketchkit as sk
from sketchkit import _format
from sketchkit import _ids as ids
from sketchkit.errors import CorruptSketchError, IncompatibleSketchError, InvalidParameterError, ItemTypeError
from sketchkit.similarity import (
    MinHash,
    MinHashLSH,
    OnePermMinHash,
    candidate_probability,
    find_clusters,
    optimal_params,
)
from sketchkit.similarity import _kernels as K
from sketchkit.similarity import dedup as D
from sketchkit.similarity._text import document_buffer


def _areas(t, b, r, n=4001):
    lo = np.linspace(0, t, n)
    hi = np.linspace(t, 1, n)
    return (np.trapezoid(candidate_probability(lo, b, r), lo),
            np.trapezoid(1 - candidate_probability(hi, b, r), hi))


@pytest.mark.parametrize("t,k,w", [(0.5, 128, (0.5, 0.5)), (0.8, 128, (0.5, 0.5)), (0.8, 128, (0.1, 0.9)),
                                   (0.9, 64, (0.3, 0.7)), (0.7, 256, (0.5, 0.5))])
def test_optimal_params_minimise_the_weighted_error_areas(t, k, w):
    b, r = optimal_params(t, k, *w)
    assert b * r <= k
    fp, fn = _areas(t, b, r)
    best = w[0] * fp + w[1] * fn
    for bb in range(1, k + 1):
        for rr in range(1, k // bb + 1):
            fp2, fn2 = _areas(t, bb, rr, 801)
            assert w[0] * fp2 + w[1] * fn2 >= best - 2e-4


def test_recall_weights_raise_the_candidate_probability_at_the_threshold():
    assert candidate_probability(0.8, *optimal_params(0.8, 128, 0.1, 0.9)) > 0.85
    assert optimal_params(0.8, 128) == (9, 13)
    with pytest.raises(InvalidParameterError):
        optimal_params(1.0, 128)


def _pair_sigs(rng, a, f, seeds, cls=MinHash, k=128):
    out = []
    for s in seeds:
        u = rng.choice(10**12, f, replace=False).astype(np.int64)
        rest = f - a
        x, y = cls(k, seed=s), cls(k, seed=s)
        x.update_batch(np.concatenate([u[:a], u[a : a + rest // 2]]))
        y.update_batch(np.concatenate([u[:a], u[a + rest // 2 :]]))
        out.append((x, y))
    return out


def _candidate_rate_matches(pairs, s, bands, rows):
    """Share of pairs sharing a band within 4 binomial standard errors of 1-(1-s^r)^b."""
    hits = 0
    for x, y in pairs:
        kx = K.band_keys(x.signature()[None], bands, rows)
        ky = K.band_keys(y.signature()[None], bands, rows)
        hits += bool((kx == ky).any())
    p = float(candidate_probability(s, bands, rows))
    return abs(hits / len(pairs) - p) <= 4 * math.sqrt(p * (1 - p) / len(pairs))


@pytest.mark.parametrize("a,f", [(150, 300), (210, 300)])
def test_candidate_probability_is_the_banding_formula(a, f):
    pairs = _pair_sigs(np.random.default_rng(3), a, f, range(400))
    assert _candidate_rate_matches(pairs, a / f, 16, 4)


def test_candidate_check_fails_when_a_band_reads_one_row(monkeypatch):
    real = K.band_keys

    def one_row(sigs, bands, rows):
        return real(np.repeat(sigs[:, ::rows][:, :bands], rows, axis=1), bands, rows)

    pairs = _pair_sigs(np.random.default_rng(3), 150, 300, range(400))
    monkeypatch.setattr(K, "band_keys", one_row)
    assert not _candidate_rate_matches(pairs, 0.5, 16, 4)


# ----------------------------------------------------------------------------- index
DOCS = [
    "the quick brown fox jumps over the lazy dog near the river bank today",
    "the quick brown fox jumps over the lazy dog near the river bank tonight",
    "a completely different sentence about sketches and hashing of sets",
    "a completely different sentence about sketches and hashing of big sets",
    "nothing in common with anything else whatsoever here",
]


def _index(threshold=0.5, cls=OnePermMinHash):
    sigs = cls.signatures(DOCS, 128, n=2, seed=2)
    lsh = MinHashLSH(threshold, 128, seed=2)
    lsh.insert_batch(["a", "b", "c", "d", 5], sigs)
    return lsh, sigs


def test_insert_query_remove_topk():
    lsh, sigs = _index()
    assert len(lsh) == 5 and "a" in lsh and lsh.keys() == ["a", "b", "c", "d", 5]
    assert lsh.query(sigs[0]) == ["a", "b"]
    assert lsh.query(sigs[4]) == [5]
    top = lsh.top_k(sigs[2], 2)
    assert [k for k, _ in top] == ["c", "d"] and top[0][1] == 1.0 and 0.5 < top[1][1] < 1.0
    assert len(lsh.top_k(sigs[2], 10, exhaustive=True)) == 5
    lsh.remove("b")
    assert lsh.query(sigs[0]) == ["a"] and "b" not in lsh and len(lsh) == 4
    with pytest.raises(KeyError):
        lsh.remove("b")
    lsh.insert("b", sigs[1])  # a removed key can come back
    lsh.insert_batch([], np.empty((0, 128), np.uint32))
    assert lsh.query(sigs[0]) == ["a", "b"]


def test_sketch_objects_are_checked_against_the_index():
    lsh = MinHashLSH(0.5, 64, seed=1)
    m = MinHash.from_text(DOCS[0], 64, seed=1)
    lsh.insert("x", m)
    assert lsh.query(m) == ["x"]
    for bad in (MinHash(64, seed=2), MinHash(32, seed=1), OnePermMinHash(64, seed=1)):
        with pytest.raises(IncompatibleSketchError):
            lsh.insert("y", bad)
    with pytest.raises(InvalidParameterError):
        lsh.insert("x", m)
    with pytest.raises(ItemTypeError):
        lsh.insert(1.5, m.signature())
    with pytest.raises(ItemTypeError):
        lsh.insert("z", m.signature().astype(np.int64))
    with pytest.raises(InvalidParameterError):
        lsh.insert_batch(["p", "p"], np.stack([m.signature()] * 2))
    assert len(lsh) == 1
    with pytest.raises(InvalidParameterError):
        MinHashLSH(0.5, 64, bands=10, rows=10)


def test_info_fields():
    lsh, _ = _index()
    assert lsh.total_weight == 5 and not lsh.is_empty() and MinHashLSH(0.5).is_empty()
    assert "0.87 at s = t = 0.5" in lsh.guarantee() and lsh.nbytes == 16 * 128 * 4 + 16 * 32 * 8  # capacity 16


def test_many_single_inserts_keep_every_entry():
    sigs = OnePermMinHash.signatures([f"doc {i} words here" for i in range(300)], 64, n=1)
    lsh = MinHashLSH(0.9, 64)
    for i in range(300):
        lsh.insert(i, sigs[i])
    assert lsh.nbytes < 2 * 300 * (64 * 4 + lsh.params[0] * 8) + 1
    assert all(lsh.signature(i).tolist() == sigs[i].tolist() for i in range(300))
    assert lsh.top_k(sigs[123], 1)[0] == (123, 1.0)


def test_bytes_and_pickle_round_trip():
    lsh, sigs = _index()
    lsh.remove("c")
    for back in (MinHashLSH.from_bytes(lsh.to_bytes()), sk.from_bytes(lsh.to_bytes()), pickle.loads(pickle.dumps(lsh))):
        assert back == lsh and back.keys() == lsh.keys() and back.params == lsh.params
        assert back.query(sigs[0]) == lsh.query(sigs[0])
        assert back.top_k(sigs[3], 3) == lsh.top_k(sigs[3], 3)


def _payload(keys_blob, n, k=4, t=0.5, bands=2, rows=2, kind=0, sigs=None):
    head = struct.pack("<dIIIIB3x", t, k, bands, rows, n, kind)
    body = sigs if sigs is not None else np.zeros(n * k, "<u4").tobytes()
    return _format.pack(ids.LSH_INDEX, 1, head + keys_blob + body)


def test_crafted_index_bytes_are_refused():
    one = struct.pack("<Bq", 0, 7)
    assert len(MinHashLSH.from_bytes(_payload(one, 1))) == 1
    for bad in (_payload(one + one, 2),  # duplicate key
                _payload(one, 1, bands=3, rows=2),  # bands * rows > k
                _payload(one, 1, t=1.5),
                _payload(struct.pack("<B", 9), 1),  # unknown key tag
                _payload(struct.pack("<BI", 1, 2) + b"\xff\xfe", 1),  # key not UTF-8
                _payload(one, 1, kind=7),
                _payload(one, 1000)):
        with pytest.raises(CorruptSketchError):
            MinHashLSH.from_bytes(bad)
    data = bytearray(_index()[0].to_bytes())
    data[30] ^= 1
    with pytest.raises(CorruptSketchError):
        MinHashLSH.from_bytes(bytes(data))


# ----------------------------------------------------------------------------- clusters
def test_clusters_are_transitive_and_labelled_by_lowest_index():
    # A~B and B~C but not A~C: one cluster {A, B, C}
    base = [f"w{i}" for i in range(60)]
    a = base
    b = base[:40] + [f"x{i}" for i in range(20)]
    c = base[:20] + [f"x{i}" for i in range(20)] + [f"y{i}" for i in range(20)]
    far = [f"z{i}" for i in range(60)]
    docs = [" ".join(x) for x in (far, a, b, c)]
    sigs = MinHash.signatures(docs, 256, n=1, seed=4)
    est = lambda i, j: float((sigs[i] == sigs[j]).mean())  # noqa: E731
    assert est(1, 2) > 0.4 and est(2, 3) > 0.4 and est(1, 3) < 0.3
    res = find_clusters(sigs, 0.4)
    assert res.labels.tolist() == [0, 1, 1, 1]
    assert res.n_duplicates == 2 and res.keep_mask().tolist() == [True, True, False, False]


def test_skip_and_exact_verification():
    docs = ["a b c d e f", "a b c d e f", "", "", "a b c d e g"]
    sigs = OnePermMinHash.signatures(docs, 64, n=1)
    skip = np.array([len(d) == 0 for d in docs])
    assert find_clusters(sigs, 0.9, skip=skip).labels.tolist() == [0, 0, 2, 3, 4]
    assert find_clusters(sigs, 0.9).labels.tolist()[2:4] == [2, 2]  # two empty sets are equal
    buf, off = document_buffer(docs, sk.Shingling(n=1))
    flat, starts = K.text_shingles(buf, off, K.MODE_WORDS, 1, OnePermMinHash(1)._item_seed, np.uint64(0))
    ex = find_clusters(sigs, 5 / 7 - 1e-9, skip=skip, exact=(flat, starts), bands=64, rows=1)
    assert ex.labels.tolist() == [0, 0, 2, 3, 0]  # exact J(doc0, doc4) = 5/7
    hy = find_clusters(sigs, 5 / 7 - 1e-9, skip=skip, exact=(flat, starts), verify="hybrid", bands=64, rows=1)
    assert hy.labels.tolist() == ex.labels.tolist()  # the estimate is near t: checked exactly
    with pytest.raises(InvalidParameterError):
        find_clusters(sigs, 0.5, verify="hybrid")


def test_components_is_union_find():
    labels = D.components(6, np.array([4, 1, 5]), np.array([5, 2, 3]))
    assert labels.tolist() == [0, 1, 1, 3, 3, 3]
