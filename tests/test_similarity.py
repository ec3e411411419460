"""MinHash and one-permutation MinHash: contract, shingling, and the stated estimator variance."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sketchkit as sk
from sketchkit import _format
from sketchkit.errors import (
    CorruptSketchError,
    IncompatibleSketchError,
    InvalidParameterError,
    ItemTypeError,
)
from sketchkit.hashing import item_hash, mix64
from sketchkit.similarity import (
    FastSimilaritySketch,
    MinHash,
    OnePermMinHash,
    Shingling,
    bbit_jaccard,
    bbit_variance,
    minhash_variance,
    oph_variance,
    to_bbit,
    unpack_bbit,
)
from sketchkit.similarity import _kernels as K
from sketchkit.similarity import minhash as M

CLASSES = [MinHash, OnePermMinHash, FastSimilaritySketch]
cls_param = pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
items = st.lists(st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=6)), max_size=40)


# ----------------------------------------------------------------------------- contract
@cls_param
def test_capabilities_and_contract_examples(cls):
    a, b = cls._contract_examples(3)
    assert type(a) is cls and type(b) is cls and a.is_empty() and b.is_empty()
    assert a.seed == b.seed == 3 and a.shape != b.shape
    assert cls.linear and not cls.turnstile and not cls.weighted and cls.item_kind == "any"
    with pytest.raises(IncompatibleSketchError):
        a.merge(b)


@cls_param
@settings(max_examples=40, deadline=None)
@given(x=items, y=items)
def test_merge_is_one_pass_over_both_streams(cls, x, y):
    a, b, ab = cls(32, seed=9), cls(32, seed=9), cls(32, seed=9)
    a.update_batch(x)
    b.update_batch(y)
    ab.update_batch(x + y)
    assert a.copy().merge(b) == ab  # linear: bit for bit, totals included
    assert (a + b).signature().tolist() == ab.signature().tolist()


@cls_param
@settings(max_examples=30, deadline=None)
@given(x=items)
def test_update_batch_equals_loop_and_round_trips(cls, x):
    a, b = cls(16, seed=4), cls(16, seed=4)
    a.update_batch(x)
    for v in x:
        b.update(v)
    assert a == b
    for c in (cls.from_bytes(a.to_bytes()), sk.from_bytes(a.to_bytes()), pickle.loads(pickle.dumps(a)),
              copy.deepcopy(a)):
        assert c == a and c.signature().tolist() == a.signature().tolist()


@cls_param
def test_numpy_ints_equal_list_ints(cls):
    v = list(range(-5, 300, 7))
    a, b = cls(64), cls(64)
    a.update_batch(np.array(v, dtype=np.int64))
    b.update_batch(v)
    assert a == b


@cls_param
def test_weights_other_than_one_are_refused_and_change_nothing(cls):
    s = cls(16)
    s.update_batch(["a", "b"])
    before = s.to_bytes()
    for w in ([1, 2], [1, 0], [1, -1]):
        with pytest.raises(InvalidParameterError):
            s.update_batch(["c", "d"], w)
    with pytest.raises(ItemTypeError):
        s.update_batch(["c", 1.5])
    assert s.to_bytes() == before


@cls_param
def test_seed_and_size_checked_on_merge_and_compare(cls):
    with pytest.raises(IncompatibleSketchError):
        cls(16, seed=1).merge(cls(16, seed=2))
    with pytest.raises(IncompatibleSketchError):
        cls(16, seed=1).jaccard(cls(32, seed=1))
    with pytest.raises(IncompatibleSketchError):
        MinHash(16).jaccard(OnePermMinHash(16))
    with pytest.raises(IncompatibleSketchError):
        FastSimilaritySketch(16).jaccard(OnePermMinHash(16))
    with pytest.raises(InvalidParameterError):
        cls(0)


@cls_param
def test_nbytes_counts_arrays_and_from_memory_fits(cls):
    s = cls(128)
    assert s.nbytes == s.signature().nbytes == 128 * 4
    for budget in (64, 1000, "4KiB"):
        f = cls.from_memory(budget)
        assert f.nbytes <= sk._base.parse_memory(budget)
        assert cls(f.k + 1).nbytes > sk._base.parse_memory(budget)
    assert repr(s).startswith(cls.__name__ + "(k=128") and "σ ≤ 0.044" in repr(s)


@cls_param
def test_shipped_contract_check(cls):
    from sketchkit.testing import check_sketch

    check_sketch(cls)


@cls_param
def test_from_error_meets_hoeffding(cls):
    s = cls.from_error(0.05, 0.01)
    assert 2 * math.exp(-2 * s.k * 0.05**2) <= 0.01 < 2 * math.exp(-2 * (s.k - 1) * 0.05**2)


def _crafted(cls, values, total):
    payload = np.array([len(values), 0], "<u4").tobytes() + np.array([total, total], "<i8").tobytes()
    payload += np.asarray(values, dtype="<u4").tobytes()
    return _format.pack(cls._family, 1, payload)


def test_crafted_bytes_that_no_update_could_produce_are_refused():
    e = int(K.EMPTY)
    with pytest.raises(CorruptSketchError):  # k-hash: some slots set, others empty
        MinHash.from_bytes(_crafted(MinHash, [1, e, 3, 4], 5))
    with pytest.raises(CorruptSketchError):  # k-hash: filled but never updated
        MinHash.from_bytes(_crafted(MinHash, [1, 2, 3, 4], 0))
    with pytest.raises(CorruptSketchError):  # one permutation: more bins than items
        OnePermMinHash.from_bytes(_crafted(OnePermMinHash, [1, 2, e, e], 1))
    with pytest.raises(CorruptSketchError):  # updated but all bins empty
        OnePermMinHash.from_bytes(_crafted(OnePermMinHash, [e, e, e, e], 2))
    with pytest.raises(CorruptSketchError):  # fast similarity: every bin is filled by any update
        FastSimilaritySketch.from_bytes(_crafted(FastSimilaritySketch, [1, 2, e, 4], 9))
    with pytest.raises(CorruptSketchError):  # fast similarity, k = 3: rounds 0..5 in 3 bits
        FastSimilaritySketch.from_bytes(_crafted(FastSimilaritySketch, [1, 2, 6 << 29], 9))
    assert FastSimilaritySketch.from_bytes(_crafted(FastSimilaritySketch, [1, 2, 5 << 29], 9)).k == 3
    good = OnePermMinHash.from_bytes(_crafted(OnePermMinHash, [1, 2, e, e], 2))
    assert good.signature().tolist().count(e) == 0
    bad_totals = bytearray(_crafted(MinHash, [1, 2, 3, 4], 5))
    bad_totals[24 + 8 : 24 + 16] = np.array([6], "<u8").tobytes()
    with pytest.raises(CorruptSketchError):
        MinHash.from_bytes(_format.pack(MinHash._family, 1, bytes(bad_totals[24:-4])))


# ----------------------------------------------------------------------------- shingling
@settings(max_examples=60, deadline=None)
@given(doc=st.text(max_size=30), n=st.integers(1, 6))
def test_char_shingles_hash_like_the_ngram_strings(doc, n):
    cps = list(doc)
    grams = {"".join(cps[i : i + n]) for i in range(len(cps) - n + 1)} or ({doc} if doc else set())
    a = MinHash.from_text(doc, 32, unit="char", n=n, seed=5)
    b = MinHash(32, seed=5)
    b.update_batch(sorted(grams))
    assert a.signature().tolist() == b.signature().tolist()


@settings(max_examples=60, deadline=None)
@given(words=st.lists(st.text(st.characters(codec="utf-8", exclude_characters=" \t\n\r\x0b\x0c"),
                              min_size=1, max_size=5), max_size=12),
       n=st.integers(1, 4), sep=st.sampled_from([" ", "\t", " \n  "]))
def test_word_shingles_follow_the_fold_spec(words, n, sep):
    doc = sep + sep.join(words)
    g0 = int(M.ngram_key(5))
    hs = [item_hash(w, 5) for w in words]
    windows = [hs[i : i + n] for i in range(len(hs) - n + 1)] or ([hs] if hs else [])
    grams = []
    for win in windows:
        g = g0
        for h in win:
            g = mix64(g ^ h)
        grams.append(g)
    a = OnePermMinHash.from_text(doc, 32, n=n, seed=5)
    b = OnePermMinHash(32, seed=5)
    if grams:
        b._fold(np.array(grams, dtype=np.uint64))
    assert a.raw_bins().tolist() == b.raw_bins().tolist()
    assert a.total_weight == len(grams)


DOCS = ["The quick  brown fox", "", "a", "ÉTÉ à Paris\u00a0— été", b"bytes are utf-8 too", "日本語の文章です"]


@cls_param
@pytest.mark.parametrize("sh", [Shingling(), Shingling("char", 4), Shingling(n=2, normalize=True),
                                Shingling(words="unicode", n=1)], ids=repr)
def test_signature_matrix_rows_equal_single_documents(cls, sh):
    mat = cls.signatures(DOCS, 64, seed=3, shingling=sh)
    assert mat.shape == (len(DOCS), 64) and mat.dtype == np.uint32
    for i, d in enumerate(DOCS):
        assert mat[i].tolist() == cls.from_text(d, 64, seed=3, shingling=sh).signature().tolist()
    assert (mat[1] == K.EMPTY).all()  # the empty document is the empty set


@cls_param
def test_no_documents_give_an_empty_matrix(cls):
    assert cls.signatures([], 16).shape == (0, 16)


def test_columns_equal_lists():
    pa = pytest.importorskip("pyarrow")
    pd = pytest.importorskip("pandas")
    docs = [d if isinstance(d, str) else d.decode() for d in DOCS] * 3
    ref = OnePermMinHash.signatures(docs, 32)
    for col in (pa.array(docs), pa.array(docs, pa.large_string()), pa.chunked_array([docs[:5], docs[5:]]),
                pa.array(docs).slice(0), pd.Series(docs)):
        assert (OnePermMinHash.signatures(col, 32) == ref).all()
    assert (OnePermMinHash.signatures(pa.array(docs).slice(3), 32) == ref[3:]).all()
    with pytest.raises(ItemTypeError):
        OnePermMinHash.signatures("one string", 32)
    with pytest.raises(ItemTypeError):
        OnePermMinHash.signatures(["ok", None], 32)


def test_normalisation_folds_case_width_and_spacing():
    a = MinHash.from_text("Ｈｅｌｌｏ  WORLD\u00a0again", 64, unit="char", n=3, normalize=True)
    b = MinHash.from_text("hello world again", 64, unit="char", n=3)
    assert a.jaccard(b) == 1.0
    assert MinHash.from_text("Hello, world!", 64, n=1, words="unicode").jaccard(
        MinHash.from_text("hello world", 64, n=1, words="unicode")) < 1.0  # case kept without normalize
    with pytest.raises(InvalidParameterError):
        Shingling(unit="line")


# ----------------------------------------------------------------------------- statistics
def _planted(rng, a, f):
    u = rng.choice(10**12, f, replace=False).astype(np.int64)
    rest = f - a
    return np.concatenate([u[:a], u[a : a + rest // 2]]), np.concatenate([u[:a], u[a + rest // 2 :]])


def _errors(cls, a, f, reps, k=128, seed=0):
    rng = np.random.default_rng(seed)
    out = np.empty(reps)
    for r in range(reps):
        x, y = _planted(rng, a, f)
        s, t = cls(k, seed=r), cls(k, seed=r)
        s.update_batch(x)
        t.update_batch(y)
        out[r] = s.jaccard(t) - a / f
    return out


def _matches_stated_variance(errors, var):
    """Mean within 4 standard errors of 0, and mean squared error within 4 standard errors of
    the stated variance (for near-normal errors the squared error has sd sqrt(2)·var)."""
    n = errors.size
    bias_ok = abs(errors.mean()) <= 4 * math.sqrt(var / n)
    mse_ok = abs((errors**2).mean() / var - 1) <= 4 * math.sqrt(2 / n)
    return bias_ok and mse_ok


# (|A∩B|, |A∪B|): dense (no empty bin), sparse (about half the 128 bins empty), mid
CASES = [(2400, 3000), (40, 70), (150, 300)]
REPS = 300


@pytest.mark.parametrize("a,f", CASES)
def test_minhash_estimator_has_the_stated_variance(a, f):
    assert _matches_stated_variance(_errors(MinHash, a, f, REPS), minhash_variance(a / f, 128))


@pytest.mark.parametrize("a,f", CASES)
def test_one_permutation_estimator_has_the_stated_variance(a, f):
    assert _matches_stated_variance(_errors(OnePermMinHash, a, f, REPS), oph_variance(a, f, 128))


def _within_variance_bound(errors, bound):
    """Mean within 4 standard errors of 0, mean squared error at most the bound plus 4
    standard errors (one-sided: the stated variance is an upper bound)."""
    n = errors.size
    return abs(errors.mean()) <= 4 * math.sqrt(bound / n) and (errors**2).mean() / bound - 1 <= 4 * math.sqrt(2 / n)


@pytest.mark.parametrize("a,f", CASES + [(3, 5)])
def test_fast_similarity_estimator_is_unbiased_within_the_minhash_variance(a, f):
    assert _within_variance_bound(_errors(FastSimilaritySketch, a, f, REPS), minhash_variance(a / f, 128))


def test_fast_similarity_check_fails_when_rounds_reuse_one_bin(monkeypatch):
    # every round sends an item to the same bin: a 70-item union covers only about 55 of 128
    # bins, the rest copy filled ones, and the estimate is biased
    from sketchkit._jit import njit

    @njit
    def one_bin(sig, hashes, key):
        k = sig.shape[0]
        for j in range(2 * k):
            for t in range(hashes.shape[0]):
                z = K.mix64_u(hashes[t] ^ key)
                b = ((z >> np.uint64(32)) * np.uint64(k)) >> np.uint64(32)
                v = np.uint32((np.uint64(j) << np.uint64(24)) | (K.mix64_u(z + np.uint64(j)) & np.uint64(0xFFFFFF)))
                if v < sig[b]:
                    sig[b] = v
        filled = sig[sig != K.EMPTY]
        for b in range(k):  # give empty bins some value so they compare as with densification
            if sig[b] == K.EMPTY:
                sig[b] = filled[b % filled.shape[0]]

    monkeypatch.setattr(K, "fss_update", one_bin)
    assert not _within_variance_bound(_errors(FastSimilaritySketch, 40, 70, REPS), minhash_variance(40 / 70, 128))


def test_variance_check_fails_on_correlated_minhash_slots(monkeypatch):
    # every slot the same hash function: unbiased, but the variance is J(1-J), k times too big
    real = M._slot_keys

    def same_keys(seed, k):
        a, b = real(seed, 1)
        return np.repeat(a, k), np.repeat(b, k)

    monkeypatch.setattr(M, "_slot_keys", same_keys)
    assert not _matches_stated_variance(_errors(MinHash, 150, 300, REPS), minhash_variance(0.5, 128))


def test_variance_check_fails_on_rotation_densification(monkeypatch):
    # Shrivastava & Li (ICML 2014a): each empty bin copies the next non-empty bin to its right;
    # runs of empty bins then share one donor and the variance grows on sparse sets
    def rotate(bins, out, dkey):
        k = bins.shape[0]
        out[:] = bins
        if (bins == K.EMPTY).all():
            return
        for i in range(k):
            j = i
            while bins[j % k] == K.EMPTY:
                j += 1
            out[i] = bins[j % k]

    monkeypatch.setattr(K, "densify_into", rotate)
    assert not _matches_stated_variance(_errors(OnePermMinHash, 40, 70, REPS), oph_variance(40, 70, 128))


def test_bias_check_fails_without_densification(monkeypatch):
    # empty bins compared as they are: two empty bins "match", so J is overestimated
    monkeypatch.setattr(K, "densify_into", lambda bins, out, dkey: out.__setitem__(slice(None), bins))
    assert not _matches_stated_variance(_errors(OnePermMinHash, 40, 70, REPS), oph_variance(40, 70, 128))


def test_oph_variance_limits():
    for a, f in [(10, 20), (700, 1000), (5000, 6000)]:
        j = a / f
        v = oph_variance(a, f, 128)
        if f >= 2000:  # no empty bin to speak of: at most MinHash's variance
            assert v <= minhash_variance(j, 128) * 1.0001
        assert v > 0
    assert abs(M._occupancy(50, 16).sum() - 1) < 1e-12
    assert oph_variance(7, 7, 64) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(InvalidParameterError):
        oph_variance(5, 3, 64)


def _edit(rng, words, n_edits):
    w = list(words)
    for _ in range(n_edits):
        i = int(rng.integers(len(w)))
        op = rng.integers(3)
        if op == 0:
            w[i] = f"x{rng.integers(10**6)}"
        elif op == 1 and len(w) > 5:
            del w[i]
        else:
            w.insert(i, f"y{rng.integers(10**6)}")
    return w


def _text_chi2(cls):
    """Summed squared z-scores of 60 planted text pairs (real-looking text, word edits; truth =
    exact Jaccard of the Python 3-gram sets): chi-square(60)-like, mean 60, sd 11."""
    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(400)]
    z2 = 0.0
    base_docs, edited = [], []
    for _ in range(60):
        words = list(rng.choice(vocab, 400))
        base_docs.append(" ".join(words))
        edited.append(" ".join(_edit(rng, words, int(rng.integers(1, 60)))))
    sa = cls.signatures(base_docs, 128, seed=11)
    sb = cls.signatures(edited, 128, seed=11)
    for x, y, u, v in zip(base_docs, edited, sa, sb):
        gx = {tuple(x.split()[i : i + 3]) for i in range(len(x.split()) - 2)}
        gy = {tuple(y.split()[i : i + 3]) for i in range(len(y.split()) - 2)}
        inter, union = len(gx & gy), len(gx | gy)
        j = inter / union
        var = oph_variance(inter, union, 128) if cls is OnePermMinHash else minhash_variance(j, 128)
        est = float((u == v).mean())
        z2 += (est - j) ** 2 / max(var, 1e-9)
    return z2


CHI2_LIMIT = 60 + 4 * math.sqrt(120)


@cls_param
def test_text_estimates_track_exact_jaccard_of_word_shingles(cls):
    assert _text_chi2(cls) <= CHI2_LIMIT


def test_text_check_fails_on_correlated_slots(monkeypatch):
    real = M._slot_keys
    monkeypatch.setattr(M, "_slot_keys", lambda seed, k: tuple(np.repeat(x, k) for x in real(seed, 1)))
    assert _text_chi2(MinHash) > CHI2_LIMIT


# ----------------------------------------------------------------------------- b-bit
@pytest.mark.parametrize("b", [1, 2, 4, 8, 16])
def test_bbit_pack_round_trip(b):
    rng = np.random.default_rng(b)
    sig = rng.integers(0, 2**32 - 1, (3, 64), dtype=np.uint64).astype(np.uint32)
    packed = to_bbit(sig, b)
    assert packed.dtype == np.uint8 and packed.shape == (3, 64 * b // 8)
    assert (unpack_bbit(packed, b) == (sig & ((1 << b) - 1))).all()
    with pytest.raises(InvalidParameterError):
        to_bbit(sig, 3)


def _bbit_errors(b, a, f, reps, corrected=True):
    rng = np.random.default_rng(7)
    out = np.empty(reps)
    for r in range(reps):
        x, y = _planted(rng, a, f)
        s, t = MinHash(128, seed=r), MinHash(128, seed=r)
        s.update_batch(x)
        t.update_batch(y)
        if corrected:
            est = bbit_jaccard(s.to_bbit(b), t.to_bbit(b), b)
        else:
            est = float((unpack_bbit(s.to_bbit(b), b) == unpack_bbit(t.to_bbit(b), b)).mean())
        out[r] = est - a / f
    return out


@pytest.mark.parametrize("b", [1, 2, 8])
def test_bbit_estimator_has_the_stated_variance(b):
    assert _matches_stated_variance(_bbit_errors(b, 150, 300, REPS), bbit_variance(0.5, 128, b))


def test_bbit_check_fails_without_the_correction():
    assert not _matches_stated_variance(_bbit_errors(1, 150, 300, REPS, corrected=False), bbit_variance(0.5, 128, 1))


@cls_param
@pytest.mark.parametrize("n", [3, 50, 2000])
def test_any_split_into_batches_gives_the_same_sketch(cls, n):
    rng = np.random.default_rng(n)
    items = rng.integers(0, 10**12, n)
    whole = cls(128, seed=2)
    whole.update_batch(items)
    parts = cls(128, seed=2)
    for chunk in np.array_split(items[rng.permutation(n)], 5):
        parts.update_batch(chunk)
    merged = cls.merge_all([_built(cls, c) for c in np.array_split(items, 3)])
    assert parts == whole == merged


def _built(cls, items):
    s = cls(128, seed=2)
    s.update_batch(items)
    return s
