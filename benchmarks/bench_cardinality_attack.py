"""The Paterson-Raynal attack on Distinct (known hash seed) against the keyed defence (secret
random seed): estimate / true count as the adversary inserts chosen items, and the table of
docs/robustness.md.

    .venv/bin/python benchmarks/bench_cardinality_attack.py   # writes docs/robustness_cardinality_attack.png
"""

from __future__ import annotations

from pathlib import Path

from sketchkit.cardinality import Distinct
from sketchkit.hashing import random_seed
from sketchkit.robust.attacks import cardinality_attack

ROOT = Path(__file__).resolve().parent.parent
P = 10
INSERTS = 1_000_000


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    rows = []
    for ax, mode in zip(axes, ("deflate", "inflate")):
        for secret in (False, True):
            d = Distinct(P, seed=random_seed() if secret else 1729)
            r = cardinality_attack(
                d, mode=mode, inserts=INSERTS, bits=12, attacker_seed=1729 if secret else None, chunk=1 << 15, rng=0
            )
            label = "secret random seed (keyed)" if secret else "known seed 1729"
            r.plot(ax=ax, label=label, marker="." if mode == "inflate" else None)
            rows.append((mode, label, r))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{mode}: Distinct(precision={P})")
        ax.legend(fontsize=8)
    fig.tight_layout()
    out = ROOT / "docs" / "robustness_cardinality_attack.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")
    print("| attack | seed | hash evaluations | true distinct | estimate | ML estimate | error / stated bound |")
    print("|---|---|---|---|---|---|---|")
    for mode, label, r in rows:
        d = r.details
        print(
            f"| {mode} | {label} | {r.queries:,} | {d['true']:,} | {d['estimate']:,.0f} | {d['estimate_ml']:,.0f} | "
            f"{r.error_ratio:.3g} |"
        )


if __name__ == "__main__":
    main()
