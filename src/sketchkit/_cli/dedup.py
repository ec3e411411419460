"""``sketchkit dedup``: near-duplicate removal over text, JSON lines or Parquet.

Documents: one per line of a text file (default), one per file (``--per-file``; a directory
stands for the files under it), the field ``--field`` (default ``text``) of each JSON line
(``.jsonl``/``.ndjson`` or ``--format jsonl``), or a string column of a Parquet file (``.parquet``
or ``--format parquet``; needs pyarrow).

Pipeline (bounded memory: no document text is held, only per-document numbers):

1. read the input in chunks; each chunk's documents become Fast Similarity Sketch signatures
   (k values, word n-grams after NFKC + casefold + whitespace collapse unless ``--no-normalize``);
   the signatures go to a temporary file (memory-mapped later), the band keys stay in memory
   (8 bytes a band a document);
2. candidate pairs: documents sharing a band key (one sort per band);
3. verification (``--verify``): ``hybrid`` (default) keeps a pair when the signatures' estimated
   similarity is ≥ ``--threshold``, except that pairs whose estimate is within 3 standard errors
   of the threshold get their exact Jaccard, recomputed in a second pass for those documents
   only; ``signature``: the estimate alone; ``exact`` (``--exact``): the exact Jaccard of every
   candidate pair;
4. clusters: connected components (union-find) of the verified pairs, so A~B~C is one cluster;
   each cluster keeps its first document (lowest index);
5. output: the kept records, byte for byte (``--clusters``: one ``index<TAB>cluster`` line per
   document, cluster = the index of the kept document; with ``--per-file`` paths instead of
   indices); a summary line on stderr.

Empty documents (nothing to shingle) are kept and never compared. Bad input (a missing field,
a value that is not a string, invalid JSON, invalid UTF-8 under the default ``--errors strict``)
stops the run with one line naming the file and line, exit status 1, before any output is
written: the output file is replaced atomically or not at all. Standard input is spooled to a
temporary file (the pipeline reads the input more than once).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .common import CLIError, UsageError, positive_int
from .files import read_bytes
from .progress import Progress

if TYPE_CHECKING:  # numpy is imported when the command runs, not when the parser is built
    import numpy as np

EXIT_OK = 0
CHUNK_DOCS = 4096
CHUNK_BYTES = 8 << 20

EPILOG = """examples:
  sketchkit dedup corpus.txt --threshold 0.8 -o kept.txt          # one document per line
  sketchkit dedup data.jsonl --field text -o kept.jsonl
  sketchkit dedup docs/ --per-file --clusters                      # path<TAB>cluster path
  sketchkit dedup data.parquet --field text -o kept.parquet --exact

exit status: 0 success, 1 bad input, 2 bad command line, 130 interrupted"""


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return v


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``dedup`` on the ``sketchkit`` subcommand table."""
    p = sub.add_parser("dedup", help="remove near-duplicate documents (MinHash LSH)",
                       description="Remove near-duplicate documents: MinHash signatures, LSH candidates, "
                                   "verified pairs, connected components. See docs/similarity.md.",
                       epilog=EPILOG)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="text, JSON-lines or Parquet files ('-': stdin)")
    g = p.add_argument_group("documents")
    g.add_argument("--format", choices=("auto", "lines", "jsonl", "parquet"), default="auto",
                   help="input format (default: by extension; text otherwise)")
    g.add_argument("--per-file", action="store_true", help="each input file is one document (text input)")
    g.add_argument("--field", default=None, metavar="NAME",
                   help="JSON field (dotted path) or Parquet column holding the text (default text)")
    g.add_argument("--errors", choices=("strict", "replace"), default="strict",
                   help="invalid UTF-8: stop with an error (default) or replace bad bytes")
    s = p.add_argument_group("similarity")
    s.add_argument("--threshold", type=_fraction, default=0.8, help="Jaccard similarity of duplicates (default 0.8)")
    s.add_argument("--ngram", type=positive_int, default=5, help="shingle length in units (default 5)")
    s.add_argument("--unit", choices=("word", "char"), default="word", help="shingle unit (default word)")
    s.add_argument("--no-normalize", dest="normalize", action="store_false",
                   help="compare raw text (default: NFKC, casefold, collapse whitespace)")
    s.add_argument("-k", "--hashes", dest="k", type=positive_int, default=128, help="signature length (default 128)")
    s.add_argument("--bands", type=positive_int, help="LSH bands (default: chosen from the threshold)")
    s.add_argument("--rows", type=positive_int, help="LSH rows per band (with --bands)")
    s.add_argument("--verify", choices=("hybrid", "signature", "exact"), default=None,
                   help="how candidate pairs are checked: hybrid (default: the signatures' estimate, exact Jaccard "
                        "where it is within 3 standard errors of the threshold), signature, exact")
    s.add_argument("--exact", action="store_true", help="the same as --verify exact")
    s.add_argument("--seed", type=int, default=None, help="hash seed (default sketchkit's)")
    o = p.add_argument_group("output")
    o.add_argument("-o", "--output", metavar="FILE", default="-", help="where to write (default stdout)")
    o.add_argument("--clusters", action="store_true", help="write index<TAB>cluster per document instead of records")
    o.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=run)
    return p


