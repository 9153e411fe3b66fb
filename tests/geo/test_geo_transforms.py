"""Pixel <-> CRS <-> lon/lat against GDAL/PROJ's own numbers, and the ground size of a pixel."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from affine import Affine

from yardwatch.errors import GeoreferenceError
from yardwatch.geo import (
    crs_to_pixel,
    geometries_to_crs,
    geometries_to_px,
    gsd_m_of,
    pixel_to_crs,
    to_lonlat,
    transform_xy,
)


@pytest.fixture(scope="module")
def gdal_reference(shared_data):
    path = shared_data / "gdal_reference" / "gdal_pixel_to_world_reference.json"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return json.loads(path.read_text())["files"]


def test_pixel_centres_to_crs_and_lonlat_match_gdal(gdal_reference):
    assert len(gdal_reference) >= 5
    for name, ref in gdal_reference.items():
        transform = Affine(*ref["transform"])
        cols = np.array([p["col"] for p in ref["points"]], dtype=float)
        rows = np.array([p["row"] for p in ref["points"]], dtype=float)
        xs, ys = pixel_to_crs(transform, cols + 0.5, rows + 0.5)
        np.testing.assert_allclose(xs, [p["x"] for p in ref["points"]], rtol=0, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(ys, [p["y"] for p in ref["points"]], rtol=0, atol=1e-6, err_msg=name)
        lons, lats = to_lonlat(xs, ys, ref["crs"])
        np.testing.assert_allclose(lons, [p["lon"] for p in ref["points"]], rtol=0, atol=1e-7, err_msg=name)
        np.testing.assert_allclose(lats, [p["lat"] for p in ref["points"]], rtol=0, atol=1e-7, err_msg=name)


def test_scene_corners_to_lonlat_bounds_match_gdal(gdal_reference):
    for name, ref in gdal_reference.items():
        transform = Affine(*ref["transform"])
        xs, ys = pixel_to_crs(transform, [0, ref["width"]], [0, ref["height"]])
        lons, lats = to_lonlat(xs, ys, ref["crs"])
        expected = ref["bounds_lonlat_ul_lr"]
        np.testing.assert_allclose([lons[0], lats[0], lons[1], lats[1]], expected, rtol=0, atol=1e-7, err_msg=name)


def test_crs_to_pixel_inverts_pixel_to_crs():
    transform = Affine(0.5, 0.0, 350000.0, 0.0, -0.5, 4700000.0)
    cols, rows = np.array([[0.0, 10.25], [511.5, 3.0]]), np.array([[0.0, 7.75], [100.0, 2.0]])
    xs, ys = pixel_to_crs(transform, cols, rows)
    assert xs.shape == (2, 2)
    assert xs[0, 1] == pytest.approx(350000.0 + 10.25 * 0.5)
    assert ys[0, 1] == pytest.approx(4700000.0 - 7.75 * 0.5)
    back_cols, back_rows = crs_to_pixel(transform, xs, ys)
    np.testing.assert_allclose(back_cols, cols, atol=1e-9)
    np.testing.assert_allclose(back_rows, rows, atol=1e-9)


def test_crs_to_pixel_refuses_a_degenerate_transform():
    with pytest.raises(GeoreferenceError, match="not invertible"):
        crs_to_pixel(Affine(0.0, 0.0, 1.0, 0.0, 0.0, 1.0), [1.0], [1.0])


def test_labels_to_pixels_match_solaris(shared_data):
    """solaris' geojson_to_px_gdf on its chip, rounded to whole pixels as solaris writes them."""
    import geopandas as gpd
    import rasterio
    import shapely

    folder = shared_data / "solaris"
    geo = gpd.read_file(folder / "geotiff_labels.geojson").set_index("osm_id")
    expected = gpd.read_file(folder / "gj_to_px_result.geojson").set_index("osm_id")
    with rasterio.open(folder / "sample_geotiff.tif") as src:
        transform = src.transform
    assert len(expected) == len(geo) == 43
    ours = geometries_to_px(geo.geometry.loc[expected.index].values, transform)
    for osm_id, mine, theirs in zip(expected.index, ours, expected.geometry.values, strict=True):
        got = np.round(shapely.get_coordinates(mine))
        np.testing.assert_array_equal(got, shapely.get_coordinates(theirs), err_msg=str(osm_id))
    back = geometries_to_crs(ours, transform)
    assert all(a.equals_exact(b, 1e-6) for a, b in zip(back, geo.geometry.loc[expected.index].values, strict=True))


def test_swiss_labels_round_trip_to_lonlat(shared_data):
    """EPSG:2056 (LV95) -> lon/lat -> LV95 on the real Muttenz railcar footprints, to a millimetre."""
    import geopandas as gpd
    import shapely

    path = shared_data / "muttenz_railcars" / "trains-labels.geojson"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    frame = gpd.read_file(path)
    coords = shapely.get_coordinates(frame.geometry.values)
    lons, lats = to_lonlat(coords[:, 0], coords[:, 1], "EPSG:2056")
    assert 7.5 < lons.min() < lons.max() < 7.7 and 47.5 < lats.min() < lats.max() < 47.6  # Muttenz, near Basel
    xs, ys = transform_xy(lons, lats, "EPSG:4326", "EPSG:2056")
    np.testing.assert_allclose(xs, coords[:, 0], atol=1e-3)
    np.testing.assert_allclose(ys, coords[:, 1], atol=1e-3)


def test_gsd_of_metric_and_foot_crss_is_nominal():
    assert gsd_m_of(Affine(0.5, 0, 350000, 0, -0.5, 4700000), "EPSG:32652") == pytest.approx(0.5)
    # NAD83 / New York Long Island (ftUS): 1 US survey foot = 1200/3937 m.
    gsd = gsd_m_of(Affine(1.0, 0, 1000000, 0, -1.0, 200000), "EPSG:2263", center_px=(0.5, 0.5))
    assert gsd == pytest.approx(1200 / 3937, rel=1e-9)


def test_gsd_of_degrees_is_geodesic():
    # 1e-5 degree pixels at the equator: 1.113 m east-west, 1.106 m north-south on WGS 84.
    gsd = gsd_m_of(Affine(1e-5, 0, 10.0, 0, -1e-5, 0.00001), "EPSG:4326", center_px=(0.5, 0.5))
    assert gsd == pytest.approx(math.sqrt(1.11319 * 1.10574), rel=1e-4)


def test_gsd_of_web_mercator_is_corrected_for_scale():
    # At 60 degrees N a Web Mercator metre is half a ground metre.
    _, y60 = transform_xy([0.0], [60.0], "EPSG:4326", "EPSG:3857")
    gsd = gsd_m_of(Affine(0.6, 0, 0.0, 0, -0.6, float(y60[0])), "EPSG:3857", center_px=(0.0, 0.0))
    assert gsd == pytest.approx(0.3, rel=5e-3)


def test_gsd_needs_a_known_crs():
    with pytest.raises(GeoreferenceError, match="assume_crs"):
        gsd_m_of(Affine.identity(), None)
    with pytest.raises(GeoreferenceError, match="unknown CRS"):
        gsd_m_of(Affine.identity(), "EPSG:999999")
