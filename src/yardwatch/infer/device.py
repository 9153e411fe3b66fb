"""Device choice: ``auto`` takes CUDA, then MPS, then CPU, and says which; a missing explicit device is an error."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from yardwatch.errors import ConfigError, DeviceError

log = logging.getLogger(__name__)


CPU_ONLY_SUFFIXES = (".xml",)  # OpenVINO IR: yardwatch runs it on the CPU plugin only


def device_for_weights(weights: str | Path, spec: str | int | None) -> str | int | None:
    """The device spec to resolve for ``weights``: ``auto`` means the CPU for a CPU-only format (OpenVINO IR),
    so a machine or Ray cluster with GPUs does not pick one for it. An explicit device is left as given (the
    loader refuses CUDA for such weights with one line)."""
    text = "auto" if spec is None else str(spec).strip().lower()
    if text == "auto" and Path(weights).suffix.lower() in CPU_ONLY_SUFFIXES:
        log.info("device=auto -> cpu (%s runs on the CPU)", Path(weights).name)
        return "cpu"
    return spec


def resolve_device(spec: str | int | None = "auto") -> torch.device:
    """Turn ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``N`` or ``mps`` into a :class:`torch.device`.

    Raises:
        DeviceError: an explicit CUDA or MPS device is not available here.
        ConfigError: the spec is not a device name.
    """
    text = "auto" if spec is None else str(spec).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            device = torch.device("cuda:0")
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = torch.device("mps")
        else:
            device = torch.device("cpu")
        log.info("device=auto -> %s", device)
        return device
    if text.isdigit():
        text = f"cuda:{text}"
    if text == "cpu":
        return torch.device("cpu")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device={spec}: CUDA is not available on this machine; use device=auto or device=cpu")
        device = torch.device(text)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device={spec}: only {torch.cuda.device_count()} CUDA device(s) here; "
                              f"pick cuda:0..cuda:{torch.cuda.device_count() - 1}")
        return device
    if text == "mps":
        if getattr(torch.backends, "mps", None) is None or not torch.backends.mps.is_available():
            raise DeviceError(f"device={spec}: MPS is not available on this machine; use device=auto or device=cpu")
        return torch.device("mps")
    raise ConfigError(f"device={spec!r} is not a device; use auto, cpu, cuda, cuda:N or mps")
