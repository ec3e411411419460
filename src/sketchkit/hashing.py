"""The seeded 64-bit hash family every sketchkit sketch uses, frozen by specification.

Specification (format version 1; golden vectors in ``tests/test_hashing.py`` pin it):

1. **Canonical item encoding.** An ``int`` (including ``bool`` and numpy integers) is its
   8-byte little-endian two's complement; it must lie in ``[-2**63, 2**63)``. A ``str`` is
   its UTF-8 encoding (strict: a lone surrogate is an error). ``bytes``, ``bytearray`` and
   ``memoryview`` are taken as they are. So ``1`` and ``"1"`` are different items, a ``str``
   and its UTF-8 ``bytes`` are the same item, and so are an ``int`` and its 8-byte encoding
   (as in Apache DataSketches, the encoding is the identity). Floats, ``None`` and other
   types are refused with :class:`~sketchkit.errors.ItemTypeError`: there is no float
   policy that does not surprise someone (``1 == 1.0`` but their bytes differ).
2. **Item hash.** ``item_hash(x, seed) = XXH64(encode(x), derive_key(seed, ITEM_DOMAIN, 0))``,
   XXH64 being Yann Collet's xxHash64 (a published, versioned specification; the tests check
   this module against the ``xxhash`` package where it is installed).
3. **Derived keys.** ``derive_key(seed, domain, index) = mix64(mix64(seed + GOLDEN * (domain + 1))
   + GOLDEN * (index + 1))`` modulo 2**64, where ``mix64`` is the SplitMix64 finaliser and
   ``GOLDEN = 0x9E3779B97F4A7C15``. Row ``r`` of a sketch uses ``derive_key(seed, ROW_DOMAIN, r)``.
4. **Row hash** (multiply-add-shift, Dietzfelbinger 1996). Row ``r`` has the multiplier
   ``a_r = derive_key(seed, ROW_DOMAIN, 2r) | 1`` and the offset ``b_r = derive_key(seed,
   ROW_DOMAIN, 2r + 1)``; ``v = (a_r * item_hash + b_r) mod 2**64``. The bucket is
   ``((v >> 32) * width) >> 32`` (Lemire's range reduction; any width below 2**32) and the
   sign is ``+1`` if bit 31 of ``v`` is set, else ``-1``. One multiply per row: the item hash
   is already a full-avalanche 64-bit value, and cheaper rows measured 1.6× faster updates
   than a second mixing round.

Nothing here uses Python's salted ``hash()`` or a numpy random stream, so a sketch built in
one process, on one platform, under one ``PYTHONHASHSEED`` answers identically in any other.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ._jit import njit
from .errors import InvalidItemError, InvalidParameterError, ItemTypeError

try:  # compiled at install (optional): packs a list[str]/list[bytes] without a Python call per item
    from . import _pack
except ImportError:  # pragma: no cover - exercised by forcing _pack = None in the tests
    _pack = None

__all__ = [
    "DEFAULT_SEED",
    "GOLDEN",
    "ITEM_DOMAIN",
    "ROW_DOMAIN",
    "mix64",
    "derive_key",
    "row_keys",
    "check_seed",
    "encode_item",
    "xxh64",
    "item_hash",
    "hash_items",
    "random_seed",
]

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
DEFAULT_SEED = 1729
# Every derivation domain is assigned in sketchkit._ids, the one table of ids and domains.
from ._ids import ITEM_DOMAIN, ROW_DOMAIN  # noqa: E402

_P1 = 0x9E3779B185EBCA87
_P2 = 0xC2B2AE3D27D4EB4F
_P3 = 0x165667B19E3779F9
_P4 = 0x85EBCA77C2B2AE63
_P5 = 0x27D4EB2F165667C5

# numba freezes module globals as typed constants: keeping every operand uint64 stops it
# from promoting mixed signed/unsigned arithmetic to float64.
U_P1, U_P2, U_P3, U_P4, U_P5 = (np.uint64(p) for p in (_P1, _P2, _P3, _P4, _P5))
U_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
U_MIX2 = np.uint64(0x94D049BB133111EB)
U0, U1, U8, U32 = np.uint64(0), np.uint64(1), np.uint64(8), np.uint64(32)
U11, U23, U27, U29, U30, U31, U33 = (np.uint64(s) for s in (11, 23, 27, 29, 30, 31, 33))
U7, U12, U18, U64 = np.uint64(7), np.uint64(12), np.uint64(18), np.uint64(64)
U4, U16, U24 = np.uint64(4), np.uint64(16), np.uint64(24)


# ----------------------------------------------------------------------------- reference
def mix64(z: int) -> int:
    """SplitMix64's finaliser (Steele, Lea, Flood 2014): a bijection of 64-bit integers."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def check_seed(seed: Any) -> int:
    """Return ``seed`` as an int in ``[0, 2**64)`` or raise :class:`InvalidParameterError`."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise InvalidParameterError(f"seed must be an int in [0, 2**64), got {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed <= MASK64:
        raise InvalidParameterError(f"seed must be an int in [0, 2**64), got {seed}")
    return seed


def derive_key(seed: int, domain: int, index: int) -> int:
    """The 64-bit key of stream ``domain``, position ``index``, for a sketch seed (spec item 3)."""
    base = mix64((seed + GOLDEN * (domain + 1)) & MASK64)
    return mix64((base + GOLDEN * (index + 1)) & MASK64)


def row_keys(seed: int, depth: int, domain: int = ROW_DOMAIN) -> np.ndarray:
    """The ``(a_r, b_r)`` pairs of a sketch's ``depth`` rows (spec item 4): uint64, shape (depth, 2)."""
    return np.array(
        [[derive_key(seed, domain, 2 * r) | 1, derive_key(seed, domain, 2 * r + 1)] for r in range(depth)],
        dtype=np.uint64,
    ).reshape(depth, 2)


