"""Scene reading: validation, normalisation, windowed and strip reads, on tiny fixtures and real rasters."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from yardwatch.errors import ConfigError, GeoreferenceError, InputError, RasterReadError
from yardwatch.io import raster
from yardwatch.io.raster import (
    Normalization,
    compute_normalization,
    find_scenes,
    iter_tile_arrays,
    open_scene,
    read_window,
    reading_order,
    resolve_bands,
)


def _grid(width: int, height: int, tile: int, overlap: int) -> list[Window]:
    from yardwatch.tiling import make_tile_grid

    return make_tile_grid(width, height, tile, overlap)


# --- open_scene --------------------------------------------------------------------------------------------------
def test_open_scene_reports_the_header(tiny_scene):
    info = open_scene(tiny_scene)
    assert (info.scene_id, info.width, info.height, info.count, info.dtype) == ("tiny", 256, 256, 3, "uint8")
    assert info.crs == "EPSG:32652"
    assert info.gsd_m == pytest.approx(0.5)
    assert info.block_shape == (64, 64)
    assert info.nodata is None
    assert info.bounds == pytest.approx((350000.0, 4700000.0 - 128.0, 350000.0 + 128.0, 4700000.0))


def test_open_scene_missing_file(tmp_path):
    with pytest.raises(RasterReadError, match=r"nope\.tif: file not found"):
        open_scene(tmp_path / "nope.tif")


def test_open_scene_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.tif"
    path.write_bytes(b"II*\x00 this is not a tiff" * 10)
    with pytest.raises(RasterReadError, match="corrupt.tif"):
        open_scene(path)


def test_open_scene_truncated_file(tmp_path, geotiff_writer):
    rng = np.random.default_rng(1)
    path = geotiff_writer(tmp_path / "cut.tif", rng.integers(0, 255, (3, 256, 256), dtype=np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(RasterReadError, match="cut.tif"):
        info = open_scene(path)
        with rasterio.open(info.path) as src:  # a cut past the first block fails on the first read of it
            norm = compute_normalization(src)
            list(iter_tile_arrays(src, _grid(256, 256, 128, 0), norm))


def test_open_scene_without_crs(tmp_path, geotiff_writer):
    path = geotiff_writer(tmp_path / "scene.tif", np.zeros((3, 32, 32), np.uint8), crs=None)
    with pytest.raises(GeoreferenceError, match=r"scene\.tif: no CRS; georeference it or pass assume_crs="):
        open_scene(path)
    assumed = open_scene(path, assume_crs="EPSG:32652")
    assert assumed.crs == "EPSG:32652" and assumed.gsd_m == pytest.approx(0.5)
    pixel_only = open_scene(path, allow_pixel_only=True)
    assert pixel_only.crs is None and pixel_only.gsd_m is None
    with pytest.raises(ConfigError, match="assume_crs='EPSG:nope'"):
        open_scene(path, assume_crs="EPSG:nope")


def test_open_scene_refuses_rotated_transforms(shared_data):
    with pytest.raises(GeoreferenceError, match=r"rotated\.tif: the geotransform is rotated or sheared.*gdalwarp"):
        open_scene(shared_data / "rasterio" / "rotated.tif", assume_crs="EPSG:32652")


def test_open_scene_refuses_shear(tmp_path, geotiff_writer):
    from affine import Affine

    path = geotiff_writer(tmp_path / "shear.tif", np.zeros((1, 16, 16), np.uint8),
                          transform=Affine(0.5, 0.1, 350000.0, 0.0, -0.5, 4700000.0))
    with pytest.raises(GeoreferenceError, match="sheared"):
        open_scene(path)


def test_open_scene_checks_bands(tiny_scene):
    assert open_scene(tiny_scene, bands=[3, 2, 1]).count == 3
    with pytest.raises(InputError, match=r"tiny\.tif: has 3 bands but bands=\[1, 2, 4\]"):
        open_scene(tiny_scene, bands=[1, 2, 4])
    with pytest.raises(ConfigError, match="one or three"):
        open_scene(tiny_scene, bands=[1, 2])


def test_resolve_bands_defaults():
    assert resolve_bands(4, None) == (1, 2, 3)
    assert resolve_bands(1, None) == (1,)
    assert resolve_bands(2, None) == (1,)
    assert resolve_bands(8, [5, 3, 2]) == (5, 3, 2)


def test_real_rasters_open(shared_data):
    rgb = open_scene(shared_data / "rasterio" / "RGB.byte.tif")
    assert (rgb.crs, rgb.nodata, rgb.count) == ("EPSG:32618", 0.0, 3)
    assert rgb.gsd_m == pytest.approx(300.04, abs=0.01)
    deepforest = open_scene(shared_data / "deepforest" / "test_tiled.tif")
    assert deepforest.crs == "EPSG:28992" and deepforest.gsd_m == pytest.approx(0.25)
    nad27 = open_scene(shared_data / "rasterio" / "byte.tif")
    assert nad27.crs == "EPSG:26711" and nad27.gsd_m == pytest.approx(60.0)
    world = open_scene(shared_data / "rasterio" / "world.byte.tif")
    assert world.crs == "EPSG:4326" and 1000 < world.gsd_m < 14000  # 0.125 degree pixels, geodesic


# --- normalisation -----------------------------------------------------------------------------------------------
def test_normalization_round_trips_through_a_dict():
    norm = Normalization(bands=(3, 2, 1), dtype="uint16", low=(1.0, 2.0, 3.0), high=(10.0, 20.0, 30.0),
                         percentiles=(1.0, 99.0), nodata=float("nan"))
    data = norm.to_dict()
    assert data["nodata"] == "nan" and data["stretch"] == "percentile" and data["bands"] == [3, 2, 1]
    back = Normalization.from_dict(data)
    assert back.bands == norm.bands and back.low == norm.low and back.high == norm.high
    assert back.percentiles == norm.percentiles and math.isnan(back.nodata)
    plain = Normalization(bands=(1,), dtype="uint8")
    assert Normalization.from_dict(plain.to_dict()) == plain
    with pytest.raises(ConfigError, match="malformed"):
        Normalization.from_dict({"dtype": "uint8"})


def test_uint8_is_used_as_is(tiny_scene):
    norm = compute_normalization(tiny_scene)
    assert norm.stretch == "none" and norm.bands == (1, 2, 3) and norm.dtype == "uint8"


def test_uint16_percentiles_leave_nodata_out(tmp_path, geotiff_writer):
    rng = np.random.default_rng(2)
    data = rng.integers(100, 5000, size=(3, 200, 300), dtype=np.uint16)
    data[:, :50, :] = 0  # nodata border
    path = geotiff_writer(tmp_path / "u16.tif", data, nodata=0)
    norm = compute_normalization(path, percentiles=(2, 98))
    valid = data[:, 50:, :].reshape(3, -1).astype(float)
    np.testing.assert_allclose(norm.low, np.percentile(valid, 2, axis=1))
    np.testing.assert_allclose(norm.high, np.percentile(valid, 98, axis=1))
    assert norm.nodata == 0.0 and norm.dtype == "uint16"


def test_large_scenes_are_sampled_by_blocks_not_read_whole(tmp_path, geotiff_writer, monkeypatch):
    rng = np.random.default_rng(3)
    data = rng.integers(0, 10000, size=(1, 512, 512), dtype=np.uint16)
    path = geotiff_writer(tmp_path / "big.tif", data)
    monkeypatch.setattr(raster, "_SAMPLE_PIXELS", 64 * 64 * 4)  # pretend the scene is huge: 4 blocks of 64x64
    reads = []
    with rasterio.open(path) as src:
        original = src.read

        def counting_read(*args, **kwargs):
            out = original(*args, **kwargs)
            reads.append(out.shape)
            return out

        monkeypatch.setattr(src, "read", counting_read, raising=False)
        norm = compute_normalization(src, percentiles=(10, 90))
    sampled = sum(int(np.prod(shape[-2:])) for shape in reads)
    assert len(reads) == 1 and sampled == 256 * 256 < data.size  # one 256 px block, not the whole scene
    assert norm.low[0] == pytest.approx(1000, rel=0.1) and norm.high[0] == pytest.approx(9000, rel=0.05)


def test_bad_percentiles(tiny_scene):
    with pytest.raises(ConfigError, match="percentiles"):
        compute_normalization(tiny_scene, percentiles=(98, 2))


# --- read_window -------------------------------------------------------------------------------------------------
def test_read_window_returns_channels_last_uint8(tiny_scene):
    with rasterio.open(tiny_scene) as src:
        expected = src.read(window=Window(40, 90, 64, 32))
        norm = compute_normalization(src)
        rgb, valid = read_window(src, Window(40, 90, 64, 32), norm)
    assert rgb.shape == (32, 64, 3) and rgb.dtype == np.uint8 and rgb.flags.c_contiguous
    np.testing.assert_array_equal(rgb, expected.transpose(1, 2, 0))
    assert valid.shape == (32, 64) and valid.all()


def test_read_window_pads_outside_the_scene(tiny_scene):
    with rasterio.open(tiny_scene) as src:
        norm = compute_normalization(src)
        rgb, valid = read_window(src, Window(200, -16, 100, 64), norm)
        inner = src.read(window=Window(200, 0, 56, 48))
        clipped, clipped_valid = read_window(src, Window(200, -16, 100, 64), norm, boundless=False)
    assert rgb.shape == (64, 100, 3)
    np.testing.assert_array_equal(rgb[16:, :56], inner.transpose(1, 2, 0))
    assert not rgb[:16].any() and not rgb[:, 56:].any()
    assert valid[16:, :56].all() and not valid[:16].any() and not valid[:, 56:].any()
    assert clipped.shape == (48, 56, 3) and clipped_valid.all()


def test_read_window_nodata_to_zero(shared_data):
    path = shared_data / "rasterio" / "RGB.byte.tif"
    with rasterio.open(path) as src:
        norm = compute_normalization(src)
        rgb, valid = read_window(src, Window(0, 0, 791, 718), norm)
        data = src.read()
    border = (data == 0).all(axis=0)
    np.testing.assert_array_equal(valid, ~border)
    assert border.sum() > 100000 and not rgb[border].any()
    np.testing.assert_array_equal(rgb[~border], data.transpose(1, 2, 0)[~border])


def test_read_window_nan_to_zero(shared_data):
    path = shared_data / "rasterio" / "float_nan.tif"  # [[1.41, 1.23, nan], [0.32, -0.23, -1.88]]
    with rasterio.open(path) as src:
        norm = compute_normalization(src, percentiles=(0, 100))
        rgb, valid = read_window(src, Window(0, 0, 3, 2), norm)
    assert norm.low == pytest.approx((-1.88,)) and norm.high == pytest.approx((1.41,))
    np.testing.assert_array_equal(valid, [[True, True, False], [True, True, True]])
    assert (rgb[0, 2] == 0).all() and (rgb[0, 0] == 255).all() and (rgb[1, 2] == 0).all()
    expected = round((0.32 + 1.88) / (1.41 + 1.88) * 255)
    assert (rgb[1, 0] == expected).all()  # grey repeated to three equal channels


def test_read_window_stretches_uint16_exactly(tmp_path, geotiff_writer):
    values = np.array([[[50, 100, 300, 1100, 2000, 600]]], dtype=np.uint16)
    path = geotiff_writer(tmp_path / "u16.tif", values, tiled=False)
    norm = Normalization(bands=(1,), dtype="uint16", low=(100.0,), high=(1100.0,))
    with rasterio.open(path) as src:
        rgb, _ = read_window(src, Window(0, 0, 6, 1), norm)
    assert rgb[0, :, 0].tolist() == [0, 0, 51, 255, 255, 128]


def test_read_window_selects_bands(tmp_path, geotiff_writer):
    data = np.stack([np.full((16, 16), v, np.uint8) for v in (10, 20, 30, 40)])
    path = geotiff_writer(tmp_path / "four.tif", data)
    with rasterio.open(path) as src:
        default = compute_normalization(src)
        chosen = compute_normalization(src, bands=[4, 3, 2])
        rgb_default, _ = read_window(src, Window(0, 0, 16, 16), default)
        rgb_chosen, _ = read_window(src, Window(0, 0, 16, 16), chosen)
    assert rgb_default[0, 0].tolist() == [10, 20, 30]
    assert rgb_chosen[0, 0].tolist() == [40, 30, 20]


def test_single_band_file_is_grey(shared_data):
    """rgb1_fake_nir_epsg3857.tif holds one band (not four, as its name suggests): grey, or an error for RGB."""
    path = shared_data / "rasterio" / "rgb1_fake_nir_epsg3857.tif"
    with rasterio.open(path) as src:
        norm = compute_normalization(src)
        rgb, _ = read_window(src, Window(300, 300, 64, 64), norm)
        band = src.read(1, window=Window(300, 300, 64, 64))
    assert norm.bands == (1,)
    np.testing.assert_array_equal(rgb, np.repeat(band[..., None], 3, axis=2))
    with pytest.raises(InputError, match=r"has 1 band but bands=\[1, 2, 3\]"):
        open_scene(path, bands=[1, 2, 3])


def test_read_window_resamples(tmp_path, geotiff_writer):
    data = np.zeros((3, 64, 64), np.uint8)
    data[:, :, 32:] = 200
    path = geotiff_writer(tmp_path / "half.tif", data)
    with rasterio.open(path) as src:
        norm = compute_normalization(src)
        rgb, valid = read_window(src, Window(0, 0, 64, 64), norm, out_shape=(32, 32))
        up, _ = read_window(src, Window(0, 0, 64, 64), norm, out_shape=(128, 128))
    assert rgb.shape == (32, 32, 3) and valid.all()
    assert (rgb[:, :16] == 0).all() and (rgb[:, 16:] == 200).all()
    assert up.shape == (128, 128, 3) and (up[:, :60] == 0).all() and (up[:, 68:] == 200).all()


def test_resampling_leaves_nodata_out(tmp_path, geotiff_writer):
    data = np.full((1, 64, 64), 100, np.uint16)
    data[:, :, :31] = 0
    path = geotiff_writer(tmp_path / "nd.tif", data, nodata=0)
    norm = Normalization(bands=(1,), dtype="uint16", low=(0.0,), high=(200.0,), nodata=0.0)
    with rasterio.open(path) as src:
        rgb, valid = read_window(src, Window(0, 0, 64, 64), norm, out_shape=(16, 16))
    assert not valid[:, :7].any() and valid[:, 8:].all()
    assert (rgb[valid] == 128).all()  # the nodata zeros did not pull the average down


def test_cog_read_by_windows(shared_data):
    path = shared_data / "rasterio" / "cogeo.tif"  # JPEG COG with overviews and an internal mask
    info = open_scene(path)
    assert info.block_shape == (512, 512) and info.crs == "EPSG:3857"
    with rasterio.open(path) as src:
        norm = compute_normalization(src)
        rgb, valid = read_window(src, Window(256, 256, 512, 512), norm)
        expected = src.read(window=Window(256, 256, 512, 512))
        mask = src.read_masks(1, window=Window(256, 256, 512, 512))
    np.testing.assert_array_equal(valid, mask > 0)
    np.testing.assert_array_equal(rgb[valid], expected.transpose(1, 2, 0)[valid])
    assert rgb.std() > 10  # real imagery, not a blank


# --- strip reader ------------------------------------------------------------------------------------------------
def _strip_scene(tmp_path: Path, geotiff_writer, *, nodata=None, dtype=np.uint8) -> Path:
    rng = np.random.default_rng(5)
    data = rng.integers(1, 250, size=(3, 300, 420)).astype(dtype)
    return geotiff_writer(tmp_path / "strips.tif", data, nodata=nodata)


@pytest.mark.parametrize("out_shape", [None, (48, 48)])
def test_iter_tile_arrays_equals_read_window(tmp_path, geotiff_writer, out_shape):
    path = _strip_scene(tmp_path, geotiff_writer, dtype=np.uint16)
    windows = _grid(420, 300, 100, 20) + [Window(380, 280, 100, 100), Window(-30, -30, 100, 100)]
    with rasterio.open(path) as src:
        norm = compute_normalization(src)
        strips = list(iter_tile_arrays(src, windows, norm, out_shape=out_shape))
        assert [w for w, _, _ in strips] == windows
        for window, rgb, valid in strips:
            expected_rgb, expected_valid = read_window(src, window, norm, out_shape=out_shape)
            np.testing.assert_array_equal(rgb, expected_rgb)
            np.testing.assert_array_equal(valid, expected_valid)


def test_iter_tile_arrays_reads_each_row_once(tmp_path, geotiff_writer, monkeypatch):
    path = _strip_scene(tmp_path, geotiff_writer)
    windows = _grid(420, 300, 100, 20)  # 640/512-like overlap pattern at small scale (64 px blocks)
    rows_read = np.zeros(300, dtype=int)
    with rasterio.open(path) as src:
        norm = compute_normalization(src)
        original = src.read

        def counting_read(indexes=None, window=None, **kwargs):
            rows_read[int(window.row_off):int(window.row_off + window.height)] += 1
            assert window.col_off == 0 and window.width == 420  # whole block columns
            assert window.row_off % 64 == 0  # strips start on block boundaries
            return original(indexes, window=window, **kwargs)

        monkeypatch.setattr(src, "read", counting_read, raising=False)
        n_tiles = sum(1 for _ in iter_tile_arrays(src, windows, norm))
    assert n_tiles == len(windows) == 20
    assert (rows_read == 1).all()


def test_reading_order_walks_column_chunks():
    windows = _grid(1000, 300, 100, 0)
    order = reading_order(windows, block_cols=64, chunk_px=512)
    cols = [windows[i].col_off for i in order]
    rows = [windows[i].row_off for i in order]
    assert sorted(order) == list(range(len(windows)))
    assert cols[:18] == [0, 100, 200, 300, 400, 500] * 3 and rows[:18] == [0] * 6 + [100] * 6 + [200] * 6
    assert min(cols[18:]) >= 512


def test_iter_tile_arrays_nodata_mask(tmp_path, geotiff_writer):
    data = np.full((3, 128, 128), 77, np.uint8)
    data[:, :, :40] = 0
    path = geotiff_writer(tmp_path / "nd.tif", data, nodata=0)
    with rasterio.open(path) as src:
        norm = compute_normalization(src)
        (_, rgb, valid), = list(iter_tile_arrays(src, [Window(0, 0, 128, 128)], norm))
    assert not valid[:, :40].any() and valid[:, 40:].all() and (rgb[:, 40:] == 77).all()


@pytest.mark.parametrize(("dtype", "nodata", "skipped"), [(np.uint8, None, True), (np.uint8, 0, True),
                                                         (np.uint8, 77, False), (np.uint16, 0, False)])
def test_iter_tile_arrays_skips_the_mask_only_where_it_changes_nothing(tmp_path, geotiff_writer, dtype, nodata,
                                                                       skipped):
    # need_valid=False (what predict asks for): the same model input; the mask is left out only for uint8 bands
    # taken as they are with no nodata other than 0, where an invalid pixel is 0 in every band already.
    data = np.random.default_rng(2).integers(1, 250, size=(3, 200, 230)).astype(dtype)
    data[:, 50:90, 10:60] = 0 if nodata is None else nodata
    data[1, 120:130, :] = 0  # one zero band: a valid dark pixel
    path = geotiff_writer(tmp_path / "m.tif", data, nodata=nodata)
    windows = _grid(230, 200, 64, 8) + [Window(200, 180, 64, 64)]
    with rasterio.open(path) as src:
        norm = compute_normalization(src)
        full = list(iter_tile_arrays(src, windows, norm))
        lean = list(iter_tile_arrays(src, windows, norm, need_valid=False))
    assert len(full) == len(lean) == len(windows)
    for (window, rgb, valid), (window_lean, rgb_lean, valid_lean) in zip(full, lean, strict=True):
        assert window == window_lean
        np.testing.assert_array_equal(rgb_lean, rgb)
        if skipped:
            assert valid_lean is None
        else:
            np.testing.assert_array_equal(valid_lean, valid)


def test_raw_tiles_without_the_mask_do_not_pin_the_strip(tmp_path, geotiff_writer):
    # keep_raw copies each tile's source values out of the strip buffer, with or without the valid mask.
    path = _strip_scene(tmp_path, geotiff_writer)
    with rasterio.open(path) as src:
        norm = compute_normalization(src)
        tiles = list(raster.iter_tiles(src, _grid(420, 300, 100, 20), norm, keep_raw=True, need_valid=False))
    assert all(t.valid is None for t in tiles)
    assert not any(np.shares_memory(a.raw, b.raw) for a, b in zip(tiles, tiles[1:]))


def test_strip_read_cache_holds_a_row_of_blocks():
    # One row of 512 px blocks across an 8192 px reading chunk, every band of the file, plus a quarter.
    assert raster.strip_read_cache_bytes(8192, (512, 512), 3, "uint8") == 512 * 8192 * 3 * 5 // 4
    assert raster.strip_read_cache_bytes(65536, (512, 512), 4, "uint16") == 512 * (8192 + 512) * 4 * 2 * 5 // 4
    assert raster.strip_read_cache_bytes(256, (64, 64), 3, "uint8") == 8 * 2**20


# --- find_scenes -------------------------------------------------------------------------------------------------
def test_find_scenes_file_folder_glob_and_catalog(tmp_path, geotiff_writer):
    folder = tmp_path / "scenes"
    folder.mkdir()
    for name in ("b", "a"):
        geotiff_writer(folder / f"{name}.tif", np.zeros((3, 8, 8), np.uint8))
    (folder / "notes.txt").write_text("not a scene")
    assert [r.scene_id for r in find_scenes(folder)] == ["a", "b"]
    assert [r.scene_id for r in find_scenes(str(folder / "*.tif"))] == ["a", "b"]
    assert find_scenes(folder / "a.tif")[0].path == folder / "a.tif"
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("scene_id,path,labels_path,site,acquired,crs,gsd_m\n"
                       "s1,scenes/a.tif,labels/s1.geojson,tumangang,2023-10-01,EPSG:32652,0.5\n"
                       "s2,scenes/b.tif,,tumangang,,EPSG:32652,0.5\n")
    refs = find_scenes(catalog)
    assert [r.scene_id for r in refs] == ["s1", "s2"]
    assert refs[0].path == (folder / "a.tif").resolve()
    assert refs[0].labels_path == (tmp_path / "labels" / "s1.geojson").resolve()
    assert refs[1].labels_path is None and refs[1].has_labels_entry and refs[0].acquired == "2023-10-01"


def test_find_scenes_errors(tmp_path, geotiff_writer):
    with pytest.raises(RasterReadError, match="not found"):
        find_scenes(tmp_path / "missing.tif")
    with pytest.raises(InputError, match="matches no file"):
        find_scenes(str(tmp_path / "*.tif"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="holds no raster"):
        find_scenes(empty)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,file\nx,y.tif\n")
    with pytest.raises(InputError, match="lacks column"):
        find_scenes(bad)
    for sub in ("one", "two"):
        (tmp_path / sub).mkdir()
        geotiff_writer(tmp_path / sub / "same.tif", np.zeros((1, 4, 4), np.uint8))
    with pytest.raises(InputError, match="two scenes have the id 'same'"):
        find_scenes(str(tmp_path / "*" / "same.tif"))


def test_reading_does_not_touch_other_pixels(tmp_path):
    """A scene written in strips (not tiled) works too: blocks of one row are grouped into 256-row reads."""
    path = tmp_path / "striped.tif"
    data = np.arange(3 * 100 * 120, dtype=np.uint32).reshape(3, 100, 120).astype(np.uint8)
    with rasterio.open(path, "w", driver="GTiff", width=120, height=100, count=3, dtype="uint8",
                       crs="EPSG:32652", transform=from_origin(1000, 2000, 1, 1)) as dst:
        dst.write(data)
    with rasterio.open(path) as src:
        norm = compute_normalization(src)
        tiles = list(iter_tile_arrays(src, _grid(120, 100, 50, 10), norm))
    for window, rgb, _ in tiles:
        c, r = int(window.col_off), int(window.row_off)
        np.testing.assert_array_equal(rgb, data[:, r:r + 50, c:c + 50].transpose(1, 2, 0))
