"""Adapters that drive every contender of the core benchmark through one interface.

A contender is built for one memory budget and one workload kind (``"int"``: W1's int64
array, ``"str"``: W2's list of str). The timed path is ``prepare`` (conversion from the
canonical input, part of end-to-end time only) then ``feed`` (update-only time).

Sizing at equal bytes follows peers.md: structures with free dimensions get the budget's
worth of cells; structures restricted to powers of two get the power of two *nearest* the
budget (so up to 1.4x our bytes; every table prints the bytes each one actually used).
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from typing import Any

import numpy as np

DEPTH = 5


def nearest_pow2(x: float) -> int:
    """The power of two nearest x (ties up), at least 1."""
    lo = 1 << max(0, int(math.floor(math.log2(max(x, 1)))))
    return lo * 2 if x - lo > 2 * lo - x else lo


class Contender:
    """Base adapter. ``group`` is 'sketchkit', 'peer', 'exact' or 'limit'."""

    name = "?"
    group = "peer"
    kinds = ("int", "str")
    #: rate measured on a prefix of this many items (pure-Python peers), None for all
    prefix: int | None = None

    def __init__(self, budget: int, kind: str):
        self.budget = budget
        self.kind = kind

    #: contenders with the same conversion share one conversion per rep (its time is charged
    #: to each of them); None: ``prepare`` runs for every timed call
    conversion: str | None = None

    def prepare(self, data: Any) -> Any:
        return data

    def build(self) -> Any:
        raise NotImplementedError

    def feed(self, state: Any, items: Any) -> None:
        raise NotImplementedError

    def nbytes(self, state: Any) -> int:
        raise NotImplementedError

    def estimates(self, state: Any, keys: list) -> np.ndarray:
        """Point estimates for keys given in the workload's item type."""
        raise NotImplementedError

    def top(self, state: Any, k: int) -> list | None:
        """The k items it reports heaviest first, or None when it has no top-k query."""
        return None

    def accuracy_state(self, data: Any, exact: Any, timed_state: Any) -> Any:
        """The state whose answers are scored (by default the last timed one)."""
        return timed_state

    def config(self) -> str:
        return ""


def _to_list(kind: str, data: Any) -> list:
    return data.tolist() if kind == "int" else data


def _to_str(kind: str, data: Any) -> list:
    return list(map(str, data.tolist())) if kind == "int" else data


# ----------------------------------------------------------------------------- DataSketches
class DsCountMin(Contender):
    """datasketches.count_min_sketch: 5 rows of double counters, ints via .tolist()."""

    name = "ds CMS"

    def __init__(self, budget, kind):
        super().__init__(budget, kind)
        self.width = budget // (DEPTH * 8)

    def config(self):
        return f"{DEPTH}x{self.width} doubles"

    conversion = "tolist"

    def prepare(self, data):
        return _to_list(self.kind, data)

    def build(self):
        import datasketches as ds

        return ds.count_min_sketch(DEPTH, self.width)

    def feed(self, state, items):
        update = state.update
        for x in items:
            update(x)

    def nbytes(self, state):
        return state.get_serialized_size_bytes()

    def estimates(self, state, keys):
        return np.array([state.get_estimate(k) for k in keys], dtype=np.float64)


class DsFrequentItems(Contender):
    """datasketches.frequent_items_sketch (Misra-Gries with reverse purge), Python objects."""

    name = "ds FI"
    slot_bytes = 18  # 8-byte key (int64 or object pointer) + u64 count + u16 state

    def __init__(self, budget, kind):
        super().__init__(budget, kind)
        self.lg = int(math.log2(nearest_pow2(budget / self.slot_bytes)))

    def config(self):
        return f"lg_max_k={self.lg}"

    conversion = "tolist"

    def prepare(self, data):
        return _to_list(self.kind, data)

    def build(self):
        import datasketches as ds

        return ds.frequent_items_sketch(self.lg)

    def feed(self, state, items):
        update = state.update
        for x in items:
            update(x)

    def nbytes(self, state):
        return self.slot_bytes << self.lg

    def estimates(self, state, keys):
        return np.array([state.get_estimate(k) for k in keys], dtype=np.float64)

    def top(self, state, k):
        import datasketches as ds

        rows = state.get_frequent_items(ds.frequent_items_error_type.NO_FALSE_NEGATIVES, 0)
        return [r[0] for r in rows[:k]]


class DsFrequentStrings(DsFrequentItems):
    """datasketches.frequent_strings_sketch (C++ std::string keys): strings only."""

    name = "ds FS"
    kinds = ("str",)
    slot_bytes = 42  # std::string (32) + u64 count + u16 state

    def build(self):
        import datasketches as ds

        return ds.frequent_strings_sketch(self.lg)


# ----------------------------------------------------------------------------- bounter
class BounterHashTable(Contender):
    """bounter.HashTable: a counting hash table that prunes the smallest counts; str keys only."""

    name = "bounter HT"

    def __init__(self, budget, kind):
        super().__init__(budget, kind)
        self.buckets = nearest_pow2(budget / 16)  # 16 B per bucket: key pointer + count

    def config(self):
        return f"{self.buckets} buckets"

    conversion = "str"

    def prepare(self, data):
        return _to_str(self.kind, data)

    def build(self):
        import bounter

        return bounter.HashTable(buckets=self.buckets)

    def feed(self, state, items):
        state.update(items)

    def nbytes(self, state):
        return state._mem()  # heap bytes including the stored key strings

    def estimates(self, state, keys):
        keys = map(str, keys) if self.kind == "int" else keys
        return np.array([state[k] for k in keys], dtype=np.float64)

    def top(self, state, k):
        rows = sorted(state.items(), key=lambda kv: -kv[1])[:k]
        return [int(x) if self.kind == "int" else x for x, _ in rows]


