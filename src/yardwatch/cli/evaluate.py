"""``yardwatch evaluate``: score scene-level detections against labels, write metrics.json, print a table."""

from __future__ import annotations

from typing import Any

from yardwatch.cli import _checks
from yardwatch.errors import ConfigError


def number_list(cfg: Any, key: str, length: int, *, integer: bool = False) -> list[float]:
    """Read ``cfg[key]`` as ``length`` ascending positive numbers."""
    values = cfg.get(key)
    try:
        items = list(values)
    except TypeError:
        items = None
    if items is None or len(items) != length:
        raise ConfigError(f"{key}={values!r} must be a list of {length} numbers, e.g. {key}=[...]")
    checked = [_checks.number({key: v}, key, lo=0, lo_open=True, integer=integer) for v in items]
    if checked != sorted(checked) or len(set(checked)) != len(checked):
        raise ConfigError(f"{key}={items} must be increasing")
    return checked


def run(cfg: Any) -> None:
    """Validate the config, evaluate, print the table and where the files went."""
    from yardwatch.eval.metrics import IOU_TYPE_CHOICES, evaluate_predictions, format_metrics_table

    predictions = _checks.folder(cfg, "predictions", "detection files (yardwatch predict out_dir)")
    labels = _checks.folder(cfg, "labels", "<scene_id>.geojson label files")
    out_dir = _checks.output_dir(cfg, "out_dir") if cfg.get("out_dir") not in (None, "") else predictions
    result = evaluate_predictions(
        predictions, labels, out_dir=out_dir,
        conf=_checks.score_thresholds(cfg, "conf", predictions),
        iou=_checks.number(cfg, "iou", lo=0, hi=1, lo_open=True),
        iou_type=_checks.choice(cfg, "iou_type", IOU_TYPE_CHOICES),
        area_ranges_m2=number_list(cfg, "area_ranges_m2", 2),
        max_dets=number_list(cfg, "max_dets", 3, integer=True),
        aoi=_checks.existing_file(cfg, "aoi", optional=True),
        site_column=str(cfg.get("site_column") or "site"),
        predictions_crs=cfg.get("predictions_crs") or None,
        plots=bool(cfg.get("plots", True)),
    )
    print(format_metrics_table(result))
    print("wrote " + ", ".join(result.files))
