"""How much of an AOI a scene actually shows: the fraction of the AOI's area with valid pixels.

A count is only as good as the view behind it: half a yard under nodata (outside the scene's footprint, a
satellite's missing strip, a cloud mask) shows half the railcars. The AOI is rasterised on a grid aligned with
the scene's pixels but decimated to at most ``max_cells`` per side, and the scene's dataset mask is read on the
same grid (GDAL picks the overview), so the cost does not grow with the scene. Parts of the AOI outside the
scene read as invalid: they count as not covered.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from yardwatch.errors import GeoreferenceError, RasterReadError


def open_scene_raster(path: str | os.PathLike[str], *, fallback_crs: str | None = None):
    """Open a scene with rasterio, refusing what would be misplaced.

    Args:
        path: the raster.
        fallback_crs: the CRS to use when the raster has none (the catalog's ``crs``).

    Returns:
        ``(dataset, crs)``; the caller closes the dataset.

    Raises:
        RasterReadError: missing or unreadable file.
        GeoreferenceError: no CRS (and no fallback) or a rotated/sheared transform.
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    path = Path(path)
    if not path.is_file():
        raise RasterReadError(f"{path}: scene raster not found; fix its path in the catalog")
    try:
        dataset = rasterio.open(path)
    except RasterioIOError as err:
        raise RasterReadError(f"{path}: cannot open the scene ({err}); check the file is a whole GeoTIFF") from err
    transform = dataset.transform
    if transform.b != 0 or transform.d != 0:
        dataset.close()
        raise GeoreferenceError(f"{path}: rotated or sheared geotransform; warp the scene north-up "
                                "(gdalwarp) before counting")
    crs = dataset.crs.to_string() if dataset.crs else fallback_crs
    if crs is None:
        dataset.close()
        raise GeoreferenceError(f"{path}: no CRS; georeference the scene or give its crs in the catalog")
    return dataset, crs


def scene_footprint(dataset: Any):
    """The scene's bounds as a shapely polygon in its CRS."""
    import shapely

    left, bottom, right, top = dataset.bounds
    return shapely.box(min(left, right), min(bottom, top), max(left, right), max(bottom, top))


def decimated_window(dataset: Any, bounds: tuple[float, float, float, float], max_cells: int):
    """A window over ``bounds`` (CRS) snapped outward to whole pixels, with a decimation step.

    Returns:
        ``(window, out_shape, grid_transform)``: the full-resolution window (may extend past the scene), the
        decimated ``(rows, cols)`` with at most ``max_cells`` per side, and the affine transform of that grid.
    """
    from affine import Affine
    from rasterio.windows import Window, from_bounds

    win = from_bounds(*bounds, transform=dataset.transform)
    col0, row0 = math.floor(win.col_off), math.floor(win.row_off)
    width = max(1, math.ceil(win.col_off + win.width) - col0)
    height = max(1, math.ceil(win.row_off + win.height) - row0)
    step = max(1, math.ceil(max(width, height) / max_cells))
    out_shape = (math.ceil(height / step), math.ceil(width / step))
    window = Window(col0, row0, out_shape[1] * step, out_shape[0] * step)
    return window, out_shape, dataset.window_transform(window) @ Affine.scale(step)


def aoi_coverage(dataset: Any, aoi: Any, *, max_cells: int = 512) -> float:
    """Fraction (0..1) of ``aoi`` (a polygon in the dataset's CRS) that has valid pixels in ``dataset``."""
    from rasterio.features import geometry_mask

    if aoi.is_empty:
        return 0.0
    window, out_shape, grid = decimated_window(dataset, aoi.bounds, max_cells)
    inside = geometry_mask([aoi], out_shape=out_shape, transform=grid, invert=True)
    if not inside.any():  # an AOI smaller than one decimated cell: take the cells it touches
        inside = geometry_mask([aoi], out_shape=out_shape, transform=grid, invert=True, all_touched=True)
    try:
        valid = dataset.dataset_mask(window=window, out_shape=out_shape, boundless=True) > 0
    except Exception as err:  # noqa: BLE001 - GDAL read errors come in several types; name the scene
        raise RasterReadError(f"{dataset.name}: cannot read its valid-pixel mask ({err}); check the file") from err
    return float(np.count_nonzero(valid & inside) / np.count_nonzero(inside))
