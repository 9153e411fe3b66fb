"""Scene-level evaluation: detections of whole scenes against their labels.

Frame and units. Each scene is scored in its own CRS: the predictions' CRS (labels are reprojected to it), or,
where that CRS is geographic (``crs=EPSG:4326`` output), the UTM zone of the scene, so every length is in metres.
IoU does not depend on the frame (it is a ratio of areas, unchanged by the north-up affine map between scene
pixels and CRS), but COCO's small/medium/large buckets do: COCO's 32^2 and 96^2 *pixel* thresholds would put every
railcar (about 40 m^2, 160 px at 0.5 m) in "small". The buckets here are in square metres of the object's
footprint (the label polygon's area, the detection's polygon area) with defaults chosen for these objects:
small < 20 m^2 (a 20 ft container, 6.1 x 2.44 m = 15 m^2), medium 20-60 m^2 (a 40 ft container 30 m^2, the median
railcar 40 m^2), large > 60 m^2 (long wagons, locomotives, tarp-covered loads on the ground).

A scene holds thousands of objects, so COCO's ``maxDets`` defaults to (100, 1000, 10000) per scene and class.

Besides COCO's numbers: precision, recall and F1 at the operating point (score >= ``conf``, IoU >= ``iou``,
COCO's greedy matching), the count error per scene and class (detections at the operating point minus labels), and
a confusion matrix from class-agnostic matching at the operating point.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yardwatch import CLASS_NAMES
from yardwatch.errors import ConfigError, InputError, LabelError
from yardwatch.eval.cocoeval import SceneCOCOeval, coco_stats, greedy_match, silent_coco, stat_names
from yardwatch.eval.iou import box_iou_matrix, boxes_xywh, polygon_iou_matrix
from yardwatch.eval.thresholds import DEFAULT_CONF, class_thresholds, thresholds_record, thresholds_text
from yardwatch.eval.readers import (
    DETECTION_SUFFIXES,
    LABEL_SUFFIXES,
    SceneObjects,
    list_scene_files,
    read_aois,
    read_detections,
    read_labels,
    to_crs,
)

log = logging.getLogger(__name__)

IOU_TYPE_CHOICES = ("auto", "bbox", "rotated")
DEFAULT_AREA_RANGES_M2 = (20.0, 60.0)
DEFAULT_MAX_DETS = (100, 1000, 10000)
_AREA_MAX_M2 = 1e12


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    """Scores of one class (or ``"all"``) over every scene.

    ``ap*`` are COCO numbers (None where the class has no ground truth); ``precision``, ``recall``, ``f1``, ``tp``,
    ``fp``, ``fn`` are at the operating point; ``n_pred`` counts detections at the operating point; ``count_bias``
    is the mean over scenes of (detected - labelled), ``count_mae`` the mean of its absolute value, and
    ``count_rel_error`` the total (detected - labelled) / labelled (None when nothing is labelled).
    """

    class_name: str
    ap: float | None
    ap50: float | None
    ap75: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    tp: int
    fp: int
    fn: int
    n_gt: int
    n_pred: int
    count_bias: float | None
    count_mae: float | None
    count_rel_error: float | None


@dataclass(frozen=True, slots=True)
class SceneCountError:
    """Detected minus labelled objects of one class (or ``"all"``) in one scene, at the operating point."""

    scene_id: str
    class_name: str
    n_gt: int
    n_pred: int
    error: int
    abs_error: int
    rel_error: float | None


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """What :func:`evaluate_predictions` measured.

    Attributes:
        iou_type: ``"bbox"`` (axis-aligned) or ``"rotated"`` (polygon IoU).
        conf: operating score threshold of each class, in :data:`~yardwatch.CLASS_NAMES` order.
        iou: operating IoU threshold.
        area_ranges_m2: (small/medium, medium/large) bucket limits in square metres.
        max_dets: COCO ``maxDets`` per scene and class.
        coco: the 12 COCO numbers by name (None where undefined).
        classes: one entry per class of :data:`yardwatch.CLASS_NAMES`, then ``"all"``.
        scene_counts: count errors per scene and class (and ``"all"``).
        confusion: ``(K+1, K+1)`` counts; rows true (classes, background), columns predicted.
        pr_precision50: ``(K, 101)`` interpolated precision at IoU 0.50 per class (-1 without ground truth).
        scenes: scene ids scored, with the CRS each was scored in.
        n_gt: labelled objects scored.
        n_pred: detections scored (all scores).
        files: outputs written (metrics.json and the PNGs).
    """

    iou_type: str
    conf: tuple[float, ...]
    iou: float
    area_ranges_m2: tuple[float, float]
    max_dets: tuple[int, int, int]
    coco: dict[str, float | None]
    classes: tuple[ClassMetrics, ...]
    scene_counts: tuple[SceneCountError, ...]
    confusion: tuple[tuple[int, ...], ...]
    pr_precision50: tuple[tuple[float, ...], ...]
    scenes: dict[str, str | None]
    n_gt: int
    n_pred: int
    files: tuple[str, ...] = ()

    def class_metrics(self, name: str) -> ClassMetrics:
        """The entry of class ``name`` (or ``"all"``)."""
        for entry in self.classes:
            if entry.class_name == name:
                return entry
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the content of ``metrics.json``)."""
        return {
            "iou_type": self.iou_type,
            "frame": "each scene's projected CRS (metres); geographic CRSs are moved to their UTM zone",
            "operating_point": {"conf": thresholds_record(self.conf), "iou": self.iou},
            "area_ranges_m2": {"small": [0.0, self.area_ranges_m2[0]],
                               "medium": list(self.area_ranges_m2),
                               "large": [self.area_ranges_m2[1], None]},
            "max_dets": list(self.max_dets),
            "coco": dict(self.coco),
            "classes": {c.class_name: {k: v for k, v in asdict(c).items() if k != "class_name"}
                        for c in self.classes},
            "scene_counts": [asdict(s) for s in self.scene_counts],
            "confusion": {"labels": [*CLASS_NAMES, "background"], "rows": "true", "columns": "predicted",
                          "matrix": [list(row) for row in self.confusion]},
            "scenes": dict(self.scenes),
            "n_gt": self.n_gt,
            "n_pred": self.n_pred,
        }


