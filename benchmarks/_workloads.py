"""The core benchmark's workloads, exactly as /work/shared/research/peers.md defines them.

* **W1**: ``n`` int64 keys, an exact truncated Zipf(1.1) over 10**7 ranks (inverse CDF applied to
  ``default_rng(0).random(n)``), each rank mapped to a key through ``default_rng(0).permutation``.
  At n = 10**7: 1,114,369 distinct keys, top-1 1,164,035, #100 = 7,256 (checked by
  :func:`check_anchors`). ``rng.zipf`` is not used: it puts 18.5 % of the mass beyond 10**7.
* **W2**: the first ``n`` ``\\w+`` tokens of this interpreter's stdlib ``*.py`` sources (no
  site-packages), files sorted by path then permuted by ``default_rng(0)``. At n = 2,000,000
  on CPython 3.11.7: 85,078 distinct, top-1 ``self`` 133,825, #100 = 2,397.
* **Turnstile**: W1, then a random half of its occurrences (positions drawn by
  ``default_rng(1)``) deleted with weight -1.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ZIPF_S = 1.1
ZIPF_UNIVERSE = 10**7
W1_FULL = 10_000_000
W2_FULL = 2_000_000
_TOKEN = re.compile(r"\w+")

# Anchors from peers.md: (distinct, top-1 count, #100 count) at full size.
W1_ANCHOR = (1_114_369, 1_164_035, 7_256)
W2_ANCHOR = (85_078, 133_825, 2_397)


@dataclass
class Exact:
    """Exact counts of a workload: distinct keys (as the workload's item type) and their counts."""

    keys: list
    counts: np.ndarray
    index: dict

    @classmethod
    def from_arrays(cls, keys: list, counts: np.ndarray) -> Exact:
        return cls(keys, counts, dict(zip(keys, counts.tolist())))

    def top(self, k: int) -> list:
        """The k heaviest keys (stable order for ties)."""
        order = np.argsort(-self.counts, kind="stable")[:k]
        return [self.keys[i] for i in order]

    def kth_count(self, k: int) -> int:
        return int(np.sort(self.counts)[::-1][k - 1])

    def count(self, key) -> int:
        return self.index.get(key, 0)

    def sample(self, m: int, seed: int = 1) -> list:
        """m distinct keys drawn uniformly among the distinct keys (fixed seed)."""
        pick = np.random.default_rng(seed).choice(len(self.keys), size=min(m, len(self.keys)), replace=False)
        return [self.keys[i] for i in pick]


def w1(n: int = W1_FULL) -> np.ndarray:
    """W1: n int64 keys from an exact truncated Zipf(1.1) over 10**7 ranks, permuted (seed 0)."""
    u = np.random.default_rng(0).random(n)
    cdf = np.cumsum(np.arange(1, ZIPF_UNIVERSE + 1, dtype=np.float64) ** -ZIPF_S)
    cdf /= cdf[-1]
    ranks = np.minimum(np.searchsorted(cdf, u, side="right"), ZIPF_UNIVERSE - 1)
    perm = np.random.default_rng(0).permutation(ZIPF_UNIVERSE)
    return perm[ranks].astype(np.int64)


def stdlib_files() -> list[Path]:
    """This interpreter's stdlib ``*.py`` files outside site-packages, sorted by path."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(f for f in root.rglob("*.py") if "site-packages" not in f.relative_to(root).parts)


def w2(n: int = W2_FULL) -> list[str]:
    """W2: the first n ``\\w+`` tokens of the stdlib sources, file order permuted (seed 0)."""
    files = stdlib_files()
    out: list[str] = []
    for i in np.random.default_rng(0).permutation(len(files)):
        out.extend(_TOKEN.findall(files[i].read_text(encoding="utf-8", errors="replace")))
        if len(out) >= n:
            break
    return out[:n]


def turnstile_deletions(n: int, seed: int = 1) -> np.ndarray:
    """Positions of a random half of n occurrences, sorted (the deletions of the turnstile run)."""
    return np.sort(np.random.default_rng(seed).permutation(n)[: n // 2])


def exact_int(keys: np.ndarray, weights: np.ndarray | None = None) -> Exact:
    """Exact net counts of int keys (zero net counts dropped)."""
    uniq, inv = np.unique(keys, return_inverse=True)
    counts = np.bincount(inv, weights=weights, minlength=uniq.size).astype(np.int64)
    keep = counts != 0
    return Exact.from_arrays(uniq[keep].tolist(), counts[keep])


def exact_str(tokens: list[str]) -> Exact:
    c = Counter(tokens)
    return Exact.from_arrays(list(c), np.fromiter(c.values(), dtype=np.int64, count=len(c)))


def anchors(exact: Exact) -> tuple[int, int, int]:
    s = np.sort(exact.counts)[::-1]
    return len(exact.keys), int(s[0]), int(s[min(99, s.size - 1)])


def check_anchors(name: str, exact: Exact, expected: tuple[int, int, int]) -> str:
    """'ok' or a warning naming the mismatch (stdlib tokens depend on the Python build)."""
    got = anchors(exact)
    if got == expected:
        return "ok"
    return f"{name} anchors {got} differ from peers.md {expected} (Python {sys.version.split()[0]})"
