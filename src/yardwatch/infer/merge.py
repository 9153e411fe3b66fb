"""Seam merge: keep each object once when overlapping tiles see it twice.

Two steps, both linear in the number of detections except for the few that touch a seam:

1. Centre-in-core. Each tile owns a *core*: the part of the scene closer to its centre than to any neighbour's,
   i.e. its window cut at the middle of each overlap strip. A detection is kept only by the tile whose core holds
   its centre. An object smaller than half the overlap is seen whole by that tile, so it survives exactly once.
2. Seam NMS. Objects larger than that can be seen in part by a neighbour, with the partial box's centre on the
   neighbour's side. Only detections whose extent leaves their tile's core can be such duplicates; among those,
   class-aware greedy NMS with exact polygon IoU (rotated boxes as polygons, via shapely's STRtree) suppresses a
   box that overlaps a higher-scoring one by IoU >= ``iou`` or by intersection-over-smaller >= ``ios`` (a
   truncated partial box lies almost inside the whole one, which IoU alone misses; SAHI merges on IOS for the
   same reason).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from yardwatch.geo import obb_px_to_corners


@dataclass(frozen=True, slots=True)
class MergeSettings:
    """Thresholds of the seam NMS (see module docstring)."""

    iou: float = 0.5
    ios: float = 0.7


def tile_cores(windows_px: np.ndarray) -> np.ndarray:
    """Core rectangles of a grid of tile windows.

    Args:
        windows_px: (T, 4) col_off, row_off, width, height of each tile, scene px.

    Returns:
        (T, 4) float64 x0, y0, x1, y1 of each tile's core, scene px; outer edges are +-inf.
    """
    windows_px = np.asarray(windows_px, dtype=np.float64).reshape(-1, 4)
    cores = np.empty_like(windows_px)
    for axis, (off, size) in enumerate(((0, 2), (1, 3))):
        starts = windows_px[:, off]
        ends = starts + windows_px[:, size]
        uniq = np.unique(starts)
        # For each distinct start, the end of the tile that starts there (all tiles of a grid share one size).
        uniq_ends = np.array([ends[starts == s].max() for s in uniq])
        lower = np.full(len(uniq), -np.inf)
        upper = np.full(len(uniq), np.inf)
        lower[1:] = (uniq[1:] + uniq_ends[:-1]) / 2.0
        upper[:-1] = lower[1:]
        pos = np.searchsorted(uniq, starts)
        cores[:, axis] = lower[pos]
        cores[:, axis + 2] = upper[pos]
    return cores


def merge_seams(obb_xywhr_px: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, tile_ids: np.ndarray,
                windows_px: np.ndarray, settings: MergeSettings = MergeSettings()) -> np.ndarray:
    """Indices of the detections to keep, each object once.

    Args:
        obb_xywhr_px: (N, 5) centre x, centre y, width, height, angle (rad), scene px.
        scores: (N,) confidence.
        class_ids: (N,) int class ids.
        tile_ids: (N,) index into ``windows_px`` of the tile each detection came from.
        windows_px: (T, 4) tile windows (col_off, row_off, width, height), scene px.
        settings: seam NMS thresholds.

    Returns:
        (K,) int64 sorted indices into the inputs.
    """
    obb = np.asarray(obb_xywhr_px, dtype=np.float64).reshape(-1, 5)
    n = len(obb)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    cores = tile_cores(windows_px)[np.asarray(tile_ids, dtype=np.int64)]
    cx, cy = obb[:, 0], obb[:, 1]
    in_core = (cx >= cores[:, 0]) & (cx < cores[:, 2]) & (cy >= cores[:, 1]) & (cy < cores[:, 3])
    kept = np.flatnonzero(in_core)
    # Half extents of each (rotated) box along x and y, to find boxes that leave their tile's core.
    cos, sin = np.abs(np.cos(obb[kept, 4])), np.abs(np.sin(obb[kept, 4]))
    half_x = (obb[kept, 2] * cos + obb[kept, 3] * sin) / 2
    half_y = (obb[kept, 2] * sin + obb[kept, 3] * cos) / 2
    c = cores[kept]
    leaves = ((cx[kept] - half_x < c[:, 0]) | (cx[kept] + half_x > c[:, 2])
              | (cy[kept] - half_y < c[:, 1]) | (cy[kept] + half_y > c[:, 3]))
    seam = kept[leaves]
    if len(seam) < 2:
        return kept
    drop = _seam_nms(obb[seam], np.asarray(scores)[seam], np.asarray(class_ids)[seam], settings)
    return np.setdiff1d(kept, seam[drop], assume_unique=True)


def _seam_nms(obb: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, settings: MergeSettings) -> np.ndarray:
    """Local indices suppressed by class-aware greedy NMS on polygon IoU / IOS."""
    polygons = shapely.polygons(obb_px_to_corners(obb))
    tree = shapely.STRtree(polygons)
    a, b = tree.query(polygons, predicate="intersects")
    pair = (a < b) & (class_ids[a] == class_ids[b])
    a, b = a[pair], b[pair]
    if len(a) == 0:
        return np.empty(0, dtype=np.int64)
    inter = shapely.area(shapely.intersection(polygons[a], polygons[b]))
    area = shapely.area(polygons)
    union = area[a] + area[b] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    smaller = np.minimum(area[a], area[b])
    ios = np.divide(inter, smaller, out=np.zeros_like(inter), where=smaller > 0)
    hit = (iou >= settings.iou) | (ios >= settings.ios)
    a, b = a[hit], b[hit]
    # Orient each pair (winner, loser) by score, then suppress greedily from the best score down.
    rank = np.empty(len(scores), dtype=np.int64)
    rank[np.argsort(-scores, kind="stable")] = np.arange(len(scores))
    swap = rank[a] > rank[b]
    win, lose = np.where(swap, b, a), np.where(swap, a, b)
    order = np.argsort(rank[win], kind="stable")
    suppressed = np.zeros(len(scores), dtype=bool)
    for w, loser in zip(win[order].tolist(), lose[order].tolist()):
        if not suppressed[w]:
            suppressed[loser] = True
    return np.flatnonzero(suppressed)
