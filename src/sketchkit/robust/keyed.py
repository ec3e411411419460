r"""Keyed (secret-hash) CountSketch and Count-Min: the defence against precomputed collisions.

A plain sketch's hash is public: the library's code plus the seed, which is a documented
default or is written in the sketch's bytes. Anyone who knows both can search offline for
items that collide with a target in every row (:func:`sketchkit.robust.attacks.find_colliders`
does it in about ``depth * width`` hash calls) and inflate or cancel its estimate at will.

The keyed variants hash each item with SipHash-2-4 under a secret 128-bit key drawn from the
operating system's entropy source (``os.urandom``), then place it exactly as the plain sketch
does (multiply-add-shift rows, the same compiled table kernels). Without the key the item
hashes are pseudorandom, so inputs chosen without it are *oblivious* and the plain sketch's
guarantee (stated in the :class:`~sketchkit.CountSketch` and :class:`~sketchkit.CountMin`
class docstrings) holds unchanged, whatever the attacker knows about the code; the
keyed sketches are checked against it in ``tests/test_robust_keyed.py``
(``test_keyed_countsketch_guarantee_holds_on_oblivious_zipf``,
``test_same_colliders_miss_a_keyed_sketch``).

**What it does not protect against.** An attacker who *sees answers* can still adapt to them
(Cohen et al., ICML 2022; Hardt & Woodruff, STOC 2013): a key hides the hash, not the
estimates. Use :class:`~sketchkit.robust.NoisyMedianEstimator` or the trackers in
:mod:`sketchkit.robust.tracking` for that. The key is also only as secret as the bytes: it is
stored in :meth:`to_bytes` (and so in pickles and copies) so that merging and reloading work;
whoever holds the bytes holds the key. ``repr`` shows only ``key_id``, a 64-bit keyed BLAKE2b
fingerprint of the key that reveals nothing about it.

Identity: the public ``seed`` (as for every sketch; rows use
``sketchkit.hashing.row_keys(seed, depth, domain=4)``) *and* the secret key. Two keyed sketches
merge only when both are equal (the key compared in constant time), never with a plain sketch.

Payload (after the common header): ``16-byte key`` then the CountSketch/Count-Min payload of
:mod:`sketchkit.frequency._linear`. Family ids: 10 (``KeyedCountSketch``), 11 (``KeyedCountMin``).

>>> from collections import Counter
>>> words = "the cat and the hat and the bat".split()
>>> cs = KeyedCountSketch(width=64, depth=5, key=bytes(range(16)))
>>> cs.update_batch(words)
>>> cs.estimate("the"), Counter(words)["the"]
(3, 3)
>>> "000102" in repr(cs) or str(bytes(range(16))) in repr(cs)
False
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

import numpy as np

from .. import _ids as ids
from .._format import Reader, register
from ..errors import IncompatibleSketchError
from ..frequency.countmin import CountMin
from ..frequency.countsketch import CountSketch
from ..hashing import DEFAULT_SEED, check_seed, derive_key, row_keys
from ._siphash import KEY_BYTES, check_key, key_words, keyed_hash_batch

__all__ = ["KeyedCountSketch", "KeyedCountMin", "new_key", "key_id", "KEYED_DOMAIN"]

KEYED_DOMAIN = ids.KEYED_DOMAIN
FAMILY_KEYED_COUNTSKETCH = ids.KEYED_COUNTSKETCH
FAMILY_KEYED_COUNTMIN = ids.KEYED_COUNTMIN


def new_key() -> bytes:
    """A fresh secret 128-bit key from the operating system's entropy source."""
    return os.urandom(KEY_BYTES)


def key_id(key: bytes) -> int:
    """The public 64-bit fingerprint of a key (keyed BLAKE2b of a constant; reveals nothing)."""
    digest = hashlib.blake2b(b"sketchkit key id", key=check_key(key), digest_size=8, person=b"skkt-keyid").digest()
    return int.from_bytes(digest, "little")


