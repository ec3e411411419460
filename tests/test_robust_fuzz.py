"""Deserialization is safe on untrusted input (issue #4): random and mutated byte strings against
EVERY registered ``from_bytes``, no outcome but a valid sketch or a SketchError, and no allocation
out of proportion to the input (a crafted header cannot make the reader reserve memory).

The registry is read at test time after loading every package that declares sketch families
(the ``sketchkit.families`` entry points), so new families are covered without editing this
file. Mutated inputs get their payload length and CRC-32 repaired most of the time, so the
fuzzer reaches the family parsers instead of stopping at the checksum.
"""

from __future__ import annotations

import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sketchkit
from sketchkit import _format
from sketchkit.errors import SketchError

HEADER = 24
EXTREMES = [0, 1, 2, 0x7F, 0xFF, 0xFFFF, 2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1, 2**64 - 1]
ALLOC_SLACK = 1 << 20  # bytes allowed beyond 64 × the input size


def _import_everything() -> dict[int, type]:
    """Every family that an installed package declares (the ``sketchkit.families`` entry
    points). A package that fails to import fails the test: a broken module must not silently
    shrink what is fuzzed."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=_format.ENTRY_POINT_GROUP):
        ep.load()
    return dict(_format._REGISTRY)


REGISTRY = _import_everything()


_ORACLES: list = []  # small objects of the registry (oracles) that other families take as a part
_BUILT: list = []  # sketches built so far, which wrapper families may take as their inner sketch


def _makers(cls: type) -> list:
    from sketchkit import CountMin, CountSketch

    parts = [None, *_ORACLES]
    makers = [lambda: cls.from_memory(2048), lambda: cls.from_memory("16KiB"), lambda: cls(),
              lambda: cls(np.arange(5), np.ones(5)), lambda: cls(np.zeros(256), 0.0),
              lambda: cls(*_ORACLES[:2])]
    for o in parts:
        makers += [lambda o=o: cls.from_memory("16KiB", o),
                   lambda o=o: cls(o, CountMin(64, 3), capacity=0 if o is None else 8, threshold=1.0),
                   lambda o=o: cls(o, CountSketch(64, 3), capacity=0 if o is None else 8, threshold=1.0)]
        makers += [lambda o=o, b=b: cls(o, b.empty_like(), capacity=0 if o is None else 8, threshold=1.0)
                   for b in _BUILT]
    return makers


def _samples(cls: type) -> list[bytes]:
    """Valid byte strings of ``cls`` (empty and filled), from whichever simple constructor works."""
    out = []
    for make in _makers(cls):
        try:
            sk = make()
            sk.to_bytes()
        except Exception:
            continue
        (_BUILT if hasattr(sk, "update_batch") else _ORACLES).append(sk)
        out.append(sk.to_bytes())
        for batch in (np.arange(-20, 200, dtype=np.int64), ["a", "b", "a", "ü"], [b"x", b"y"]):
            try:
                sk.update_batch(batch)
            except Exception:
                pass
        out.append(sk.to_bytes())
        if len(out) >= 4:
            break
    return out


def _extra_samples() -> list[bytes]:
    from sketchkit import CountMin, CountSketch
    from sketchkit.robust import KeyedCountMin, KeyedCountSketch

    out = []
    for sk in (CountMin(8, 3, conservative=True), CountSketch(8, 3, dtype="int64"),
               KeyedCountSketch(8, 3, key=bytes(16)), KeyedCountMin(8, 1, key=bytes(range(16)))):
        sk.update_batch(np.arange(30), np.arange(30) + 1)
        out.append(sk.to_bytes())
    big = CountSketch(4, 1)
    big.update(1, 2**40)  # int64 counters
    out.append(big.to_bytes())
    return out


# Oracles (no from_memory) first, so that sketches that take an oracle can be built next.
_ORDER = sorted(REGISTRY.values(), key=lambda c: hasattr(c, "from_memory"))
SEEDS = [b for cls in _ORDER for b in _samples(cls)] + _extra_samples()


def _repair(data: bytearray) -> bytes:
    """Make the header's payload length and the CRC agree with the (mutated) bytes."""
    if len(data) < HEADER + 4:
        return bytes(data)
    struct.pack_into("<Q", data, 16, len(data) - HEADER - 4)
    struct.pack_into("<I", data, len(data) - 4, zlib.crc32(bytes(data[:-4])))
    return bytes(data)


def _mutate(rng: np.random.Generator, seed: bytes) -> bytes:
    data = bytearray(seed)
    op = int(rng.integers(9))
    n = len(data)
    if op == 0:  # bit flips
        for _ in range(int(rng.integers(1, 5))):
            i = int(rng.integers(n))
            data[i] ^= 1 << int(rng.integers(8))
    elif op == 1:  # random bytes
        for _ in range(int(rng.integers(1, 9))):
            data[int(rng.integers(n))] = int(rng.integers(256))
    elif op in (2, 3):  # an extreme value written over a 1/2/4/8-byte field of the payload
        size = [1, 2, 4, 8][int(rng.integers(4))]
        pos = int(rng.integers(HEADER, max(HEADER + 1, n - 4 - size + 1)))
        value = EXTREMES[int(rng.integers(len(EXTREMES)))] & ((1 << (8 * size)) - 1)
        if pos + size <= n:
            data[pos : pos + size] = value.to_bytes(size, "little")
    elif op == 4:  # truncate
        del data[int(rng.integers(n)) :]
    elif op == 5:  # append
        data[-4:-4] = rng.bytes(int(rng.integers(1, 64)))
    elif op == 6:  # another family's id (or an unknown one)
        data[5] = int(rng.choice(list(REGISTRY) + [0, 9, 99, 255]))
    elif op == 7:  # version or flags
        data[4 + int(rng.integers(4))] = int(rng.integers(256))
    else:  # splice two seeds' payloads
        other = SEEDS[int(rng.integers(len(SEEDS)))]
        cut = int(rng.integers(HEADER, max(HEADER + 1, min(n, len(other)) - 4)))
        data = bytearray(seed[:cut] + other[cut:])
    return _repair(data) if rng.random() < 0.9 else bytes(data)


