"""The sketch contract as a check anyone can run: ``check_sketch(cls)``.

Every class registered with the byte format (:mod:`sketchkit._format`) that subclasses
:class:`sketchkit._base.Sketch` runs through these checks in sketchkit's own test suite; a
third-party family (registered through the ``sketchkit.families`` entry point) can run them in its
own. What is checked is chosen by the class's declared capabilities — ``linear``, ``turnstile``,
``weighted``, ``item_kind``, ``hashed_updates`` — and by the examples its
``_contract_examples(seed)`` returns, never by a list of class names.

The checks, each an assertion that names what failed:

* ``update_batch`` is bit-identical to looping ``update``; a numpy int batch equals the list batch;
  a ``Counter`` adds its counts; ``update_hashed(item_hashes(x))`` equals ``update_batch(x)``.
* merge: leaves the other sketch untouched, ``a + b == b + a`` and equals ``a.copy().merge(b)``,
  totals add; linear sketches: merging equals one pass and is associative; self-merge works.
* bytes, pickle, ``copy`` and ``deepcopy`` round-trip to an equal sketch that goes on exactly as
  the original; truncated, bit-flipped, padded, future-version and wrong-class bytes are refused
  with a :class:`~sketchkit.errors.SerializationError`.
* refusals change nothing: bad items and weights, other seeds, other shapes, other classes,
  negative weights where the sketch is not turnstile, invalid seeds.
* the empty sketch: ``is_empty``, zero total, round-trips, ``empty_like`` is empty and mergeable.
* memory: ``from_memory(b).nbytes <= b``, and ``nbytes`` within 10% of the bytes the process
  really holds for a loaded sketch, measured with :mod:`tracemalloc`.
"""

from __future__ import annotations

import copy
import pickle
import struct
import tracemalloc
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from . import _format
from ._base import Sketch
from .errors import (
    IncompatibleSketchError,
    InvalidParameterError,
    SerializationError,
    SketchError,
    UnsupportedVersionError,
    WrongSketchTypeError,
)

__all__ = ["check_sketch", "contract_checks", "held_bytes", "registered_sketch_classes"]

NBYTES_TOLERANCE = 0.10  # nbytes may differ from the bytes really held by at most this fraction
MEMORY_BUDGETS = ("2KiB", "16KiB", "256KiB")


def registered_sketch_classes() -> list[type]:
    """Every sketch class registered with the byte format, after loading each package that
    declares ``sketchkit.families`` entry points (a package that fails to import raises)."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=_format.ENTRY_POINT_GROUP):
        ep.load()
    return [cls for _, cls in sorted(_format._REGISTRY.items()) if isinstance(cls, type) and issubclass(cls, Sketch)]


def _cases(cls: type, seed: int = 7) -> list[tuple[Sketch, Sketch]]:
    pairs = cls._contract_examples(seed)
    return pairs if isinstance(pairs, list) else [pairs]


def _with_seed(example: Sketch, seed: int) -> Sketch:
    """An empty sketch configured as ``example`` but with another seed."""
    for a, _ in _cases(type(example), seed):
        if a.shape == example.shape:
            return a
    raise AssertionError(f"{type(example).__name__}._contract_examples does not reproduce shape {example.shape}")


# ---------------------------------------------------------------------- streams
def _items(s: Sketch, rng: np.random.Generator, n: int) -> list:
    kind = s.item_kind
    if kind == "float":
        return [float(x) for x in rng.standard_normal(n) * 100]
    if kind == "int":
        return [int(x) for x in rng.integers(0, 4096, n)]
    pool: list[Any] = [int(x) for x in rng.integers(-50, 50, 8)]
    pool += ["a", "zz", "ünï", "", "the"]
    pool += [b"\x00\xff", 2**63 - 1, -(2**63)]
    return [pool[int(i)] for i in rng.integers(0, len(pool), n)]


def _many_distinct(s: Sketch, rng: np.random.Generator, n: int) -> list:
    """A stream over thousands of distinct items (str and int where both are taken), so that
    every part of a sketch's state is exercised at a realistic size."""
    if s.item_kind == "float":
        return [float(x) for x in rng.lognormal(3, 2, n)]
    keys = rng.zipf(1.2, n) % 4096
    if s.item_kind == "int":
        return [int(x) for x in keys]
    return [f"item-{int(k)}" if k % 2 else int(k) for k in keys]


def _weights(s: Sketch, rng: np.random.Generator, n: int) -> list[int] | None:
    if not s.weighted:
        return None
    lo = -5 if s.turnstile else 0
    return [int(x) for x in rng.integers(lo, 6, n)]


def _stream(s: Sketch, rng: np.random.Generator, n: int | None = None) -> tuple[list, list[int] | None]:
    n = int(rng.integers(0, 60)) if n is None else n
    return _items(s, rng, n), _weights(s, rng, n)


