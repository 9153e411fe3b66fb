"""The scene catalog (``catalog.csv``): which scene was taken when, and where its raster lies.

Columns (design contract): ``scene_id, path, labels_path, site, acquired, crs, gsd_m``; paths are relative to the
catalog's folder. Counting needs ``scene_id``, ``path`` and ``acquired``; the others are optional here.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from yardwatch.errors import InputError


@dataclass(frozen=True, slots=True)
class CatalogScene:
    """One row of the catalog.

    Attributes:
        scene_id: the scene's id (the stem of its detection file).
        path: the raster, absolute.
        acquired: acquisition date (UTC date of the ISO timestamp).
        site: the catalog's site name, if any (counting places scenes by AOI, not by this name).
        crs: the catalog's CRS for the scene, if any (used for CSV detections and rasters without a CRS).
        labels_path: the label file, absolute, if any.
    """

    scene_id: str
    path: Path
    acquired: dt.date
    site: str | None = None
    crs: str | None = None
    labels_path: Path | None = None


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if text == "" or text.lower() == "nan" else text


def read_catalog(path: str | os.PathLike[str]) -> tuple[CatalogScene, ...]:
    """Read ``catalog.csv``; rows come back in the file's order.

    Raises:
        InputError: missing file, missing columns, a row without an acquisition date or with one that is not an
            ISO date, or a scene id listed twice.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"catalog={path}: file not found; point catalog at the catalog.csv of your scenes")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"catalog={path}: not a readable CSV ({err}); write a header line and one row per scene") \
            from err
    missing = [c for c in ("scene_id", "path") if c not in table.columns]
    if missing:
        raise InputError(f"catalog={path}: no {', '.join(missing)} column; the catalog needs scene_id, path, "
                         "acquired (ISO date) per scene")
    if "acquired" not in table.columns:
        raise InputError(f"catalog={path}: no 'acquired' column, so the scenes have no dates; add the acquisition "
                         "date of each scene as YYYY-MM-DD")
    scenes: list[CatalogScene] = []
    seen: set[str] = set()
    for line, row in enumerate(table.to_dict("records"), start=2):
        scene_id = _text(row["scene_id"])
        if scene_id is None:
            raise InputError(f"catalog={path}: line {line} has no scene_id; give every row one")
        if scene_id in seen:
            raise InputError(f"catalog={path}: scene {scene_id!r} is listed twice; keep one row per scene")
        seen.add(scene_id)
        raw_date = _text(row["acquired"])
        if raw_date is None:
            raise InputError(f"catalog={path}: scene {scene_id!r} (line {line}) has no acquired date; add it as "
                             "YYYY-MM-DD")
        stamp = pd.to_datetime(raw_date, errors="coerce", format="ISO8601", utc=True)
        if pd.isna(stamp):
            raise InputError(f"catalog={path}: scene {scene_id!r} (line {line}) has acquired={raw_date!r}, not an "
                             "ISO date; write it as YYYY-MM-DD")
        raster = _text(row["path"])
        if raster is None:
            raise InputError(f"catalog={path}: scene {scene_id!r} (line {line}) has no path; give its raster file")
        labels = _text(row.get("labels_path"))
        scenes.append(CatalogScene(
            scene_id=scene_id, path=(path.parent / raster).resolve(), acquired=stamp.date(),
            site=_text(row.get("site")), crs=_text(row.get("crs")),
            labels_path=(path.parent / labels).resolve() if labels else None))
    return tuple(scenes)
