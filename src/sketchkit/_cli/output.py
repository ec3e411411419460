"""Writing results: aligned tables for people, NDJSON (``--json``) and tab-separated ``--plain``."""

from __future__ import annotations

import json
import sys
from typing import Any

_CONTROL = {i: f"\\x{i:02x}" for i in range(32)} | {9: "\\t", 10: "\\n", 13: "\\r", 127: "\\x7f"}


def show(item: Any) -> str:
    r"""An item as one safe line: control characters escaped, bytes decoded where they can be.

    >>> print(show("a\tb\n"))
    a\tb\n
    """
    if isinstance(item, bytes):
        item = item.decode("utf-8", "backslashreplace")
    return str(item).translate(_CONTROL)


def json_value(item: Any) -> Any:
    if isinstance(item, bytes):
        return item.decode("utf-8", "backslashreplace")
    if hasattr(item, "item"):  # numpy scalar
        return item.item()
    return item


def emit_json(record: dict, out=None) -> None:
    out = out or sys.stdout
    out.write(json.dumps({k: json_value(v) for k, v in record.items()}, ensure_ascii=False) + "\n")


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e-3 and v else f"{v:.4f}".rstrip("0").rstrip(".") if v != int(v) else f"{v:.0f}"
    return show(v)


def print_table(headers: list[str], rows: list[list[Any]], out=None, numeric_from: int = 1) -> None:
    """Columns padded to their widest cell; columns from ``numeric_from`` on are right-aligned."""
    out = out or sys.stdout
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(widths[i]) if i >= numeric_from else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    out.write(line(headers) + "\n")
    for r in cells:
        out.write(line(r) + "\n")


def print_plain(rows: list[list[Any]], out=None) -> None:
    out = out or sys.stdout
    for row in rows:
        out.write("\t".join(_cell(v) for v in row) + "\n")


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
