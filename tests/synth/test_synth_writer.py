"""write_scenes: files on disk as the design's contract says, byte-identical per seed, series on schedule."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.enums import Compression

from yardwatch.errors import ConfigError
from yardwatch.synth import CATALOG_COLUMNS, series_schedule, write_scenes


def _catalog(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == CATALOG_COLUMNS
        return list(reader)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def utm33(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 4-band uint16 scenes at 0.4 m in UTM 33N (module-scoped: written once)."""
    out = tmp_path_factory.mktemp("utm33")
    return write_scenes(out, n_scenes=2, scene_size_px=(800, 560), gsd_m=0.4, seed=5, crs="EPSG:32633",
                        dtype="uint16", bands=4)


def test_catalog_lists_every_scene_with_relative_paths(utm33: Path) -> None:
    rows = _catalog(utm33)
    assert [r["site"] for r in rows] == ["yard-000", "yard-001"]
    for row in rows:
        assert (utm33.parent / row["path"]).is_file() and not Path(row["path"]).is_absolute()
        assert (utm33.parent / row["labels_path"]).is_file()
        assert row["path"] == f"scenes/{row['scene_id']}.tif" and row["crs"] == "EPSG:32633"
        assert row["gsd_m"] == "0.4" and len(row["acquired"]) == 10 and row["acquired"].startswith("2023")
    assert not [p for p in utm33.parent.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_geotiff_has_the_crs_transform_and_cog_layout_asked_for(utm33: Path) -> None:
    for row in _catalog(utm33):
        with rasterio.open(utm33.parent / row["path"]) as src:
            assert src.crs.to_epsg() == 32633
            assert (src.width, src.height, src.count) == (800, 560, 4)
            assert src.transform.a == pytest.approx(0.4) and src.transform.e == pytest.approx(-0.4)
            assert src.transform.b == 0 and src.transform.d == 0
            assert src.dtypes == ("uint16",) * 4 and src.nodata == 0
            assert src.block_shapes[0] == (512, 512) and src.compression == Compression.deflate
            assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            assert src.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "2"
            assert src.overviews(1) == [2]
            data = src.read()
            assert 255 < int(data.max()) <= 2047
            assert src.descriptions == ("red", "green", "blue", "nir")


def test_labels_geojson_carries_its_crs_and_properties(utm33: Path) -> None:
    for row in _catalog(utm33):
        path = utm33.parent / row["labels_path"]
        raw = json.loads(path.read_text())
        assert raw["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::32633"
        frame = gpd.read_file(path)
        assert frame.crs.to_epsg() == 32633 and len(frame) == len(raw["features"]) > 0
        assert set(frame["class"]) <= {"railcar", "tarp", "container"}
        assert (frame["class_id"] == frame["class"].map({"railcar": 0, "tarp": 1, "container": 2})).all()
        for feature in raw["features"]:
            ring = feature["geometry"]["coordinates"][0]
            assert feature["geometry"]["type"] == "Polygon" and len(ring) == 5 and ring[0] == ring[-1]
            props = feature["properties"]
            assert isinstance(props["occluded"], bool) and isinstance(props["truncated"], bool)
            assert isinstance(props["stack_height"], int) and props["length_m"] >= props["width_m"] > 0
        with rasterio.open(utm33.parent / row["path"]) as src:
            left, bottom, right, top = src.bounds
        minx, miny, maxx, maxy = frame.total_bounds
        assert left - 1e-3 <= minx and maxx <= right + 1e-3 and bottom - 1e-3 <= miny and maxy <= top + 1e-3


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    first = write_scenes(tmp_path / "a", n_scenes=2, scene_size_px=256, seed=42, gsd_m=[0.5, 0.7])
    second = write_scenes(tmp_path / "b", n_scenes=2, scene_size_px=256, seed=42, gsd_m=[0.5, 0.7])
    other = write_scenes(tmp_path / "c", n_scenes=2, scene_size_px=256, seed=43, gsd_m=[0.5, 0.7])
    assert _digest(first.parent) == _digest(second.parent)
    assert _digest(first.parent) != _digest(other.parent)


def test_series_follows_the_schedule_on_one_site(tmp_path: Path) -> None:
    kwargs = dict(baseline_max_railcars=12, spike_railcars=45, baseline_max_tarps=3, spike_tarps=9,
                  baseline_max_containers=4, spike_containers=16)
    catalog = write_scenes(tmp_path, series=True, dates=4, scene_size_px=640, gsd_m=0.5, seed=7, interval_days=45,
                           start_date="2021-06-01", **kwargs)
    schedule = series_schedule(4, seed=7, **kwargs)
    assert schedule.spike_date_index == 2 and schedule.railcars[2] == 45
    assert all(n <= 12 for k, n in enumerate(schedule.railcars) if k != 2)
    rows = _catalog(catalog)
    assert [r["acquired"] for r in rows] == ["2021-06-01", "2021-07-16", "2021-08-30", "2021-10-14"]
    assert {r["site"] for r in rows} == {"yard-000"}
    transforms = set()
    for k, row in enumerate(rows):
        counts = Counter(f["properties"]["class"] for f in
                         json.loads((tmp_path / row["labels_path"]).read_text())["features"])
        assert counts["railcar"] == schedule.railcars[k]
        assert counts["tarp"] == schedule.tarps[k] and counts["container"] == schedule.containers[k]
        with rasterio.open(tmp_path / row["path"]) as src:
            transforms.add((tuple(src.transform), src.width, src.height))
    assert len(transforms) == 1  # same footprint on every date


def _small_grey(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        grey = src.read(out_shape=(src.count, 48, 48), resampling=rasterio.enums.Resampling.average).mean(axis=0)
    return (grey - grey.mean()) / grey.std()


def test_series_dates_show_the_same_yard(tmp_path: Path) -> None:
    """Two dates of one site correlate far better than two sites (same tracks, roads, buildings, trees)."""
    common = dict(scene_size_px=384, season="summer", clouds=False, nodata_edges=False, spike_date_index=-1,
                  baseline_max_railcars=8)
    series = write_scenes(tmp_path / "s", series=True, dates=2, seed=3, **common)
    other = write_scenes(tmp_path / "o", series=True, dates=1, seed=4, **common)
    first, second = (_small_grey(tmp_path / "s" / row["path"]) for row in _catalog(series))
    stranger = _small_grey(tmp_path / "o" / _catalog(other)[0]["path"])
    same_site = float(np.mean(first * second))
    assert same_site > 0.8 and same_site > float(np.mean(first * stranger)) + 0.4


def test_series_season_follows_the_acquisition_month(tmp_path: Path) -> None:
    catalog = write_scenes(tmp_path, series=True, dates=3, scene_size_px=256, seed=3, season="random",
                           start_date="2022-01-10", interval_days=120, baseline_max_railcars=6, spike_railcars=10,
                           spike_containers=4, spike_tarps=2)
    seasons, means = [], []
    for row in _catalog(catalog):
        with rasterio.open(tmp_path / row["path"]) as src:
            seasons.append(src.tags()["YARDWATCH_SEASON"])
            means.append(float(src.read().mean()))
    assert seasons == ["winter", "summer", "autumn"]  # January, May, September
    assert means[0] > means[1] + 10  # snow is brighter than summer ground


def test_series_spike_that_does_not_fit_fails_without_writing(tmp_path: Path) -> None:
    out = tmp_path / "never"
    with pytest.raises(ConfigError, match="railcars do not fit"):
        write_scenes(out, series=True, dates=3, scene_size_px=160, seed=1, spike_railcars=500)
    assert not out.exists()


@pytest.mark.parametrize("kwargs, fragment", [
    ({"n_scenes": 0}, "n_scenes=0"), ({"dates": 0, "series": True}, "dates=0"),
    ({"start_date": "15/01/2023"}, "start_date"), ({"gsd_m": [0.5, 1.5]}, "gsd_m=1.5"),
    ({"series": True, "dates": 3, "spike_date_index": 3}, "spike_date_index=3"),
    ({"series": True, "spike_railcars": -1}, "spike_railcars=-1"),
])
def test_bad_arguments_fail_before_anything_is_written(tmp_path: Path, kwargs: dict, fragment: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[")):
        write_scenes(out, **{"scene_size_px": 64, **kwargs})
    assert not out.exists()


def test_scene_ids_are_unique_and_match_file_names(utm33: Path) -> None:
    rows = _catalog(utm33)
    assert len({r["scene_id"] for r in rows}) == len(rows)
    assert sorted(p.stem for p in (utm33.parent / "scenes").glob("*.tif")) == sorted(r["scene_id"] for r in rows)
    np.testing.assert_array_equal(sorted(p.stem for p in (utm33.parent / "labels").glob("*.geojson")),
                                  sorted(r["scene_id"] for r in rows))
