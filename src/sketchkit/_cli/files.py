"""Sketch files: read with clear errors, written atomically (temporary file, fsync, rename)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Any

import sketchkit

from .._format import MAGIC
from ..errors import SerializationError
from .common import CLIError


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a
    part: an interruption (Ctrl-C included) removes the temporary file."""
    if path == "-":
        if sys.stdout.isatty():
            raise CLIError("refusing to write a binary sketch to a terminal: give -o FILE")
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    if os.path.isdir(path):
        raise CLIError(f"{path}: is a directory")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    except OSError as e:
        raise CLIError(f"{path}: cannot write: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the mode open() would
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise CLIError(f"{path}: cannot write: {e.strerror or e}") from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_bytes(path: str) -> bytes:
    """A whole file's bytes; a missing, unreadable or directory path is one CLIError line."""
    if os.path.isdir(path):
        raise CLIError(f"{path}: is a directory")
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise CLIError(f"{path}: no such file") from None
    except OSError as e:
        raise CLIError(f"{path}: cannot read: {e.strerror or e}") from None


def read_sketch(path: str) -> Any:
    """Load a sketch file ('-' is stdin); every defect becomes one CLIError line."""
    if path == "-":
        data = sys.stdin.buffer.read()
        name = "<stdin>"
    else:
        name = path
        data = read_bytes(path)
    if not data:
        raise CLIError(f"{name}: empty file, not a sketch")
    if not data.startswith(MAGIC):
        raise CLIError(f"{name}: not a sketchkit sketch file")
    try:
        return sketchkit.from_bytes(data)
    except SerializationError as e:
        raise CLIError(f"{name}: {e}") from None
