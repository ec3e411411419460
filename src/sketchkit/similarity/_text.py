"""Documents in, one UTF-8 buffer out: normalisation and input columns for the text kernels.

The shingle definitions (word and character n-grams, and their hashes) live with the kernels
in :mod:`sketchkit.similarity._kernels`; this module only decides which bytes they read.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._base import check_positive_int
from ..errors import InvalidItemError, InvalidParameterError, ItemTypeError
from ..hashing import encoded_buffer
from . import _kernels as K

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Shingling:
    """How a document becomes a set of shingles.

    unit : ``"word"`` (maximal runs of non-whitespace; with ``words="unicode"`` runs of Unicode
        word characters ``\\w+``, punctuation dropped) or ``"char"`` (code points, for
        unsegmented scripts or short strings).
    n : shingle length in units (default 3 words; 5 is common for web text).
    normalize : NFKC, then ``casefold``, then whitespace runs collapsed to one space.
    words : ``"whitespace"`` (default) or ``"unicode"`` (see ``unit``).
    """

    unit: str = "word"
    n: int = 3
    normalize: bool = False
    words: str = "whitespace"

    def __post_init__(self) -> None:
        if self.unit not in ("word", "char"):
            raise InvalidParameterError(f"unit must be 'word' or 'char', got {self.unit!r}")
        if self.words not in ("whitespace", "unicode"):
            raise InvalidParameterError(f"words must be 'whitespace' or 'unicode', got {self.words!r}")
        check_positive_int("n", self.n, 1 << 12)
        if not isinstance(self.normalize, bool):
            raise InvalidParameterError(f"normalize must be a bool, got {type(self.normalize).__name__}")

    @property
    def mode(self) -> int:
        return K.MODE_WORDS if self.unit == "word" else K.MODE_CHARS

    @property
    def python_pass(self) -> bool:
        """Whether documents need a Python step (one C-level call per document, none per shingle)."""
        return self.normalize or (self.unit == "word" and self.words == "unicode")

    def prepare(self, doc: str) -> str:
        if self.normalize:
            doc = " ".join(unicodedata.normalize("NFKC", doc).casefold().split())
        if self.unit == "word" and self.words == "unicode":
            doc = " ".join(_WORD.findall(doc))
        return doc


def as_shingling(shingling: Shingling | None, **kwargs: Any) -> Shingling:
    if shingling is None:
        return Shingling(**{k: v for k, v in kwargs.items() if v is not None})
    if not isinstance(shingling, Shingling):
        raise InvalidParameterError(f"shingling must be a Shingling, got {type(shingling).__name__}")
    return shingling


def _arrow_buffer(arr: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Zero-copy bytes + offsets of a pyarrow (large_)string array without nulls; None otherwise."""
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if arr.null_count:
        return None
    if pa.types.is_string(arr.type) or pa.types.is_binary(arr.type):
        off_dtype = np.int32
    elif pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type):
        off_dtype = np.int64
    else:
        return None
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=off_dtype)[arr.offset : arr.offset + len(arr) + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.empty(0, dtype=np.uint8)
    return data, offsets


def as_documents(docs: Any) -> list | tuple[np.ndarray, np.ndarray]:
    """A list of str/bytes, or (buffer, offsets) straight from an Arrow column."""
    mod = type(docs).__module__
    if mod.startswith("pyarrow"):
        return docs
    if mod.startswith("pandas"):
        return docs.tolist()
    if isinstance(docs, (str, bytes)):
        raise ItemTypeError("documents must be a sequence of str, not a single str; wrap it in a list")
    if isinstance(docs, np.ndarray):
        return docs.tolist()
    return list(docs)


def document_buffer(docs: Any, shingling: Shingling) -> tuple[np.ndarray, np.ndarray]:
    """The documents' UTF-8 bytes concatenated, with n_docs + 1 offsets."""
    docs = as_documents(docs)
    if not isinstance(docs, list):  # pyarrow
        if not shingling.python_pass:
            direct = _arrow_buffer(docs)
            if direct is not None:
                return direct
        docs = docs.to_pylist()
    if not docs:
        return np.empty(0, dtype=np.uint8), np.zeros(1, dtype=np.int64)
    for i, d in enumerate(docs):
        if not isinstance(d, (str, bytes)):
            raise ItemTypeError(f"document {i} is a {type(d).__name__}, not str or bytes")
    if shingling.python_pass:
        docs = [shingling.prepare(d if isinstance(d, str) else _decode(d, i)) for i, d in enumerate(docs)]
    try:
        return encoded_buffer(docs)
    except InvalidItemError as e:
        raise InvalidItemError(f"a document cannot be encoded: {e}") from None


def _decode(d: bytes, i: int) -> str:
    try:
        return d.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidItemError(f"document {i} is not valid UTF-8 (byte {e.start})") from None
