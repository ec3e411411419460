r"""b-bit MinHash (Li & König, *b-Bit Minwise Hashing*, WWW 2010): store only the lowest ``b``
bits of each signature value.

Two values that differ agree on their lowest b bits with probability :math:`2^{-b}` (the
values are uniform 32-bit hashes; this is the paper's estimator in the limit of sets far
smaller than the hash space, :math:`C_1 = C_2 = 2^{-b}`), so the share :math:`\hat P_b` of
equal b-bit values has :math:`E\hat P_b = P_b = 2^{-b} + (1 - 2^{-b})J` and

.. math:: \hat J_b = \frac{\hat P_b - 2^{-b}}{1 - 2^{-b}}, \qquad
          \operatorname{Var}\hat J_b = \frac{P_b(1-P_b)}{k\,(1-2^{-b})^2}

for k independent slots (k-hash MinHash; the densified one-permutation signature adds the
same dependence as at full width). 1 bit keeps 1/32 of the bytes at roughly 4× the variance
at J = 0.5, less at high J: the storage format for near-duplicate checks, not for LSH band
keys (equal band keys need the full values).

Packed layout: row-major, ``k * b / 8`` bytes a signature; value i's bits sit at bit
``(i * b) % 8`` of byte ``i * b // 8`` (little-endian within a byte), b in 1, 2, 4, 8, 16.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameterError

BITS = (1, 2, 4, 8, 16)


def _check_b(b: int) -> int:
    if isinstance(b, bool) or b not in BITS:
        raise InvalidParameterError(f"b must be one of {BITS}, got {b!r}")
    return int(b)


def to_bbit(signatures: np.ndarray, b: int) -> np.ndarray:
    """Pack the lowest ``b`` bits of each value of a signature (k,) or matrix (n, k): uint8,
    last axis ``k * b / 8`` bytes (k must make whole bytes)."""
    b = _check_b(b)
    sig = np.asarray(signatures)
    if sig.dtype != np.uint32 or sig.ndim not in (1, 2):
        raise InvalidParameterError(f"signatures must be a uint32 vector or matrix, got {sig.dtype} {sig.shape}")
    k = sig.shape[-1]
    if (k * b) % 8:
        raise InvalidParameterError(f"k * b must be a multiple of 8 to pack whole bytes, got k={k}, b={b}")
    low = sig & np.uint32((1 << b) - 1)
    if b == 16:
        return low.astype("<u2").view(np.uint8)
    if b == 8:
        return low.astype(np.uint8)
    per = 8 // b
    grouped = low.reshape(*sig.shape[:-1], k // per, per).astype(np.uint8)
    shifts = (np.arange(per, dtype=np.uint8) * b).astype(np.uint8)
    return np.bitwise_or.reduce(grouped << shifts, axis=-1).astype(np.uint8)


def unpack_bbit(packed: np.ndarray, b: int) -> np.ndarray:
    """The b-bit values (uint32) of a packed signature or matrix."""
    b = _check_b(b)
    p = np.asarray(packed)
    if p.dtype != np.uint8:
        raise InvalidParameterError(f"packed signatures must be uint8, got {p.dtype}")
    if b == 16:
        if p.shape[-1] % 2:
            raise InvalidParameterError("a 16-bit packed signature has an even number of bytes")
        return np.ascontiguousarray(p).view("<u2").astype(np.uint32)
    if b == 8:
        return p.astype(np.uint32)
    per = 8 // b
    shifts = (np.arange(per, dtype=np.uint8) * b).astype(np.uint8)
    vals = (p[..., None] >> shifts) & np.uint8((1 << b) - 1)
    return vals.reshape(*p.shape[:-1], p.shape[-1] * per).astype(np.uint32)


def bbit_jaccard(x: np.ndarray, y: np.ndarray, b: int) -> np.ndarray | float:
    """Corrected Jaccard estimate :math:`(\\hat P_b - 2^{-b})/(1 - 2^{-b})` between packed
    signatures (rows broadcast; a float for two vectors). May fall slightly below 0 for
    unrelated sets: it is unbiased, not clipped."""
    ux, uy = unpack_bbit(x, b), unpack_bbit(y, b)
    if ux.shape[-1] != uy.shape[-1]:
        raise InvalidParameterError(f"packed signatures of different sizes: {ux.shape[-1]} and {uy.shape[-1]} values")
    p = (ux == uy).mean(axis=-1)
    c = 2.0 ** -b
    out = (p - c) / (1.0 - c)
    return float(out) if np.ndim(out) == 0 else out


def bbit_variance(j: float, k: int, b: int) -> float:
    """:math:`P_b(1-P_b)/(k(1-2^{-b})^2)`, the variance of :func:`bbit_jaccard` for k independent slots."""
    b = _check_b(b)
    c = 2.0 ** -b
    p = c + (1.0 - c) * float(j)
    return p * (1.0 - p) / (k * (1.0 - c) ** 2)
