"""The ultralytics calls that training makes: the trainer run, validation, the augmented training dataset.

``train/`` decides what to train and writes the run folder; this module is where those decisions meet ultralytics,
so that ``models/`` stays the only package that imports it (lazily, inside functions).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from yardwatch.errors import ConfigError
from yardwatch.models.loader import cpu_has_amx_bf16, ensure_offline, use_cpu_threads
from yardwatch.models.loss_hooks import mixed_class, training_criterion

# Values of ``trainer.amp`` besides true/false.
AMP_NAMES = ("auto", "fp16", "bf16", "fp32")


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


def check_amp_name(amp: bool | str) -> bool | str:
    """``trainer.amp`` as given, its name lower-cased: ``true``, ``false`` or one of :data:`AMP_NAMES`.

    Raises:
        ConfigError: any other value.
    """
    if isinstance(amp, bool):
        return amp
    if isinstance(amp, str) and amp.lower() in AMP_NAMES:
        return amp.lower()
    raise ConfigError(f"trainer.amp={amp!r}: expected true, false or one of {', '.join(AMP_NAMES)}")


def ultralytics_amp(amp: bool | str, device: str) -> bool | str:
    """ultralytics' ``amp`` for yardwatch's ``trainer.amp`` on ``device`` (ultralytics' device string).

    - ``auto``: fp16 mixed precision on CUDA (after the offline AMP check), bf16 on a CPU with AMX
      (:func:`~yardwatch.models.loader.cpu_has_amx_bf16`), fp32 elsewhere.
    - ``true``/``fp16``: fp16 on CUDA; fp32 on the CPU and MPS, which have no fp16 training (ultralytics' own check
      turns it off there too).
    - ``bf16``: bf16 autocast on CUDA (ultralytics') or on the CPU (:class:`CpuBf16Callback`).
    - ``false``/``fp32``: fp32.

    Raises:
        ConfigError: an unknown value, or bf16 on MPS.
    """
    amp = check_amp_name(amp)
    if amp is True or amp == "fp16":
        return device not in ("cpu", "mps")
    if amp is False or amp == "fp32":
        return False
    if amp == "bf16":
        if device == "mps":
            raise ConfigError("trainer.amp=bf16: no bf16 training on MPS; use trainer.amp=false")
        return "bf16"
    # auto
    if device == "mps":
        return False
    if device == "cpu":
        return "bf16" if cpu_has_amx_bf16() else False
    return True


def _float32(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype in (torch.bfloat16, torch.float16) else value
    if isinstance(value, dict):
        return {k: _float32(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_float32(v) for v in value)
    return value


class _Float32LossMixin:
    """The loss of a bf16 CPU training in float32: the network's outputs cast up, autocast off inside the loss
    (ultralytics computes its CUDA fp16 loss under autocast; bf16 keeps 8 mantissa bits, too few for the
    distance-bin expectation and IoUs of the box loss)."""

    def __call__(self, preds: Any, batch: Any) -> Any:
        import torch

        with torch.autocast("cpu", enabled=False):
            return super().__call__(_float32(preds), batch)  # type: ignore[misc]


def _cpu_bf16_autocast(original: Callable[..., Any]) -> Callable[..., Any]:
    """ultralytics' ``autocast`` that also runs bf16 on the CPU (its own raises: "requires CUDA")."""
    import torch

    def autocast(enabled: Any, device: str = "cuda") -> Any:
        if device == "cpu" and enabled is torch.bfloat16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return original(enabled, device=device)

    autocast.yardwatch_cpu_bf16 = True  # type: ignore[attr-defined]
    return autocast


class CpuBf16Callback:
    """An ultralytics ``on_train_start`` callback for ``amp=bf16`` on the CPU: the loss in float32.

    The forward and backward passes of the network run under torch's CPU autocast in bf16, which AMX tiles
    multiply natively (``scripts/bench_train.py`` measures the speed); the weights, optimiser and EMA stay float32
    and checkpoints are saved as ultralytics saves them. :func:`run_training` swaps the trainer's ``autocast`` for
    the run.
    """

    def __call__(self, trainer: Any) -> None:
        if str(getattr(trainer.args, "amp", "")).lower() != "bf16":
            return  # also installed on a resumed CPU run, whose precision comes from its checkpoint
        criterion = training_criterion(trainer)
        if not isinstance(criterion, _Float32LossMixin):
            criterion.__class__ = mixed_class(_Float32LossMixin, type(criterion), "Float32")


def training_precision(trainer: Any) -> str:
    """What an ultralytics trainer computes in: ``bf16``, ``fp16`` or ``fp32``."""
    if not getattr(trainer, "amp", False):
        return "fp32"
    return "bf16" if str(getattr(trainer.args, "amp", "")).lower() == "bf16" else "fp16"


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

    original_check_amp, original_autocast = trainer_module.check_amp, trainer_module.autocast
    try:
        if cpu:  # a resumed run takes amp from its checkpoint; the wrapper only changes CPU bf16
            trainer_module.autocast = _cpu_bf16_autocast(original_autocast)
        for event, functions in callbacks.items():
            for function in functions:
                yolo.add_callback(event, function)
        yolo.add_callback("on_pretrain_routine_start", install_offline_patches)
        if cpu:  # after ultralytics' select_device, which leaves one thread on a 2-core machine
            yolo.add_callback("on_pretrain_routine_start", lambda _trainer: use_cpu_threads())
        install_offline_patches()
        yolo.train(**train_args)
    finally:
        trainer_module.check_amp, trainer_module.autocast = original_check_amp, original_autocast


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
