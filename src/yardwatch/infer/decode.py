"""Decode raw detector output into per-tile detections, with NMS on the device and no time limit.

ultralytics' ``non_max_suppression`` loops over images in Python and stops after ``2 s + 0.05 s`` per image,
silently dropping the rest of a dense batch. Here every tile of a batch goes through one grouped NMS call
(group = tile x class), so a batch costs one kernel launch on CUDA and nothing is dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torchvision

from yardwatch.models.ops import grouped_rotated_nms


@dataclass(frozen=True, slots=True)
class BatchDetections:
    """Detections of one batch of tiles, in the frame of the network input (input px).

    Attributes:
        tile_index: (K,) int64, index of the tile within the batch.
        obb_xywhr_px: (K, 5) float32, centre x, centre y, width, height, angle in radians (0 for axis-aligned).
        scores: (K,) float32 confidence.
        class_ids: (K,) int64.
    """

    tile_index: torch.Tensor
    obb_xywhr_px: torch.Tensor
    scores: torch.Tensor
    class_ids: torch.Tensor

    def to_cpu(self) -> BatchDetections:
        return BatchDetections(self.tile_index.cpu(), self.obb_xywhr_px.float().cpu(), self.scores.float().cpu(),
                               self.class_ids.cpu())


def decode_batch(raw: torch.Tensor, *, task: str, num_classes: int, conf: float, iou: float,
                 classes: list[int] | None = None, max_candidates_per_tile: int = 30000,
                 multi_label: bool = True) -> BatchDetections:
    """Threshold, then class-aware NMS per tile.

    With ``multi_label`` every class whose score passes ``conf`` at an anchor is a candidate (as ultralytics'
    validator decodes); without it only each anchor's best class (as ultralytics' predict does). Nested objects of
    two classes need the first: a tarp-covered load lies on its flatcar, one railcar and one tarp with nearly the
    same box, and the load's anchors score railcar higher, so best-class decoding never emits the tarp.

    Args:
        raw: (B, 4 + nc [+1], N) head output; boxes (cx, cy, w, h) in input px, angle last for ``obb``.
        task: ``detect`` or ``obb``.
        num_classes: nc.
        conf: minimum class score kept.
        iou: NMS IoU threshold (rotated probabilistic IoU for ``obb``).
        classes: keep only these class ids (None: all).
        max_candidates_per_tile: cap on (anchor, class) candidates entering NMS per tile (highest scores first).
        multi_label: one candidate per class above ``conf`` at each anchor (True) or only the best class (False).
    """
    raw = raw.transpose(1, 2)  # (B, N, C)
    scores_all = raw[..., 4:4 + num_classes]
    if multi_label:
        score_map = scores_all.reshape(raw.shape[0], -1)  # (B, N * nc): anchor-major, class-minor
    else:
        best, cls = scores_all.max(-1)
        score_map = best  # (B, N)
    keep = score_map > conf
    if classes is not None:
        allowed = torch.zeros(num_classes, dtype=torch.bool, device=raw.device)
        allowed[torch.as_tensor(classes, device=raw.device, dtype=torch.long)] = True
        keep &= allowed.repeat(raw.shape[1])[None] if multi_label else allowed[cls]
    tile, flat = keep.nonzero(as_tuple=True)
    if tile.numel() and max_candidates_per_tile and keep.sum(1).max() > max_candidates_per_tile:
        masked = torch.where(keep, score_map, torch.full_like(score_map, -1.0))
        top = masked.topk(max_candidates_per_tile, dim=1).indices
        sel = torch.zeros_like(keep)
        sel.scatter_(1, top, True)
        tile, flat = (keep & sel).nonzero(as_tuple=True)
    if multi_label:
        anchor, label = flat // num_classes, flat % num_classes
    else:
        anchor, label = flat, cls[tile, flat]
    boxes = raw[tile, anchor, :4].float()
    if task == "obb":
        # into [-pi/4, 3pi/4), the YOLOv8 head's range: the periodic head (yardwatch.models.loader.periodic_obb_yaml)
        # emits the angle unbounded, and a box is the same box a half turn on
        angle = torch.remainder(raw[tile, anchor, 4 + num_classes].float() + math.pi / 4, math.pi) - math.pi / 4
    else:
        angle = torch.zeros_like(boxes[:, 0])
    score = score_map[tile, flat].float()
    obb = torch.cat([boxes, angle[:, None]], 1)
    group = tile * num_classes + label
    if task == "obb":
        kept = grouped_rotated_nms(obb, score, group, iou)
    else:
        xyxy = torch.cat([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], 1)
        kept = torchvision.ops.batched_nms(xyxy, score, group, iou)
    return BatchDetections(tile[kept], obb[kept], score[kept], label[kept])