def _built(example: Sketch, items: list, weights: list[int] | None) -> Sketch:
    s = example.empty_like()
    if items:
        s.update_batch(items, weights)
    return s


def _sum(items: list, weights: list[int] | None) -> int:
    return len(items) if weights is None else sum(weights)


# ---------------------------------------------------------------------- checks
def check_update_batch_equals_loop(example: Sketch, other: Sketch, rng: np.random.Generator) -> None:
    for _ in range(10):
        items, weights = _stream(example, rng)
        looped = example.empty_like()
        for i, x in enumerate(items):
            if weights is None:
                looped.update(x)
            else:
                looped.update(x, weights[i])
        batch = _built(example, items, weights)
        assert looped == batch, "update_batch differs from looping update"
        assert batch.total_weight == _sum(items, weights), "total_weight is not the sum of the weights"


def check_numpy_and_mapping_batches(example: Sketch, other: Sketch, rng: np.random.Generator) -> None:
    if example.item_kind == "float":
        values = rng.standard_normal(50)
        a, b = example.empty_like(), example.empty_like()
        a.update_batch(values)
        b.update_batch(values.tolist())
        assert a == b, "a float64 array batch differs from the same list"
        return
    ints = [int(x) for x in rng.integers(0, 4096, 80)]
    a, b = example.empty_like(), example.empty_like()
    a.update_batch(np.array(ints, dtype=np.int64))
    b.update_batch(ints)
    assert a == b, "a numpy int64 batch differs from the same list"
    if example.weighted:
        c = example.empty_like()
        c.update_batch(Counter(ints))
        d = example.empty_like()
        counted = Counter(ints)
        d.update_batch(list(counted), list(counted.values()))
        assert c == d, "a Counter batch is not its keys weighted by its counts"


def check_hashed_updates(example: Sketch, other: Sketch, rng: np.random.Generator) -> None:
    if not example.hashed_updates:
        return
    items, weights = _stream(example, rng, 40)
    a = _built(example, items, weights)
    b = example.empty_like()
    b.update_hashed(example.item_hashes(items), weights)
    assert a == b, "update_hashed(item_hashes(x)) differs from update_batch(x)"


def check_merge(example: Sketch, other: Sketch, rng: np.random.Generator) -> None:
    for _ in range(6):
        a = _built(example, *_stream(example, rng))
        b = _built(example, *_stream(example, rng))
        b_bytes = b.to_bytes()
        assert a.is_mergeable(b), "is_mergeable is False for two sketches of the same configuration"
        ab = a.copy().merge(b)
        assert b.to_bytes() == b_bytes, "merge changed its argument"
        assert ab == b.copy().merge(a), "merge is not commutative"
        assert ab == a + b, "a + b differs from a.copy().merge(b)"
        assert ab.total_weight == a.total_weight + b.total_weight, "merge does not add total weights"
        assert type(example).merge_all([a, b]) == ab, "merge_all differs from merge"


def check_linear_merge(example: Sketch, other: Sketch, rng: np.random.Generator) -> None:
    if not example.linear:
        return
    for _ in range(6):
        streams = [_stream(example, rng) for _ in range(3)]
        a, b, c = (_built(example, *st) for st in streams)
        assert (a + b) + c == a + (b + c), "merge is not associative"
        items = [x for st in streams for x in st[0]]
        weights = None if streams[0][1] is None else [w for st in streams for w in st[1]]
        assert a + b + c == _built(example, items, weights), "merging differs from one pass over both streams"


def check_self_merge(example: Sketch, other: Sketch, rng: np.random.Generator) -> None:
    items, weights = _stream(example, rng, 20)
    s = _built(example, items, weights)
    twice = _built(example, items + items, None if weights is None else weights + weights)
    s.merge(s)
    if example.linear:
        assert s == twice, "self-merge of a linear sketch is not the doubled stream"
    assert s.total_weight == twice.total_weight, "self-merge does not double the total weight"


def check_round_trips(example: Sketch, other: Sketch, rng: np.random.Generator) -> None:
    for _ in range(5):
        s = _built(example, *_stream(example, rng))
        data = s.to_bytes()
        from . import from_bytes

        clones = [type(s).from_bytes(data), from_bytes(data), pickle.loads(pickle.dumps(s)), s.copy(),
                  copy.deepcopy(s), copy.copy(s)]
        for clone in clones:
            assert type(clone) is type(s) and clone == s, "a round-trip (bytes, pickle or copy) changed the sketch"
        # derived state (indexes, queues, caches) rebuilt from the bytes must behave as the original's
        more = _stream(example, rng, 12)
        s.update_batch(*more)
        for clone in clones:
            clone.update_batch(*more)
            assert clone == s, "a round-tripped sketch goes on differently from the original"