def _random_input(rng: np.random.Generator) -> bytes:
    kind = int(rng.integers(4))
    if kind == 0:  # raw noise
        return rng.bytes(int(rng.integers(0, 120)))
    if kind == 1:  # a valid header for a registered family around a random payload
        family = int(rng.choice(list(REGISTRY)))
        return _format.pack(family, int(rng.integers(2**63)), rng.bytes(int(rng.integers(0, 200))),
                            int(rng.integers(4)))
    return _mutate(rng, SEEDS[int(rng.integers(len(SEEDS)))])


def _check(cls: type | None, data: bytes) -> str | None:
    """None if the outcome is acceptable, else a description of the failure."""
    tracemalloc.reset_peak()
    try:
        obj = sketchkit.from_bytes(data) if cls is None else cls.from_bytes(data)
    except SketchError:
        obj = None
    except Exception as exc:  # noqa: BLE001 - the point is to catch anything else
        return f"{type(exc).__name__}: {exc}"
    finally:
        peak = tracemalloc.get_traced_memory()[1]
    if peak > 64 * len(data) + ALLOC_SLACK:
        return f"allocated {peak} bytes for a {len(data)}-byte input"
    if obj is None:
        return None
    if cls is not None and not isinstance(obj, cls):
        return f"from_bytes of {cls.__name__} returned a {type(obj).__name__}"
    try:  # a valid sketch: it serializes, and its bytes load back to an equal sketch
        again = type(obj).from_bytes(obj.to_bytes())
        if again.to_bytes() != obj.to_bytes():
            return "re-serialization is not stable"
    except Exception as exc:  # noqa: BLE001
        return f"loaded, but unusable: {type(exc).__name__}: {exc}"
    return None


def _fuzz(n: int, seed: int) -> tuple[list[str], int]:
    rng = np.random.default_rng(seed)
    classes = [None, *REGISTRY.values()]
    failures: list[str] = []
    loaded = 0
    tracemalloc.start()
    try:
        for i in range(n):
            data = _random_input(rng)
            cls = classes[i % len(classes)]
            if cls is not None and rng.random() < 0.5 and len(data) > 5:
                # aim at the class the header names half the time, so its parser runs
                cls = REGISTRY.get(data[5], cls)
            problem = _check(cls, data)
            if problem:
                name = "sketchkit.from_bytes" if cls is None else cls.__name__ + ".from_bytes"
                failures.append(f"{name}({data.hex()}): {problem}")
            elif cls is not None:
                try:
                    cls.from_bytes(data)
                    loaded += 1
                except SketchError:
                    pass
    finally:
        tracemalloc.stop()
    return failures, loaded


def test_registry_covers_the_core_and_robust_families():
    assert {1, 2, 10, 11} <= set(REGISTRY)
    assert len(SEEDS) >= 2 * 4


def test_fuzz_quick():
    failures, loaded = _fuzz(5_000, seed=0)
    assert not failures, f"{len(failures)} failures, first: " + "\n".join(failures[:5])
    assert loaded > 0  # the fuzzer does reach valid sketches, not only rejections


@pytest.mark.slow
def test_fuzz_100k():
    failures, loaded = _fuzz(100_000, seed=1)
    assert not failures, f"{len(failures)} failures, first: " + "\n".join(failures[:5])
    assert loaded > 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(sorted(REGISTRY)))
def test_hypothesis_random_payloads(payload, family):
    # Structure-blind payloads behind a valid header of each family.
    tracemalloc.start()
    try:
        for data in (payload, _format.pack(family, 1729, payload)):
            assert _check(REGISTRY[family], data) is None
            assert _check(None, data) is None
    finally:
        tracemalloc.stop()


def test_crafted_huge_shape_header_is_refused_without_allocating():
    # A CountSketch payload that declares 65536 × 2**31 counters but carries none.
    payload = struct.pack("<IIBBqQ", 65536, 2**31 - 1, 8, 0, 0, 0)
    data = _format.pack(1, 1729, payload)
    tracemalloc.start()
    try:
        assert _check(REGISTRY[1], data) is None
    finally:
        tracemalloc.stop()
    with pytest.raises(SketchError):
        REGISTRY[1].from_bytes(data)


def test_crafted_countsketchplusplus_header_does_not_allocate():
    # Found by test_fuzz_100k (seed 1): CountSketchPlusPlus._from_payload builds the sketch from the
    # declared `counters` before checking that the payload holds that many, so a ~2 KB input with
    # counters = 2**22 allocates ~16 MB (2**24 → 134 MB seen; 2**32 − 1 would ask for tens of GB).
    # Owner: sketchkit.learned (issue #5); this test fails until the size check comes first.
    if 22 not in REGISTRY:
        pytest.skip("CountSketchPlusPlus is not registered")
    cls = REGISTRY[22]
    data = bytearray(cls.from_memory(2048).to_bytes())
    struct.pack_into("<I", data, HEADER, 2**22)  # payload field 0: counters
    data = _repair(data)
    tracemalloc.start()
    try:
        assert _check(cls, data) is None
    finally:
        tracemalloc.stop()
