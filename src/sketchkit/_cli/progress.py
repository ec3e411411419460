"""Progress on stderr, only when a person watches it: an interactive stderr, no ``--quiet``,
and ``TERM`` not ``dumb``. rich is optional (extra ``[cli]``); without it nothing is shown.
rich's console honours ``NO_COLOR`` by itself."""

from __future__ import annotations

import os
import sys
from typing import Any


class Progress:
    def __init__(self, quiet: bool, total: int | None):
        self._bar: Any = None
        self._task = None
        if quiet or os.environ.get("TERM") == "dumb" or not sys.stderr.isatty():
            return
        try:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, TransferSpeedColumn
            from rich.progress import Progress as Bar
        except ImportError:
            return
        console = Console(stderr=True)
        if not console.is_interactive:
            return
        self._bar = Bar(
            "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            console=console, transient=True,
        )
        self._task = self._bar.add_task("sketching", total=total)

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def update(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
