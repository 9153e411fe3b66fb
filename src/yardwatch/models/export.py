"""Export trained weights to deployment formats through ultralytics' exporter, keeping the model card beside."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from yardwatch.errors import ConfigError, InputError, ModelError, YardwatchError
from yardwatch.models.card import ModelCard, export_card_path, file_sha256, write_card
from yardwatch.models.loader import ensure_offline, load_model

log = logging.getLogger(__name__)

EXPORT_FORMATS = {"onnx": ".onnx", "openvino": ".xml", "torchscript": ".torchscript", "engine": ".engine"}
# formats written by yardwatch from an ultralytics ONNX export (the others are ultralytics' own exports)
VIA_ONNX = ("openvino",)


def export_model(weights: str | os.PathLike[str], fmt: str = "onnx", *, half: bool = False, dynamic: bool = True,
                 imgsz: int | None = None, out_path: str | os.PathLike[str] | None = None, int8: bool = False,
                 calibration: str | os.PathLike[str] | None = None, calibration_tiles: int = 64) -> Path:
    """Export ``weights`` (.pt) to ``fmt``; writes ``<stem>.model_card.json`` beside the exported file.

    Args:
        weights: a ``.pt`` with a model card (see :func:`yardwatch.models.card.find_card`).
        fmt: onnx, openvino (an OpenVINO IR ``.xml`` + ``.bin`` pair for the CPU), torchscript or engine
            (TensorRT; needs a CUDA GPU and TensorRT installed).
        half: export in fp16 (CUDA formats only).
        dynamic: dynamic batch and image size (ONNX), so one file serves any batch size.
        imgsz: input size; default the card's tile size.
        out_path: where to put the exported file; default :func:`default_export_path`.
        int8: quantise the convolutions to int8 (:mod:`yardwatch.models.quantize`: ONNX Runtime's QDQ for onnx,
            NNCF for openvino), calibrated on ``calibration_tiles`` tiles of ``calibration`` (the training
            dataset.yaml, or a folder of tiles).

    Returns:
        The exported file's path.
    """
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"format={fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    if int8 and fmt not in ("onnx", "openvino"):
        raise ConfigError(f"int8=true quantises ONNX and OpenVINO models; format={fmt} cannot be int8 here (use "
                          "format=openvino, the faster on a CPU, or format=onnx)")
    if fmt == "openvino" and half:
        raise ConfigError("format=openvino runs on the CPU in fp32 or int8; half=true is for the CUDA formats")
    if out_path is not None and fmt in ("onnx", "openvino") and Path(out_path).suffix != EXPORT_FORMATS[fmt]:
        raise ConfigError(f"out={out_path}: a {fmt} model's file ends in {EXPORT_FORMATS[fmt]}; name it "
                          f"{Path(out_path).with_suffix(EXPORT_FORMATS[fmt]).name}")
    if int8 and calibration is None:
        raise ConfigError("int8=true needs calibration=<dataset.yaml of the training tiles, or a folder of tiles>: "
                          "the activation ranges are measured on them")
    if int8 and half:
        raise ConfigError("int8=true and half=true: pick one (int8 for the CPU, half for CUDA)")
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
    size = int(imgsz or card.tile_size_px)
    if fmt == "openvino":
        _require_openvino(int8)
    if int8 or fmt in VIA_ONNX:
        return _export_via_onnx(Path(weights), card, fmt, size, dynamic, out_path, int8, calibration,
                                calibration_tiles)
    exported = _ultralytics_export(Path(weights), card, fmt, size, half=half, dynamic=dynamic)
    if out_path is not None:
        target = Path(out_path)
        shutil.move(str(exported), target)
        exported = target
    return _write_exported_card(card, Path(weights), exported, size, fmt, half=half)


def _ultralytics_export(weights: Path, card: ModelCard, fmt: str, size: int, *, half: bool, dynamic: bool,
                        shown_as: Path | None = None) -> Path:
    """ultralytics' exporter on ``weights`` (it writes beside them); any failure becomes one ModelError line naming
    ``shown_as`` (default ``weights``: the file the user gave, when ``weights`` is a scratch copy of it)."""
    from ultralytics import YOLO

    try:
        return Path(YOLO(str(weights), task=card.task).export(format=fmt, imgsz=size, half=half, dynamic=dynamic,
                                                              simplify=False, device=0 if fmt == "engine" else "cpu"))
    except Exception as err:  # noqa: BLE001 - the exporter raises many kinds; the user needs the reason
        raise ModelError(f"weights={shown_as or weights}: export to {fmt} failed "
                         f"({type(err).__name__}: {err})") from err


def _write_exported_card(card: ModelCard, weights: Path, exported: Path, size: int, fmt: str, *, half: bool,
                         **training: Any) -> Path:
    """Write the card of ``exported`` beside it (:func:`export_card_path`): the card of ``weights`` with the export
    recorded."""
    exported_card = card.with_updates(imgsz=size, weights_sha256=file_sha256(exported) if exported.is_file() else None,
                                      training={**card.training, "exported_from": str(weights),
                                                "export_format": fmt, "export_half": half, **training})
    write_card(exported_card, export_card_path(weights, exported))
    log.info("exported %s -> %s", weights, exported)
    return exported

def default_export_path(weights: Path, fmt: str, int8: bool) -> Path:
    """Where an export goes without ``out``: ``<stem>.int8.onnx`` beside the weights for ONNX int8; an OpenVINO IR
    (``.xml`` + ``.bin`` + card) in its own folder beside them, named as ultralytics names it
    (``<stem>_openvino_model/<stem>.xml``, ``<stem>_int8_openvino_model/`` for int8), so that its card never
    replaces the card of the ``.pt``."""
    if fmt == "openvino":
        return weights.parent / f"{weights.stem}{'_int8' if int8 else ''}_openvino_model" / f"{weights.stem}.xml"
    return weights.with_name(weights.stem + (".int8" if int8 else "") + EXPORT_FORMATS[fmt])


def _require_openvino(int8: bool) -> None:
    """One clear line, before any work, when OpenVINO (or NNCF, for int8) is not installed."""
    import importlib.util

    missing = [name for name in ("openvino", *(("nncf",) if int8 else ())) if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"format=openvino needs {' and '.join(missing)}: pip install 'yardwatch[openvino]' (or "
                          f"pip install {' '.join(missing)})")


def _export_via_onnx(weights: Path, card: ModelCard, fmt: str, size: int, dynamic: bool,
                     out_path: str | os.PathLike[str] | None, int8: bool, calibration: str | os.PathLike[str] | None,
                     calibration_tiles: int) -> Path:
    """fp32 ONNX export in a scratch folder (nothing beside the weights is touched), then int8 quantisation and/or
    conversion to OpenVINO IR. The files appear whole (temp name + rename; an IR's ``.bin`` before its ``.xml``)
    with their card."""
    import tempfile

    from yardwatch.models.quantize import calibration_images, quantize_int8, quantize_openvino_int8

    images = calibration_images(calibration, calibration_tiles) if int8 else []
    suffix = EXPORT_FORMATS[fmt]
    target = Path(out_path) if out_path is not None else default_export_path(weights, fmt, int8)
    target.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="yardwatch-export-") as scratch:
        copy = Path(scratch) / "model.pt"
        shutil.copyfile(weights, copy)
        fp32 = _ultralytics_export(copy, card, "onnx", size, half=False, dynamic=dynamic, shown_as=weights)
        partial = Path(scratch) / f"model.out{suffix}"
        try:
            if fmt == "onnx":
                quantize_int8(fp32, partial, images, size)
            else:
                import openvino as ov

                model = quantize_openvino_int8(fp32, images, size) if int8 else ov.Core().read_model(str(fp32))
                ov.save_model(model, str(partial), compress_to_fp16=False)
        except YardwatchError:
            raise
        except Exception as err:  # noqa: BLE001 - the quantisers and converters raise many kinds
            what = f"{'int8 ' if int8 else ''}{fmt} export"
            raise ModelError(f"weights={weights}: {what} failed ({type(err).__name__}: {err})") from err
        pieces = [(partial.with_suffix(".bin"), target.with_suffix(".bin"))] if fmt == "openvino" else []
        for source, dest in [*pieces, (partial, target)]:
            tmp = dest.with_name(dest.name + ".tmp")
            shutil.move(str(source), tmp)
            tmp.replace(dest)
    extra = {"export_int8": True, "calibration": str(calibration), "calibration_tiles": len(images)} if int8 else {}
    return _write_exported_card(card, weights, target, size, fmt, half=False, **extra)
