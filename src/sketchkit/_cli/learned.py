"""What the ``sketchkit`` CLI calls for learned sketches: train an oracle file, load it, build a sketch.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "words.oracle")
>>> train_oracle("a a a b b c".split(), path, kind="lookup")
>>> oracle = load_oracle(path)
>>> sk = make_learned_sketch("countmin", 4096, oracle, seed=1)
>>> sk.update_batch("a b a d".split())
>>> sk.estimate("a")
2
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from typing import Any

from .._base import Sketch
from ..errors import InvalidParameterError, SerializationError
from ..learned.gbm import GBMOracle
from ..learned.oracles import HybridOracle, LookupOracle, NgramOracle, Oracle, RandomOracle
from ..learned.sketches import LearnedCountMin, LearnedCountSketch, capacity_for
from ..learned.tuner import held_oracle

ORACLE_KINDS = ("lookup", "model", "gbm", "hybrid", "random")
SKETCH_KINDS = {"countmin": (LearnedCountMin, 3), "countsketch": (LearnedCountSketch, 3)}
DEFAULT_HEAVY_FRACTION = 0.3


def _check_opts(opts: dict, allowed: set[str]) -> None:
    extra = set(opts) - allowed
    if extra:
        raise InvalidParameterError(f"unknown oracle options {sorted(extra)}; allowed: {sorted(allowed)}")


def build_oracle(counts: dict, kind: str = "lookup", **opts: Any) -> Oracle:
    """An oracle from training counts (item -> count).

    Options: lookup: ``capacity``; model: ``objective`` ('mse' or 'coverage'), ``bits``, ``max_n``,
    ``alpha``, ``heavy_share``; gbm: ``bits``, ``max_n``, ``n_trees``, ``max_leaves``,
    ``learning_rate``, ``objective``, ``heavy_share``; hybrid: ``capacity`` (lookup part) plus the
    model options; random: ``seed``.
    """
    model_opts = {"objective", "bits", "max_n", "alpha", "heavy_share"}
    if kind == "lookup":
        _check_opts(opts, {"capacity"})
        return LookupOracle.from_counts(counts, capacity=opts.get("capacity"))
    if kind == "model":
        _check_opts(opts, model_opts)
        return NgramOracle.fit(counts, **opts)
    if kind == "gbm":
        _check_opts(opts, {"bits", "max_n", "n_trees", "max_leaves", "learning_rate", "objective", "heavy_share"})
        return GBMOracle.fit(counts, **opts)
    if kind == "hybrid":
        _check_opts(opts, model_opts | {"capacity"})
        capacity = opts.pop("capacity", None)
        return HybridOracle(LookupOracle.from_counts(counts, capacity=capacity), NgramOracle.fit(counts, **opts))
    if kind == "random":
        _check_opts(opts, {"seed"})
        return RandomOracle(**opts)
    raise InvalidParameterError(f"oracle kind must be one of {ORACLE_KINDS}, got {kind!r}")


def train_oracle(train_items: list, out_path: str, kind: str = "lookup", **opts: Any) -> None:
    """Count ``train_items`` (a training stream), fit an oracle of ``kind`` and write its file
    atomically (a temporary file in the same folder, then a rename): a failure leaves no partial file."""
    counts = Counter(train_items)
    if not counts:
        raise InvalidParameterError("the training stream is empty")
    data = build_oracle(dict(counts), kind, **opts).to_bytes()
    folder = os.path.dirname(os.path.abspath(out_path))
    fd, tmp = tempfile.mkstemp(prefix=".oracle-", dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; an oracle file is not
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_oracle(path: str) -> Oracle:
    """Read an oracle file; a missing file or bad bytes raise a sketchkit error."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise InvalidParameterError(f"cannot read oracle file {path!r}: {exc.strerror or exc}") from None
    try:
        return Oracle.from_bytes(data)
    except SerializationError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    except TypeError as exc:  # pragma: no cover - bytes are always bytes here
        raise InvalidParameterError(str(exc)) from None


def make_learned_sketch(
    kind: str, memory: int | str, oracle: Oracle, seed: int, *, heavy_fraction: float = DEFAULT_HEAVY_FRACTION,
    threshold: float | None = None, depth: int | None = None,
) -> Sketch:
    """A learned sketch within ``memory`` bytes (oracle included): ``heavy_fraction`` of it for exact
    counters, the threshold from the oracle's training ranks unless given; a lookup oracle is held as
    the set of its entries that pass (:class:`~sketchkit.learned.KeySetOracle`)."""
    if kind not in SKETCH_KINDS:
        raise InvalidParameterError(f"kind must be one of {sorted(SKETCH_KINDS)}, got {kind!r}")
    if not isinstance(oracle, Oracle):
        raise InvalidParameterError(f"oracle must be an Oracle, got {type(oracle).__name__}")
    cls, default_depth = SKETCH_KINDS[kind]
    capacity = capacity_for(memory, heavy_fraction)
    if threshold is None:
        threshold = oracle.threshold_for(capacity)
    oracle, threshold = held_oracle(oracle, threshold, capacity)  # a lookup: only the entries that pass
    return cls.from_memory(
        memory, oracle, heavy_fraction=heavy_fraction, threshold=threshold, depth=depth or default_depth, seed=seed
    )
