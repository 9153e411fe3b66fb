"""Keep ultralytics training off the network: a local plotting font and an AMP check that downloads nothing.

ultralytics fetches ``Arial.ttf`` the first time it draws labels, and on CUDA its ``check_amp`` downloads a
reference model to compare fp32 and fp16 outputs. Both are one-off conveniences online and hard failures (or long
timeouts) offline, and yardwatch must never download at run time.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# The names ultralytics' check_font asks for (ASCII class names and non-ASCII ones).
_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
# ultralytics' logging integrations, added to a trainer when their package is importable; several talk to servers.
_INTEGRATIONS = frozenset({"clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wb", "neptune", "hub",
                           "platform"})


def provide_local_font() -> Path | None:
    """Put matplotlib's DejaVu Sans where ultralytics looks for Arial first (its settings folder).

    ultralytics' ``check_font`` returns a font found in its settings folder before trying to download one, and any
    TrueType font draws its labels equally well. Returns the font file now in place, or None when matplotlib has
    none (plots then fall back to PIL's default font).
    """
    from matplotlib import font_manager
    from ultralytics.utils import USER_CONFIG_DIR

    source = Path(font_manager.findfont("DejaVu Sans", fallback_to_default=True))
    if not source.is_file() or source.suffix.lower() != ".ttf":
        log.warning("no local TrueType font for ultralytics plots; labels use PIL's default font")
        return None
    USER_CONFIG_DIR.mkdir(parents=True, exist_ok=True)
    for name in _FONT_NAMES:
        target = USER_CONFIG_DIR / name
        if not target.is_file():
            tmp = target.with_name(target.name + ".tmp")
            shutil.copyfile(source, tmp)
            tmp.replace(target)
    return USER_CONFIG_DIR / _FONT_NAMES[0]


def offline_check_amp(model: Any) -> bool:
    """Stand-in for ultralytics' ``check_amp`` that never downloads its reference model.

    AMP is used on CUDA only (as ultralytics does); on known-bad GPUs (GTX 16xx and friends) users set
    ``trainer.amp=false``. The reference comparison itself needs pretrained weights that an offline install lacks.
    """
    device = next(model.parameters()).device
    use_amp = device.type == "cuda"
    if use_amp:
        log.info("AMP on %s (ultralytics' online AMP check skipped; set trainer.amp=false if losses turn NaN)",
                 device)
    return use_amp


def drop_integration_callbacks(trainer: Any) -> int:
    """Remove ultralytics' experiment-tracking callbacks (MLflow, W&B, Comet, Ray Tune, ...) from ``trainer``.

    ultralytics adds them whenever their package happens to be importable, and some log to remote servers. Lists
    are edited in place because this runs while ultralytics iterates the ``on_pretrain_routine_start`` list.
    Returns the number removed.
    """
    removed = 0
    for callbacks in trainer.callbacks.values():
        keep = [c for c in callbacks
                if not getattr(c, "__module__", "").startswith("ultralytics.utils.callbacks.")
                or c.__module__.rsplit(".", 1)[-1] not in _INTEGRATIONS]
        removed += len(callbacks) - len(keep)
        callbacks[:] = keep
    return removed


def install_offline_patches(trainer: Any = None) -> None:
    """Route ultralytics' trainer to :func:`offline_check_amp`, provide the plotting font, drop tracking callbacks.

    Written as an ultralytics callback (``on_pretrain_routine_start``) so it also runs inside each DDP worker,
    which rebuilds the trainer in a fresh process where a patch made by the parent would be missing.
    """
    import ultralytics.engine.trainer as trainer_module

    trainer_module.check_amp = offline_check_amp
    provide_local_font()
    if trainer is not None:
        drop_integration_callbacks(trainer)
