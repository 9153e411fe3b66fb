"""Reading what evaluate and count consume: per-scene detection files, label files and AOI polygons.

Detections follow the design's record (``scene_id, class_id, class_name, score, geometry, ...``), one file per
scene named ``<scene_id>.<ext>`` (GeoJSON, GeoPackage, GeoParquet, or CSV with WKT geometry). Labels are
``<scene_id>.<ext>`` polygons with a ``class`` name (or ``class_id``). A file with zero features is valid and means
"nothing here". Every problem becomes a :class:`~yardwatch.errors.YardwatchError` naming the file and the fix.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yardwatch import CLASS_NAMES
from yardwatch.errors import InputError, LabelError

log = logging.getLogger(__name__)

DETECTION_SUFFIXES = (".geojson", ".gpkg", ".parquet", ".csv")
LABEL_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".parquet")
_IGNORED_NAMES = {"summary.json", "metrics.json"}


@dataclass(frozen=True, slots=True)
class SceneObjects:
    """The objects of one scene, ground truth (``scores is None``) or detections, in one frame.

    Attributes:
        scene_id: the scene's id.
        class_ids: ``(N,)`` int64 class ids into :data:`yardwatch.CLASS_NAMES`.
        polygons: ``(N,)`` shapely polygons in the frame named by ``crs``.
        scores: ``(N,)`` float64 confidences, or None for ground truth.
        crs: the CRS of ``polygons`` (a string pyproj understands), or None when the file had no objects.
    """

    scene_id: str
    class_ids: np.ndarray
    polygons: np.ndarray
    scores: np.ndarray | None
    crs: str | None

    def __len__(self) -> int:
        return len(self.class_ids)


def list_scene_files(folder: str | os.PathLike[str], suffixes: Sequence[str], *, what: str,
                     key: str) -> dict[str, Path]:
    """Map scene id (file stem) -> file for the files of ``folder`` with one of ``suffixes``.

    Hidden files (a writer's ``.name.partial`` temporaries) and ``summary.json``/``metrics.json`` are skipped.

    Raises:
        InputError: the folder is missing, or two files share a scene id.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise InputError(f"{key}={root}: not a folder; point {key} at the folder of {what} files")
    found: dict[str, Path] = {}
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or path.name in _IGNORED_NAMES or not path.is_file():
            continue
        if path.suffix.lower() not in suffixes:
            continue
        if path.stem in found:
            raise InputError(f"{root}: scene {path.stem!r} has two {what} files ({found[path.stem].name}, "
                             f"{path.name}); keep one")
        found[path.stem] = path
    return found


def read_vector(path: str | os.PathLike[str], *, crs: str | None = None):
    """Read a vector file (GeoJSON, GPKG, Shapefile, GeoParquet, or CSV with WKT) as a GeoDataFrame.

    A CSV carries its geometry as WKT in ``geometry`` or ``geometry_wkt`` and its CRS in a ``crs`` column; where
    it has none, ``crs`` is used.

    Raises:
        InputError: the file is missing or unreadable, or a CSV has no geometry or no CRS.
    """
    import geopandas as gpd
    import pandas as pd
    import shapely

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found; check the path")
    try:
        if path.suffix.lower() == ".parquet":
            return gpd.read_parquet(path)
        if path.suffix.lower() != ".csv":
            return gpd.read_file(path, engine="pyogrio")
        table = pd.read_csv(path)
    except Exception as err:  # noqa: BLE001 - pyogrio, pyarrow and pandas raise many types; name the file
        if isinstance(err, pd.errors.EmptyDataError):
            raise InputError(f"{path}: empty CSV without a header; write at least the header line") from err
        raise InputError(f"{path}: cannot read it as a vector file ({type(err).__name__}: {err}); "
                         "check the file is whole and in a supported format") from err
    column = next((c for c in ("geometry", "geometry_wkt", "wkt") if c in table.columns), None)
    if column is None:
        raise InputError(f"{path}: no geometry column; add the polygons as WKT in a 'geometry' column")
    if "crs" in table.columns and table["crs"].notna().any():
        crs = str(table["crs"].dropna().iloc[0])
    if crs is None and len(table):
        raise InputError(f"{path}: a CSV does not say its CRS; add a 'crs' column or pass the CRS of the file "
                         "(e.g. predictions_crs=EPSG:32652)")
    try:
        geometry = shapely.from_wkt(table[column].astype(object).where(table[column].notna(), None).to_numpy())
    except shapely.errors.GEOSException as err:
        raise InputError(f"{path}: column {column!r} holds text that is not WKT ({err}); write WKT polygons") from err
    return gpd.GeoDataFrame(table.drop(columns=[column]), geometry=geometry, crs=crs)


def _polygons(frame, path: Path, error: type[InputError]) -> np.ndarray:
    import shapely

    geoms = np.asarray(frame.geometry.values, dtype=object)
    bad = [i for i, g in enumerate(geoms) if g is None or g.is_empty
           or g.geom_type not in ("Polygon", "MultiPolygon")]
    if bad:
        kind = "empty" if geoms[bad[0]] is None or geoms[bad[0]].is_empty else geoms[bad[0]].geom_type
        raise error(f"{path}: {len(bad)} feature(s) are not polygons (feature {bad[0]} is {kind}); "
                    "write each object as a Polygon")
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        geoms = geoms.copy()
        geoms[invalid] = shapely.make_valid(geoms[invalid])
    return geoms


def _class_ids_from_names(names: Any, path: Path, column: str, error: type[InputError]) -> np.ndarray:
    lookup = {name: i for i, name in enumerate(CLASS_NAMES)}
    values = [str(v).strip().lower() if v is not None else "" for v in names]
    unknown = sorted({v for v in values if v not in lookup})
    if unknown:
        raise error(f"{path}: unknown class {unknown[0]!r} in column {column!r}; use one of "
                    f"{', '.join(CLASS_NAMES)}")
    return np.array([lookup[v] for v in values], dtype=np.int64)


def _class_ids_from_ids(ids: Any, path: Path, error: type[InputError]) -> np.ndarray:
    values = np.asarray(ids, dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0) | (values >= len(CLASS_NAMES)) | (values != np.round(values))
    if bad.any():
        raise error(f"{path}: unknown class_id {values[bad][0]!r}; use 0..{len(CLASS_NAMES) - 1} "
                    f"({', '.join(CLASS_NAMES)})")
    return values.astype(np.int64)


def _class_ids(frame, path: Path, columns: Sequence[str], error: type[InputError]) -> np.ndarray:
    """Class ids from the first of ``columns`` that the file has (names, or ids for ``class_id``)."""
    for column in columns:
        if column in frame.columns:
            if column == "class_id":
                return _class_ids_from_ids(frame[column], path, error)
            return _class_ids_from_names(frame[column], path, column, error)
    raise error(f"{path}: no {' or '.join(repr(c) for c in columns)} column; give each object a class "
                f"({', '.join(CLASS_NAMES)})")


def _crs_string(crs: Any) -> str | None:
    if crs is None:
        return None
    from pyproj import CRS

    parsed = CRS.from_user_input(crs)
    authority = parsed.to_authority()
    return f"{authority[0]}:{authority[1]}" if authority else parsed.to_wkt()


def read_detections(path: str | os.PathLike[str], *, scene_id: str | None = None,
                    crs: str | None = None) -> SceneObjects:
    """Read one scene's detection file.

    Args:
        path: the file (``.geojson``, ``.gpkg``, ``.parquet``, ``.csv``).
        scene_id: the scene id to record (default: the file stem).
        crs: CRS for a CSV without a ``crs`` column.

    Raises:
        InputError: unreadable file, no ``score``, unknown classes, non-polygon geometry.
    """
    path = Path(path)
    frame = read_vector(path, crs=crs)
    scene_id = scene_id or path.stem
    if len(frame) == 0:
        return SceneObjects(scene_id, np.zeros(0, np.int64), np.zeros(0, object), np.zeros(0), None)
    if "score" not in frame.columns:
        raise InputError(f"{path}: no 'score' column; detections need a confidence per object")
    class_ids = _class_ids(frame, path, ("class_name", "class_id"), InputError)
    scores = np.asarray(frame["score"], dtype=np.float64)
    if not np.isfinite(scores).all():
        raise InputError(f"{path}: some scores are missing or not finite; every detection needs a score")
    if frame.crs is None:
        raise InputError(f"{path}: detections without a CRS; write them with their CRS (or pass predictions_crs=)")
    return SceneObjects(scene_id, class_ids, _polygons(frame, path, InputError), scores, _crs_string(frame.crs))


def read_labels(path: str | os.PathLike[str], *, scene_id: str | None = None) -> SceneObjects:
    """Read one scene's label file: polygons with a ``class`` name (or ``class_id``) in any CRS.

    Raises:
        LabelError: unreadable file, no CRS, no class column, unknown classes, non-polygon geometry.
    """
    path = Path(path)
    try:
        frame = read_vector(path)
    except InputError as err:
        raise LabelError(str(err)) from err
    scene_id = scene_id or path.stem
    if len(frame) == 0:
        return SceneObjects(scene_id, np.zeros(0, np.int64), np.zeros(0, object), None, None)
    class_ids = _class_ids(frame, path, ("class", "class_name", "class_id"), LabelError)
    if frame.crs is None:
        raise LabelError(f"{path}: labels without a CRS; write the file with its CRS (e.g. a .prj for a Shapefile)")
    return SceneObjects(scene_id, class_ids, _polygons(frame, path, LabelError), None, _crs_string(frame.crs))


def to_crs(objects: SceneObjects, crs: str) -> SceneObjects:
    """``objects`` with their polygons reprojected to ``crs`` (the same object when already there or empty)."""
    if objects.crs is None or len(objects) == 0 or objects.crs == crs:
        return SceneObjects(objects.scene_id, objects.class_ids, objects.polygons, objects.scores,
                            crs if len(objects) == 0 else objects.crs)
    import geopandas as gpd

    moved = gpd.GeoSeries(objects.polygons, crs=objects.crs).to_crs(crs)
    return SceneObjects(objects.scene_id, objects.class_ids, np.asarray(moved.values, dtype=object),
                        objects.scores, crs)


def read_aois(path: str | os.PathLike[str], *, site_column: str = "site"):
    """Read AOI polygons with a site name each; several polygons of one site are merged into one.

    Returns:
        A GeoDataFrame with columns ``site`` and ``geometry`` (one row per site, in the file's CRS).

    Raises:
        InputError: no such column, no CRS, blank site names, or no polygons.
    """
    import shapely

    path = Path(path)
    frame = read_vector(path)
    if site_column not in frame.columns:
        columns = ", ".join(c for c in frame.columns if c != "geometry") or "none"
        raise InputError(f"{path}: no {site_column!r} column (columns: {columns}); give each AOI polygon a "
                         f"site name in a {site_column!r} property or pass site_column=<column>")
    if frame.crs is None:
        raise InputError(f"{path}: AOIs without a CRS; write the file with its CRS")
    if len(frame) == 0:
        raise InputError(f"{path}: no AOI polygons; draw at least one site polygon")
    names = frame[site_column]
    blank = names.isna() | (names.astype(str).str.strip() == "")
    if blank.any():
        raise InputError(f"{path}: {int(blank.sum())} AOI polygon(s) have no {site_column!r} value; name every site")
    geoms = _polygons(frame, path, InputError)
    frame = frame.assign(site=names.astype(str).str.strip().to_numpy(), geometry=geoms)[["site", "geometry"]]
    merged = frame.dissolve(by="site", as_index=False, sort=True)
    merged["geometry"] = shapely.make_valid(np.asarray(merged.geometry.values, dtype=object))
    return merged
