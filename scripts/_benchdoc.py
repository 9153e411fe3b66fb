"""Shared by the ``bench_*.py`` scripts: print a table and keep one section of docs/benchmarks.md current.

Each script owns the section between ``<!-- <name>:start -->`` and ``<!-- <name>:end -->``; running it replaces
that section and leaves the others alone, so the page always shows the latest measured figures of every script.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Sequence
from pathlib import Path

BENCH_DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
_HEADER = ("# Benchmarks\n\nEvery figure here is written by a script in `scripts/` (named in each section); rerun it "
           "to refresh its section. Timings are wall-clock on the machine named in the section.\n")


def machine_description() -> str:
    """One line naming the CPU (and GPU when torch sees one)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
    try:
        import torch

        text += f", torch {torch.__version__}"
        if torch.cuda.is_available():
            text += f", GPU {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return text


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; floats are printed with 3 significant decimals."""

    def fmt(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(name: str, body: str, doc: Path = BENCH_DOC) -> None:
    """Replace (or append) the section of ``name`` in ``doc`` with ``body``."""
    doc.parent.mkdir(parents=True, exist_ok=True)
    text = doc.read_text() if doc.exists() else _HEADER
    block = f"<!-- {name}:start -->\n{body.strip()}\n<!-- {name}:end -->"
    pattern = re.compile(rf"<!-- {re.escape(name)}:start -->.*?<!-- {re.escape(name)}:end -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    tmp = doc.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(doc)
