"""``sketchkit quantiles FILE... --field N``: quantiles of a column of numbers in a few KiB,
whatever the input size.

Each line gives one number: the whole line, or field N (from 1) split on whitespace or
``--delimiter``. A value that does not parse as a finite number (text, an empty field, a missing
column, NaN, inf) stops the run with an error naming file and line, unless ``--skip-bad``: then
it is skipped, counted and reported (on stderr, and in the summary). ``--sketch kll`` (default)
bounds the rank error (±rank_error at 99 %, shown); ``--sketch ddsketch`` bounds the value error
by ``--alpha`` (tails: latency p99.9). See docs/quantiles.md for when to pick which.

Output: an aligned table of q and value; ``--plain`` tab-separated rows; ``--json`` one object
per line, then a summary object::

    {"type": "quantile", "q": 0.99, "value": 182.4}
    {"type": "summary", "items": 100000, "bad": 3, "min": 0.4, "max": 9120.0,
     "sketch": "KLL(k=200, ...)", "guarantee": "each rank within ±0.0094 of the truth with ..."}

``--sketch-file`` answers from a saved sketch instead (``-o`` writes one; ``sketchkit merge``
combines several of the same kind, k or alpha, and seed).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import positive_int

# numpy and the sketches are imported inside the command: declaring it costs ``sketchkit --help``
# nothing

EXAMPLES = [
    "sketchkit quantiles latency.log --field 7 --sketch ddsketch     # p50..p99.9 within 1 %",
    "sketchkit quantiles data.csv --delimiter , --field 3 --header --skip-bad",
    "zcat access.log.gz | sketchkit quantiles --field 10 -q 0.5,0.99,0.999 --json",
]

DEFAULT_QS = "0,0.01,0.1,0.25,0.5,0.75,0.9,0.99,0.999,1"
_BATCH = 1 << 16  # numbers parsed before each sketch update


def add_command(command: Any, add_output_options: Any) -> argparse.ArgumentParser:
    """Declare the subcommand on the main parser (``command(name, help)`` makes a subparser)."""
    p = command("quantiles", "quantiles (p50, p99, ...) of a column of numbers")
    p.add_argument("files", nargs="*", metavar="FILE", help="inputs ('-' or none: stdin); .gz/.bz2/.xz decompressed")
    p.add_argument("-s", "--sketch-file", metavar="SKETCH",
                   help="answer from a saved KLL/DDSketch file (-o, 'sketchkit merge') instead of reading numbers")
    g = p.add_argument_group("what a value is")
    g.add_argument("--field", type=positive_int, metavar="N", help="column N (from 1); default: the whole line")
    g.add_argument("--delimiter", metavar="D", help="field separator (default: runs of whitespace)")
    g.add_argument("--header", action="store_true", help="skip the first line of each input")
    g.add_argument("--skip-bad", action="store_true",
                   help="skip values that are not finite numbers (counted and reported) instead of stopping")
    s = p.add_argument_group("the sketch")
    s.add_argument("--sketch", choices=["kll", "ddsketch"], default="kll",
                   help="kll: rank error ±~1.5/k (default); ddsketch: value error ±alpha (tails)")
    s.add_argument("-k", type=positive_int, default=200, help="KLL size (default 200: ~5 KB, rank error <= 1.5 %%)")
    s.add_argument("--alpha", type=float, default=0.01, help="DDSketch relative accuracy (default 0.01)")
    s.add_argument("--seed", default=None, metavar="SEED", help="KLL coin seed, or 'random' (default 1729)")
    out = add_output_options(p)
    out.add_argument("-q", "--quantiles", default=DEFAULT_QS, metavar="Q,Q,...",
                     help=f"ranks to report, each in [0, 1] (default {DEFAULT_QS})")
    out.add_argument("--exclusive", action="store_true",
                     help="exclusive rank convention (smallest value with rank > q) instead of inclusive")
    out.add_argument("-o", "--output", metavar="FILE", help="also write the sketch to FILE (sketchkit merge/info)")
    p.set_defaults(func=cmd_quantiles)
    return p


def _ranks(text: str) -> list[float]:
    from .common import UsageError

    try:
        qs = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"--quantiles takes numbers in [0, 1] separated by commas, got {text!r}") from None
    if not qs or any(not 0.0 <= q <= 1.0 for q in qs):
        raise UsageError(f"--quantiles takes numbers in [0, 1] separated by commas, got {text!r}")
    return qs


def _make(args: argparse.Namespace) -> Any:
    from .. import cli
    from ..quantiles import KLL, DDSketch

    if args.sketch == "ddsketch":
        return DDSketch(args.alpha)
    seed = cli._seed(args.seed) if args.seed is not None else cli.DEFAULT_SEED
    return KLL(args.k, seed=seed)


class BadValues:
    """Counts the values that did not parse, keeping the first few for the report."""

    def __init__(self) -> None:
        self.count = 0
        self.examples: list[str] = []

    def add(self, where: str, text: str) -> None:
        self.count += 1
        if len(self.examples) < 3:
            self.examples.append(f"{where}: {text!r}")


def parse_lines(lines: list[str], field: int | None, delimiter: str | None, where: Any, bad: BadValues | None,
                out: list[float]) -> None:
    """Append the number each line gives to ``out``; a bad value raises CLIError, or is counted
    when ``bad`` is given. ``where(i)`` names line i of the chunk for messages."""
    from .common import CLIError

    for i, line in enumerate(lines):
        if field is None:
            text = line.strip()
        else:
            parts = line.split(delimiter) if delimiter is not None else line.split()
            text = parts[field - 1].strip() if len(parts) >= field else ""
        try:
            v = float(text)
            ok = v - v == 0.0  # finite
        except ValueError:
            ok = False
        if ok:
            out.append(v)
        elif bad is not None:
            bad.add(where(i), text)
        else:
            what = "an empty or missing field" if not text else f"{text!r}, not a finite number"
            raise CLIError(f"{where(i)}: {what} (--skip-bad skips such values)")


def read_numbers(paths: list[str], field: int | None, delimiter: str | None, header: bool, bad: BadValues | None,
                 sink: Any) -> int:
    """Stream every input's numbers into ``sink`` (an ``update_batch``) in batches; returns how
    many lines were read."""
    import numpy as np

    from .inputs import open_source, text_chunks

    lines_read = 0
    for path in paths:
        source = open_source(path)
        try:
            line_no = 0
            pending: list[float] = []
            for chunk in text_chunks(source):
                lines = chunk.decode("utf-8", "replace").splitlines()
                if header and line_no == 0 and lines:
                    lines = lines[1:]
                    line_no = 1
                base, name = line_no, source.name
                parse_lines(lines, field, delimiter, lambda i, base=base, name=name: f"{name}:{base + i + 1}", bad,
                            pending)
                line_no += len(lines)
                if len(pending) >= _BATCH:
                    sink(np.array(pending))
                    pending = []
            if pending:
                sink(np.array(pending))
            lines_read += line_no
        finally:
            source.close()
    return lines_read


def cmd_quantiles(args: argparse.Namespace) -> int:
    from .. import cli
    from .common import CLIError, UsageError, warn
    from .files import write_atomic
    from .output import emit_json, print_plain, print_table

    qs = _ranks(args.quantiles)
    if args.delimiter is not None and args.field is None:
        raise UsageError("--delimiter needs --field")
    if not 1e-6 <= args.alpha <= 0.5:
        raise UsageError(f"--alpha must be in [1e-6, 0.5], got {args.alpha}")
    bad = BadValues() if args.skip_bad else None
    if args.sketch_file is not None:
        from ..quantiles import KLL, DDSketch
        from .files import read_sketch

        if args.files:
            raise UsageError("give input FILEs or --sketch-file, not both")
        sk = read_sketch(args.sketch_file)
        if not isinstance(sk, (KLL, DDSketch)):
            raise CLIError(f"{args.sketch_file}: holds a {type(sk).__name__}, not a KLL or DDSketch")
        args.sketch = "kll" if isinstance(sk, KLL) else "ddsketch"
    else:
        sk = _make(args)
        paths = cli._input_paths(args)
        delimiter = cli._delimiter(args.delimiter) if args.delimiter is not None else None
        read_numbers(paths, args.field, delimiter, args.header, bad, sk.update_batch)
    if bad is not None and bad.count:
        warn(f"skipped {bad.count:,} value(s) that are not finite numbers, e.g. " + "; ".join(bad.examples))
    if sk.is_empty():
        raise CLIError("the input holds no numbers" + (" (every value was skipped)" if bad and bad.count else ""))
    if args.output:
        write_atomic(args.output, sk.to_bytes())
    values = sk.quantiles(qs, inclusive=not args.exclusive)
    guarantee = sk.guarantee()
    summary = {"items": sk.total_weight, "bad": bad.count if bad else 0, "min": sk.min, "max": sk.max,
               "sketch": repr(sk), "guarantee": guarantee}
    if args.json:
        for q, v in zip(qs, values):
            emit_json({"type": "quantile", "q": q, "value": float(v)})
        emit_json({"type": "summary", **summary})
        return 0
    rows = [[f"{q:g}", float(v)] for q, v in zip(qs, values)]
    if args.plain:
        print_plain(rows)
        return 0
    print_table(["q", "value"], rows, numeric_from=1)
    print(f"{summary['items']:,} values" + (f", {summary['bad']:,} skipped" if summary["bad"] else "")
          + f"; {guarantee}", file=sys.stdout)
    return 0
