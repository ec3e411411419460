"""Arrow and pandas columns go in as they are (no Python object per item) and hash exactly as
the same items in a list."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sketchkit as sk
from sketchkit.hashing import EncodedBatch, as_item_list

pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")

texts = st.lists(st.text(max_size=8), min_size=1, max_size=60)


@given(words=texts, cut=st.integers(0, 5))
def test_string_columns_equal_the_list(words, cut):
    ref = sk.CountSketch(64, 3, seed=2)
    ref.update_batch(words)
    chunks = [pa.array(words[:cut], pa.string()), pa.array(words[cut:], pa.string())]
    columns = [
        pa.array(words), pa.array(words, pa.large_string()), pa.chunked_array(chunks),
        pd.Series(words, dtype="string[pyarrow]"), pd.Series(words, dtype=object),
    ]
    for col in columns:
        s = sk.CountSketch(64, 3, seed=2)
        s.update_batch(col)
        assert s == ref
    sliced = pa.array(["pad"] + words + ["pad"])[1:-1]  # an offset into shared buffers
    s = sk.CountSketch(64, 3, seed=2)
    s.update_batch(sliced)
    assert s == ref


@given(blobs=st.lists(st.binary(max_size=8), min_size=1, max_size=40))
def test_binary_columns_equal_the_list(blobs):
    ref = sk.CountMin(64, 3)
    ref.update_batch(blobs)
    for col in (pa.array(blobs, pa.binary()), pa.array(blobs, pa.large_binary())):
        s = sk.CountMin(64, 3)
        s.update_batch(col)
        assert s == ref


def test_no_python_object_per_item_and_summaries_keep_items():
    col = pa.array(["b", "a", "b", "c", "b"])
    batch = as_item_list(col)
    assert isinstance(batch, EncodedBatch) and len(batch) == 5 and batch[0] == "b"
    ss = sk.SpaceSaving(2)
    ss.update_batch(col)
    assert ss.top(1)[0].item == "b"


def test_int_columns_and_refusals_change_nothing():
    s = sk.CountSketch(64, 3)
    s.update_batch(pa.array([1, 2, 2], pa.int32()))
    assert s.estimate(2) == 2
    before = s.to_bytes()
    for bad in (pa.array(["a", None]), pa.array([1.5, 2.0]), pa.array([1, None])):
        with pytest.raises(sk.ItemTypeError):
            s.update_batch(bad)
    assert s.to_bytes() == before
    np.testing.assert_array_equal(as_item_list(pd.Series([5, 6])), np.array([5, 6]))