def check_empty(example: Sketch, other: Sketch, rng: np.random.Generator) -> None:
    from . import from_bytes

    s = example.empty_like()
    assert s.is_empty() and s.total_weight == 0, "a new sketch is not empty"
    assert from_bytes(s.to_bytes()) == s, "the empty sketch does not round-trip"
    assert (s + example.empty_like()).is_empty(), "empty + empty is not empty"
    s.update_batch([])
    if s.item_kind != "float":
        s.update_batch(np.array([], dtype=np.int64))
    assert s.is_empty() and s == example.empty_like(), "an empty batch changed the sketch"
    full = _built(example, *_stream(example, rng, 20))
    e = full.empty_like()
    assert e.is_empty() and e.shape == example.shape and e.is_mergeable(full), "empty_like is not an empty twin"


def check_properties(example: Sketch, other: Sketch, rng: np.random.Generator) -> None:
    s = _built(example, *_stream(example, rng, 20))
    assert s.seed == example.seed, "seed changed"
    assert isinstance(s.nbytes, int) and s.nbytes > 0, "nbytes is not a positive int"
    assert isinstance(s.shape, tuple), "shape is not a tuple"
    try:
        s.seed = s.seed + 1  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("seed can be assigned")
    assert repr(s).startswith(type(s).__name__), "repr does not start with the class name"
    assert s.__hash__ is None, "a mutable sketch is hashable"


def check_merge_refusals(example: Sketch, other: Sketch, rng: np.random.Generator) -> None:
    s = _built(example, *_stream(example, rng, 10))
    before = s.to_bytes()
    other_seed = _with_seed(example, 8)
    strangers: list[Any] = [other_seed, other, object()]
    for cls in registered_sketch_classes():
        if cls is not type(s) and not isinstance(s, cls) and not issubclass(cls, type(s)):
            strangers.append(_cases(cls)[0][0])
            break
    for stranger in strangers:
        assert not s.is_mergeable(stranger), f"is_mergeable accepts {stranger!r}"
        try:
            s.merge(stranger)
        except IncompatibleSketchError as e:
            if stranger is other_seed:
                assert "seed" in str(e), "the seed mismatch message does not name the seeds"
        else:
            raise AssertionError(f"merge accepted {stranger!r}")
    assert s.to_bytes() == before, "a refused merge changed the sketch"


def _bad_calls(s: Sketch) -> list[Callable[[], Any]]:
    calls: list[Callable[[], Any]] = [
        lambda: s.update(None),
        lambda: s.update_batch(np.zeros((2, 2), dtype=np.int64)),
        lambda: s.update(1, weight=2.0),
        lambda: s.update(1, weight=True),
        lambda: s.update_batch("abc"),
        lambda: s.update(object()),
    ]
    if s.item_kind == "float":
        calls += [lambda: s.update("a"), lambda: s.update(float("nan")), lambda: s.update_batch([1.0, float("inf")]),
                  lambda: s.update_batch(np.array([1.0, np.nan]))]
    else:
        calls += [lambda: s.update(1.5), lambda: s.update_batch([1, 2.5]), lambda: s.update_batch(np.array([1.0, 2.0])),
                  lambda: s.update(2**63), lambda: s.update_batch([1, 2], weights=[1.5, 1]),
                  lambda: s.update_batch([1, 2], weights=[1])]
    if s.weighted and not s.turnstile:
        calls.append(lambda: s.update_batch([1, 2] if s.item_kind != "float" else [1.0, 2.0], weights=[1, -1]))
    if not s.weighted:
        calls.append(lambda: s.update(1 if s.item_kind != "float" else 1.0, 3))
    return calls


def check_bad_input_changes_nothing(example: Sketch, other: Sketch, rng: np.random.Generator) -> None:
    s = _built(example, *_stream(example, rng, 10))
    before = s.to_bytes()
    for i, call in enumerate(_bad_calls(s)):
        try:
            call()
        except SketchError:
            pass
        else:
            raise AssertionError(f"bad call #{i} was accepted")
        assert s.to_bytes() == before, f"bad call #{i} changed the sketch"


def check_invalid_seeds(example: Sketch, other: Sketch, rng: np.random.Generator) -> None:
    for seed in (-1, 2**64, 1.5, "7", True):
        try:
            _cases(type(example), seed)
        except InvalidParameterError:
            continue
        raise AssertionError(f"seed {seed!r} was accepted")


