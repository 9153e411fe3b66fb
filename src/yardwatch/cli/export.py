"""``yardwatch export``: configuration -> :func:`yardwatch.models.export.export_model`."""

from __future__ import annotations

from typing import Any

from yardwatch.cli import _checks


def run(cfg: Any) -> None:
    from yardwatch.models.export import EXPORT_FORMATS, export_model

    weights = _checks.existing_file(cfg, "weights")
    fmt = _checks.choice(cfg, "format", tuple(EXPORT_FORMATS))
    imgsz = _checks.number(cfg, "imgsz", lo=32, integer=True, optional=True)
    int8 = _checks.flag(cfg, "int8")
    tiles = _checks.number(cfg, "calibration_tiles", lo=1, integer=True)
    path = export_model(weights, fmt, half=bool(cfg.half), dynamic=bool(cfg.dynamic), imgsz=imgsz, out_path=cfg.out,
                        int8=int8, calibration=cfg.calibration, calibration_tiles=tiles)
    print(f"exported {path} (model card: {path.with_name(path.stem + '.model_card.json')})")
