"""``tile_scenes`` end to end: the solaris peer test, real rasters, splits, labels, resampling, atomic output."""

from __future__ import annotations

import csv
import hashlib
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
import yaml
from rasterio.windows import Window

from yardwatch.errors import ConfigError, OutputError
from yardwatch.tiling import SplitRatios, TilingOptions, tile_scenes
from yardwatch.tiling import dataset as dataset_module

ALL_TRAIN = SplitRatios(1.0, 0.0, 0.0)


def _rows(out_dir: Path) -> list[dict]:
    with (out_dir / "tiles.csv").open() as fh:
        return list(csv.DictReader(fh))


def _png(out_dir: Path, row: dict) -> np.ndarray:
    import cv2

    image = cv2.imread(str(out_dir / "images" / row["split"] / f"{row['tile_id']}.png"), cv2.IMREAD_UNCHANGED)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _label_lines(out_dir: Path, row: dict) -> list[str]:
    return (out_dir / "labels" / row["split"] / f"{row['tile_id']}.txt").read_text().splitlines()


def _verify_with_ultralytics(out_dir: Path, rows: list[dict], task: str) -> None:
    from ultralytics.data.utils import verify_image_label

    for row in rows:
        image = out_dir / "images" / row["split"] / f"{row['tile_id']}.png"
        label = out_dir / "labels" / row["split"] / f"{row['tile_id']}.txt"
        result = verify_image_label((str(image), str(label), "", False, 3, 0, 0, False))
        assert result[8] == 0, f"ultralytics finds {label.name} corrupt: {result[9]}"


# --- the peer test ---------------------------------------------------------------------------------------------
def test_solaris_peer_tiles_and_labels(shared_data, tmp_path):
    """Tiling the SpaceNet chip at 90 px gives solaris' 100 tiles, pixel for pixel, and the same clipped labels."""
    import geopandas as gpd

    from yardwatch.io.raster import open_scene
    from yardwatch.io.vector import read_labels
    from yardwatch.tiling import clip_to_windows, labels_to_scene_px, make_tile_grid

    folder = shared_data / "solaris"
    options = TilingOptions(tile_size_px=90, overlap_px=0, split=ALL_TRAIN, write_geotiff=True, min_visibility=0.0,
                            negative_ratio=None, class_field="building", class_map={"yes": "container"})
    summary = tile_scenes(folder / "sample_geotiff.tif", tmp_path / "ds", labels=folder / "geotiff_labels.geojson",
                          options=options)
    assert summary.n_tiles["train"] == 100 and summary.gsd_m == pytest.approx(0.5)
    expected_tiles = sorted((folder / "rastertile_test_expected").glob("*.tif"))
    assert len(expected_tiles) == 100
    for path in expected_tiles:
        left, top = map(int, re.search(r"_(\d+)_(\d+)\.tif$", path.name).groups())
        col, row = round((left - 733601) / 0.5), round((3725139 - top) / 0.5)
        ours = tmp_path / "ds" / "geotiffs" / "train" / f"sample_geotiff_{col}_{row}.tif"
        with rasterio.open(path) as theirs, rasterio.open(ours) as mine:
            np.testing.assert_array_equal(mine.read(), theirs.read(), err_msg=path.name)
            assert mine.transform == theirs.transform and mine.crs == theirs.crs and mine.nodata == theirs.nodata

    # Clipped labels cover the same ground as solaris' vector tiles.
    info = open_scene(folder / "sample_geotiff.tif")
    labels = read_labels(folder / "geotiff_labels.geojson", scene_crs=info.crs, class_field="building",
                         class_map={"yes": "container"})
    windows = make_tile_grid(info.width, info.height, 90, 0)
    tiles = clip_to_windows(labels_to_scene_px(labels, info.transform), labels["class_id"].to_numpy(), windows,
                            min_visibility=0.0)
    compared = 0
    for window, objects in zip(windows, tiles, strict=True):
        left = 733601 + int(window.col_off) * 0.5
        top = 3725139 - int(window.row_off) * 0.5
        expected = gpd.read_file(folder / "vectortile_test_expected" / f"geoms_{left:.0f}_{top:.0f}.geojson")
        ours = [shapely.affinity.affine_transform(p, [0.5, 0, 0, -0.5, left, top]) for p in objects.polygons_px]
        assert len(ours) == len(expected)
        if ours:
            mine, theirs = shapely.union_all(ours), shapely.union_all(expected.geometry.values)
            assert mine.intersection(theirs).area / theirs.area > 0.99999
            assert mine.intersection(theirs).area / mine.area > 0.99999
            compared += 1
    assert compared == 57
    # And the YOLO label files hold the boxes of those clipped parts.
    first = next(r for r in _rows(tmp_path / "ds") if r["tile_id"] == "sample_geotiff_0_0")
    assert int(first["n_objects"]) == len(tiles[0]) == len(_label_lines(tmp_path / "ds", first))


