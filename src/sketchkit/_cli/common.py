"""What every CLI module shares: the error types the entry point turns into one line, and warnings."""

from __future__ import annotations

import argparse
import sys


class CLIError(Exception):
    """A problem with the user's input (a file, its contents, a sketch file): one line, exit status 1."""

    status = 1


class UsageError(CLIError):
    """A bad command line (options that conflict, a value the sketch cannot take): exit status 2."""

    status = 2


def warn(message: str) -> None:
    """One line on stderr (stdout carries data only)."""
    print(f"sketchkit: warning: {message}", file=sys.stderr)


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value
