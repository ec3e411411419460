"""The ``sketchkit`` command line: heavy hitters of any stream in bounded memory, and sketch files
that can be built, merged and queried across machines and days.

Commands: ``topk``, ``build``, ``merge``, ``query``, ``info``, ``distinct``, ``quantiles``, ``demo``,
``train-oracle``, ``dedup``.
stdout carries data only; messages go to stderr as one line each; exit status 0 on success,
1 on bad input, 2 on a bad command line, 130 when interrupted, 141 when stdout closed early.
See docs/cli.md.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
import time
from typing import Any, NoReturn

from . import __version__, _interrupt
from ._base import parse_memory
from ._cli import kinds
from ._cli.candidates import Candidates, split_budget
from ._cli.common import CLIError, UsageError, positive_int, warn
from ._cli.files import read_sketch, write_atomic
from ._cli.output import emit_json, print_plain, print_table, show
from ._cli.stream import ExactCounts, StreamStats, stream
from ._cli.tokens import (
    ERROR_POLICIES,
    NORMAL_FORMS,
    BadRecords,
    Field,
    Int64,
    JsonField,
    Lines,
    Normalized,
    Tokenizer,
    Utf8Policy,
    Words,
    normalize_item,
    tokenize_text,
)
from .errors import InvalidParameterError, SketchError
from .hashing import DEFAULT_SEED

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_PIPE = 1, 2, 130, 141

EXIT_STATUS = """\
exit status:
  0    success
  1    bad input: a missing, unreadable, binary or malformed file, no items, a bad or
       incompatible sketch file, an unwritable output
  2    bad command line: an unknown option, a bad value, options that conflict, a budget
       too small for the sketch
  130  interrupted (Ctrl-C)
  141  stdout closed before the output ended (... | head): the rest is dropped quietly"""

EXAMPLES = {
    None: [
        "sketchkit topk access.log --lines -k 10          # the 10 most frequent lines",
        "zcat logs/*.gz | sketchkit topk --lines --json | jq .item",
        "tail -f app.log | sketchkit topk --lines --every 10s",
        "sketchkit build day1.txt -o day1.sk --kind countsketch --seed 7",
        "sketchkit merge day1.sk day2.sk -o week.sk && sketchkit query week.sk error",
    ],
    "topk": [
        "sketchkit topk big.txt -k 10                      # words, from a file",
        "zcat logs/*.gz | sketchkit topk --lines --json | jq .item",
        "sketchkit topk sales.csv --header --field city --weight-field units",
        "sketchkit topk events.ndjson --json-field user.id --skip-bad -k 50",
        "tail -f app.log | sketchkit topk --lines --every 10s",
        "sketchkit topk big.txt --ignore-case --normalize NFKC --exact",
    ],
    "build": [
        "sketchkit build day1.txt -o day1.sk --kind countsketch --memory 4MiB --seed 7",
        "sketchkit build --int64 ids.bin -o ids.sk --kind dyadic",
    ],
    "merge": ["sketchkit merge day1.sk day2.sk -o week.sk"],
    "query": [
        "sketchkit query week.sk error timeout --json",
        "sketchkit query ids.sk --int64 5 7                  # options and keys in any order",
        "cut -f1 keys.tsv | sketchkit query week.sk --plain  # keys from stdin",
    ],
    "info": ["sketchkit info week.sk --json"],
    "demo": ["sketchkit demo -k 10 --no-plot"],
    "train-oracle": ["sketchkit train-oracle train.txt -o words.oracle --oracle-kind lookup"],
}


def _epilog(command: str | None) -> str:
    lines = ["examples:"] + [f"  {e}" for e in EXAMPLES[command]]
    return "\n".join(lines) + "\n\n" + EXIT_STATUS


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error naming the help to read (the default prints the whole usage
    first), and help texts whose examples keep their lines."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        print(f"sketchkit: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


class CommandParser(Parser):
    """One command's parser. Options and operands come in any order (``query S --int64 5`` and
    ``query S 5 --int64``; argparse alone stops a ``*`` operand at the first option), and its
    errors, unknown options included, point to this command's ``--help``."""

    _inner = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        if self._inner:  # parse_known_intermixed_args calls back here for its two passes
            return super().parse_known_args(args, namespace)
        self._inner = True
        try:
            namespace, extras = self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inner = False
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, []


