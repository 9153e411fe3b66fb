"""The COCO protocol at scene scale: pycocotools' evaluator with a rotated IoU and a sparse greedy matcher.

:class:`SceneCOCOeval` subclasses pycocotools' ``COCOeval`` and changes two methods; ``evaluate``,
``accumulate`` (101-point interpolated precision) and the index classes stay pycocotools' own.

- ``computeIoU``: for ``iou_type="rotated"`` the IoU of the annotations' polygons (shapely, see
  :mod:`yardwatch.eval.iou`) instead of their axis-aligned boxes; for ``"bbox"`` pycocotools' own.
- ``evaluateImg``: the same greedy matching, decision for decision (same order, same ties, same crowd and ignore
  rules), but over each detection's candidate ground truth (IoU >= the lowest threshold) rather than over every
  ground-truth object. pycocotools loops in Python over thresholds x detections x ground truth; a COCO image has
  a few dozen objects, a satellite scene has thousands, and that loop alone would take minutes per scene. The
  output dictionaries are identical to pycocotools' (tests compare them entry by entry), so ``accumulate``
  computes the same numbers.

:func:`coco_stats` computes the 12 summary numbers from ``eval`` the way pycocotools' ``summarize`` does, without
printing, and at the largest ``maxDets`` for AP (``summarize`` hard-codes 100 for the first one, which is only
right for COCO's default ``maxDets``).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from yardwatch.eval.iou import polygon_iou_matrix

IOU_TYPES = ("bbox", "rotated")


def greedy_match(ious: np.ndarray, iou_thresholds: Sequence[float], gt_ignore: Sequence[bool] | np.ndarray,
                 gt_crowd: Sequence[bool] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO's greedy matching of detections to ground truth, at several IoU thresholds.

    Detections are taken in row order (callers sort them by score, highest first). Each takes the unmatched
    ground truth with the highest IoU >= the threshold (the later one on ties), preferring ground truth that is
    not ignored; crowd ground truth can be taken many times. Ground truth must be ordered with ignored objects
    last, as pycocotools orders it.

    Args:
        ious: ``(D, G)`` IoU, detections by descending score x ground truth (ignored last).
        iou_thresholds: ``(T,)`` thresholds.
        gt_ignore: ``(G,)`` ignore flags (crowd or outside the area range).
        gt_crowd: ``(G,)`` crowd flags.

    Returns:
        ``dt_match`` ``(T, D)`` index of the matched ground truth or -1, and ``gt_match`` ``(T, G)`` index of the
        matched detection or -1.
    """
    ious = np.asarray(ious, dtype=np.float64)
    n_dt, n_gt = ious.shape if ious.ndim == 2 else (0, 0)
    thresholds = [min(float(t), 1 - 1e-10) for t in iou_thresholds]
    dt_match = np.full((len(thresholds), n_dt), -1, dtype=np.int64)
    gt_match = np.full((len(thresholds), n_gt), -1, dtype=np.int64)
    if n_dt == 0 or n_gt == 0 or not thresholds:
        return dt_match, gt_match
    rows, cols = np.nonzero(ious >= min(thresholds))
    if len(rows) == 0:
        return dt_match, gt_match
    values = ious[rows, cols].tolist()
    cols_list = cols.tolist()
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]).tolist() + [len(rows)]
    row_of_group = rows[starts[:-1]].tolist()
    ignore = [bool(v) for v in np.asarray(gt_ignore).tolist()]
    crowd = [bool(v) for v in np.asarray(gt_crowd).tolist()]
    taken = [[False] * n_gt for _ in thresholds]
    dt_rows: list[list[int]] = [[-1] * n_dt for _ in thresholds]
    gt_rows: list[list[int]] = [[-1] * n_gt for _ in thresholds]
    for group, d in enumerate(row_of_group):
        candidates = list(zip(cols_list[starts[group]:starts[group + 1]], values[starts[group]:starts[group + 1]]))
        for t_index, threshold in enumerate(thresholds):
            taken_t = taken[t_index]
            best, best_iou = -1, threshold
            # The same three tests, in the same order, as pycocotools' evaluateImg; ground truth below the
            # lowest threshold cannot pass the IoU test, and skipping it cannot change a break (see module doc).
            for g, value in candidates:
                if taken_t[g] and not crowd[g]:
                    continue
                if best > -1 and not ignore[best] and ignore[g]:
                    break
                if value < best_iou:
                    continue
                best, best_iou = g, value
            if best > -1:
                dt_rows[t_index][d] = best
                gt_rows[t_index][best] = d
                taken_t[best] = True
    return np.asarray(dt_rows, dtype=np.int64), np.asarray(gt_rows, dtype=np.int64)


def _lookup(polygons: np.ndarray | Mapping[int, Any], ann_ids: list[int]) -> np.ndarray:
    if isinstance(polygons, np.ndarray):
        return polygons[np.asarray(ann_ids, dtype=np.int64) - 1]
    out = np.empty(len(ann_ids), dtype=object)
    out[:] = [polygons[i] for i in ann_ids]
    return out


