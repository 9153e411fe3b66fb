"""Build detector networks from ultralytics YAMLs and load trained weights with their model card.

Everything here imports ultralytics lazily so that ``io/``, ``tiling/`` and ``geo/`` stay importable without it.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yardwatch import CLASS_NAMES
from yardwatch.errors import ConfigError, InputError, ModelError
from yardwatch.models.card import ModelCard, file_sha256, find_card, read_card

log = logging.getLogger(__name__)

# Architectures built from the YAMLs that ultralytics ships (no pretrained download ever).
ARCHITECTURES = ("yolov8n", "yolov8s", "yolov8m", "yolo11n", "yolo11s", "yolo11m")
EMBEDDED_CARD_KEY = "yardwatch_model_card"


def cpu_threads() -> int:
    """The number of threads torch should use on the CPU: ``OMP_NUM_THREADS`` when the user set it, else every core
    this process may run on.

    Why: ultralytics sets ``OMP_NUM_THREADS=1`` when it is imported before torch, and its ``select_device`` calls
    ``torch.set_num_threads(cpu_count - 1)``. On a 2-core machine both leave torch one thread: CPU training and
    inference at half speed. :func:`ensure_offline` records the user's own setting before ultralytics can change it.
    """
    user = os.environ.get("YARDWATCH_OMP_NUM_THREADS") or ""
    if user.isdigit() and int(user) > 0:
        return int(user)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def use_cpu_threads() -> int:
    """Give torch :func:`cpu_threads` intra-op threads (undoing ultralytics' one thread); returns the number."""
    import torch

    threads = cpu_threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def cpu_has_amx_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (Intel AMX tiles, Sapphire Rapids and later).

    There, bf16 inference measured 1.8x faster than fp32 end to end with the same detections (docs/benchmarks.md,
    run 15: 11.1 against 20.3 s at 8192 px, scene mAP50 0.642 against 0.641). Without AMX, bf16 is emulated and
    2.2-2.5x slower (runs 9-12), so ``precision=auto`` (predict) and ``trainer.amp=auto`` (train) pick it only
    here."""
    import torch

    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe and probe())


def cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/yardwatch/<name>`` (``~/.cache`` when unset); not created here."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "yardwatch" / name


def write_cache_text(path: Path, text: str) -> Path:
    """Write a cache file whole: a temporary name of this process, then a rename (other processes, e.g. DDP
    workers, may write the same file at the same time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def ensure_offline() -> None:
    """Make ultralytics offline before its first import (no downloads, no pip, settings in a cache dir).

    Also records the user's ``OMP_NUM_THREADS`` (if any) before ultralytics' import sets it to 1 (see
    :func:`cpu_threads`).
    """
    if "YARDWATCH_OMP_NUM_THREADS" not in os.environ:
        # once ultralytics is imported, OMP_NUM_THREADS=1 may be its own doing, not the user's: not recorded
        imported = "ultralytics" in sys.modules
        os.environ["YARDWATCH_OMP_NUM_THREADS"] = "" if imported else os.environ.get("OMP_NUM_THREADS", "")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "false")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(cache_dir("ultralytics")))


def model_yaml(architecture: str, task: str) -> str:
    """The ultralytics YAML name for ``architecture`` and ``task``: ``yolov8n`` + ``obb`` -> ``yolov8n-obb.yaml``."""
    name = architecture.removesuffix(".yaml").removesuffix("-obb")
    if name not in ARCHITECTURES:
        raise ModelError(f"model={architecture!r} is not a known architecture; choose one of "
                         f"{', '.join(ARCHITECTURES)} or pass a .pt weights path")
    return f"{name}{'-obb' if task == 'obb' else ''}.yaml"


OBB_ANGLES = ("periodic", "sigmoid")