# --- real rasters ----------------------------------------------------------------------------------------------
def test_nodata_border_tiles_are_skipped(shared_data, tmp_path):
    path = shared_data / "rasterio" / "RGB.byte.tif"
    options = TilingOptions(tile_size_px=128, overlap_px=0, split=ALL_TRAIN, negative_ratio=None)
    summary = tile_scenes(path, tmp_path / "ds", options=options)
    rows = _rows(tmp_path / "ds")
    assert summary.n_skipped_nodata > 0 and len(rows) + summary.n_skipped_nodata == 42  # 7 x 6 grid
    with rasterio.open(path) as src:
        data = src.read()
    for row in rows:
        c, r = int(row["col_off"]), int(row["row_off"])
        block = data[:, r:r + 128, c:c + 128]
        nodata = (block == 0).all(axis=0).mean()
        assert float(row["nodata_frac"]) == pytest.approx(nodata, abs=1e-4) and nodata <= 0.5
        np.testing.assert_array_equal(_png(tmp_path / "ds", row), block.transpose(1, 2, 0))
    assert "RGB.byte_0_0" not in {row["tile_id"] for row in rows}  # the corner is all nodata


def test_cog_is_tiled_by_windows(shared_data, tmp_path):
    path = shared_data / "rasterio" / "cogeo.tif"
    options = TilingOptions(tile_size_px=256, overlap_px=32, split=ALL_TRAIN, negative_ratio=None)
    tile_scenes(path, tmp_path / "ds", options=options)
    rows = _rows(tmp_path / "ds")
    assert len(rows) == 25
    with rasterio.open(path) as src:
        for row in rows[:: 6]:
            window = Window(int(row["col_off"]), int(row["row_off"]), 256, 256)
            expected = src.read(window=window).transpose(1, 2, 0)
            mask = src.read_masks(1, window=window) > 0
            np.testing.assert_array_equal(_png(tmp_path / "ds", row)[mask], expected[mask])


def test_float_nan_scene_in_pixel_only_mode(shared_data, tmp_path):
    path = shared_data / "rasterio" / "float_nan.tif"
    options = TilingOptions(tile_size_px=32, overlap_px=0, split=ALL_TRAIN, negative_ratio=None,
                            allow_pixel_only=True, percentiles=(0.0, 100.0))
    summary = tile_scenes(path, tmp_path / "ds", options=options)
    (row,) = _rows(tmp_path / "ds")
    image = _png(tmp_path / "ds", row)
    assert image.shape == (32, 32, 3) and summary.gsd_m is None
    assert float(row["nodata_frac"]) == pytest.approx(1 / 6, abs=1e-4)  # one NaN of six in-scene pixels
    assert image[0, 0].tolist() == [255] * 3 and image[0, 2].tolist() == [0] * 3 and not image[2:].any()


def test_band_selection(tmp_path, geotiff_writer):
    data = np.stack([np.full((64, 64), v, np.uint8) for v in (10, 20, 30, 40)])
    path = geotiff_writer(tmp_path / "four.tif", data)
    options = TilingOptions(tile_size_px=64, overlap_px=0, split=ALL_TRAIN, negative_ratio=None, bands=(4, 2, 1))
    summary = tile_scenes(path, tmp_path / "ds", options=options)
    (row,) = _rows(tmp_path / "ds")
    assert _png(tmp_path / "ds", row)[5, 5].tolist() == [40, 20, 10]
    meta = yaml.safe_load(summary.dataset_yaml.read_text())["yardwatch"]
    assert meta["normalization"]["bands"] == [4, 2, 1]


