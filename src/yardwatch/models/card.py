"""The model card: everything inference needs to use a trained model the way it was trained.

A card travels with the weights as JSON: ``<run>/model_card.json`` beside ``<run>/weights/``, or
``<stem>.model_card.json`` beside an exported or shipped file. It records the task, the class names in order, the
tile size and ground resolution the model saw, and how pixels were normalised (band choice and stretch), so that
``predict`` feeds the network exactly what training fed it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from yardwatch import CLASS_NAMES
from yardwatch.errors import ModelError

CARD_SCHEMA_VERSION = 1
TASKS = ("detect", "obb")


@dataclass(frozen=True, slots=True)
class ModelCard:
    """What a trained yardwatch model is and how to feed it.

    Attributes:
        task: ``detect`` (axis-aligned boxes) or ``obb`` (oriented boxes).
        class_names: class names in class-id order.
        imgsz: network input size in pixels (square).
        tile_size_px: size of the scene tiles the model was trained on.
        overlap_px: overlap used when tiling the training scenes (a sensible default for inference).
        gsd_m: ground sample distance of the training tiles in metres, or None when unknown.
        normalization: the ``Normalization.to_dict()`` of the training dataset (bands, stretch), or None for uint8
            RGB read as is.
        training: the training configuration (model, epochs, batch, augmentations, ...).
        dataset_sha256: hash of the training tiles manifest, to tell which data made these weights.
        metrics: validation metrics (mAP50, mAP50-95, per class).
        versions: yardwatch, ultralytics and torch versions that trained it.
        weights_sha256: hash of the weights file the card describes (filled when written beside weights).
    """

    task: str
    class_names: tuple[str, ...] = CLASS_NAMES
    imgsz: int = 640
    tile_size_px: int = 640
    overlap_px: int = 64
    gsd_m: float | None = None
    normalization: dict[str, Any] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    dataset_sha256: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    weights_sha256: str | None = None
    schema_version: int = CARD_SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ModelError(f"model card: task={self.task!r} is not one of {', '.join(TASKS)}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["class_names"] = list(self.class_names)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        known = {f for f in cls.__dataclass_fields__}  # type: ignore[attr-defined]
        kwargs = {k: v for k, v in data.items() if k in known}
        if "task" not in kwargs:
            raise ModelError("model card has no 'task'; regenerate it with `yardwatch train`")
        kwargs["class_names"] = tuple(kwargs.get("class_names", CLASS_NAMES))
        return cls(**kwargs)

    def with_updates(self, **changes: Any) -> ModelCard:
        return replace(self, **changes)

    def count_thresholds(self) -> dict[str, float]:
        """Per class, the score from which a detection should be counted, from the validation metrics.

        ``count_conf`` (the score at which the validation split's detections number its labels, so counts are
        unbiased there) when the card has it, else ``f1_max_conf`` (cards written before ``count_conf``); classes
        with neither are left out.
        """
        per_class = (self.metrics or {}).get("per_class") or {}
        found: dict[str, float] = {}
        for name in self.class_names:
            entry = per_class.get(name) or {}
            value = entry.get("count_conf", entry.get("f1_max_conf"))
            if value is not None:
                found[name] = float(value)
        return found


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_card(card: ModelCard, path: str | os.PathLike[str]) -> Path:
    """Write ``card`` as JSON to ``path`` atomically (temp name, then rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(card.to_dict(), indent=2, sort_keys=True, default=str) + "\n")
    tmp.replace(path)
    return path


def read_card(path: str | os.PathLike[str]) -> ModelCard:
    """Read a card written by :func:`write_card`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ModelError(f"{path}: not a readable model card ({err}); regenerate it with `yardwatch train`") from err
    return ModelCard.from_dict(data)


def card_path_for(weights: str | os.PathLike[str]) -> Path:
    """The card file written for ``weights``: ``<stem>.model_card.json`` beside it."""
    weights = Path(weights)
    return weights.with_name(weights.stem + ".model_card.json")


def export_card_path(source: str | os.PathLike[str], exported: str | os.PathLike[str]) -> Path:
    """The card file of ``exported`` (made from ``source``): ``<stem>.model_card.json`` beside it, or
    ``<file name>.model_card.json`` where that would be the card of ``source`` itself (``demo.onnx`` exported
    beside ``demo.pt``), so that an export never rewrites the card of the weights it came from."""
    source, exported = Path(source), Path(exported)
    card = card_path_for(exported)
    if card.resolve() == card_path_for(source).resolve():
        card = exported.with_name(exported.name + ".model_card.json")
    return card


def card_candidates(weights: str | os.PathLike[str]) -> list[Path]:
    """Where the card of ``weights`` may lie, most specific first."""
    weights = Path(weights)
    return [weights.with_name(weights.name + ".model_card.json"),
            card_path_for(weights),
            weights.parent / "model_card.json",
            weights.parent.parent / "model_card.json"]


def find_card(weights: str | os.PathLike[str]) -> Path | None:
    """The card file that belongs to ``weights``, or None."""
    return next((p for p in card_candidates(weights) if p.is_file()), None)


def assets_dir() -> Path:
    """The folder of files shipped inside the package (demo weights and their card)."""
    return Path(__file__).resolve().parents[1] / "assets"


def demo_weights_path() -> Path:
    """The demo weights shipped with yardwatch, trained by ``scripts/train_demo.py`` on synthetic scenes."""
    path = assets_dir() / "demo.pt"
    if not path.is_file():
        raise ModelError(f"{path}: demo weights are missing from this install; run scripts/train_demo.py "
                         "or pass weights=<your .pt>")
    return path