# ----------------------------------------------------------------------------- options
def _seed(text: str) -> int:
    from .hashing import check_seed, random_seed

    if text == "random":
        return random_seed()
    try:
        return check_seed(int(text, 0))
    except (ValueError, SketchError):
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: use an integer in [0, 2**64) or 'random'") from None


def _memory(text: str) -> int:
    from ._base import parse_memory

    try:
        return parse_memory(text)
    except SketchError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def _every(text: str) -> tuple[str, float]:
    """``--every``: a number of items (``100000``) or a period (``10s``, ``500ms``, ``2m``, ``1h``)."""
    import re

    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*", text)
    if m and not m.group(2) and "." not in m.group(1) and int(m.group(1)) > 0:
        return ("items", int(m.group(1)))
    if m and m.group(2) in _SECONDS and float(m.group(1)) > 0:
        return ("seconds", float(m.group(1)) * _SECONDS[m.group(2)])
    raise argparse.ArgumentTypeError(f"expected a number of items (100000) or a period (10s, 500ms, 2m), got {text!r}")


def _add_input_options(p: argparse.ArgumentParser, distributed: bool = True) -> None:
    p.add_argument("files", nargs="*", metavar="FILE", help="inputs ('-' or none: stdin); .gz/.bz2/.xz decompressed")
    g = p.add_argument_group("what an item is (default: words)")
    mode = g.add_mutually_exclusive_group()
    mode.add_argument("--tokens", dest="mode", action="store_const", const="words",
                      help="words: matches of --pattern, default \\w+ (Unicode word characters)")
    mode.add_argument("--lines", dest="mode", action="store_const", const="lines", help="whole lines")
    mode.add_argument("--field", metavar="N|NAME",
                      help="column N (from 1) of CSV/TSV, or the column named NAME in the --header line")
    mode.add_argument("--json-field", metavar="PATH", help="field of each NDJSON record, e.g. user.name or tags.0")
    mode.add_argument("--int64", dest="mode", action="store_const", const="int64",
                      help="binary little-endian int64 values")
    g.add_argument("--pattern", metavar="REGEX", help="regular expression of a word (with --tokens)")
    g.add_argument("-i", "--ignore-case", "--fold", dest="fold", action="store_true",
                   help="count items that differ only in case as one (str.casefold: Straße = STRASSE)")
    g.add_argument("--normalize", choices=NORMAL_FORMS, type=str.upper, metavar="FORM",
                   help="Unicode-normalise items first: NFC (composed), NFKC (also compatibility forms: "
                        "ﬁ = fi, full-width = ASCII), NFD, NFKD")
    r = p.add_argument_group("reading the input")
    r.add_argument("--delimiter", default=",", metavar="CHAR",
                   help="column separator for --field (default ,; 'tab' or '\\t' for TSV)")
    r.add_argument("--header", "--header-in", dest="header", action="store_true",
                   help="the first line of each input names the columns: not counted, and --field NAME looks there")
    r.add_argument("--weight-field", metavar="N|NAME|PATH",
                   help="integer weight from this column (--field) or JSON path (--json-field)")
    r.add_argument("--errors", choices=ERROR_POLICIES, default=None,
                   help="invalid UTF-8: replace bad bytes (default), skip the line (default with --skip-bad), or stop")
    r.add_argument("--skip-bad", action="store_true",
                   help="skip malformed records (invalid JSON or CSV, a weight that is not an integer, invalid "
                        "UTF-8) and report their count at the end, instead of stopping at the first")
    r.add_argument("--binary", action="store_true",
                   help="read files holding NUL bytes as text (refused by default, as grep does)")
    if distributed:
        d = p.add_argument_group("distributed (needs the [dask] extra)")
        d.add_argument("--workers", type=positive_int, metavar="N", help="sketch files on N local worker processes")
        d.add_argument("--scheduler", metavar="ADDRESS",
                       help="sketch files on a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (docs/distributed.md)")