# --- labels, splits and the dataset files ----------------------------------------------------------------------
def test_lonlat_labels_land_on_the_right_pixels(labeled_scene, tmp_path):
    scene, labels, boxes_px = labeled_scene
    options = TilingOptions(tile_size_px=320, overlap_px=0, split=ALL_TRAIN)
    summary = tile_scenes(scene, tmp_path / "ds", labels=labels, options=options)
    (row,) = _rows(tmp_path / "ds")  # one padded tile holds the whole 300x200 scene
    assert summary.n_objects["train"] == 3 and row["n_objects"] == "3"
    got = {int(v[0]): v[1:] for v in (np.array(line.split(), float) for line in _label_lines(tmp_path / "ds", row))}
    for class_id, (c0, r0, c1, r1) in enumerate(boxes_px.values()):
        expected = [(c0 + c1) / 2 / 320, (r0 + r1) / 2 / 320, (c1 - c0) / 320, (r1 - r0) / 320]
        np.testing.assert_allclose(got[class_id], expected, atol=2e-6)
    image = _png(tmp_path / "ds", row)
    assert (image[30:36, 20:49] == 200).all() and not image[200:].any() and not image[:, 300:].any()


def test_spatial_split_covers_every_pixel_without_leaks(labeled_scene, tmp_path):
    scene, labels, _ = labeled_scene
    options = TilingOptions(tile_size_px=64, overlap_px=16, split_block_tiles=2, negative_ratio=None,
                            max_nodata_frac=1.0, seed=1)
    summary = tile_scenes(scene, tmp_path / "ds", labels=labels, options=options)
    assert summary.split_by == "block"
    rows = _rows(tmp_path / "ds")
    assert all(summary.n_tiles[s] > 0 for s in ("train", "val", "test"))
    covered = np.zeros((200, 300), dtype=bool)
    boxes = {}
    for row in rows:
        c, r = int(row["col_off"]), int(row["row_off"])
        assert (int(row["width"]), int(row["height"])) == (64, 64)
        covered[r:r + 64, c:c + 64] = True
        boxes.setdefault(row["split"], []).append(shapely.box(c, r, c + 64, r + 64))
    assert covered.all()
    for held_out in ("val", "test"):
        for tile in boxes[held_out]:
            assert all(tile.intersection(t).area == 0 for t in boxes["train"])
    again = tile_scenes(scene, tmp_path / "again", labels=labels, options=options)
    assert again.n_tiles == summary.n_tiles and _rows(tmp_path / "again") == rows  # deterministic for a seed


def test_dataset_files(labeled_scene, tmp_path):
    scene, labels, _ = labeled_scene
    options = TilingOptions(tile_size_px=64, overlap_px=16, split_block_tiles=2, negative_ratio=0.5, task="obb")
    summary = tile_scenes(scene, tmp_path / "ds", labels=labels, options=options)
    out = tmp_path / "ds"
    document = yaml.safe_load((out / "dataset.yaml").read_text())
    assert document["path"] == str(out.resolve())
    assert (document["train"], document["val"]) == ("images/train", "images/val")
    assert document["names"] == {0: "railcar", 1: "tarp", 2: "container"}
    meta = document["yardwatch"]
    assert (meta["task"], meta["tile_size_px"], meta["overlap_px"], meta["min_visibility"]) == ("obb", 64, 16, 0.5)
    assert meta["gsd_m"] == pytest.approx(0.5) and meta["normalization"]["stretch"] == "none"
    assert meta["n_tiles"] == summary.n_tiles
    assert meta["tiles_sha256"] == hashlib.sha256((out / "tiles.csv").read_bytes()).hexdigest()
    rows = _rows(out)
    assert list(rows[0]) == ["tile_id", "scene_id", "col_off", "row_off", "width", "height", "split", "n_objects",
                             "nodata_frac"]
    for split in ("train", "val", "test"):
        positives = sum(1 for r in rows if r["split"] == split and int(r["n_objects"]))
        negatives = sum(1 for r in rows if r["split"] == split and not int(r["n_objects"]))
        assert positives > 0, split  # every split has objects to score
        assert split != "train" or negatives <= round(0.5 * positives)  # val/test keep every empty tile
    n_negatives = sum(1 for r in rows if not int(r["n_objects"]))
    assert n_negatives > 0 and summary.n_negatives_dropped > 0 and summary.n_objects_unlabeled == 0
    for row in rows:
        assert (out / "images" / row["split"] / f"{row['tile_id']}.png").is_file()
        assert len(_label_lines(out, row)) == int(row["n_objects"])
    _verify_with_ultralytics(out, rows, "obb")
    assert not list(tmp_path.glob(".ds.*"))  # no temporary folder left