class _Keyed:
    """Mix-in: keyed item hashing for a LinearSketch subclass (placed before it in the MRO)."""

    __slots__ = ()

    _fixed_nbytes = KEY_BYTES  # the key, counted by from_memory

    def _init_key(self, key: bytes | None) -> None:
        self._key = new_key() if key is None else check_key(key)
        self._k0, self._k1 = key_words(self._key)

    @property
    def key_id(self) -> int:
        """Public fingerprint of the secret key (equal keys, equal ids)."""
        return key_id(self._key)

    def _keyed(self, batch: Any) -> np.ndarray:
        return keyed_hash_batch(batch, self._k0, self._k1)

    def _hash_batch_of(self, batch: Any) -> tuple[np.ndarray, bool]:
        # Items are placed by their keyed hash only: the public one is never computed.
        return self._keyed(batch), False

    def _check_compatible(self, other: Any) -> None:
        super()._check_compatible(other)
        if not hmac.compare_digest(self._key, other._key):
            raise IncompatibleSketchError("cannot merge keyed sketches with different secret keys")

    def _copy_params(self, out: Any) -> None:
        super()._copy_params(out)
        out._key, out._k0, out._k1 = self._key, self._k0, self._k1

    def _payload(self) -> tuple[int, bytes]:
        flags, body = super()._payload()
        return flags, self._key + body

    @classmethod
    def _from_payload(cls, seed: int, flags: int, reader: Reader):
        key = reader.raw(KEY_BYTES)
        out = super()._from_payload(seed, flags, reader)
        out._init_key(key)
        out._row_keys = row_keys(seed, out.depth, KEYED_DOMAIN)
        return out

    @property
    def nbytes(self) -> int:
        return super().nbytes + KEY_BYTES


    def _describe(self) -> str:
        return super()._describe() + f", key_id={self.key_id:#018x}"

    @classmethod
    def _contract_examples(cls, seed: int):
        # a fixed key, so that separately built examples can merge
        key = derive_key(check_seed(seed), KEYED_DOMAIN, 1 << 32).to_bytes(8, "little") * 2
        pairs = super()._contract_examples(seed)
        pairs = pairs if isinstance(pairs, list) else [pairs]
        return [tuple(cls(s.width, s.depth, seed=seed, key=key, **_options(s)) for s in pair) for pair in pairs]


def _options(sketch: Any) -> dict:
    return {"conservative": True} if getattr(sketch, "conservative", False) else {}


class KeyedCountSketch(_Keyed, CountSketch):
    """CountSketch whose item hash is SipHash-2-4 under a secret key (see the module docstring).

    Same guarantee, API and speed class as :class:`~sketchkit.CountSketch`, for inputs chosen
    without the key. ``key``: 16 bytes, or None (default) for a fresh key from ``os.urandom``.
    """

    __slots__ = ("_key", "_k0", "_k1")
    _family = FAMILY_KEYED_COUNTSKETCH

    def __init__(
        self, width: int, depth: int = 5, *, seed: int = DEFAULT_SEED, key: bytes | None = None, dtype: str = "int32"
    ):
        self._init_key(key)
        super().__init__(width, depth, seed=seed, dtype=dtype)
        self._row_keys = row_keys(self._seed, self.depth, KEYED_DOMAIN)


class KeyedCountMin(_Keyed, CountMin):
    """Count-Min whose item hash is SipHash-2-4 under a secret key (see the module docstring).

    Same guarantee and API as :class:`~sketchkit.CountMin` for inputs chosen without the key.
    """

    __slots__ = ("_key", "_k0", "_k1")
    _family = FAMILY_KEYED_COUNTMIN

    def __init__(
        self,
        width: int,
        depth: int = 5,
        *,
        seed: int = DEFAULT_SEED,
        key: bytes | None = None,
        conservative: bool = False,
        dtype: str = "int32",
    ):
        self._init_key(key)
        super().__init__(width, depth, seed=seed, conservative=conservative, dtype=dtype)
        self._row_keys = row_keys(self._seed, self.depth, KEYED_DOMAIN)


register(FAMILY_KEYED_COUNTSKETCH, KeyedCountSketch)
register(FAMILY_KEYED_COUNTMIN, KeyedCountMin)