def _add_sketch_options(p: argparse.ArgumentParser, default_kind: str) -> None:
    g = p.add_argument_group("the sketch")
    g.add_argument("--kind", choices=list(kinds.KINDS), default=default_kind,
                   help=f"sketch type (default {default_kind})")
    g.add_argument("--memory", type=_memory, default="1MiB", metavar="BYTES",
                   help="memory budget of the sketch, e.g. 256KiB, 1MiB (default 1MiB)")
    g.add_argument("--seed", type=_seed, default=str(DEFAULT_SEED),
                   help=f"hash seed, or 'random' (default {DEFAULT_SEED}); sketches merge only with equal seeds")
    g.add_argument("--depth", type=positive_int, help="rows of a countsketch (odd)/countmin/heavyhitters/dyadic "
                                                   "(default 5)")
    g.add_argument("--conservative", action="store_true", help="conservative update (countmin only)")


def _add_output_options(p: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    g = p.add_argument_group("output (default: an aligned table)")
    fmt = g.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON object per line (NDJSON)")
    fmt.add_argument("--plain", action="store_true", help="tab-separated rows, no header")
    return g


def build_parser() -> Parser:
    parser = Parser(prog="sketchkit", description="Heavy hitters and frequency sketches of streams, in bounded memory.",
                    epilog=_epilog(None))
    parser.add_argument("--version", action="version", version=f"sketchkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=CommandParser)

    def command(name: str, help: str, description: str | None = None) -> CommandParser:
        return sub.add_parser(name, help=help, description=description or help[:1].upper() + help[1:] + ".",
                              epilog=_epilog(name))

    p = command("topk", "heaviest items with estimate, lower and upper bound")
    _add_input_options(p)
    _add_sketch_options(p, "spacesaving")
    out = _add_output_options(p)
    out.add_argument("--summary", action="store_true",
                     help="with --json: a last {\"type\": \"summary\"} line; with --plain: the summary on stderr "
                          "(the table always ends with it)")
    out.add_argument("--every", type=_every, metavar="N|PERIOD",
                     help="also print the top-k while reading: every N items, or every PERIOD (10s, 500ms, 2m) "
                          "as input arrives (tail -f log | sketchkit topk --every 10s)")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    a = p.add_argument_group("the answer")
    a.add_argument("-k", type=positive_int, default=20, help="how many items (default 20)")
    a.add_argument("--robust", action="store_true",
                   help="publish the list from a RobustTopK: secret key, noisy median, a stated budget of lists "
                        "answered under adaptive reading (docs/robustness.md); --kind is ignored")
    a.add_argument("--exact", action="store_true",
                   help="also count exactly (memory grows with distinct items) and report recall and error")
    a.add_argument("--candidates", type=positive_int, metavar="N",
                   help="items kept beside a countsketch/countmin, within a quarter of --memory "
                        "(default max(1000, 50*k))")
    p.set_defaults(func=cmd_topk)

    p = command("build", "write a sketch file")
    _add_input_options(p)
    _add_sketch_options(p, "spacesaving")
    b = p.add_argument_group("output")
    b.add_argument("-o", "--output", required=True, metavar="FILE", help="sketch file to write ('-': stdout)")
    b.add_argument("--oracle", metavar="FILE", help="learned sketch using this oracle (kind countmin/countsketch)")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_build)

    p = command("merge", "merge sketch files of the same kind, shape and seed")
    p.add_argument("sketches", nargs="+", metavar="SKETCH")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="merged sketch file ('-': stdout)")
    p.set_defaults(func=cmd_merge)

    p = command("query", "estimate and bounds of given keys")
    p.add_argument("sketch", metavar="SKETCH")
    p.add_argument("keys", nargs="*", metavar="KEY", help="keys to look up (none: one per line on stdin)")
    p.add_argument("--int64", action="store_true", help="keys are integers (sketch built with --int64)")
    p.add_argument("-i", "--ignore-case", "--fold", dest="fold", action="store_true",
                   help="fold the keys' case, as the sketch's items were (built with --ignore-case)")
    p.add_argument("--normalize", choices=NORMAL_FORMS, type=str.upper, metavar="FORM",
                   help="normalise the keys, as the sketch's items were (built with --normalize FORM)")
    _add_output_options(p)
    p.set_defaults(func=cmd_query)

    p = command("info", "type, shape, seed, size, weight and guarantee of a sketch file")
    p.add_argument("sketch", metavar="SKETCH")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_info)

    from ._cli.distinct import add_command as add_distinct

    add_distinct(command, _add_input_options, _add_output_options, EXAMPLES)

    p = command("demo", "the main job on the Python standard library's sources")
    p.add_argument("-k", type=positive_int, default=20, help="how many items (default 20)")
    p.add_argument("--kind", choices=list(kinds.KINDS), default="spacesaving")
    p.add_argument("--memory", type=_memory, default=parse_memory("64KiB"), metavar="BYTES",
                   help="sketch memory budget (default 64KiB)")
    p.add_argument("--seed", type=_seed, default=DEFAULT_SEED)
    p.add_argument("--plot", metavar="PNG", help="plot path (default ~/.cache/sketchkit/demo/demo_topk.png)")
    p.add_argument("--no-plot", action="store_true", help="skip the plot")
    p.add_argument("--source", metavar="DIR", help="directory of .py files (default: the standard library)")
    p.set_defaults(func=cmd_demo)

    p = command("train-oracle", "train a learned oracle from training items")
    _add_input_options(p, distributed=False)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="oracle file to write")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.add_argument("--oracle-kind", default="lookup", metavar="KIND", help="oracle type (default lookup)")
    p.set_defaults(func=cmd_train_oracle)

    from ._cli import dedup  # near-duplicate removal: docs/similarity.md

    dedup.add_parser(sub)

    from ._cli import quantiles as quantiles_cli  # quantiles of a column of numbers: docs/quantiles.md

    EXAMPLES.setdefault("quantiles", quantiles_cli.EXAMPLES)
    quantiles_cli.add_command(command, _add_output_options)
    return parser


