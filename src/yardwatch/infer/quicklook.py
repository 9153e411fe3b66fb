"""Quicklook PNG: a decimated view of a scene with its detections drawn, for people to glance at."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

# BGR colours per class id (railcar orange, tarp cyan, container magenta): distinct on ballast and snow alike.
CLASS_COLOURS_BGR = ((0, 140, 255), (255, 220, 0), (255, 0, 200))


def write_quicklook(scene_path: str | Path, obb_xywhr_px: np.ndarray, class_ids: np.ndarray, out_path: Path, *,
                    class_names: Sequence[str], max_side_px: int = 1600,
                    window_px: tuple[int, int, int, int] | None = None) -> Path:
    """Draw oriented boxes (scene px) over the scene (or a ``window_px`` col, row, width, height of it)."""
    import cv2
    import rasterio
    from rasterio.windows import Window

    from yardwatch.geo import obb_px_to_corners
    from yardwatch.io.raster import compute_normalization, read_window

    with rasterio.open(scene_path) as src:
        col, row, width, height = window_px or (0, 0, src.width, src.height)
        scale = min(1.0, max_side_px / max(width, height))
        shape = (max(1, round(height * scale)), max(1, round(width * scale)))
        norm = compute_normalization(src)
        image, _ = read_window(src, Window(col, row, width, height), norm, out_shape=shape)
    canvas = np.ascontiguousarray(image[:, :, ::-1])  # RGB -> BGR for OpenCV
    corners = obb_px_to_corners(np.asarray(obb_xywhr_px, dtype=np.float64).reshape(-1, 5))
    corners = (corners - np.array([col, row])) * np.array([shape[1] / width, shape[0] / height])
    thickness = 1 if max(shape) < 1200 else 2
    for cls in np.unique(class_ids):
        pts = [np.round(c).astype(np.int32) for c in corners[np.asarray(class_ids) == cls]]
        colour = CLASS_COLOURS_BGR[int(cls) % len(CLASS_COLOURS_BGR)]
        cv2.polylines(canvas, pts, isClosed=True, color=colour, thickness=thickness, lineType=cv2.LINE_AA)
    # A legend drawn with OpenCV's built-in Hershey font: no font file is ever fetched.
    for i, name in enumerate(class_names):
        colour = CLASS_COLOURS_BGR[i % len(CLASS_COLOURS_BGR)]
        y = 18 + 18 * i
        cv2.rectangle(canvas, (6, y - 11), (18, y + 1), colour, -1)
        cv2.putText(canvas, name, (24, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    out_path = Path(out_path)
    tmp = out_path.with_name(f".{out_path.stem}.partial.png")
    cv2.imwrite(str(tmp), canvas)
    tmp.replace(out_path)
    return out_path