class SceneCOCOeval(COCOeval):
    """pycocotools' ``COCOeval`` for boxes with a polygon IoU option and a sparse, equivalent matcher.

    Args:
        coco_gt: ground truth ``COCO``.
        coco_dt: detections ``COCO``.
        iou_type: ``"bbox"`` (axis-aligned, pycocotools' IoU) or ``"rotated"`` (polygon IoU).
        gt_polygons: for ``"rotated"``, shapely polygons of ``coco_gt``'s annotations: an array indexed by
            ``annotation id - 1``, or a mapping from annotation id.
        dt_polygons: likewise for ``coco_dt``.
    """

    def __init__(self, coco_gt: COCO, coco_dt: COCO, *, iou_type: str = "bbox",
                 gt_polygons: np.ndarray | Mapping[int, Any] | None = None,
                 dt_polygons: np.ndarray | Mapping[int, Any] | None = None) -> None:
        if iou_type not in IOU_TYPES:
            raise ValueError(f"iou_type={iou_type!r}: use one of {IOU_TYPES}")
        if iou_type == "rotated" and (gt_polygons is None or dt_polygons is None):
            raise ValueError("iou_type='rotated' needs gt_polygons and dt_polygons")
        super().__init__(coco_gt, coco_dt, "bbox")
        self.iou_type = iou_type
        self._gt_polygons = gt_polygons
        self._dt_polygons = dt_polygons
        self._prepared: dict[tuple[int, int], dict[str, Any]] = {}

    def evaluate(self) -> None:
        """pycocotools' ``evaluate``, with its progress prints silenced."""
        self._prepared = {}
        with contextlib.redirect_stdout(io.StringIO()):
            super().evaluate()
        self._prepared = {}

    def accumulate(self, p: Any = None) -> None:
        """pycocotools' ``accumulate``, silenced."""
        with contextlib.redirect_stdout(io.StringIO()):
            super().accumulate(p)

    def _sorted_dt(self, img_id: int, cat_id: int) -> list[dict]:
        dt = self._dts[img_id, cat_id]
        order = np.argsort([-d["score"] for d in dt], kind="mergesort")
        return [dt[i] for i in order[: self.params.maxDets[-1]]]

    def computeIoU(self, imgId: int, catId: int):  # noqa: N802, N803 - pycocotools' names
        if self.iou_type == "bbox" or not self.params.useCats:
            return super().computeIoU(imgId, catId)
        gt = self._gts[imgId, catId]
        dt = self._sorted_dt(imgId, catId)
        if len(gt) == 0 or len(dt) == 0:  # pycocotools' mask.iou gives [] here too
            return []
        gt_polys = _lookup(self._gt_polygons, [g["id"] for g in gt])
        dt_polys = _lookup(self._dt_polygons, [d["id"] for d in dt])
        crowd = np.array([bool(g["iscrowd"]) for g in gt], dtype=bool)
        return polygon_iou_matrix(dt_polys, gt_polys, crowd)

    def _prepare_pair(self, img_id: int, cat_id: int) -> dict[str, Any]:
        """Per (image, category) arrays that do not depend on the area range, computed once."""
        key = (img_id, cat_id)
        if key not in self._prepared:
            gt = self._gts[key]
            dt = self._sorted_dt(img_id, cat_id)
            self._prepared[key] = {
                "gt_ids": np.array([g["id"] for g in gt], dtype=np.int64),
                "gt_area": np.array([g["area"] for g in gt], dtype=np.float64),
                "gt_flag": np.array([bool(g["ignore"]) for g in gt], dtype=bool),
                "gt_crowd": np.array([bool(g["iscrowd"]) for g in gt], dtype=bool),
                "dt_ids": [d["id"] for d in dt],
                "dt_scores": [d["score"] for d in dt],
                "dt_area": np.array([d["area"] for d in dt], dtype=np.float64),
            }
        return self._prepared[key]

    def evaluateImg(self, imgId: int, catId: int, aRng: Sequence[float], maxDet: int):  # noqa: N802, N803
        p = self.params
        if not p.useCats:
            return super().evaluateImg(imgId, catId, aRng, maxDet)
        if len(self._gts[imgId, catId]) == 0 and len(self._dts[imgId, catId]) == 0:
            return None
        prep = self._prepare_pair(imgId, catId)
        gt_ignore = prep["gt_flag"] | (prep["gt_area"] < aRng[0]) | (prep["gt_area"] > aRng[1])
        gt_order = np.argsort(gt_ignore, kind="mergesort")
        gt_ignore_sorted = gt_ignore[gt_order].astype(np.int64)
        gt_ids = prep["gt_ids"][gt_order]
        dt_ids = prep["dt_ids"][:maxDet]
        n_thr, n_gt, n_dt = len(p.iouThrs), len(gt_ids), len(dt_ids)
        dtm = np.zeros((n_thr, n_dt))
        gtm = np.zeros((n_thr, n_gt))
        dt_ignore = np.zeros((n_thr, n_dt), dtype=bool)
        ious = self.ious[imgId, catId]
        if len(ious) > 0 and n_gt > 0 and n_dt > 0:
            ious_sorted = np.asarray(ious)[:n_dt][:, gt_order]
            dt_match, gt_match = greedy_match(ious_sorted, p.iouThrs, gt_ignore_sorted, prep["gt_crowd"][gt_order])
            matched = dt_match >= 0
            dtm[matched] = gt_ids[dt_match[matched]]
            dt_ignore[matched] = gt_ignore_sorted[dt_match[matched]] > 0
            gt_matched = gt_match >= 0
            gtm[gt_matched] = np.asarray(dt_ids, dtype=np.int64)[gt_match[gt_matched]]
        dt_area = prep["dt_area"][:maxDet]
        outside = ((dt_area < aRng[0]) | (dt_area > aRng[1])).reshape(1, n_dt)
        dt_ignore = np.logical_or(dt_ignore, np.logical_and(dtm == 0, np.repeat(outside, n_thr, 0)))
        return {
            "image_id": imgId,
            "category_id": catId,
            "aRng": aRng,
            "maxDet": maxDet,
            "dtIds": list(dt_ids),
            "gtIds": gt_ids.tolist(),
            "dtMatches": dtm,
            "gtMatches": gtm,
            "dtScores": prep["dt_scores"][:maxDet],
            "gtIgnore": gt_ignore_sorted,
            "dtIgnore": dt_ignore,
        }