# ----------------------------------------------------------------------------- inputs
def _input_paths(args: argparse.Namespace) -> list[str]:
    if args.files:
        return args.files
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("no input: give FILE arguments or pipe data in")
    return ["-"]


def _delimiter(text: str) -> str:
    return "\t" if text in ("tab", "\\t", "TAB") else text


def _tokenizer(args: argparse.Namespace) -> Tokenizer:
    mode = "field" if args.field else "json" if args.json_field else (args.mode or "words")
    if args.pattern is not None and mode != "words":
        raise UsageError("--pattern applies to --tokens only")
    if args.weight_field is not None and mode not in ("field", "json"):
        raise UsageError("--weight-field needs --field or --json-field")
    bad = BadRecords(skip=args.skip_bad)
    tokenizer: Tokenizer
    if mode == "field":
        field = Field(args.field, _delimiter(args.delimiter), args.weight_field, bad)
        if field.by_name and not args.header:
            raise UsageError("--field/--weight-field NAME needs --header (the line that names the columns)")
        tokenizer = field
    elif mode == "json":
        tokenizer = JsonField(args.json_field, args.weight_field, bad)
    elif mode == "lines":
        tokenizer = Lines()
    elif mode == "int64":
        tokenizer = Int64()
    else:
        tokenizer = Words(args.pattern)
    if args.fold or args.normalize:
        tokenizer = Normalized(tokenizer, fold=args.fold, form=args.normalize)
    return tokenizer


def _utf8(args: argparse.Namespace) -> Utf8Policy:
    return Utf8Policy(args.errors or ("skip" if args.skip_bad else "replace"))


