"""Labels per tile: visibility, clipping at tile edges, YOLO and YOLO-OBB lines."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from rasterio.windows import Window

from yardwatch.errors import ConfigError
from yardwatch.geo import obb_px_to_corners
from yardwatch.tiling import clip_to_windows, yolo_lines


def _parse(lines):
    return np.array([[float(v) for v in line.split()] for line in lines])


def test_object_cut_by_a_tile_edge_goes_where_most_of_it_is():
    # A 30 px railcar across the edge at x=100: 18 px (60 %) in the left tile, 12 px (40 %) in the right one.
    railcar = shapely.box(82, 40, 112, 46)
    windows = [Window(0, 0, 100, 100), Window(100, 0, 100, 100)]
    left, right = clip_to_windows(np.array([railcar]), np.array([0]), windows, min_visibility=0.5)
    assert len(left) == 1 and len(right) == 0
    assert left.visibility[0] == pytest.approx(0.6)
    assert left.polygons_px[0].bounds == pytest.approx((82, 40, 100, 46))  # clipped at the edge
    assert yolo_lines(left, 100, "detect") == ["0 0.910000 0.430000 0.180000 0.060000"]
    both = clip_to_windows(np.array([railcar]), np.array([0]), windows, min_visibility=0.4)
    assert [len(t) for t in both] == [1, 1]
    assert both[1].polygons_px[0].bounds == pytest.approx((0, 40, 12, 46))  # in the right tile's own pixels


def test_exactly_half_visible_is_kept_at_half():
    half = shapely.box(90, 0, 110, 10)
    kept = clip_to_windows(np.array([half]), np.array([2]), [Window(0, 0, 100, 100)], min_visibility=0.5)
    assert len(kept[0]) == 1 and kept[0].class_ids.tolist() == [2]


def test_zero_visibility_keeps_any_overlap_but_not_a_touch():
    touching = shapely.box(100, 0, 110, 10)
    sliver = shapely.box(99.9, 20, 110, 30)
    out = clip_to_windows(np.array([touching, sliver]), np.array([0, 1]), [Window(0, 0, 100, 100)],
                          min_visibility=0.0)
    assert out[0].object_index.tolist() == [1]


def test_out_size_scales_the_clipped_polygon():
    obj = shapely.box(20, 40, 60, 52)
    (tile,) = clip_to_windows(np.array([obj]), np.array([1]), [Window(0, 0, 200, 200)], out_size_px=100)
    assert tile.polygons_px[0].bounds == pytest.approx((10, 20, 30, 26))
    assert yolo_lines(tile, 100, "detect") == ["1 0.200000 0.230000 0.200000 0.060000"]


def test_obb_lines_of_a_rotated_railcar_are_its_corners():
    corners = obb_px_to_corners([[50.0, 40.0, 29.0, 6.0, np.deg2rad(35.0)]])[0]
    railcar = shapely.Polygon(corners)
    (tile,) = clip_to_windows(np.array([railcar]), np.array([0]), [Window(0, 0, 100, 100)])
    (line,) = yolo_lines(tile, 100, "obb")
    values = _parse([line])[0]
    assert values[0] == 0
    got = {tuple(np.round(p, 4)) for p in values[1:].reshape(4, 2) * 100}
    assert got == {tuple(np.round(p, 4)) for p in corners}


def test_obb_lines_of_a_clipped_object_stay_inside_the_tile():
    corners = obb_px_to_corners([[95.0, 50.0, 29.0, 6.0, np.deg2rad(45.0)]])[0]
    (tile,) = clip_to_windows(np.array([shapely.Polygon(corners)]), np.array([1]), [Window(0, 0, 100, 100)],
                              min_visibility=0.3)
    (line,) = yolo_lines(tile, 100, "obb")
    values = _parse([line])[0, 1:]
    assert values.max() <= 1.0 and values.min() >= 0.0
    assert values.reshape(4, 2)[:, 0].max() == pytest.approx(1.0)


def test_detect_box_of_an_irregular_polygon_is_its_bounds():
    poly = shapely.Polygon([(10, 10), (30, 12), (25, 30), (12, 25)])
    (tile,) = clip_to_windows(np.array([poly]), np.array([2]), [Window(0, 0, 50, 50)])
    assert yolo_lines(tile, 50, "detect") == ["2 0.400000 0.400000 0.400000 0.400000"]


def test_no_objects_and_bad_arguments():
    assert [len(t) for t in clip_to_windows(np.array([], dtype=object), np.array([]), [Window(0, 0, 10, 10)])] == [0]
    (tile,) = clip_to_windows(np.array([shapely.box(0, 0, 1, 1)]), np.array([0]), [Window(50, 50, 10, 10)])
    assert yolo_lines(tile, 10, "obb") == []
    with pytest.raises(ConfigError, match="min_visibility"):
        clip_to_windows(np.array([]), np.array([]), [], min_visibility=1.5)
    with pytest.raises(ConfigError, match="task='segment'"):
        yolo_lines(tile, 10, "segment")