def stat_names(max_dets: Sequence[int]) -> tuple[str, ...]:
    """Names of the 12 numbers of :func:`coco_stats` for ``max_dets`` (three values, ascending)."""
    m0, m1, m2 = (int(m) for m in max_dets)
    return ("AP", "AP50", "AP75", "APs", "APm", "APl", f"AR{m0}", f"AR{m1}", f"AR{m2}", "ARs", "ARm", "ARl")


def coco_stats(evaluator: COCOeval) -> np.ndarray:
    """The 12 COCO summary numbers of an accumulated evaluator (-1 where nothing could be scored).

    Same formula as pycocotools' ``summarize`` (mean of the entries > -1), except that AP over IoU 0.50:0.95 is
    taken at the largest ``maxDets`` like the other AP numbers (``summarize`` uses a literal 100).
    """
    p = evaluator.params
    if len(p.maxDets) != 3 or list(p.areaRngLbl) != ["all", "small", "medium", "large"]:
        raise ValueError("coco_stats needs three maxDets and the area ranges all, small, medium, large")
    precision, recall = evaluator.eval["precision"], evaluator.eval["recall"]

    def mean_of(values: np.ndarray) -> float:
        kept = values[values > -1]
        return float(np.mean(kept)) if kept.size else -1.0

    def ap(iou: float | None = None, area: int = 0, m: int = 2) -> float:
        s = precision if iou is None else precision[np.where(np.isclose(p.iouThrs, iou))[0]]
        return mean_of(s[:, :, :, area, m])

    def ar(area: int = 0, m: int = 2) -> float:
        return mean_of(recall[:, :, area, m])

    return np.array([ap(), ap(0.5), ap(0.75), ap(area=1), ap(area=2), ap(area=3),
                     ar(m=0), ar(m=1), ar(m=2), ar(area=1), ar(area=2), ar(area=3)])


def silent_coco(dataset: dict) -> COCO:
    """A pycocotools ``COCO`` index over ``dataset`` (a dict in COCO's format), without its prints."""
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def evaluate_coco_files(gt_json: str, dt_json: str, *, iou_type: str = "bbox") -> dict[str, float]:
    """Evaluate a COCO ground-truth file and a COCO results file with default COCO parameters.

    For ``iou_type="rotated"`` the boxes become polygons and the polygon IoU is used, which must give the same
    numbers as ``"bbox"`` on axis-aligned boxes.

    Returns:
        The 12 summary numbers by name (``AP``, ``AP50``, ..., ``ARl``).
    """
    import json

    import shapely

    with open(gt_json, encoding="utf-8") as fh:
        gt_dataset = json.load(fh)
    with open(dt_json, encoding="utf-8") as fh:
        results = json.load(fh)
    coco_gt = silent_coco(gt_dataset)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(results)
    gt_polys = dt_polys = None
    if iou_type == "rotated":
        def polys(coco: COCO) -> dict[int, Any]:
            return {ann_id: shapely.box(ann["bbox"][0], ann["bbox"][1], ann["bbox"][0] + ann["bbox"][2],
                                        ann["bbox"][1] + ann["bbox"][3]) for ann_id, ann in coco.anns.items()}

        gt_polys, dt_polys = polys(coco_gt), polys(coco_dt)
    evaluator = SceneCOCOeval(coco_gt, coco_dt, iou_type=iou_type, gt_polygons=gt_polys, dt_polygons=dt_polys)
    evaluator.evaluate()
    evaluator.accumulate()
    return dict(zip(stat_names(evaluator.params.maxDets), coco_stats(evaluator).tolist()))
