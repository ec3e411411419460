"""What every CLI module shares: the one error type the entry point turns into a message."""

from __future__ import annotations

import sys


class CLIError(Exception):
    """A problem with the user's input or options: printed as one line, exit status 1."""


def warn(message: str) -> None:
    """One line on stderr (stdout carries data only)."""
    print(f"sketchkit: warning: {message}", file=sys.stderr)
