"""Shared fixtures: offline ultralytics, paths to the reference data, tiny seeded georeferenced rasters."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    # Before anything imports ultralytics: never touch the network, pip or the user's settings.
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ["YOLO_VERBOSE"] = "false"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(config.rootpath) / ".pytest_cache" / "ultralytics"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a dependency
        has_cuda = False
    if not has_cuda:
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of reference data that yardwatch did not write; skip when it is not beside the checkout."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA}")
    return SHARED_DATA


def write_geotiff(path: Path, array: np.ndarray, *, crs: str | None = "EPSG:32652",
                  transform=None, nodata: float | None = None, tiled: bool = True) -> Path:
    """Write ``array`` (bands, rows, cols) as a GeoTIFF; default transform: 0.5 m pixels near Tumangang."""
    import rasterio
    from rasterio.transform import from_origin

    if transform is None:
        transform = from_origin(350000.0, 4700000.0, 0.5, 0.5)
    bands, height, width = array.shape
    profile = dict(driver="GTiff", width=width, height=height, count=bands, dtype=array.dtype.name,
                   transform=transform, nodata=nodata, compress="deflate")
    if crs is not None:
        profile["crs"] = crs
    if tiled:
        profile.update(tiled=True, blockxsize=64, blockysize=64)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array)
    return path


@pytest.fixture
def tiny_scene(tmp_path: Path) -> Path:
    """A 256x256 3-band uint8 GeoTIFF in EPSG:32652 at 0.5 m, seeded noise with a bright 29x6 px bar."""
    rng = np.random.default_rng(0)
    array = rng.integers(40, 90, size=(3, 256, 256), dtype=np.uint8)
    array[:, 100:106, 50:79] = 220
    return write_geotiff(tmp_path / "tiny.tif", array)


@pytest.fixture
def geotiff_writer():
    """``write_geotiff`` as a fixture, for test folders whose own ``conftest`` module shadows this one's name."""
    return write_geotiff


def write_label_file(path: Path, polygons, classes, *, crs: str | None = "EPSG:32652", driver: str | None = None,
                     extra: dict | None = None) -> Path:
    """Write labels (shapely polygons with a ``class`` attribute) as GeoJSON, GPKG or Shapefile by suffix."""
    import geopandas as gpd

    columns = {"class": list(classes), **(extra or {})}
    frame = gpd.GeoDataFrame(columns, geometry=list(polygons), crs=crs)
    drivers = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG", ".shp": "ESRI Shapefile"}
    frame.to_file(path, driver=driver or drivers[Path(path).suffix.lower()])
    return path


@pytest.fixture
def label_writer():
    """``write_label_file`` as a fixture: ``label_writer(path, polygons, classes, crs=..., extra=...)``."""
    return write_label_file


LABELED_SCENE_BOXES_PX = {"railcar": (20, 30, 49, 36), "tarp": (150, 100, 170, 110), "container": (240, 160, 264, 165)}
"""The objects of ``labeled_scene``: class -> (col0, row0, col1, row1) in scene px (edges, not centres)."""


@pytest.fixture
def labeled_scene(tmp_path: Path):
    """A 300x200 px 3-band uint8 GeoTIFF in EPSG:32652 (0.5 m) and its labels in EPSG:4326 (GeoJSON).

    Three bright objects (``LABELED_SCENE_BOXES_PX``: a railcar, a tarp, a container) on seeded noise; the labels
    are their pixel boxes taken to UTM by the scene transform, then to lon/lat by pyproj.
    Returns ``(scene_path, labels_path, boxes_px)``, ``boxes_px`` being ``LABELED_SCENE_BOXES_PX``.
    """
    import shapely
    from pyproj import Transformer
    from rasterio.transform import from_origin

    transform = from_origin(350000.0, 4700000.0, 0.5, 0.5)
    rng = np.random.default_rng(7)
    array = rng.integers(30, 80, size=(3, 200, 300), dtype=np.uint8)
    to_lonlat = Transformer.from_crs("EPSG:32652", "EPSG:4326", always_xy=True)
    polygons = []
    for value, (c0, r0, c1, r1) in zip((200, 160, 120), LABELED_SCENE_BOXES_PX.values(), strict=True):
        array[:, r0:r1, c0:c1] = value
        xs, ys = transform @ (np.array([c0, c1, c1, c0], float), np.array([r0, r0, r1, r1], float))
        lons, lats = to_lonlat.transform(xs, ys)
        polygons.append(shapely.Polygon(np.column_stack([lons, lats])))
    scene = write_geotiff(tmp_path / "yard.tif", array, transform=transform)
    labels = write_label_file(tmp_path / "yard.geojson", polygons, list(LABELED_SCENE_BOXES_PX), crs="EPSG:4326")
    return scene, labels, dict(LABELED_SCENE_BOXES_PX)
