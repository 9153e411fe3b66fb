"""Export trained weights to deployment formats through ultralytics' exporter, keeping the model card beside."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from yardwatch.errors import ConfigError, InputError, ModelError
from yardwatch.models.card import file_sha256, write_card
from yardwatch.models.loader import ensure_offline, load_model

log = logging.getLogger(__name__)

EXPORT_FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript", "engine": ".engine"}


def export_model(weights: str | os.PathLike[str], fmt: str = "onnx", *, half: bool = False, dynamic: bool = True,
                 imgsz: int | None = None, out_path: str | os.PathLike[str] | None = None) -> Path:
    """Export ``weights`` (.pt) to ``fmt``; writes ``<stem>.model_card.json`` beside the exported file.

    Args:
        weights: a ``.pt`` with a model card (see :func:`yardwatch.models.card.find_card`).
        fmt: onnx, torchscript or engine (TensorRT; needs a CUDA GPU and TensorRT installed).
        half: export in fp16 (CUDA formats only).
        dynamic: dynamic batch and image size (ONNX), so one file serves any batch size.
        imgsz: input size; default the card's tile size.
        out_path: where to put the exported file; default beside the weights.

    Returns:
        The exported file's path.
    """
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"format={fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    if out_path is not None and not Path(out_path).parent.is_dir():
        raise InputError(f"out={out_path}: folder {Path(out_path).parent} does not exist; create it or choose "
                         "another out")
    model = load_model(weights, "cpu")  # validates the file and finds its card
    card = model.card
    ensure_offline()
    import torch

    if fmt == "engine" and not torch.cuda.is_available():
        raise ConfigError("format=engine (TensorRT) needs a CUDA GPU; export format=onnx here and build the "
                          "engine on the GPU machine")
    from ultralytics import YOLO

    size = int(imgsz or card.tile_size_px)
    try:
        exported = Path(YOLO(str(weights), task=card.task).export(format=fmt, imgsz=size, half=half,
                                                                 dynamic=dynamic, simplify=False,
                                                                 device=0 if fmt == "engine" else "cpu"))
    except Exception as err:  # noqa: BLE001 - the exporter raises many kinds; the user needs the reason
        raise ModelError(f"weights={weights}: export to {fmt} failed ({type(err).__name__}: {err})") from err
    if out_path is not None:
        target = Path(out_path)
        shutil.move(str(exported), target)
        exported = target
    exported_card = card.with_updates(imgsz=size, weights_sha256=file_sha256(exported) if exported.is_file() else None,
                                      training={**card.training, "exported_from": str(weights),
                                                "export_format": fmt, "export_half": half})
    write_card(exported_card, exported.with_name(exported.stem + ".model_card.json"))
    log.info("exported %s -> %s", weights, exported)
    return exported
