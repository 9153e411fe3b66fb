"""Score thresholds per class: one number for every class, a mapping per class, or the model's own.

``evaluate`` (its operating point) and ``count`` (which detections count) both take ``conf`` in these forms. The
model's thresholds are the ``count_conf`` per class that ``yardwatch predict`` copies from the model card into
``<detections>/summary.json``: per class, the score from which the validation split's detections number its
labels (precision = recall there, so counts are unbiased).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from yardwatch import CLASS_NAMES
from yardwatch.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_CONF = 0.25  # ultralytics' default score threshold, for classes without an operating point


def class_thresholds(conf: float | Mapping[str, float]) -> tuple[float, ...]:
    """Score thresholds per class (:data:`~yardwatch.CLASS_NAMES` order) from one number for all classes or a
    mapping ``class name -> threshold`` (classes left out get :data:`DEFAULT_CONF`).

    Raises:
        ConfigError: an unknown class name, or a threshold outside [0, 1].
    """
    if isinstance(conf, Mapping):
        unknown = sorted(set(map(str, conf)) - set(CLASS_NAMES))
        if unknown:
            raise ConfigError(f"conf: unknown classes {', '.join(unknown)}; use {', '.join(CLASS_NAMES)}, e.g. "
                              "conf={railcar: 0.4}")
        values = tuple(float(conf.get(name, DEFAULT_CONF)) for name in CLASS_NAMES)
    else:
        values = (float(conf),) * len(CLASS_NAMES)
    if not all(0.0 <= v <= 1.0 for v in values):
        raise ConfigError(f"conf={conf}: every threshold must lie in [0, 1]")
    return values


def thresholds_text(values: Sequence[float]) -> str:
    """For people: ``0.25`` when one threshold serves every class, else ``railcar 0.41, tarp 0.2, container 0.3``."""
    if len(set(values)) == 1:
        return f"{values[0]:g}"
    return ", ".join(f"{name} {value:g}" for name, value in zip(CLASS_NAMES, values))


def thresholds_record(values: Sequence[float]) -> float | dict[str, float]:
    """For JSON: the number when one threshold serves every class, else ``{class name: threshold}``."""
    if len(set(values)) == 1:
        return float(values[0])
    return {name: float(value) for name, value in zip(CLASS_NAMES, values)}


def model_thresholds(detections_dir: str | Path) -> float | dict[str, float]:
    """The counting thresholds of the model that made ``detections_dir`` (``count_conf`` in its summary.json).

    A threshold below the ``conf`` predict ran with is raised to it (predict kept nothing below that score).
    Without a summary or thresholds: :data:`DEFAULT_CONF`, with a warning.
    """
    summary = Path(detections_dir) / "summary.json"
    try:
        document = json.loads(summary.read_text())
        found = dict(document.get("count_conf") or {})
        floor = float((document.get("settings") or {}).get("conf") or 0.0)
    except (OSError, ValueError, TypeError, AttributeError):
        found, floor = {}, 0.0
    if not found:
        log.warning("conf=model: %s has no count_conf (detections not from `yardwatch predict`, or a model card "
                    "without validation metrics); using score %g for every class", summary, DEFAULT_CONF)
        return DEFAULT_CONF
    try:
        thresholds = {str(k): float(v) for k, v in found.items()}
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{summary}: count_conf={found!r} is not a mapping of numbers ({err}); rerun "
                          "`yardwatch predict` or pass conf=<number>") from err
    low = sorted(k for k, v in thresholds.items() if v < floor)
    if low:
        log.info("conf=model: %s from score %g, the conf predict ran with (%s)", ", ".join(low), floor, summary)
    return {k: max(v, floor) for k, v in thresholds.items()}
