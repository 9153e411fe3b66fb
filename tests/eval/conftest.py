"""Helpers for the eval tests: seeded synthetic scenes of boxes written as design-contract files."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from yardwatch import CLASS_NAMES

ORIGIN_M = (350000.0, 4700000.0)  # EPSG:32652, near Tumangang


def rail_yard_boxes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` axis-aligned objects in rows: ``(n, 4)`` (xmin, ymin, xmax, ymax) metres and ``(n,)`` class ids.

    Railcars 14.5 x 2.8 m (40.6 m^2), tarps 9 x 2.6 m (23.4 m^2), containers 6.1 x 2.44 m (14.9 m^2), 1.5 m gaps
    along rows 6 m apart, so no two objects overlap.
    """
    rng = np.random.default_rng(seed)
    sizes = {0: (14.5, 2.8), 1: (9.0, 2.6), 2: (6.1, 2.44)}
    classes = rng.integers(0, 3, n)
    boxes = np.zeros((n, 4))
    x, row = 0.0, 0
    for i, k in enumerate(classes):
        w, h = sizes[int(k)]
        if x + w > 300.0:
            x, row = 0.0, row + 1
        boxes[i] = [ORIGIN_M[0] + x, ORIGIN_M[1] + 6.0 * row, ORIGIN_M[0] + x + w, ORIGIN_M[1] + 6.0 * row + h]
        x += w + 1.5
    return boxes, classes.astype(np.int64)


def box_polygons(boxes: np.ndarray) -> list:
    import shapely

    return list(shapely.box(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]))


def write_objects(path: Path, polygons, class_ids, *, scores=None, crs: str = "EPSG:32652",
                  to_crs: str | None = None) -> Path:
    """Write labels (``scores is None``: a ``class`` property) or detections (design record columns)."""
    import geopandas as gpd

    class_ids = np.asarray(class_ids, dtype=np.int64)
    if scores is None:
        columns = {"class": [CLASS_NAMES[k] for k in class_ids], "class_id": class_ids}
    else:
        columns = {"scene_id": [path.stem] * len(class_ids), "class_id": class_ids,
                   "class_name": [CLASS_NAMES[k] for k in class_ids], "score": np.asarray(scores, dtype=float)}
    frame = gpd.GeoDataFrame(columns, geometry=list(polygons), crs=crs)
    if to_crs is not None:
        frame = frame.to_crs(to_crs)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame.to_parquet(path)
    elif suffix == ".csv":
        frame.drop(columns="geometry").assign(geometry_wkt=frame.geometry.to_wkt(), crs=str(frame.crs)).to_csv(
            path, index=False)
    else:
        frame.to_file(path, engine="pyogrio")
    return path


@pytest.fixture
def yw() -> SimpleNamespace:
    """The helpers above, for test modules (a fixture rather than ``import conftest``, which is ambiguous when
    several test folders have a conftest.py)."""
    return SimpleNamespace(rail_yard_boxes=rail_yard_boxes, box_polygons=box_polygons, write_objects=write_objects)


@pytest.fixture
def yard(tmp_path: Path):
    """Two scenes of 60 labelled objects each; labels in lon/lat, predictions = labels (score 0.9) in UTM."""
    preds, labels = tmp_path / "preds", tmp_path / "labels"
    for s in range(2):
        boxes, classes = rail_yard_boxes(60, seed=s)
        polygons = box_polygons(boxes)
        write_objects(labels / f"scene{s}.geojson", polygons, classes, to_crs="EPSG:4326")
        write_objects(preds / f"scene{s}.geojson", polygons, classes, scores=np.full(len(classes), 0.9))
    return preds, labels
