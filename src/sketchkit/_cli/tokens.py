"""Turning chunks of input into ``(items, weights)`` batches, one tokeniser per input mode.

Every text tokeniser receives valid UTF-8 (see :class:`Utf8Policy`) cut at line ends and
returns the chunk's distinct items with their summed weights. Text items are ``str``; JSON
values that are not strings become their JSON text, so ``query`` keys are always strings.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import unicodedata
from collections import Counter
from typing import Any

import numpy as np

from .common import CLIError, UsageError, warn
from .scan import count_spans, first_invalid_utf8, join_spans

WORD_PATTERN = r"\w+"
_WORD_RE = re.compile(WORD_PATTERN)
ERROR_POLICIES = ("replace", "skip", "strict")
NORMAL_FORMS = ("NFC", "NFKC", "NFD", "NFKD")

Batch = tuple[Any, "np.ndarray | None"]


class Utf8Policy:
    """What to do with lines that are not valid UTF-8: replace bad bytes by U+FFFD, skip the
    line, or stop (strict). Counts the lines it touched so the caller can report them."""

    def __init__(self, policy: str = "replace"):
        if policy not in ERROR_POLICIES:
            raise CLIError(f"--errors must be one of {', '.join(ERROR_POLICIES)}, got {policy!r}")
        self.policy = policy
        self.bad_lines = 0
        self._lock = threading.Lock()  # chunks may be cleaned on several threads

    def clean(self, chunk: bytes, name: str, first_line: int) -> bytes:
        if chunk.isascii():
            return chunk
        buf = np.frombuffer(chunk, dtype=np.uint8)
        parts: list = []
        pos = 0
        while True:
            bad = int(first_invalid_utf8(buf, pos))
            if bad < 0:
                break
            # fix only the line holding the bad byte, then go on after it
            line_start = chunk.rfind(b"\n", 0, bad) + 1
            line_end = chunk.find(b"\n", bad)
            line_end = len(chunk) if line_end < 0 else line_end
            with self._lock:
                self.bad_lines += 1
            if self.policy == "strict":
                line_no = first_line + chunk.count(b"\n", 0, line_start)
                raise CLIError(
                    f"{name}: line {line_no}: invalid UTF-8 at byte {bad - line_start} "
                    "(use --errors replace or --errors skip to go on)"
                )
            parts.append(chunk[pos:line_start])
            if self.policy == "replace":
                parts.append(chunk[line_start:line_end].decode("utf-8", "replace").encode("utf-8"))
                pos = line_end
            else:  # skip the line and its newline
                pos = min(line_end + 1, len(chunk))
        if not parts:
            return chunk
        parts.append(chunk[pos:])
        return b"".join(parts)

    def report(self) -> None:
        if self.bad_lines:
            what = "replaced bad bytes with U+FFFD" if self.policy == "replace" else "skipped them"
            warn(f"{self.bad_lines} line(s) had invalid UTF-8 ({what})")


def _counted(counter: dict) -> Batch:
    return list(counter), np.fromiter(counter.values(), dtype=np.int64, count=len(counter))


def _spans_batch(chunk: bytes, lines: bool) -> Batch:
    buf = np.frombuffer(chunk, dtype=np.uint8)
    starts, ends, counts = count_spans(buf, lines)
    if starts.shape[0] == 0:
        return [], counts
    joined, wide = join_spans(buf, starts, ends)
    items = joined.tobytes().decode("utf-8").split("\n")
    if lines or not wide.any():
        return items, counts
    # runs with non-ASCII bytes: split them as \w+ does on the decoded text
    extra: Counter = Counter()
    for j in np.flatnonzero(wide).tolist():
        c = int(counts[j])
        for token in _WORD_RE.findall(items[j]):
            extra[token] += c
    keep = np.flatnonzero(~wide)
    items = [items[j] for j in keep.tolist()] + list(extra)
    counts = np.concatenate([counts[keep], np.fromiter(extra.values(), dtype=np.int64, count=len(extra))])
    return items, counts


class BadRecords:
    """Malformed records (invalid JSON or CSV, a weight that is not an integer): without
    ``--skip-bad`` the first one stops the run naming file and line; with it they are skipped,
    counted, and reported once at the end."""

    def __init__(self, skip: bool = False):
        self.skip = skip
        self.count = 0
        self.first: str | None = None

    def __call__(self, message: str) -> None:
        if not self.skip:
            raise CLIError(message)
        self.count += 1
        if self.first is None:
            self.first = message

    def report(self) -> None:
        if self.count:
            warn(f"skipped {self.count} malformed record(s) (--skip-bad); the first: {self.first}")


class Tokenizer:
    """Base: ``batch(chunk, name, first_line)`` → (items, weights or None)."""

    binary = False
    weighted = False
    threaded = False  # True where batch() spends its time in GIL-free kernels

    def batch(self, chunk: bytes, name: str, first_line: int) -> Batch:
        raise NotImplementedError

    def header(self, line: bytes, name: str) -> None:
        """The first line of an input, given instead of its records under ``--header``."""

    def report(self) -> None:
        """Warn about records that were skipped (missing fields and the like)."""


class Words(Tokenizer):
    """Words: ``re.findall(pattern, text)``; the default ``\\w+`` runs compiled."""

    def __init__(self, pattern: str | None = None):
        self.pattern = pattern
        self.threaded = pattern is None
        if pattern is not None:
            try:
                self._re = re.compile(pattern)
            except re.error as e:
                raise UsageError(f"invalid --pattern {pattern!r}: {e}") from None

    def batch(self, chunk, name, first_line):
        if self.pattern is None:
            return _spans_batch(chunk, lines=False)
        return _counted(Counter(tokenize_pattern(chunk.decode("utf-8"), self._re)))


def tokenize_pattern(text: str, rx: re.Pattern) -> list[str]:
    if rx.groups == 0:
        return [t for t in rx.findall(text) if t]
    return [t for t in (m.group(0) for m in rx.finditer(text)) if t]


class Lines(Tokenizer):
    """Whole lines (without their line ending) as items."""

    threaded = True

    def batch(self, chunk, name, first_line):
        return _spans_batch(chunk, lines=True)


def _int_weight(value: Any, name: str, line: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise CLIError(f"{name}: line {line}: weight {value!r} is not an integer")
    try:
        return int(value)
    except ValueError:
        raise CLIError(f"{name}: line {line}: weight {value!r} is not an integer") from None


def _column(spec: int | str, option: str) -> int | str:
    """A column number (from 1) stays an int, anything else is a header name."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        number = int(spec)
        if number < 1:
            raise UsageError(f"{option} counts columns from 1, got {spec!r}")
        return number
    if not spec:
        raise UsageError(f"{option} needs a column number or a header name")
    return spec


