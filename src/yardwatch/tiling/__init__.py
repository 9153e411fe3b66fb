"""Tiling: the grid of tile windows, labels clipped to tiles, spatial splits, and the dataset writer.

``make_tile_grid`` and the label clipping are pure functions; ``tile_scenes`` is the one call behind
``yardwatch tile``.
"""

from __future__ import annotations

from yardwatch.tiling.dataset import TilingOptions, TilingSummary, tile_scenes
from yardwatch.tiling.grid import check_tile_geometry, make_tile_grid, split_axis, tile_starts
from yardwatch.tiling.labels import TASKS, TileObjects, clip_to_windows, labels_to_scene_px, yolo_lines
from yardwatch.tiling.split import SPLITS, SplitRatios, assign_groups

__all__ = [
    "SPLITS",
    "TASKS",
    "SplitRatios",
    "TileObjects",
    "TilingOptions",
    "TilingSummary",
    "assign_groups",
    "check_tile_geometry",
    "clip_to_windows",
    "labels_to_scene_px",
    "make_tile_grid",
    "split_axis",
    "tile_scenes",
    "tile_starts",
    "yolo_lines",
]
