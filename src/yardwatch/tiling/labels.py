"""Labels per tile: clip scene-px polygons to tile windows, keep the visible ones, write YOLO / YOLO-OBB lines.

An object cut by a tile edge is kept in that tile when at least ``min_visibility`` of its area lies inside, and
its label is the clipped part (its box for ``detect``, its minimum-area rectangle for ``obb``): the model learns
to box what it can see. With the default 0.5, a railcar half out of the tile is still labeled; a sliver is not
(a sliver labeled as a railcar teaches the detector to fire on couplings and shadows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from yardwatch.errors import ConfigError
from yardwatch.geo import geometries_to_px, obb_px_to_corners, polygons_to_obb

TASKS = ("detect", "obb")

# Visibility is a ratio of two float areas; a tile edge through an object's exact middle must count as 0.5.
_VISIBILITY_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class TileObjects:
    """The objects kept in one tile.

    Attributes:
        class_ids: ``(K,)`` int64 class ids.
        polygons_px: ``(K,)`` shapely polygons, the visible part of each object in tile px (output resolution).
        visibility: ``(K,)`` share of each object's area inside the tile, in (0, 1].
        object_index: ``(K,)`` position of each object in the scene's label array.
    """

    class_ids: np.ndarray
    polygons_px: np.ndarray
    visibility: np.ndarray
    object_index: np.ndarray

    def __len__(self) -> int:
        return len(self.class_ids)


def labels_to_scene_px(labels: Any, transform: Any) -> np.ndarray:
    """The label polygons of a GeoDataFrame (in the scene CRS) as shapely polygons in scene px."""
    return geometries_to_px(np.asarray(labels.geometry.values, dtype=object), transform)


def _window_box(window: Any) -> tuple[float, float, float, float]:
    return (float(window.col_off), float(window.row_off), float(window.col_off + window.width),
            float(window.row_off + window.height))


def clip_to_windows(polygons_px: np.ndarray, class_ids: np.ndarray, windows: Sequence[Any], *,
                    min_visibility: float = 0.5, out_size_px: int | None = None) -> list[TileObjects]:
    """Clip objects to each tile window and keep those at least ``min_visibility`` inside.

    Args:
        polygons_px: ``(N,)`` shapely polygons in scene px.
        class_ids: ``(N,)`` class ids.
        windows: tile windows in scene px.
        min_visibility: in [0, 1]; 0 keeps every object that overlaps the tile with a positive area.
        out_size_px: the tile's side after resampling (None: the window's own size); clipped polygons are
            scaled from the window's size to it.

    Returns:
        One :class:`TileObjects` per window, in the order of ``windows``.
    """
    import shapely

    if not 0.0 <= min_visibility <= 1.0:
        raise ConfigError(f"min_visibility={min_visibility!r} must lie in [0, 1], e.g. 0.5")
    polygons = np.asarray(polygons_px, dtype=object).reshape(-1)
    class_ids = np.asarray(class_ids, dtype=np.int64).reshape(-1)
    empty = TileObjects(np.zeros(0, np.int64), np.zeros(0, dtype=object), np.zeros(0), np.zeros(0, np.int64))
    if len(polygons) == 0 or len(windows) == 0:
        return [empty for _ in windows]
    bounds = np.array([_window_box(w) for w in windows], dtype=np.float64)
    boxes = shapely.box(bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3])
    tree = shapely.STRtree(polygons)
    tile_idx, obj_idx = tree.query(boxes, predicate="intersects")
    clipped = shapely.intersection(polygons[obj_idx], boxes[tile_idx])
    visible_area = shapely.area(clipped)
    visibility = visible_area / shapely.area(polygons[obj_idx])
    keep = (visible_area > 0) & (visibility >= min_visibility - _VISIBILITY_EPS)
    tile_idx, obj_idx, clipped, visibility = tile_idx[keep], obj_idx[keep], clipped[keep], visibility[keep]
    # Scene px -> tile px, per clipped polygon: subtract its window's offset, scale to the output size.
    widths = bounds[tile_idx, 2] - bounds[tile_idx, 0]
    scale = np.ones_like(widths) if out_size_px is None else out_size_px / widths
    coords, owner = shapely.get_coordinates(clipped, return_index=True)
    coords = (coords - bounds[tile_idx[owner], :2]) * scale[owner, None]
    clipped = shapely.set_coordinates(clipped.copy(), coords)
    order = np.argsort(tile_idx, kind="stable")
    tile_idx, obj_idx, clipped, visibility = tile_idx[order], obj_idx[order], clipped[order], visibility[order]
    starts = np.searchsorted(tile_idx, np.arange(len(windows) + 1))
    out = []
    for i in range(len(windows)):
        part = slice(starts[i], starts[i + 1])
        if starts[i] == starts[i + 1]:
            out.append(empty)
        else:
            out.append(TileObjects(class_ids[obj_idx[part]], clipped[part], visibility[part], obj_idx[part]))
    return out


def yolo_lines(objects: TileObjects, tile_size_px: int, task: str) -> list[str]:
    """YOLO label lines for one tile, coordinates normalised by ``tile_size_px`` and clipped to [0, 1].

    ``detect``: ``cls cx cy w h`` of each visible part's axis-aligned box. ``obb``: ``cls x1 y1 x2 y2 x3 y3 x4 y4``,
    the corners of each visible part's minimum-area rectangle in ultralytics' corner order (long side first). The
    clip matters: ultralytics drops a whole label file with a coordinate above 1.
    """
    import shapely

    if task not in TASKS:
        raise ConfigError(f"task={task!r} is not one of {', '.join(TASKS)}")
    if len(objects) == 0:
        return []
    size = float(tile_size_px)
    if task == "detect":
        b = np.clip(shapely.bounds(objects.polygons_px) / size, 0.0, 1.0)
        values = np.column_stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0],
                                  b[:, 3] - b[:, 1]])
    else:
        corners = obb_px_to_corners(polygons_to_obb(objects.polygons_px))
        values = np.clip(corners.reshape(-1, 8) / size, 0.0, 1.0)
    return [f"{int(c)} " + " ".join(f"{v:.6f}" for v in row) for c, row in zip(objects.class_ids, values,
                                                                                 strict=True)]
