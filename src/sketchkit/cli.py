"""The ``sketchkit`` command line: heavy hitters of any stream in bounded memory, and sketch files
that can be built, merged and queried across machines and days.

Commands: ``topk``, ``build``, ``merge``, ``query``, ``info``, ``demo``, ``train-oracle``.
stdout carries data only; messages go to stderr as one line each; exit status 0 on success,
1 on bad input, 2 on a bad command line, 130 when interrupted. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from typing import Any, NoReturn

import numpy as np

from . import __version__
from ._base import parse_memory
from ._cli import kinds
from ._cli.candidates import Candidates
from ._cli.common import CLIError
from ._cli.files import read_sketch, write_atomic
from ._cli.output import emit_json, print_plain, print_table, show
from ._cli.stream import ExactCounts, StreamStats, stream
from ._cli.tokens import ERROR_POLICIES, Field, Int64, JsonField, Lines, Tokenizer, Utf8Policy, Words, tokenize_text
from .errors import SketchError
from .hashing import DEFAULT_SEED, check_seed, random_seed

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_PIPE = 1, 2, 130, 141


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the default prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        print(f"sketchkit: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


# ----------------------------------------------------------------------------- options
def _seed(text: str) -> int:
    if text == "random":
        return random_seed()
    try:
        return check_seed(int(text, 0))
    except (ValueError, SketchError):
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: use an integer in [0, 2**64) or 'random'") from None


def _memory(text: str) -> int:
    try:
        return parse_memory(text)
    except SketchError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _input_options() -> argparse.ArgumentParser:
    p = Parser(add_help=False)
    p.add_argument("files", nargs="*", metavar="FILE", help="inputs ('-' or none: stdin); .gz/.bz2/.xz decompressed")
    g = p.add_argument_group("what an item is (default: words)")
    mode = g.add_mutually_exclusive_group()
    mode.add_argument("--tokens", dest="mode", action="store_const", const="words",
                      help="words: matches of --pattern, default \\w+ (Unicode word characters)")
    mode.add_argument("--lines", dest="mode", action="store_const", const="lines", help="whole lines")
    mode.add_argument("--field", type=_positive, metavar="N", help="column N (from 1) of delimited text")
    mode.add_argument("--json-field", metavar="PATH", help="field of each NDJSON record, e.g. user.name or tags.0")
    mode.add_argument("--int64", dest="mode", action="store_const", const="int64",
                      help="binary little-endian int64 values")
    g.add_argument("--pattern", metavar="REGEX", help="regular expression of a word (with --tokens)")
    g.add_argument("--delimiter", default=",", metavar="CHAR", help="column separator for --field (default ,)")
    g.add_argument("--header", action="store_true", help="skip the first line of each input")
    g.add_argument("--weight-field", metavar="N|PATH",
                   help="integer weight from this column (--field) or JSON path (--json-field)")
    g.add_argument("--errors", choices=ERROR_POLICIES, default="replace",
                   help="invalid UTF-8: replace bad bytes (default), skip the line, or stop")
    d = p.add_argument_group("distributed (needs the [dask] extra)")
    d.add_argument("--workers", type=_positive, metavar="N", help="sketch files on N local worker processes")
    d.add_argument("--scheduler", metavar="ADDRESS", help="sketch files on a running Dask scheduler")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    return p


def _sketch_options(default_kind: str) -> argparse.ArgumentParser:
    p = Parser(add_help=False)
    g = p.add_argument_group("the sketch")
    g.add_argument("--kind", choices=list(kinds.KINDS), default=default_kind,
                   help=f"sketch type (default {default_kind})")
    g.add_argument("--memory", type=_memory, default=parse_memory("1MiB"), metavar="BYTES",
                   help="memory budget of the sketch, e.g. 256KiB, 1MiB (default 1MiB)")
    g.add_argument("--seed", type=_seed, default=DEFAULT_SEED,
                   help=f"hash seed, or 'random' (default {DEFAULT_SEED}); sketches merge only with equal seeds")
    g.add_argument("--depth", type=_positive, help="rows of a countsketch/countmin (default 5)")
    g.add_argument("--conservative", action="store_true", help="conservative update (countmin only)")
    return p


def _output_options() -> argparse.ArgumentParser:
    p = Parser(add_help=False)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="one JSON object per line")
    g.add_argument("--plain", action="store_true", help="tab-separated rows, no header")
    return p


def build_parser() -> Parser:
    parser = Parser(prog="sketchkit", description="Heavy hitters and frequency sketches of streams, in bounded memory.")
    parser.add_argument("--version", action="version", version=f"sketchkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    inputs, out = _input_options(), _output_options()

    p = sub.add_parser("topk", parents=[inputs, _sketch_options("spacesaving"), out],
                       help="heaviest items with estimate, lower and upper bound")
    p.add_argument("-k", type=_positive, default=20, help="how many items (default 20)")
    p.add_argument("--exact", action="store_true",
                   help="also count exactly (memory grows with distinct items) and report recall and error")
    p.add_argument("--candidates", type=_positive, metavar="N",
                   help="items kept beside a countsketch/countmin (default max(1000, 50*k))")
    p.set_defaults(func=cmd_topk)

    p = sub.add_parser("build", parents=[inputs, _sketch_options("spacesaving")], help="write a sketch file")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="sketch file to write ('-': stdout)")
    p.add_argument("--oracle", metavar="FILE", help="learned sketch using this oracle (kind countmin/countsketch)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("merge", help="merge sketch files of the same kind, shape and seed")
    p.add_argument("sketches", nargs="+", metavar="SKETCH")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="merged sketch file ('-': stdout)")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("query", parents=[out], help="estimate and bounds of given keys")
    p.add_argument("sketch", metavar="SKETCH")
    p.add_argument("keys", nargs="*", metavar="KEY", help="keys to look up (none: one per line on stdin)")
    p.add_argument("--int64", action="store_true", help="keys are integers (sketch built with --int64)")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("info", help="type, shape, seed, size, weight and guarantee of a sketch file")
    p.add_argument("sketch", metavar="SKETCH")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", help="the main job on the Python standard library's sources")
    p.add_argument("-k", type=_positive, default=20, help="how many items (default 20)")
    p.add_argument("--kind", choices=list(kinds.KINDS), default="spacesaving")
    p.add_argument("--memory", type=_memory, default=parse_memory("64KiB"), metavar="BYTES",
                   help="sketch memory budget (default 64KiB)")
    p.add_argument("--seed", type=_seed, default=DEFAULT_SEED)
    p.add_argument("--plot", metavar="PNG", help="plot path (default docs/demo_topk.png if docs/ exists)")
    p.add_argument("--no-plot", action="store_true", help="skip the plot")
    p.add_argument("--source", metavar="DIR", help="directory of .py files (default: the standard library)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train-oracle", parents=[inputs], help="train a learned oracle from training items")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="oracle file to write")
    p.add_argument("--oracle-kind", default="lookup", metavar="KIND", help="oracle type (default lookup)")
    p.set_defaults(func=cmd_train_oracle)
    return parser


# ----------------------------------------------------------------------------- inputs
def _input_paths(args: argparse.Namespace) -> list[str]:
    if args.files:
        return args.files
    if sys.stdin is None or sys.stdin.isatty():
        raise CLIError(f"no input: give FILE arguments or pipe data in (see 'sketchkit {args.command} --help')")
    return ["-"]


def _tokenizer(args: argparse.Namespace) -> Tokenizer:
    mode = "field" if args.field else "json" if args.json_field else (args.mode or "words")
    if args.pattern is not None and mode != "words":
        raise CLIError("--pattern applies to --tokens only")
    if args.weight_field is not None and mode not in ("field", "json"):
        raise CLIError("--weight-field needs --field or --json-field")
    if mode == "field":
        weight = None
        if args.weight_field is not None:
            weight = _positive_or_error(args.weight_field, "--weight-field")
        return Field(args.field, args.delimiter, weight)
    if mode == "json":
        return JsonField(args.json_field, args.weight_field)
    if mode == "lines":
        return Lines()
    if mode == "int64":
        return Int64()
    return Words(args.pattern)


def _positive_or_error(text: str, option: str) -> int:
    try:
        return _positive(text)
    except argparse.ArgumentTypeError:
        raise CLIError(f"{option} with --field must be a column number, got {text!r}") from None


def _distributed(args: argparse.Namespace, paths: list[str], make: Any) -> Any:
    if "-" in paths:
        raise CLIError("--workers/--scheduler read files, not stdin")
    if args.field or args.json_field or args.mode == "int64":
        raise CLIError("--workers/--scheduler support --tokens and --lines input only")
    try:
        from .distributed import sketch_text_files
    except ImportError as e:
        raise CLIError(f"--workers/--scheduler need sketchkit.distributed and the [dask] extra ({e})") from None
    from ._cli.stream import check_paths

    check_paths(paths)
    mode = args.mode or "words"
    tokenize = functools.partial(tokenize_text, mode=mode, pattern=args.pattern)
    return sketch_text_files(paths, make, tokenize, workers=args.workers, scheduler=args.scheduler)


def _fill(args: argparse.Namespace, sketch: Any, extra_sinks: list) -> StreamStats:
    tokenizer = _tokenizer(args)
    if getattr(args, "kind", None) == "dyadic" and not isinstance(tokenizer, Int64):
        raise CLIError("--kind dyadic takes integer keys: give --int64 input")
    paths = _input_paths(args)
    sinks = [sketch.update_batch, *extra_sinks]
    return stream(paths, tokenizer, sinks, utf8=Utf8Policy(args.errors), header=args.header, quiet=args.quiet)


def _require_items(sketch: Any) -> None:
    if sketch.is_empty():
        raise CLIError("the input holds no items (empty input, or nothing matched the tokeniser)")


# ----------------------------------------------------------------------------- commands
def cmd_topk(args: argparse.Namespace) -> int:
    make = functools.partial(
        kinds.make_sketch, args.kind, args.memory, args.seed, args.depth, args.conservative, args.k
    )
    candidates = exact = None
    if args.workers or args.scheduler:
        if args.kind in kinds.LINEAR_KINDS or args.exact:
            raise CLIError("with --workers/--scheduler, topk needs --kind spacesaving or heavyhitters and no --exact")
        sketch = _distributed(args, _input_paths(args), make)
    else:
        sketch = make()
        extra: list = []
        if args.kind in kinds.LINEAR_KINDS:
            candidates = Candidates(sketch, args.candidates or max(1000, 50 * args.k))
            extra.append(candidates.observe)
        if args.exact:
            exact = ExactCounts()
            extra.append(exact)
        _fill(args, sketch, extra)
    _require_items(sketch)
    rows = kinds.top_rows(sketch, args.k, candidates)
    total = sketch.total_weight
    exact_of = exact.counts.get if exact else None
    records = []
    for rank, (item, est, lo, hi) in enumerate(rows, 1):
        rec = {"rank": rank, "item": item, "estimate": est, "lower": lo, "upper": hi,
               "share": est / total if total else 0.0}
        if exact_of:
            rec["exact"] = exact_of(item, 0)
        records.append(rec)
    summary = _topk_summary(sketch, candidates, exact, rows, args.k)
    if args.json:
        for rec in records:
            emit_json({"type": "item", **rec})
        emit_json({"type": "summary", **summary})
        return 0
    cols = ["rank", "item", "estimate", "lower", "upper", "share"] + (["exact"] if exact else [])
    table = [[r["rank"], r["item"], r["estimate"], r["lower"], r["upper"], f"{100 * r['share']:.2f}%"]
             + ([r["exact"]] if exact else []) for r in records]
    if args.plain:
        print_plain(table)
        return 0
    print_table(cols, table, numeric_from=2)
    print()
    for key, value in summary.items():
        print(f"{key}: {value}")
    return 0


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
    out["bounds_hold"] = f"{sum(1 for r in rows if r[2] <= counts.get(r[0], 0) <= r[3])}/{len(rows)}"
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
        raise CLIError("--oracle needs --kind countmin or countsketch")
    if args.workers or args.scheduler:
        raise CLIError("--oracle cannot be combined with --workers/--scheduler")
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
        if isinstance(batch, np.ndarray):
            items.extend(batch.tolist())
        elif weights is None:
            items.extend(batch)
        else:
            for item, w in zip(batch, weights.tolist()):
                items.extend([item] * max(int(w), 0))

    tokenizer = _tokenizer(args)
    stream(_input_paths(args), tokenizer, [collect], utf8=Utf8Policy(args.errors), header=args.header,
           quiet=args.quiet)
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


def cmd_query(args: argparse.Namespace) -> int:
    sketch = read_sketch(args.sketch)
    keys: list[Any] = list(args.keys)
    if not keys:
        if args.sketch == "-" or sys.stdin is None or sys.stdin.isatty():
            raise CLIError("no keys: give KEY arguments or pipe keys in, one per line")
        keys = [line.rstrip("\r\n") for line in sys.stdin]
    if args.int64:
        try:
            keys = [int(k) for k in keys]
        except ValueError as e:
            raise CLIError(f"--int64 keys must be integers ({e})") from None
    est, lo, hi = kinds.estimates(sketch, keys)
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
    keep everything heavy inside :func:`_run`."""
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
    try:
        return args.func(args)
    except (CLIError, SketchError) as e:
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
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
