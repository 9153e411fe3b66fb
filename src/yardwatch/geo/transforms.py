"""Pixel <-> CRS <-> lon/lat conversions and the ground size of a pixel.

Frames (see ../shared/DESIGN.md): *scene px* are continuous (col, row) coordinates with the origin at the top-left
corner of the top-left pixel, so pixel (c, r) covers [c, c+1) x [r, r+1) and its centre is (c + 0.5, r + 0.5) --
GDAL's convention. The functions here never add the half pixel themselves: a caller converting pixel *centres*
passes ``col + 0.5``; a caller converting box corners (which already live in the continuous frame) passes them as
they are. Keeping that choice with the caller is what lets one function serve both without an off-by-half bug.
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any

import numpy as np
from affine import Affine

from yardwatch.errors import GeoreferenceError

# Nominal (projected-unit) and geodesic pixel sizes that differ by more than this are taken to mean a projection
# with a large scale error at the scene (Web Mercator away from the equator): the geodesic size is used then.
_NOMINAL_GSD_TOLERANCE = 0.01


def pixel_to_crs(transform: Affine, cols: Any, rows: Any) -> tuple[np.ndarray, np.ndarray]:
    """Map scene px coordinates to CRS coordinates with the affine ``transform`` (vectorised).

    Args:
        transform: the scene's affine transform (pixel -> CRS), as rasterio gives it.
        cols: x in scene px, any shape (pass ``col + 0.5`` for pixel centres).
        rows: y in scene px, same shape as ``cols``.

    Returns:
        ``(xs, ys)`` float64 arrays in CRS units, shaped like ``cols``.
    """
    cols = np.asarray(cols, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.float64)
    t = transform
    return t.a * cols + t.b * rows + t.c, t.d * cols + t.e * rows + t.f


def crs_to_pixel(transform: Affine, xs: Any, ys: Any) -> tuple[np.ndarray, np.ndarray]:
    """Map CRS coordinates to continuous scene px ``(cols, rows)`` (the inverse of :func:`pixel_to_crs`).

    Raises:
        GeoreferenceError: when ``transform`` is not invertible (a degenerate geotransform).
    """
    try:
        inverse = ~transform
    except Exception as err:  # affine raises its own TransformNotInvertibleError
        raise GeoreferenceError(f"transform {tuple(transform)[:6]} is not invertible; fix the geotransform") from err
    return pixel_to_crs(inverse, xs, ys)


@functools.lru_cache(maxsize=64)
def _transformer(src: str, dst: str, thread_id: int) -> Any:
    # pyproj transformers are not safe to share between threads; one per (CRS pair, thread) is cheap to keep.
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


def crs_string(crs: Any) -> str:
    """A CRS given as a string, a rasterio ``CRS`` or a pyproj ``CRS``, as a string pyproj accepts."""
    if isinstance(crs, str):
        return crs
    if hasattr(crs, "to_wkt"):
        return crs.to_wkt()
    return str(crs)


def transform_xy(xs: Any, ys: Any, src_crs: Any, dst_crs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Transform coordinates between two CRSs, x (easting or longitude) first, with pyproj.

    Raises:
        GeoreferenceError: when either CRS is not one pyproj knows.
    """
    from pyproj.exceptions import CRSError

    try:
        transformer = _transformer(crs_string(src_crs), crs_string(dst_crs), threading.get_ident())
    except CRSError as err:
        raise GeoreferenceError(f"cannot transform from {src_crs} to {dst_crs}: {err}; check the CRS") from err
    out_x, out_y = transformer.transform(np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64))
    return np.asarray(out_x, dtype=np.float64), np.asarray(out_y, dtype=np.float64)


def to_lonlat(xs: Any, ys: Any, crs: Any) -> tuple[np.ndarray, np.ndarray]:
    """CRS coordinates to WGS 84 ``(lons, lats)`` in degrees, longitude first (pyproj ``always_xy``)."""
    return transform_xy(xs, ys, crs, "EPSG:4326")


