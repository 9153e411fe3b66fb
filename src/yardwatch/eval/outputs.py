"""Whole-or-nothing output files for evaluate and count: a temporary name in the target folder, then a rename.

Figures are drawn on matplotlib ``Figure`` objects with the Agg canvas directly: no pyplot, no global backend
switch at import, no font downloads (matplotlib ships the DejaVu fonts it uses).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from yardwatch.errors import OutputError


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def _replace(tmp: Path, path: Path) -> Path:
    try:
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write it ({err}); check the folder is writable") from err
    return path


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` (UTF-8) through a temporary file in the same folder."""
    path = Path(path)
    tmp = _temporary(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write it ({err}); check the folder is writable") from err
    return _replace(tmp, path)


def write_json_atomic(path: str | os.PathLike[str], payload: Any) -> Path:
    """Write ``payload`` as indented JSON (NaN is refused: callers write None for undefined numbers)."""
    return write_text_atomic(path, json.dumps(payload, indent=2, allow_nan=False) + "\n")


def new_figure(width_in: float, height_in: float, *, layout: str | None = "constrained"):
    """A matplotlib ``Figure`` with an Agg canvas, independent of pyplot's global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), layout=layout)
    FigureCanvasAgg(figure)
    return figure


def save_figure_atomic(figure, path: str | os.PathLike[str], *, dpi: int = 100) -> Path:
    """Save ``figure`` as PNG at ``path`` through a temporary file in the same folder."""
    path = Path(path)
    tmp = _temporary(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(tmp, dpi=dpi, format="png")
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write it ({err}); check the folder is writable") from err
    return _replace(tmp, path)
