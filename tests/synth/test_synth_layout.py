"""layout=<vector file>: objects drawn at exactly the given footprints, whatever the file's CRS."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

from yardwatch.errors import ConfigError, InputError, LabelError
from yardwatch.synth import generate_scene, write_scenes


@pytest.fixture(scope="module")
def muttenz(shared_data: Path):
    path = shared_data / "muttenz_railcars" / "trains-labels.geojson"
    scene = generate_scene(layout=path, gsd_m=1.0, seed=2, season="summer")
    return path, scene


def test_muttenz_railcars_are_drawn_at_their_footprints(muttenz) -> None:
    path, scene = muttenz
    truth = gpd.read_file(path)
    assert scene.crs == "EPSG:2056"  # the layout's own CRS when none is asked for
    assert len(scene.objects) == len(truth) == 503
    assert all(obj.class_name == "railcar" and not obj.truncated for obj in scene.objects)  # 'zug' -> railcar
    # labels keep the file's order (the file holds a few near-duplicate footprints, so match by index)
    labels = [Polygon(obj.corners_crs) for obj in scene.objects]
    footprints = [shapely.minimum_rotated_rectangle(g) for g in truth.geometry]
    ious = [a.intersection(b).area / a.union(b).area for a, b in zip(labels, footprints)]
    assert min(ious) > 0.99
    lengths = np.array([obj.length_m for obj in scene.objects])
    assert 13.5 < float(np.median(lengths)) < 15.5  # the measured median 14.5 m


def test_muttenz_scene_covers_the_layout_and_draws_cars_there(muttenz) -> None:
    path, scene = muttenz
    west, south, east, north = gpd.read_file(path).total_bounds
    bands, rows, cols = scene.image.shape
    left, top = scene.transform.c, scene.transform.f
    right, bottom = left + cols * scene.gsd_m, top - rows * scene.gsd_m
    assert left < west and right > east and bottom < south and top > north
    # the rendered pixels differ from the ground around them where the cars stand: a car is not invisible
    grey = scene.image.astype(np.float32).mean(axis=0)
    contrasts = []
    for obj in scene.objects[::25]:
        cx, cy = np.mean(obj.corners_px, axis=0).astype(int)
        contrasts.append(abs(grey[cy, cx] - np.median(grey[max(cy - 12, 0):cy + 12, max(cx - 12, 0):cx + 12])))
    assert np.mean(contrasts) > 5


def test_layout_in_lon_lat_with_classes_is_reprojected(tmp_path: Path) -> None:
    """A layout in EPSG:4326 near Tumangang: reprojected into UTM 52N, classes and stack height kept."""
    from pyproj import Transformer

    to_utm = Transformer.from_crs("EPSG:32652", "EPSG:4326", always_xy=True)
    x0, y0 = 633200.0, 4697800.0
    shapes = {"railcar": (16.0, 2.9, 0.3), "tarp": (8.0, 4.0, 1.1), "container": (12.192, 2.438, -0.4)}
    features, truth = [], {}
    for k, (name, (length, width, angle)) in enumerate(shapes.items()):
        centre = np.array([x0 + 60 * k, y0 - 25 * k])
        along = np.array([np.cos(angle), np.sin(angle)]) * length / 2
        across = np.array([-np.sin(angle), np.cos(angle)]) * width / 2
        corners = [centre - along - across, centre + along - across, centre + along + across, centre - along + across]
        truth[name] = Polygon(corners)
        ring = [list(to_utm.transform(*c)) for c in corners]
        props = {"class": name, "stack_height": 2} if name != "railcar" else {}
        features.append({"type": "Feature", "properties": props,
                         "geometry": {"type": "Polygon", "coordinates": [ring + [ring[0]]]}})
    layout = tmp_path / "layout.geojson"
    layout.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    scene = generate_scene(layout=layout, gsd_m=0.5, seed=1, crs="EPSG:32652")
    assert scene.crs == "EPSG:32652"
    by_class = {obj.class_name: obj for obj in scene.objects}
    assert set(by_class) == {"railcar", "tarp", "container"}
    assert by_class["container"].stack_height == 2 and by_class["tarp"].stack_height == 1
    for name, poly in truth.items():
        label = Polygon(by_class[name].corners_crs)
        assert label.intersection(poly).area / label.union(poly).area > 0.99


def test_layout_scenes_are_one_site_over_dates(tmp_path: Path) -> None:
    layout = tmp_path / "two_cars.geojson"
    cars = [[[633100.0 + dx, 4697900.0], [633115.0 + dx, 4697900.0], [633115.0 + dx, 4697902.9],
             [633100.0 + dx, 4697902.9], [633100.0 + dx, 4697900.0]] for dx in (0.0, 16.0)]
    layout.write_text(json.dumps({
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32652"}},
        "features": [{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}
                     for ring in cars]}))
    catalog = write_scenes(tmp_path / "out", n_scenes=2, layout=layout, gsd_m=0.5, seed=4, start_date="2024-02-01",
                           interval_days=10)
    rows = [line.split(",") for line in catalog.read_text().splitlines()[1:]]
    assert [(r[3], r[4], r[5]) for r in rows] == [("two_cars", "2024-02-01", "EPSG:32652"),
                                                 ("two_cars", "2024-02-11", "EPSG:32652")]
    for row in rows:
        frame = gpd.read_file(catalog.parent / row[2])
        assert len(frame) == 2 and set(frame["class"]) == {"railcar"}


def test_layout_errors_name_the_file(tmp_path: Path, shared_data: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        generate_scene(layout=tmp_path / "missing.geojson")
    points = tmp_path / "points.geojson"
    points.write_text(json.dumps({"type": "FeatureCollection", "crs": {"type": "name", "properties": {
        "name": "urn:ogc:def:crs:EPSG::32652"}}, "features": [{"type": "Feature", "properties": {},
                                                              "geometry": {"type": "Point", "coordinates": [1, 2]}}]}))
    with pytest.raises(LabelError, match="Point"):
        generate_scene(layout=points)
    muttenz = shared_data / "muttenz_railcars" / "trains-labels.geojson"
    with pytest.raises(ConfigError, match="does not cover"):
        generate_scene(layout=muttenz, crs="EPSG:32652")
