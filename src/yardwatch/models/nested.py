"""Training targets for nested objects of two classes: a tarp-covered load on its flatcar, a container on a railcar.

yardwatch's labels put two objects where a flatcar carries a load (../shared/DESIGN.md: the railcar and the tarp
on it; analysts count both), and their boxes nearly coincide (IoU about 0.8 for a tarp, 0.55-0.7 for a 40 ft
container). ultralytics' task-aligned assigner gives each anchor point one ground-truth object, the one whose box
the anchor's prediction overlaps most, and a one-hot class target for it. The anchors inside a loaded flatcar all go
to one of the two objects, mostly the railcar, and are taught that the tarp score there is 0: the network learns to
suppress exactly the tarp it should report. On the demo's held-out scenes the shipped weights found 0 of 56 tarp
loads (and 67 % of tarp piles on the ground).

Here the assignment of boxes is unchanged (one box regression target per anchor), and an anchor's class target also
carries every other class whose object had this anchor among its own candidates and whose box overlaps the assigned
box by IoU >= ``nested_iou`` (0.5: the assigned box, predicted, would match that object at the evaluation's
IoU 0.5). The score target of the extra class is that object's own normalised alignment, as ultralytics computes it
for the assigned one. Objects side by side (two containers on one car, neighbouring cars) overlap too little to be
affected. With no such pair the targets are ultralytics' exactly.
"""

from __future__ import annotations

from typing import Any

import torch

from yardwatch.models.loss_hooks import mixed_class, switch_parts, training_criterion

# IoU between two labelled boxes above which they are one footprint seen as two classes.
DEFAULT_NESTED_IOU = 0.5


class _NestedTargets:
    """Mixin over an ultralytics ``TaskAlignedAssigner`` (or its rotated variant): multi-class targets for nested
    objects. Only ``_forward`` changes; boxes, foreground mask and assigned indices are ultralytics'."""

    nested_iou: float = DEFAULT_NESTED_IOU

    def _forward(self, pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt, **extra):  # noqa: ANN001
        mask_pos, align_metric, overlaps = self.get_pos_mask(pd_scores, pd_bboxes, gt_labels, gt_bboxes, anc_points,
                                                             mask_gt, **extra)
        candidates, metric_all, overlaps_all = mask_pos.bool(), align_metric.clone(), overlaps.clone()
        target_gt_idx, fg_mask, mask_pos = self.select_highest_overlaps(mask_pos, overlaps, self.n_max_boxes,
                                                                        align_metric)
        target_labels, target_bboxes, target_scores = self.get_targets(gt_labels, gt_bboxes, target_gt_idx, fg_mask)
        target_scores = target_scores * _normalised(align_metric, overlaps, mask_pos, self.eps).amax(-2).unsqueeze(-1)
        if self.n_max_boxes > 1:
            target_scores = target_scores + self._nested_scores(candidates, metric_all, overlaps_all, gt_labels,
                                                                gt_bboxes, mask_gt, target_gt_idx, target_labels)
        return target_labels, target_bboxes, target_scores, fg_mask.bool(), target_gt_idx

    def _nested_scores(self, candidates: torch.Tensor, metric: torch.Tensor, overlaps: torch.Tensor,
                       gt_labels: torch.Tensor, gt_bboxes: torch.Tensor, mask_gt: torch.Tensor,
                       target_gt_idx: torch.Tensor, target_labels: torch.Tensor) -> torch.Tensor:
        """(b, anchors, nc) extra class targets: for each anchor, the classes (other than its assigned one) of the
        objects that chose it as a candidate and overlap its assigned object's box by IoU >= ``nested_iou``."""
        b, n = gt_bboxes.shape[:2]
        norm = _normalised(metric, overlaps, candidates, self.eps)  # (b, n, A): each object's own score target
        first = gt_bboxes.unsqueeze(2).expand(-1, -1, n, -1).reshape(-1, gt_bboxes.shape[-1])
        second = gt_bboxes.unsqueeze(1).expand(-1, n, -1, -1).reshape(-1, gt_bboxes.shape[-1])
        valid = mask_gt.bool().squeeze(-1)
        pair_iou = torch.nan_to_num(self.iou_calculation(first, second).view(b, n, n), nan=0.0)
        pair_iou = pair_iou * (valid.unsqueeze(2) & valid.unsqueeze(1))
        # IoU of object h with the object assigned to anchor a: (b, n, A)
        with_assigned = pair_iou.gather(2, target_gt_idx.unsqueeze(1).expand(-1, n, -1))
        labels = gt_labels.long().squeeze(-1)  # (b, n)
        nested = candidates & (with_assigned >= self.nested_iou) & (labels.unsqueeze(-1) != target_labels.unsqueeze(1))
        weight = norm * nested
        out = torch.zeros((b, target_labels.shape[1], self.num_classes), dtype=weight.dtype, device=weight.device)
        for c in range(self.num_classes):  # one class at a time: (b, n, A, nc) at once is large for 80 classes
            out[..., c] = (weight * (labels == c).unsqueeze(-1)).amax(1)
        return out


def _normalised(metric: torch.Tensor, overlaps: torch.Tensor, mask: torch.Tensor, eps: float) -> torch.Tensor:
    """ultralytics' score target per (object, anchor): the alignment metric scaled so each object's best anchor
    gets that object's best IoU, zero outside ``mask``."""
    metric = metric * mask
    return metric * (overlaps * mask).amax(-1, keepdim=True) / (metric.amax(-1, keepdim=True) + eps)


def nested_class(base: type) -> type:
    """The subclass of the assigner class ``base`` that also gives nested objects their class targets."""
    return mixed_class(_NestedTargets, base, "Nested")


def nest_assigners(criterion: Any, nested_iou: float = DEFAULT_NESTED_IOU) -> int:
    """Switch the task-aligned assigners of an ultralytics loss (``criterion.assigner``, and those of the losses it
    holds, e.g. both heads of an end-to-end model) to nested targets; returns how many were switched."""
    from ultralytics.utils.tal import TaskAlignedAssigner

    assigners = switch_parts(criterion, "assigner", TaskAlignedAssigner, _NestedTargets, "Nested")
    for assigner in assigners:
        assigner.nested_iou = float(nested_iou)
    return len(assigners)


class NestedTargetsCallback:
    """An ultralytics ``on_train_start`` callback that builds the model's loss and nests its assigners.

    An instance of a module-level class, so ultralytics can pickle it into DDP worker processes.
    """

    def __init__(self, nested_iou: float = DEFAULT_NESTED_IOU) -> None:
        self.nested_iou = nested_iou

    def __call__(self, trainer: Any) -> None:
        criterion = training_criterion(trainer)
        if not nest_assigners(criterion, self.nested_iou):
            raise RuntimeError(f"{type(criterion).__name__} has no task-aligned assigner to nest; "
                               "train with nested_iou=null")
