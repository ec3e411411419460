"""Real matrices for the linear-algebra benchmarks, built in-process from files already on the machine.

* ``stdlib_lines``: tf-idf (scikit-learn ``TfidfVectorizer``, identifier tokens, the ``n`` most frequent)
  of the non-blank lines of the Python standard library's ``.py`` files, in sorted path order; the
  target ``b`` is each line's indentation depth (leading spaces / 4): a real regression target.
* ``debian_bullets``: tf-idf of the bullet items of ``data/debian-changelogs.tsv.gz`` (shipped with
  sketchkit), target the entry's year.
* ``sketchkit_lines``: as ``stdlib_lines``, over this repository's own ``src``, ``tests`` and
  ``benchmarks`` Python files and ``docs`` Markdown.

Row subsets keep the vocabulary of the full matrix, so they have empty columns (terms of other rows)
and duplicate columns (terms that only occur together): the rank-deficient cases.
"""

from __future__ import annotations

import glob
import gzip
import os
import sysconfig

import numpy as np
import scipy.sparse as sp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENS = r"[A-Za-z_][A-Za-z0-9_]*"


def _tfidf(texts, n):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(token_pattern=TOKENS, lowercase=False, max_features=n, dtype=np.float64)
    return sp.csr_matrix(vec.fit_transform(texts))


def _lines(paths, max_rows):
    texts, depth = [], []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                stripped = line.lstrip(" ")
                if not stripped.strip():
                    continue
                texts.append(stripped)
                depth.append((len(line) - len(stripped)) / 4.0)
                if len(texts) >= max_rows:
                    return texts, np.array(depth)
    return texts, np.array(depth)


def stdlib_lines(n=1000, max_rows=400_000):
    lib = sysconfig.get_paths()["stdlib"]
    paths = sorted(p for p in glob.glob(os.path.join(lib, "**", "*.py"), recursive=True) if "site-packages" not in p)
    texts, b = _lines(paths, max_rows)
    return _tfidf(texts, n), b


def sketchkit_lines(n=500, max_rows=400_000):
    paths = []
    for sub, ext in (("src", "py"), ("tests", "py"), ("benchmarks", "py"), ("docs", "md")):
        paths += sorted(glob.glob(os.path.join(ROOT, sub, "**", f"*.{ext}"), recursive=True))
    texts, b = _lines(paths, max_rows)
    return _tfidf(texts, n), b


def debian_bullets(n=500):
    texts, years = [], []
    with gzip.open(os.path.join(ROOT, "data", "debian-changelogs.tsv.gz"), "rt", encoding="utf-8") as f:
        next(f)
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4:
                continue
            year = float(parts[0][:4])
            for item in parts[3].split("* "):
                if item.strip():
                    texts.append(item)
                    years.append(year)
    return _tfidf(texts, n), np.array(years) - 2010.0


def column_defects(A):
    """(empty columns, columns that duplicate an earlier one exactly)."""
    C = sp.csc_matrix(A)
    C.sort_indices()
    empty = int(np.sum(np.diff(C.indptr) == 0))
    seen, dup = set(), 0
    for j in range(C.shape[1]):
        s, e = C.indptr[j], C.indptr[j + 1]
        if s == e:
            continue
        key = (C.indices[s:e].tobytes(), C.data[s:e].tobytes())
        dup += key in seen
        seen.add(key)
    return empty, dup
