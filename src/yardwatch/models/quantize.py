"""int8 post-training quantisation of an exported ONNX detector, calibrated on the model's own training tiles.

Two routes, both calibrated on the same tiles:

* ONNX Runtime (``format=onnx int8=true``): its static quantiser writes a QDQ model: the convolutions get int8
  weights (per output channel) and uint8 activations whose ranges come from running the float model over
  calibration tiles; everything else (SiLU, the box decoding, the distribution-focal-loss convolution that turns
  bin logits into distances) stays float, because rounding there moves every box. On the 2-core AVX-512 VNNI Xeon
  of docs/benchmarks.md it runs no faster than fp32: the float ops between the int8 convolutions dominate.
* OpenVINO (``format=openvino int8=true``): NNCF quantises the OpenVINO model (mixed preset: symmetric int8
  weights, asymmetric activations) where the convolutions read their inputs, and leaves the head's box decoding and
  the element-wise ops (SiLU's multiply and sigmoid, the residual adds) in float. OpenVINO then runs int8
  convolutions with the float ops fused around them: 0.089 s a batch of 16 tiles of 320 px on that machine, against
  0.25 s in fp32 and 0.278 s for the torch network. Held-out scene AP50 of the demo weights (64 calibration tiles):
  railcar 0.850 -> 0.852, tarp 0.533 -> 0.505, container 0.666 -> 0.670.
  NNCF's default, which also quantises the element-wise ops, was slower (0.134 s), less accurate on the demo
  weights (0.839, 0.501, 0.661), and on a network whose activations span a wide range (the tests' spread network)
  it zeroed every feature map, so that all class scores came out as the bias. OpenVINO's own int8 execution of
  the QDQ file above lost far more (railcar 0.85 -> 0.74). So yardwatch quantises for OpenVINO with NNCF, the
  convolutions only, and does not hand it the QDQ file.

Calibration tiles must look like what predict feeds the network: the 8-bit tiles ``yardwatch tile`` wrote
(already normalised with the model card's stretch), scaled to [0, 1].
"""

from __future__ import annotations

import logging
import os
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


# Element-wise ops NNCF would otherwise quantise: SiLU's x * sigmoid(x) and the residual sums stay float, so int8 is
# where the convolutions read their inputs only (see the module docstring for why).
FLOAT_ELEMENTWISE = ("Sigmoid", "Multiply", "Add")


def head_decode_ops(model: object) -> list[str]:
    """Names of the ops of an OpenVINO model (converted from an ultralytics ONNX export) that decode boxes: every
    op of the last module (the Detect/OBB head) outside its convolution branches ``cv2``/``cv3``/``cv4``, i.e. the
    anchor grid arithmetic, the distribution-focal-loss convolution, the concatenations and the angle transform."""
    import re

    names = [op.get_friendly_name() for op in model.get_ordered_ops()]
    modules = [int(m.group(1)) for n in names if (m := re.match(r"/model\.(\d+)/", n))]
    if not modules:
        raise ConfigError("the exported model has no ultralytics module names (/model.N/...); cannot find its head")
    head = f"/model.{max(modules)}/"
    return [n for n in names if n.startswith(head) and not re.match(re.escape(head) + r"cv[234]\.", n)]


def import_nncf_offline() -> object:
    """Import NNCF with its usage telemetry off (yardwatch never uses the network).

    NNCF sends usage events to Google Analytics through ``openvino_telemetry`` unless ``NNCF_CI`` is set when it is
    first imported (OpenVINO 2026 collects by default; the only other switch is ``opt_in_out --opt_out``, which
    changes the setting for every program of the user). The variable is set for the import only.
    """
    import sys

    if "nncf" in sys.modules:
        return sys.modules["nncf"]
    previous = os.environ.get("NNCF_CI")
    os.environ["NNCF_CI"] = "1"
    try:
        import nncf
    finally:
        if previous is None:
            os.environ.pop("NNCF_CI", None)
        else:
            os.environ["NNCF_CI"] = previous
    return nncf


def quantize_openvino_int8(onnx_path: Path, images: list[Path], size: int) -> object:
    """The OpenVINO model of ``onnx_path`` with int8 weights and activations (NNCF), calibrated on ``images``.

    The head's box decoding (:func:`head_decode_ops`) and the element-wise ops (:data:`FLOAT_ELEMENTWISE`) stay
    float: only the convolutions' inputs are quantised.
    """
    import openvino as ov

    nncf = import_nncf_offline()
    model = ov.Core().read_model(str(onnx_path))
    if not any(op.get_type_name() == "Convolution" for op in model.get_ordered_ops()):
        raise ConfigError(f"{onnx_path}: no convolutions to quantise")
    keep_float = head_decode_ops(model)
    tiles = list(_tiles(images, size))
    scope = nncf.IgnoredScope(names=keep_float, types=list(FLOAT_ELEMENTWISE), validate=False)
    quantized = nncf.quantize(model, nncf.Dataset(tiles), preset=nncf.QuantizationPreset.MIXED,
                              subset_size=len(tiles), ignored_scope=scope)
    log.info("int8 (OpenVINO/NNCF): %s calibrated on %d tiles; kept float: the head's %d decoding ops and every "
             "%s", onnx_path, len(images), len(keep_float), "/".join(FLOAT_ELEMENTWISE))
    return quantized
