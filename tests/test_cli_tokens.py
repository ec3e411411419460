"""White-box and property tests of the CLI's input layer: the compiled scanner must give exactly
the tokens of ``re.findall(r"\\w+")`` / the lines of ``str.split``, the UTF-8 validator exactly
what Python's strict decoder accepts, and chunking must never cut a record."""

import gzip
import io
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sketchkit._cli.candidates import Candidates
from sketchkit._cli.common import CLIError
from sketchkit._cli.inputs import Source, int64_chunks, text_chunks
from sketchkit._cli.scan import first_invalid_utf8
from sketchkit._cli.stream import StreamStats, feed
from sketchkit._cli.tokens import (
    BadRecords,
    Field,
    Int64,
    JsonField,
    Lines,
    Normalized,
    Utf8Policy,
    Words,
    tokenize_text,
)
from sketchkit.frequency import CountMin

TEXT = st.text(alphabet=st.sampled_from(list("ab_Z9 \t\r\n.,-é€😀\u00a0\u2028«»")), max_size=200)


def batch_counter(batch):
    items, weights = batch
    out = Counter()
    for item, w in zip(items, weights.tolist()):
        out[item] += w
    return out


@given(TEXT)
def test_words_are_exactly_regex_words(text):
    assert batch_counter(Words().batch(text.encode(), "t", 1)) == Counter(re.findall(r"\w+", text))


@given(TEXT)
def test_lines_are_newline_separated_without_cr(text):
    if not text:
        assert Lines().batch(b"", "t", 1)[0] == []
        return
    expected = Counter(tokenize_text(text, mode="lines"))
    assert batch_counter(Lines().batch(text.encode(), "t", 1)) == expected
    # the distributed path hands over one line at a time and must agree line by line
    per_line = Counter(x for line in text.split("\n")[: -1 if text.endswith("\n") else None]
                       for x in tokenize_text(line, mode="lines"))
    assert per_line == expected


def test_words_fixed_example():
    items, counts = Words().batch("the cat, the hat; naïve «x» the\n".encode(), "t", 1)
    assert dict(zip(items, counts.tolist())) == {"the": 3, "cat": 1, "hat": 1, "naïve": 1, "x": 1}


def test_custom_pattern_and_groups():
    assert batch_counter(Words(r"[a-z]+").batch(b"ab1cd AB ab", "t", 1)) == {"ab": 2, "cd": 1}
    # a pattern with a group still yields whole matches
    assert batch_counter(Words(r"(a)b").batch(b"ab ab", "t", 1)) == {"ab": 2}
    with pytest.raises(CLIError, match="invalid --pattern"):
        Words("(")


@given(st.binary(max_size=12))
def test_utf8_validator_matches_python(data):
    try:
        data.decode("utf-8")
        expected = -1
    except UnicodeDecodeError as e:
        expected = e.start
    assert first_invalid_utf8(np.frombuffer(data, dtype=np.uint8), 0) == expected


