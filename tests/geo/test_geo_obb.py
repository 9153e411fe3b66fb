"""Oriented boxes: corner order as ultralytics has it, and back."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from affine import Affine

from yardwatch.geo import corners_px_to_crs, corners_to_obb, obb_px_to_corners, polygons_to_obb


def _random_obb(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(0, 640, n), rng.uniform(0, 640, n), rng.uniform(2, 60, n),
                            rng.uniform(2, 60, n), rng.uniform(-np.pi, np.pi, n)])


def test_corners_match_ultralytics_xywhr2xyxyxyxy():
    from ultralytics.utils.ops import xywhr2xyxyxyxy

    obb = _random_obb(50)
    np.testing.assert_allclose(obb_px_to_corners(obb), xywhr2xyxyxyxy(obb), atol=1e-9)


def test_corners_of_an_axis_aligned_box():
    corners = obb_px_to_corners([[10.0, 20.0, 8.0, 4.0, 0.0]])
    np.testing.assert_allclose(corners[0], [[14, 22], [14, 18], [6, 18], [6, 22]])


def test_corners_to_obb_inverts_obb_to_corners():
    obb = _random_obb(30, seed=1)
    np.testing.assert_allclose(obb_px_to_corners(corners_to_obb(obb_px_to_corners(obb))), obb_px_to_corners(obb),
                               atol=1e-9)


def test_polygons_to_obb_gives_length_first_and_the_polygon_corners():
    # A 29 x 6 px railcar turned by 30 degrees.
    angle = np.deg2rad(30.0)
    corners = obb_px_to_corners([[100.0, 50.0, 29.0, 6.0, angle]])[0]
    for start in range(4):  # whichever corner the polygon starts at
        polygon = shapely.Polygon(np.roll(corners, start, axis=0))
        cx, cy, w, h, a = polygons_to_obb([polygon])[0]
        assert (cx, cy, w, h) == pytest.approx((100.0, 50.0, 29.0, 6.0))
        assert a == pytest.approx(angle) or a == pytest.approx(angle - np.pi)
        back = obb_px_to_corners([[cx, cy, w, h, a]])[0]
        assert {tuple(p) for p in np.round(back, 6)} == {tuple(p) for p in np.round(corners, 6)}


def test_polygons_to_obb_of_an_irregular_polygon_is_its_minimum_rectangle():
    polygon = shapely.Polygon([(0, 0), (10, 0), (10, 4), (5, 6), (0, 4)])
    cx, cy, w, h, _ = polygons_to_obb([polygon])[0]
    assert (cx, cy, w, h) == pytest.approx((5.0, 3.0, 10.0, 6.0))


def test_corners_to_crs_apply_the_transform():
    transform = Affine(0.5, 0.0, 350000.0, 0.0, -0.5, 4700000.0)
    corners = obb_px_to_corners([[10.0, 20.0, 8.0, 4.0, 0.0]])
    world = corners_px_to_crs(corners, transform)
    assert world.shape == (1, 4, 2)
    np.testing.assert_allclose(world[0, 0], [350000.0 + 14 * 0.5, 4700000.0 - 22 * 0.5])
