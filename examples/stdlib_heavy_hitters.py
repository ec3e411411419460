"""Heavy hitters of the Python standard library's own tokens, beside their exact counts.

Run with ``python examples/stdlib_heavy_hitters.py`` (``make demo`` runs the CLI version,
``sketchkit demo``, which adds the plot and the memory comparison). The stream is real and naturally
Zipfian: every ``\\w+`` token of the ``*.py`` files installed with this interpreter.
"""

from __future__ import annotations

import re
import sysconfig
import time
from collections import Counter
from pathlib import Path

import sketchkit as sk

TOKEN = re.compile(r"\w+")


def stdlib_tokens() -> list[str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    tokens: list[str] = []
    for path in sorted(root.rglob("*.py")):
        if "site-packages" in path.parts:
            continue
        try:
            tokens.extend(TOKEN.findall(path.read_text(encoding="utf-8", errors="replace")))
        except OSError:
            continue
    return tokens


def main() -> None:
    tokens = stdlib_tokens()
    start = time.perf_counter()
    ss = sk.SpaceSaving.from_memory("64KiB")
    for i in range(0, len(tokens), 1 << 16):
        ss.update_batch(tokens[i : i + (1 << 16)])
    elapsed = time.perf_counter() - start
    exact = Counter(tokens)
    top = ss.top(20)
    print(f"{len(tokens):,} tokens, {len(exact):,} distinct; SpaceSaving in {ss.nbytes / 1024:.0f} KiB "
          f"({len(tokens) / elapsed / 1e6:.1f} M tokens/s)\n")
    print(f"{'rank':>4}  {'token':<14}{'estimate':>10}{'lower':>10}{'upper':>10}{'exact':>10}")
    for rank, row in enumerate(top, 1):
        print(f"{rank:>4}  {row.item:<14}{row.estimate:>10,}{row.lower:>10,}{row.upper:>10,}{exact[row.item]:>10,}")
    truth = {t for t, _ in exact.most_common(20)}
    recall = len(truth & {r.item for r in top}) / 20
    inside = all(r.lower <= exact[r.item] <= r.upper for r in top)
    print(f"\ntop-20 recall {recall:.2f}; every exact count inside its bounds: {inside}")


if __name__ == "__main__":
    main()