@pytest.mark.parametrize("bad", [b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80"])
def test_utf8_validator_rejects_surrogates_overlongs_and_truncation(bad):
    assert first_invalid_utf8(np.frombuffer(b"ok" + bad, dtype=np.uint8), 0) == 2


def test_utf8_policies():
    chunk = b"good\nbad \xff line\nfine \xc3\xa9\n"
    replace = Utf8Policy("replace")
    assert replace.clean(chunk, "f", 1) == "good\nbad \ufffd line\nfine é\n".encode()
    assert replace.bad_lines == 1
    assert Utf8Policy("skip").clean(chunk, "f", 1) == "good\nfine é\n".encode()
    with pytest.raises(CLIError, match=r"^f: line 11: invalid UTF-8 at byte 4"):
        Utf8Policy("strict").clean(chunk, "f", 10)
    assert Utf8Policy("strict").clean(b"plain\n", "f", 1) == b"plain\n"


def _source(data: bytes) -> Source:
    stream = io.BytesIO(data)
    return Source("mem", stream, stream, len(data))


@given(st.lists(st.text(alphabet="ab\u00e9", max_size=30), max_size=40), st.integers(1, 17))
def test_text_chunks_end_at_line_ends(lines, size):
    data = "\n".join(lines).encode()
    chunks = list(text_chunks(_source(data), size))
    assert b"".join(chunks) == data
    assert all(c.endswith(b"\n") for c in chunks[:-1])


def test_a_line_past_the_limit_is_refused_not_held_without_bound():
    data = b"short\n" + b"x" * 100 + b"\nend\n"
    assert b"".join(text_chunks(_source(data), 8, max_line=100)) == data  # exactly at the limit
    with pytest.raises(CLIError, match="line longer than"):
        list(text_chunks(_source(b"short\n" + b"x" * 101 + b"\n"), 8, max_line=100))


def test_int64_chunks_and_ragged_tail():
    values = np.arange(-5, 100, dtype="<i8")
    chunks = list(int64_chunks(_source(values.tobytes()), 24))
    assert np.concatenate([Int64().batch(c, "m", 0)[0] for c in chunks]).tolist() == values.tolist()
    with pytest.raises(CLIError, match="3 trailing bytes"):
        list(int64_chunks(_source(values.tobytes() + b"abc"), 24))


def test_field_tokenizer_with_weights_and_quotes():
    tok = Field(2, ",", weight_field=3)
    data = b'1,apple,3\n2,"pear, ripe",2\n3,apple,4\nshort\n'
    assert batch_counter(tok.batch(data, "f", 1)) == {"apple": 7, "pear, ripe": 2}
    assert tok.missing == 1
    with pytest.raises(CLIError, match=r"f: line 2: weight 'x' is not an integer"):
        Field(1, ",", weight_field=2).batch(b"a,1\nb,x\n", "f", 1)


def test_json_field_paths_values_and_errors():
    tok = JsonField("user.name", "n")
    data = b'{"user": {"name": "ann"}, "n": 2}\n\n{"user": {"name": 7}, "n": 1}\n{"user": {}}\n'
    assert batch_counter(tok.batch(data, "j", 1)) == {"ann": 2, "7": 1}
    assert tok.missing == 1
    assert batch_counter(JsonField("tags.1").batch(b'{"tags": ["a", "b"]}\n', "j", 1)) == {"b": 1}
    with pytest.raises(CLIError, match=r"j: line 2: invalid JSON"):
        JsonField("a").batch(b'{"a": 1}\n{"a": \n', "j", 1)
    with pytest.raises(CLIError, match="not an integer"):
        JsonField("a", "w").batch(b'{"a": "x", "w": 1.5}\n', "j", 1)


def _feed_zipf(cm, cand, after_batch=lambda: None) -> Counter:
    """20,000 Zipf(1.5) tokens in batches of 1,000 (token, count) pairs into ``cm`` and then ``cand``."""
    rng = np.random.default_rng(0)
    stream = [f"k{int(x)}" for x in rng.zipf(1.5, 20000) if x < 10**6]
    for start in range(0, len(stream), 1000):
        part = Counter(stream[start : start + 1000])
        items, weights = list(part), np.array(list(part.values()), dtype=np.int64)
        cm.update_batch(items, weights)
        cand.observe(items, weights)
        after_batch()
    return Counter(stream)


def test_candidates_keep_the_heavy_items():
    cm = CountMin(width=2000, depth=5, seed=3)
    cand = Candidates(cm, capacity=10)
    truth = _feed_zipf(cm, cand)
    top = cand.top(5)
    assert [r[0] for r in top] == [k for k, _ in truth.most_common(5)]
    for item, est, lo, hi in top:
        assert lo <= truth[item] <= est == hi


def test_gzip_source_roundtrip(tmp_path):
    from sketchkit._cli.inputs import open_source

    path = tmp_path / "a.txt.gz"
    path.write_bytes(gzip.compress(b"x y\nz\n"))
    src = open_source(str(path))
    assert b"".join(text_chunks(src)) == b"x y\nz\n"
    src.close()


# ----------------------------------------------------------------------------- issue #13 options
FOLDABLE = st.text(alphabet=st.sampled_from(list("aAbB ßSs\nﬁFI\u0301éEİı\u00c5\u212b\u30ac\uff21 .")), max_size=60)


@given(FOLDABLE, st.booleans(), st.sampled_from([None, "NFC", "NFKC", "NFD", "NFKD"]))
def test_normalized_words_equal_the_distributed_tokeniser(text, fold, form):
    """The compiled path (normalise the chunk, scan, fold each distinct item, re-aggregate) gives
    the items the per-line tokeniser of --workers gives."""
    if not fold and form is None:
        return
    tok = Normalized(Words(), fold=fold, form=form)
    expected = Counter(tokenize_text(text, fold=fold, form=form))
    assert batch_counter(tok.batch(text.encode(), "t", 1)) == expected


@given(FOLDABLE, st.booleans(), st.sampled_from([None, "NFC", "NFKC"]))
def test_normalized_lines_equal_the_distributed_tokeniser(text, fold, form):
    if not fold and form is None or not text:
        return
    lines = Normalized(Lines(), fold=fold, form=form)
    assert batch_counter(lines.batch(text.encode(), "t", 1)) == Counter(
        tokenize_text(text, mode="lines", fold=fold, form=form))


def test_normalized_fields_keep_their_delimiters():
    # NFKC maps the full-width comma U+FF0C to ',': a field must not be split by it
    tok = Normalized(Field(1, ","), fold=True, form="NFKC")
    assert batch_counter(tok.batch("Ａ\uff0cb,x\na\uff0cB,y\n".encode(), "f", 1)) == {"a,b": 2}
    assert batch_counter(Field(1, ",").batch("Ａ\uff0cb,x\n".encode(), "f", 1)) == {"Ａ\uff0cb": 1}


def test_normalized_refuses_int64_and_unknown_forms():
    with pytest.raises(CLIError, match="apply to text"):
        Normalized(Int64(), fold=True)
    with pytest.raises(CLIError, match="--normalize must be one of"):
        Normalized(Words(), form="NFX")


def test_field_names_from_the_header_line():
    tok = Field("city", ";", weight_field="n")
    tok.header("\ufeffname;city;n\r\n".encode(), "s.csv")
    assert (tok.field, tok.weight_field) == (1, 3)
    assert batch_counter(tok.batch(b"a;Oslo;2\nb;Rome;1\nc;Oslo;3\n", "s.csv", 2)) == {"Oslo": 5, "Rome": 1}
    with pytest.raises(CLIError, match=r"^t.csv: no column 'city' for --field in the header line \(a, b\)$"):
        Field("city").header(b"a,b\n", "t.csv")
    numbered = Field(2)
    numbered.header(b"whatever,names\n", "u.csv")  # a number needs no header: the line is only skipped
    assert numbered.field == 1
    with pytest.raises(CLIError, match="counts columns from 1"):
        Field(0)


def test_bad_records_stop_or_are_counted():
    strict = BadRecords(skip=False)
    with pytest.raises(CLIError, match="^f: line 3: invalid JSON"):
        strict("f: line 3: invalid JSON")
    lenient = BadRecords(skip=True)
    lenient("first")
    lenient("second")
    assert (lenient.count, lenient.first) == (2, "first")
    tok = JsonField("a", "w", BadRecords(skip=True))
    data = b'{"a": "x", "w": 2}\n{nope\n{"a": "y", "w": "z"}\n{"a": "x", "w": 1}\n'
    assert batch_counter(tok.batch(data, "j", 1)) == {"x": 3}
    assert (tok.bad.count, tok.bad.first) == (2, "j: line 2: invalid JSON (Expecting property name enclosed in "
                                                  "double quotes)")
    field = Field(1, ",", 2, BadRecords(skip=True))
    assert batch_counter(field.batch(b"a,1\nb,x\na,2\n", "c", 5)) == {"a": 3}
    assert field.bad.first == "c: line 6: weight 'x' is not an integer"


class _Trickle(io.RawIOBase):
    """A pipe fed slowly: each read returns at most one of the given pieces."""

    def __init__(self, pieces):
        self.pieces = list(pieces)

    def readable(self):
        return True

    def readinto(self, buf):
        if not self.pieces:
            return 0
        piece = self.pieces.pop(0)
        buf[: len(piece)] = piece
        return len(piece)


def test_eager_chunks_follow_the_pieces_as_they_arrive():
    pieces = [b"a b\n", b"c", b" d\ne\n", b"f"]
    eager = list(text_chunks(_source_of(io.BufferedReader(_Trickle(pieces))), 1 << 16, eager=True))
    assert eager == [b"a b\n", b"c d\ne\n", b"f"]  # an unfinished line waits for its newline
    # without eager, read(size) waits for size bytes (or the end): everything in one read here
    assert list(text_chunks(_source_of(io.BufferedReader(_Trickle(pieces))), 1 << 16)) == [b"a b\nc d\ne\n", b"f"]


def _source_of(stream):
    return Source("pipe", stream, stream, None)


def test_binary_input_is_refused_with_the_offset_of_its_first_nul():
    chunks = [b"text line\n", b"more\n", b"ab\x00cd\n"]
    sink = []
    with pytest.raises(CLIError, match=r"^f: binary file \(a NUL byte at offset 17\); --binary"):
        feed(iter(chunks), "f", Lines(), [lambda i, w: sink.append(i)], StreamStats(), Utf8Policy(), binary_ok=False)
    feed(iter(chunks), "f", Lines(), [lambda i, w: sink.append(i)], StreamStats(), Utf8Policy(), binary_ok=True)
    assert any("ab\x00cd" in batch for batch in sink)


def test_every_sink_reports_at_each_multiple_and_budget_warning():
    from sketchkit import SpaceSaving
    from sketchkit.cli import _budget_warning, _Every

    seen = []
    every = _Every(("items", 10), seen.append)
    for n in (4, 4, 4, 30, 1):
        every(["x"] * n, None)
    assert seen == [12, 42]  # at the first batch past 10, then past 40 (30 and 40 fell inside one batch)
    weighted = []
    every = _Every(("items", 5), weighted.append)
    every(["a", "b"], np.array([3, -4]))  # |weights| count
    assert weighted == [7]

    exact = SpaceSaving(100)
    exact.update_batch(["a"] * 5 + ["b"] * 3)
    assert _budget_warning(exact, exact.top(10), 10, 4096) is None  # every item kept: the answer is exact
    full = SpaceSaving(4)
    full.update_batch([f"w{i}" for i in range(100)] * 2)
    message = _budget_warning(full, full.top(10), 10, 1024)
    assert message.startswith("--memory 1KiB holds 4 items, fewer than -k 10 and leaves bounds up to ")
    assert message.endswith("try --memory 4KiB or more for -k 10")


def test_candidates_with_a_byte_budget_keep_the_heavy_items_within_it():
    """The byte budget is checked after every batch (``nbytes`` = the dict + its items' objects, kept
    incrementally and equal to a recount), and the heaviest items survive the cuts it forces."""
    import sys

    cm = CountMin(width=2000, depth=5, seed=3)
    cand = Candidates(cm, capacity=1000, max_bytes=2048)

    def within_budget():
        assert cand.nbytes <= 2048
        assert cand.nbytes == sys.getsizeof(cand.items) + sum(sys.getsizeof(x) for x in cand.items)

    truth = _feed_zipf(cm, cand, within_budget)
    assert 5 <= cand.fit < 1000
    assert [r[0] for r in cand.top(5)] == [k for k, _ in truth.most_common(5)]
