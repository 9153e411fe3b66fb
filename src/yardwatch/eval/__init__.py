"""Scene-level evaluation: detections of whole scenes against labels (COCO numbers, operating point, counts).

Entry point: :func:`evaluate_predictions` (what ``yardwatch evaluate`` calls). The COCO protocol is pycocotools'
own (:class:`SceneCOCOeval` adds a polygon IoU for oriented boxes and a sparse matcher for scenes with thousands
of objects); :mod:`yardwatch.eval.readers` reads the detection, label and AOI files that count uses too.
"""

from __future__ import annotations

from yardwatch.eval.cocoeval import SceneCOCOeval, coco_stats, evaluate_coco_files, greedy_match
from yardwatch.eval.iou import box_iou_matrix, obb_iou_matrix, polygon_iou_matrix
from yardwatch.eval.metrics import (
    ClassMetrics,
    EvaluationResult,
    SceneCountError,
    evaluate_predictions,
    format_metrics_table,
    write_evaluation,
)
from yardwatch.eval.readers import SceneObjects, read_aois, read_detections, read_labels

__all__ = [
    "ClassMetrics",
    "EvaluationResult",
    "SceneCOCOeval",
    "SceneCountError",
    "SceneObjects",
    "box_iou_matrix",
    "coco_stats",
    "evaluate_coco_files",
    "evaluate_predictions",
    "format_metrics_table",
    "greedy_match",
    "obb_iou_matrix",
    "polygon_iou_matrix",
    "read_aois",
    "read_detections",
    "read_labels",
    "write_evaluation",
]