def random_seed() -> int:
    """A fresh 64-bit seed from the operating system's entropy source."""
    return int.from_bytes(os.urandom(8), "little")


def _rotl_py(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & MASK64


def _round_py(acc: int, lane: int) -> int:
    acc = (acc + lane * _P2) & MASK64
    return (_rotl_py(acc, 31) * _P1) & MASK64


def xxh64(data: bytes, seed: int = 0) -> int:
    """XXH64 of ``data`` in pure Python: the reference the compiled kernels are tested against."""
    n = len(data)
    p = 0
    if n >= 32:
        v1 = (seed + _P1 + _P2) & MASK64
        v2 = (seed + _P2) & MASK64
        v3 = seed & MASK64
        v4 = (seed - _P1) & MASK64
        while p + 32 <= n:
            v1 = _round_py(v1, int.from_bytes(data[p : p + 8], "little"))
            v2 = _round_py(v2, int.from_bytes(data[p + 8 : p + 16], "little"))
            v3 = _round_py(v3, int.from_bytes(data[p + 16 : p + 24], "little"))
            v4 = _round_py(v4, int.from_bytes(data[p + 24 : p + 32], "little"))
            p += 32
        h = (_rotl_py(v1, 1) + _rotl_py(v2, 7) + _rotl_py(v3, 12) + _rotl_py(v4, 18)) & MASK64
        for v in (v1, v2, v3, v4):
            h ^= _round_py(0, v)
            h = (h * _P1 + _P4) & MASK64
    else:
        h = (seed + _P5) & MASK64
    h = (h + n) & MASK64
    while p + 8 <= n:
        h ^= _round_py(0, int.from_bytes(data[p : p + 8], "little"))
        h = (_rotl_py(h, 27) * _P1 + _P4) & MASK64
        p += 8
    if p + 4 <= n:
        h ^= (int.from_bytes(data[p : p + 4], "little") * _P1) & MASK64
        h = (_rotl_py(h, 23) * _P2 + _P3) & MASK64
        p += 4
    while p < n:
        h ^= (data[p] * _P5) & MASK64
        h = (_rotl_py(h, 11) * _P1) & MASK64
        p += 1
    h ^= h >> 33
    h = (h * _P2) & MASK64
    h ^= h >> 29
    h = (h * _P3) & MASK64
    return h ^ (h >> 32)


def encode_item(item: Any) -> bytes:
    """The canonical byte encoding of one item (spec item 1)."""
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    if isinstance(item, str):
        try:
            return item.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidItemError(f"str item cannot be encoded as UTF-8: {exc.reason}") from None
    if isinstance(item, (int, np.integer)):
        value = int(item)
        if not -(1 << 63) <= value < (1 << 63):
            raise InvalidItemError(f"int item {value} is outside the int64 range of the encoding")
        return value.to_bytes(8, "little", signed=True)
    raise ItemTypeError(unsupported_item_message(item))


def unsupported_item_message(item: Any) -> str:
    """The ItemTypeError text for an item outside the encoding: what was passed, what is taken."""
    why = ""
    if isinstance(item, (float, np.floating)):
        why = " (floats have no canonical encoding; convert them explicitly)"
    elif item is None:
        why = " (a missing value: drop it or map it to a sentinel item first)"
    return f"cannot sketch an item of type {type(item).__name__}: items must be int, str or bytes{why}"


def item_hash(item: Any, seed: int = DEFAULT_SEED) -> int:
    """The 64-bit hash of one item under a sketch seed (spec item 2)."""
    return xxh64(encode_item(item), derive_key(check_seed(seed), ITEM_DOMAIN, 0))


# ----------------------------------------------------------------------------- kernels
@njit(cache=True, inline="always")
def _rotl(x, r):
    return (x << r) | (x >> (U64 - r))


@njit(cache=True, inline="always")
def _lane_round(acc, lane):
    acc = acc + lane * U_P2
    return _rotl(acc, U31) * U_P1


@njit(cache=True, inline="always")
def _avalanche(h):
    h ^= h >> U33
    h *= U_P2
    h ^= h >> U29
    h *= U_P3
    return h ^ (h >> U32)


@njit(cache=True, inline="always")
def mix64_u(z):
    """SplitMix64 finaliser on a numba uint64."""
    z = (z ^ (z >> U30)) * U_MIX1
    z = (z ^ (z >> U27)) * U_MIX2
    return z ^ (z >> U31)


# Byte positions are uint64 throughout: numba then skips its negative-index wraparound
# check on every byte read (2·10⁶ short str tokens hash in 24 ms instead of 40).
@njit(cache=True, inline="always")
def _read64(buf, p):
    v = U0
    for j in range(8):
        v |= np.uint64(buf[p + np.uint64(j)]) << np.uint64(8 * j)
    return v


@njit(cache=True, inline="always")
def _read32(buf, p):
    v = U0
    for j in range(4):
        v |= np.uint64(buf[p + np.uint64(j)]) << np.uint64(8 * j)
    return v


@njit(cache=True)
def _xxh64_span(buf, start, end, seed):
    p = np.uint64(start)
    end = np.uint64(end)
    n = end - p
    if n >= U32:
        v1 = seed + U_P1 + U_P2
        v2 = seed + U_P2
        v3 = seed
        v4 = seed - U_P1
        while p + U32 <= end:
            v1 = _lane_round(v1, _read64(buf, p))
            v2 = _lane_round(v2, _read64(buf, p + U8))
            v3 = _lane_round(v3, _read64(buf, p + U16))
            v4 = _lane_round(v4, _read64(buf, p + U24))
            p += U32
        h = _rotl(v1, U1) + _rotl(v2, U7) + _rotl(v3, U12) + _rotl(v4, U18)
        h = (h ^ _lane_round(U0, v1)) * U_P1 + U_P4
        h = (h ^ _lane_round(U0, v2)) * U_P1 + U_P4
        h = (h ^ _lane_round(U0, v3)) * U_P1 + U_P4
        h = (h ^ _lane_round(U0, v4)) * U_P1 + U_P4
    else:
        h = seed + U_P5
    h += n
    while p + U8 <= end:
        h ^= _lane_round(U0, _read64(buf, p))
        h = _rotl(h, U27) * U_P1 + U_P4
        p += U8
    if p + U4 <= end:
        h ^= _read32(buf, p) * U_P1
        h = _rotl(h, U23) * U_P2 + U_P3
        p += U4
    while p < end:
        h ^= np.uint64(buf[p]) * U_P5
        h = _rotl(h, U11) * U_P1
        p += U1
    return _avalanche(h)


@njit(cache=True, inline="always")
def int_hash(x, item_seed):
    """Item hash of one int64 inside a kernel: XXH64 of its 8-byte little-endian encoding,
    specialised (one lane, no tail)."""
    h = (item_seed + U_P5 + U8) ^ _lane_round(U0, np.uint64(x))
    h = _rotl(h, U27) * U_P1 + U_P4
    return _avalanche(h)


@njit(cache=True)
def _hash_int64_jit(keys, seed):
    out = np.empty(keys.shape[0], dtype=np.uint64)
    for i in range(keys.shape[0]):
        out[i] = int_hash(keys[i], seed)
    return out


_INV_P1, _INV_P2, _INV_P3 = (np.uint64(pow(p, -1, 1 << 64)) for p in (_P1, _P2, _P3))
U58 = np.uint64(58)


@njit(cache=True, inline="always")
def _rotr(x, r):
    return (x >> r) | (x << (U64 - r))


@njit(cache=True)
def _unhash_int64_jit(hashes, seed):
    # The int64 item hash is a bijection of 64-bit words (odd multiplies, rotations, xor with
    # a constant, xor-shifts): undo each step, so a summary can keep an int item's hash and
    # recover the item from it instead of storing the item too.
    out = np.empty(hashes.shape[0], dtype=np.int64)
    base = seed + U_P5 + U8
    for i in range(hashes.shape[0]):
        h = hashes[i]
        h ^= h >> U32
        h *= _INV_P3
        h ^= (h >> U29) ^ (h >> U58)
        h *= _INV_P2
        h ^= h >> U33
        t = _rotr((h - U_P4) * _INV_P1, U27) ^ base
        out[i] = np.int64(_rotr(t * _INV_P1, U31) * _INV_P2)
    return out


@njit(cache=True)
def _hash_offsets_jit(buf, offsets, seed):
    n = offsets.shape[0] - 1
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        out[i] = _xxh64_span(buf, offsets[i], offsets[i + 1], seed)
    return out


# The three batch kernels above also exist in C (sketchkit._pack, built at install; the same
# hashes bit for bit, checked in tests/test_native.py): C needs no compilation on a first run.
# Spans hash faster in C (41 vs 62 ms for 2·10⁶ short str tokens); the int64 hash is a loop numba
# vectorises and portable C does not (0.8 vs 3.7 ms for 2 M keys), so batches from
# NUMBA_INT_BATCH keys on take the numba kernel, whose compilation such a batch repays.
# The numba kernels also serve when the extension is absent.
_U64_KINDS = (np.dtype(np.int64), np.dtype(np.uint64))
NUMBA_INT_BATCH = 1 << 16


def _native(name: str) -> Any:
    return getattr(_pack, name, None) if _pack is not None else None


def _hash_int64(keys: np.ndarray, seed: Any) -> np.ndarray:
    """Item hash (spec item 2) of each int64 key."""
    fn = _native("hash_int64")
    if fn is None or keys.dtype not in _U64_KINDS or keys.shape[0] >= NUMBA_INT_BATCH:
        return _hash_int64_jit(keys, seed)
    out = np.empty(keys.shape[0], dtype=np.uint64)
    fn(np.ascontiguousarray(keys), int(seed), out)
    return out


def _unhash_int64(hashes: np.ndarray, seed: Any) -> np.ndarray:
    """The int64 keys whose item hashes these are (the int hash is a bijection)."""
    fn = _native("unhash_int64")
    if fn is None or hashes.dtype not in _U64_KINDS or hashes.shape[0] >= NUMBA_INT_BATCH:
        return _unhash_int64_jit(hashes, seed)
    out = np.empty(hashes.shape[0], dtype=np.int64)
    fn(np.ascontiguousarray(hashes), int(seed), out)
    return out


def _hash_offsets(buf: np.ndarray, offsets: np.ndarray, seed: Any) -> np.ndarray:
    """XXH64 of each span ``buf[offsets[i]:offsets[i + 1]]`` (the item hash of encoded items)."""
    fn = _native("hash_spans")
    if fn is None:
        return _hash_offsets_jit(buf, offsets, seed)
    out = np.empty(offsets.shape[0] - 1, dtype=np.uint64)
    fn(np.ascontiguousarray(buf, dtype=np.uint8), np.ascontiguousarray(offsets, dtype=np.int64), int(seed), out)
    return out


# ----------------------------------------------------------------------------- batching
_INT_TYPES = (int, bool, np.integer)


def _int_array(items: np.ndarray) -> np.ndarray:
    if items.dtype == np.uint64 and items.size and int(items.max()) >= 1 << 63:
        raise InvalidItemError("uint64 item above 2**63 - 1 is outside the int64 range of the encoding")
    return np.ascontiguousarray(items, dtype=np.int64)


class EncodedBatch(Sequence):
    """A batch of str (or bytes) items held as their canonical encodings in one uint8 buffer
    with n + 1 int64 offsets — an Arrow string column's own layout. The hash kernels read the
    buffer directly; an item becomes a Python object only when asked for (``batch[i]``), as a
    top-k summary does for the items it keeps."""

    __slots__ = ("data", "offsets", "is_str")

    def __init__(self, data: np.ndarray, offsets: np.ndarray, is_str: bool):
        self.data, self.offsets, self.is_str = data, offsets, is_str

    def __len__(self) -> int:
        return self.offsets.shape[0] - 1

    def __getitem__(self, i: Any) -> Any:
        if not isinstance(i, (int, np.integer)):
            raise TypeError("EncodedBatch takes integer indices")
        raw = self.data[self.offsets[i] : self.offsets[i + 1]].tobytes()
        return raw.decode("utf-8") if self.is_str else raw


def _arrow_batch(items: Any) -> EncodedBatch | np.ndarray:
    """An Arrow array or chunked array of strings/binary as an EncodedBatch (no Python object
    per item), of integers as an int64 array; nulls and other types are refused."""
    import pyarrow as pa

    arr = items.combine_chunks() if isinstance(items, pa.ChunkedArray) else items
    t = arr.type
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        if arr.null_count:
            raise ItemTypeError(f"cannot sketch null items: the column has {arr.null_count} nulls")
        return as_item_list(arr.to_numpy(zero_copy_only=False))
    is_str = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
    if not (is_str or pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)):
        raise ItemTypeError(f"cannot sketch an Arrow column of type {t}: items must be int, str or bytes")
    if arr.null_count:
        raise ItemTypeError(f"cannot sketch null items: the column has {arr.null_count} nulls")
    if pa.types.is_string_view(t) or pa.types.is_binary_view(t):
        arr = arr.cast(pa.large_string() if is_str else pa.large_binary())
    _, offsets_buf, data_buf = arr.buffers()
    wide = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    offsets = np.frombuffer(offsets_buf, dtype=np.int64 if wide else np.int32)[arr.offset : arr.offset + len(arr) + 1]
    offsets = offsets.astype(np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    return EncodedBatch(data, offsets, is_str)


def _column_batch(items: Any) -> Any:
    """A pandas Series/Index or an Arrow array as a batch, or None when ``items`` is neither.
    Arrow-backed pandas strings are read through Arrow, without a Python object per item."""
    module = type(items).__module__
    if module.startswith("pyarrow"):
        return _arrow_batch(items)
    if module.startswith("pandas"):
        values = getattr(items, "array", None)
        if values is not None and hasattr(values, "__arrow_array__"):
            import pyarrow as pa

            return _arrow_batch(pa.array(values))
        return as_item_list(items.to_numpy())
    return None


def int_list_array(batch: list) -> np.ndarray | None:
    """A list whose items are all ints as an int64 array (None for any other list)."""
    if isinstance(batch, EncodedBatch):
        return None
    if not isinstance(batch[0], _INT_TYPES) or not all(isinstance(x, _INT_TYPES) for x in batch):
        return None
    try:
        return np.array(batch, dtype=np.int64)
    except OverflowError:
        for x in batch:
            encode_item(x)  # the precise error
        raise


def _joined_buffer(batch: list) -> tuple[np.ndarray, np.ndarray] | None:
    """Without the compiled helper: an all-str or all-bytes list joined by NUL in one C call,
    the NULs then cut out with numpy (UTF-8 never puts a 0 byte inside a character). None
    when that does not apply (other items, an item holding a NUL, a str without UTF-8)."""
    sep = "\x00" if isinstance(batch[0], str) else b"\x00" if isinstance(batch[0], bytes) else None
    if sep is None:
        return None
    try:
        joined = sep.join(batch)
        data = joined.encode("utf-8") if isinstance(joined, str) else joined
    except (TypeError, UnicodeEncodeError):
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    seps = np.flatnonzero(buf == 0)
    if len(seps) != len(batch) - 1:
        return None
    offsets = np.empty(len(batch) + 1, dtype=np.int64)
    offsets[0], offsets[-1] = 0, len(buf) - len(seps)
    offsets[1:-1] = seps - np.arange(len(seps))  # item i ends at its separator, minus the i before it
    return np.delete(buf, seps), offsets


def encoded_buffer(batch: list) -> tuple[np.ndarray, np.ndarray]:
    """The canonical encodings of a non-empty list's items, concatenated (uint8) with their
    n + 1 int64 offsets: what the span kernels of every hash family read. An all-str or
    all-bytes list is packed by the compiled helper in one pass (or, without it, joined);
    anything else is encoded item by item, which also raises the precise error for a bad
    item."""
    if isinstance(batch, EncodedBatch):
        return batch.data, batch.offsets
    if _pack is not None and type(batch) is list:
        first = batch[0]
        packer = _pack.pack_str if isinstance(first, str) else _pack.pack_bytes if isinstance(first, bytes) else None
        if packer is not None:
            try:
                packed = packer(batch)
            except UnicodeEncodeError:
                packed = None  # a str with no UTF-8: the per-item path says which
            if packed is not None:
                data, offsets = packed
                return np.frombuffer(data, dtype=np.uint8), np.frombuffer(offsets, dtype=np.int64)
    joined = _joined_buffer(batch)
    if joined is not None:
        return joined
    encoded = [encode_item(x) for x in batch]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def mapping_batch(items: Any, weights: Any) -> tuple[Any, Any]:
    """``(items, weights)`` for ``update_batch``: a mapping such as ``Counter`` or ``{item: count}``
    stands for its keys weighted by its values (which must be ints); anything else passes through."""
    if not isinstance(items, Mapping):
        return items, weights
    if weights is not None:
        raise InvalidParameterError(
            "update_batch got a mapping and weights: a mapping's values are its weights, pass one or the other"
        )
    if not items:
        return [], None
    return list(items.keys()), list(items.values())


def as_item_list(items: Any) -> list | np.ndarray:
    """Normalise a batch to a numpy int64 array or a Python list (checked, not yet hashed)."""
    if isinstance(items, np.ndarray):
        if items.ndim != 1:
            raise ItemTypeError(f"a batch of items must be one-dimensional, got shape {items.shape}")
        kind = items.dtype.kind
        if kind in "iub":
            return _int_array(items)
        if kind in "USOT":
            return items.tolist()
        why = " (floats have no canonical encoding)" if kind in "fc" else ""
        raise ItemTypeError(f"cannot sketch items of dtype {items.dtype}: items must be int, str or bytes{why}")
    if isinstance(items, (str, bytes, bytearray, memoryview)):
        raise ItemTypeError(
            f"update_batch takes a sequence of items, not a single {type(items).__name__}; "
            "use update() for one item"
        )
    if isinstance(items, (list, EncodedBatch)):
        return items
    column = _column_batch(items)
    if column is not None:
        return column
    if isinstance(items, Iterable):
        return list(items)
    raise ItemTypeError(f"a batch of items must be an array or iterable, got {type(items).__name__}")


def hash_items(items: Any, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Vectorised item hash (spec item 2) of a batch: a numpy int array, or a list of
    ints, strs and bytes (mixed lists work; homogeneous ones take fast paths)."""
    batch = as_item_list(items)
    return _hash_batch(batch, np.uint64(derive_key(check_seed(seed), ITEM_DOMAIN, 0)))


def _hash_batch(batch: list | np.ndarray, item_seed: np.uint64) -> np.ndarray:
    if isinstance(batch, np.ndarray):
        return _hash_int64(batch, item_seed)
    if len(batch) == 0:
        return np.empty(0, dtype=np.uint64)
    ints = int_list_array(batch)
    if ints is not None:
        return _hash_int64(ints, item_seed)
    direct = _hash_list_native(batch, item_seed)
    if direct is not None:
        return direct
    return _hash_offsets(*encoded_buffer(batch), item_seed)


def _hash_list_native(batch: Any, item_seed: Any) -> np.ndarray | None:
    """Item hashes of an all-str or all-bytes list read straight from the objects by the C
    helper (no buffer of encodings in between); None when it does not apply."""
    fn = _native("hash_list")
    if fn is None or type(batch) is not list:
        return None
    first = batch[0]
    if not isinstance(first, (str, bytes)):
        return None
    out = np.empty(len(batch), dtype=np.uint64)
    try:
        done = fn(batch, isinstance(first, str), int(item_seed), out)
    except UnicodeEncodeError:
        return None  # a str with no UTF-8: the per-item path says which
    return out if done else None
