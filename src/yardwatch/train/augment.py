"""Augmentations for overhead imagery: an albumentations pipeline plus ultralytics' own knobs.

Seen from above, every heading is valid, so flips and 90-degree rotations (the D4 group) are free extra data that
never produce an impossible image; sensors, seasons and weather change brightness, colour, sharpness, noise,
compression and haze. Albumentations does these well and ultralytics runs them inside its training pipeline (its
``Albumentations`` transform, after mosaic and affine), updating axis-aligned boxes through albumentations' bbox
support and oriented boxes through their four corner points. So this module only turns plain declarations
(``{"_target_": "albumentations.RandomRotate90", "p": 0.5}``) into transform objects and checks them; it does not
reimplement any transform.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from yardwatch.errors import ConfigError

log = logging.getLogger(__name__)

# ultralytics' augmentation hyperparameters that yardwatch exposes, with their value ranges (inclusive).
ULTRALYTICS_KNOBS: dict[str, tuple[float, float]] = {
    "mosaic": (0.0, 1.0),
    "mixup": (0.0, 1.0),
    "copy_paste": (0.0, 1.0),
    "fliplr": (0.0, 1.0),
    "flipud": (0.0, 1.0),
    "degrees": (0.0, 180.0),
    "translate": (0.0, 0.9),
    "scale": (0.0, 0.9),
    "shear": (0.0, 45.0),
    "perspective": (0.0, 0.001),
    "hsv_h": (0.0, 1.0),
    "hsv_s": (0.0, 1.0),
    "hsv_v": (0.0, 1.0),
    "close_mosaic": (0.0, 10_000.0),
}
_INTEGER_KNOBS = frozenset({"close_mosaic"})
_TARGET_PREFIX = "albumentations."


@dataclass(frozen=True, slots=True)
class AugmentSpec:
    """The augmentations of one training run, as plain data (JSON-able, goes into the model card).

    Attributes:
        albumentations: transform declarations, each ``{"_target_": "albumentations.<Name>", **kwargs}``, applied
            in order to every training sample after ultralytics' mosaic and affine steps.
        ultralytics: ultralytics augmentation hyperparameters (keys of :data:`ULTRALYTICS_KNOBS`); keys left out
            keep ultralytics' defaults.
    """

    albumentations: tuple[Mapping[str, Any], ...] = ()
    ultralytics: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"albumentations": [dict(t) for t in self.albumentations], "ultralytics": dict(self.ultralytics)}


def _transform_class(target: object, index: int) -> type:
    import albumentations as A

    if not isinstance(target, str) or not target.startswith(_TARGET_PREFIX):
        raise ConfigError(f"augment.albumentations[{index}]._target_={target!r}: must name an albumentations "
                          "transform, e.g. albumentations.RandomRotate90")
    name = target[len(_TARGET_PREFIX):]
    cls = getattr(A, name, None)
    if not isinstance(cls, type) or not issubclass(cls, A.BasicTransform):
        raise ConfigError(f"augment.albumentations[{index}]._target_={target}: albumentations {A.__version__} has "
                          "no such transform; check the spelling against albumentations' docs")
    return cls


def build_albumentations(declarations: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Instantiate albumentations transforms from ``{"_target_": ..., **kwargs}`` declarations.

    Raises:
        ConfigError: a declaration names no albumentations transform, or its arguments do not fit it.
    """
    transforms = []
    for index, declaration in enumerate(declarations):
        if not isinstance(declaration, Mapping) or "_target_" not in declaration:
            raise ConfigError(f"augment.albumentations[{index}]={declaration!r}: each entry needs a _target_ "
                              "naming an albumentations transform, plus its arguments")
        cls = _transform_class(declaration["_target_"], index)
        kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in declaration.items() if k != "_target_"}
        try:
            transforms.append(cls(**kwargs))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"augment.albumentations[{index}] ({cls.__name__}): bad arguments {kwargs} "
                              f"({' '.join(str(err).split())[:200]})") from err
    return transforms


def check_ultralytics_knobs(knobs: Mapping[str, Any]) -> dict[str, float]:
    """Validate ultralytics augmentation hyperparameters; returns them as plain numbers.

    Raises:
        ConfigError: an unknown key or a value out of range.
    """
    checked: dict[str, float] = {}
    for key, value in knobs.items():
        if key not in ULTRALYTICS_KNOBS:
            raise ConfigError(f"augment.ultralytics.{key}: unknown; known keys are {', '.join(ULTRALYTICS_KNOBS)}")
        lo, hi = ULTRALYTICS_KNOBS[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise ConfigError(f"augment.ultralytics.{key}={value!r}: must be a number in [{lo:g}, {hi:g}]")
        if key in _INTEGER_KNOBS:
            checked[key] = int(value)
        else:
            checked[key] = float(value)
    return checked


def make_augment_spec(albumentations: Sequence[Mapping[str, Any]] = (),
                      ultralytics: Mapping[str, Any] | None = None) -> AugmentSpec:
    """A checked :class:`AugmentSpec`: every transform is instantiated once here so bad ones fail early."""
    declarations = tuple(dict(d) for d in albumentations)
    build_albumentations(declarations)
    return AugmentSpec(albumentations=declarations, ultralytics=check_ultralytics_knobs(ultralytics or {}))
