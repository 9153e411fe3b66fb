"""Box operations borrowed from ultralytics, behind our own names so ``infer/`` never imports ultralytics."""

from __future__ import annotations

import torch

from yardwatch.models.loader import ensure_offline


def rotated_nms(obb_xywhr: torch.Tensor, scores: torch.Tensor, iou: float) -> torch.Tensor:
    """Indices kept by ultralytics' rotated NMS (probabilistic IoU, Fast-NMS), sorted by descending score.

    This is the NMS ultralytics' own OBB validator and predictor run, so per-tile results match theirs.
    """
    ensure_offline()
    from ultralytics.utils.metrics import batch_probiou
    from ultralytics.utils.nms import TorchNMS

    return TorchNMS.fast_nms(obb_xywhr, scores, iou, iou_func=batch_probiou)