def periodic_obb_yaml(architecture: str) -> Path:
    """The ultralytics ``-obb`` YAML of ``architecture`` with the periodic angle head, written to yardwatch's cache.

    Why: the YOLOv8/YOLO11 oriented-box head squashes the angle through a sigmoid into [-pi/4, 3pi/4). A long box
    heading just past -45 degrees then needs the sigmoid near 0 (gradient 0.02) or the swapped w/h form, and the
    shipped demo weights put stars of confident boxes at wrong headings on such cars (12.1 % of one winter scene's
    detections more than 20 degrees off, 0.2-0.5 % on the same tiles turned or mirrored). ultralytics' ``OBB26``
    head (YOLO26's) emits the angle unbounded; the rotated-IoU and angle losses are periodic in it. Trained by the
    demo recipe for the same 78 minutes on one machine as the sigmoid head, it had fewer such boxes near -45
    degrees (3.2 % against 4.5 %) but scored no higher on any class and lower on tarps and containers
    (docs/architecture.md, docs/benchmarks.md). Its DFL box loss still jumped where a label's angle wraps; with
    ``obb_box_targets=aligned`` (:mod:`yardwatch.models.obb_targets`) the stars near -45 degrees were gone. The
    backbone, neck, box and class branches stay the architecture's own, and the network is NMS-based as before
    (``end2end`` off). The file name keeps the scale letter (``yolov8n-obb-periodic.yaml``), which ultralytics reads
    from it.
    """
    import yaml
    from ultralytics.nn import modules
    from ultralytics.nn.tasks import yaml_model_load

    if not hasattr(modules, "OBB26"):
        raise ModelError("obb_angle=periodic needs ultralytics >= 8.4 (its OBB26 head); upgrade ultralytics or use "
                         "obb_angle=sigmoid")

    stem = model_yaml(architecture, "obb").removesuffix(".yaml")
    document = {k: v for k, v in yaml_model_load(f"{stem}.yaml").items() if k != "yaml_file"}
    head = document["head"][-1]
    if head[2] != "OBB":
        raise ModelError(f"model={architecture}: its -obb YAML ends in {head[2]}, not OBB; use obb_angle=sigmoid")
    document["head"][-1] = [head[0], head[1], "OBB26", head[3]]
    text = yaml.safe_dump(document, sort_keys=False)
    path = cache_dir("models") / f"{stem}-periodic.yaml"
    if not path.is_file() or path.read_text() != text:
        write_cache_text(path, text)
    return path


def build_yolo(model: str, task: str, *, obb_angle: str = "sigmoid") -> Any:
    """An ultralytics ``YOLO`` object: built from YAML for an architecture name, loaded for a ``.pt`` path.

    ``obb_angle`` (task obb, architecture names only; a ``.pt`` keeps the head it was trained with): ``sigmoid``
    builds the architecture's own oriented-box head, ``periodic`` the head that emits the angle unbounded
    (:func:`periodic_obb_yaml`).
    """
    ensure_offline()
    from ultralytics import YOLO

    if model.endswith(".pt"):
        path = Path(model)
        if not path.is_file():
            raise InputError(f"model={model}: weights file not found; pass an existing .pt or an architecture "
                             f"name such as yolov8n")
        try:
            yolo = YOLO(str(path), task=task)
        except Exception as err:  # ultralytics raises many types for a bad file
            raise ModelError(f"model={model}: not a loadable checkpoint ({err}); pass a .pt written by "
                             "yardwatch train or ultralytics") from err
        if yolo.task != task:
            raise ModelError(f"model={model}: weights are for task={yolo.task}, not task={task}; set task={yolo.task}")
        return yolo
    if obb_angle not in OBB_ANGLES:
        raise ModelError(f"obb_angle={obb_angle!r} is not one of {', '.join(OBB_ANGLES)}")
    if task == "obb" and obb_angle == "periodic":
        return YOLO(str(periodic_obb_yaml(model)), task=task)
    return YOLO(model_yaml(model, task), task=task)


@dataclass(slots=True)
class LoadedModel:
    """A network ready for batched inference, with the card that says how to feed it.

    ``forward(batch)`` takes a float tensor (B, 3, H, W) in [0, 1] on ``device`` and returns the raw head output
    (B, 4 + nc [+ 1 angle for obb], N anchors) with boxes as (cx, cy, w, h) in input pixels.
    """

    network: Any
    card: ModelCard
    stride: int
    device: Any
    path: Path
    sha256: str
    half: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.card.class_names)

    def forward(self, batch: Any) -> Any:
        import torch

        with torch.inference_mode():
            out = self.network(batch)
        return out[0] if isinstance(out, (list, tuple)) else out


def _checkpoint_card(ckpt: dict[str, Any], network: Any, weights: Path) -> ModelCard:
    embedded = ckpt.get(EMBEDDED_CARD_KEY)
    if isinstance(embedded, dict):
        return ModelCard.from_dict(embedded)
    names = getattr(network, "names", None) or dict(enumerate(CLASS_NAMES))
    task = getattr(network, "task", "detect")
    args = ckpt.get("train_args") or {}
    imgsz = int(args.get("imgsz", 640)) if isinstance(args.get("imgsz", 640), int) else 640
    log.warning("%s: no model card found; assuming uint8 RGB input at native resolution, tile %d px",
                weights, imgsz)
    return ModelCard(task=task if task in ("detect", "obb") else "detect",
                     class_names=tuple(names[i] for i in sorted(names)), imgsz=imgsz, tile_size_px=imgsz)