def _defined(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) or value < 0 else float(value)


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


def _scene_crs(dt: SceneObjects, gt: SceneObjects) -> str | None:
    """The frame a scene is scored in: the predictions' CRS, or the labels' when there are no predictions; a
    geographic CRS is replaced by the UTM zone of the objects."""
    from pyproj import CRS

    crs = dt.crs or gt.crs
    if crs is None or not CRS.from_user_input(crs).is_geographic:
        return crs
    import geopandas as gpd

    source = dt if dt.crs == crs and len(dt) else gt
    utm = gpd.GeoSeries(source.polygons, crs=crs).estimate_utm_crs()
    return utm.to_string()


def _in_aoi(objects: SceneObjects, aoi_union: Any) -> SceneObjects:
    import shapely

    if len(objects) == 0 or aoi_union is None:
        return objects
    keep = shapely.contains(aoi_union, shapely.centroid(objects.polygons))
    return SceneObjects(objects.scene_id, objects.class_ids[keep], objects.polygons[keep],
                        None if objects.scores is None else objects.scores[keep], objects.crs)


def _shift(objects: SceneObjects, origin: np.ndarray) -> SceneObjects:
    """Move polygons so the scene starts near (0, 0): metres of a UTM northing (~4.7e6) keep full precision."""
    import shapely

    if len(objects) == 0:
        return objects
    moved = shapely.transform(objects.polygons, lambda xy: xy - origin)
    return SceneObjects(objects.scene_id, objects.class_ids, moved, objects.scores, objects.crs)


def _is_axis_aligned(polygons: np.ndarray) -> bool:
    import shapely

    if len(polygons) == 0:
        return True
    area = shapely.area(polygons)
    envelope = shapely.area(shapely.envelope(polygons))
    return bool(np.all(np.abs(envelope - area) <= 1e-6 * np.maximum(envelope, 1e-12)))


