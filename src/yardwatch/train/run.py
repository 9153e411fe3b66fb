"""``train_detector``: ultralytics training from a checked dataset into a self-describing run folder.

A run folder holds ``weights/best.pt`` and ``weights/last.pt`` (ultralytics checkpoints), ``model_card.json`` (what
inference needs: task, classes, tile size, gsd_m, normalisation, plus how and on what the model was trained),
``metrics.json`` (validation metrics overall and per class, training throughput), the resolved ``dataset.yaml``
and ultralytics' own ``results.csv`` and plots. The card and metrics are written last and atomically, so a folder
with a ``model_card.json`` is a finished run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import platform
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yardwatch import CLASS_NAMES, __version__
from yardwatch.errors import ConfigError, DeviceError, InputError, ModelError, OutputError
from yardwatch.models.card import ModelCard, file_sha256, write_card
from yardwatch.models.loader import (EMBEDDED_CARD_KEY, OBB_ANGLES, build_yolo, cache_dir, ensure_offline, model_yaml,
                                     write_cache_text)
from yardwatch.models.nested import DEFAULT_NESTED_IOU, NestedTargetsCallback
from yardwatch.models.obb_targets import OBB_BOX_TARGETS, AlignedBoxTargetsCallback
from yardwatch.models.training import (ChannelsLastCallback, CpuBf16Callback, channels_last_supported,
                                       check_amp_name, run_training, training_precision, ultralytics_amp,
                                       ultralytics_version, validate)
from yardwatch.train.augment import AugmentSpec, build_albumentations
from yardwatch.train.dataset import DatasetInfo, read_dataset

log = logging.getLogger(__name__)

TASKS = ("detect", "obb")
# What a yardwatch run folder holds (ultralytics' files and yardwatch's own).
_RUN_FILES = frozenset({"weights", "model_card.json", "metrics.json", "results.csv", "results.png", "args.yaml",
                        "dataset.yaml", "val"})
# Options of ultralytics' trainer that yardwatch passes through (the `trainer/` config group), with their types.
TRAINER_OPTIONS: dict[str, type | tuple[type, ...]] = {
    "optimizer": str, "lr0": float, "lrf": float, "momentum": float, "weight_decay": float,
    "warmup_epochs": float, "warmup_bias_lr": float, "cos_lr": bool, "amp": (bool, str), "cache": (bool, str),
    "plots": bool, "deterministic": bool, "rect": bool, "nbs": int, "val": bool, "save_period": int, "fraction": float,
    "multi_scale": float, "time": float, "cls_pw": float,
}
# Ranges of the numeric ones: (low, high, low excluded).
_TRAINER_RANGES: dict[str, tuple[float, float, bool]] = {
    "lr0": (0.0, 1.0, True), "lrf": (0.0, 1.0, True), "momentum": (0.0, 1.0, False),
    "weight_decay": (0.0, 1.0, False), "warmup_epochs": (0.0, 1000.0, False),
    "warmup_bias_lr": (0.0, 1.0, False), "nbs": (1, 1_000_000, False),
    "save_period": (-1, 1_000_000, False), "fraction": (0.0, 1.0, True), "multi_scale": (0.0, 1.0, False),
    "time": (0.0, 10_000.0, True), "cls_pw": (0.0, 1.0, False),
}


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """One training run, as plain values.

    Attributes:
        data: the dataset.yaml written by ``yardwatch tile`` (or its folder).
        out_dir: the run folder to create (weights, card, metrics, plots go here).
        task: ``detect`` (axis-aligned boxes) or ``obb`` (oriented boxes).
        model: an architecture name (``yolov8n``, ``yolo11n``, ...; built from ultralytics' YAML, no download), or
            a ``.pt`` checkpoint to fine-tune.
        epochs: training epochs.
        imgsz: network input size in pixels; None takes the dataset's tile size.
        batch: images per batch (summed over GPUs under DDP).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``, or ``0,1,2,3`` for DDP over those GPUs.
        workers: data loader worker processes (per GPU under DDP).
        seed: random seed (weights init, augmentation, data order).
        patience: stop after this many epochs without a better validation fitness.
        resume: continue the interrupted run in ``out_dir`` from ``weights/last.pt``.
        overwrite: allow writing into an ``out_dir`` that already holds a finished run.
        augment: albumentations pipeline and ultralytics augmentation knobs.
        trainer: further ultralytics trainer options (keys of :data:`TRAINER_OPTIONS`).
        check_classes: require the dataset's classes to be yardwatch's (railcar, tarp, container) in order.
        nested_iou: objects of two classes whose boxes overlap by this IoU (a tarp on its flatcar) both get class
            targets at their shared anchors (``yardwatch.models.nested``); None keeps ultralytics' one class per
            anchor, which teaches the network to suppress the tarp.
        channels_last: train in channels-last (NHWC) memory, on the CPU too (ultralytics does it on CUDA only);
            measured faster on CPU (``scripts/bench_train.py``), the same weights format. Ignored on MPS.
        obb_angle: the oriented-box head built for an architecture name: ``sigmoid`` (YOLOv8/YOLO11's own, the
            angle squashed into [-pi/4, 3pi/4); the shipped demo weights') or ``periodic`` (the angle unbounded, as
            YOLO26's head; fewer boxes at wrong headings near -45 degrees, no better overall in the demo recipe: see
            :func:`yardwatch.models.loader.periodic_obb_yaml`). Ignored for task detect and for ``.pt`` weights.
        obb_box_targets: task obb: ``canonical`` (ultralytics' box targets, whose distances follow the label's
            angle in [-pi/4, 3pi/4), so the loss jumps where that angle wraps) or ``aligned`` (each target's angle
            moved by a multiple of pi to the predicted one: the same box, a loss periodic in the angle;
            :mod:`yardwatch.models.obb_targets`). Ignored for task detect.
    """

    data: Path
    out_dir: Path
    task: str = "obb"
    model: str = "yolov8n"
    epochs: int = 100
    imgsz: int | None = None
    batch: int = 16
    device: str = "auto"
    workers: int = 2
    seed: int = 0
    patience: int = 50
    resume: bool = False
    overwrite: bool = False
    augment: AugmentSpec = field(default_factory=AugmentSpec)
    trainer: Mapping[str, Any] = field(default_factory=dict)
    check_classes: bool = True
    nested_iou: float | None = DEFAULT_NESTED_IOU
    channels_last: bool = True
    obb_angle: str = "sigmoid"
    obb_box_targets: str = "canonical"

    def to_dict(self) -> dict[str, Any]:
        return {"data": str(self.data), "out_dir": str(self.out_dir), "task": self.task, "model": self.model,
                "epochs": self.epochs, "imgsz": self.imgsz, "batch": self.batch, "device": self.device,
                "workers": self.workers, "seed": self.seed, "patience": self.patience, "resume": self.resume,
                "augment": self.augment.to_dict(), "trainer": dict(self.trainer),
                "nested_iou": self.nested_iou, "channels_last": self.channels_last, "obb_angle": self.obb_angle,
                "obb_box_targets": self.obb_box_targets}


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What a finished run produced.

    Attributes:
        out_dir: the run folder.
        best_weights: ``out_dir/weights/best.pt`` (the model card is embedded under ``yardwatch_model_card``).
        last_weights: ``out_dir/weights/last.pt`` (for ``resume``).
        card_path: ``out_dir/model_card.json``.
        metrics_path: ``out_dir/metrics.json``.
        card: the model card.
        metrics: the content of ``metrics.json``.
    """

    out_dir: Path
    best_weights: Path
    last_weights: Path
    card_path: Path
    metrics_path: Path
    card: ModelCard
    metrics: dict[str, Any]


def ultralytics_device(spec: str | int | list | tuple | None) -> str:
    """Turn a yardwatch device spec into ultralytics' device string (``cpu``, ``mps``, ``0`` or ``0,1,2,3``).

    Raises:
        DeviceError: a CUDA or MPS device is asked for and is not there.
        ConfigError: the spec is not a device.
    """
    import torch

    if isinstance(spec, (list, tuple)):
        spec = ",".join(str(s) for s in spec)
    text = "auto" if spec is None else str(spec).strip().lower().replace(" ", "")
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if text == "auto":
        chosen = "0" if torch.cuda.is_available() else ("mps" if mps else "cpu")
        log.debug("device=auto -> %s", "cuda:0" if chosen == "0" else chosen)
        return chosen
    if text == "cpu":
        return "cpu"
    if text == "mps":
        if not mps:
            raise DeviceError(f"device={spec}: MPS is not available on this machine; use device=auto or device=cpu")
        return "mps"
    indices = text.removeprefix("cuda").removeprefix(":")
    indices = indices or "0"
    if not all(part.isdigit() for part in indices.split(",")):
        raise ConfigError(f"device={spec!r} is not a device; use auto, cpu, cuda, cuda:N, mps or 0,1,2,3")
    if not torch.cuda.is_available():
        raise DeviceError(f"device={spec}: CUDA is not available on this machine; use device=auto or device=cpu")
    count = torch.cuda.device_count()
    bad = [i for i in indices.split(",") if int(i) >= count]
    if bad:
        raise DeviceError(f"device={spec}: only {count} CUDA device(s) here; use indices 0..{count - 1}")
    return indices


def _check_trainer_options(options: Mapping[str, Any]) -> dict[str, Any]:
    checked = {}
    for key, value in options.items():
        if key not in TRAINER_OPTIONS:
            raise ConfigError(f"trainer.{key}: unknown option; known: {', '.join(TRAINER_OPTIONS)}")
        kind = TRAINER_OPTIONS[key]
        accepted = kind if isinstance(kind, tuple) else (kind,)
        if float in accepted and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if value is not None and not isinstance(value, accepted):
            raise ConfigError(f"trainer.{key}={value!r}: expected {' or '.join(t.__name__ for t in accepted)}")
        if key in _TRAINER_RANGES and value is not None:
            lo, hi, lo_open = _TRAINER_RANGES[key]
            if not math.isfinite(value) or value > hi or (value <= lo if lo_open else value < lo):
                raise ConfigError(f"trainer.{key}={value!r}: must be a number in {'(' if lo_open else '['}{lo:g}, "
                                  f"{hi:g}]")
        if key == "amp":
            check_amp_name(value)
        checked[key] = value
    return checked


def check_config(config: TrainConfig) -> None:
    """Check the numbers and names of ``config`` (the dataset and model are checked by :func:`train_detector`).

    Raises:
        ConfigError: a value out of range or an unknown name.
    """
    if config.task not in TASKS:
        raise ConfigError(f"task={config.task!r} is not one of {', '.join(TASKS)}")
    for key, lo in (("epochs", 1), ("batch", 1), ("workers", 0), ("patience", 1), ("seed", 0)):
        value = getattr(config, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise ConfigError(f"{key}={value!r}: must be a whole number >= {lo}")
    if config.imgsz is not None and (not isinstance(config.imgsz, int) or config.imgsz < 32 or config.imgsz % 32):
        raise ConfigError(f"imgsz={config.imgsz!r}: must be a multiple of 32 (the network stride), >= 32")
    nested = config.nested_iou
    if nested is not None and (isinstance(nested, bool) or not isinstance(nested, (int, float))
                               or not 0.0 < nested <= 1.0):
        raise ConfigError(f"nested_iou={nested!r}: must be an IoU in (0, 1], e.g. 0.5, or null to turn it off")
    if not isinstance(config.channels_last, bool):
        raise ConfigError(f"channels_last={config.channels_last!r}: must be true or false")
    if config.obb_angle not in OBB_ANGLES:
        raise ConfigError(f"obb_angle={config.obb_angle!r} is not one of {', '.join(OBB_ANGLES)}")
    if config.obb_box_targets not in OBB_BOX_TARGETS:
        raise ConfigError(f"obb_box_targets={config.obb_box_targets!r} is not one of {', '.join(OBB_BOX_TARGETS)}")
    if not str(config.model).endswith(".pt"):
        model_yaml(str(config.model), config.task)
    _check_trainer_options(config.trainer)


def _prepare_out_dir(config: TrainConfig, device: str) -> None:
    out = config.out_dir
    if out.exists() and not out.is_dir():
        raise OutputError(f"out_dir={out}: exists and is not a folder; choose another out_dir")
    if config.resume:
        return
    finished = (out / "model_card.json").exists() or (out / "weights" / "last.pt").exists()
    if "," in device and out.is_dir():
        # ultralytics' multi-GPU launcher deletes the whole run folder before it starts the workers
        others = sorted(p.name for p in out.iterdir()
                        if p.name not in _RUN_FILES and p.suffix.lower() not in (".png", ".jpg"))
        if others:
            raise OutputError(f"out_dir={out}: holds {', '.join(others[:3])}{' ...' if len(others) > 3 else ''}, "
                              "which ultralytics' multi-GPU launch would delete; pick a new or empty out_dir")
    if finished and not config.overwrite:
        raise OutputError(f"out_dir={out}: already holds a training run; pick a new out_dir, resume=true to "
                          "continue it, or overwrite=true to replace it")
    if finished:
        for name in ("weights", "model_card.json", "metrics.json", "results.csv", "args.yaml", "dataset.yaml"):
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    tmp.replace(path)


def _write_dataset_yaml(dataset: DatasetInfo) -> Path:
    """The dataset as ultralytics should read it (absolute paths), in yardwatch's cache folder.

    Not in the run folder: ultralytics' multi-GPU launcher deletes the run folder right before its workers read the
    dataset. The name depends only on the dataset, so ``resume`` finds the path stored in ``last.pt`` again.
    """
    import yaml

    text = yaml.safe_dump(dataset.ultralytics_dict(), sort_keys=False)
    key = hashlib.sha256(f"{dataset.yaml_path}\n{text}".encode()).hexdigest()[:16]
    return write_cache_text(cache_dir("datasets") / f"{dataset.yaml_path.parent.name}-{key}.yaml", text)


def _check_finetune_classes(yolo: Any, dataset: DatasetInfo, model: str) -> None:
    names = getattr(yolo, "names", None) or {}
    model_names = tuple(names[i] for i in sorted(names))
    if model_names != dataset.class_names:
        raise ModelError(f"model={model}: its classes {list(model_names)} differ from the dataset's "
                         f"{list(dataset.class_names)}; fine-tune from weights trained on the same classes")


class EpochTimer:
    """ultralytics callbacks that time the training part of each epoch (not validation) and log progress."""

    def __init__(self) -> None:
        self.train_seconds = 0.0
        self.epochs = 0
        self.images_per_epoch = 0
        self.precision: str | None = None  # what the trainer computes in (None under DDP: the workers train)
        self._start = 0.0

    def on_train_epoch_start(self, trainer: Any) -> None:
        self._start = time.perf_counter()
        self.precision = training_precision(trainer)

    def on_train_epoch_end(self, trainer: Any) -> None:
        self.train_seconds += time.perf_counter() - self._start
        self.epochs += 1
        self.images_per_epoch = len(trainer.train_loader.dataset)

    def on_fit_epoch_end(self, trainer: Any) -> None:
        if trainer.epoch >= trainer.epochs:  # ultralytics' final validation of best.pt reuses this event
            return
        metrics = trainer.metrics or {}
        map50 = next((v for k, v in metrics.items() if k.startswith("metrics/mAP50(")), float("nan"))
        log.info("epoch %d/%d: mAP50 %.3f (train %.1f s so far)", trainer.epoch + 1, trainer.epochs, map50,
                 self.train_seconds)


def _metrics_summary(metrics: Any, class_names: tuple[str, ...]) -> dict[str, Any]:
    """Overall and per-class validation metrics from an ultralytics metrics object."""
    overall = {k.split("/")[-1].removesuffix("(B)"): float(v) for k, v in (metrics.results_dict or {}).items()}
    per_class: dict[str, dict[str, float | int] | None] = {name: None for name in class_names}
    for row in metrics.summary():
        per_class[str(row["Class"])] = {"mAP50": float(row["mAP50"]), "mAP50-95": float(row["mAP50-95"]),
                                        "precision": float(row["Box-P"]), "recall": float(row["Box-R"]),
                                        "images": int(row["Images"]), "instances": int(row["Instances"])}
    # Operating points on the validation split, per class: the confidence of maximum F1 (the best detector) and
    # the confidence from which the detections number the labels (the unbiased counter, what `count` uses;
    # ultralytics' default 0.25 over-counts a model that is unsure).
    box = getattr(metrics, "box", None)
    curves, grid = getattr(box, "f1_curve", None), getattr(box, "px", None)
    if curves is not None and grid is not None and len(curves):
        import numpy as np

        curves, grid = np.asarray(curves), np.asarray(grid)
        p_curves, r_curves = getattr(box, "p_curve", None), getattr(box, "r_curve", None)
        index = {int(i): str(n) for i, n in (getattr(metrics, "names", None) or {}).items()}
        for row_index, class_index in enumerate(getattr(box, "ap_class_index", range(len(curves)))):
            entry = per_class.get(index.get(int(class_index), ""))
            if entry is not None and row_index < len(curves):
                entry["f1_max_conf"] = round(float(grid[int(curves[row_index].argmax())]), 3)
                if p_curves is not None and r_curves is not None and row_index < len(p_curves):
                    entry["count_conf"] = count_unbiased_conf(grid, np.asarray(p_curves[row_index]),
                                                              np.asarray(r_curves[row_index]))
        overall["f1_max_conf"] = round(float(grid[int(curves.mean(0).argmax())]), 3)
    return {"overall": overall, "per_class": per_class}


def count_unbiased_conf(grid, precision, recall) -> float:
    """The lowest confidence from which a class's detections are no more than its labels.

    With ``TP`` true positives at a threshold, the detections number ``TP / precision`` and the labels
    ``TP / recall``, so the count is unbiased where precision equals recall, and over-counts below that (recall
    above precision). ``grid`` is ascending; where recall never exceeds precision the lowest confidence is returned.
    """
    import numpy as np

    at_or_below = np.flatnonzero(np.asarray(recall) <= np.asarray(precision))
    return round(float(grid[int(at_or_below[0])] if len(at_or_below) else grid[-1]), 3)


def _versions() -> dict[str, str]:
    import torch

    return {"yardwatch": __version__, "ultralytics": ultralytics_version(), "torch": torch.__version__,
            "python": platform.python_version()}


def _embed_card(weights: Path, card: ModelCard) -> None:
    """Store the card dict inside the checkpoint so the weights stay self-describing when copied alone."""
    import torch

    ckpt = torch.load(weights, map_location="cpu", weights_only=False)
    ckpt[EMBEDDED_CARD_KEY] = card.to_dict()
    tmp = weights.with_name(weights.name + ".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(weights)


def ultralytics_train_args(config: TrainConfig, data_yaml: Path, imgsz: int, device: str) -> dict[str, Any]:
    """The keyword arguments of ``YOLO.train`` for ``config`` (yardwatch's bench runs plain ultralytics with them)."""
    args: dict[str, Any] = {
        "data": str(data_yaml), "epochs": config.epochs, "imgsz": imgsz, "batch": config.batch,
        "device": device, "workers": config.workers, "seed": config.seed, "patience": config.patience,
        "project": str(config.out_dir.resolve().parent), "name": config.out_dir.name, "exist_ok": True,
        "verbose": False,
        # A .pt is fine-tuned from its weights; ultralytics >= 8.4 builds a fresh network when pretrained=False,
        # so passing False here silently trained every "fine-tune" from scratch (mAP 0.79 -> 0.00).
        "pretrained": str(config.model).endswith(".pt"),
        "augmentations": build_albumentations(config.augment.albumentations),
    }
    args.update(config.augment.ultralytics)
    args.update(_check_trainer_options(config.trainer))
    args["amp"] = ultralytics_amp(args.get("amp", True), device)
    return args


def train_detector(config: TrainConfig) -> TrainResult:
    """Train a detector on a tiled dataset; writes a complete run folder (see the module docstring).

    Raises:
        ConfigError: a bad value in ``config``.
        InputError: the dataset is missing or malformed; nothing to resume.
        LabelError: labels in the wrong format for ``config.task``.
        ModelError: fine-tuning weights of another task or other classes.
        DeviceError: the requested device is not available.
        OutputError: ``out_dir`` holds another run (and neither resume nor overwrite is set).
    """
    ensure_offline()
    check_config(config)
    device = ultralytics_device(config.device)
    ultralytics_amp(config.trainer.get("amp", True), device)  # bf16 on MPS fails here, before out_dir is made
    log.info("training on device %s", device if device in ("cpu", "mps") else f"cuda:{device}")
    dataset = read_dataset(config.data, config.task, expected_classes=CLASS_NAMES if config.check_classes else None)
    imgsz = config.imgsz or int(dataset.yardwatch.get("tile_size_px") or 640)
    if imgsz % 32:
        raise ConfigError(f"imgsz={imgsz} (the dataset's tile size): not a multiple of 32; pass imgsz=<multiple>")
    if config.resume and not (config.out_dir / "weights" / "last.pt").is_file():
        raise InputError(f"out_dir={config.out_dir}: no weights/last.pt to resume from; drop resume=true to start "
                         "a run")
    if config.resume:
        yolo = build_yolo(str(config.out_dir / "weights" / "last.pt"), config.task)
    else:
        yolo = build_yolo(str(config.model), config.task, obb_angle=config.obb_angle)
        if str(config.model).endswith(".pt"):
            _check_finetune_classes(yolo, dataset, str(config.model))
    _prepare_out_dir(config, device)
    timer = EpochTimer()
    started = time.perf_counter()
    data_yaml = _write_dataset_yaml(dataset)
    if config.resume:
        train_args: dict[str, Any] = {"resume": True, "device": device, "workers": config.workers}
    else:
        train_args = ultralytics_train_args(config, data_yaml, imgsz, device)
    callbacks = {event: [getattr(timer, event)]
                 for event in ("on_train_epoch_start", "on_train_epoch_end", "on_fit_epoch_end")}
    if config.nested_iou is not None:
        callbacks.setdefault("on_train_start", []).append(NestedTargetsCallback(config.nested_iou))
    if config.task == "obb" and config.obb_box_targets == "aligned":
        callbacks.setdefault("on_train_start", []).append(AlignedBoxTargetsCallback())
    if device == "cpu":  # does nothing unless the run (or the resumed checkpoint) trains in bf16
        callbacks.setdefault("on_train_start", []).append(CpuBf16Callback())
    if channels_last_supported():
        if config.channels_last:
            callbacks["on_pretrain_routine_end"] = [ChannelsLastCallback()]
        elif not config.resume:
            train_args["channels_last"] = False  # ultralytics' own default is NHWC on CUDA
    run_training(yolo, train_args, callbacks=callbacks, cpu=device == "cpu")
    wall_seconds = time.perf_counter() - started
    return _finish_run(config, dataset, data_yaml, yolo, imgsz, timer, wall_seconds)


def _validate(best: Path, config: TrainConfig, data_yaml: Path, imgsz: int) -> Any:
    """Validate ``best`` on the run's dataset: under DDP the parent process gets no metrics from the workers."""
    log.info("validating %s (the training processes returned no metrics)", best)
    device = ultralytics_device(config.device).split(",")[0]
    return validate(str(best), config.task, data=str(data_yaml), imgsz=imgsz, batch=config.batch, device=device,
                    plots=False, verbose=False, workers=config.workers, project=str(config.out_dir), name="val",
                    exist_ok=True)


def _epochs_in_results(out: Path) -> int:
    results = out / "results.csv"
    return max(len(results.read_text().splitlines()) - 1, 0) if results.is_file() else 0


def _finish_run(config: TrainConfig, dataset: DatasetInfo, data_yaml: Path, yolo: Any, imgsz: int,
                timer: EpochTimer, wall_seconds: float) -> TrainResult:
    out = config.out_dir
    best, last = out / "weights" / "best.pt", out / "weights" / "last.pt"
    if not best.is_file():
        raise ModelError(f"{out}: training ended without weights/best.pt (see results.csv); check the dataset")
    val_metrics = yolo.metrics if yolo.metrics is not None else _validate(best, config, data_yaml, imgsz)
    summary = _metrics_summary(val_metrics, dataset.class_names)
    images_seen = timer.images_per_epoch * timer.epochs
    metrics = {
        **summary,
        "epochs_run": timer.epochs or _epochs_in_results(out),
        "train_images": dataset.n_images.get("train", 0),
        "val_images": dataset.n_images.get("val", 0),
        "train_seconds": round(timer.train_seconds, 3),
        "wall_seconds": round(wall_seconds, 3),
        "train_images_per_s": round(images_seen / timer.train_seconds, 3) if timer.train_seconds else None,
        "train_precision": timer.precision,
    }
    block = dataset.yardwatch
    normalization = block.get("normalization")
    if isinstance(normalization, dict) and "bands" in block and "bands" not in normalization:
        normalization = {**normalization, "bands": block["bands"]}
    card = ModelCard(
        task=config.task, class_names=dataset.class_names, imgsz=imgsz,
        tile_size_px=int(block.get("tile_size_px") or imgsz), overlap_px=int(block.get("overlap_px") or 0),
        gsd_m=float(block["gsd_m"]) if block.get("gsd_m") is not None else None,
        normalization=normalization, training={**config.to_dict(), "imgsz": imgsz},
        dataset_sha256=dataset.tiles_sha256, metrics=summary, versions=_versions())
    _embed_card(best, card)
    card = card.with_updates(weights_sha256=file_sha256(best))
    shutil.copyfile(data_yaml, out / "dataset.yaml")  # the record of what was trained on
    _write_json(out / "metrics.json", metrics)
    card_path = write_card(card, out / "model_card.json")
    log.info("trained %s in %.0f s: %s", out, wall_seconds,
             ", ".join(f"{k} mAP50 {v['mAP50']:.3f}" for k, v in summary.get("per_class", {}).items() if v))
    return TrainResult(out_dir=out, best_weights=best, last_weights=last, card_path=card_path,
                       metrics_path=out / "metrics.json", card=card, metrics=metrics)
