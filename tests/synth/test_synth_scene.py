"""generate_scene: labels match the rendered pixels, sizes are real, dtypes and bands as asked."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from yardwatch.errors import ConfigError
from yardwatch.synth import CLASS_IDS, Counts, generate_scene
from yardwatch.synth.catalogue import CONTAINER_20_LENGTH_M, CONTAINER_40_LENGTH_M, CONTAINER_WIDTH_M

WAGON_KINDS = {"box", "tank", "hopper", "gondola", "flat", "locomotive"}
LABELLED_KINDS = WAGON_KINDS | {"tarp_load", "tarp_pile", "container"}


@pytest.fixture(scope="module")
def scene_05():
    """A busy 640 px scene at 0.5 m with per-object masks (module-scoped: made once)."""
    return generate_scene(scene_size_px=640, gsd_m=0.5, seed=3, season="summer", return_masks=True)


def _polygon_mask(corners_px: np.ndarray, row_off: int, col_off: int, shape: tuple[int, int]) -> np.ndarray:
    """Pixels of a window whose centre lies inside the polygon (shapely, independent of the renderer)."""
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    return shapely.contains_xy(shapely.Polygon(corners_px), cols + col_off + 0.5, rows + row_off + 0.5)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / max(float((a | b).sum()), 1.0)


def _sides_m(obj) -> tuple[float, float]:
    corners = np.asarray(obj.corners_crs)
    a = float(np.hypot(*(corners[1] - corners[0])))
    b = float(np.hypot(*(corners[2] - corners[1])))
    return max(a, b), min(a, b)


def test_scene_has_every_class_and_only_labelled_kinds(scene_05) -> None:
    classes = Counter(obj.class_name for obj in scene_05.objects)
    assert classes["railcar"] >= 20 and classes["container"] >= 1 and classes["tarp"] >= 1, classes
    for obj in scene_05.objects:
        assert obj.class_id == CLASS_IDS[obj.class_name]
        assert obj.kind in LABELLED_KINDS
        assert (obj.class_name == "railcar") == (obj.kind in WAGON_KINDS)
        assert obj.stack_height == 1 or obj.class_name == "container"


def test_labels_lie_inside_the_scene_and_on_valid_pixels(scene_05) -> None:
    bands, rows, cols = scene_05.image.shape
    valid = scene_05.valid_mask
    for obj in scene_05.objects:
        corners = np.asarray(obj.corners_px)
        assert corners.shape == (4, 2)
        assert corners[:, 0].min() >= -1e-6 and corners[:, 0].max() <= cols + 1e-6
        assert corners[:, 1].min() >= -1e-6 and corners[:, 1].max() <= rows + 1e-6
        col0, row0 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
        col1, row1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int), (cols, rows))
        inside = _polygon_mask(corners, row0, col0, (row1 - row0, col1 - col0))
        assert valid[row0:row1, col0:col1][inside].mean() > 0.95
        # CRS corners are the pixel corners through the scene transform
        crs_corners = [scene_05.transform @ (float(c), float(r)) for c, r in corners]
        np.testing.assert_allclose(np.asarray(crs_corners), np.asarray(obj.corners_crs), atol=1e-6)


@pytest.mark.parametrize("gsd_m", [0.3, 0.5])
def test_rendered_mask_matches_label_polygon(gsd_m: float) -> None:
    scene = generate_scene(scene_size_px=512, gsd_m=gsd_m, seed=11, season="autumn", return_masks=True)
    assert scene.masks is not None and len(scene.masks) == len(scene.objects) > 10
    ious = []
    for obj, mask in zip(scene.objects, scene.masks):
        if obj.truncated:
            continue
        rendered = mask.alpha >= 0.5
        label = _polygon_mask(np.asarray(obj.corners_px), mask.row_off, mask.col_off, rendered.shape)
        ious.append(_iou(rendered, label))
    assert len(ious) > 10
    assert min(ious) >= 0.9, sorted(ious)[:5]


def test_rendered_mask_matches_label_polygon_at_coarse_gsd() -> None:
    """At 1 m a container is 2.4 px wide: the pixel grid alone limits IoU, so the mean is held to 0.9."""
    scene = generate_scene(scene_size_px=384, gsd_m=1.0, seed=5, season="summer", return_masks=True)
    ious = [_iou(m.alpha >= 0.5, _polygon_mask(np.asarray(o.corners_px), m.row_off, m.col_off, m.alpha.shape))
            for o, m in zip(scene.objects, scene.masks) if not o.truncated]
    assert len(ious) > 10 and float(np.mean(ious)) >= 0.9


@pytest.mark.parametrize("gsd_m", [0.3, 0.6, 1.0])
def test_object_sizes_are_real_at_any_gsd(gsd_m: float) -> None:
    scene = generate_scene(scene_size_px=int(round(240 / gsd_m)), gsd_m=gsd_m, seed=21, season="summer")
    containers = [o for o in scene.objects if o.class_name == "container" and not o.truncated]
    railcars = [o for o in scene.objects if o.class_name == "railcar" and not o.truncated]
    assert railcars and containers
    for obj in railcars:
        length, width = _sides_m(obj)
        assert 10.0 - 1e-3 <= length <= 25.0 + 1e-3 and 2.4 - 1e-3 <= width <= 3.3 + 1e-3, (length, width)
        assert math.isclose(length, obj.length_m, abs_tol=1e-3) and math.isclose(width, obj.width_m, abs_tol=1e-3)
    for obj in containers:
        length, width = _sides_m(obj)
        assert min(abs(length - CONTAINER_20_LENGTH_M), abs(length - CONTAINER_40_LENGTH_M)) < 1e-3
        assert abs(width - CONTAINER_WIDTH_M) < 1e-3
        assert 1 <= obj.stack_height <= 3


def test_couplings_leave_real_gaps(scene_05) -> None:
    """Cars of one train stand 0.5-1.5 m apart: the gap to the nearest car on the same axis is in that range."""
    cars = [o for o in scene_05.objects if o.class_name == "railcar" and not o.truncated]
    gaps = []
    for obj in cars:
        (cx, cy, w, h, angle) = obj.obb_xywhr_px
        axis = np.array([math.cos(angle), math.sin(angle)]) if w >= h else np.array([-math.sin(angle), math.cos(angle)])
        best = None
        for other in cars:
            if other is obj:
                continue
            (ox, oy, ow, oh, _) = other.obb_xywhr_px
            delta = np.array([ox - cx, oy - cy]) * scene_05.gsd_m
            if abs(float(np.cross(axis, delta))) > 0.3:  # not on the same track
                continue
            gap = abs(float(np.dot(axis, delta))) - (obj.length_m + other.length_m) / 2
            best = gap if best is None else min(best, gap)
        if best is not None and best < 3.0:
            gaps.append(best)
    assert len(gaps) > 10
    assert min(gaps) >= 0.5 - 1e-6 and max(gaps) <= 1.5 + 1e-6


def test_tarp_and_container_loads_sit_on_flatcars_that_they_occlude(scene_05) -> None:
    flats = [o for o in scene_05.objects if o.kind == "flat"]
    loads = [o for o in scene_05.objects if o.kind == "tarp_load"]
    assert loads
    for load in loads:
        centre = np.mean(load.corners_px, axis=0)
        under = [f for f in flats if np.linalg.norm(np.mean(f.corners_px, axis=0) - centre) < 0.05]
        assert len(under) == 1 and under[0].occluded


def test_uint16_four_band_scene_has_11_bit_values_and_nir() -> None:
    scene = generate_scene(scene_size_px=256, gsd_m=0.5, seed=2, dtype="uint16", bands=4, season="summer")
    assert scene.image.dtype == np.uint16 and scene.image.shape == (4, 256, 256)
    valid = scene.valid_mask
    assert scene.image[:, valid].min() >= 1 and scene.image.max() <= 2047
    assert scene.image.max() > 255  # not an 8-bit image in a 16-bit container
    red, nir = scene.image[0][valid].astype(float), scene.image[3][valid].astype(float)
    assert np.corrcoef(red, nir)[0, 1] < 0.99  # NIR is its own band, not a copy


def test_uint8_three_band_scene_reserves_zero_for_nodata() -> None:
    for seed in range(40):
        scene = generate_scene(scene_size_px=128, gsd_m=0.5, seed=seed, clouds=False)
        if not scene.valid_mask.all():
            break
    else:
        pytest.fail("no seed in 0..39 drew a nodata edge")
    assert scene.image.dtype == np.uint8 and scene.image.shape[0] == 3
    nodata = ~scene.valid_mask
    assert (scene.image[:, nodata] == 0).all() and (scene.image[:, ~nodata] >= 1).all()
    # the cut is a straight swath edge across a corner: a quarter or less of the scene
    assert 0.002 < nodata.mean() < 0.25


def test_same_seed_same_pixels_and_labels() -> None:
    a = generate_scene(scene_size_px=200, gsd_m=0.5, seed=9)
    b = generate_scene(scene_size_px=200, gsd_m=0.5, seed=9)
    c = generate_scene(scene_size_px=200, gsd_m=0.5, seed=10)
    assert np.array_equal(a.image, b.image) and a.objects == b.objects
    assert not np.array_equal(a.image, c.image)


def test_default_crs_places_the_scene_near_tumangang() -> None:
    scene = generate_scene(scene_size_px=64, gsd_m=0.5, seed=0)
    assert scene.crs == "EPSG:32652"
    x, y = scene.transform @ (32.0, 32.0)
    lon, lat = Transformer.from_crs(scene.crs, "EPSG:4326", always_xy=True).transform(x, y)
    assert abs(lon - 130.62) < 0.1 and abs(lat - 42.42) < 0.1


def test_counts_are_exact_and_objects_stay_whole() -> None:
    scene = generate_scene(scene_size_px=700, gsd_m=0.5, seed=4, counts=Counts(railcars=33, tarps=5, containers=9))
    classes = Counter(obj.class_name for obj in scene.objects)
    assert classes == {"railcar": 33, "tarp": 5, "container": 9}
    assert not any(obj.truncated for obj in scene.objects)


def test_counts_that_do_not_fit_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="railcars do not fit"):
        generate_scene(scene_size_px=128, gsd_m=0.5, seed=1, counts=Counts(railcars=400))


@pytest.mark.parametrize("kwargs, fragment", [
    ({"gsd_m": 0.2}, "gsd_m=0.2"), ({"dtype": "int8"}, "dtype='int8'"), ({"bands": 2}, "bands=2"),
    ({"season": "spring"}, "season='spring'"), ({"scene_size_px": 8}, "too small"),
    ({"crs": "EPSG:4326"}, "not projected"), ({"crs": "nonsense"}, "not a CRS"),
])
def test_bad_arguments_raise_config_error(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace("[", r"\[")):
        generate_scene(**{"scene_size_px": 64, **kwargs})


@pytest.mark.parametrize("season", ["summer", "autumn", "winter"])
def test_every_ground_pixel_gets_a_material_colour(season: str) -> None:
    """The land-cover look-up never falls outside the palette (an unpainted pixel would be black)."""
    from yardwatch.synth import render
    from yardwatch.synth.site import plan_site
    from yardwatch.synth.scene import draw_look

    site = plan_site(np.random.default_rng([6, 0]), (256.0, 256.0))
    look = draw_look(np.random.default_rng(1), season, (512, 512), clouds=False, nodata_edges=False, exact=False)
    ground = render.render_ground(site, look, 0.5, (512, 512), 4, np.random.default_rng(2))
    assert ground.shape == (4, 512, 512)
    assert float(ground[:3].mean(axis=0).min()) > 0.05
