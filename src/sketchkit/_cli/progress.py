"""Progress on stderr, only when a person watches it: an interactive stderr, no ``--quiet``,
``TERM`` not ``dumb``, and an input long enough to still be running after ``DELAY`` seconds
(a short run never flashes a bar). rich draws the bar when it is installed (extra ``[cli]``;
its console honours ``NO_COLOR``), else a plain one-line bar redrawn with a carriage return.
Either way the line is erased at the end, so stderr keeps only the messages.

Also here: the one line the command line prints when numba has to compile kernels (a first
run of a kind whose kernels have no C version), set as :data:`sketchkit._jit.compile_notice`.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

from .. import _jit

COMPILE_NOTICE = "sketchkit: compiling kernels, first run only (cached for later runs)"
# Seconds before the bar appears; SKETCHKIT_PROGRESS_DELAY overrides it (the tests use 0).
DELAY = 0.5
PLAIN_REFRESH = 0.1  # seconds between redraws of the plain bar


def _notice() -> None:
    # on a terminal, start by erasing the line, where a progress bar may be drawn
    prefix = "\r\x1b[K" if watched(sys.stderr) else ""
    print(prefix + COMPILE_NOTICE, file=sys.stderr, flush=True)


_jit.compile_notice = _notice


def _delay() -> float:
    try:
        return float(os.environ.get("SKETCHKIT_PROGRESS_DELAY", DELAY))
    except ValueError:
        return DELAY


def watched(stream: TextIO) -> bool:
    """True when ``stream`` is a terminal a person can see (and TERM is not dumb)."""
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


class PlainBar:
    """``sketching  42% [########..........]  120.5/287.0 MB  85.3 MB/s`` on one line."""

    WIDTH = 24

    def __init__(self, stream: TextIO, total: int | None, start: float):
        self._stream, self._total = stream, total
        self._start = start  # when the work began (the rate counts from there)
        self._last = 0.0
        self._shown = False

    def line(self, done: int) -> str:
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        rate = f"{done / elapsed / 1e6:,.1f} MB/s"
        if self._total:
            frac = min(done / self._total, 1.0)
            filled = int(frac * self.WIDTH)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            return f"sketching {100 * frac:3.0f}% [{bar}] {_mb(done)}/{_mb(self._total)}  {rate}"
        return f"sketching {_mb(done)}  {rate}"

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if self._shown and now - self._last < PLAIN_REFRESH:
            return
        self._last = now
        self._shown = True
        self._stream.write("\r" + self.line(done) + "\x1b[K")
        self._stream.flush()

    def stop(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()


class RichBar:
    def __init__(self, stream: TextIO, total: int | None):
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, TransferSpeedColumn
        from rich.progress import Progress as Bar

        console = Console(file=stream)
        self._bar = Bar(
            "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            console=console, transient=True,
        )
        self._task = self._bar.add_task("sketching", total=total)
        self._bar.start()

    def update(self, done: int) -> None:
        self._bar.update(self._task, completed=done)

    def stop(self) -> None:
        self._bar.stop()


def _has_rich() -> bool:
    try:
        import rich.progress  # noqa: F401
    except ImportError:
        return False
    return True


class Progress:
    """``with Progress(quiet, total) as p: p.update(bytes_done)``; silent unless watched."""

    def __init__(self, quiet: bool, total: int | None, stream: TextIO | None = None, plain: bool | None = None):
        self._stream = stream if stream is not None else sys.stderr
        self._total = total
        self._on = not quiet and watched(self._stream)
        self._plain = plain
        self._bar: Any = None
        self._start = time.perf_counter()
        self._delay = _delay()

    def __enter__(self) -> Progress:
        self._start = time.perf_counter()
        return self

    def update(self, done: int) -> None:
        if not self._on:
            return
        if self._bar is None:
            if time.perf_counter() - self._start < self._delay:
                return
            plain = self._plain if self._plain is not None else not _has_rich()
            if plain:
                self._bar = PlainBar(self._stream, self._total, self._start)
            else:
                self._bar = RichBar(self._stream, self._total)
        self._bar.update(done)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
