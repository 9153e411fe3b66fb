"""Validation of config values at the CLI edge: each failure names the key, the value and the fix."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from yardwatch.errors import ConfigError, InputError, OutputError


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def number(cfg: Any, key: str, *, lo: float | None = None, hi: float | None = None, integer: bool = False,
           lo_open: bool = False, optional: bool = False) -> float | int | None:
    """Read ``cfg[key]`` as a finite number in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``).

    Raises:
        ConfigError: naming the key, the value and the range.
    """
    value = cfg.get(key) if hasattr(cfg, "get") else cfg[key]
    if value is None and optional:
        return None
    if not _is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
        raise ConfigError(f"{key}={value!r} is not a finite number; set {key}=<number>")
    if integer and (isinstance(value, float) and not value.is_integer()):
        raise ConfigError(f"{key}={value!r} must be a whole number")
    bad_lo = lo is not None and (value <= lo if lo_open else value < lo)
    bad_hi = hi is not None and value > hi
    if bad_lo or bad_hi:
        left = "(" if lo_open else "["
        rng = f"{left}{'' if lo is None else lo}, {'' if hi is None else hi}]"
        raise ConfigError(f"{key}={value!r} is out of range {rng}; pick a value inside it")
    return int(value) if integer else value


def flag(cfg: Any, key: str) -> bool:
    """Read ``cfg[key]`` as true or false (not a string or a number that merely looks like one)."""
    value = cfg.get(key)
    if not isinstance(value, bool):
        raise ConfigError(f"{key}={value!r} must be true or false")
    return value


def choice(cfg: Any, key: str, options: tuple[str, ...]) -> str:
    """Read ``cfg[key]`` as one of ``options``."""
    value = cfg.get(key)
    if value not in options:
        raise ConfigError(f"{key}={value!r} is not one of {', '.join(options)}")
    return str(value)


def existing_file(cfg: Any, key: str, *, optional: bool = False) -> Path | None:
    """Read ``cfg[key]`` as a path to an existing, non-empty file."""
    value = cfg.get(key)
    if value in (None, "") and optional:
        return None
    if value in (None, ""):
        raise ConfigError(f"{key} is required; pass {key}=<path>")
    path = Path(str(value)).expanduser()
    if not path.exists():
        raise InputError(f"{key}={path}: file not found; check the path")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{key}={path}: file is empty; point it at a real file")
    return path


def folder(cfg: Any, key: str, what: str) -> Path:
    """Read ``cfg[key]`` as an existing folder (``what`` says what it should hold, for the message)."""
    path = existing_file(cfg, key)
    if not path.is_dir():
        raise InputError(f"{key}={path}: is a file, not a folder; point {key} at the folder of {what}")
    return path


def output_dir(cfg: Any, key: str = "out_dir") -> Path:
    """Read ``cfg[key]`` as a folder that exists or can be made, and that this process can write to."""
    value = cfg.get(key)
    if value in (None, ""):
        raise ConfigError(f"{key} is required; pass {key}=<folder>")
    path = Path(str(value)).expanduser()
    if path.exists() and not path.is_dir():
        raise OutputError(f"{key}={path}: exists and is not a folder; choose another {key}")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():  # out_dir=<a file>/sub: no permission bit says so, and root may write anywhere
        raise OutputError(f"{key}={path}: {parent} is a file, not a folder; choose another {key}")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{key}={path}: {parent} is not writable; choose a writable {key}")
    return path


def score_thresholds(cfg: Any, key: str, detections: Path) -> float | dict[str, float]:
    """Read ``cfg[key]`` as score thresholds: a number for every class, a mapping ``{railcar: 0.4, ...}``, or
    ``model``: the thresholds of the model that made ``detections``
    (:func:`yardwatch.eval.thresholds.model_thresholds`)."""
    from yardwatch.eval.thresholds import model_thresholds

    value = cfg.get(key)
    if value == "model":
        return model_thresholds(detections)
    if hasattr(value, "items"):
        return {str(k): float(number(value, k, lo=0, hi=1)) for k in value}
    if isinstance(value, str):
        raise ConfigError(f"{key}={value!r}: use a number ({key}=0.3), one per class ({key}={{railcar: 0.4}}) or "
                          f"{key}=model (the thresholds of the model that made the detections)")
    return number(cfg, key, lo=0, hi=1)
