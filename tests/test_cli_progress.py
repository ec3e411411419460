"""The progress bar: drawn on a terminal (rich when installed, else a plain line), erased at
the end, and never written when stderr is not a terminal or with --quiet. The terminal is a
real pseudo-terminal from the ``pty`` module."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys

import pytest

from sketchkit._cli import progress as P


def _read_all(fd: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        out += chunk
    return out


def _on_pty(run) -> bytes:
    master, slave = pty.openpty()
    with open(slave, "w", closefd=True) as tty:
        run(tty)
    return _read_all(master)


@pytest.fixture(autouse=True)
def _no_delay(monkeypatch):
    monkeypatch.setenv("SKETCHKIT_PROGRESS_DELAY", "0")
    monkeypatch.delenv("TERM", raising=False)


def _drive(tty, plain, quiet=False):
    with P.Progress(quiet, 2_000_000, stream=tty, plain=plain) as bar:
        bar.update(1_000_000)
        bar.update(2_000_000)


def test_plain_bar_on_a_terminal_is_drawn_then_erased():
    out = _on_pty(lambda tty: _drive(tty, plain=True))
    assert b"sketching  50% [############............] 1.0 MB/2.0 MB" in out
    assert out.endswith(b"\r\x1b[K")


def test_rich_bar_on_a_terminal():
    pytest.importorskip("rich")
    out = _on_pty(lambda tty: _drive(tty, plain=False))
    assert b"sketching" in out


@pytest.mark.parametrize("plain", [True, False])
def test_silent_when_quiet_or_not_a_terminal(plain):
    assert _on_pty(lambda tty: _drive(tty, plain=plain, quiet=True)) == b""
    buf = io.StringIO()
    _drive(buf, plain=plain)
    assert buf.getvalue() == ""


def test_silent_on_a_dumb_terminal(monkeypatch):
    monkeypatch.setenv("TERM", "dumb")
    assert _on_pty(lambda tty: _drive(tty, plain=True)) == b""


def test_waits_for_the_delay_before_drawing(monkeypatch):
    monkeypatch.setenv("SKETCHKIT_PROGRESS_DELAY", "3600")
    assert _on_pty(lambda tty: _drive(tty, plain=True)) == b""


# ----------------------------------------------------------------------------- end to end
RUN_CLI = "import sys; from sketchkit.cli import main; sys.exit(main())"
# the same, as on an installation without the [cli] extra
RUN_CLI_NO_RICH = "import sys; sys.modules['rich'] = None; from sketchkit.cli import main; sys.exit(main())"


def _cli_stderr(tmp_path, code: str, on_tty: bool) -> bytes:
    text = tmp_path / "in.txt"
    text.write_text("the cat and the hat\n" * 5000)
    env = dict(os.environ, SKETCHKIT_PROGRESS_DELAY="0")
    env.pop("TERM", None)
    cmd = [sys.executable, "-c", code, "topk", str(text), "-k", "2", "--plain"]
    if not on_tty:
        done = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(b"1\tthe\t10000")
        return done.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    err = _read_all(master)
    out, _ = proc.communicate(timeout=120)
    os.close(master)
    assert proc.returncode == 0, err
    assert out.startswith(b"1\tthe\t10000")
    return err


@pytest.mark.parametrize("code", [RUN_CLI, RUN_CLI_NO_RICH], ids=["rich", "plain"])
def test_cli_draws_a_bar_on_a_terminal_stderr_and_nothing_on_a_pipe(tmp_path, code):
    if code == RUN_CLI:
        pytest.importorskip("rich")
    assert b"sketching" in _cli_stderr(tmp_path, code, on_tty=True)
    assert b"sketching" not in _cli_stderr(tmp_path, code, on_tty=False)


# ----------------------------------------------------------------------------- compiled-kernel cache
USE_A_KERNEL = (
    "import numpy as np, sketchkit._cli.progress, sketchkit.hashing as H; "
    "print(int(H._hash_int64_jit(np.arange(3, dtype=np.int64), np.uint64(1))[0]))"
)


def _unwritable_copy(tmp_path):
    """A copy of the package whose __pycache__ directories cannot be made (each is a plain
    file), so numba cannot cache next to the sources, as in a read-only site-packages (the
    tests run as root, for whom permission bits would not stop a write)."""
    import shutil

    import sketchkit

    root = tmp_path / "site"
    shutil.copytree(os.path.dirname(sketchkit.__file__), root / "sketchkit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for folder, _, _ in os.walk(root / "sketchkit"):
        with open(os.path.join(folder, "__pycache__"), "w") as f:
            f.write("not a directory\n")
    return root


def test_kernels_cache_to_a_per_user_directory_when_the_package_is_not_writable(tmp_path):
    site = _unwritable_copy(tmp_path)
    cache = tmp_path / "xdg"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_CACHE_DIR", "SKETCHKIT_CACHE_DIR"))}
    env.update(PYTHONPATH=str(site), XDG_CACHE_HOME=str(cache), PYTHONDONTWRITEBYTECODE="1")
    runs = [subprocess.run([sys.executable, "-c", USE_A_KERNEL], env=env, capture_output=True, text=True,
                           timeout=300, cwd=tmp_path) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    assert runs[0].stdout == runs[1].stdout
    assert P.COMPILE_NOTICE in runs[0].stderr  # compiled once, and said so, once
    assert runs[0].stderr.count(P.COMPILE_NOTICE) == 1
    assert P.COMPILE_NOTICE not in runs[1].stderr  # loaded from the per-user cache
    cached = [f for _, _, files in os.walk(cache / "sketchkit" / "numba") for f in files]
    assert any(f.endswith(".nbi") for f in cached) and any(f.endswith(".nbc") for f in cached)
