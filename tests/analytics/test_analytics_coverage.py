"""Coverage of an AOI by a scene's valid pixels, read on a decimated grid."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from yardwatch.analytics.coverage import aoi_coverage, open_scene_raster, scene_footprint
from yardwatch.errors import GeoreferenceError, RasterReadError


def test_decimated_coverage_agrees_with_a_full_resolution_count(shared_data):
    # rasterio's RGB.byte.tif: 791 x 718 px, a nodata=0 collar around a rotated image footprint
    dataset, crs = open_scene_raster(shared_data / "rasterio" / "RGB.byte.tif")
    with dataset:
        assert crs == "EPSG:32618"
        full = dataset.dataset_mask() > 0
        footprint = scene_footprint(dataset)
        assert aoi_coverage(dataset, footprint, max_cells=64) == pytest.approx(full.mean(), abs=0.01)
        # the west half of the scene, plus as much again outside it: half the AOI cannot be covered
        left, bottom, right, top = dataset.bounds
        middle = (left + right) / 2
        west = shapely.box(left, bottom, middle, top)
        outside_too = shapely.box(left - (middle - left), bottom, middle, top)
        expected_west = full[:, : full.shape[1] // 2].mean()
        assert aoi_coverage(dataset, west, max_cells=128) == pytest.approx(expected_west, abs=0.01)
        assert aoi_coverage(dataset, outside_too, max_cells=128) == pytest.approx(expected_west / 2, abs=0.01)
        tiny = shapely.box(middle, (bottom + top) / 2, middle + 1.0, (bottom + top) / 2 + 1.0)  # < 1 cell
        assert aoi_coverage(dataset, tiny, max_cells=16) == 1.0


def test_scenes_that_would_be_misplaced_are_refused(shared_data, tmp_path):
    with pytest.raises(GeoreferenceError, match="rotated or sheared"):
        open_scene_raster(shared_data / "rasterio" / "rotated.tif")
    with pytest.raises(RasterReadError, match="not found"):
        open_scene_raster(tmp_path / "missing.tif")
    (tmp_path / "junk.tif").write_bytes(b"not a tiff")
    with pytest.raises(RasterReadError, match="cannot open"):
        open_scene_raster(tmp_path / "junk.tif")


def test_a_raster_without_crs_takes_the_catalog_crs(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=1, dtype="uint8",
                       transform=from_origin(0, 8, 1, 1)) as dst:
        dst.write(np.ones((1, 8, 8), dtype=np.uint8))
    with pytest.raises(GeoreferenceError, match="no CRS"):
        open_scene_raster(path)
    dataset, crs = open_scene_raster(path, fallback_crs="EPSG:32652")
    with dataset:
        assert crs == "EPSG:32652"