def load_model(weights: str | os.PathLike[str], device: Any = "cpu", *, half: bool | None = None) -> LoadedModel:
    """Load ``.pt`` weights for batched inference on ``device`` (fused, eval mode).

    The model card comes from a file beside the weights (see :func:`yardwatch.models.card.find_card`), else from
    the checkpoint itself. ``half`` defaults to True on CUDA.

    Raises:
        InputError: the file does not exist.
        ModelError: the file is not a detector checkpoint, or its classes disagree with its card.
    """
    ensure_offline()
    import torch

    path = Path(weights)
    if not path.is_file():
        raise InputError(f"weights={path}: file not found; pass a .pt written by yardwatch train")
    if path.suffix in (".onnx", ".xml"):
        return _load_exported(path, torch.device(device))
    if path.suffix != ".pt":
        raise ModelError(f"weights={path}: unsupported format {path.suffix!r}; pass a .pt, an exported .onnx or "
                         "an OpenVINO .xml")
    from ultralytics.nn.tasks import load_checkpoint

    try:
        network, ckpt = load_checkpoint(str(path), device="cpu", fuse=True)
    except Exception as err:  # noqa: BLE001 - any failure means the file is not a usable model
        raise ModelError(f"weights={path}: not a detector checkpoint ({type(err).__name__}: "
                         f"{' '.join(str(err).split())[:160]}); pass a .pt written by yardwatch train") from err
    card_path = find_card(path)
    card = read_card(card_path) if card_path else _checkpoint_card(ckpt, network, path)
    head = network.model[-1]
    nc = int(getattr(head, "nc", len(card.class_names)))
    if nc != len(card.class_names):
        raise ModelError(f"weights={path}: network has {nc} classes but its model card lists "
                         f"{len(card.class_names)} ({', '.join(card.class_names)}); use the card written with it")
    # The head says what the network predicts; a checkpoint's ``task`` attribute is not always set right.
    head_name = type(head).__name__
    task = "obb" if head_name.startswith("OBB") else "detect" if head_name.startswith("Detect") else card.task
    if task != card.task:
        raise ModelError(f"weights={path}: network task {task} disagrees with model card task {card.task}")
    device = torch.device(device)
    if device.type == "cpu":
        use_cpu_threads()
    use_half = device.type == "cuda" if half is None else half
    network = network.to(device).eval()
    if use_half:
        network = network.half()
    for param in network.parameters():
        param.requires_grad_(False)
    _inplace_conv_activations(network)
    stride = int(max(network.stride.tolist())) if hasattr(network, "stride") else 32
    return LoadedModel(network=network, card=card, stride=stride, device=device, path=path,
                       sha256=file_sha256(path), half=use_half)


def _inplace_conv_activations(network: Any) -> int:
    """Make each convolution block's SiLU work in place (inference only); returns how many were changed.

    ultralytics' ``Conv`` applies its activation to the fresh output of its convolution, which nothing else reads,
    so overwriting it is safe; on the CPU it saves a full-size allocation and write per layer: +6 % tiles/s for
    yolov8n-obb at 320 px, batch 16, 2 cores (channels-last fp32, 57 -> 61 tiles/s), identical outputs.
    """
    import torch

    changed = 0
    for module in network.modules():
        act = getattr(module, "act", None)
        if isinstance(getattr(module, "conv", None), torch.nn.Conv2d) and type(act) is torch.nn.SiLU:
            module.act = torch.nn.SiLU(inplace=True)
            changed += 1
    return changed


class _ExportedNetwork:
    """What the engine asks of a network besides calling it, for a runtime whose precision the export fixed."""

    def parameters(self) -> Any:
        import torch

        yield torch.zeros(1)  # float32: the engine feeds float32 batches (or uint8, see ``takes_uint8_nhwc``)

    def to(self, *_args: Any, **_kwargs: Any) -> _ExportedNetwork:
        return self  # precision is fixed at export time


class OnnxNetwork(_ExportedNetwork):
    """An ONNX Runtime session that takes and returns torch tensors like the torch network does."""

    def __init__(self, path: Path, device: Any) -> None:
        import onnxruntime as ort

        providers = ["CPUExecutionProvider"]
        if getattr(device, "type", "cpu") == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.input_type = self.session.get_inputs()[0].type
        self.device = device

    def __call__(self, batch: Any) -> Any:
        import numpy as np
        import torch

        dtype = np.float16 if "float16" in self.input_type else np.float32
        out = self.session.run(None, {self.input_name: batch.detach().float().cpu().numpy().astype(dtype)})[0]
        return torch.from_numpy(out.astype(np.float32)).to(batch.device)


