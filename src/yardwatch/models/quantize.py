"""int8 post-training quantisation of an exported ONNX detector, calibrated on the model's own training tiles.

ONNX Runtime's static quantiser writes a QDQ model: the convolutions get int8 weights (per output channel) and
uint8 activations whose ranges come from running the float model over calibration tiles; everything else (SiLU,
the box decoding, the distribution-focal-loss convolution that turns bin logits into distances) stays float,
because rounding there moves every box. ONNX Runtime fuses each QDQ pair into an int8 convolution (AVX-512 VNNI
where the CPU has it). OpenVINO 2026.4 also reads these files, but its int8 execution of them lost accuracy on the
demo model (held-out scene AP50 railcar 0.85 -> 0.74, container 0.53 -> 0.39, where ONNX Runtime kept 0.85 and
0.54), so yardwatch does not offer it.

Calibration tiles must look like what predict feeds the network: the 8-bit tiles ``yardwatch tile`` wrote
(already normalised with the model card's stretch), scaled to [0, 1].
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from yardwatch.errors import ConfigError, InputError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def calibration_images(source: str | Path, count: int) -> list[Path]:
    """``count`` tiles spread evenly over a dataset's train split (``dataset.yaml``) or a folder of images.

    Raises:
        InputError: the source does not exist or holds no images.
    """
    import yaml

    path = Path(source).expanduser()
    if not path.exists():
        raise InputError(f"calibration={path}: not found; pass the dataset.yaml of the training tiles (or a folder "
                         "of tiles)")
    folders = [path]
    if path.is_file():
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise InputError(f"calibration={path}: not a readable dataset.yaml ({err.__class__.__name__})") from err
        root = Path(data.get("path") or path.parent)
        root = root if root.is_absolute() else path.parent / root  # as train.dataset.read_dataset resolves it
        entries = data.get("train") or []
        folders = [(root / e) for e in ([entries] if isinstance(entries, str) else entries)]
    images = sorted(p for folder in folders if folder.is_dir() for p in folder.rglob("*")
                    if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise InputError(f"calibration={path}: no tiles found (looked for {', '.join(IMAGE_SUFFIXES)} in "
                         f"{', '.join(str(f) for f in folders)})")
    step = max(1, len(images) // count)
    return images[::step][:count]


def _tiles(images: list[Path], size: int) -> Iterator[np.ndarray]:
    import cv2

    for image in images:
        pixels = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if pixels is None:
            raise InputError(f"calibration tile {image}: cannot be decoded; remove it or re-run yardwatch tile")
        if pixels.shape[:2] != (size, size):
            pixels = cv2.resize(pixels, (size, size), interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        yield rgb.transpose(2, 0, 1)[None]


def quantize_int8(onnx_path: Path, out_path: Path, images: list[Path], size: int) -> Path:
    """Write the int8 (QDQ) version of ``onnx_path`` to ``out_path``, calibrated on ``images``."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(onnx_path))
    input_name = model.graph.input[0].name
    keep_float = [n.name for n in model.graph.node if n.op_type == "Conv" and "dfl" in n.name.lower()]
    if not any(n.op_type == "Conv" for n in model.graph.node):
        raise ConfigError(f"{onnx_path}: no convolutions to quantise")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.tiles = _tiles(images, size)

        def get_next(self) -> dict[str, np.ndarray] | None:
            tile = next(self.tiles, None)
            return None if tile is None else {input_name: tile}

    prepared = out_path.with_name(out_path.stem + ".prep.onnx")
    try:
        quant_pre_process(str(onnx_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(out_path), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        op_types_to_quantize=["Conv"], nodes_to_exclude=keep_float,
                        calibrate_method=CalibrationMethod.MinMax)
    finally:
        prepared.unlink(missing_ok=True)
    log.info("int8: %s -> %s (calibrated on %d tiles; kept float: %s)", onnx_path, out_path, len(images),
             ", ".join(keep_float) or "none")
    return out_path
