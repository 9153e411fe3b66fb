"""The ultralytics calls that training makes: the trainer run, validation, the augmented training dataset.

``train/`` decides what to train and writes the run folder; this module is where those decisions meet ultralytics,
so that ``models/`` stays the only package that imports it (lazily, inside functions).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from yardwatch.models.loader import ensure_offline, use_cpu_threads


def ultralytics_version() -> str:
    """The installed ultralytics version (recorded in model cards)."""
    ensure_offline()
    import ultralytics

    return str(ultralytics.__version__)


class ChannelsLastCallback:
    """An ultralytics ``on_pretrain_routine_end`` callback: the network and its EMA in channels-last (NHWC) memory.

    oneDNN runs the convolutions' forward and backward passes faster in NHWC: 1.2-1.3x for yolov8n-obb at 320 px,
    batch 8, on a 2-core Xeon (``scripts/bench_train.py`` measures the whole training). ultralytics applies it on
    CUDA only ("no benefit on CPU"); this applies it on the CPU too. The trainer saves checkpoints in NCHW whatever
    the training layout, so the weights files are unchanged. An instance of a module-level class, so ultralytics can
    pickle it into DDP workers, where it does nothing (ultralytics converts before the DDP wrap, on CUDA).
    """

    def __call__(self, trainer: Any) -> None:
        import torch

        if getattr(trainer, "world_size", 1) > 1 or getattr(trainer.device, "type", "cpu") == "mps":
            return  # DDP buckets are laid out already; MPS computes wrong results in NHWC (ultralytics)
        trainer.model.to(memory_format=torch.channels_last)  # in place: the optimiser keeps its parameters
        ema = getattr(trainer, "ema", None)
        if ema is not None:
            ema.ema.to(memory_format=torch.channels_last)


def channels_last_supported() -> bool:
    """Whether this ultralytics saves NCHW checkpoints from an NHWC training (it has the ``channels_last`` option;
    older releases saved the training layout, and their ``fuse()`` fails on NHWC-strided weights)."""
    ensure_offline()
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return "channels_last" in DEFAULT_CFG_DICT


def run_training(yolo: Any, train_args: Mapping[str, Any], *, callbacks: Mapping[str, Sequence[Callable]],
                 cpu: bool) -> None:
    """Train ``yolo`` (an ultralytics ``YOLO``) with ``train_args`` (``YOLO.train`` keywords), offline.

    Installs the offline patches (local plotting font, an AMP check that downloads nothing, no tracking
    callbacks) as an ``on_pretrain_routine_start`` callback, so that DDP workers, which rebuild the trainer in fresh
    processes, get them too; on the CPU gives torch every core again after ultralytics' ``select_device``. The
    module-level AMP check is restored afterwards.

    Args:
        yolo: the model to train.
        train_args: keywords of ``YOLO.train`` (``resume=True`` continues the checkpoint ``yolo`` was built from).
        callbacks: extra ultralytics callbacks, event name -> callables.
        cpu: training runs on the CPU.
    """
    import ultralytics.engine.trainer as trainer_module

    from yardwatch.models.offline import install_offline_patches

    original_check_amp = trainer_module.check_amp
    try:
        for event, functions in callbacks.items():
            for function in functions:
                yolo.add_callback(event, function)
        yolo.add_callback("on_pretrain_routine_start", install_offline_patches)
        if cpu:  # after ultralytics' select_device, which leaves one thread on a 2-core machine
            yolo.add_callback("on_pretrain_routine_start", lambda _trainer: use_cpu_threads())
        install_offline_patches()
        yolo.train(**train_args)
    finally:
        trainer_module.check_amp = original_check_amp


def validate(weights: str, task: str, **val_args: Any) -> Any:
    """ultralytics' validator on ``weights``; returns its metrics object (``results_dict``, ``summary()``)."""
    ensure_offline()
    from ultralytics import YOLO

    from yardwatch.models.offline import provide_local_font

    provide_local_font()
    return YOLO(str(weights), task=task).val(**val_args)


def augmented_dataset(overrides: Mapping[str, Any], folders: Sequence[str], data: Mapping[str, Any]) -> Any:
    """ultralytics' training dataset over ``folders`` with its config ``overrides`` (task, imgsz, augmentations).

    Items are dicts with ``img`` (3, H, W) uint8 RGB, ``bboxes`` normalised, ``cls``, ``im_file``.
    """
    ensure_offline()
    from ultralytics.cfg import get_cfg
    from ultralytics.data.build import build_yolo_dataset

    cfg = get_cfg(overrides=dict(overrides))
    return build_yolo_dataset(cfg, list(folders), batch=1, data=dict(data), mode="train")
