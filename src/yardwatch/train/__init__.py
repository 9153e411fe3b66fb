"""Training: a checked dataset, overhead-imagery augmentations, ultralytics training, a run folder with a card."""

from __future__ import annotations

from yardwatch.train.augment import AugmentSpec, build_albumentations, make_augment_spec
from yardwatch.train.dataset import DatasetInfo, read_dataset
from yardwatch.train.run import TrainConfig, TrainResult, train_detector, ultralytics_device

__all__ = ["AugmentSpec", "DatasetInfo", "TrainConfig", "TrainResult", "build_albumentations", "make_augment_spec",
           "read_dataset", "train_detector", "ultralytics_device"]
