"""Small geometry helpers in scene metres (x right, y down from the scene's top-left corner)."""

from __future__ import annotations

import math

import cv2
import numpy as np


def rect_corners(centre: tuple[float, float], length: float, width: float, angle_rad: float) -> np.ndarray:
    """Corners (4, 2) of an oriented rectangle, in order around it; the length axis is at ``angle_rad``."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    along = np.array([c, s]) * (length / 2)
    across = np.array([-s, c]) * (width / 2)
    centre_arr = np.asarray(centre, dtype=np.float64)
    return np.array([centre_arr - along - across, centre_arr + along - across,
                     centre_arr + along + across, centre_arr - along + across])


def clip_segment(p0: np.ndarray, p1: np.ndarray, bounds: tuple[float, float, float, float]
                 ) -> tuple[float, float] | None:
    """Liang-Barsky: the parameter range [t0, t1] of segment p0->p1 inside ``bounds`` (xmin, ymin, xmax, ymax)."""
    t0, t1 = 0.0, 1.0
    delta = p1 - p0
    for p, q in ((-delta[0], p0[0] - bounds[0]), (delta[0], bounds[2] - p0[0]),
                 (-delta[1], p0[1] - bounds[1]), (delta[1], bounds[3] - p0[1])):
        if abs(p) < 1e-12:
            if q < 0:
                return None
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
    return (t0, t1) if t1 > t0 else None


def inside(corners: np.ndarray, bounds: tuple[float, float, float, float]) -> bool:
    """Whether every corner lies within ``bounds``."""
    return bool(corners[:, 0].min() >= bounds[0] and corners[:, 1].min() >= bounds[1]
                and corners[:, 0].max() <= bounds[2] and corners[:, 1].max() <= bounds[3])


class Occupancy:
    """A coarse grid (2 m cells) of ground already used, so that placed things do not overlap."""

    def __init__(self, extent_m: tuple[float, float], cell_m: float = 2.0) -> None:
        self.cell_m = cell_m
        self.grid = np.zeros((int(math.ceil(extent_m[1] / cell_m)) + 1, int(math.ceil(extent_m[0] / cell_m)) + 1),
                             np.uint8)

    def copy(self) -> Occupancy:
        other = Occupancy.__new__(Occupancy)
        other.cell_m, other.grid = self.cell_m, self.grid.copy()
        return other

    def _points(self, polygon_m: np.ndarray) -> np.ndarray:
        return np.round(np.asarray(polygon_m) / self.cell_m * 16).astype(np.int32)

    def mark(self, polygon_m: np.ndarray) -> None:
        cv2.fillPoly(self.grid, [self._points(polygon_m)], 1, shift=4)

    def mark_line(self, p0: np.ndarray, p1: np.ndarray, width_m: float) -> None:
        a = tuple(int(v) for v in np.round(np.asarray(p0) / self.cell_m * 16))
        b = tuple(int(v) for v in np.round(np.asarray(p1) / self.cell_m * 16))
        cv2.line(self.grid, a, b, 1, thickness=max(1, int(math.ceil(width_m / self.cell_m))), shift=4)

    def is_free(self, polygon_m: np.ndarray) -> bool:
        cells = np.asarray(polygon_m) / self.cell_m
        col0, row0 = np.floor(cells.min(axis=0)).astype(int) - 1
        col1, row1 = np.ceil(cells.max(axis=0)).astype(int) + 2
        rows, cols = self.grid.shape
        c0, r0, c1, r1 = max(col0, 0), max(row0, 0), min(col1, cols), min(row1, rows)
        if c1 <= c0 or r1 <= r0:
            return True
        patch = np.zeros((r1 - r0, c1 - c0), np.uint8)
        shifted = np.round((cells - (c0, r0)) * 16).astype(np.int32)
        cv2.fillPoly(patch, [shifted], 1, shift=4)
        return not bool(np.any(patch & self.grid[r0:r1, c0:c1]))