def test_obb_labels_of_a_rotated_railcar(tmp_path, geotiff_writer, label_writer):
    from rasterio.transform import from_origin

    from yardwatch.geo import geometries_to_crs, obb_px_to_corners

    transform = from_origin(350000.0, 4700000.0, 0.5, 0.5)
    scene = geotiff_writer(tmp_path / "rot.tif", np.full((3, 128, 128), 50, np.uint8), transform=transform)
    corners_px = obb_px_to_corners([[60.0, 70.0, 29.0, 6.0, np.deg2rad(-25.0)]])[0]
    polygon = geometries_to_crs([shapely.Polygon(corners_px)], transform)[0]
    labels = label_writer(tmp_path / "rot.geojson", [polygon], ["railcar"], crs="EPSG:32652")
    options = TilingOptions(tile_size_px=128, overlap_px=0, split=ALL_TRAIN, task="obb")
    tile_scenes(scene, tmp_path / "ds", labels=labels, options=options)
    (row,) = _rows(tmp_path / "ds")
    (line,) = _label_lines(tmp_path / "ds", row)
    values = np.array(line.split(), float)
    assert values[0] == 0
    got = {tuple(p) for p in np.round(values[1:].reshape(4, 2) * 128, 3)}
    assert got == {tuple(p) for p in np.round(corners_px, 3)}


def test_gsd_resampling_scales_tiles_and_labels(tmp_path, geotiff_writer, label_writer):
    from rasterio.transform import from_origin

    transform = from_origin(350000.0, 4700000.0, 0.25, 0.25)
    data = np.full((3, 256, 256), 60, np.uint8)
    data[:, 40:52, 20:80] = 220  # a 60 x 12 px railcar at 0.25 m: 15 x 3 m
    scene = geotiff_writer(tmp_path / "fine.tif", data, transform=transform)
    box = shapely.box(350000 + 20 * 0.25, 4700000 - 52 * 0.25, 350000 + 80 * 0.25, 4700000 - 40 * 0.25)
    labels = label_writer(tmp_path / "fine.geojson", [box], ["railcar"], crs="EPSG:32652")
    options = TilingOptions(tile_size_px=64, overlap_px=0, split=ALL_TRAIN, gsd_m=0.5, write_geotiff=True)
    summary = tile_scenes(scene, tmp_path / "ds", labels=labels, options=options)
    assert summary.gsd_m == pytest.approx(0.5)
    row = next(r for r in _rows(tmp_path / "ds") if r["tile_id"] == "fine_0_0")
    assert (int(row["width"]), int(row["height"])) == (128, 128)  # 64 px at 0.5 m = 128 px at 0.25 m
    image = _png(tmp_path / "ds", row)
    assert image.shape == (64, 64, 3)
    assert (image[21:25, 11:39] == 220).all() and (image[:19] == 60).all()
    (line,) = _label_lines(tmp_path / "ds", row)
    np.testing.assert_allclose(np.array(line.split(), float),
                               [0, 25 / 64, 23 / 64, 30 / 64, 6 / 64], atol=1e-6)
    with rasterio.open(tmp_path / "ds" / "geotiffs" / "train" / "fine_0_0.tif") as tif:
        assert tif.shape == (64, 64) and tif.res == (0.5, 0.5)
        assert tif.transform.c == 350000.0 and tif.transform.f == 4700000.0


def test_labels_outside_every_scene_are_counted(labeled_scene, tmp_path, label_writer):
    import geopandas as gpd

    scene, labels, _ = labeled_scene
    frame = gpd.read_file(labels)
    far = shapely.affinity.translate(frame.geometry.iloc[0], xoff=1.0)  # a degree east: off the scene
    both = label_writer(tmp_path / "more.geojson", [*frame.geometry.values, far], [*frame["class"], "railcar"],
                        crs="EPSG:4326")
    summary = tile_scenes(scene, tmp_path / "ds", labels=both, options=TilingOptions(tile_size_px=128,
                                                                                       overlap_px=0,
                                                                                       split=ALL_TRAIN))
    assert summary.n_labels == 4 and summary.n_labels_outside == 1


