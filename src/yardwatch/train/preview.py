"""Training samples exactly as the network sees them, after the whole augmentation pipeline.

Built from ultralytics' own training dataset class with yardwatch's augmentations, so what is drawn here is what
``train_detector`` trains on: use it to look at an augmentation config before spending hours on it, and in tests to
check that boxes still sit on their objects after flips and turns.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yardwatch.models.training import augmented_dataset
from yardwatch.train.augment import AugmentSpec, build_albumentations
from yardwatch.train.dataset import read_dataset


@dataclass(frozen=True, slots=True)
class TrainingSample:
    """One augmented training sample.

    Attributes:
        image_rgb: (H, W, 3) uint8, RGB, as fed to the network (before scaling to [0, 1]).
        class_ids: (N,) int64 class ids.
        corners_px: (N, 4, 2) float32 box corners in image px (axis-aligned rectangles for ``detect``).
        image_path: the tile the sample started from (its mosaic partners are not listed).
    """

    image_rgb: np.ndarray
    class_ids: np.ndarray
    corners_px: np.ndarray
    image_path: Path


def _corners_from_xywhr(xywhr: np.ndarray) -> np.ndarray:
    cx, cy, w, h, r = (xywhr[:, i] for i in range(5))
    c, s = np.cos(r), np.sin(r)
    half_w = np.stack([w / 2 * c, w / 2 * s], -1)
    half_h = np.stack([-h / 2 * s, h / 2 * c], -1)
    centre = np.stack([cx, cy], -1)
    return np.stack([centre + half_w + half_h, centre - half_w + half_h, centre - half_w - half_h,
                     centre + half_w - half_h], 1).astype(np.float32)


def _corners_from_xywh(xywh: np.ndarray) -> np.ndarray:
    zero = np.zeros((len(xywh), 1), dtype=xywh.dtype)
    return _corners_from_xywhr(np.concatenate([xywh, zero], 1))


def training_samples(data: str | Path, task: str, augment: AugmentSpec, *, imgsz: int, count: int = 4,
                     seed: int = 0, split: str = "train") -> list[TrainingSample]:
    """The first ``count`` samples of ``split`` after yardwatch's augmentation pipeline.

    Args:
        data: the dataset.yaml (checked with :func:`yardwatch.train.dataset.read_dataset`).
        task: ``detect`` or ``obb``.
        augment: the augmentations, as passed to training.
        imgsz: network input size in px.
        count: number of samples (the first tiles of the split, in file order).
        seed: seeds python, numpy, torch and albumentations so previews repeat.
        split: the split to read.
    """
    import torch

    dataset = read_dataset(data, task, expected_classes=None)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    overrides = {"task": task, "imgsz": imgsz, "augmentations": build_albumentations(augment.albumentations),
                 **augment.ultralytics}
    data_dict = {**dataset.ultralytics_dict(), "nc": len(dataset.class_names), "channels": 3}
    yolo_dataset = augmented_dataset(overrides, [str(f) for f in dataset.splits[split]], data_dict)
    samples = []
    for index in range(min(count, len(yolo_dataset))):
        item = yolo_dataset[index]
        image = item["img"].numpy().transpose(1, 2, 0)  # ultralytics' Format gives RGB, channels first
        height, width = image.shape[:2]
        boxes = item["bboxes"].numpy().astype(np.float64)
        scale = np.array([width, height, width, height])
        if task == "obb":
            xywhr = np.concatenate([boxes[:, :4] * scale, boxes[:, 4:5]], 1) if len(boxes) else np.zeros((0, 5))
            corners = _corners_from_xywhr(xywhr)
        else:
            corners = _corners_from_xywh(boxes * scale) if len(boxes) else np.zeros((0, 4, 2), np.float32)
        samples.append(TrainingSample(image_rgb=np.ascontiguousarray(image), class_ids=
                                      item["cls"].numpy().reshape(-1).astype(np.int64), corners_px=corners,
                                      image_path=Path(item["im_file"])))
    return samples
