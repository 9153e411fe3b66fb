"""Nested-object training targets: a tarp on its flatcar gets a tarp target where ultralytics gives only railcar."""

from __future__ import annotations

import copy

import pytest
import torch
from ultralytics.utils.tal import RotatedTaskAlignedAssigner, TaskAlignedAssigner

from yardwatch.models.nested import nest_assigners, nested_class

RAILCAR, TARP, CONTAINER = 0, 1, 2


def _grid(stride: float = 4.0, size: int = 96) -> torch.Tensor:
    xs = torch.arange(stride / 2, size, stride)
    yy, xx = torch.meshgrid(xs, xs, indexing="ij")
    return torch.stack([xx.ravel(), yy.ravel()], 1)


def _inputs(rotated: bool, objects: list[tuple[int, tuple[float, float, float, float]]]) -> dict[str, torch.Tensor]:
    """One image; ``objects`` as (class, (cx, cy, w, h)); every anchor predicts the first object's box (a network
    that has learned railcars) with low scores for all classes."""
    anchors = _grid()
    boxes = torch.tensor([box for _, box in objects])
    if rotated:
        gt = torch.cat([boxes, torch.full((len(objects), 1), 0.3)], 1)
    else:
        gt = torch.cat([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], 1)
    pd_boxes = gt[0].expand(len(anchors), -1).clone()
    scores = torch.full((1, len(anchors), 3), 0.1)
    scores[..., RAILCAR] = 0.3
    return {"pd_scores": scores, "pd_bboxes": pd_boxes[None], "anc_points": anchors,
            "gt_labels": torch.tensor([[float(c)] for c, _ in objects])[None], "gt_bboxes": gt[None],
            "mask_gt": torch.ones(1, len(objects), 1)}


def _assigners(rotated: bool) -> tuple[TaskAlignedAssigner, TaskAlignedAssigner]:
    base = (RotatedTaskAlignedAssigner if rotated else TaskAlignedAssigner)(topk=10, num_classes=3, alpha=0.5,
                                                                             beta=6.0, stride=[4])
    nested = copy.deepcopy(base)
    assert nest_assigners(type("Loss", (), {"assigner": nested})()) == 1
    return base, nested


@pytest.mark.parametrize("rotated", [False, True], ids=["detect", "obb"])
def test_a_tarp_on_its_flatcar_gets_tarp_targets(rotated: bool) -> None:
    # A flatcar 56 x 10 px, its tarp-covered load 48 x 9 px on it (IoU ~0.77), a container far away.
    objects = [(RAILCAR, (40.0, 30.0, 56.0, 10.0)), (TARP, (40.0, 30.0, 48.0, 9.0)),
               (CONTAINER, (60.0, 75.0, 34.0, 10.0))]
    base, nested = _assigners(rotated)
    plain = base(**_inputs(rotated, objects))
    ours = nested(**_inputs(rotated, objects))
    labels, boxes, scores, fg, gt_idx = plain
    # Boxes, foreground, assigned objects and labels: ultralytics' exactly.
    for a, b in zip((labels, boxes, fg, gt_idx), (ours[0], ours[1], ours[3], ours[4])):
        assert torch.equal(a, b)
    on_car = fg[0] & (gt_idx[0] == 0)
    assert on_car.sum() >= 3
    # ultralytics: the anchors that go to the railcar get tarp target 0 (the tarp is taught away there).
    assert scores[0, on_car, TARP].max() == 0
    # Nested: those anchors also carry a tarp target; railcar and container targets are unchanged.
    assert (ours[2][0, on_car, TARP] > 0).sum() >= 3
    assert torch.equal(ours[2][..., RAILCAR], scores[..., RAILCAR])
    assert torch.equal(ours[2][..., CONTAINER], scores[..., CONTAINER])
    assert ours[2][0, ~fg[0]].abs().sum() == 0


@pytest.mark.parametrize("rotated", [False, True], ids=["detect", "obb"])
def test_objects_side_by_side_keep_ultralytics_targets(rotated: bool) -> None:
    # Two 20 ft containers end to end on one 56 px flatcar: each overlaps the car by IoU < 0.5, so an anchor that
    # regresses the car's box must not be taught "container" (its box would be a false container).
    objects = [(RAILCAR, (40.0, 30.0, 56.0, 10.0)), (CONTAINER, (26.0, 30.0, 25.0, 10.0)),
               (CONTAINER, (54.0, 30.0, 25.0, 10.0)), (TARP, (60.0, 75.0, 34.0, 10.0))]
    base, nested = _assigners(rotated)
    plain, ours = base(**_inputs(rotated, objects)), nested(**_inputs(rotated, objects))
    for a, b in zip(plain, ours):
        assert torch.equal(a, b)


def test_nest_assigners_finds_both_heads_of_an_end_to_end_loss_and_is_idempotent() -> None:
    one2many = type("Loss", (), {})()
    one2many.assigner = TaskAlignedAssigner(num_classes=3)
    one2one = type("Loss", (), {})()
    one2one.assigner = TaskAlignedAssigner(num_classes=3, topk=1)
    e2e = type("E2E", (), {})()
    e2e.one2many, e2e.one2one = one2many, one2one
    assert nest_assigners(e2e, 0.6) == 2
    assert nest_assigners(e2e, 0.7) == 2
    assert type(one2one.assigner) is nested_class(TaskAlignedAssigner)
    assert one2one.assigner.nested_iou == 0.7 and one2one.assigner.topk == 1
    assert nest_assigners(type("NoAssigner", (), {})()) == 0
