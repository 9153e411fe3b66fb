"""A synthetic site over time: tiny GeoTIFF scenes, detection files with known counts, a catalog and an AOI."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

SCENE_PX = 200  # 100 m at 0.5 m
LEFT, TOP = 350000.0, 4700100.0  # EPSG:32652
AOI_BOUNDS = (350010.0, 4700010.0, 350090.0, 4700090.0)


@dataclass
class SiteSeries:
    """Paths of one synthetic site series and the counts it was made with."""

    root: Path
    detections: Path
    catalog: Path
    aoi: Path
    dates: list[dt.date] = field(default_factory=list)
    railcars: list[int] = field(default_factory=list)


def write_scene(path: Path, *, nodata_cols: int = 0, seed: int = 0) -> Path:
    """A 200x200 px 3-band uint8 scene at 0.5 m; the first ``nodata_cols`` columns are nodata (0)."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    array = rng.integers(30, 200, size=(3, SCENE_PX, SCENE_PX), dtype=np.uint8)
    array[:, :, :nodata_cols] = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=SCENE_PX, height=SCENE_PX, count=3, dtype="uint8",
                       crs="EPSG:32652", transform=from_origin(LEFT, TOP, 0.5, 0.5), nodata=0) as dst:
        dst.write(array)
    return path


def railcar_boxes(n: int) -> list:
    """``n`` railcars (14.5 x 2.8 m) in rows inside the AOI: 4 per row, rows 3.5 m apart (at most 88)."""
    import shapely

    boxes = []
    for i in range(n):
        x = AOI_BOUNDS[0] + 2.0 + 16.0 * (i % 4)
        y = AOI_BOUNDS[1] + 2.0 + 3.5 * (i // 4)
        boxes.append(shapely.box(x, y, x + 14.5, y + 2.8))
    return boxes


def write_detections(path: Path, railcars: int, *, containers_inside: int = 0, csv_without_crs: bool = False) -> Path:
    """Detections: ``railcars`` railcars (score 0.8) and ``containers_inside`` containers in the AOI, plus two
    low-score railcars (0.1, below conf) in it and three containers outside it (in the scene)."""
    import geopandas as gpd
    import shapely

    polygons = railcar_boxes(railcars + 2)
    scores = [0.8] * railcars + [0.1, 0.1]
    classes = [0] * (railcars + 2)
    for j in range(containers_inside):
        polygons.append(shapely.box(350080.0, 4700011.0 + 3.0 * j, 350086.1, 4700013.44 + 3.0 * j))
        scores.append(0.7)
        classes.append(2)
    for j in range(3):  # right of the AOI, inside the scene
        polygons.append(shapely.box(350092.0, 4700020.0 + 5.0 * j, 350098.1, 4700022.44 + 5.0 * j))
        scores.append(0.9)
        classes.append(2)
    names = [("railcar", "tarp", "container")[k] for k in classes]
    frame = gpd.GeoDataFrame({"scene_id": path.stem, "class_id": classes, "class_name": names, "score": scores},
                             geometry=polygons, crs="EPSG:32652")
    path.parent.mkdir(parents=True, exist_ok=True)
    if csv_without_crs:
        frame.drop(columns="geometry").assign(geometry_wkt=frame.geometry.to_wkt()).to_csv(path, index=False)
    else:
        frame.to_file(path, engine="pyogrio")
    return path


def write_labels(path: Path, railcars: int) -> Path:
    """Ground truth of a scene: ``railcars`` railcars in the AOI (the detections' true objects)."""
    import geopandas as gpd

    path.parent.mkdir(parents=True, exist_ok=True)
    gpd.GeoDataFrame({"class": ["railcar"] * railcars, "class_id": [0] * railcars},
                     geometry=railcar_boxes(railcars), crs="EPSG:32652").to_file(path, engine="pyogrio")
    return path


def write_aoi(path: Path, bounds=AOI_BOUNDS, *, site: str = "Tumangang yard", column: str = "site") -> Path:
    """The site polygon, written in lon/lat (the counter must move it to the scene's CRS)."""
    import geopandas as gpd
    import shapely

    frame = gpd.GeoDataFrame({column: [site]}, geometry=[shapely.box(*bounds)], crs="EPSG:32652")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_crs("EPSG:4326").to_file(path, engine="pyogrio")
    return path


def write_catalog(path: Path, rows: list[dict]) -> Path:
    import pandas as pd

    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def make_series(root: Path, railcars: list[int], *, start: dt.date = dt.date(2019, 1, 10), step_days: int = 90,
                nodata_cols: dict[int, int] | None = None) -> SiteSeries:
    """One site over ``len(railcars)`` dates, one scene each."""
    series = SiteSeries(root=root, detections=root / "detections", catalog=root / "catalog.csv",
                        aoi=write_aoi(root / "aoi.geojson"))
    rows = []
    for i, n in enumerate(railcars):
        scene_id = f"tumangang_{i:02d}"
        date = start + dt.timedelta(days=step_days * i)
        write_scene(root / "scenes" / f"{scene_id}.tif", nodata_cols=(nodata_cols or {}).get(i, 0), seed=i)
        write_detections(series.detections / f"{scene_id}.geojson", n)
        write_labels(root / "labels" / f"{scene_id}.geojson", n)
        rows.append({"scene_id": scene_id, "path": f"scenes/{scene_id}.tif",
                     "labels_path": f"labels/{scene_id}.geojson", "site": "tumangang",
                     "acquired": date.isoformat(), "crs": "EPSG:32652", "gsd_m": 0.5})
        series.dates.append(date)
        series.railcars.append(n)
    write_catalog(series.catalog, rows)
    return series


@pytest.fixture
def helpers() -> SimpleNamespace:
    """The writers above, for test modules (a fixture rather than ``import conftest``, which is ambiguous when
    several test folders have a conftest.py)."""
    return SimpleNamespace(write_scene=write_scene, write_detections=write_detections, write_aoi=write_aoi,
                           write_catalog=write_catalog, railcar_boxes=railcar_boxes, make_series=make_series)


@pytest.fixture
def site_series(tmp_path: Path):
    """A factory: ``site_series(railcars=[...], nodata_cols={date_index: columns})``."""

    def factory(railcars: list[int], **kwargs) -> SiteSeries:
        return make_series(tmp_path / "site", railcars, **kwargs)

    return factory


@pytest.fixture
def seed_story(site_series) -> SiteSeries:
    """Twenty dates: 19 ordinary ones with 5..20 railcars, then 73 (the October 2023 spike) on date 16."""
    counts = np.random.default_rng(2023).integers(5, 21, size=20).tolist()
    counts[15] = 73
    return site_series(counts)
