"""Reading and checking a tiled dataset (``dataset.yaml`` written by ``yardwatch tile``) before training.

ultralytics reports a label file with the wrong number of columns deep inside its loader, as a warning per file,
and then trains on nothing. Training for an hour on an empty dataset is the failure worth preventing, so every
label file is read here first (they are small) and the first bad one is named with the fix.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from yardwatch import CLASS_NAMES
from yardwatch.errors import InputError, LabelError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})
LABEL_COLUMNS = {"detect": 5, "obb": 9}
_FORMAT_NAME = {5: "YOLO (class cx cy w h)", 9: "YOLO-OBB (class x1 y1 ... x4 y4)"}
# Normalised coordinates may overshoot [0, 1] by rounding; ultralytics clips them, anything beyond is a bug.
_COORD_SLACK = 0.01


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """A checked training dataset.

    Attributes:
        yaml_path: the dataset.yaml read.
        root: the folder that the split paths are relative to.
        splits: split name -> image folders of that split (``train`` and ``val`` always present).
        class_names: class names in class-id order.
        task: the task the labels are written for (``detect`` or ``obb``).
        n_images: split name -> number of images.
        n_labels: split name -> number of labelled objects.
        tiles_sha256: hash identifying the tiles (from the dataset's ``yardwatch:`` block, else computed).
        yardwatch: the dataset's ``yardwatch:`` block (tile size, gsd_m, normalisation, ...), empty when absent.
    """

    yaml_path: Path
    root: Path
    splits: dict[str, tuple[Path, ...]]
    class_names: tuple[str, ...]
    task: str
    n_images: dict[str, int]
    n_labels: dict[str, int]
    tiles_sha256: str
    yardwatch: dict[str, Any]

    def ultralytics_dict(self) -> dict[str, Any]:
        """The dataset as ultralytics reads it, with absolute paths (so its DATASETS_DIR never applies)."""
        data: dict[str, Any] = {"path": str(self.root), "names": dict(enumerate(self.class_names))}
        for split, folders in self.splits.items():
            data[split] = [str(f) for f in folders] if len(folders) > 1 else str(folders[0])
        data["yardwatch"] = self.yardwatch
        return data


def label_dir_for(image_dir: Path) -> Path:
    """The label folder that ultralytics pairs with ``image_dir`` (last ``images`` component -> ``labels``)."""
    parts = list(image_dir.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts)
    raise InputError(f"{image_dir}: image folders must have an 'images' component (ultralytics finds labels by "
                     "replacing it with 'labels'); lay the dataset out as images/<split> and labels/<split>")


def _names(raw: Any, yaml_path: Path) -> tuple[str, ...]:
    if isinstance(raw, dict):
        try:
            ids = sorted(int(k) for k in raw)
        except (TypeError, ValueError) as err:
            raise InputError(f"{yaml_path}: names keys must be class ids 0..n-1") from err
        if ids != list(range(len(ids))):
            raise InputError(f"{yaml_path}: names ids {ids} are not 0..{len(ids) - 1}; number the classes from 0")
        return tuple(str(raw[k] if k in raw else raw[str(k)]) for k in ids)
    if isinstance(raw, list):
        return tuple(str(n) for n in raw)
    raise InputError(f"{yaml_path}: 'names' is missing or not a list/mapping; list the classes "
                     f"({', '.join(CLASS_NAMES)})")


def _split_folders(raw: Any, root: Path, split: str, yaml_path: Path) -> tuple[Path, ...]:
    entries = raw if isinstance(raw, list) else [raw]
    folders = []
    for entry in entries:
        if not isinstance(entry, str) or not entry:
            raise InputError(f"{yaml_path}: '{split}' must be a folder of images (or a list of folders)")
        path = Path(entry) if Path(entry).is_absolute() else root / entry
        if not path.is_dir():
            raise InputError(f"{yaml_path}: {split} images folder {path} not found; retile or fix '{split}'")
        folders.append(path.resolve())
    return tuple(folders)


def _check_label_file(path: Path, task: str, n_classes: int) -> int:
    """Check one label file; returns its number of objects."""
    expected = LABEL_COLUMNS[task]
    count = 0
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != expected:
            fmt = _FORMAT_NAME.get(len(fields), f"{len(fields)} values")
            other = next((t for t, n in LABEL_COLUMNS.items() if n == len(fields)), None)
            fix = (f"set task={other} or retile with task={task}" if other
                   else f"write {_FORMAT_NAME[expected]} lines")
            raise LabelError(f"{path}:{line_no}: {fmt} label but task={task} needs {_FORMAT_NAME[expected]}; {fix}")
        try:
            values = [float(v) for v in fields]
        except ValueError as err:
            raise LabelError(f"{path}:{line_no}: non-numeric value in {line.strip()!r}") from err
        class_id = values[0]
        if not class_id.is_integer() or not 0 <= class_id < n_classes:
            raise LabelError(f"{path}:{line_no}: class id {fields[0]} is not in 0..{n_classes - 1}; "
                             "fix the label or the dataset's names")
        coords = values[1:]
        if not all(math.isfinite(c) and -_COORD_SLACK <= c <= 1 + _COORD_SLACK for c in coords):
            raise LabelError(f"{path}:{line_no}: coordinates must be normalised to [0, 1]; retile the dataset")
        count += 1
    return count


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _fingerprint(label_files: list[Path], image_files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in label_files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    for path in image_files:
        digest.update(f"{path.name}:{path.stat().st_size}".encode())
    return digest.hexdigest()


def read_dataset(yaml_path: str | os.PathLike[str], task: str,
                 expected_classes: tuple[str, ...] | None = CLASS_NAMES) -> DatasetInfo:
    """Read ``dataset.yaml`` and check every label file against ``task`` and the class list.

    Args:
        yaml_path: the dataset.yaml written by ``yardwatch tile`` (or any ultralytics detection dataset yaml).
        task: ``detect`` (5 values per label line) or ``obb`` (9 values per label line).
        expected_classes: the class names the dataset must list, in order; None accepts any.

    Raises:
        InputError: the yaml is missing or malformed, a split folder is missing, the classes differ, or the
            dataset has no training images.
        LabelError: a label file is in the wrong format for ``task``, names an unknown class, or is not normalised.
    """
    yaml_path = Path(yaml_path)
    if task not in LABEL_COLUMNS:
        raise InputError(f"task={task!r} is not one of {', '.join(LABEL_COLUMNS)}")
    if yaml_path.is_dir():
        yaml_path = yaml_path / "dataset.yaml"
    if not yaml_path.is_file():
        raise InputError(f"data={yaml_path}: dataset.yaml not found; make one with `yardwatch tile ... out_dir=D` "
                         "and pass data=D/dataset.yaml")
    try:
        raw = yaml.safe_load(yaml_path.read_text())
    except yaml.YAMLError as err:
        raise InputError(f"{yaml_path}: not valid YAML ({' '.join(str(err).split())[:160]})") from err
    if not isinstance(raw, dict):
        raise InputError(f"{yaml_path}: not a dataset description (expected keys path, train, val, names)")
    base = yaml_path.parent
    root = Path(raw["path"]) if raw.get("path") else base
    root = (root if root.is_absolute() else base / root).resolve()
    class_names = _names(raw.get("names"), yaml_path)
    if expected_classes is not None and class_names != tuple(expected_classes):
        raise InputError(f"{yaml_path}: classes {list(class_names)} differ from yardwatch's "
                         f"{list(expected_classes)} (ids are fixed in that order); retile with yardwatch tile")
    block = raw.get("yardwatch") or {}
    if not isinstance(block, dict):
        raise InputError(f"{yaml_path}: the 'yardwatch' block must be a mapping")
    tiled_task = block.get("task")
    if tiled_task is not None and tiled_task != task:
        raise InputError(f"{yaml_path}: tiled for task={tiled_task} but task={task}; set task={tiled_task} or "
                         f"retile with task={task}")
    splits: dict[str, tuple[Path, ...]] = {}
    for split in ("train", "val", "test"):
        if raw.get(split):
            splits[split] = _split_folders(raw[split], root, split, yaml_path)
        elif split != "test":
            raise InputError(f"{yaml_path}: no '{split}' split; list its images folder under '{split}:'")
    n_images: dict[str, int] = {}
    n_labels: dict[str, int] = {}
    all_labels: list[Path] = []
    all_images: list[Path] = []
    for split, folders in splits.items():
        n_images[split] = n_labels[split] = 0
        for folder in folders:
            images = _image_files(folder)
            label_dir = label_dir_for(folder)
            labels = sorted(label_dir.glob("*.txt")) if label_dir.is_dir() else []
            for label in labels:
                n_labels[split] += _check_label_file(label, task, len(class_names))
            n_images[split] += len(images)
            all_labels += labels
            all_images += images
    if n_images["train"] == 0:
        raise InputError(f"{yaml_path}: the train split has no images; retile with more scenes")
    if n_images["val"] == 0:
        raise InputError(f"{yaml_path}: the val split has no images; retile with a val fraction > 0")
    if n_labels["train"] == 0:
        raise InputError(f"{yaml_path}: the train split has no labelled objects; check the labels folder")
    tiles_sha256 = str(block.get("tiles_sha256") or _fingerprint(all_labels, all_images))
    log.info("dataset %s: %s images, %s objects (%s)", yaml_path, n_images, n_labels, task)
    return DatasetInfo(yaml_path=yaml_path.resolve(), root=root, splits=splits, class_names=class_names,
                       task=task, n_images=n_images, n_labels=n_labels, tiles_sha256=tiles_sha256,
                       yardwatch=dict(block))