# ----------------------------------------------------------------------------- reading
def _detect(args: argparse.Namespace, path: str) -> str:
    if args.format != "auto":
        return args.format
    low = path.lower()
    for ext in (".gz", ".bz2", ".xz"):
        low = low.removesuffix(ext)
    if low.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if low.endswith(".parquet"):
        return "parquet"
    return "lines"


def _field_path(args: argparse.Namespace) -> list[str]:
    return (args.field or "text").split(".")


def _decode(raw: bytes, where: str, errors: str) -> str:
    try:
        return raw.decode("utf-8", errors=errors)
    except UnicodeDecodeError as e:
        raise CLIError(f"{where}: invalid UTF-8 at byte {e.start} (use --errors replace to accept it)") from None


class Record:
    __slots__ = ("raw", "text")

    def __init__(self, raw: Any, text: str):
        self.raw = raw
        self.text = text


def _lines(path: str, args: argparse.Namespace) -> Iterator[tuple[bytes, str]]:
    """(raw line with its ending, decoded document) of a text or JSON-lines file."""
    from .inputs import open_source, text_chunks

    mode = _detect(args, path)
    keys = _field_path(args)
    src = open_source(path)
    src.name = STDIN_NAMES.get(path, src.name)
    try:
        lineno = 0
        for chunk in text_chunks(src):
            for raw in chunk.splitlines(keepends=True):
                lineno += 1
                body = raw.rstrip(b"\r\n")
                where = f"{src.name}:{lineno}"
                if mode == "jsonl":
                    if not body.strip():
                        yield raw, ""
                        continue
                    try:
                        rec = json.loads(body)
                    except (json.JSONDecodeError, UnicodeDecodeError) as e:
                        raise CLIError(f"{where}: invalid JSON ({e.msg if hasattr(e, 'msg') else e})") from None
                    value: Any = rec
                    for key in keys:
                        if not isinstance(value, dict) or key not in value:
                            raise CLIError(f"{where}: record has no field {'.'.join(keys)!r}")
                        value = value[key]
                    if value is None:
                        value = ""
                    if not isinstance(value, str):
                        raise CLIError(f"{where}: field {'.'.join(keys)!r} is a {type(value).__name__}, not a string")
                    yield raw, value
                else:
                    yield raw, _decode(body, where, args.errors)
    finally:
        src.close()


def _files_under(paths: list[str]) -> list[str]:
    out = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                out.extend(os.path.join(root, f) for f in sorted(files))
        else:
            out.append(p)
    return out


