"""Pairwise IoU between detections and ground truth: axis-aligned boxes and polygons (oriented boxes).

Axis-aligned boxes go through pycocotools' own ``mask.iou`` (C code, the reference evaluator's numbers). Polygons
(oriented boxes, hand-drawn footprints) go through shapely 2: an STRtree finds the pairs whose polygons touch and
only those pairs are intersected, in one vectorised call. A scene holds hundreds to thousands of objects of which
each touches two or three others, so the sparse path is what keeps rotated evaluation as fast as the box path.

Crowd ground truth follows the COCO convention: its "IoU" is the intersection over the detection's area (IoF).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def boxes_xywh(polygons: Any) -> np.ndarray:
    """Axis-aligned bounds of ``polygons`` as ``(N, 4)`` float64 ``(xmin, ymin, width, height)`` in their frame."""
    import shapely

    geoms = np.asarray(polygons, dtype=object).reshape(-1)
    if len(geoms) == 0:
        return np.zeros((0, 4), dtype=np.float64)
    bounds = shapely.bounds(geoms)
    return np.column_stack([bounds[:, 0], bounds[:, 1], bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1]])


def box_iou_matrix(dt_xywh: np.ndarray, gt_xywh: np.ndarray, gt_crowd: np.ndarray | None = None) -> np.ndarray:
    """IoU of axis-aligned boxes ``(D, 4)`` x ``(G, 4)`` (x, y, w, h) -> ``(D, G)``, computed by pycocotools."""
    from pycocotools import mask as mask_utils

    dt = np.ascontiguousarray(dt_xywh, dtype=np.float64).reshape(-1, 4)
    gt = np.ascontiguousarray(gt_xywh, dtype=np.float64).reshape(-1, 4)
    if len(dt) == 0 or len(gt) == 0:
        return np.zeros((len(dt), len(gt)), dtype=np.float64)
    crowd = np.zeros(len(gt), dtype=np.uint8) if gt_crowd is None else np.asarray(gt_crowd, dtype=np.uint8)
    return np.asarray(mask_utils.iou(dt, gt, crowd), dtype=np.float64).reshape(len(dt), len(gt))


def polygon_iou_matrix(dt_polygons: Any, gt_polygons: Any, gt_crowd: np.ndarray | None = None) -> np.ndarray:
    """IoU of polygons ``(D,)`` x ``(G,)`` -> dense ``(D, G)`` float64, zero where they do not intersect.

    Args:
        dt_polygons: shapely polygons of the detections (any frame with equal axis units).
        gt_polygons: shapely polygons of the ground truth, same frame.
        gt_crowd: ``(G,)`` bool; for crowd ground truth the value is intersection / detection area.
    """
    import shapely

    dt = np.asarray(dt_polygons, dtype=object).reshape(-1)
    gt = np.asarray(gt_polygons, dtype=object).reshape(-1)
    out = np.zeros((len(dt), len(gt)), dtype=np.float64)
    if len(dt) == 0 or len(gt) == 0:
        return out
    tree = shapely.STRtree(gt)
    d_idx, g_idx = tree.query(dt, predicate="intersects")
    if len(d_idx) == 0:
        return out
    inter = shapely.area(shapely.intersection(dt[d_idx], gt[g_idx]))
    area_dt = shapely.area(dt)[d_idx]
    union = area_dt + shapely.area(gt)[g_idx] - inter
    if gt_crowd is not None:
        crowd = np.asarray(gt_crowd, dtype=bool)[g_idx]
        union = np.where(crowd, area_dt, union)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[d_idx, g_idx] = np.where(union > 0, inter / union, 0.0)
    return out


def obb_polygons(obb_xywhr: Any) -> np.ndarray:
    """Oriented boxes ``(N, 5)`` (cx, cy, w, h, angle rad; ultralytics' convention) -> ``(N,)`` shapely polygons."""
    import shapely

    from yardwatch.geo import obb_px_to_corners

    corners = obb_px_to_corners(obb_xywhr)
    if len(corners) == 0:
        return np.zeros(0, dtype=object)
    return shapely.polygons(corners)


def obb_iou_matrix(obb_a: Any, obb_b: Any, *, mode: str = "iou") -> np.ndarray:
    """IoU (``mode="iou"``) or intersection over the area of ``obb_a`` (``mode="iof"``) of oriented boxes.

    Args:
        obb_a: ``(N, 5)`` (cx, cy, w, h, angle rad).
        obb_b: ``(M, 5)`` in the same frame.
        mode: ``"iou"`` or ``"iof"``.

    Returns:
        ``(N, M)`` float64.
    """
    if mode not in ("iou", "iof"):
        raise ValueError(f"mode={mode!r}: use 'iou' or 'iof'")
    poly_a, poly_b = obb_polygons(obb_a), obb_polygons(obb_b)
    crowd = np.full(len(poly_b), mode == "iof", dtype=bool)
    return polygon_iou_matrix(poly_a, poly_b, crowd)
