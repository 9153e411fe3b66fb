"""Reading labels: formats, CRSs, class mapping, repair, and every refusal naming the file and the fix."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

from yardwatch.errors import InputError, LabelError
from yardwatch.io.vector import find_label_file, read_labels, read_vector

UTM = "EPSG:32652"


def _box(x: float, y: float, w: float = 14.5, h: float = 2.8):
    return shapely.box(x, y, x + w, y + h)


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".shp"])
def test_reads_each_format(tmp_path, label_writer, suffix):
    polygons = [_box(350010, 4699950), _box(350040, 4699950), _box(350070, 4699900, 12.2, 2.44)]
    path = label_writer(tmp_path / f"labels{suffix}", polygons, ["railcar", "Tarp", "container"], crs=UTM)
    frame = read_labels(path, scene_crs=UTM)
    assert frame["class_name"].tolist() == ["railcar", "tarp", "container"]
    assert frame["class_id"].tolist() == [0, 1, 2]
    assert list(frame.columns) == ["class_id", "class_name", "geometry"]
    assert frame.crs.to_epsg() == 32652
    assert frame.geometry.iloc[2].normalize().equals_exact(polygons[2].normalize(), 1e-6)  # shp reorients rings


def test_reprojects_to_the_scene_crs(tmp_path, label_writer):
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    utm_box = _box(350010, 4699950)
    lonlat = shapely.transform(utm_box, lambda c: np.column_stack(to_lonlat.transform(c[:, 0], c[:, 1])))
    path = label_writer(tmp_path / "wgs84.geojson", [lonlat], ["railcar"], crs="EPSG:4326")
    frame = read_labels(path, scene_crs=UTM)
    np.testing.assert_allclose(frame.geometry.iloc[0].bounds, utm_box.bounds, atol=1e-3)


def test_synthetic_label_format(tmp_path):
    """The synth module's GeoJSON: a top-level crs member and extra properties."""
    path = tmp_path / "scene_000.geojson"
    path.write_text(json.dumps({
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32652"}},
        "features": [{"type": "Feature", "properties": {"class": "railcar", "class_id": 0, "occluded": False,
                                                        "truncated": False, "stack_height": 1, "length_m": 14.5,
                                                        "width_m": 2.8},
                      "geometry": shapely.geometry.mapping(_box(350010, 4699950))}],
    }))
    frame = read_labels(path, scene_crs=UTM)
    assert frame.crs.to_epsg() == 32652 and frame["class_name"].tolist() == ["railcar"]
    assert frame.geometry.iloc[0].bounds == pytest.approx((350010, 4699950, 350024.5, 4699952.8))


def test_class_map_and_class_field(tmp_path, label_writer):
    path = label_writer(tmp_path / "l.geojson", [_box(0, 0), _box(20, 0), _box(40, 0)], ["x", "y", "z"],
                        extra={"kind": ["wagon", "box", "wagon"]})
    frame = read_labels(path, scene_crs=UTM, class_field="kind", class_map={"wagon": "railcar", "box": "Container"})
    assert frame["class_name"].tolist() == ["railcar", "container", "railcar"]
    with pytest.raises(LabelError, match=r"no 'cls' column; set class_field= to one of class, kind"):
        read_labels(path, scene_crs=UTM, class_field="cls")
    with pytest.raises(LabelError, match="not a class"):
        read_labels(path, scene_crs=UTM, class_field="kind", class_map={"wagon": "train"})


def test_unknown_class_lists_the_known_ones(tmp_path, label_writer):
    path = label_writer(tmp_path / "l.geojson", [_box(0, 0), _box(20, 0)], ["railcar", "truck"])
    with pytest.raises(LabelError, match=r"l\.geojson: unknown class\(es\) 'truck'.*railcar, tarp, container"):
        read_labels(path, scene_crs=UTM)


def test_missing_empty_and_unreadable_files(tmp_path):
    with pytest.raises(LabelError, match=r"none\.geojson: file not found"):
        read_labels(tmp_path / "none.geojson", scene_crs=UTM)
    empty = tmp_path / "empty.geojson"
    empty.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(LabelError, match=r"empty\.geojson: has no features"):
        read_labels(empty, scene_crs=UTM)
    zero = tmp_path / "zero.geojson"
    zero.write_text("")
    with pytest.raises(LabelError, match="file is empty"):
        read_labels(zero, scene_crs=UTM)
    garbage = tmp_path / "garbage.geojson"
    garbage.write_text("{ not json")
    with pytest.raises(LabelError, match="cannot be read as a vector file"):
        read_labels(garbage, scene_crs=UTM)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_unknown_crs(tmp_path, label_writer):
    path = label_writer(tmp_path / "noprj.shp", [_box(0, 0)], ["railcar"], crs=None)
    with pytest.raises(LabelError, match=r"noprj\.shp: unknown CRS.*ogr2ogr -a_srs"):
        read_labels(path, scene_crs=UTM)
    # A pixel-only scene takes labels as pixel coordinates: no CRS needed.
    assert len(read_labels(path, scene_crs=None)) == 1


def test_invalid_polygons_are_repaired(tmp_path, label_writer):
    bowtie = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10), (0, 0)])
    assert not bowtie.is_valid
    path = label_writer(tmp_path / "bad.geojson", [bowtie, _box(20, 0)], ["railcar", "tarp"])
    frame = read_labels(path, scene_crs=UTM)
    assert frame.geometry.is_valid.all() and len(frame) == 2
    assert frame.geometry.iloc[0].area == pytest.approx(50.0)


def test_points_are_refused(tmp_path, label_writer):
    path = label_writer(tmp_path / "points.geojson", [shapely.Point(1, 1)], ["railcar"])
    with pytest.raises(LabelError, match="must be polygons.*Point"):
        read_labels(path, scene_crs=UTM)


def test_missing_class_values_are_refused(tmp_path, label_writer):
    path = label_writer(tmp_path / "nulls.geojson", [_box(0, 0), _box(20, 0)], ["railcar", None])
    with pytest.raises(LabelError, match="1 feature.*no value in the 'class' column"):
        read_labels(path, scene_crs=UTM)


def test_find_label_file(tmp_path, label_writer):
    label_writer(tmp_path / "s1.gpkg", [_box(0, 0)], ["railcar"])
    assert find_label_file(tmp_path, "s1") == tmp_path / "s1.gpkg"
    with pytest.raises(LabelError, match="no label file for scene 's2'"):
        find_label_file(tmp_path, "s2")


def test_read_vector_names_the_file(tmp_path):
    with pytest.raises(InputError, match=r"aoi\.geojson: file not found"):
        read_vector(tmp_path / "aoi.geojson")
