"""Rotated-box NMS for the inference core: ultralytics' probabilistic-IoU Fast-NMS, run within many groups (tile x
class) at once instead of one call per group or one IoU matrix over all of them."""

from __future__ import annotations

import torch


def _covariance(obb_xywhr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The Gaussian of each box (``[[a, c], [c, b]]``), over any leading dimensions, as ultralytics computes it."""
    a, b = obb_xywhr[..., 2].pow(2) / 12, obb_xywhr[..., 3].pow(2) / 12
    cos, sin = obb_xywhr[..., 4].cos(), obb_xywhr[..., 4].sin()
    cos2, sin2 = cos.pow(2), sin.pow(2)
    return a * cos2 + b * sin2, a * sin2 + b * cos2, (a - b) * cos * sin


def probiou_blocks(obb_xywhr: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Probabilistic IoU (Llerena et al. 2021) of every pair of boxes within each block: (G, K, 5) -> (G, K, K).

    The formula and the order of its operations are those of ultralytics' ``batch_probiou``, so a block gives
    the matrix ``batch_probiou(block, block)`` would.
    """
    x, y = obb_xywhr[..., 0], obb_xywhr[..., 1]
    a, b, c = _covariance(obb_xywhr)
    x1, y1, a1, b1, c1 = (v[:, :, None] for v in (x, y, a, b, c))
    x2, y2, a2, b2, c2 = (v[:, None, :] for v in (x, y, a, b, c))
    a12, b12, c12 = a1 + a2, b1 + b2, c1 + c2
    denominator = a12 * b12 - c12.pow(2)
    guarded = denominator + eps
    t1 = ((a12 * (y1 - y2).pow(2) + b12 * (x1 - x2).pow(2)) / guarded) * 0.25
    t2 = ((c12 * (x2 - x1) * (y1 - y2)) / guarded) * 0.5
    t3 = (denominator / (4 * ((a1 * b1 - c1.pow(2)).clamp_(0) * (a2 * b2 - c2.pow(2)).clamp_(0)).sqrt() + eps)
          + eps).log() * 0.5
    # ultralytics clamps at 100; exp(-100) is a float32 denormal, which x86 computes tens of times slower (most
    # pairs of a block are far apart). Above ~17, 1 - exp(-bd) rounds to 1.0 in float32 either way, so 80 gives
    # the same IoU at normal speed.
    bd = (t1 + t2 + t3).clamp(eps, 80.0)
    return 1 - (1.0 - (-bd).exp() + eps).sqrt()


def grouped_rotated_nms(obb_xywhr: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou: float, *,
                        block_elements: int = 65536) -> torch.Tensor:
    """Rotated NMS as ultralytics runs it (``TorchNMS.fast_nms`` with ``batch_probiou``) within each group (e.g.
    tile x class), many groups per tensor operation.

    Each group is ranked by score and a box is dropped when a higher-ranked box of its group overlaps it by
    probabilistic IoU above ``iou`` (Fast-NMS, ultralytics' criterion). Groups of similar size are padded into
    blocks of at most ``block_elements`` IoU entries (a group larger than that goes alone), so the work is the sum
    of the groups' squared sizes rather than the square of their total, in a few calls rather than one per group.

    Returns:
        Indices of the kept boxes (in no particular order).
    """
    n = obb_xywhr.shape[0]
    device = obb_xywhr.device
    if n == 0:
        return torch.empty(0, dtype=torch.long, device=device)
    by_score = torch.argsort(scores, descending=True, stable=True)
    order = by_score[torch.argsort(groups[by_score], stable=True)]  # by group, best score first within each
    _, counts = torch.unique_consecutive(groups[order], return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    by_size = torch.argsort(counts, descending=True, stable=True)
    sizes = counts[by_size].tolist()
    kept: list[torch.Tensor] = []
    first = 0
    while first < len(sizes):
        width = sizes[first]
        last = min(len(sizes), first + max(1, block_elements // (width * width)))
        chosen = by_size[first:last]
        rank = torch.arange(width, device=device)
        valid = rank[None] < counts[chosen][:, None]  # (G, K)
        members = order[torch.where(valid, starts[chosen][:, None] + rank[None], 0)]  # (G, K) indices into boxes
        overlap = probiou_blocks(obb_xywhr[members].float()).triu_(diagonal=1)
        overlap.masked_fill_(~valid[:, :, None], 0.0)  # a padding row suppresses nothing
        suppressed = (overlap > iou).any(1)
        kept.append(members[valid & ~suppressed])
        first = last
    return torch.cat(kept)
