"""Oriented boxes: (cx, cy, w, h, angle) <-> four corners, in scene px and in the CRS.

The (cx, cy, w, h, angle in radians) parameterisation and the corner order are ultralytics' own
(``ultralytics.utils.ops.xywhr2xyxyxyxy``): with ``u = (w/2)(cos a, sin a)`` along the box and
``v = (h/2)(-sin a, cos a)`` across it, the corners are ``c+u+v, c+u-v, c-u-v, c-u+v``. Matching it exactly means
a detection decoded by the model and a label written by the tiler describe the same polygon, point for point.
Written here with numpy rather than imported, so ``geo`` never imports ultralytics (and through it torch).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from affine import Affine

from yardwatch.geo.transforms import pixel_to_crs


def obb_px_to_corners(obb_xywhr_px: Any) -> np.ndarray:
    """Oriented boxes ``(N, 5)`` (cx, cy, w, h, angle rad) -> corners ``(N, 4, 2)`` (x, y), ultralytics' order.

    Works in any frame whose axes have equal units (scene px, tile px); angle is measured from +x towards +y
    (clockwise on an image whose y points down).
    """
    obb = np.asarray(obb_xywhr_px, dtype=np.float64).reshape(-1, 5)
    centre = obb[:, None, 0:2]
    half_w, half_h, angle = obb[:, 2:3] / 2.0, obb[:, 3:4] / 2.0, obb[:, 4:5]
    cos, sin = np.cos(angle), np.sin(angle)
    along = np.concatenate([half_w * cos, half_w * sin], axis=1)[:, None, :]
    across = np.concatenate([-half_h * sin, half_h * cos], axis=1)[:, None, :]
    signs = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [-1.0, 1.0]])  # (u, v) sign per corner
    return centre + signs[None, :, 0:1] * along + signs[None, :, 1:2] * across


def corners_px_to_crs(corners_px: Any, transform: Affine) -> np.ndarray:
    """Corners ``(N, 4, 2)`` in continuous scene px -> ``(N, 4, 2)`` in CRS coordinates (x, y)."""
    corners = np.asarray(corners_px, dtype=np.float64)
    xs, ys = pixel_to_crs(transform, corners[..., 0], corners[..., 1])
    return np.stack([xs, ys], axis=-1)


def corners_to_obb(corners: Any) -> np.ndarray:
    """Corners ``(N, 4, 2)`` of rectangles -> ``(N, 5)`` (cx, cy, w, h, angle rad), the inverse of
    :func:`obb_px_to_corners` for corners in its order (w along corner 2 -> 1, h along corner 1 -> 0)."""
    pts = np.asarray(corners, dtype=np.float64).reshape(-1, 4, 2)
    centre = pts.mean(axis=1)
    along = (pts[:, 0] - pts[:, 3] + pts[:, 1] - pts[:, 2]) / 2.0  # = 2u
    across = (pts[:, 0] - pts[:, 1] + pts[:, 3] - pts[:, 2]) / 2.0  # = 2v
    width = np.hypot(along[:, 0], along[:, 1])
    height = np.hypot(across[:, 0], across[:, 1])
    angle = np.arctan2(along[:, 1], along[:, 0])
    return np.column_stack([centre, width, height, angle])


def polygons_to_obb(polygons: Any) -> np.ndarray:
    """Shapely polygons -> ``(N, 5)`` minimum-area rotated rectangles (cx, cy, w, h, angle rad).

    ``w`` is the long side and the angle lies in [-pi/2, pi/2), so a railcar's box is length x width. The
    rectangle is shapely's ``oriented_envelope`` (minimum area); a degenerate polygon gives w or h of 0.
    """
    import shapely

    geoms = np.asarray(polygons, dtype=object).reshape(-1)
    out = np.zeros((len(geoms), 5), dtype=np.float64)
    for i, rect in enumerate(shapely.oriented_envelope(geoms)):
        coords = np.asarray(rect.exterior.coords if rect.geom_type == "Polygon" else rect.coords, dtype=np.float64)
        coords = coords[:4] if rect.geom_type == "Polygon" else coords
        if len(coords) < 4:  # a line or a point: pad to a zero-width rectangle
            coords = np.vstack([coords, coords[::-1]])[:4] if len(coords) > 1 else np.repeat(coords, 4, axis=0)
        edge_a, edge_b = coords[1] - coords[0], coords[2] - coords[1]
        len_a, len_b = np.hypot(*edge_a), np.hypot(*edge_b)
        long_edge, w, h = (edge_a, len_a, len_b) if len_a >= len_b else (edge_b, len_b, len_a)
        angle = np.arctan2(long_edge[1], long_edge[0])
        if angle >= np.pi / 2:
            angle -= np.pi
        elif angle < -np.pi / 2:
            angle += np.pi
        out[i] = [*coords[:4].mean(axis=0), w, h, angle]
    return out
