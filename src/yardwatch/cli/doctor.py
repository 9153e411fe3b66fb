"""``yardwatch doctor``: versions, devices, and whether the demo weights load."""

from __future__ import annotations

import platform
import sys
from typing import Any


# optional packages for exported models: distribution -> what it is for and how to get it
OPTIONAL_RUNTIMES = {"onnxruntime": "predict weights=<.onnx>; pip install 'yardwatch[onnx]'",
                     "openvino": "predict weights=<.xml>, the fastest CPU path; pip install 'yardwatch[openvino]'",
                     "nncf": "export format=openvino int8=true; pip install 'yardwatch[openvino]'"}


def optional_runtimes() -> list[tuple[str, str]]:
    """(name, version or 'not installed (what for; how)') for each optional runtime, without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    rows = []
    for name, purpose in OPTIONAL_RUNTIMES.items():
        try:
            rows.append((name, version(name)))
        except PackageNotFoundError:
            rows.append((name, f"not installed ({purpose})"))
    return rows


def run(cfg: Any) -> None:
    """Print a report; exit 1 with the reason when something a user needs is broken."""
    import rasterio
    import torch

    from yardwatch import __version__

    problems: list[str] = []
    rows = [("yardwatch", __version__), ("python", platform.python_version()), ("torch", torch.__version__),
            ("cuda", torch.version.cuda or "none"),
            ("gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"),
            ("rasterio", rasterio.__version__), ("gdal", rasterio.__gdal_version__)]
    try:
        import ultralytics

        rows.append(("ultralytics", ultralytics.__version__))
    except ImportError as err:
        problems.append(f"ultralytics does not import: {err}")
    rows += optional_runtimes()
    try:
        from yardwatch.infer.device import resolve_device

        rows.append((f"device={cfg.device}", str(resolve_device(str(cfg.device)))))
    except Exception as err:  # noqa: BLE001 - report any failure, it is the point of doctor
        problems.append(f"device={cfg.device}: {err}")
    try:
        from yardwatch.models.card import demo_weights_path
        from yardwatch.models.loader import load_model

        model = load_model(demo_weights_path(), device="cpu")
        rows.append(("demo weights", f"ok ({model.card.task}, classes {', '.join(model.card.class_names)})"))
    except Exception as err:  # noqa: BLE001
        problems.append(f"demo weights do not load: {err}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
