"""Oriented-box regression targets on the predicted angle's branch (``obb_box_targets=aligned``).

A rectangle turned by pi is the same rectangle, and ultralytics' rotated-IoU (probiou) and angle losses treat it so.
Its distribution-focal (DFL) box loss does not. It asks for the four side distances (left, top, right, bottom)
measured in the frame of the *label's* angle, which ultralytics puts in [-pi/4, 3pi/4) with the long side first.
A network whose predicted angle is the label's plus pi draws the very same box with its distances in the other
order (left <-> right, top <-> bottom), and the DFL loss calls that wrong.

So the loss as a whole jumps where the label's angle wraps: a car heading -44 degrees must be predicted at -44, one
heading -46 degrees at 134, and nothing in between is right. Both of yardwatch's angle heads pay for it:

- the sigmoid head (``obb_angle=sigmoid``) has to swing its output from one end of its range to the other between
  two nearly identical cars;
- the periodic head (``obb_angle=periodic``) could go on smoothly past 135 degrees, but the DFL term pulls it back.

Cars and container rows that head near -45 degrees then get stars of boxes at wrong headings and are missed
(docs/benchmarks.md, the periodic angle head).

Here, before ultralytics' rotated box loss runs, each positive anchor's target angle is moved by the whole multiple
of pi that brings it nearest to that anchor's predicted angle. The target box is the same, probiou and the angle
loss are unchanged, and the DFL distances are those of the same box in the predicted frame. The loss is then
periodic in the predicted angle with period pi, with no wrap left anywhere. Assignment, class targets and
inference are ultralytics' as before; only the training targets change, and weights load anywhere.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from yardwatch.models.loss_hooks import mixed_class, switch_parts, training_criterion

OBB_BOX_TARGETS = ("aligned", "canonical")


def nearest_branch(target_angle: torch.Tensor, predicted_angle: torch.Tensor) -> torch.Tensor:
    """``target_angle`` moved by the whole multiple of pi that brings it nearest to ``predicted_angle``.

    The same rectangle, so its IoU with anything is unchanged. The result lies within pi/2 of the prediction."""
    return target_angle + torch.round((predicted_angle - target_angle) / math.pi) * math.pi


class _AlignedTargets:
    """Mixin over ultralytics' ``RotatedBboxLoss``: its targets' angles on the predicted angle's branch."""

    def forward(self, pred_dist, pred_bboxes, anchor_points, target_bboxes, *args, **kwargs):  # noqa: ANN001
        aligned = target_bboxes.clone()
        aligned[..., 4] = nearest_branch(target_bboxes[..., 4], pred_bboxes[..., 4].detach().to(aligned.dtype))
        return super().forward(pred_dist, pred_bboxes, anchor_points, aligned, *args, **kwargs)


def aligned_class(base: type) -> type:
    """The subclass of the rotated box loss class ``base`` whose targets follow the predicted angle's branch."""
    return mixed_class(_AlignedTargets, base, "Aligned")


def align_box_losses(criterion: Any) -> int:
    """Switch the rotated box losses of an ultralytics OBB loss (``criterion.bbox_loss``, and those of the losses it
    holds, e.g. both heads of an end-to-end model) to targets on the predicted branch; returns how many."""
    from ultralytics.utils.loss import RotatedBboxLoss

    return len(switch_parts(criterion, "bbox_loss", RotatedBboxLoss, _AlignedTargets, "Aligned"))


class AlignedBoxTargetsCallback:
    """An ultralytics ``on_train_start`` callback that builds the model's loss and aligns its box targets.

    An instance of a module-level class, so ultralytics can pickle it into DDP worker processes.
    """

    def __call__(self, trainer: Any) -> None:
        criterion = training_criterion(trainer)
        if not align_box_losses(criterion):
            raise RuntimeError(f"{type(criterion).__name__} has no rotated box loss to align; "
                               "train task=obb or obb_box_targets=canonical")