def _distributed(args: argparse.Namespace, paths: list[str], make: Any) -> Any:
    if "-" in paths:
        raise UsageError("--workers/--scheduler read files, not stdin")
    if args.field or args.json_field or args.mode == "int64" or args.header or args.skip_bad:
        raise UsageError("--workers/--scheduler support --tokens and --lines input only (no --header, --skip-bad)")
    try:
        from .distributed import sketch_text_files
    except ImportError as e:
        raise CLIError(f"--workers/--scheduler need sketchkit.distributed and the [dask] extra ({e})") from None
    from ._cli.stream import check_paths

    check_paths([p for p in paths if "://" not in p])  # URLs (s3://, file://) are for fsspec on the workers
    mode = args.mode or "words"
    tokenize = functools.partial(tokenize_text, mode=mode, pattern=args.pattern, fold=args.fold, form=args.normalize)
    return sketch_text_files(paths, make, tokenize, workers=args.workers, scheduler=args.scheduler)


def _fill(args: argparse.Namespace, sketch: Any, extra_sinks: list, eager: bool = False) -> StreamStats:
    tokenizer = _tokenizer(args)
    if getattr(args, "kind", None) == "dyadic" and not isinstance(tokenizer, Int64):
        raise UsageError("--kind dyadic takes integer keys: give --int64 input")
    paths = _input_paths(args)
    sinks = [sketch.update_batch, *extra_sinks]
    return stream(paths, tokenizer, sinks, utf8=_utf8(args), header=args.header, quiet=args.quiet,
                  binary_ok=args.binary, eager=eager)


def _require_items(sketch: Any) -> None:
    if sketch.is_empty():
        raise CLIError("the input holds no items (empty input, or nothing matched the tokeniser)")


# ----------------------------------------------------------------------------- commands
def cmd_topk(args: argparse.Namespace) -> int:
    # a linear sketch keeps no items: a candidate set beside it takes a share of --memory
    keeps_candidates = args.kind in kinds.LINEAR_KINDS and not args.robust
    sketch_memory, candidate_memory = split_budget(args.memory) if keeps_candidates else (args.memory, 0)
    make = functools.partial(
        kinds.make_sketch, args.kind, sketch_memory, args.seed, args.depth, args.conservative, args.k
    )
    if args.robust:
        from .robust import RobustTopK

        make = functools.partial(RobustTopK.from_memory, args.memory, k=args.k, depth=args.depth or 21,
                                 seed=args.seed)
    candidates = exact = None
    view = _TopkView(args)
    if args.workers or args.scheduler:
        if args.kind in kinds.LINEAR_KINDS or args.exact or args.every or args.robust:
            raise UsageError("with --workers/--scheduler, topk needs --kind spacesaving or heavyhitters, "
                             "and no --exact, --every or --robust")
        sketch = _distributed(args, _input_paths(args), make)
    else:
        sketch = make()
        extra: list = []
        if keeps_candidates:
            candidates = Candidates(sketch, args.candidates or max(1000, 50 * args.k), candidate_memory)
            extra.append(candidates.observe)
        if args.exact:
            exact = ExactCounts()
            extra.append(exact)
        if args.every:
            extra.append(_Every(args.every, lambda seen: view.show(sketch, candidates, exact, seen, final=False)))
        _fill(args, sketch, extra, eager=bool(args.every))
    _require_items(sketch)
    rows = view.show(sketch, candidates, exact, sketch.total_weight, final=True)
    message = _budget_warning(sketch, rows, args.k, args.memory, candidates)
    if message:
        warn(message)
    return 0