def _reseal(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def check_bad_bytes(example: Sketch, other: Sketch, rng: np.random.Generator) -> None:
    from . import from_bytes

    data = _built(example, *_stream(example, rng, 12)).to_bytes()
    for n in range(0, len(data), max(1, len(data) // 200)):
        _expect_refused(from_bytes, data[:n], SerializationError, f"{n} of {len(data)} bytes")
    for pos in rng.choice(len(data), size=min(64, len(data)), replace=False):
        bad = bytearray(data)
        bad[int(pos)] ^= int(rng.integers(1, 256))
        _expect_refused(from_bytes, bytes(bad), SerializationError, f"a flipped byte at {pos}")
    _expect_refused(from_bytes, data + b"\x00", SerializationError, "a padded blob")
    future = bytearray(data[:-4])
    future[4] = _format.FORMAT_VERSION + 1
    _expect_refused(from_bytes, _reseal(bytes(future)), UnsupportedVersionError, "a future version")
    for cls in registered_sketch_classes():
        if not issubclass(type(example), cls):
            _expect_refused(cls.from_bytes, data, WrongSketchTypeError, f"bytes read as a {cls.__name__}")
            break


def _expect_refused(load: Callable[[bytes], Any], data: bytes, error: type, what: str) -> None:
    try:
        load(data)
    except error:
        return
    raise AssertionError(f"{what} was not refused with {error.__name__}")


def check_from_memory(example: Sketch, other: Sketch, rng: np.random.Generator) -> None:
    cls = type(example)
    for budget in MEMORY_BUDGETS:
        from ._base import parse_memory

        try:
            s = cls._contract_from_memory(budget)
        except InvalidParameterError:  # too small for this family: a clear refusal is fine
            continue
        assert s.nbytes <= parse_memory(budget), f"from_memory({budget!r}).nbytes = {s.nbytes} is over budget"


def held_bytes(build: Callable[[], Any]) -> tuple[Any, int]:
    """``(build(), bytes)``: what ``build`` allocated and still holds when it returns, counting
    only allocations whose traceback passes through this call (tracemalloc, the whole traceback
    filtered on the sketchkit package), so threads running elsewhere in the process — a Dask
    event loop, a test runner's I/O — and garbage-collection callbacks do not add to it."""
    import gc
    import os

    package = os.path.dirname(os.path.abspath(__file__))
    # Collection callbacks other libraries install (distributed's GC diagnosis measures RSS and
    # logs) would allocate inside the gc.collect() below, under this module's frame.
    callbacks = gc.callbacks[:]
    gc.callbacks.clear()
    try:
        gc.collect()
        tracemalloc.start(64)
        try:
            result = build()
            gc.collect()
            snap = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
    finally:
        gc.callbacks[:] = callbacks
    ours = snap.filter_traces([tracemalloc.Filter(True, os.path.join(package, "*"), all_frames=True)])
    return result, sum(stat.size for stat in ours.statistics("filename"))


def check_nbytes_is_held_memory(example: Sketch, other: Sketch, rng: np.random.Generator) -> None:
    """Load a populated sketch of a sizable budget under tracemalloc: what stays allocated is
    what the object holds (its arrays, item encodings, Python objects)."""
    from . import from_bytes

    cls = type(example)
    try:
        s = cls._contract_from_memory("256KiB")
    except InvalidParameterError:
        s = example.empty_like()
    items = _many_distinct(s, rng, 20000)
    s.update_batch(items, _weights(s, rng, len(items)))
    data = s.to_bytes()
    from_bytes(data)  # any first-use compilation or import outside the measurement
    loaded, held = held_bytes(lambda: from_bytes(data))
    assert abs(loaded.nbytes - held) <= NBYTES_TOLERANCE * held, (
        f"nbytes = {loaded.nbytes} but the loaded sketch holds {held} bytes (tracemalloc)"
    )


CHECKS: tuple[Callable[[Sketch, Sketch, np.random.Generator], None], ...] = (
    check_update_batch_equals_loop,
    check_numpy_and_mapping_batches,
    check_hashed_updates,
    check_merge,
    check_linear_merge,
    check_self_merge,
    check_round_trips,
    check_empty,
    check_properties,
    check_merge_refusals,
    check_bad_input_changes_nothing,
    check_invalid_seeds,
    check_bad_bytes,
    check_from_memory,
    check_nbytes_is_held_memory,
)


def contract_checks(cls: type) -> Iterator[tuple[str, Callable[[], None]]]:
    """``(name, run)`` for every check of ``cls`` and each of its example configurations."""
    for k, (example, other) in enumerate(_cases(cls)):
        for check in CHECKS:
            def run(check=check, example=example, other=other, k=k) -> None:
                check(example, other, np.random.default_rng([k, CHECKS.index(check)]))
            yield f"{cls.__name__}[{k}].{check.__name__.removeprefix('check_')}", run


def check_sketch(cls: type) -> None:
    """Run every contract check on ``cls``; the first failure raises AssertionError naming it."""
    for name, run in contract_checks(cls):
        try:
            run()
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from None