def test_scenes_split_by_scene_from_a_catalog(tmp_path, geotiff_writer, label_writer):
    from rasterio.transform import from_origin

    (tmp_path / "scenes").mkdir()
    (tmp_path / "labels").mkdir()
    lines = ["scene_id,path,labels_path,site,acquired,crs,gsd_m"]
    for i in range(10):
        transform = from_origin(350000.0 + 1000 * i, 4700000.0, 0.5, 0.5)
        data = np.full((3, 64, 64), 40 + i, np.uint8)
        geotiff_writer(tmp_path / "scenes" / f"s{i}.tif", data, transform=transform)
        box = shapely.box(350000 + 1000 * i + 5, 4700000 - 10, 350000 + 1000 * i + 12, 4700000 - 8)
        label_writer(tmp_path / "labels" / f"s{i}.geojson", [box], ["container"], crs="EPSG:32652")
        lines.append(f"s{i},scenes/s{i}.tif,labels/s{i}.geojson,yard,2023-10-0{i % 9 + 1},EPSG:32652,0.5")
    (tmp_path / "catalog.csv").write_text("\n".join(lines) + "\n")
    summary = tile_scenes(tmp_path / "catalog.csv", tmp_path / "ds", options=TilingOptions(tile_size_px=64,
                                                                                           overlap_px=0))
    assert summary.split_by == "scene" and summary.n_tiles == {"train": 8, "val": 1, "test": 1}
    assert summary.n_objects == {"train": 8, "val": 1, "test": 1}
    by_scene = {r["scene_id"]: r["split"] for r in _rows(tmp_path / "ds")}
    assert len(by_scene) == 10


def test_two_workers_write_the_same_dataset(tmp_path, geotiff_writer):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        geotiff_writer(tmp_path / f"{name}.tif", rng.integers(0, 255, (3, 96, 96), dtype=np.uint8))
    common = dict(tile_size_px=64, overlap_px=8, split=ALL_TRAIN, negative_ratio=None)
    one = tile_scenes(str(tmp_path / "*.tif"), tmp_path / "one", options=TilingOptions(**common))
    two = tile_scenes(str(tmp_path / "*.tif"), tmp_path / "two", options=TilingOptions(**common, workers=2))
    assert one.n_tiles == two.n_tiles == {"train": 8, "val": 0, "test": 0}
    assert (tmp_path / "one" / "tiles.csv").read_bytes() == (tmp_path / "two" / "tiles.csv").read_bytes()
    for png in (tmp_path / "one" / "images" / "train").iterdir():
        assert png.read_bytes() == (tmp_path / "two" / "images" / "train" / png.name).read_bytes()


# --- output safety -----------------------------------------------------------------------------------------------
def test_a_failure_mid_write_leaves_nothing(labeled_scene, tmp_path, monkeypatch):
    scene, labels, _ = labeled_scene
    calls = []

    def failing_png(path, rgb, params):  # slow, so the reader thread is still tiles ahead when a write fails
        calls.append(path)
        time.sleep(0.02)
        if len(calls) >= 3:  # two encoder threads append concurrently
            raise OSError("disk full")
        return original(path, rgb, params)

    original = dataset_module._write_png
    monkeypatch.setattr(dataset_module, "_write_png", failing_png)
    options = TilingOptions(tile_size_px=64, overlap_px=0, split=ALL_TRAIN, negative_ratio=None)
    with pytest.raises(OSError, match="disk full") as raised:
        tile_scenes(scene, tmp_path / "out" / "ds", labels=labels, options=options)
    # the reader thread stopped with the scene, though the error's traceback still holds the frames (CI once
    # aborted on the reader's read of the closed dataset)
    assert raised.traceback
    assert [t for t in threading.enumerate() if t.name == "yardwatch-tile-reader"] == []
    assert list((tmp_path / "out").iterdir()) == []