class _Every:
    """A sink that calls ``report(items_seen)`` every ``N`` items or every period of seconds,
    checked after each batch (a batch is at most one 64 KiB chunk under ``--every``)."""

    def __init__(self, spec: tuple[str, float], report: Any):
        self.unit, self.amount = spec
        self.report = report
        self.seen = 0
        self.due = self.amount if self.unit == "items" else time.monotonic() + self.amount

    def __call__(self, items: Any, weights: Any) -> None:
        self.seen += len(items) if weights is None else int(abs(weights).sum())
        if self.unit == "items":
            if self.seen >= self.due:
                self.report(self.seen)
                self.due = (self.seen // self.amount + 1) * self.amount
        elif time.monotonic() >= self.due:
            self.report(self.seen)
            self.due = time.monotonic() + self.amount


class _TopkView:
    """Prints the top-k (``--every``: each report, then the final one) in the chosen format."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.reports = 0
        self.start = time.monotonic()

    def show(self, sketch: Any, candidates: Any, exact: Any, seen: int, final: bool) -> list:
        args = self.args
        if sketch.is_empty():
            return []
        self.reports += 1
        rows = kinds.top_rows(sketch, args.k, candidates)
        total = sketch.total_weight
        exact_of = exact.counts.get if exact else None
        records = []
        for rank, (item, est, lo, hi) in enumerate(rows, 1):
            rec = {"rank": rank, "item": item, "estimate": est, "lower": lo, "upper": hi,
                   "share": est / total if total else 0.0}
            if exact_of:
                rec["exact"] = exact_of(item, 0)
            if args.every:
                rec["report"], rec["final"] = self.reports, final
            records.append(rec)
        summary = _topk_summary(sketch, candidates, exact, rows, args.k) if final else {}
        if args.json:
            for rec in records:
                emit_json({"type": "item", **rec})
            if final and args.summary:
                emit_json({"type": "summary", **summary})
        else:
            cols = ["rank", "item", "estimate", "lower", "upper", "share"] + (["exact"] if exact else [])
            table = [[r["rank"], r["item"], r["estimate"], r["lower"], r["upper"], f"{100 * r['share']:.2f}%"]
                     + ([r["exact"]] if exact else []) for r in records]
            if args.plain:
                print_plain(table)
                if not final:
                    print()  # reports are separated by an empty line
                elif args.summary:
                    for key, value in summary.items():
                        print(f"sketchkit: {key}: {kinds.number(value)}", file=sys.stderr)
            else:
                if args.every:
                    when = "final" if final else f"report {self.reports}"
                    print(f"# {when}: {seen:,} items, {time.monotonic() - self.start:.1f} s")
                print_table(cols, table, numeric_from=2)
                print()
                for key, value in summary.items():
                    print(f"{key}: {kinds.number(value)}")
        sys.stdout.flush()  # a report is for now, not for when the buffer fills
        return rows


def _budget_text(n: float) -> str:
    """A budget rounded up to a power of two, as --memory takes it (64KiB, 2MiB)."""
    size = 1 << max(int(math.ceil(math.log2(max(n, 1.0)))), 0)
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            return f"{size >> shift}{unit}"
    return str(size)


def _budget_warning(sketch: Any, rows: list, k: int, memory: int, candidates: Any = None) -> str | None:
    """One line when the budget cannot answer ``-k``: the sketch (or the candidate set beside a linear
    sketch) was full with fewer than k items (more distinct items arrived than it has room for), or some
    row's bounds are wider than half the k-th estimate. The budget it names scales the given one by what
    is missing (a sketch's error shrinks in proportion to its size), so it is an estimate: "or more"."""
    capacity = getattr(sketch, "capacity", None)
    if candidates is not None and candidates.fit < k:
        capacity = candidates.fit
    full = isinstance(capacity, int) and len(rows) < k and len(rows) >= capacity
    if not rows and not full:
        return None
    widest = max((hi - lo for _, _, lo, hi in rows), default=0)
    last = rows[-1][1] if rows else 0
    loose = widest > 0 and 2 * widest > last
    if not (full or loose):
        return None
    factor = 1.0
    parts = []
    if full:
        factor = max(factor, k / max(capacity, 1))
        parts.append(f"holds {capacity:,} items, fewer than -k {k}")
    if loose:
        factor = max(factor, 2 * widest / last if last > 0 else 2 * widest)
        parts.append(f"leaves bounds up to {widest:,} wide beside a count of {last:,} at row {len(rows)}")
    need = _budget_text(memory * factor * 1.05)  # margin for per-sketch overhead that does not scale
    return (f"--memory {_budget_text(memory) if memory & (memory - 1) == 0 else memory} "
            f"{' and '.join(parts)}: try --memory {need} or more for -k {k}")


def _topk_summary(sketch: Any, candidates: Any, exact: Any, rows: list, k: int) -> dict:
    out: dict[str, Any] = {
        "sketch": type(sketch).__name__,
        "total_weight": sketch.total_weight,
        "sketch_bytes": sketch.nbytes + (candidates.nbytes if candidates else 0),
    }
    guarantee = dict(kinds.describe(sketch)).get("guarantee")
    if guarantee:
        out["guarantee"] = guarantee
    if exact is None:
        return out
    truth = exact.top(k)
    kth = truth[-1][1] if truth else 0
    counts = exact.counts
    correct = sum(1 for r in rows if counts.get(r[0], 0) >= kth)  # ties at the k-th count all count
    out["distinct_items"] = len(counts)
    out["exact_bytes"] = exact.nbytes
    out["recall"] = correct / len(truth) if truth else 1.0
    out["precision"] = correct / len(rows) if rows else 1.0
    out["max_abs_error"] = max((abs(r[1] - counts.get(r[0], 0)) for r in rows), default=0)
    out["rows"] = len(rows)
    out["bounds_held"] = sum(1 for r in rows if r[2] <= counts.get(r[0], 0) <= r[3])  # rows whose bounds hold
    return out


def cmd_build(args: argparse.Namespace) -> int:
    if args.oracle:
        sketch = _learned_sketch(args)
    else:
        make = functools.partial(kinds.make_sketch, args.kind, args.memory, args.seed, args.depth, args.conservative)
        if args.workers or args.scheduler:
            sketch = _distributed(args, _input_paths(args), make)
        else:
            sketch = make()
    if not (args.workers or args.scheduler) or args.oracle:
        _fill(args, sketch, [])
    _require_items(sketch)
    write_atomic(args.output, sketch.to_bytes())
    return 0


def _learned_sketch(args: argparse.Namespace) -> Any:
    if args.kind not in kinds.LINEAR_KINDS:
        raise UsageError("--oracle needs --kind countmin or countsketch")
    if args.workers or args.scheduler:
        raise UsageError("--oracle cannot be combined with --workers/--scheduler")
    support = _learned_support()
    try:
        oracle = support.load_oracle(args.oracle)
    except FileNotFoundError:
        raise CLIError(f"{args.oracle}: no such file") from None
    return support.make_learned_sketch(args.kind, args.memory, oracle, args.seed, depth=args.depth)


def _learned_support() -> Any:
    try:
        from ._cli import learned
    except ImportError as e:
        raise CLIError(f"learned sketches need sketchkit.learned ({e})") from None
    return learned


def cmd_train_oracle(args: argparse.Namespace) -> int:
    support = _learned_support()
    items: list = []

    def collect(batch: Any, weights: Any) -> None:
        if hasattr(batch, "tolist"):  # an int64 array
            items.extend(batch.tolist())
        elif weights is None:
            items.extend(batch)
        else:
            for item, w in zip(batch, weights.tolist()):
                items.extend([item] * max(int(w), 0))

    tokenizer = _tokenizer(args)
    stream(_input_paths(args), tokenizer, [collect], utf8=_utf8(args), header=args.header, quiet=args.quiet,
           binary_ok=args.binary)
    if not items:
        raise CLIError("the input holds no items to train on")
    support.train_oracle(items, args.output, kind=args.oracle_kind)
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    merged = read_sketch(args.sketches[0])
    for path in args.sketches[1:]:
        other = read_sketch(path)
        try:
            merged.merge(other)
        except SketchError as e:
            raise CLIError(f"cannot merge {path} into {args.sketches[0]}: {e}") from None
    write_atomic(args.output, merged.to_bytes())
    return 0


# the command that answers a sketch file which `query` (point queries) does not
_ANSWERED_BY = {"KLL": "quantiles --sketch-file", "DDSketch": "quantiles --sketch-file", "Distinct": "info",
                "ThetaSketch": "info"}


def cmd_query(args: argparse.Namespace) -> int:
    sketch = read_sketch(args.sketch)
    from .frequency import FrequencySketch

    if not isinstance(sketch, FrequencySketch):
        name = type(sketch).__name__
        other = _ANSWERED_BY.get(name)
        hint = f"; use 'sketchkit {other}'" if other else ""
        raise CLIError(f"{args.sketch}: holds a {name}, and query answers item counts of frequency sketches{hint}")
    keys: list[Any] = list(args.keys)
    if not keys:
        if args.sketch == "-" or sys.stdin is None or sys.stdin.isatty():
            raise UsageError("no keys: give KEY arguments or pipe keys in, one per line")
        keys = [line.rstrip("\r\n") for line in sys.stdin]
    if args.int64:
        if args.fold or args.normalize:
            raise UsageError("--ignore-case and --normalize apply to text keys, not --int64")
        try:
            keys = [int(k) for k in keys]
        except ValueError as e:
            raise CLIError(f"--int64 keys must be integers ({e})") from None
    looked_up = keys
    if args.fold or args.normalize:  # the key as the sketch saw it; the row shows the key as given
        looked_up = [normalize_item(k, args.fold, args.normalize, args.normalize) for k in keys]
    est, lo, hi = kinds.estimates(sketch, looked_up)
    rows = [[k, int(e), int(l), int(h)] for k, e, l, h in zip(keys, est, lo, hi)]
    if args.json:
        for k, e, l, h in rows:
            emit_json({"item": k, "estimate": e, "lower": l, "upper": h})
    elif args.plain:
        print_plain(rows)
    else:
        print_table(["item", "estimate", "lower", "upper"], rows)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    sketch = read_sketch(args.sketch)
    rows = kinds.describe(sketch)
    if args.json:
        emit_json({k.replace(" ", "_"): v for k, v in rows})
        return 0
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {show(kinds.number(value))}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ._cli.demo import run_demo

    return run_demo(args)


# ----------------------------------------------------------------------------- entry point
def _quiet_stdout() -> None:
    # After a broken pipe (`sketchkit topk big.txt | head`), make the final flush silent.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured in tests)
        pass


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 bad input, 2 usage, 130 interrupted,
    141 stdout closed early).

    Ctrl-C and a closed stdout end the program quietly wherever they strike, imports included:
    keep everything heavy inside :func:`_run` (:mod:`sketchkit._interrupt` covers the imports
    before this function runs)."""
    _interrupt.restore()
    try:
        status = _run(argv)
        sys.stdout.flush()  # a reader that went away shows here, not as a message at exit
        return status
    except KeyboardInterrupt:
        print("sketchkit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `sketchkit topk big.txt | head -1`: the reader has what it wanted; end quietly with the
        # status a shell shows for `sort` killed by SIGPIPE (128 + 13)
        _quiet_stdout()
        return EXIT_PIPE


def _run(argv: list[str] | None) -> int:
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors
        return int(e.code or 0)
    status = EXIT_ERROR
    try:
        return args.func(args)
    except (CLIError, InvalidParameterError) as e:
        message = str(e)
        status = getattr(e, "status", EXIT_USAGE)  # a parameter a sketch refuses is a bad command line
        if status == EXIT_USAGE:
            message += f" (see 'sketchkit {args.command} --help')"
    except SketchError as e:
        message = str(e)
    except BrokenPipeError:
        raise  # not an error: main() ends quietly
    except UnicodeError as e:
        message = f"invalid text: {e}"
    except MemoryError:
        message = "out of memory: lower --memory, or drop --exact"
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        message = f"{where}{e.strerror or e}"
    except Exception as e:  # a bug, not bad input: still one line, the traceback on request
        if os.environ.get("SKETCHKIT_DEBUG"):
            raise
        message = f"internal error: {type(e).__name__}: {e} (set SKETCHKIT_DEBUG=1 for the traceback)"
    print(f"sketchkit: error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