class BounterCountMin(BounterHashTable):
    """bounter.CountMinSketch (conservative update, power-of-two width); its HLL is not counted."""

    name = "bounter CMS"

    def __init__(self, budget, kind):
        Contender.__init__(self, budget, kind)
        self.width = nearest_pow2(budget / (DEPTH * 4))

    def config(self):
        return f"{DEPTH}x{self.width} int32 (+64 KiB HLL not counted)"

    def build(self):
        import bounter

        return bounter.CountMinSketch(width=self.width, depth=DEPTH)

    def nbytes(self, state):
        return state.size()

    def top(self, state, k):
        return None


# ----------------------------------------------------------------------------- pyprobables
def _xxh64_depth(key, depth=1):
    import xxhash

    data = key.encode("utf-8") if isinstance(key, str) else key
    return [xxhash.xxh64_intdigest(data, seed=i) for i in range(depth)]


class PyprobablesCountMin(Contender):
    """probables.CountMinSketch (pure Python, int32 array). Its rate is measured on a prefix.

    Its accuracy state is built by ``add(key, count)`` once per distinct key: a plain
    Count-Min is linear, so the table is the one a full pass would leave (minutes saved)."""

    name = "pyprobables CMS"
    prefix = 100_000

    def __init__(self, budget, kind, hash_name: str = "xxh64"):
        super().__init__(budget, kind)
        self.width = budget // (DEPTH * 4)
        self.hash_name = hash_name
        self.name = f"{type(self).name} {hash_name}"

    def config(self):
        return f"{DEPTH}x{self.width} int32, {self.hash_name}"

    def _hash(self):
        return _xxh64_depth if self.hash_name == "xxh64" else None

    def prepare(self, data):
        return _to_str(self.kind, data[: self.prefix])

    def build(self):
        from probables import CountMinSketch

        return CountMinSketch(width=self.width, depth=DEPTH, hash_function=self._hash())

    def feed(self, state, items):
        add = state.add
        for x in items:
            add(x)

    def nbytes(self, state):
        return self.width * DEPTH * 4

    def estimates(self, state, keys):
        keys = map(str, keys) if self.kind == "int" else keys
        return np.array([state.check(k) for k in keys], dtype=np.float64)

    def accuracy_state(self, data, exact, timed_state):
        state = self.build()
        keys = map(str, exact.keys) if self.kind == "int" else exact.keys
        for key, c in zip(keys, exact.counts.tolist()):
            state.add(key, c)
        return state


class PyprobablesHeavyHitters(PyprobablesCountMin):
    """probables.HeavyHitters (CMS + 100 tracked keys); streamed in full for accuracy (W2 only)."""

    name = "pyprobables HH"
    kinds = ("str",)

    def build(self):
        from probables import HeavyHitters

        return HeavyHitters(num_hitters=100, width=self.width, depth=DEPTH, hash_function=self._hash())

    def accuracy_state(self, data, exact, timed_state):
        state = self.build()
        self.feed(state, _to_str(self.kind, data))
        return state

    def top(self, state, k):
        rows = sorted(state.heavy_hitters.items(), key=lambda kv: -kv[1])[:k]
        return [x for x, _ in rows]


# ----------------------------------------------------------------------------- exact
class ExactCounter(Contender):
    """collections.Counter over the Python list (C-accelerated counting loop)."""

    name = "Counter (exact)"
    group = "exact"

    conversion = "tolist"

    def prepare(self, data):
        return _to_list(self.kind, data)

    def build(self):
        return None

    def feed(self, state, items):
        self.result = Counter(items)

    def nbytes(self, state):
        c = self.result
        return sys.getsizeof(c) + sum(map(sys.getsizeof, c))

    def estimates(self, state, keys):
        return np.array([self.result[k] for k in keys], dtype=np.float64)

    def top(self, state, k):
        return [x for x, _ in self.result.most_common(k)]


class ExactNpUnique(Contender):
    """np.unique(return_counts=True); W2 goes through a StringDType array."""

    name = "np.unique (exact)"
    group = "exact"

    def prepare(self, data):
        if self.kind == "int":
            return data
        return np.array(data, dtype=np.dtypes.StringDType())

    def build(self):
        return None

    def feed(self, state, items):
        self.result = np.unique(items, return_counts=True)

    def nbytes(self, state):
        keys, counts = self.result
        if self.kind == "str":
            return counts.nbytes * 2 + sum(len(s) for s in keys.tolist())  # rough StringDType size
        return keys.nbytes + counts.nbytes

    def estimates(self, state, keys):
        index = dict(zip(*(a.tolist() for a in self.result)))
        return np.array([index.get(k, 0) for k in keys], dtype=np.float64)

    def top(self, state, k):
        uniq, counts = self.result
        return uniq[np.argsort(-counts, kind="stable")[:k]].tolist()


PEERS = [DsCountMin, DsFrequentItems, DsFrequentStrings, BounterHashTable, BounterCountMin]
