"""Opening inputs (files, stdin, gzip/bz2/xz) and cutting them into whole-record byte chunks."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import sys
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from .common import CLIError

CHUNK_BYTES = 4 << 20  # big enough to amortise per-chunk Python work, small enough for bounded memory


def _gzip(raw: BinaryIO) -> BinaryIO:
    return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]


def _bz2(raw: BinaryIO) -> BinaryIO:
    return bz2.BZ2File(raw, "rb")  # type: ignore[return-value]


def _xz(raw: BinaryIO) -> BinaryIO:
    return lzma.LZMAFile(raw, "rb")  # type: ignore[return-value]


_OPENERS = {".gz": _gzip, ".bz2": _bz2, ".xz": _xz, ".lzma": _xz}
_MAGIC = ((b"\x1f\x8b", _gzip), (b"BZh", _bz2), (b"\xfd7zXZ\x00", _xz))
# What a damaged compressed stream raises, by library: all become one "corrupt" message.
DECOMPRESS_ERRORS = (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile)


class Source:
    """One input: a name for messages, a binary stream and a way to tell progress in raw bytes."""

    def __init__(self, name: str, stream: BinaryIO, raw: BinaryIO, size: int | None):
        self.name = name
        self.stream = stream
        self._raw = raw
        self.size = size

    def position(self) -> int:
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        if self._raw is not sys.stdin.buffer:
            self.stream.close()
            self._raw.close()


def open_source(path: str) -> Source:
    """Open ``path`` ('-' is stdin); compression by extension, or sniffed on stdin."""
    if path == "-":
        raw = sys.stdin.buffer
        head = raw.peek(6)[:6] if hasattr(raw, "peek") else b""
        for magic, opener in _MAGIC:
            if head.startswith(magic):
                return Source("<stdin>", opener(raw), raw, None)
        return Source("<stdin>", raw, raw, None)
    if os.path.isdir(path):
        raise CLIError(f"{path}: is a directory")
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by Source.close
    except FileNotFoundError:
        raise CLIError(f"{path}: no such file") from None
    except OSError as e:
        raise CLIError(f"{path}: cannot open: {e.strerror or e}") from None
    size = os.fstat(raw.fileno()).st_size
    opener = _OPENERS.get(os.path.splitext(path)[1].lower())
    stream = opener(raw) if opener else raw
    return Source(path, stream, raw, size)


def read_block(source: Source, size: int, eager: bool = False) -> bytes:
    """Up to ``size`` bytes; ``eager``: whatever one read returns (a pipe fed slowly, as by
    ``tail -f``, yields each piece as it arrives instead of waiting for ``size`` bytes)."""
    try:
        if eager and hasattr(source.stream, "read1"):
            return source.stream.read1(size)
        return source.stream.read(size)
    except DECOMPRESS_ERRORS as e:
        raise CLIError(f"{source.name}: corrupt or truncated compressed data ({e})") from None
    except OSError as e:
        # bz2 reports a bad stream as OSError("Invalid data stream")
        raise CLIError(f"{source.name}: cannot read: {e.strerror or e}") from None


MAX_LINE_BYTES = 64 << 20


def text_chunks(
    source: Source, size: int = CHUNK_BYTES, max_line: int = MAX_LINE_BYTES, eager: bool = False
) -> Iterator[bytes]:
    """Chunks of about ``size`` bytes, each ending at a line end (the last one may not).

    A line is never split (``--lines`` counts whole lines), so an unfinished line is held
    until its newline arrives; one longer than ``max_line`` bytes is refused with a clear
    error instead of growing without bound. ``eager``: see :func:`read_block`."""
    pending: list[bytes] = []  # pieces of the unfinished line
    held = 0
    while True:
        block = read_block(source, size, eager)
        if not block:
            break
        cut = block.rfind(b"\n")
        first = block.find(b"\n")
        if held + (first if first >= 0 else len(block)) > max_line:
            raise CLIError(f"{source.name}: a line longer than {max_line:,} bytes; split the input into lines")
        if cut < 0:
            pending.append(block)
            held += len(block)
            continue
        pending.append(block[: cut + 1])
        yield b"".join(pending)
        rest = block[cut + 1 :]
        pending, held = ([rest], len(rest)) if rest else ([], 0)
    if pending:
        yield b"".join(pending)


def int64_chunks(source: Source, size: int = CHUNK_BYTES, eager: bool = False) -> Iterator[bytes]:
    """Chunks holding whole little-endian int64 values; a ragged tail is an error."""
    carry = b""
    while True:
        block = read_block(source, size, eager)
        if not block:
            break
        block = carry + block
        cut = len(block) - len(block) % 8
        carry = block[cut:]
        if cut:
            yield block[:cut]
    if carry:
        raise CLIError(
            f"{source.name}: {len(carry)} trailing bytes: --int64 input must be a whole number of 8-byte values"
        )
