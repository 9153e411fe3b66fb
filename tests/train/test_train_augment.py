"""Augmentations: declarations are checked, transforms really run on training samples, labels stay on objects."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from yardwatch.errors import ConfigError
from yardwatch.train.augment import build_albumentations, check_ultralytics_knobs, make_augment_spec
from yardwatch.train.preview import training_samples

# Every ultralytics augmentation off, so a test sees its albumentations transform alone.
_ULTRALYTICS_OFF = {"mosaic": 0.0, "fliplr": 0.0, "flipud": 0.0, "hsv_h": 0.0, "hsv_s": 0.0, "hsv_v": 0.0,
                    "translate": 0.0, "scale": 0.0, "degrees": 0.0}
# Fixture backgrounds are 20..59 in every channel; objects have a channel >= 170.
_OBJECT_LEVEL = 120


def _masks(sample) -> tuple[np.ndarray, np.ndarray]:
    """(pixels of bright objects, pixels inside the label boxes) of one sample."""
    height, width = sample.image_rgb.shape[:2]
    objects = sample.image_rgb.max(axis=2) >= _OBJECT_LEVEL
    boxes = np.zeros((height, width), np.uint8)
    for corners in sample.corners_px:
        cv2.fillPoly(boxes, [np.round(corners - 0.5).astype(np.int32)], 1)
    return objects, boxes.astype(bool)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_build_albumentations_instantiates_declared_transforms():
    transforms = build_albumentations([{"_target_": "albumentations.RandomRotate90", "p": 0.25},
                                       {"_target_": "albumentations.GaussNoise", "std_range": [0.1, 0.2]}])
    assert [type(t).__name__ for t in transforms] == ["RandomRotate90", "GaussNoise"]
    assert transforms[0].p == 0.25
    assert tuple(transforms[1].std_range) == (0.1, 0.2)


@pytest.mark.parametrize("declaration, words", [
    ({"_target_": "albumentations.NoSuchThing"}, "no such transform"),
    ({"_target_": "torchvision.transforms.RandomCrop"}, "must name an albumentations transform"),
    ({"_target_": "albumentations.RandomRotate90", "angle": 30}, "bad arguments"),
    ({"p": 0.5}, "needs a _target_"),
])
def test_bad_declarations_are_config_errors(declaration, words):
    with pytest.raises(ConfigError, match=words):
        make_augment_spec([declaration])


@pytest.mark.parametrize("knobs, words", [({"mosaic": 1.5}, r"mosaic=1.5: must be a number in \[0, 1\]"),
                                          ({"blur": 0.1}, "augment.ultralytics.blur: unknown"),
                                          ({"fliplr": True}, "fliplr=True")])
def test_bad_ultralytics_knobs_are_config_errors(knobs, words):
    with pytest.raises(ConfigError, match=words):
        check_ultralytics_knobs(knobs)


@pytest.mark.parametrize("task", ["detect", "obb"])
def test_transpose_moves_pixels_and_boxes_together(task, tmp_path: Path):
    """A deterministic D4 element: the augmented image is the transposed tile and the boxes are the transposed
    boxes, so the transform ran on the training sample and the labels followed it exactly."""
    from conftest import write_tiny_dataset

    data = write_tiny_dataset(tmp_path / task, task, n_train=2)
    plain = training_samples(data, task, make_augment_spec([], _ULTRALYTICS_OFF), imgsz=128, count=2)
    turned = training_samples(data, task, make_augment_spec([{"_target_": "albumentations.Transpose", "p": 1.0}],
                                                            _ULTRALYTICS_OFF), imgsz=128, count=2)
    for before, after in zip(plain, turned, strict=True):
        assert np.array_equal(before.image_rgb, cv2.imread(str(before.image_path))[..., ::-1])
        assert np.array_equal(after.image_rgb, before.image_rgb.transpose(1, 0, 2))
        assert np.array_equal(after.class_ids, before.class_ids)
        for corners_before, corners_after in zip(before.corners_px, after.corners_px, strict=True):
            expected = sorted(map(tuple, np.round(corners_before[:, ::-1], 2)))
            assert sorted(map(tuple, np.round(corners_after, 2))) == pytest.approx(expected, abs=0.05)


@pytest.mark.parametrize("task", ["detect", "obb"])
@pytest.mark.parametrize("transform", ["HorizontalFlip", "VerticalFlip", "RandomRotate90", "D4"])
def test_boxes_stay_on_objects_after_flips_and_turns(task, transform, tmp_path: Path):
    """Draw the label boxes after augmentation and compare with the bright objects in the augmented image."""
    from conftest import write_tiny_dataset

    data = write_tiny_dataset(tmp_path / task, task, n_train=4)
    spec = make_augment_spec([{"_target_": f"albumentations.{transform}", "p": 1.0}], _ULTRALYTICS_OFF)
    plain = training_samples(data, task, make_augment_spec([], _ULTRALYTICS_OFF), imgsz=128, count=4)
    samples = training_samples(data, task, spec, imgsz=128, count=4, seed=3)
    changed = 0
    for before, sample in zip(plain, samples, strict=True):
        objects, boxes = _masks(sample)
        assert len(sample.class_ids) == 3
        # obb boxes fit the drawn rectangles; axis-aligned ones of axis-aligned objects fit too
        assert _iou(objects, boxes) > 0.8, f"{transform} {task} {sample.image_path.name}"
        changed += not np.array_equal(before.image_rgb, sample.image_rgb)
    assert changed >= 2  # the transform really ran (random turns may draw the identity now and then)


@pytest.mark.parametrize("task", ["detect", "obb"])
def test_overhead_pipeline_keeps_labels_on_objects(task, tmp_path: Path):
    """The shipped `overhead` config (mosaic, D4, photometric, noise, JPEG, haze) keeps boxes on objects."""
    import yaml

    from conftest import write_tiny_dataset

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "configs/augment/overhead.yaml").read_text())
    # haze and noise change brightness, so score geometry on the other transforms at full strength
    declarations = [d for d in config["albumentations"] if d["_target_"].split(".")[-1] not in
                    ("RandomFog", "GaussNoise", "RandomBrightnessContrast", "HueSaturationValue")]
    knobs = {**config["ultralytics"], "hsv_h": 0.0, "hsv_s": 0.0, "hsv_v": 0.0}
    data = write_tiny_dataset(tmp_path / task, task, n_train=4)
    samples = training_samples(data, task, make_augment_spec(declarations, knobs), imgsz=128, count=4, seed=1)
    for sample in samples:
        objects, boxes = _masks(sample)
        assert boxes.any()
        covered = (objects & boxes).sum() / max(objects.sum(), 1)
        inside = (objects & boxes).sum() / max(boxes.sum(), 1)
        assert covered > 0.9 and inside > 0.6, f"{task} {sample.image_path.name}: {covered:.2f} {inside:.2f}"


def test_photometric_transforms_change_pixels_not_labels(tmp_path: Path):
    from conftest import write_tiny_dataset

    data = write_tiny_dataset(tmp_path / "obb", "obb", n_train=2)
    spec = make_augment_spec([{"_target_": "albumentations.RandomFog", "fog_coef_range": [0.3, 0.4], "p": 1.0},
                              {"_target_": "albumentations.ImageCompression", "quality_range": [20, 30], "p": 1.0}],
                             _ULTRALYTICS_OFF)
    plain = training_samples(data, "obb", make_augment_spec([], _ULTRALYTICS_OFF), imgsz=128, count=2)
    hazy = training_samples(data, "obb", spec, imgsz=128, count=2)
    for before, after in zip(plain, hazy, strict=True):
        assert np.abs(after.image_rgb.astype(int) - before.image_rgb).mean() > 2.0
        np.testing.assert_allclose(after.corners_px, before.corners_px)