def load_scene_pairs(predictions_dir: str | os.PathLike[str], labels_dir: str | os.PathLike[str], *,
                     aoi: str | os.PathLike[str] | None = None, site_column: str = "site",
                     predictions_crs: str | None = None) -> list[tuple[SceneObjects, SceneObjects]]:
    """Read every scene of ``predictions_dir`` with its labels, both in the scene's scoring frame.

    Returns:
        ``(detections, labels)`` per scene, in scene-id order, polygons shifted to a per-scene origin.

    Raises:
        InputError: no detection files, or scenes without labels (predictions and labels for different scenes).
        LabelError: no label files, or a label file that cannot be used.
    """
    pred_files = list_scene_files(predictions_dir, DETECTION_SUFFIXES, what="detection", key="predictions")
    if not pred_files:
        raise InputError(f"predictions={predictions_dir}: no detection files ({', '.join(DETECTION_SUFFIXES)}); "
                         "run `yardwatch predict ... out_dir=<folder>` and point predictions at that folder")
    label_files = list_scene_files(labels_dir, LABEL_SUFFIXES, what="label", key="labels")
    if not label_files:
        raise LabelError(f"labels={labels_dir}: no label files ({', '.join(LABEL_SUFFIXES)}); "
                         "point labels at the folder of <scene_id>.geojson label files")
    missing = sorted(set(pred_files) - set(label_files))
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        common = len(set(pred_files) & set(label_files))
        raise InputError(f"predictions and labels are for different scenes: {len(missing)} of {len(pred_files)} "
                         f"predicted scenes ({shown}) have no label file in {labels_dir} ({common} in common); "
                         "point labels at the labels of the predicted scenes")
    extra = len(set(label_files) - set(pred_files))
    if extra:
        log.info("%d label files have no predictions and are not scored", extra)
    aois = read_aois(aoi, site_column=site_column) if aoi is not None else None
    pairs = []
    for scene_id, pred_path in pred_files.items():
        dt = read_detections(pred_path, scene_id=scene_id, crs=predictions_crs)
        gt = read_labels(label_files[scene_id], scene_id=scene_id)
        crs = _scene_crs(dt, gt)
        if crs is not None:
            dt, gt = to_crs(dt, crs), to_crs(gt, crs)
        if aois is not None and crs is not None:
            union = aois.to_crs(crs).geometry.union_all()
            dt, gt = _in_aoi(dt, union), _in_aoi(gt, union)
        polygons = np.concatenate([dt.polygons, gt.polygons])
        if len(polygons):
            import shapely

            origin = np.floor(shapely.bounds(polygons)[:, :2].min(axis=0))
            dt, gt = _shift(dt, origin), _shift(gt, origin)
        pairs.append((dt, gt))
    return pairs


def _build_coco(pairs: Sequence[tuple[SceneObjects, SceneObjects]]):
    """COCO datasets (one image per scene, category id = class id + 1) and the polygons by annotation id."""
    import shapely

    images = [{"id": i + 1, "file_name": gt.scene_id} for i, (_, gt) in enumerate(pairs)]
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(CLASS_NAMES)]
    gt_anns: list[dict] = []
    dt_anns: list[dict] = []
    for image_id, (dt, gt) in enumerate(pairs, start=1):
        for objects, anns in ((gt, gt_anns), (dt, dt_anns)):
            if len(objects) == 0:
                continue
            xywh = boxes_xywh(objects.polygons).tolist()
            areas = shapely.area(objects.polygons).tolist()
            cats = (objects.class_ids + 1).tolist()
            scores = objects.scores.tolist() if objects.scores is not None else None
            start = len(anns) + 1
            for j in range(len(objects)):
                ann = {"id": start + j, "image_id": image_id, "category_id": cats[j], "bbox": xywh[j],
                       "area": areas[j], "iscrowd": 0}
                if scores is not None:
                    ann["score"] = scores[j]
                anns.append(ann)
    coco_gt = silent_coco({"images": images, "categories": categories, "annotations": gt_anns})
    coco_dt = silent_coco({"images": images, "categories": categories, "annotations": dt_anns})
    gt_polys = np.concatenate([gt.polygons for _, gt in pairs]) if pairs else np.zeros(0, object)
    dt_polys = np.concatenate([dt.polygons for dt, _ in pairs]) if pairs else np.zeros(0, object)
    return coco_gt, coco_dt, gt_polys, dt_polys


def _iou(dt_polys: np.ndarray, gt_polys: np.ndarray, iou_type: str) -> np.ndarray:
    if iou_type == "rotated":
        return polygon_iou_matrix(dt_polys, gt_polys)
    return box_iou_matrix(boxes_xywh(dt_polys), boxes_xywh(gt_polys))