def test_existing_output_needs_overwrite(labeled_scene, tmp_path):
    scene, labels, _ = labeled_scene
    options = TilingOptions(tile_size_px=128, overlap_px=0, split=ALL_TRAIN)
    tile_scenes(scene, tmp_path / "ds", labels=labels, options=options)
    marker = tmp_path / "ds" / "old.txt"
    marker.write_text("old")
    with pytest.raises(OutputError, match="exists and is not empty; pass overwrite=true"):
        tile_scenes(scene, tmp_path / "ds", labels=labels, options=options)
    assert marker.exists()
    tile_scenes(scene, tmp_path / "ds", labels=labels, options=options, overwrite=True)
    assert not marker.exists() and (tmp_path / "ds" / "dataset.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_options_are_validated():
    with pytest.raises(ConfigError, match="task='seg'"):
        TilingOptions(task="seg")
    with pytest.raises(ConfigError, match="min_visibility"):
        TilingOptions(min_visibility=2.0)
    with pytest.raises(ConfigError, match="gsd_m"):
        TilingOptions(gsd_m=0.0)
    with pytest.raises(ConfigError, match="overlap_px=640"):
        TilingOptions(overlap_px=640)
    with pytest.raises(ConfigError, match="png_compression"):
        TilingOptions(png_compression=10)


def test_no_tile_left_is_an_error(tmp_path, geotiff_writer):
    path = geotiff_writer(tmp_path / "blank.tif", np.zeros((3, 64, 64), np.uint8), nodata=0)
    with pytest.raises(ConfigError, match="no tile was written"):
        tile_scenes(path, tmp_path / "ds", options=TilingOptions(tile_size_px=64, overlap_px=0, split=ALL_TRAIN))
    assert not (tmp_path / "ds").exists()


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_plain_png_in_pixel_only_mode(tmp_path, label_writer):
    """A PNG without georeferencing, labels drawn in its pixel coordinates (x right, y down)."""
    import cv2

    image = np.full((100, 150, 3), 70, np.uint8)
    image[20:26, 30:59] = 230
    cv2.imwrite(str(tmp_path / "plain.png"), image)
    labels = label_writer(tmp_path / "plain.geojson", [shapely.box(30, 20, 59, 26)], ["railcar"], crs=None)
    options = TilingOptions(tile_size_px=128, overlap_px=0, split=ALL_TRAIN, allow_pixel_only=True)
    summary = tile_scenes(tmp_path / "plain.png", tmp_path / "ds", labels=labels, options=options)
    assert summary.gsd_m is None and summary.n_objects["train"] >= 1
    row = next(r for r in _rows(tmp_path / "ds") if r["tile_id"] == "plain_0_0")
    (line,) = _label_lines(tmp_path / "ds", row)
    np.testing.assert_allclose(np.array(line.split(), float), [0, 44.5 / 128, 23 / 128, 29 / 128, 6 / 128],
                               atol=1e-6)
    assert (_png(tmp_path / "ds", row)[20:26, 30:59] == 230).all()


def test_negative_sampling_thins_train_only_unless_asked(labeled_scene, tmp_path):
    """negative_ratio thins the train split's empty tiles; val and test keep every one (the background as the
    scenes hold it) unless eval_negative_ratio thins them too."""
    scene, labels, _ = labeled_scene

    def tiles(name, **options):
        tile_scenes(scene, tmp_path / name, labels=labels, options=TilingOptions(
            tile_size_px=64, overlap_px=16, split_block_tiles=2, task="obb", **options))
        return {(r["split"], r["tile_id"], int(r["n_objects"]) > 0) for r in _rows(tmp_path / name)}

    every = tiles("all", negative_ratio=None)
    default = tiles("default", negative_ratio=0.5)
    thinned = tiles("thinned", negative_ratio=0.5, eval_negative_ratio=0.0)
    empty_eval = {t for t in every if t[0] != "train" and not t[2]}
    assert empty_eval, "the fixture must have empty val/test tiles"
    assert {t for t in default if t[0] != "train"} == {t for t in every if t[0] != "train"}
    assert {t for t in default if t[0] == "train"} < {t for t in every if t[0] == "train"}
    assert not empty_eval & thinned and {t for t in thinned if t[2]} == {t for t in every if t[2]}
