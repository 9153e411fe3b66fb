"""Pixel <-> CRS <-> lon/lat for points, boxes and oriented boxes; the ground size of a pixel.

Pure functions over affine transforms and pyproj; no rasters are opened here.
"""

from __future__ import annotations

from yardwatch.geo.obb import corners_px_to_crs, corners_to_obb, obb_px_to_corners, polygons_to_obb
from yardwatch.geo.transforms import (
    crs_string,
    crs_to_pixel,
    geometries_to_crs,
    geometries_to_px,
    gsd_m_of,
    pixel_size,
    pixel_to_crs,
    to_lonlat,
    transform_xy,
)

__all__ = [
    "corners_px_to_crs",
    "corners_to_obb",
    "crs_string",
    "crs_to_pixel",
    "geometries_to_crs",
    "geometries_to_px",
    "gsd_m_of",
    "obb_px_to_corners",
    "pixel_size",
    "pixel_to_crs",
    "polygons_to_obb",
    "to_lonlat",
    "transform_xy",
]