def _match_at(dt_polys: np.ndarray, gt_polys: np.ndarray, iou: float, iou_type: str) -> np.ndarray:
    """Greedy COCO matching at one IoU; detections already by descending score. Returns ``(D,)`` gt index or -1."""
    ious = _iou(dt_polys, gt_polys, iou_type)
    no_flags = np.zeros(len(gt_polys), dtype=bool)
    dt_match, _ = greedy_match(ious, [iou], no_flags, no_flags)
    return dt_match[0]


def _operating_point(pairs, conf: tuple[float, ...], iou: float, iou_type: str):
    """Per-class TP/FP/FN, counts per scene and class, and the confusion matrix at the operating point
    (``conf``: a score threshold per class)."""
    n_cls = len(CLASS_NAMES)
    thresholds = np.asarray(conf, dtype=float)
    tp = np.zeros(n_cls, dtype=np.int64)
    n_pred = np.zeros((len(pairs), n_cls), dtype=np.int64)
    n_gt = np.zeros((len(pairs), n_cls), dtype=np.int64)
    confusion = np.zeros((n_cls + 1, n_cls + 1), dtype=np.int64)
    for s, (dt, gt) in enumerate(pairs):
        keep = dt.scores >= thresholds[dt.class_ids] if len(dt) else np.zeros(0, dtype=bool)
        order = np.argsort(-dt.scores[keep], kind="mergesort") if len(dt) else np.zeros(0, dtype=np.int64)
        dt_cls, dt_polys = dt.class_ids[keep][order], dt.polygons[keep][order]
        n_pred[s] = np.bincount(dt_cls, minlength=n_cls)
        n_gt[s] = np.bincount(gt.class_ids, minlength=n_cls)
        for k in range(n_cls):
            d_k, g_k = dt_cls == k, gt.class_ids == k
            if d_k.any() and g_k.any():
                tp[k] += int((_match_at(dt_polys[d_k], gt.polygons[g_k], iou, iou_type) >= 0).sum())
        match = _match_at(dt_polys, gt.polygons, iou, iou_type) if len(dt_cls) and len(gt) else \
            np.full(len(dt_cls), -1)
        matched = match >= 0
        np.add.at(confusion, (gt.class_ids[match[matched]], dt_cls[matched]), 1)
        np.add.at(confusion, (np.full((~matched).sum(), n_cls), dt_cls[~matched]), 1)
        unmatched_gt = np.ones(len(gt), dtype=bool)
        unmatched_gt[match[matched]] = False
        np.add.at(confusion, (gt.class_ids[unmatched_gt], np.full(unmatched_gt.sum(), n_cls)), 1)
    return tp, n_pred, n_gt, confusion


def _class_entry(name: str, ap: tuple[float | None, float | None, float | None], tp: int, pred: np.ndarray,
                 gt: np.ndarray) -> ClassMetrics:
    """``pred``, ``gt``: ``(S,)`` counts per scene of this class."""
    fp, fn = int(pred.sum()) - tp, int(gt.sum()) - tp
    precision = _ratio(tp, pred.sum())
    recall = _ratio(tp, gt.sum())
    f1 = _ratio(2 * tp, pred.sum() + gt.sum())
    error = (pred - gt).astype(np.float64)
    return ClassMetrics(
        class_name=name, ap=ap[0], ap50=ap[1], ap75=ap[2], precision=precision, recall=recall, f1=f1,
        tp=int(tp), fp=fp, fn=fn, n_gt=int(gt.sum()), n_pred=int(pred.sum()),
        count_bias=float(error.mean()) if len(error) else None,
        count_mae=float(np.abs(error).mean()) if len(error) else None,
        count_rel_error=_ratio(pred.sum() - gt.sum(), gt.sum()))


