"""numba, imported when a kernel first runs rather than when sketchkit is imported.

Importing numba costs about 0.15-0.5 s, most of ``import sketchkit`` and of ``sketchkit --help``
before this module existed. :func:`njit` here takes the same options as ``numba.njit`` but
returns a :class:`LazyKernel`: a stand-in that imports numba and builds the real dispatcher on
its first call (or first attribute access such as ``.py_func``). Before a kernel is built, the
module globals it reads that are themselves stand-ins (kernels it calls, possibly imported
from another module) are built first and swapped in place, because numba only types calls to
its own dispatchers; the built dispatcher also replaces the stand-in in the kernel's own
module, so later Python calls go straight to numba.

Compiled code is cached as numba caches it (``cache=True``: next to the source in
``__pycache__``). Where that directory is not writable (a read-only site-packages), the cache
goes to a per-user directory instead: ``$SKETCHKIT_CACHE_DIR/numba`` if set, else
``$XDG_CACHE_HOME/sketchkit/numba`` (``~/.cache/sketchkit/numba``). ``NUMBA_CACHE_DIR``, when
set, still wins, as it does for any numba code.

A caller that wants to tell a person about a first-run compilation (the command line does)
sets :data:`compile_notice`: it is called once, just before the first kernel of the process
is compiled rather than loaded from the cache.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["njit", "LazyKernel", "compile_notice", "cache_home", "user_cache_dir", "load_numba"]

compile_notice: Callable[[], None] | None = None

_numba: Any = None
_notice_given = False
# one build at a time (re-entrant: building a kernel builds the kernels it calls), so two
# threads reaching a kernel first do not both build it
_build_lock = threading.RLock()


def cache_home() -> str:
    """sketchkit's per-user cache directory: ``$SKETCHKIT_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/sketchkit`` (``~/.cache/sketchkit``)."""
    base = os.environ.get("SKETCHKIT_CACHE_DIR")
    if base:
        return base
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "sketchkit")


def user_cache_dir() -> str:
    """Where compiled kernels go when the package's own ``__pycache__`` is not writable."""
    return os.path.join(cache_home(), "numba")


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _install_cache_locator(numba: Any) -> None:
    """Put the per-user locator right after numba's in-tree one, for sketchkit's files only."""
    from numba.core import caching

    class SketchkitUserCacheLocator(caching.UserProvidedCacheLocator):
        def __init__(self, py_func: Any, py_file: str):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = os.path.join(user_cache_dir(), self.get_suitable_cache_subpath(py_file))

        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            if not os.path.abspath(py_file).startswith(_PACKAGE_DIR + os.sep):
                return None
            return caching._SourceFileBackedLocatorMixin.from_function.__func__(cls, py_func, py_file)

    classes = caching.CacheImpl._locator_classes
    if not any(c.__name__ == SketchkitUserCacheLocator.__name__ for c in classes):
        at = classes.index(caching.InTreeCacheLocator) + 1 if caching.InTreeCacheLocator in classes else 0
        classes.insert(at, SketchkitUserCacheLocator)


def _install_notice(numba: Any) -> None:
    from numba.core import event

    class FirstCompile(event.Listener):
        def on_start(self, ev: Any) -> None:
            global _notice_given
            if not _notice_given and compile_notice is not None:
                _notice_given = True
                compile_notice()

        def on_end(self, ev: Any) -> None:
            pass

    event.register("numba:compile", FirstCompile())


def load_numba() -> Any:
    """Import numba once, with sketchkit's cache locator and first-compile notice installed."""
    global _numba
    if _numba is None:
        import numba

        _install_cache_locator(numba)
        _install_notice(numba)
        _numba = numba
    return _numba


def _names(code: Any) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _names(const)
    return names


class LazyKernel:
    """A kernel not built yet: calls and attribute reads build it (see the module docstring)."""

    def __init__(self, py_func: Callable, options: dict[str, Any]):
        self.py_func = py_func
        self._options = options
        self._built: Any = None
        functools.update_wrapper(self, py_func)

    def build(self) -> Any:
        """The numba dispatcher (imports numba and resolves the kernels this one calls)."""
        if self._built is None:
            with _build_lock:
                if self._built is None:
                    numba = load_numba()
                    g = self.py_func.__globals__
                    for name in _names(self.py_func.__code__):
                        value = g.get(name)
                        if isinstance(value, LazyKernel):
                            g[name] = value.build()
                    built = numba.njit(**self._options)(self.py_func)
                    if g.get(self.py_func.__name__) is self:
                        g[self.py_func.__name__] = built
                    self._built = built
        return self._built

    def __call__(self, *args: Any) -> Any:
        return (self._built or self.build())(*args)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.build(), name)

    def __repr__(self) -> str:
        state = "built" if self._built is not None else "not built yet"
        return f"<sketchkit kernel {self.py_func.__module__}.{self.py_func.__qualname__} ({state})>"

    def __reduce__(self) -> Any:
        # pickled by reference, like a module-level function
        return (_kernel_by_name, (self.py_func.__module__, self.py_func.__qualname__))


def _kernel_by_name(module: str, qualname: str) -> Any:
    obj: Any = sys.modules.get(module) or __import__(module, fromlist=["_"])
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def njit(*args: Any, **options: Any) -> Any:
    """``numba.njit`` without importing numba now: ``@njit`` or ``@njit(cache=True, ...)``."""
    if args and callable(args[0]) and not options:
        return LazyKernel(args[0], {})
    if args:
        raise TypeError("sketchkit._jit.njit takes options only (no explicit signatures)")
    return lambda func: LazyKernel(func, options)
