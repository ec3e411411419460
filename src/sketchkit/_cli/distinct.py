"""``sketchkit distinct FILE...``: how many distinct items (words, lines, a column, a JSON field,
int64 values) each input holds, and all of them together, in a few KiB whatever the input size.

One :class:`~sketchkit.cardinality.Distinct` per input, merged for the total (the total of
several inputs uses the ML estimator, see docs/cardinality.md); each row carries the estimate,
its bounds at 99 % (``--delta``), the number of items read and which estimator answered.
``--exact`` also counts exactly (memory grows with the distinct items) and reports the error;
``-o FILE`` writes the total's sketch for ``sketchkit merge``/``info`` or Python.

Output: an aligned table; ``--plain`` tab-separated rows; ``--json`` one object per line::

    {"type": "distinct", "input": "a.log", "estimate": 1043.2, "lower": ..., "upper": ...,
     "items": 52311, "estimator": "martingale", "relative_error": 0.0093}
"""

from __future__ import annotations

import argparse
from typing import Any

EXAMPLES = [
    "sketchkit distinct access.log --lines                  # distinct lines",
    "sketchkit distinct day*.csv --header --field user_id   # per file and in total",
    "zcat logs/*.gz | sketchkit distinct --json-field user.id --json",
    "sketchkit distinct big.txt --exact                     # also count exactly, show the error",
]


def add_command(
    command: Any, add_input_options: Any, add_output_options: Any, examples: dict | None = None
) -> argparse.ArgumentParser:
    """Declare the subcommand on the main parser (``command(name, help)`` makes a subparser;
    ``examples`` is the dict the help epilogs read, which gets this command's examples)."""
    if examples is not None:
        examples.setdefault("distinct", EXAMPLES)
    p = command("distinct", "how many distinct items each input holds, and all together")
    add_input_options(p, distributed=False)
    g = p.add_argument_group("the sketch")
    size = g.add_mutually_exclusive_group()
    size.add_argument(
        "--precision",
        type=int,
        metavar="P",
        help="2**P registers of 3.5 bytes (4..22; default 12: 14 KiB, ±1.9%% at 99%%)",
    )
    size.add_argument("--memory", metavar="BYTES", help="memory budget, e.g. 4KiB (the most precise sketch that fits)")
    size.add_argument(
        "--error",
        type=float,
        metavar="EPS",
        help="relative error bound at 99%% (e.g. 0.02): the smallest sketch that meets it",
    )
    g.add_argument("--seed", default=None, metavar="SEED", help="hash seed, or 'random' (default 1729)")
    g.add_argument("--delta", type=float, default=0.01, help="bounds hold with probability 1 - DELTA (default 0.01)")
    out = add_output_options(p)
    out.add_argument("--exact", action="store_true", help="also count exactly and report the relative error")
    out.add_argument("--total-only", action="store_true", help="one row for all inputs together")
    out.add_argument("-o", "--output", metavar="FILE", help="write the sketch of all inputs to FILE")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_distinct)
    return p


def _make(args: argparse.Namespace) -> Any:
    from .. import cli
    from ..cardinality import Distinct

    seed = cli._seed(args.seed) if args.seed is not None else cli.DEFAULT_SEED
    if args.memory is not None:
        return Distinct.from_memory(args.memory, seed=seed)
    if args.error is not None:
        return Distinct.from_error(args.error, 0.01, seed=seed)
    return Distinct(12 if args.precision is None else args.precision, seed=seed)


class _Exact:
    def __init__(self) -> None:
        self.items: set = set()

    def __call__(self, items: Any, weights: Any) -> None:
        self.items.update(items.tolist() if hasattr(items, "tolist") else items)


def cmd_distinct(args: argparse.Namespace) -> int:
    from .. import cli
    from .common import UsageError
    from .files import write_atomic
    from .output import emit_json, print_plain, print_table
    from .stream import stream

    if args.weight_field is not None:
        raise UsageError("distinct counts items, not weights: drop --weight-field")
    if not 0.0 < args.delta < 1.0:
        raise UsageError(f"--delta must be in (0, 1), got {args.delta}")
    tokenizer = cli._tokenizer(args)
    paths = cli._input_paths(args)
    groups = [paths] if args.total_only or len(paths) == 1 else [[p] for p in paths]
    rows = []
    sketches = []
    exact_all: set = set()
    for group in groups:
        sk = _make(args)
        sinks: list = [sk.update_batch]
        exact = _Exact() if args.exact else None
        if exact is not None:
            sinks.append(exact)
        stream(
            group, tokenizer, sinks, utf8=cli._utf8(args), header=args.header, quiet=args.quiet, binary_ok=args.binary
        )
        sketches.append(sk)
        name = "<stdin>" if group == ["-"] else (group[0] if len(group) == 1 else "total")
        rows.append(_record(name, sk, args.delta, exact.items if exact else None))
        if exact is not None:
            exact_all |= exact.items
    total = sketches[0]
    if len(sketches) > 1:
        total = type(total).merge_all(sketches)
        rows.append(_record("total", total, args.delta, exact_all if args.exact else None))
    if total.is_empty():
        from .common import CLIError

        raise CLIError("the input holds no items (empty input, or nothing matched the tokeniser)")
    if args.output:
        write_atomic(args.output, total.to_bytes())
    if args.json:
        for r in rows:
            emit_json({"type": "distinct", **r})
        return 0
    cols = ["input", "estimate", "lower", "upper", "items", "estimator"] + (["exact", "error"] if args.exact else [])
    table = [[r[c] for c in cols] for r in rows]
    if args.plain:
        print_plain(table)
    else:
        print_table(cols, table, numeric_from=1)
    return 0


def _record(name: str, sk: Any, delta: float, exact: set | None) -> dict:
    lo, hi = sk.bounds(delta)
    est = sk.estimate()
    rec = {
        "input": name,
        "estimate": round(est, 1),
        "lower": round(lo, 1),
        "upper": round(hi, 1),
        "items": sk.total_weight,
        "estimator": sk.estimator,
        "relative_error": sk.relative_error(delta),
    }
    if exact is not None:
        rec["exact"] = len(exact)
        rec["error"] = (est / len(exact) - 1) if exact else 0.0
    return rec
