"""Oriented-box targets on the predicted angle's branch (yardwatch.models.obb_targets), against ultralytics' own
rotated box loss: a box predicted at the label's angle plus pi is the same box and must cost the same."""

from __future__ import annotations

import math

import pytest
import torch

from yardwatch.models.obb_targets import align_box_losses, aligned_class, nearest_branch

REG_MAX = 16


def _dfl_logits(ltrb: torch.Tensor) -> torch.Tensor:
    """Logits whose softmax puts each distance's weight on its two neighbouring bins (DFL's own target)."""
    lo = ltrb.floor().clamp(0, REG_MAX - 2)
    frac = ltrb - lo
    probs = torch.full((*ltrb.shape, REG_MAX), 1e-6)
    probs.scatter_(-1, lo.long().unsqueeze(-1), (1 - frac).unsqueeze(-1))
    probs.scatter_add_(-1, lo.long().unsqueeze(-1) + 1, frac.unsqueeze(-1))
    return probs.log().reshape(*ltrb.shape[:-1], 4 * REG_MAX)


def _losses(loss_module, predicted_angle: float, target_angle: float) -> tuple[float, float]:
    """(probiou loss, DFL loss) of one anchor whose prediction is the target box drawn at ``predicted_angle``."""
    from ultralytics.utils.tal import rbox2dist

    anchor = torch.tensor([[10.5, 9.5]])
    target = torch.tensor([[[10.9, 9.1, 6.0, 2.0, target_angle]]])
    predicted = target.clone()
    predicted[..., 4] = predicted_angle  # the same rectangle when the angles differ by a multiple of pi
    ltrb = rbox2dist(predicted[..., :4], anchor, predicted[..., 4:5], reg_max=REG_MAX - 1)
    fg = torch.ones(1, 1, dtype=torch.bool)
    scores = torch.ones(1, 1, 3)
    iou, dfl = loss_module(_dfl_logits(ltrb), predicted, anchor, target, scores, scores.sum(), fg,
                           torch.tensor([640.0, 640.0]), torch.tensor([[8.0]]))
    return float(iou), float(dfl)


@pytest.mark.parametrize("target_angle", [-0.7, 0.3, 2.3])
def test_a_box_predicted_at_the_label_angle_plus_pi_costs_what_the_label_angle_costs(target_angle: float) -> None:
    from ultralytics.utils.loss import RotatedBboxLoss

    canonical = RotatedBboxLoss(REG_MAX)
    aligned = RotatedBboxLoss(REG_MAX)
    aligned.__class__ = aligned_class(RotatedBboxLoss)
    same = _losses(canonical, target_angle, target_angle)
    for shift in (math.pi, -math.pi):
        turned_aligned = _losses(aligned, target_angle + shift, target_angle)
        turned_canonical = _losses(canonical, target_angle + shift, target_angle)
        assert turned_aligned == pytest.approx(same, abs=1e-5)
        # ultralytics' own DFL target is in the label's frame: the same box turned by pi costs more there
        assert turned_canonical[0] == pytest.approx(same[0], abs=1e-5)
        assert turned_canonical[1] > same[1] + 0.5
    # on the label's own branch the aligned loss is ultralytics' exactly
    assert _losses(aligned, target_angle + 0.2, target_angle) == _losses(canonical, target_angle + 0.2, target_angle)


def test_nearest_branch_moves_by_whole_turns_of_pi_to_within_half_pi() -> None:
    target = torch.tensor([-0.78, 2.35, 0.1, 1.0])
    predicted = torch.tensor([2.40, -0.80, 0.1, 7.5])
    moved = nearest_branch(target, predicted)
    assert torch.allclose(moved, torch.tensor([-0.78 + math.pi, 2.35 - math.pi, 0.1, 1.0 + 2 * math.pi]))
    assert bool(((moved - predicted).abs() <= math.pi / 2).all())


def test_align_box_losses_switches_an_obb_models_loss_and_not_a_detect_models() -> None:
    from yardwatch.models.loader import build_yolo

    for obb_angle in ("sigmoid", "periodic"):
        model = build_yolo("yolov8n", "obb", obb_angle=obb_angle).model
        criterion = model.init_criterion()
        assert align_box_losses(criterion) == 1
        assert type(criterion.bbox_loss).__name__ == "AlignedRotatedBboxLoss"
        assert align_box_losses(criterion) == 1  # idempotent
    assert align_box_losses(build_yolo("yolov8n", "detect").model.init_criterion()) == 0
