"""MinHash signatures of real text, end to end from Python strings: sketchkit against datasketch
and rensa in one run (issue #16).

Corpus: ``.py`` files of the running Python's standard library (sorted, shuffled with seed 0,
the first ``--docs``), each file one document; shingles are word 3-grams (words = runs of
non-whitespace, ``str.split``); k = 128 hashes. Every contender starts from the list of document
strings and ends with one signature per document:

* datasketch ``MinHash.update_batch`` (per document) and ``MinHash.bulk`` (its batch API), shingles
  built in Python as ``" ".join`` of 3 words, encoded to UTF-8 bytes (datasketch takes bytes);
* rensa ``RMinHash.update`` (per document) and ``RMinHash.digest_matrix_from_token_sets`` (its batch
  API), the same shingle strings;
* sketchkit ``FastSimilaritySketch.signatures``, ``OnePermMinHash.signatures`` and
  ``MinHash.signatures`` (shingles built from word hashes inside the kernel, no shingle string),
  and ``OnePermMinHash`` with ``normalize=True``.

One thread each: NUMBA_NUM_THREADS, RAYON_NUM_THREADS, OMP_NUM_THREADS are 1 before any import.
Time = best of ``--reps`` wall-clock runs, contenders interleaved per repetition. Rate = word
3-gram occurrences / second. A "sketch step only" table times the peers from prebuilt shingle
lists and sketchkit from prebuilt shingle hashes.

Estimator error: ``--pairs`` planted near-duplicates (a document with random word substitutions,
deletions and insertions, 1-60 % of its words), plus as many random pairs; truth = exact Jaccard of
the Python sets of 3-gram strings. Reported: RMSE and RMSE ÷ √(mean J(1−J)/k) (1.0 = the k-hash
MinHash variance).

    python benchmarks/bench_similarity.py                      # writes docs/benchmarks/similarity.md
    python benchmarks/bench_similarity.py --docs 500 --reps 2 --no-write    # quick look
"""

from __future__ import annotations

import os

