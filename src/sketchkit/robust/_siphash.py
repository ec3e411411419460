"""SipHash-2-4 (Aumasson & Bernstein, INDOCRYPT 2012): the keyed item hash of robust mode.

SipHash is a pseudorandom function: without the 128-bit key, its outputs on chosen inputs
cannot be told from random, so nobody can search for colliding items offline. Seeded
non-cryptographic hashes (xxHash, Murmur) are no substitute: they admit seed-independent
multicollisions ("Breaking Murmur: Hash-flooding DoS Reloaded", 2012).

The keyed item hash is ``SipHash-2-4(key, encode_item(x))`` with the canonical item encoding
of :mod:`sketchkit.hashing` (an int is its 8-byte little-endian form, a str its UTF-8 bytes),
the 16-byte key read as two little-endian 64-bit words. The compiled kernels are checked
against :func:`siphash24` (pure Python) and the paper's test vectors.

>>> hex(siphash24(bytes(range(16)), bytes(range(15))))  # the paper's Appendix A vector
'0xa129ca6149be45e5'
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from ..errors import InvalidParameterError
from ..hashing import as_item_list, encoded_buffer, int_list_array

__all__ = ["KEY_BYTES", "check_key", "siphash24", "keyed_hash_items"]

KEY_BYTES = 16
MASK64 = (1 << 64) - 1
_C0, _C1, _C2, _C3 = 0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573


def check_key(key: Any) -> bytes:
    """Return ``key`` as 16 bytes or raise :class:`InvalidParameterError`."""
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise InvalidParameterError(f"key must be {KEY_BYTES} bytes, got {type(key).__name__}")
    key = bytes(key)
    if len(key) != KEY_BYTES:
        raise InvalidParameterError(f"key must be {KEY_BYTES} bytes, got {len(key)}")
    return key


# ----------------------------------------------------------------------------- reference
def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & MASK64


def _sip_round(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & MASK64
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & MASK64
    v3 = _rotl(v3, 16) ^ v2
    v0 = (v0 + v3) & MASK64
    v3 = _rotl(v3, 21) ^ v0
    v2 = (v2 + v1) & MASK64
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash24(key: bytes, data: bytes) -> int:
    """SipHash-2-4 of ``data`` under a 16-byte ``key``, in pure Python (the reference)."""
    k0 = int.from_bytes(key[:8], "little")
    k1 = int.from_bytes(key[8:16], "little")
    v = [k0 ^ _C0, k1 ^ _C1, k0 ^ _C2, k1 ^ _C3]
    n = len(data)
    full = n - n % 8
    words = [int.from_bytes(data[p : p + 8], "little") for p in range(0, full, 8)]
    words.append(((n & 0xFF) << 56) | int.from_bytes(data[full:], "little"))
    for m in words:
        v[3] ^= m
        for _ in range(2):
            v = list(_sip_round(*v))
        v[0] ^= m
    v[2] ^= 0xFF
    for _ in range(4):
        v = list(_sip_round(*v))
    return v[0] ^ v[1] ^ v[2] ^ v[3]


# ----------------------------------------------------------------------------- kernels
_U = np.uint64
U13, U16, U17, U21, U32, U56, U64 = (_U(s) for s in (13, 16, 17, 21, 32, 56, 64))
UC0, UC1, UC2, UC3 = (_U(c) for c in (_C0, _C1, _C2, _C3))
UFF = _U(0xFF)
U0 = _U(0)


@njit(cache=True, inline="always")
def _rl(x, r):
    return (x << r) | (x >> (U64 - r))


@njit(cache=True, inline="always")
def _rounds(v0, v1, v2, v3, n):
    for _ in range(n):
        v0 += v1
        v1 = _rl(v1, U13) ^ v0
        v0 = _rl(v0, U32)
        v2 += v3
        v3 = _rl(v3, U16) ^ v2
        v0 += v3
        v3 = _rl(v3, U21) ^ v0
        v2 += v1
        v1 = _rl(v1, U17) ^ v2
        v2 = _rl(v2, U32)
    return v0, v1, v2, v3


@njit(cache=True, inline="always")
def _absorb(v0, v1, v2, v3, m):
    v3 ^= m
    v0, v1, v2, v3 = _rounds(v0, v1, v2, v3, 2)
    return v0 ^ m, v1, v2, v3


@njit(cache=True, inline="always")
def _finish(v0, v1, v2, v3):
    v2 ^= UFF
    v0, v1, v2, v3 = _rounds(v0, v1, v2, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3


@njit(cache=True)
def sip_int64(keys, k0, k1):
    """SipHash-2-4 of each int64's 8-byte little-endian encoding: one word plus the length word."""
    out = np.empty(keys.shape[0], dtype=np.uint64)
    last = _U(8) << U56
    for i in range(keys.shape[0]):
        v0, v1, v2, v3 = _absorb(k0 ^ UC0, k1 ^ UC1, k0 ^ UC2, k1 ^ UC3, np.uint64(keys[i]))
        v0, v1, v2, v3 = _absorb(v0, v1, v2, v3, last)
        out[i] = _finish(v0, v1, v2, v3)
    return out


@njit(cache=True, inline="always")
def _sip_span(buf, start, end, k0, k1):
    v0, v1, v2, v3 = k0 ^ UC0, k1 ^ UC1, k0 ^ UC2, k1 ^ UC3
    p = start
    while p + 8 <= end:
        m = U0
        for j in range(8):
            m |= np.uint64(buf[p + j]) << np.uint64(8 * j)
        v0, v1, v2, v3 = _absorb(v0, v1, v2, v3, m)
        p += 8
    m = np.uint64((end - start) & 0xFF) << U56
    j = 0
    while p < end:
        m |= np.uint64(buf[p]) << np.uint64(8 * j)
        p += 1
        j += 1
    v0, v1, v2, v3 = _absorb(v0, v1, v2, v3, m)
    return _finish(v0, v1, v2, v3)


@njit(cache=True)
def sip_offsets(buf, offsets, k0, k1):
    """SipHash-2-4 of each span ``buf[offsets[i]:offsets[i+1]]``."""
    n = offsets.shape[0] - 1
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        out[i] = _sip_span(buf, offsets[i], offsets[i + 1], k0, k1)
    return out


def key_words(key: bytes) -> tuple[np.uint64, np.uint64]:
    """The key as the two little-endian 64-bit words the kernels take."""
    return np.uint64(int.from_bytes(key[:8], "little")), np.uint64(int.from_bytes(key[8:16], "little"))


def keyed_hash_batch(batch: list | np.ndarray, k0: np.uint64, k1: np.uint64) -> np.ndarray:
    """Keyed hashes of a batch already normalised by :func:`sketchkit.hashing.as_item_list`."""
    if isinstance(batch, np.ndarray):
        return sip_int64(batch, k0, k1)
    if len(batch) == 0:
        return np.empty(0, dtype=np.uint64)
    ints = int_list_array(batch)
    if ints is not None:
        return sip_int64(ints, k0, k1)
    return sip_offsets(*encoded_buffer(batch), k0, k1)


def keyed_hash_items(items: Any, key: bytes) -> np.ndarray:
    """Vectorised keyed item hash ``SipHash-2-4(key, encode_item(x))`` of a batch (uint64)."""
    k0, k1 = key_words(check_key(key))
    return keyed_hash_batch(as_item_list(items), k0, k1)
