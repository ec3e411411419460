"""Startup stays light: ``import sketchkit`` and ``sketchkit --help`` import no numba (numba
alone costs 0.15-0.5 s), a first ``topk`` of text runs on the C kernels without numba, and the
lazy names behave as eager ones would. (Times are measured in benchmarks/bench_first_run.py,
never asserted here.)"""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

import sketchkit
from sketchkit import _jit
from sketchkit.frequency import _tracked as T


def _modules_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_import_sketchkit_imports_no_numba_and_no_sketch_module():
    mods = _modules_after("import sketchkit")
    assert "numba" not in mods and "sketchkit.frequency" not in mods


def test_help_and_version_import_no_numba():
    for flag in ("--help", "--version"):
        mods = _modules_after(f"from sketchkit.cli import main\nmain([{flag!r}])")
        assert "numba" not in mods, flag


@pytest.mark.skipif(T._native is None, reason="sketchkit._pack was not built with the C kernels")
@pytest.mark.parametrize("kind", ["spacesaving", "heavyhitters", "countsketch", "countmin"])
def test_topk_of_text_runs_without_numba(tmp_path, kind):
    text = tmp_path / "t.txt"
    text.write_text("a b a c a b\n" * 200)
    mods = _modules_after(
        f"from sketchkit.cli import main\nassert main(['topk', {str(text)!r}, '-k', '2', '--kind', {kind!r}]) == 0"
    )
    assert "numba" not in mods


def test_lazy_names_resolve_like_eager_ones():
    assert set(sketchkit.__all__) <= set(dir(sketchkit))
    for name in sketchkit.__all__:
        assert getattr(sketchkit, name) is not None
    from sketchkit import CountSketch
    from sketchkit.frequency import CountSketch as direct

    assert CountSketch is direct
    with pytest.raises(AttributeError):
        sketchkit.NoSuchSketch  # noqa: B018
    namespace: dict = {}
    exec("from sketchkit import *", namespace)
    assert set(sketchkit.__all__) <= set(namespace)


def test_lazy_kernel_builds_on_first_use():
    def double(x):
        return 2 * x

    kernel = _jit.LazyKernel(double, {})
    assert "not built yet" in repr(kernel) and kernel.py_func is double
    assert kernel(21) == 42 and "(built)" in repr(kernel)
    assert kernel.signatures  # the numba dispatcher's attributes are reachable


def test_an_unbuilt_kernel_pickles_by_reference():
    kernel = _jit.njit(cache=True)(_jit.cache_home)  # any module-level function
    fn, args = kernel.__reduce__()
    assert fn(*args) is _jit.cache_home
    assert pickle.loads(pickle.dumps(T.spacesaving_update)) is T.spacesaving_update
