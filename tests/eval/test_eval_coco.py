"""The COCO protocol: pycocotools' reference numbers, the sparse matcher and the rotated IoU."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from yardwatch.eval.cocoeval import SceneCOCOeval, coco_stats, evaluate_coco_files, silent_coco
from yardwatch.eval.iou import box_iou_matrix, obb_iou_matrix, polygon_iou_matrix

# The 12 bbox stats that pycocotools gives on the COCO API's fake detections (shared/data/README.md).
COCO_REFERENCE = [0.50458, 0.69697, 0.57298, 0.58563, 0.51940, 0.50140,
                  0.38681, 0.59368, 0.59535, 0.63981, 0.56642, 0.56429]


@pytest.fixture(scope="module")
def coco_files(shared_data):
    folder = shared_data / "coco_eval"
    return str(folder / "instances_val2014_100.json"), str(folder / "instances_val2014_fakebbox100_results.json")


def _pycocotools_stats(gt_json: str, dt_json: str) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt_json)
        coco_dt = coco_gt.loadRes(dt_json)
        evaluator = COCOeval(coco_gt, coco_dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


def test_reproduces_the_reference_coco_stats(coco_files):
    stats = evaluate_coco_files(*coco_files)
    assert list(stats) == ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
    np.testing.assert_allclose(list(stats.values()), COCO_REFERENCE, atol=5e-6)
    # and bit for bit what pycocotools' own evaluator prints
    np.testing.assert_array_equal(list(stats.values()), _pycocotools_stats(*coco_files))


def test_rotated_path_equals_box_path_on_axis_aligned_boxes(coco_files):
    boxes = evaluate_coco_files(*coco_files, iou_type="bbox")
    rotated = evaluate_coco_files(*coco_files, iou_type="rotated")
    np.testing.assert_allclose(list(rotated.values()), list(boxes.values()), rtol=0, atol=1e-12)


def _tie_heavy_cocos(seed: int):
    """Integer boxes and five score levels: many equal IoUs and scores, crowd objects, two classes."""
    rng = np.random.default_rng(seed)
    images, gts, dts = [], [], []
    for image_id in range(1, 4):
        images.append({"id": image_id})
        xy = rng.integers(0, 40, (80, 2)).astype(float)
        wh = rng.integers(2, 8, (80, 2)).astype(float)
        cls = rng.integers(1, 3, 80)
        for i in range(80):
            gts.append({"id": len(gts) + 1, "image_id": image_id, "category_id": int(cls[i]),
                        "bbox": [*xy[i], *wh[i]], "area": float(wh[i].prod()), "iscrowd": int(rng.uniform() < 0.05)})
        for i in range(160):
            j = i % 80
            dts.append({"id": len(dts) + 1, "image_id": image_id, "score": float(rng.integers(0, 5)) / 5,
                        "category_id": int(cls[j]) if rng.uniform() < 0.9 else 1, "iscrowd": 0,
                        "bbox": [*(xy[j] + rng.integers(-1, 2, 2)), *wh[j]], "area": float(wh[j].prod())})
    cats = [{"id": 1}, {"id": 2}]
    return (silent_coco({"images": images, "annotations": gts, "categories": cats}),
            silent_coco({"images": images, "annotations": dts, "categories": cats}))


@pytest.mark.parametrize("seed", [0, 1])
def test_sparse_matcher_gives_pycocotools_per_image_results(seed):
    coco_gt, coco_dt = _tie_heavy_cocos(seed)
    runs = []
    for evaluator in (COCOeval(coco_gt, coco_dt, "bbox"), SceneCOCOeval(coco_gt, coco_dt)):
        evaluator.params.maxDets = [5, 50, 120]  # truncation must cut at the same detections
        evaluator.params.areaRng = [[0, 1e10], [0, 10], [10, 25], [25, 1e10]]
        with contextlib.redirect_stdout(io.StringIO()):
            evaluator.evaluate()
            evaluator.accumulate()
        runs.append(evaluator)
    reference, ours = runs
    compared = 0
    for a, b in zip(reference.evalImgs, ours.evalImgs, strict=True):
        assert (a is None) == (b is None)
        if a is None:
            continue
        for key in a:
            np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)
        compared += 1
    assert compared > 10
    np.testing.assert_array_equal(reference.eval["precision"], ours.eval["precision"])
    np.testing.assert_array_equal(coco_stats(reference), coco_stats(ours))


def test_rotated_iou_matches_mmcv(shared_data):
    ref = json.loads((shared_data / "rotated_iou" / "mmcv_box_iou_rotated_expected.json").read_text())
    iou = obb_iou_matrix(ref["boxes1"], ref["boxes2"], mode="iou")
    iof = obb_iou_matrix(ref["boxes1"], ref["boxes2"], mode="iof")
    np.testing.assert_allclose(iou, ref["expected_iou"], atol=1e-4)
    np.testing.assert_allclose(iof, ref["expected_iof"], atol=1e-4)
    # the mirror image (y and angles negated, the other rotation sense): the same numbers
    flipped = ([[b[0], -b[1], b[2], b[3], -b[4]] for b in ref["boxes1"]],
               [[b[0], -b[1], b[2], b[3], -b[4]] for b in ref["boxes2"]])
    np.testing.assert_allclose(obb_iou_matrix(*flipped), ref["expected_iou"], atol=1e-4)


def test_polygon_iou_equals_box_iou_for_axis_aligned_boxes():
    import shapely

    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 30, (40, 2))
    wh = rng.uniform(1, 10, (40, 2))
    boxes = np.column_stack([xy, wh])
    polygons = shapely.box(xy[:, 0], xy[:, 1], xy[:, 0] + wh[:, 0], xy[:, 1] + wh[:, 1])
    crowd = rng.uniform(size=20) < 0.3
    expected = box_iou_matrix(boxes[:20], boxes[20:], crowd)
    assert (expected > 0).sum() > 10  # the comparison covers overlapping pairs, not only zeros
    np.testing.assert_allclose(polygon_iou_matrix(polygons[:20], polygons[20:], crowd), expected, atol=1e-12)


def test_empty_inputs_give_empty_matrices():
    assert polygon_iou_matrix([], []).shape == (0, 0)
    assert box_iou_matrix(np.zeros((3, 4)), np.zeros((0, 4))).shape == (3, 0)