class Field(Tokenizer):
    """Column ``field`` of delimited text, parsed with :mod:`csv` (quotes honoured): a number
    (from 1), or a name looked up in each input's header line (``--header``)."""

    def __init__(self, field: int | str, delimiter: str = ",", weight_field: int | str | None = None,
                 bad: BadRecords | None = None):
        if len(delimiter) != 1:
            raise UsageError(f"--delimiter must be one character, got {delimiter!r}")
        self.spec = _column(field, "--field")
        self.weight_spec = None if weight_field is None else _column(weight_field, "--weight-field")
        self.delimiter = delimiter
        self.weighted = weight_field is not None
        self.by_name = isinstance(self.spec, str) or isinstance(self.weight_spec, str)
        self.field = self.spec - 1 if isinstance(self.spec, int) else -1  # 0-based, set per input by name
        self.weight_field = self.weight_spec if isinstance(self.weight_spec, int) else None  # 1-based
        self.bad = bad or BadRecords()
        self.missing = 0

    def header(self, line, name):
        if not self.by_name:
            return
        text = line.decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r\n")
        columns = next(csv.reader([text], delimiter=self.delimiter), [])

        def find(spec: int | str, option: str) -> int:
            if isinstance(spec, int):
                return spec - 1
            if spec not in columns:
                shown = ", ".join(columns[:20]) + (", ..." if len(columns) > 20 else "")
                raise CLIError(f"{name}: no column {spec!r} for {option} in the header line ({shown})")
            return columns.index(spec)

        self.field = find(self.spec, "--field")
        if self.weight_spec is not None:
            self.weight_field = find(self.weight_spec, "--weight-field") + 1

    def batch(self, chunk, name, first_line):
        if self.field < 0:
            raise UsageError("--field NAME needs --header (the line that names the columns)")
        counter: dict = {}
        need = max(self.field, (self.weight_field or 1) - 1)
        reader = csv.reader(io.StringIO(chunk.decode("utf-8"), newline=""), delimiter=self.delimiter)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:  # the reader goes on with the next line
                self.bad(f"{name}: line {first_line + reader.line_num - 1}: bad CSV: {e}")
                continue
            if len(row) <= need:
                if row:
                    self.missing += 1
                continue
            w = 1
            if self.weighted:
                try:
                    w = _int_weight(row[self.weight_field - 1], name, first_line + reader.line_num - 1)
                except CLIError as e:
                    self.bad(str(e))
                    continue
            key = row[self.field]
            counter[key] = counter.get(key, 0) + w
        return _counted(counter)

    def report(self):
        if self.missing:
            warn(f"{self.missing} row(s) had too few fields for --field/--weight-field (skipped)")
        self.bad.report()


