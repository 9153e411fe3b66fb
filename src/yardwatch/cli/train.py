"""``yardwatch train``: check the config, then one call to :func:`yardwatch.train.train_detector`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yardwatch.cli import _checks
from yardwatch.errors import ConfigError


def _container(cfg: Any, key: str) -> Any:
    from omegaconf import OmegaConf

    node = cfg.get(key)
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def build_config(cfg: Any):
    """Turn the composed Hydra config into a checked :class:`yardwatch.train.TrainConfig`.

    Raises:
        ConfigError: a missing or out-of-range key, an unknown transform, a model option of another task.
    """
    from yardwatch.models.loader import OBB_ANGLES
    from yardwatch.models.obb_targets import OBB_BOX_TARGETS
    from yardwatch.train import TrainConfig, make_augment_spec, ultralytics_device
    from yardwatch.train.run import check_config

    task = _checks.choice(cfg, "task", ("detect", "obb"))
    if cfg.get("data") in (None, ""):
        raise ConfigError("data is required; pass data=<dataset folder>/dataset.yaml (made by `yardwatch tile`)")
    out_dir = _checks.output_dir(cfg, "out_dir")
    model_cfg = cfg.get("model") or {}
    if model_cfg.get("task") not in (None, task):
        raise ConfigError(f"model={model_cfg.get('name')} is a task={model_cfg.get('task')} model but task={task}; "
                          f"set task={model_cfg.get('task')} or pick a model without -obb")
    weights = _checks.existing_file(cfg, "weights", optional=True)
    augment = _container(cfg, "augment") or {}
    if not isinstance(augment, dict):
        raise ConfigError("augment must be a config group option (augment=overhead|light|none)")
    spec = make_augment_spec(augment.get("albumentations") or [], augment.get("ultralytics") or {})
    device = _container(cfg, "device")
    device = "auto" if device is None else device
    ultralytics_device(device)  # DeviceError now, before the dataset is read
    imgsz = _checks.number(cfg, "imgsz", lo=32, integer=True, optional=True)
    if imgsz is not None and imgsz % 32:
        raise ConfigError(f"imgsz={imgsz}: must be a multiple of 32 (the network stride)")
    config = TrainConfig(
        data=Path(str(cfg.data)).expanduser(), out_dir=out_dir, task=task,
        model=str(weights) if weights else str(model_cfg.get("name", "yolov8n")),
        epochs=_checks.number(cfg, "epochs", lo=1, integer=True),
        imgsz=imgsz,
        batch=_checks.number(cfg, "batch", lo=1, integer=True),
        device=",".join(map(str, device)) if isinstance(device, list) else str(device),
        workers=_checks.number(cfg, "workers", lo=0, integer=True),
        seed=_checks.number(cfg, "seed", lo=0, integer=True),
        patience=_checks.number(cfg, "patience", lo=1, integer=True),
        resume=bool(cfg.get("resume", False)), overwrite=bool(cfg.get("overwrite", False)),
        augment=spec, trainer=_container(cfg, "trainer") or {},
        nested_iou=_checks.number(cfg, "nested_iou", lo=0.0, hi=1.0, lo_open=True, optional=True),
        channels_last=_checks.flag(cfg, "channels_last"),
        obb_angle=_checks.choice(cfg, "obb_angle", OBB_ANGLES),
        obb_box_targets=_checks.choice(cfg, "obb_box_targets", OBB_BOX_TARGETS))
    check_config(config)
    return config


def run(cfg: Any) -> None:
    """Train and print where the run went and its validation mAP50 per class."""
    from yardwatch.train import train_detector

    result = train_detector(build_config(cfg))
    print(f"run: {result.out_dir}")
    print(f"weights: {result.best_weights}")
    print(f"model card: {result.card_path}")
    for name, row in result.metrics.get("per_class", {}).items():
        print(f"  {name:<10} mAP50 {row['mAP50']:.3f}" if row else f"  {name:<10} (no validation objects)")
