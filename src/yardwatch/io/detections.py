"""Detection records (the design's contract) and their writers.

One record per object: ``scene_id, class_id, class_name, score, geometry`` (Polygon in the scene CRS, or lon/lat
with ``crs=EPSG:4326``: the box or oriented-box corners), ``cx_px, cy_px, w_px, h_px, angle_rad`` (scene pixels),
``length_m, width_m`` (long and short side on the ground), ``acquired`` (ISO date when known) and ``model`` (hash
of the weights). Files are written to a temporary name in the target folder and renamed when complete, so a
scene's file is whole or absent.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from yardwatch.errors import ConfigError, OutputError

FORMATS = {"geojson": ".geojson", "gpkg": ".gpkg", "parquet": ".parquet", "csv": ".csv"}
RECORD_COLUMNS = ("scene_id", "class_id", "class_name", "score", "cx_px", "cy_px", "w_px", "h_px", "angle_rad",
                  "length_m", "width_m", "acquired", "model")


def detections_frame(scene_id: str, obb_xywhr_px: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, *,
                     class_names: Sequence[str], transform, crs: str | None, gsd_m: float | None,
                     acquired: str | None = None, model: str | None = None, out_crs: str | None = None):
    """Detections of one scene as a GeoDataFrame of design-contract records.

    Args:
        scene_id: the scene's id.
        obb_xywhr_px: (N, 5) centre x, centre y, width, height, angle (rad), scene px.
        scores: (N,) confidence.
        class_ids: (N,) class ids into ``class_names``.
        class_names: names in class-id order.
        transform: the scene's affine transform (pixel -> CRS).
        crs: the scene's CRS (None for pixel-only scenes: geometry then stays in pixels).
        gsd_m: metres per pixel, for ``length_m``/``width_m``.
        acquired: ISO date, when known.
        model: weights hash.
        out_crs: write geometry in this CRS instead (e.g. ``EPSG:4326``).
    """
    import geopandas as gpd
    import shapely

    from yardwatch.geo import corners_px_to_crs, obb_px_to_corners

    obb = np.asarray(obb_xywhr_px, dtype=np.float64).reshape(-1, 5)
    corners_px = obb_px_to_corners(obb)
    corners = corners_px_to_crs(corners_px, transform) if crs is not None else corners_px
    geometry = shapely.polygons(corners) if len(obb) else []
    long_px = np.maximum(obb[:, 2], obb[:, 3])
    short_px = np.minimum(obb[:, 2], obb[:, 3])
    gsd = float(gsd_m) if gsd_m else np.nan
    class_ids = np.asarray(class_ids, dtype=np.int64)
    frame = gpd.GeoDataFrame({
        "scene_id": [scene_id] * len(obb),
        "class_id": class_ids,
        "class_name": [class_names[i] for i in class_ids.tolist()],
        "score": np.round(np.asarray(scores, dtype=np.float64), 5),
        "cx_px": obb[:, 0], "cy_px": obb[:, 1], "w_px": obb[:, 2], "h_px": obb[:, 3], "angle_rad": obb[:, 4],
        "length_m": long_px * gsd, "width_m": short_px * gsd,
        "acquired": [acquired] * len(obb),
        "model": [model] * len(obb),
    }, geometry=geometry, crs=crs)
    if out_crs is not None and crs is not None:
        frame = frame.to_crs(out_crs)
    return frame


def output_path(out_dir: str | os.PathLike[str], scene_id: str, fmt: str) -> Path:
    """Where the detections of ``scene_id`` go in ``out_dir`` for ``fmt``."""
    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt!r} is not one of {', '.join(FORMATS)}")
    return Path(out_dir) / f"{scene_id}{FORMATS[fmt]}"


def write_detections(frame, path: str | os.PathLike[str], fmt: str) -> Path:
    """Write ``frame`` to ``path`` atomically (temporary name in the same folder, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            tmp.unlink()
        if fmt == "geojson":
            frame.to_file(tmp, driver="GeoJSON", engine="pyogrio", layer=path.stem)
        elif fmt == "gpkg":
            frame.to_file(tmp, driver="GPKG", layer="detections", engine="pyogrio")
        elif fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        elif fmt == "csv":
            table = frame.drop(columns="geometry").assign(geometry_wkt=frame.geometry.to_wkt())
            table.to_csv(tmp, index=False)
        else:
            raise ConfigError(f"format={fmt!r} is not one of {', '.join(FORMATS)}")
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write detections ({err}); check the folder is writable") from err
    return path
