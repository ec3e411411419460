"""Ctrl-C while the ``sketchkit`` command is still starting (importing) ends it quietly.

:mod:`sketchkit.cli` imports this module before anything heavy. When this process is the
command (the ``sketchkit`` script, ``python -m sketchkit`` or ``python -m sketchkit.cli``; a
library import leaves signal handling alone), SIGINT then prints ``sketchkit: interrupted`` and
exits with status 130 at once: there is nothing to clean up before a command runs. ``main()``
calls :func:`restore` first thing, after which Ctrl-C raises :class:`KeyboardInterrupt` as usual,
so that a command can clean up (a half-written sketch file is removed) before it exits 130.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

EXIT_INTERRUPTED = 130


def _exit_interrupted(signum: int, frame: Any) -> None:
    try:
        os.write(2, b"sketchkit: interrupted\n")
    finally:
        os._exit(EXIT_INTERRUPTED)


def is_command() -> bool:
    """Whether this process runs the ``sketchkit`` command (judged by ``sys.argv[0]``)."""
    path = sys.argv[0] if sys.argv else ""
    name = os.path.splitext(os.path.basename(path))[0]
    package = os.path.basename(os.path.dirname(path))
    return name == "sketchkit" or (package == "sketchkit" and name in ("__main__", "cli"))


def install() -> None:
    if not is_command():
        return
    try:
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started with Ctrl-C ignored (nohup, a `&` job)
            return
        signal.signal(signal.SIGINT, _exit_interrupted)
    except ValueError:  # not the main thread: leave signals alone
        pass


def restore() -> None:
    """Python's own SIGINT handler again, where :func:`install` replaced it."""
    try:
        if signal.getsignal(signal.SIGINT) is _exit_interrupted:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:
        pass


install()
