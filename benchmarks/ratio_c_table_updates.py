"""The C CountSketch/Count-Min table updates, one thread, unit weights: the AVX-512 form (where
the CPU has it) against the scalar form and the numba kernel, on 4 M hashed keys (the path str
items take) at 16 KiB and 320 KiB, then on W1's 10 M raw int64 keys at 16 KiB (hashed inside
the kernel; the path large int64 batches take where the AVX-512 form runs).

    .venv/bin/python benchmarks/ratio_c_table_updates.py
"""
import _workloads as W
import numpy as np
from _ratio import best_times, pin_blas, report

import sketchkit as sk
from sketchkit.frequency import _kernels as K

pin_blas()
native = K._native
vector = native.linear_isa() == "avx512"
print("C update form the CPU allows:", native.linear_isa())
hashed = np.random.default_rng(0).integers(0, 2**63, 4_000_000).astype(np.uint64)
for label, keys, raw, budgets in (("hashed keys", hashed, False, ("16KiB", "320KiB")),
                                  ("W1 raw int64 keys", W.w1(), True, ("16KiB",))):
    for budget in budgets:
        contenders, ratios = {}, []
        for cls, op, jit in ((sk.CountSketch, "cs_update", K._cs_update_jit),
                             (sk.CountMin, "cm_update", K._cm_update_jit)):
            s = cls.from_memory(budget)
            name = cls.__name__

            def c_form(isa, t=s._table, rk=s._row_keys, sd=s._item_seed, op=op, keys=keys, raw=raw):
                def run():
                    native.set_linear_isa(isa)
                    K._c(op, t, rk, keys, raw, sd, K._NO_WEIGHTS, K._NO_OUT)
                return run

            def numba(jit=jit, t=s._table, rk=s._row_keys, sd=s._item_seed, keys=keys, raw=raw):
                jit(t, rk, keys, raw, sd, K._NO_WEIGHTS)

            if vector:
                contenders[f"{name} C avx512"] = c_form(True)
            contenders[f"{name} C scalar"] = c_form(False)
            contenders[f"{name} numba"] = numba
            best = f"{name} C avx512" if vector else f"{name} C scalar"
            ratios += [(best, f"{name} numba")] + ([(best, f"{name} C scalar")] if vector else [])
        print(f"--- {label}, {budget}")
        report(len(keys), best_times(contenders, reps=7), ratios)
native.set_linear_isa(vector)