def evaluate_predictions(predictions_dir: str | os.PathLike[str], labels_dir: str | os.PathLike[str], *,
                         out_dir: str | os.PathLike[str] | None = None,
                         conf: float | Mapping[str, float] = DEFAULT_CONF, iou: float = 0.5,
                         iou_type: str = "auto",
                         area_ranges_m2: Sequence[float] = DEFAULT_AREA_RANGES_M2,
                         max_dets: Sequence[int] = DEFAULT_MAX_DETS,
                         aoi: str | os.PathLike[str] | None = None, site_column: str = "site",
                         predictions_crs: str | None = None, write: bool = True,
                         plots: bool = True) -> EvaluationResult:
    """Score the detections of whole scenes against their labels.

    Args:
        predictions_dir: folder of ``<scene_id>.{geojson,gpkg,parquet,csv}`` detection files (``yardwatch predict``).
        labels_dir: folder of ``<scene_id>.geojson`` (or gpkg/shp/parquet) label polygons, any CRS.
        out_dir: where ``metrics.json`` and the PNGs go (default: ``predictions_dir``).
        conf: operating score threshold for precision/recall/F1, counts and the confusion matrix: one for all
            classes, or per class name (others get :data:`~yardwatch.eval.thresholds.DEFAULT_CONF`).
        iou: operating IoU threshold.
        iou_type: ``"bbox"`` (axis-aligned boxes), ``"rotated"`` (polygon IoU) or ``"auto"`` (rotated when any
            detection is not an axis-aligned box).
        area_ranges_m2: the two limits between small/medium and medium/large, square metres.
        max_dets: three ascending COCO ``maxDets`` per scene and class.
        aoi: optional vector file; only objects whose centroid lies in one of its polygons are scored.
        site_column: the AOI file's site column.
        predictions_crs: CRS of CSV detections that carry no ``crs`` column.
        write: write ``metrics.json`` (and the PNGs when ``plots``).
        plots: draw ``pr_curves.png`` and ``confusion_matrix.png``.

    Raises:
        ConfigError: a bad threshold, area range or ``maxDets``.
        InputError, LabelError: unusable inputs (named in the message).
    """
    if iou_type not in IOU_TYPE_CHOICES:
        raise ConfigError(f"iou_type={iou_type!r} is not one of {', '.join(IOU_TYPE_CHOICES)}")
    thresholds = class_thresholds(conf)
    if not 0.0 < iou <= 1.0:
        raise ConfigError(f"iou={iou}: need 0 < iou <= 1")
    small_m2, large_m2 = (float(a) for a in area_ranges_m2)
    if not 0.0 < small_m2 < large_m2:
        raise ConfigError(f"area_ranges_m2={list(area_ranges_m2)}: need two increasing positive limits, e.g. [20, 60]")
    max_dets = tuple(int(m) for m in max_dets)
    if len(max_dets) != 3 or list(max_dets) != sorted(max_dets) or max_dets[0] < 1:
        raise ConfigError(f"max_dets={list(max_dets)}: need three ascending positive numbers, e.g. [100, 1000, 10000]")

    pairs = load_scene_pairs(predictions_dir, labels_dir, aoi=aoi, site_column=site_column,
                             predictions_crs=predictions_crs)
    all_dt = np.concatenate([dt.polygons for dt, _ in pairs])
    if iou_type == "auto":
        iou_type = "bbox" if _is_axis_aligned(all_dt) else "rotated"
    log.info("scoring %d scenes (%d detections, %d labels) with %s IoU", len(pairs), len(all_dt),
             sum(len(gt) for _, gt in pairs), iou_type)

    coco_gt, coco_dt, gt_polys, dt_polys = _build_coco(pairs)
    evaluator = SceneCOCOeval(coco_gt, coco_dt, iou_type=iou_type, gt_polygons=gt_polys, dt_polygons=dt_polys)
    evaluator.params.maxDets = list(max_dets)
    evaluator.params.areaRng = [[0.0, _AREA_MAX_M2], [0.0, small_m2], [small_m2, large_m2], [large_m2, _AREA_MAX_M2]]
    evaluator.evaluate()
    evaluator.accumulate()
    stats = coco_stats(evaluator)
    precision = evaluator.eval["precision"]  # (T, R, K, A, M)
    iou_thrs = evaluator.params.iouThrs

    def class_ap(k: int, iou_at: float | None) -> float | None:
        s = precision[:, :, k, 0, -1] if iou_at is None else precision[np.isclose(iou_thrs, iou_at)][:, :, k, 0, -1]
        kept = s[s > -1]
        return float(kept.mean()) if kept.size else None

    tp, n_pred, n_gt, confusion = _operating_point(pairs, thresholds, iou, iou_type)
    classes = [_class_entry(name, (class_ap(k, None), class_ap(k, 0.5), class_ap(k, 0.75)), int(tp[k]),
                            n_pred[:, k], n_gt[:, k]) for k, name in enumerate(CLASS_NAMES)]
    coco = {name: _defined(v) for name, v in zip(stat_names(max_dets), stats.tolist())}
    classes.append(_class_entry("all", (coco["AP"], coco["AP50"], coco["AP75"]), int(tp.sum()),
                                n_pred.sum(axis=1), n_gt.sum(axis=1)))
    scene_counts = []
    for s, (_, gt) in enumerate(pairs):
        for name, pred_n, gt_n in [*zip(CLASS_NAMES, n_pred[s].tolist(), n_gt[s].tolist()),
                                   ("all", int(n_pred[s].sum()), int(n_gt[s].sum()))]:
            scene_counts.append(SceneCountError(gt.scene_id, name, gt_n, pred_n, pred_n - gt_n, abs(pred_n - gt_n),
                                                _ratio(pred_n - gt_n, gt_n)))
    pr50 = precision[np.isclose(iou_thrs, 0.5)][0, :, :, 0, -1].T  # (K, R)
    result = EvaluationResult(
        iou_type=iou_type, conf=thresholds, iou=float(iou), area_ranges_m2=(small_m2, large_m2),
        max_dets=max_dets, coco=coco, classes=tuple(classes), scene_counts=tuple(scene_counts),
        confusion=tuple(tuple(int(v) for v in row) for row in confusion),
        pr_precision50=tuple(tuple(float(v) for v in row) for row in pr50),
        scenes={gt.scene_id: (dt.crs or gt.crs) for dt, gt in pairs},
        n_gt=int(len(gt_polys)), n_pred=int(len(dt_polys)))
    if not write:
        return result
    return write_evaluation(result, Path(out_dir) if out_dir is not None else Path(predictions_dir), plots=plots)