class OpenVinoNetwork(_ExportedNetwork):
    """An OpenVINO model compiled for the CPU, called like the torch network (torch tensors in and out).

    It takes the batch as the reader made it, uint8 (B, H, W, 3) (``takes_uint8_nhwc``): OpenVINO's preprocessing,
    compiled into the model, converts to float, scales to [0, 1] and transposes to NCHW in its first layer, so no
    float copy of the batch is made outside it. Latency hint (one stream, every core on one request): yardwatch
    feeds one batch at a time, and on 2 cores this measured 0.25 s a batch of 16 at 320 px where the throughput
    hint took 0.41 s.

    Precision (:meth:`set_precision`, which the engine calls with ``precision``): ``auto`` leaves it to OpenVINO,
    which computes the float layers in bf16 on a CPU with AMX and in fp32 elsewhere; ``fp32`` and ``bf16`` ask for
    that one. The model is compiled on the first call, so choosing costs no second compile.
    """

    takes_uint8_nhwc = True
    _HINTS = {"auto": None, "fp32": "f32", "bf16": "bf16"}

    def __init__(self, path: Path, device: Any) -> None:
        import openvino as ov
        from openvino.preprocess import PrePostProcessor

        if getattr(device, "type", "cpu") != "cpu":
            raise ModelError(f"weights={path}: OpenVINO models run on the CPU here; pass device=cpu, or the .pt "
                             f"for device={device}")
        core = ov.Core()
        model = core.read_model(str(path))
        ppp = PrePostProcessor(model)
        ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
        ppp.input().model().set_layout(ov.Layout("NCHW"))
        ppp.input().preprocess().convert_element_type(ov.Type.f32).scale(255.0)
        self._core, self._model, self._hint = core, ppp.build(), None
        self.compiled: Any = None
        self.device = device

    def set_precision(self, precision: str) -> None:
        """Compute in ``precision`` (auto, fp32 or bf16; see the class docstring) from the next call on."""
        if precision not in self._HINTS:
            raise ConfigError(f"precision={precision} does not apply to an OpenVINO model on the CPU; use "
                              f"precision={' or '.join(self._HINTS)}")
        if self._HINTS[precision] != self._hint:
            self._hint, self.compiled = self._HINTS[precision], None

    @property
    def compute_precision(self) -> str:
        """The precision of the float layers, as torch names it (bfloat16, float32)."""
        hint = self._hint or self._core.get_property("CPU", "INFERENCE_PRECISION_HINT").to_string()
        return {"bf16": "bfloat16", "f16": "float16"}.get(hint, "float32")

    def _compile(self) -> None:
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": cpu_threads()}
        if self._hint is not None:
            config["INFERENCE_PRECISION_HINT"] = self._hint
        self.compiled = self._core.compile_model(self._model, "CPU", config)
        self.request = self.compiled.create_infer_request()

    def __call__(self, batch: Any) -> Any:
        import numpy as np
        import torch

        if batch.dtype != torch.uint8:  # a float NCHW batch in [0, 1], as the torch network takes it
            batch = batch.mul(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        array = np.ascontiguousarray(batch.detach().cpu().numpy())
        if self.compiled is None:
            self._compile()
        out = self.request.infer({0: array})[self.compiled.output(0)]
        return torch.from_numpy(np.array(out, dtype=np.float32, copy=True))


def _load_exported(path: Path, device: Any) -> LoadedModel:
    """An exported model (ONNX through ONNX Runtime, OpenVINO IR through OpenVINO) with the card beside it."""
    card_path = find_card(path)
    if card_path is None:
        raise ModelError(f"weights={path}: no model card beside it ({path.stem}.model_card.json); export with "
                         "`yardwatch export` which writes it, or copy the card of the .pt it came from")
    card = read_card(card_path)
    runtime, network_class = (("ONNX Runtime", OnnxNetwork) if path.suffix == ".onnx"
                              else ("OpenVINO", OpenVinoNetwork))
    try:
        network = network_class(path, device)
    except ModelError:
        raise
    except ImportError as err:
        raise ModelError(f"weights={path}: {runtime} is not installed (pip install "
                         f"{'onnxruntime' if path.suffix == '.onnx' else 'openvino'})") from err
    except Exception as err:  # noqa: BLE001 - the runtimes raise their own exception types
        raise ModelError(f"weights={path}: {runtime} cannot load it ({' '.join(str(err).split())[:160]})") from err
    return LoadedModel(network=network, card=card, stride=32, device=device, path=path, sha256=file_sha256(path))