def _whole_files(paths: list[str], args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    for path in paths:
        yield path, _decode(read_bytes(path), path, args.errors)


def _parquet_column(path: str, args: argparse.Namespace) -> Iterator[list[str]]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise CLIError("Parquet input needs pyarrow (pip install 'sketchkit[dask]' or pyarrow)") from None
    name = args.field or "text"
    try:
        pf = pq.ParquetFile(path)
    except FileNotFoundError:
        raise CLIError(f"{path}: no such file") from None
    except (OSError, pa.ArrowInvalid) as e:
        raise CLIError(f"{path}: not a readable Parquet file ({e})") from None
    if name not in pf.schema_arrow.names:
        raise CLIError(f"{path}: no column {name!r} (columns: {', '.join(pf.schema_arrow.names)})")
    typ = pf.schema_arrow.field(name).type
    if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
        raise CLIError(f"{path}: column {name!r} is {typ}, not a string column")
    for batch in pf.iter_batches(columns=[name], batch_size=CHUNK_DOCS):
        yield [x if x is not None else "" for x in batch.column(0).to_pylist()]


def _batched(records: Iterable[tuple[Record, int]]) -> Iterator[list[Record]]:
    """(record, its size in bytes) pairs in lists of at most ``CHUNK_DOCS`` records, each closed
    once it holds ``CHUNK_BYTES``."""
    batch: list[Record] = []
    held = 0
    for record, size in records:
        batch.append(record)
        held += size
        if len(batch) >= CHUNK_DOCS or held >= CHUNK_BYTES:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


class Corpus:
    """The inputs as chunks of documents, read as often as the pipeline needs."""

    def __init__(self, args: argparse.Namespace, paths: list[str]):
        self.args = args
        self.paths = paths
        kinds = {_detect(args, p) for p in paths}
        if len(kinds) > 1:
            raise UsageError(f"inputs of different formats ({', '.join(sorted(kinds))}): give one kind per run")
        self.kind = "files" if args.per_file else kinds.pop()
        if args.per_file and args.format not in ("auto", "lines"):
            raise UsageError("--per-file reads text files; it does not combine with --format jsonl/parquet")
        if args.field is not None and self.kind in ("lines", "files"):
            raise UsageError("--field applies to JSON-lines and Parquet input only")
        if self.kind == "parquet" and not args.clusters and args.output == "-":
            raise UsageError("Parquet output needs -o FILE (or use --clusters)")
        self.size = sum(os.path.getsize(p) for p in paths if os.path.isfile(p))

    def chunks(self) -> Iterator[list[Record]]:
        """Lists of records; ``raw`` is the line bytes, the path, or a (file, row) pair."""
        a = self.args
        if self.kind == "files":
            yield from _batched((Record(path, text), len(text)) for path, text in _whole_files(self.paths, a))
            return
        if self.kind == "parquet":
            for path in self.paths:
                row = 0
                for texts in _parquet_column(path, a):
                    yield [Record((path, row + i), t) for i, t in enumerate(texts)]
                    row += len(texts)
            return
        yield from _batched((Record(raw, text), len(raw)) for path in self.paths for raw, text in _lines(path, a))


# ----------------------------------------------------------------------------- pipeline
STDIN_NAMES: dict[str, str] = {}  # spooled copy of standard input -> the name messages use
_COMPRESSED = ((b"\x1f\x8b", ".gz"), (b"BZh", ".bz2"), (b"\xfd7zXZ\x00", ".xz"))


def _spool_stdin(tmpdir: str, fmt: str) -> str:
    """Copy standard input to a file (the pipeline reads its input more than once), named so
    that a compressed stream is decompressed and a JSON-lines one recognised."""
    raw = sys.stdin.buffer
    head = raw.read(6)
    ext = next((e for magic, e in _COMPRESSED if head.startswith(magic)), "")
    path = os.path.join(tmpdir, "stdin" + {"jsonl": ".jsonl", "parquet": ".parquet"}.get(fmt, ".txt") + ext)
    with open(path, "wb") as out:
        out.write(head)
        shutil.copyfileobj(raw, out, 1 << 20)
    STDIN_NAMES[path] = "<stdin>"
    return path


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..hashing import DEFAULT_SEED, check_seed
    from ..similarity import FastSimilaritySketch, Shingling, optimal_params
    from ..similarity import _kernels as K
    from ..similarity.dedup import ambiguous, candidate_pairs_from_keys, components, exact_jaccard_pairs
    from ..similarity.minhash import ngram_key

    started = time.perf_counter()
    if args.exact and args.verify not in (None, "exact"):
        raise UsageError(f"--exact contradicts --verify {args.verify}")
    verify = "exact" if args.exact else args.verify or "hybrid"
    if (args.bands is None) != (args.rows is None):
        raise UsageError("give both --bands and --rows, or neither")
    if args.bands is not None and args.bands * args.rows > args.k:
        raise UsageError(f"--bands * --rows = {args.bands * args.rows} exceeds the {args.k} hashes")
    seed = DEFAULT_SEED if args.seed is None else args.seed
    try:
        seed = check_seed(seed)
    except ValueError as e:
        raise UsageError(str(e)) from None
    bands, rows = (args.bands, args.rows) if args.bands else optimal_params(args.threshold, args.k, 0.1, 0.9)
    sh = Shingling(unit=args.unit, n=args.ngram, normalize=args.normalize)
    cls = FastSimilaritySketch

    with tempfile.TemporaryDirectory(prefix="sketchkit-dedup-") as tmp:
        paths = [_spool_stdin(tmp, args.format) if p == "-" else p for p in args.inputs]
        if args.per_file:
            paths = _files_under(paths)
        for p in paths:
            if not os.path.exists(p):
                raise CLIError(f"{p}: no such file")
            if os.path.isdir(p):
                raise CLIError(f"{p}: is a directory (use --per-file to read the files under it)")
        corpus = Corpus(args, paths)

        # pass 1: signatures to a file, band keys and empty flags in memory
        sig_path = os.path.join(tmp, "signatures.u32")
        keys_parts, empty_parts = [], []
        n = 0
        done = 0
        with open(sig_path, "wb") as sig_file, Progress(args.quiet, corpus.size or None) as progress:
            for chunk in corpus.chunks():
                texts = [r.text for r in chunk]
                sigs = cls.signatures(texts, args.k, seed=seed, shingling=sh)
                empty = sigs[:, 0] == K.EMPTY
                sig_file.write(sigs.tobytes())
                keys_parts.append(K.band_keys(sigs, bands, rows))
                empty_parts.append(empty)
                n += len(chunk)
                done += _chunk_bytes(corpus, chunk)
                progress.update(done)
        if n == 0:
            raise CLIError(f"{', '.join(args.inputs)}: no documents in the input")
        bkeys = np.concatenate(keys_parts)
        empty = np.concatenate(empty_parts)
        del keys_parts, empty_parts
        left, right = candidate_pairs_from_keys(bkeys, skip=empty)
        del bkeys
        sigs = np.memmap(sig_path, dtype=np.uint32, mode="r", shape=(n, args.k))
        exact_checked = 0
        if verify == "exact":
            sims = _exact_similarities(corpus, sh, seed, left, right, cls, K, ngram_key, exact_jaccard_pairs)
            exact_checked = left.size
        else:
            sims = K.equal_fraction_pairs(np.asarray(sigs), left, right) if left.size else np.empty(0)
            if verify == "hybrid":
                near = ambiguous(sims, args.threshold, args.k)
                exact_checked = int(near.sum())
                if exact_checked:
                    sims[near] = _exact_similarities(corpus, sh, seed, left[near], right[near], cls, K, ngram_key,
                                                     exact_jaccard_pairs)
        keep_edge = sims >= args.threshold
        labels = components(n, left[keep_edge], right[keep_edge])
        del sigs
        kept = labels == np.arange(n)

        out = _write(args, corpus, labels, kept, tmp)
    dup = int(n - kept.sum())
    clusters = int(np.unique(labels[~kept]).size) if dup else 0
    elapsed = time.perf_counter() - started
    print(f"sketchkit: dedup: {n:,} documents ({int(empty.sum()):,} empty, kept), {dup:,} near-duplicates removed in "
          f"{clusters:,} clusters, {int(kept.sum()):,} kept -> {out}; threshold {args.threshold}, {bands}x{rows} "
          f"bands, {left.size:,} candidate pairs, {int(keep_edge.sum()):,} verified ({verify}: "
          f"{exact_checked:,} by exact Jaccard), {elapsed:.1f} s", file=sys.stderr)
    return EXIT_OK


def _chunk_bytes(corpus: Corpus, chunk: list[Record]) -> int:
    """Input bytes a chunk stands for (progress): line lengths, file sizes; 0 for Parquet rows."""
    if corpus.kind == "files":
        return sum(os.path.getsize(r.raw) for r in chunk)
    if corpus.kind == "parquet":
        return 0
    return sum(len(r.raw) for r in chunk)


def _exact_similarities(corpus, sh, seed, left, right, cls, K, ngram_key, exact_jaccard_pairs) -> np.ndarray:
    """Pass 2: shingle hashes of the documents in candidate pairs only, then exact Jaccard."""
    import numpy as np

    from ..similarity._text import document_buffer

    need = np.unique(np.concatenate([left, right]))
    if need.size == 0:
        return np.empty(0)
    pos = {int(d): i for i, d in enumerate(need.tolist())}
    parts: list[np.ndarray] = [np.empty(0, np.uint64)] * need.size
    item_seed = cls(1, seed=seed)._item_seed
    gkey = ngram_key(seed)
    base = 0
    for chunk in corpus.chunks():
        lo = np.searchsorted(need, base)
        hi = np.searchsorted(need, base + len(chunk))
        if hi > lo:
            docs = [chunk[int(d) - base].text for d in need[lo:hi]]
            flat, starts = K.text_shingles(*document_buffer(docs, sh), sh.mode, sh.n, item_seed, gkey)
            for j, d in enumerate(need[lo:hi].tolist()):
                parts[pos[d]] = np.unique(flat[starts[j] : starts[j + 1]])
        base += len(chunk)
    starts = np.zeros(need.size + 1, dtype=np.int64)
    np.cumsum([p.size for p in parts], out=starts[1:])
    flat = np.concatenate(parts) if parts else np.empty(0, np.uint64)
    remap = np.searchsorted(need, left), np.searchsorted(need, right)
    return exact_jaccard_pairs(flat, starts, remap[0], remap[1])


def _write(args: argparse.Namespace, corpus: Corpus, labels: np.ndarray, kept: np.ndarray, tmp: str) -> str:
    """Write the output completely to a temporary file, then move it into place (or to stdout)."""
    target = args.output
    if target != "-" and os.path.isdir(target):
        raise CLIError(f"{target}: is a directory")
    if args.clusters:
        names = _names(corpus) if corpus.kind == "files" else None
        staged = os.path.join(tmp, "out")
        with open(staged, "wb") as fh:
            for i, c in enumerate(labels.tolist()):
                line = f"{names[i]}\t{names[c]}\n" if names else f"{i}\t{c}\n"
                fh.write(line.encode("utf-8", "surrogateescape"))
        return _publish(staged, target)
    if corpus.kind == "parquet":
        return _write_parquet(corpus, kept, target)
    staged = os.path.join(tmp, "out")
    with open(staged, "wb") as fh:
        i = 0
        for chunk in corpus.chunks():
            for r in chunk:
                if kept[i]:
                    if corpus.kind == "files":
                        fh.write(r.raw.encode("utf-8", "surrogateescape") + b"\n")
                    else:
                        fh.write(r.raw if r.raw.endswith(b"\n") else r.raw + b"\n")
                i += 1
    return _publish(staged, target)


def _names(corpus: Corpus) -> list[str]:
    return list(corpus.paths)


def _publish(staged: str, target: str) -> str:
    if target == "-":
        with open(staged, "rb") as fh:
            shutil.copyfileobj(fh, sys.stdout.buffer, 1 << 20)
        sys.stdout.buffer.flush()
        return "stdout"
    folder = os.path.dirname(os.path.abspath(target))
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", suffix=".tmp", dir=folder)
    except OSError as e:
        raise CLIError(f"{target}: cannot write: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as out, open(staged, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def _write_parquet(corpus: Corpus, kept: np.ndarray, target: str) -> str:
    import pyarrow.parquet as pq

    folder = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        writer = None
        base = 0
        for path in corpus.paths:
            pf = pq.ParquetFile(path)
            for batch in pf.iter_batches(batch_size=CHUNK_DOCS):
                mask = kept[base : base + batch.num_rows]
                base += batch.num_rows
                part = batch.filter(mask)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, part.schema)
                writer.write_batch(part)
        if writer is not None:
            writer.close()
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


__all__ = ["add_parser", "run"]