def _lookup(obj: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(obj, dict):
            if part not in obj:
                raise KeyError(part)
            obj = obj[part]
        elif isinstance(obj, list) and part.lstrip("-").isdigit():
            obj = obj[int(part)]  # IndexError when absent
        else:
            raise KeyError(part)
    return obj


def json_item(value: Any) -> str:
    """A JSON value as a sketch item: strings as they are, anything else as compact JSON text."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class JsonField(Tokenizer):
    """A field of each NDJSON record, addressed by a dotted path (``user.name``, ``tags.0``)."""

    def __init__(self, path: str, weight_path: str | None = None, bad: BadRecords | None = None):
        if not path:
            raise UsageError("--json-field needs a path such as 'user.name'")
        self.path = path.split(".")
        self.weight_path = weight_path.split(".") if weight_path else None
        self.weighted = weight_path is not None
        self.bad = bad or BadRecords()
        self.missing = 0

    def batch(self, chunk, name, first_line):
        counter: dict = {}
        for offset, line in enumerate(chunk.decode("utf-8").split("\n")):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                self.bad(f"{name}: line {first_line + offset}: invalid JSON ({e.msg})")
                continue
            try:
                key = json_item(_lookup(record, self.path))
                w = 1
                if self.weight_path is not None:
                    w = _lookup(record, self.weight_path)
                    if isinstance(w, float) and w.is_integer():
                        w = int(w)
                    w = _int_weight(w, name, first_line + offset)
            except (KeyError, IndexError):
                self.missing += 1
                continue
            except CLIError as e:
                self.bad(str(e))
                continue
            counter[key] = counter.get(key, 0) + w
        return _counted(counter)

    def report(self):
        if self.missing:
            warn(f"{self.missing} record(s) lacked the --json-field/--weight-field path (skipped)")
        self.bad.report()


class Int64(Tokenizer):
    """Raw little-endian int64 values, passed to the sketch as an integer array."""

    binary = True
    threaded = True

    def batch(self, chunk, name, first_line):
        return np.frombuffer(chunk, dtype="<i8").astype(np.int64), None


class Normalized(Tokenizer):
    r"""Another text tokeniser's items, Unicode-normalised (``--normalize FORM``) and/or case-folded
    (``--ignore-case``, :meth:`str.casefold`): items that then compare equal are counted as one.

    Words and lines see the normalised *text* (a decomposed ``e`` + U+0301 is one word once
    composed, since ``\w`` does not match a lone combining mark); fields and JSON values are
    normalised one by one, so the delimiters and JSON syntax are read as they are. Folding
    applies to each item, then the form again (casefolding can undo a normal form).
    """

    def __init__(self, inner: Tokenizer, fold: bool = False, form: str | None = None):
        if inner.binary:
            raise UsageError("--ignore-case and --normalize apply to text, not --int64")
        if form is not None and form not in NORMAL_FORMS:
            raise UsageError(f"--normalize must be one of {', '.join(NORMAL_FORMS)}, got {form!r}")
        self.inner, self.fold, self.form = inner, fold, form
        self.weighted, self.threaded = inner.weighted, inner.threaded
        self.text_level = isinstance(inner, (Words, Lines))

    def header(self, line, name):
        self.inner.header(line, name)

    def batch(self, chunk, name, first_line):
        if self.form and self.text_level and not chunk.isascii():  # ASCII is in every normal form
            chunk = unicodedata.normalize(self.form, chunk.decode("utf-8")).encode("utf-8")
        items, weights = self.inner.batch(chunk, name, first_line)
        per_item = self.form if not self.text_level else None
        counter: dict = {}
        ones = weights is None
        for i, item in enumerate(items):
            key = normalize_item(item, self.fold, self.form, per_item)
            counter[key] = counter.get(key, 0) + (1 if ones else int(weights[i]))
        return _counted(counter)

    def report(self):
        self.inner.report()


def normalize_item(item: str, fold: bool, form: str | None, first_form: str | None = None) -> str:
    """``first_form`` (when the text was not normalised before tokenising), then casefold, then
    ``form`` again, since casefolding can leave a string outside the normal form."""
    if item.isascii():
        return item.lower() if fold else item
    if first_form:
        item = unicodedata.normalize(first_form, item)
    if fold:
        item = item.casefold()
        if form:
            item = unicodedata.normalize(form, item)
    return item


def tokenize_text(
    text: str, mode: str = "words", pattern: str | None = None, fold: bool = False, form: str | None = None
) -> list[str]:
    r"""Picklable tokeniser for the distributed path, which hands it one line at a time: the same
    items as the local tokenisers (``lines``: each line without its ``\n``/``\r\n``), with the
    same ``--ignore-case``/``--normalize`` as :class:`Normalized`.

    >>> tokenize_text("naïve café, x_1!")
    ['naïve', 'café', 'x_1']
    >>> tokenize_text("a b\r", mode="lines")
    ['a b']
    >>> tokenize_text("Straße STRASSE", fold=True)
    ['strasse', 'strasse']
    """
    if form and not text.isascii():
        text = unicodedata.normalize(form, text)
    if mode == "lines":
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        items = [line[:-1] if line.endswith("\r") else line for line in lines]
    else:
        items = tokenize_pattern(text, re.compile(pattern or WORD_PATTERN))
    if fold:
        items = [normalize_item(t, True, form) for t in items]
    return items
