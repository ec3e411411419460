import time, numpy as np, sketchkit as sk, _workloads as W
from sketchkit import _pack
from sketchkit.frequency import _kernels as K
x = np.random.default_rng(0).integers(0, 2**63, 4_000_000).astype(np.uint64)
def t(f, reps=9):
    best = 1e9
    for _ in range(reps):
        a = time.process_time(); f(); best = min(best, time.process_time() - a)
    return x.size / best / 1e6
for budget in ("16KiB", "320KiB"):
    for cls, op in ((sk.CountSketch, "cs_update"), (sk.CountMin, "cm_update")):
        s = cls.from_memory(budget, seed=12345)
        tab, rk, seed = s._table, s._row_keys, s._item_seed
        w = np.empty(0, dtype=np.int64); ww = np.ones(x.size, dtype=np.int64)
        res = {}
        for isa in ((True, False) if hasattr(_pack, "set_linear_isa") else (None,)):
            if isa is not None: _pack.set_linear_isa(isa)
            name = _pack.linear_isa() if isa is not None else "old"
            res[name] = t(lambda: K._c(op, tab, rk, x, False, seed, w, K._NO_OUT))
            res[name + " weighted"] = t(lambda: K._c(op, tab, rk, x, False, seed, ww, K._NO_OUT))
        print(budget, cls.__name__, {k: round(v) for k, v in res.items()})
