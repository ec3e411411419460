import time, numpy as np, sketchkit as sk, _workloads as W
from sketchkit import _pack
from sketchkit.frequency import _kernels as K
x = W.w1()
def t(f, reps=7):
    best = 1e9
    for _ in range(reps):
        a = time.process_time(); f(); best = min(best, time.process_time() - a)
    return x.size / best / 1e6
for budget in ("16KiB", "320KiB"):
    for cls, op, jit in ((sk.CountSketch, "cs_update", K._cs_update_jit), (sk.CountMin, "cm_update", K._cm_update_jit)):
        s = cls.from_memory(budget, seed=12345)
        tab = s._table if hasattr(s, "_table") else None
        if tab is None:
            print([a for a in dir(s) if "tab" in a]); raise SystemExit
        rk, seed = s._row_keys, s._item_seed
        w = np.empty(0, dtype=np.int64)
        res = {}
        res["numba"] = t(lambda: jit(tab, rk, x, True, seed, w))
        for isa in (True, False):
            _pack.set_linear_isa(isa)
            res["C " + _pack.linear_isa()] = t(lambda: K._c(op, tab, rk, x, True, seed, w, K._NO_OUT))
        print(budget, cls.__name__, {k: round(v) for k, v in res.items()})