for _v in ("NUMBA_NUM_THREADS", "RAYON_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sysconfig  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
K_HASHES = 128
N = 3


def corpus(n_docs: int, seed: int = 0) -> list[str]:
    files = sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "**", "*.py"), recursive=True))
    np.random.default_rng(seed).shuffle(files)
    docs = []
    for f in files:
        with open(f, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        if text.strip():
            docs.append(text)
        if len(docs) == n_docs:
            break
    return docs


def shingles(doc: str) -> list[str]:
    w = doc.split()
    if len(w) < N:
        return [" ".join(w)] if w else []
    return [" ".join(w[i : i + N]) for i in range(len(w) - N + 1)]


# ----------------------------------------------------------------------------- contenders
def ds_update_batch(docs):
    from datasketch import MinHash

    out = []
    for d in docs:
        m = MinHash(num_perm=K_HASHES, seed=1)
        m.update_batch([s.encode("utf-8") for s in shingles(d)])
        out.append(m)
    return out


def ds_bulk(docs):
    from datasketch import MinHash

    return MinHash.bulk([[s.encode("utf-8") for s in shingles(d)] for d in docs], num_perm=K_HASHES, seed=1)


def rensa_update(docs):
    from rensa import RMinHash

    out = []
    for d in docs:
        m = RMinHash(num_perm=K_HASHES, seed=42)
        m.update(shingles(d))
        out.append(m)
    return out


def rensa_matrix(docs):
    from rensa import RMinHash

    return RMinHash.digest_matrix_from_token_sets([shingles(d) for d in docs], K_HASHES, 42)


def sk_oph(docs):
    from sketchkit.similarity import OnePermMinHash

    return OnePermMinHash.signatures(docs, K_HASHES, n=N, seed=7)


def sk_fss(docs):
    from sketchkit.similarity import FastSimilaritySketch

    return FastSimilaritySketch.signatures(docs, K_HASHES, n=N, seed=7)


def sk_oph_norm(docs):
    from sketchkit.similarity import OnePermMinHash

    return OnePermMinHash.signatures(docs, K_HASHES, n=N, seed=7, normalize=True)


def sk_khash(docs):
    from sketchkit.similarity import MinHash

    return MinHash.signatures(docs, K_HASHES, n=N, seed=7)


CONTENDERS = {
    "datasketch MinHash.update_batch": ds_update_batch,
    "datasketch MinHash.bulk": ds_bulk,
    "rensa RMinHash.update": rensa_update,
    "rensa RMinHash.digest_matrix_from_token_sets": rensa_matrix,
    "sketchkit FastSimilaritySketch.signatures": sk_fss,
    "sketchkit OnePermMinHash.signatures": sk_oph,
    "sketchkit MinHash.signatures (k-hash)": sk_khash,
    "sketchkit OnePermMinHash.signatures, normalize=True": sk_oph_norm,
}


def sketch_only(docs, reps):
    """Peers from prebuilt shingle lists; sketchkit from prebuilt shingle hashes."""
    from datasketch import MinHash as DM
    from rensa import RMinHash

    from sketchkit.similarity import MinHash, OnePermMinHash
    from sketchkit.similarity import _kernels as K
    from sketchkit.similarity._text import Shingling, document_buffer
    from sketchkit.similarity.minhash import _slot_keys, fss_key, ngram_key

    sets = [shingles(d) for d in docs]
    bsets = [[s.encode() for s in x] for x in sets]
    seed = 7
    buf, off = document_buffer(docs, Shingling(n=N))
    flat, starts = K.text_shingles(buf, off, K.MODE_WORDS, N, OnePermMinHash(1, seed=seed)._item_seed, ngram_key(seed))
    a, b = _slot_keys(seed, K_HASHES)
    fkey = fss_key(seed)

    def sk_from_hashes(method):
        def run():
            out = np.full((len(docs), K_HASHES), K.EMPTY, dtype=np.uint32)
            for i in range(len(docs)):
                part = flat[starts[i] : starts[i + 1]]
                if method == "oph":
                    K.oph_update(out[i], part)
                elif method == "fss":
                    K.fss_update(out[i], part, fkey)
                else:
                    K.khash_update(out[i], a, b, part)
            return out
        return run

    runs = {
        "datasketch MinHash.bulk (bytes lists)": lambda: DM.bulk(bsets, num_perm=K_HASHES, seed=1),
        "rensa digest_matrix_from_token_sets (str lists)": lambda: RMinHash.digest_matrix_from_token_sets(
            sets, K_HASHES, 42),
        "sketchkit FSS bins (uint64 hashes, per-doc loop)": sk_from_hashes("fss"),
        "sketchkit OPH bins (uint64 hashes, per-doc loop)": sk_from_hashes("oph"),
        "sketchkit k-hash (uint64 hashes, per-doc loop)": sk_from_hashes("khash"),
    }
    for f in runs.values():
        f()
    best = {name: math.inf for name in runs}
    for _ in range(reps):
        for name, f in runs.items():
            t = time.perf_counter()
            f()
            best[name] = min(best[name], time.perf_counter() - t)
    _ = MinHash
    return best


# ----------------------------------------------------------------------------- error
def edit(rng, words, frac):
    w = list(words)
    for _ in range(max(1, int(frac * len(w)))):
        i = int(rng.integers(len(w)))
        op = int(rng.integers(3))
        if op == 0:
            w[i] = f"zz{rng.integers(10**9)}"
        elif op == 1 and len(w) > N + 1:
            del w[i]
        else:
            w.insert(i, f"yy{rng.integers(10**9)}")
    return w


def error_pairs(docs, n_pairs, seed=1):
    rng = np.random.default_rng(seed)
    long_docs = [d for d in docs if len(d.split()) >= 50]
    left, right = [], []
    for _ in range(n_pairs):
        d = long_docs[int(rng.integers(len(long_docs)))]
        left.append(d)
        right.append(" ".join(edit(rng, d.split(), float(rng.uniform(0.01, 0.6)))))
    for _ in range(n_pairs):
        i, j = rng.choice(len(docs), 2, replace=False)
        left.append(docs[i])
        right.append(docs[j])
    truth = []
    for x, y in zip(left, right):
        a, b = set(shingles(x)), set(shingles(y))
        truth.append(len(a & b) / len(a | b) if a | b else 1.0)
    return left, right, np.array(truth)


def estimates(name, left, right):
    f = CONTENDERS[name]
    if name.startswith("sketchkit"):
        a, b = f(left), f(right)
        return (a == b).mean(axis=1)
    if "digest_matrix" in name:
        a, b = np.asarray(f(left).to_rows()), np.asarray(f(right).to_rows())
        return (a == b).mean(axis=1)
    a, b = f(left), f(right)
    return np.array([x.jaccard(y) for x, y in zip(a, b)])


# ----------------------------------------------------------------------------- main
def machine() -> dict:
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu.split(":", 1)[-1].strip(), "python": platform.python_version(),
            "load": os.getloadavg(), "cores": os.cpu_count()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=1000)
    ap.add_argument("--skip", default="", help="comma-separated contender name prefixes to leave out")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    from importlib.metadata import version

    import datasketch
    import rensa  # noqa: F401

    docs = corpus(args.docs)
    n_sh = sum(len(shingles(d)) for d in docs)
    n_bytes = sum(len(d.encode()) for d in docs)
    print(f"{len(docs)} documents, {n_bytes / 1e6:.1f} MB, {n_sh / 1e6:.2f} M word-3-gram shingles", flush=True)
    names = [n for n in CONTENDERS if not any(n.startswith(p) for p in args.skip.split(",") if p)]
    for n in names:  # warm-up: numba compile / cache load, imports
        CONTENDERS[n](docs[:20])
    load_before = os.getloadavg()
    best = {n: math.inf for n in names}
    for _ in range(args.reps):
        for n in names:
            t = time.perf_counter()
            CONTENDERS[n](docs)
            best[n] = min(best[n], time.perf_counter() - t)
            print(f"  {n}: {best[n]:.3f} s", flush=True)
    load_after = os.getloadavg()
    only = sketch_only(docs, args.reps)

    left, right, truth = error_pairs(docs, args.pairs)
    err = {}
    planted = np.arange(truth.size) < args.pairs
    sq = {}
    for n in names:
        if "normalize" in n:
            continue
        est = estimates(n, left, right)
        sq[n] = (est - truth) ** 2
        rmse = float(np.sqrt(np.mean(sq[n][planted])))
        theory = math.sqrt(float(np.mean((truth * (1 - truth))[planted])) / K_HASHES)
        err[n] = {"rmse": rmse, "ratio": rmse / theory, "bias": float(np.mean((est - truth)[planted])),
                  "random_pairs_mae": float(np.mean(np.sqrt(sq[n][~planted])))}
    # paired bootstrap of the planted-pair RMSE ratio against rensa's (same pairs resampled)
    boot = np.random.default_rng(5).integers(0, args.pairs, (2000, args.pairs))
    base = "rensa RMinHash.update"
    for n in err:
        if base in sq:
            r = np.sqrt(sq[n][:args.pairs][boot].mean(axis=1) / sq[base][:args.pairs][boot].mean(axis=1))
            err[n]["vs_rensa"] = [float(np.sqrt(sq[n][planted].mean() / sq[base][planted].mean())),
                                  float(np.quantile(r, 0.025)), float(np.quantile(r, 0.975))]

    ref = "rensa RMinHash.digest_matrix_from_token_sets"
    ref_t = min(best.get(ref, math.inf), best.get("rensa RMinHash.update", math.inf))
    result = {
        "machine": machine(), "load_before": load_before, "load_after": load_after,
        "versions": {"datasketch": datasketch.__version__, "rensa": version("rensa"),
                     "numpy": np.__version__, "numba": version("numba")},
        "docs": len(docs), "megabytes": n_bytes / 1e6, "shingles": n_sh, "k": K_HASHES, "reps": args.reps,
        "seconds": best, "sketch_only_seconds": only, "error": err,
        "pairs": {"planted": args.pairs, "random": args.pairs, "mean_truth": float(truth.mean())},
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    lines = [
        "# Similarity benchmark: MinHash signatures from Python strings",
        "",
        f"Run {result['finished']} by `python benchmarks/bench_similarity.py --docs {args.docs} --reps {args.reps}`"
        f" on a shared machine ({result['machine']['cpu']}, {result['machine']['cores']} cores, load average "
        f"{load_before[0]:.2f} before / {load_after[0]:.2f} after the timed loop; other jobs were running, so compare "
        "ratios within this run only). One thread per contender.",
        "",
        f"Corpus: {len(docs)} stdlib `.py` files, {n_bytes / 1e6:.1f} MB, {n_sh / 1e6:.2f} M word-3-gram shingles; "
        f"k = {K_HASHES}. datasketch {datasketch.__version__}, rensa {version('rensa')}.",
        "",
        "| contender (end to end from `list[str]`) | best s | M shingles/s | × rensa (best API) | RMSE (planted) "
        "| ÷ √(J(1−J)/k) | RMSE ÷ rensa's [95 % CI] | MAE random pairs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in names:
        e = err.get(n)
        if e:
            v = e.get("vs_rensa")
            vs = f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]" if v else "–"
            es = f"{e['rmse']:.4f} | {e['ratio']:.2f} | {vs} | {e['random_pairs_mae']:.4f}"
        else:
            es = "– | – | – | –"
        lines.append(f"| {n} | {best[n]:.3f} | {n_sh / best[n] / 1e6:.2f} | {ref_t / best[n]:.2f} | {es} |")
    lines += ["", "Sketch step only (shingles prebuilt: strings for the peers, 64-bit hashes for sketchkit):", "",
              "| contender | best s | M shingles/s |", "|---|---|---|"]
    for n, t in only.items():
        lines.append(f"| {n} | {t:.3f} | {n_sh / t / 1e6:.1f} |")
    lines += ["", f"Error pairs: {args.pairs} planted near-duplicates (1–60 % word edits) + {args.pairs} random "
              f"pairs, mean exact J = {truth.mean():.3f}.", ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        os.makedirs(os.path.join(ROOT, "docs", "benchmarks"), exist_ok=True)
        with open(os.path.join(ROOT, "docs", "benchmarks", "similarity.md"), "w") as fh:
            fh.write(text)
        with open(os.path.join(ROOT, "docs", "benchmarks", "similarity.json"), "w") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