def write_evaluation(result: EvaluationResult, out_dir: str | os.PathLike[str], *,
                     plots: bool = True) -> EvaluationResult:
    """Write ``metrics.json`` (and ``pr_curves.png``, ``confusion_matrix.png``) to ``out_dir``.

    Returns:
        ``result`` with ``files`` naming what was written.
    """
    from dataclasses import replace

    from yardwatch.eval.outputs import write_json_atomic
    from yardwatch.eval.plots import plot_confusion_matrix, plot_pr_curves

    out = Path(out_dir)
    files = []
    if plots:
        recall_points = np.linspace(0.0, 1.0, 101)
        ap50 = [c.ap50 for c in result.classes if c.class_name != "all"]
        files.append(plot_pr_curves(recall_points, np.asarray(result.pr_precision50), CLASS_NAMES, ap50,
                                    out / "pr_curves.png"))
        files.append(plot_confusion_matrix(np.asarray(result.confusion), CLASS_NAMES, out / "confusion_matrix.png",
                                           conf=thresholds_text(result.conf), iou=result.iou))
    files.insert(0, write_json_atomic(out / "metrics.json", result.to_dict()))
    return replace(result, files=tuple(str(f) for f in files))


def format_metrics_table(result: EvaluationResult) -> str:
    """A plain-text table of ``result`` for a terminal: COCO numbers, operating point and counts per class."""

    def num(value: float | None, width: int = 7) -> str:
        return f"{'-':>{width}}" if value is None else f"{value:>{width}.3f}"

    header = (f"{'class':<10}{'AP':>7}{'AP50':>7}{'AP75':>7}{'P':>7}{'R':>7}{'F1':>7}{'labels':>8}{'found':>8}"
              f"{'bias':>8}{'MAE':>7}{'rel':>7}")
    lines = [f"{len(result.scenes)} scenes, {result.n_gt} labels, {result.n_pred} detections; {result.iou_type} IoU; "
             f"operating point score >= {thresholds_text(result.conf)}, IoU >= {result.iou:g}",
             header, "-" * len(header)]
    for c in result.classes:
        lines.append(f"{c.class_name:<10}{num(c.ap)}{num(c.ap50)}{num(c.ap75)}{num(c.precision)}{num(c.recall)}"
                     f"{num(c.f1)}{c.n_gt:>8d}{c.n_pred:>8d}{num(c.count_bias, 8)}{num(c.count_mae)}"
                     f"{num(c.count_rel_error)}")
    coco = result.coco
    lines.append("COCO: " + "  ".join(f"{k}={'-' if v is None else f'{v:.3f}'}" for k, v in coco.items()))
    lines.append(f"areas (m^2): small < {result.area_ranges_m2[0]:g} <= medium < {result.area_ranges_m2[1]:g} <= large")
    return "\n".join(lines)
