"""Tiny tiled datasets for the training tests: bright rotated rectangles on dark noise, exact YOLO(-OBB) labels."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from yardwatch import CLASS_NAMES

# class id -> (length px, width px, BGR colour): long thin railcars, square-ish tarps, mid-length containers.
_OBJECTS = {0: (44, 10, (200, 200, 200)), 1: (18, 16, (60, 170, 60)), 2: (26, 11, (40, 110, 230))}


def _corners(cx: float, cy: float, length: float, width: float, angle: float) -> np.ndarray:
    """Corners (4, 2) of a rectangle centred at (cx, cy), long side at ``angle`` radians (tile px)."""
    c, s = math.cos(angle), math.sin(angle)
    half = np.array([[length / 2, width / 2], [-length / 2, width / 2], [-length / 2, -width / 2],
                     [length / 2, -width / 2]])
    return half @ np.array([[c, s], [-s, c]]) + (cx, cy)


def write_tiny_dataset(root: Path, task: str, *, n_train: int = 4, n_val: int = 2, size_px: int = 128,
                       objects_per_tile: int = 3, seed: int = 0, rotated: bool | None = None,
                       yardwatch_block: dict | None = None) -> Path:
    """Write images/{train,val}, labels/{train,val} and dataset.yaml under ``root``; returns the yaml path.

    Objects do not overlap (placed on a coarse grid of cells) and stay inside the tile, so the labels are exact.
    ``rotated`` (default: obb) turns objects to random headings; otherwise they lie along x or y.
    """
    rng = np.random.default_rng(seed)
    rotated = task == "obb" if rotated is None else rotated
    cells = 2 if size_px <= 128 else size_px // 64
    cell = size_px / cells
    for split, count in (("train", n_train), ("val", n_val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            image = rng.integers(20, 60, size=(size_px, size_px, 3), dtype=np.uint8)
            lines = []
            slots = rng.permutation(cells * cells)[:objects_per_tile]
            for k, slot in enumerate(slots):
                class_id = int((index + k) % 3)
                length, width, colour = _OBJECTS[class_id]
                angle = rng.uniform(0, math.pi) if rotated else (math.pi / 2) * int(rng.integers(0, 2))
                cx = (slot % cells + 0.5) * cell + rng.uniform(-3, 3)
                cy = (slot // cells + 0.5) * cell + rng.uniform(-3, 3)
                corners = _corners(cx, cy, length, width, angle)
                cv2.fillPoly(image, [np.round(corners).astype(np.int32)], colour)
                if task == "obb":
                    coords = (corners / size_px).ravel()
                else:
                    x0, y0 = corners.min(0)
                    x1, y1 = corners.max(0)
                    coords = np.array([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0]) / size_px
                lines.append(" ".join([str(class_id)] + [f"{v:.6f}" for v in coords]))
            cv2.imwrite(str(root / "images" / split / f"t{index:03d}.png"), image)
            (root / "labels" / split / f"t{index:03d}.txt").write_text("\n".join(lines) + "\n")
    block = {"task": task, "tile_size_px": size_px, "overlap_px": 16, "gsd_m": 0.5,
             "normalization": {"bands": [1, 2, 3], "method": "none"}, "tiles_sha256": f"fixture-{task}-{seed}"}
    block.update(yardwatch_block or {})
    data = {"path": str(root), "train": "images/train", "val": "images/val",
            "names": dict(enumerate(CLASS_NAMES)), "yardwatch": block}
    path = root / "dataset.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def detect_dataset(tmp_path: Path) -> Path:
    """A 4+2 tile detect dataset (128 px)."""
    return write_tiny_dataset(tmp_path / "ds_detect", "detect")


@pytest.fixture
def obb_dataset(tmp_path: Path) -> Path:
    """A 4+2 tile obb dataset (128 px)."""
    return write_tiny_dataset(tmp_path / "ds_obb", "obb")
