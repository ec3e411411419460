"""The C CountSketch/Count-Min table updates on hashed keys (the path str items take), one
thread: the AVX-512 form (where the CPU has it) against the scalar form and the numba kernel,
4 M keys at 16 KiB and 320 KiB, unit weights.

    .venv/bin/python benchmarks/ratio_c_table_updates.py
"""
import numpy as np
from _ratio import best_times, pin_blas, report

import sketchkit as sk
from sketchkit.frequency import _kernels as K

pin_blas()
keys = np.random.default_rng(0).integers(0, 2**63, 4_000_000).astype(np.uint64)
native = K._native
vector = native.linear_isa() == "avx512"
print("C update form the CPU allows:", native.linear_isa())
for budget in ("16KiB", "320KiB"):
    contenders, ratios = {}, []
    for cls, op, jit in ((sk.CountSketch, "cs_update", K._cs_update_jit), (sk.CountMin, "cm_update", K._cm_update_jit)):
        s = cls.from_memory(budget)
        table, row_keys, seed = s._table, s._row_keys, s._item_seed
        name = cls.__name__

        def c_form(isa, table=table, row_keys=row_keys, seed=seed, op=op):
            def run():
                native.set_linear_isa(isa)
                K._c(op, table, row_keys, keys, False, seed, K._NO_WEIGHTS, K._NO_OUT)
            return run

        if vector:
            contenders[f"{name} C avx512"] = c_form(True)
        contenders[f"{name} C scalar"] = c_form(False)
        contenders[f"{name} numba"] = lambda jit=jit, t=table, rk=row_keys, sd=seed: jit(t, rk, keys, False, sd,
                                                                                         K._NO_WEIGHTS)
        best = f"{name} C avx512" if vector else f"{name} C scalar"
        ratios += [(best, f"{name} numba")] + ([(best, f"{name} C scalar")] if vector else [])
    print(f"--- {budget}")
    report(len(keys), best_times(contenders, reps=7), ratios)
native.set_linear_isa(vector)
