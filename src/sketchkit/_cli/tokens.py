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
from collections import Counter
from typing import Any

import numpy as np

from .common import CLIError, warn
from .scan import count_spans, first_invalid_utf8, join_spans

WORD_PATTERN = r"\w+"
_WORD_RE = re.compile(WORD_PATTERN)
ERROR_POLICIES = ("replace", "skip", "strict")

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


class Tokenizer:
    """Base: ``batch(chunk, name, first_line)`` → (items, weights or None)."""

    binary = False
    weighted = False
    threaded = False  # True where batch() spends its time in GIL-free kernels

    def batch(self, chunk: bytes, name: str, first_line: int) -> Batch:
        raise NotImplementedError

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
                raise CLIError(f"invalid --pattern {pattern!r}: {e}") from None

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


class Field(Tokenizer):
    """Column ``field`` (1-based) of delimited text, parsed with :mod:`csv` (quotes honoured)."""

    def __init__(self, field: int, delimiter: str = ",", weight_field: int | None = None):
        if field < 1 or (weight_field is not None and weight_field < 1):
            raise CLIError("--field and --weight-field count columns from 1")
        if len(delimiter) != 1:
            raise CLIError(f"--delimiter must be one character, got {delimiter!r}")
        self.field, self.delimiter, self.weight_field = field - 1, delimiter, weight_field
        self.weighted = weight_field is not None
        self.missing = 0

    def batch(self, chunk, name, first_line):
        counter: dict = {}
        need = max(self.field, (self.weight_field or 1) - 1)
        reader = csv.reader(io.StringIO(chunk.decode("utf-8"), newline=""), delimiter=self.delimiter)
        try:
            for row in reader:
                if len(row) <= need:
                    if row:
                        self.missing += 1
                    continue
                w = 1
                if self.weighted:
                    w = _int_weight(row[self.weight_field - 1], name, first_line + reader.line_num - 1)
                key = row[self.field]
                counter[key] = counter.get(key, 0) + w
        except csv.Error as e:
            raise CLIError(f"{name}: line {first_line + reader.line_num - 1}: bad CSV: {e}") from None
        return _counted(counter)

    def report(self):
        if self.missing:
            warn(f"{self.missing} row(s) had too few fields for --field/--weight-field (skipped)")


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

    def __init__(self, path: str, weight_path: str | None = None):
        if not path:
            raise CLIError("--json-field needs a path such as 'user.name'")
        self.path = path.split(".")
        self.weight_path = weight_path.split(".") if weight_path else None
        self.weighted = weight_path is not None
        self.missing = 0

    def batch(self, chunk, name, first_line):
        counter: dict = {}
        for offset, line in enumerate(chunk.decode("utf-8").split("\n")):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise CLIError(f"{name}: line {first_line + offset}: invalid JSON ({e.msg})") from None
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
            counter[key] = counter.get(key, 0) + w
        return _counted(counter)

    def report(self):
        if self.missing:
            warn(f"{self.missing} record(s) lacked the --json-field/--weight-field path (skipped)")


class Int64(Tokenizer):
    """Raw little-endian int64 values, passed to the sketch as an integer array."""

    binary = True
    threaded = True

    def batch(self, chunk, name, first_line):
        return np.frombuffer(chunk, dtype="<i8").astype(np.int64), None


def tokenize_text(text: str, mode: str = "words", pattern: str | None = None) -> list[str]:
    r"""Picklable tokeniser for the distributed path, which hands it one line at a time: the same
    items as the local tokenisers (``lines``: each line without its ``\n``/``\r\n``).

    >>> tokenize_text("naïve café, x_1!")
    ['naïve', 'café', 'x_1']
    >>> tokenize_text("a b\r", mode="lines")
    ['a b']
    """
    if mode == "lines":
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        return [line[:-1] if line.endswith("\r") else line for line in lines]
    return tokenize_pattern(text, re.compile(pattern or WORD_PATTERN))
