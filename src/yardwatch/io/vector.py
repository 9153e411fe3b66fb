"""Reading labels and other vector files (GeoJSON, GeoPackage, Shapefile) with geopandas/pyogrio.

Labels are what an analyst drew in a GIS: polygons or rectangles with a class attribute, in whatever CRS the
project used. :func:`read_labels` turns them into the one shape the tiler needs -- ``class_id``, ``class_name``,
``geometry`` in the scene's CRS -- and refuses, with a message that says what to change, anything it would
otherwise have to guess about (an unknown class, a file without a CRS, points where boxes are needed).
Detection writers live in ``yardwatch.io.detections``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from yardwatch import CLASS_NAMES
from yardwatch.errors import InputError, LabelError, YardwatchError

log = logging.getLogger(__name__)

LABEL_SUFFIXES = (".geojson", ".gpkg", ".shp", ".json")
"""File name endings looked for as ``<scene_id><suffix>`` in a labels folder, in this order."""

DEFAULT_CLASS_FIELD = "class"


def read_vector(path: str | os.PathLike[str], *, layer: str | None = None,
                error: type[YardwatchError] = InputError):
    """Read a vector file into a GeoDataFrame, with file problems raised as ``error`` naming the file.

    Raises:
        ``error`` (default :class:`InputError`): the file is missing, unreadable or has no features.
    """
    import geopandas as gpd

    path = Path(path).expanduser()
    if not path.exists():
        raise error(f"{path}: file not found; check the path")
    if path.is_file() and path.stat().st_size == 0:
        raise error(f"{path}: file is empty; export the features again")
    try:
        frame = gpd.read_file(path, layer=layer)
    except Exception as err:  # pyogrio/fiona raise their own DataSourceError, DataLayerError, ...
        text = " ".join(str(err).split())[:200]
        raise error(f"{path}: cannot be read as a vector file ({text}); save it as GeoJSON, GeoPackage or "
                    "Shapefile") from err
    if len(frame) == 0:
        raise error(f"{path}: has no features; draw the objects or leave the scene out")
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.isna().all():
        raise error(f"{path}: has no geometry column (a plain table?); save the features as GeoJSON, GeoPackage "
                    "or Shapefile")
    return frame


def canonical_class_map(class_map: Mapping[Any, Any] | None) -> dict[str, str]:
    """``class_map`` (raw value -> class name) with keys as strings and values checked against CLASS_NAMES.

    Raises:
        LabelError: a value is not one of the fixed class names.
    """
    out: dict[str, str] = {}
    for raw, name in (class_map or {}).items():
        canonical = str(name).strip().lower()
        if canonical not in CLASS_NAMES:
            raise LabelError(f"class_map maps {raw!r} to {name!r}, which is not a class; map it to one of "
                             f"{', '.join(CLASS_NAMES)}")
        out[str(raw).strip()] = canonical
    return out


def _class_names(values: Any, class_map: dict[str, str], path: Path, field: str) -> np.ndarray:
    raw = [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in values]
    missing = sum(v is None for v in raw)
    if missing:
        raise LabelError(f"{path}: {missing} feature(s) have no value in the {field!r} column; fill it in "
                         f"(one of {', '.join(CLASS_NAMES)})")
    names = []
    unknown: set[str] = set()
    for value in raw:
        text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()
        name = class_map.get(text, text).strip().lower()
        if name not in CLASS_NAMES:
            unknown.add(text)
        names.append(name)
    if unknown:
        raise LabelError(f"{path}: unknown class(es) {', '.join(sorted(map(repr, unknown)))} in column {field!r}; "
                         f"known classes are {', '.join(CLASS_NAMES)}: rename them or map them with "
                         "class_map={raw: class}")
    return np.asarray(names, dtype=object)


def _polygonal(geometries: np.ndarray, path: Path) -> tuple[np.ndarray, int]:
    """Repair invalid geometries with ``make_valid`` and keep their polygonal parts; count the repairs."""
    import shapely

    kinds = shapely.get_type_id(geometries)
    polygonal = np.isin(kinds, (3, 6))  # Polygon, MultiPolygon
    collections = kinds == 7
    if (~(polygonal | collections)).any():
        bad = sorted({shapely.get_type_id(g) for g in geometries[~(polygonal | collections)]})
        names = {0: "Point", 1: "LineString", 2: "LinearRing", 4: "MultiPoint", 5: "MultiLineString"}
        raise LabelError(f"{path}: labels must be polygons but {int((~(polygonal | collections)).sum())} are "
                         f"{', '.join(names.get(k, str(k)) for k in bad)}; draw each object as a polygon or box")
    invalid = ~shapely.is_valid(geometries)
    repaired = int(invalid.sum())
    if repaired:
        fixed = shapely.make_valid(geometries[invalid])
        geometries = geometries.copy()
        geometries[invalid] = fixed
    needs_parts = ~np.isin(shapely.get_type_id(geometries), (3, 6))
    for i in np.flatnonzero(needs_parts):
        parts = [p for p in shapely.get_parts(geometries[i]) if p.geom_type in ("Polygon", "MultiPolygon")]
        geometries[i] = shapely.union_all(parts) if parts else shapely.Polygon()
    return geometries, repaired


def read_labels(path: str | os.PathLike[str], *, scene_crs: Any, class_map: Mapping[Any, Any] | None = None,
                class_field: str = DEFAULT_CLASS_FIELD, layer: str | None = None):
    """Read a label file for tiling: ``class_id``, ``class_name`` and ``geometry`` in the scene's CRS.

    Invalid polygons (self-intersecting, bow-ties) are repaired with shapely's ``make_valid`` and logged; empty
    or zero-area ones are dropped and logged. Class values map through ``class_map`` (raw value -> class name;
    matched case-insensitively) to the fixed classes ``railcar``, ``tarp``, ``container``.

    Args:
        path: a GeoJSON, GeoPackage or Shapefile.
        scene_crs: the scene's CRS (labels are reprojected to it), or None for a pixel-only scene (labels are
            then taken to be in the scene's pixel coordinates and their CRS, if any, is ignored).
        class_map: raw class value -> class name, e.g. ``{"wagon": "railcar", "3": "container"}``.
        class_field: the attribute holding the class.
        layer: the layer to read from a multi-layer file (GeoPackage).

    Returns:
        A GeoDataFrame indexed by the feature's position in the file, in ``scene_crs``.

    Raises:
        LabelError: missing or empty file, no CRS, no ``class_field`` column, an unknown class, non-polygons.
    """
    import geopandas as gpd
    import shapely

    path = Path(path).expanduser()
    frame = read_vector(path, layer=layer, error=LabelError)
    if class_field not in frame.columns:
        columns = [c for c in frame.columns if c != frame.geometry.name]
        raise LabelError(f"{path}: no {class_field!r} column; set class_field= to one of "
                         f"{', '.join(columns) or '(none: add a class column)'}")
    names = _class_names(frame[class_field].tolist(), canonical_class_map(class_map), path, class_field)
    geometries = np.asarray(frame.geometry.values, dtype=object)
    present = ~(shapely.is_missing(geometries) | shapely.is_empty(geometries))
    if not present.all():
        log.warning("%s: %d feature(s) without geometry left out", path.name, int((~present).sum()))
    geometries, names, index = geometries[present], names[present], frame.index[present]
    geometries, repaired = _polygonal(geometries, path)
    if repaired:
        log.warning("%s: %d invalid polygon(s) repaired with make_valid", path.name, repaired)
    crs = frame.crs
    out = gpd.GeoDataFrame({"class_id": np.array([CLASS_NAMES.index(n) for n in names], dtype=np.int64),
                            "class_name": names.astype(str)}, geometry=list(geometries), crs=crs, index=index)
    if scene_crs is not None:
        if crs is None:
            raise LabelError(f"{path}: unknown CRS (no .prj or crs member); define it, e.g. "
                             f"`ogr2ogr -a_srs EPSG:4326 fixed{path.suffix} {path.name}`")
        try:
            out = out.to_crs(scene_crs)
        except Exception as err:  # pyproj raises CRSError/ProjError
            raise LabelError(f"{path}: cannot reproject from {crs} to the scene CRS {scene_crs} ({err}); "
                             "check both CRSs") from err
    area = shapely.area(np.asarray(out.geometry.values, dtype=object))
    usable = np.isfinite(area) & (area > 0)
    if not usable.all():
        log.warning("%s: %d zero-area or degenerate polygon(s) left out", path.name, int((~usable).sum()))
        out = out[usable]
    if len(out) == 0:
        raise LabelError(f"{path}: no usable polygon (all empty or zero-area); redraw the objects")
    return out


def find_label_file(labels: str | os.PathLike[str], scene_id: str) -> Path:
    """The label file of ``scene_id`` in a labels folder: ``<scene_id>.geojson|.gpkg|.shp|.json``.

    Raises:
        LabelError: the folder holds none of them.
    """
    folder = Path(labels).expanduser()
    for suffix in LABEL_SUFFIXES:
        candidate = folder / f"{scene_id}{suffix}"
        if candidate.is_file():
            return candidate
    raise LabelError(f"labels={folder}: no label file for scene {scene_id!r} (looked for "
                     f"{', '.join(scene_id + s for s in LABEL_SUFFIXES)}); add it or list labels_path in a catalog")
