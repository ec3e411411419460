"""Exact jump-ahead simulation of a Distinct sketch's register process, for checking the
estimators at cardinalities no test can feed item by item (up to 10^9 and beyond).

Given the registers, each new distinct item changes the state with probability ``mu`` (the
sketch's own exact ``alpha / 2**64``), independently of the past; so the number of new items
until the next state change is geometric(mu), and the change itself is a (register, update
value) pair drawn with probability proportional to its rho among the values that change the
state. The simulation draws exactly that, applying the update with the same register kernels
(``reg_after``, ``reg_units``, ``get_reg``/``set_reg``) and the same martingale increment as
:class:`~sketchkit.cardinality.Distinct`, and evaluates both estimators at the checkpoints.
Only the hashing is replaced, by its distribution; ``tests/test_distinct_stats.py`` checks the
two agree with real hashes at 10^4..10^6.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit
from . import _ell as E
from ._ell import TWO64, U0, UD, D, get_reg, reg_after, reg_units, set_reg


@njit(cache=True)
def _fen_add(tree, i, v):
    i += 1
    n = tree.shape[0] - 1
    while i <= n:
        tree[i] += v
        i += i & (-i)


@njit(cache=True)
def _fen_find(tree, x):
    # smallest index whose prefix sum exceeds x
    n = tree.shape[0] - 1
    pos = 0
    step = 1
    while step * 2 <= n:
        step *= 2
    while step > 0:
        if pos + step <= n and tree[pos + step] <= x:
            pos += step
            x -= tree[pos]
        step //= 2
    return min(pos, n - 1)


@njit(cache=True)
def simulate(p, checkpoints, seed, rho, tail):
    """(martingale, ml) estimates at each checkpoint for one simulated stream of distinct items."""
    np.random.seed(seed)
    m = 1 << p
    scale = 2.0 ** (64 - p)
    words = np.zeros(((28 << p) >> 6) + 1, dtype=np.uint64)
    w32 = words.view(np.uint32)
    tree = np.zeros(m + 1, dtype=np.float64)
    for i in range(m):
        _fen_add(tree, i, 1.0)  # every empty register: all of its mass changes the state
    alpha = U0  # 2**64 wrapped
    est = 0.0
    n = 0
    out_hip = np.empty(checkpoints.shape[0])
    out_ml = np.empty(checkpoints.shape[0])
    c = 0
    kmax = rho.shape[0] - 1
    while c < checkpoints.shape[0]:
        mu = float(alpha) / TWO64 if alpha != U0 else 1.0
        if mu >= 1.0:
            g = 1
        else:
            u = np.random.random()
            g = int(np.ceil(np.log1p(-u) / np.log1p(-mu))) if u > 0.0 else 1
            if g < 1:
                g = 1
        while c < checkpoints.shape[0] and n + g > checkpoints[c]:
            out_hip[c] = est
            a, b = E.ml_coefficients(w32, m, p)
            out_ml[c] = m * E.ml_solve(a, b)
            c += 1
        if c >= checkpoints.shape[0]:
            break
        n += g
        # the state change: register by its share, then the value inside it
        total = tree_total(tree)
        i = _fen_find(tree, np.random.random() * total)
        r = get_reg(w32, i)
        cu = reg_units(r, rho, tail)
        x = np.random.random() * float(cu)
        k = -1
        ur = r >> UD
        if ur != U0:
            for j in range(1, D + 1):
                if j >= np.int64(ur):
                    break
                if (r >> np.uint64(D - j)) & np.uint64(1) == U0:
                    v = float(rho[np.int64(ur) - j])
                    if x < v:
                        k = np.int64(ur) - j
                        break
                    x -= v
        if k < 0:
            kk = np.int64(ur) + 1
            while kk < kmax and x >= float(rho[kk]):
                x -= float(rho[kk])
                kk += 1
            k = kk
        r2 = reg_after(r, np.uint64(k))
        if r2 == r:  # rounding at the edge of a float draw; redraw next round
            continue
        set_reg(w32, i, r2)
        est += TWO64 / float(alpha) if alpha != U0 else 1.0
        c_old = cu
        c_new = reg_units(r2, rho, tail)
        alpha = alpha - c_old + c_new
        _fen_add(tree, i, (float(c_new) - float(c_old)) / scale)
    return out_hip, out_ml


@njit(cache=True)
def tree_total(tree):
    n = tree.shape[0] - 1
    s = 0.0
    i = n
    while i > 0:
        s += tree[i]
        i -= i & (-i)
    return s


def simulate_many(p: int, checkpoints, seeds) -> tuple[np.ndarray, np.ndarray]:
    """Arrays (len(seeds), len(checkpoints)) of martingale and ML estimates."""
    E.ready()
    cps = np.asarray(checkpoints, dtype=np.int64)
    rho, tail = E.rho_units(p), E.tail_units(p)
    hip = np.empty((len(seeds), len(cps)))
    ml = np.empty((len(seeds), len(cps)))
    for j, s in enumerate(seeds):
        hip[j], ml[j] = simulate(p, cps, int(s), rho, tail)
    return hip, ml