def pixel_size(transform: Affine) -> tuple[float, float]:
    """Length of one pixel's column and row vectors in CRS units: ``(width, height)``, both positive."""
    return math.hypot(transform.a, transform.d), math.hypot(transform.b, transform.e)


def gsd_m_of(transform: Affine, crs: Any, *, center_px: tuple[float, float] | None = None) -> float:
    """Ground sample distance in metres: the side of a square pixel with the ground area of one scene pixel.

    Projected CRSs in metres or feet (international or US survey) give their nominal pixel size times the unit's
    length in metres. Geographic CRSs (degrees), and projected ones whose scale error at the scene exceeds 1 % (Web
    Mercator away from the equator, where a nominal 0.6 m is 0.48 m on the ground at 37 degrees N), give the
    geodesic size of the pixel at ``center_px`` measured on the CRS's ellipsoid. That is the number that decides
    how big a railcar looks to the detector.

    Args:
        transform: the scene's affine transform.
        crs: the scene's CRS (anything pyproj accepts).
        center_px: where to measure, in scene px (default: the first pixel's centre); pass the scene centre.

    Raises:
        GeoreferenceError: for a missing or unknown CRS.
    """
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    if crs is None:
        raise GeoreferenceError("no CRS: the pixel size has no ground unit; pass assume_crs=EPSG:<code>")
    try:
        crs_obj = CRS.from_user_input(crs_string(crs))
    except CRSError as err:
        raise GeoreferenceError(f"unknown CRS {crs!r}: {err}; pass a valid assume_crs=EPSG:<code>") from err
    width, height = pixel_size(transform)
    nominal: float | None = None
    if crs_obj.is_projected:
        unit_m = crs_obj.axis_info[0].unit_conversion_factor if crs_obj.axis_info else 1.0
        nominal = math.sqrt(width * height) * unit_m
    geodesic = _geodesic_pixel_size_m(transform, crs_obj, center_px or (0.5, 0.5))
    if geodesic is None:
        if nominal is None:
            raise GeoreferenceError(f"CRS {crs_obj.name!r} has neither linear units nor an ellipsoid; "
                                    "reproject the scene to a projected CRS")
        return nominal
    if nominal is not None and abs(geodesic / nominal - 1.0) <= _NOMINAL_GSD_TOLERANCE:
        return nominal
    return geodesic


def _geodesic_pixel_size_m(transform: Affine, crs_obj: Any, center_px: tuple[float, float]) -> float | None:
    from pyproj import Geod

    geodetic = crs_obj.geodetic_crs
    if geodetic is None:
        return None
    col, row = center_px
    xs, ys = pixel_to_crs(transform, [col, col + 1.0, col], [row, row, row + 1.0])
    lons, lats = transform_xy(xs, ys, crs_obj.to_wkt(), geodetic.to_wkt())
    geod = crs_obj.get_geod() or Geod(ellps="WGS84")
    _, _, dx = geod.inv(lons[0], lats[0], lons[1], lats[1])
    _, _, dy = geod.inv(lons[0], lats[0], lons[2], lats[2])
    if not (math.isfinite(dx) and math.isfinite(dy)) or dx <= 0 or dy <= 0:
        return None
    return math.sqrt(dx * dy)


def geometries_to_px(geometries: Any, transform: Affine) -> np.ndarray:
    """Shapely geometries in CRS coordinates -> the same geometries in continuous scene px (vectorised)."""
    import shapely

    inverse = ~transform
    return shapely.transform(np.asarray(geometries, dtype=object), _affine_fn(inverse))


def geometries_to_crs(geometries: Any, transform: Affine) -> np.ndarray:
    """Shapely geometries in continuous scene px -> the same geometries in CRS coordinates (vectorised)."""
    import shapely

    return shapely.transform(np.asarray(geometries, dtype=object), _affine_fn(transform))


def _affine_fn(transform: Affine):
    def apply(coords: np.ndarray) -> np.ndarray:
        xs, ys = pixel_to_crs(transform, coords[:, 0], coords[:, 1])
        return np.column_stack([xs, ys])

    return apply
