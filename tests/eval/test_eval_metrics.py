"""Scene-level evaluation end to end on synthetic detection and label files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

from yardwatch.errors import InputError, LabelError, YardwatchError
from yardwatch.eval import evaluate_predictions, format_metrics_table


def test_ground_truth_against_itself_scores_one(yard):
    preds, labels = yard
    result = evaluate_predictions(preds, labels)
    assert result.iou_type == "bbox"
    for name in ("AP", "AP50", "AP75", "AR10000"):
        assert result.coco[name] == pytest.approx(1.0, abs=1e-9)
    for entry in result.classes:
        assert (entry.ap, entry.precision, entry.recall, entry.f1) == pytest.approx((1.0, 1.0, 1.0, 1.0))
        assert entry.fp == entry.fn == 0 and entry.count_bias == 0 and entry.count_mae == 0
    assert result.n_gt == result.n_pred == 120
    assert all(s.error == 0 for s in result.scene_counts)
    assert sorted(result.scenes) == ["scene0", "scene1"]
    assert set(result.scenes.values()) == {"EPSG:32652"}  # labels (lon/lat) moved to the predictions' CRS
    confusion = np.asarray(result.confusion)
    assert confusion.trace() == 120 and confusion.sum() == 120


def test_outputs_are_written_whole_into_the_predictions_folder(yard):
    preds, labels = yard
    result = evaluate_predictions(preds, labels)
    names = sorted(p.name for p in preds.iterdir())
    assert names == ["confusion_matrix.png", "metrics.json", "pr_curves.png", "scene0.geojson", "scene1.geojson"]
    metrics = json.loads((preds / "metrics.json").read_text())
    assert metrics["coco"]["AP50"] == pytest.approx(1.0)
    assert metrics["classes"]["railcar"]["tp"] == result.class_metrics("railcar").tp > 0
    assert len(metrics["scene_counts"]) == 2 * 4
    assert (preds / "pr_curves.png").read_bytes()[:4] == b"\x89PNG"
    # a second run reads its own metrics.json as no scene
    again = evaluate_predictions(preds, labels, out_dir=preds.parent / "elsewhere", plots=False)
    assert sorted(again.scenes) == ["scene0", "scene1"]
    assert sorted(p.name for p in (preds.parent / "elsewhere").iterdir()) == ["metrics.json"]


def test_an_object_found_twice_at_a_seam_is_a_false_positive_and_plus_one_count(tmp_path, yw):
    railcar = shapely.box(350000.0, 4700000.0, 350014.5, 4700002.8)
    halves_overlap = shapely.box(350000.4, 4700000.0, 350014.9, 4700002.8)  # the same car from the next tile
    yw.write_objects(tmp_path / "labels" / "s.geojson", [railcar], [0])
    yw.write_objects(tmp_path / "preds" / "s.geojson", [railcar, halves_overlap], [0, 0], scores=[0.9, 0.8])
    result = evaluate_predictions(tmp_path / "preds", tmp_path / "labels", write=False)
    car = result.class_metrics("railcar")
    assert (car.tp, car.fp, car.fn) == (1, 1, 0)
    assert car.precision == pytest.approx(0.5) and car.recall == pytest.approx(1.0)
    counts = {(s.scene_id, s.class_name): s for s in result.scene_counts}
    assert counts["s", "railcar"].error == 1 and counts["s", "railcar"].rel_error == pytest.approx(1.0)
    assert car.count_bias == pytest.approx(1.0)
    assert result.confusion[3][0] == 1  # the duplicate is a railcar on background


def test_rotated_path_equals_box_path_on_noisy_axis_aligned_detections(tmp_path, yw):
    rng = np.random.default_rng(5)
    boxes, classes = yw.rail_yard_boxes(150, seed=7)
    yw.write_objects(tmp_path / "labels" / "a.geojson", yw.box_polygons(boxes), classes)
    jitter = boxes + rng.normal(0, 0.3, boxes.shape)
    extra = rng.choice(len(boxes), 30, replace=False)
    dt_boxes = np.vstack([jitter[20:], boxes[extra] + 3.0])  # 20 missed, 30 misplaced duplicates
    dt_classes = np.r_[classes[20:], classes[extra]]
    dt_classes[:10] = (dt_classes[:10] + 1) % 3  # some wrong classes
    yw.write_objects(tmp_path / "preds" / "a.geojson", yw.box_polygons(dt_boxes), dt_classes,
                  scores=rng.uniform(0.05, 1, len(dt_classes)))
    box = evaluate_predictions(tmp_path / "preds", tmp_path / "labels", iou_type="bbox", write=False)
    rot = evaluate_predictions(tmp_path / "preds", tmp_path / "labels", iou_type="rotated", write=False)
    auto = evaluate_predictions(tmp_path / "preds", tmp_path / "labels", write=False)
    assert auto.iou_type == "bbox" and rot.iou_type == "rotated"
    assert 0.2 < box.coco["AP"] < 0.95  # not a trivial all-or-nothing case
    for name, value in box.coco.items():
        assert rot.coco[name] == pytest.approx(value, abs=1e-12), name
    assert rot.classes == box.classes
    assert rot.confusion == box.confusion
    assert box.confusion[0][1] + box.confusion[0][2] > 0  # wrong classes show off the diagonal


def test_oriented_detections_use_polygon_iou(tmp_path, yw):
    from yardwatch.eval.iou import obb_polygons

    obb = np.array([[350050.0, 4700050.0, 14.5, 2.8, 0.5], [350080.0, 4700050.0, 14.5, 2.8, -0.3]])
    polygons = obb_polygons(obb)
    yw.write_objects(tmp_path / "labels" / "r.geojson", polygons, [0, 0])
    shifted = obb_polygons(obb + [0.0, 0.7, 0, 0, 0])  # 0.7 m across a 2.8 m wide car: IoU 0.6
    yw.write_objects(tmp_path / "preds" / "r.geojson", shifted, [0, 0], scores=[0.9, 0.8])
    result = evaluate_predictions(tmp_path / "preds", tmp_path / "labels", write=False)
    assert result.iou_type == "rotated"
    car = result.class_metrics("railcar")
    assert car.ap50 == pytest.approx(1.0) and car.ap75 == pytest.approx(0.0)
    # the axis-aligned envelopes of tilted cars overlap much more: the box path overrates these detections
    boxes = evaluate_predictions(tmp_path / "preds", tmp_path / "labels", iou_type="bbox", write=False)
    assert boxes.class_metrics("railcar").ap75 == pytest.approx(1.0)


def test_area_buckets_are_in_square_metres(tmp_path, yw):
    boxes, classes = yw.rail_yard_boxes(30, seed=2)
    yw.write_objects(tmp_path / "labels" / "a.geojson", yw.box_polygons(boxes), classes)
    keep = classes != 2  # every container (14.9 m^2, "small") missed
    yw.write_objects(tmp_path / "preds" / "a.geojson", yw.box_polygons(boxes[keep]), classes[keep],
                  scores=np.full(keep.sum(), 0.9))
    result = evaluate_predictions(tmp_path / "preds", tmp_path / "labels", write=False)
    assert result.coco["APs"] == pytest.approx(0.0) and result.coco["ARs"] == pytest.approx(0.0)
    assert result.coco["APm"] == pytest.approx(1.0)  # railcars (40.6 m^2) and tarps (23.4 m^2)
    assert result.coco["APl"] is None  # nothing above 60 m^2
    assert result.class_metrics("container").recall == 0.0
    assert result.class_metrics("container").count_rel_error == pytest.approx(-1.0)


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet", ".csv"])
def test_every_detection_format_gives_the_same_numbers(tmp_path, yard, suffix, yw):
    preds, labels = yard
    reference = evaluate_predictions(preds, labels, write=False)
    other = tmp_path / f"preds_{suffix[1:]}"
    for s in range(2):
        boxes, classes = yw.rail_yard_boxes(60, seed=s)
        yw.write_objects(other / f"scene{s}{suffix}", yw.box_polygons(boxes), classes, scores=np.full(60, 0.9))
    result = evaluate_predictions(other, labels, write=False)
    assert result.coco == reference.coco and result.classes == reference.classes


def test_empty_scene_files_are_valid(tmp_path, yard, yw):
    preds, labels = yard
    yw.write_objects(preds / "scene0.geojson", [], [], scores=[])
    result = evaluate_predictions(preds, labels, write=False)
    counts = {(s.scene_id, s.class_name): s for s in result.scene_counts}
    assert counts["scene0", "all"].n_pred == 0 and counts["scene0", "all"].error == -60
    assert counts["scene1", "all"].error == 0
    assert result.class_metrics("all").recall == pytest.approx(0.5)
    # nothing labelled and nothing found: a valid, empty result
    yw.write_objects(tmp_path / "l2" / "e.geojson", [], [])
    yw.write_objects(tmp_path / "p2" / "e.geojson", [], [], scores=[])
    empty = evaluate_predictions(tmp_path / "p2", tmp_path / "l2")
    assert empty.coco["AP"] is None and empty.class_metrics("all").n_gt == 0
    assert "metrics.json" in {p.name for p in (tmp_path / "p2").iterdir()}


def test_aoi_limits_scoring_to_objects_inside(tmp_path, yard, yw):
    import geopandas as gpd

    preds, labels = yard
    yw.write_objects(preds / "scene1.geojson", [], [], scores=[])  # misses everything in scene1...
    aoi = gpd.GeoDataFrame({"site": ["yard"]}, geometry=[shapely.box(349990, 4699990, 350320, 4700003)],
                           crs="EPSG:32652")  # ...but this AOI holds only the first row of objects
    aoi.to_file(tmp_path / "aoi.geojson")
    inside = evaluate_predictions(preds, labels, aoi=tmp_path / "aoi.geojson", write=False)
    full = evaluate_predictions(preds, labels, write=False)
    assert 0 < inside.n_gt < full.n_gt
    gt = {s.scene_id: s.n_gt for s in inside.scene_counts if s.class_name == "all"}
    assert gt["scene0"] > 0 and gt["scene1"] > 0
    assert inside.class_metrics("all").recall == pytest.approx(gt["scene0"] / (gt["scene0"] + gt["scene1"]))


def test_predictions_and_labels_for_different_scenes(tmp_path, yard, yw):
    preds, _ = yard
    other = tmp_path / "other_labels"
    yw.write_objects(other / "elsewhere.geojson", [shapely.box(0, 0, 1, 1)], [0])
    with pytest.raises(InputError, match="different scenes"):
        evaluate_predictions(preds, other)


def test_unknown_classes_are_refused(tmp_path, yard):
    import geopandas as gpd

    preds, labels = yard
    frame = gpd.read_file(labels / "scene0.geojson")
    frame.loc[3, "class"] = "bus"
    frame.to_file(labels / "scene0.geojson")
    with pytest.raises(LabelError, match="unknown class 'bus'.*railcar, tarp, container"):
        evaluate_predictions(preds, labels)
    frame.loc[3, "class"] = "tarp"
    frame.to_file(labels / "scene0.geojson")
    frame = gpd.read_file(preds / "scene1.geojson")
    frame.loc[0, "class_name"] = "truck"
    frame.to_file(preds / "scene1.geojson")
    with pytest.raises(InputError, match="scene1.geojson: unknown class 'truck'"):
        evaluate_predictions(preds, labels)


def test_missing_and_empty_folders_are_clear_errors(tmp_path, yard):
    preds, labels = yard
    (tmp_path / "nothing").mkdir()
    with pytest.raises(InputError, match="no detection files"):
        evaluate_predictions(tmp_path / "nothing", labels)
    with pytest.raises(InputError, match="labels=.*not a folder"):
        evaluate_predictions(preds, tmp_path / "missing")
    with pytest.raises(YardwatchError, match="iou_type"):
        evaluate_predictions(preds, labels, iou_type="mask")


def test_table_names_every_class(yard):
    result = evaluate_predictions(*yard, write=False)
    table = format_metrics_table(result)
    for name in ("railcar", "tarp", "container", "all", "AP50=1.000"):
        assert name in table
