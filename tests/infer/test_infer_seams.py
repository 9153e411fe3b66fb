"""End to end through the inference core with a stand-in detector: objects across seams come out once,
with coordinates that rasterio agrees with."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import rasterio
import shapely

from fake_detector import bar_corners, draw_bars, fake_model, write_scene
from yardwatch.infer.core import InferenceSettings
from yardwatch.infer.predict import predict_scenes
from yardwatch.io.raster import SceneRef

# 416 px scene, 128 px tiles with 32 px overlap: tile starts 0, 96, 192, 288; seams at 112, 208, 304.
BARS = [
    (112, 50, 40, 8, 0.0, 0),            # straddles the x seam at 112
    (112, 112, 40, 8, math.pi / 4, 1),   # on a tile corner, diagonal
    (208, 208, 40, 8, math.pi / 2, 2),   # on another corner, vertical
    (50, 300, 30, 8, 0.0, 0),            # inside one tile
    (350, 350, 36, 8, 0.3, 2),           # inside the last tile
    (250, 304, 40, 8, math.pi / 2, 0),   # straddles the y seam at 304
    (300, 112, 44, 10, 2.0, 1),          # straddles the y seam at 112, rotated
]


@pytest.fixture
def seam_scene(tmp_path):
    image = draw_bars((416, 416), BARS)
    return write_scene(tmp_path / "seams.tif", image)


@pytest.mark.parametrize("reader", ["thread", "inline"])
@pytest.mark.parametrize("task", ["detect", "obb"])
def test_objects_across_seams_come_out_once(task, reader, seam_scene, tmp_path) -> None:
    model = fake_model(task)
    out = tmp_path / "pred"
    settings = InferenceSettings(tile_size_px=128, overlap_px=32, batch_size=5, iou=0.5, reader=reader)
    summary = predict_scenes([SceneRef("seams", seam_scene)], "fake.pt", out, device="cpu", model=model,
                             settings=settings)
    assert summary.scenes[0].status == "ok"
    assert summary.tiles == 16
    frame = json.loads((out / "seams.geojson").read_text())
    feats = frame["features"]
    assert len(feats) == len(BARS), [f["properties"]["cx_px"] for f in feats]
    with rasterio.open(seam_scene) as src:
        inv = ~src.transform
    dets_px = [shapely.Polygon([inv * tuple(p) for p in f["geometry"]["coordinates"][0]]) for f in feats]
    for cx, cy, length, width, angle, cls in BARS:
        truth = shapely.Polygon(bar_corners(cx, cy, length, width, angle))
        if task == "detect":
            truth = shapely.box(*truth.bounds)
        ious = [d.intersection(truth).area / d.union(truth).area for d in dets_px]
        matched = [i for i, v in enumerate(ious) if v >= 0.5]
        assert len(matched) == 1, (cx, cy, sorted(ious)[-3:])
        assert feats[matched[0]]["properties"]["class_id"] == cls


def test_records_follow_the_contract_and_rasterio(seam_scene, tmp_path) -> None:
    out = tmp_path / "pred"
    predict_scenes([SceneRef("seams", seam_scene, acquired="2023-10-15")], "fake.pt", out, device="cpu",
                   model=fake_model("obb"), settings=InferenceSettings(tile_size_px=128, overlap_px=32))
    feats = json.loads((out / "seams.geojson").read_text())["features"]
    props = feats[0]["properties"]
    for key in ("scene_id", "class_id", "class_name", "score", "cx_px", "cy_px", "w_px", "h_px", "angle_rad",
                "length_m", "width_m", "acquired", "model"):
        assert key in props
    with rasterio.open(seam_scene) as src:
        for feat in feats:
            p = feat["properties"]
            x, y = src.transform * (p["cx_px"], p["cy_px"])
            centroid = shapely.Polygon(feat["geometry"]["coordinates"][0]).centroid
            assert centroid.x == pytest.approx(x, abs=1e-6) and centroid.y == pytest.approx(y, abs=1e-6)
            assert p["length_m"] == pytest.approx(max(p["w_px"], p["h_px"]) * 0.5)
            assert p["acquired"] == "2023-10-15"


def test_lonlat_output_matches_gdal_reference(shared_data, tmp_path) -> None:
    from yardwatch.io.detections import detections_frame

    reference = json.loads((shared_data / "gdal_reference" / "gdal_pixel_to_world_reference.json").read_text())
    for rel in ("deepforest/test_tiled.tif", "rasterio/cogeo.tif"):
        entry = reference["files"][rel]
        with rasterio.open(shared_data / rel) as src:
            transform, crs = src.transform, src.crs.to_string()
        pts = entry["points"]
        obb = np.array([[p["col"] + 0.5, p["row"] + 0.5, 1e-3, 1e-3, 0.0] for p in pts])
        scene_frame = detections_frame("s", obb, np.ones(len(pts)), np.zeros(len(pts), int),
                                       class_names=("railcar", "tarp", "container"), transform=transform, crs=crs,
                                       gsd_m=0.25)
        lonlat = detections_frame("s", obb, np.ones(len(pts)), np.zeros(len(pts), int),
                                  class_names=("railcar", "tarp", "container"), transform=transform, crs=crs,
                                  gsd_m=0.25, out_crs="EPSG:4326")
        for p, g, ll in zip(pts, scene_frame.geometry, lonlat.geometry):
            assert g.centroid.x == pytest.approx(p["x"], abs=1e-6)
            assert g.centroid.y == pytest.approx(p["y"], abs=1e-6)
            assert ll.centroid.x == pytest.approx(p["lon"], abs=1e-7)
            assert ll.centroid.y == pytest.approx(p["lat"], abs=1e-7)


@pytest.mark.parametrize("reader", ["thread", "inline"])
def test_bad_scene_in_archive_is_reported_and_others_finish(reader, seam_scene, tmp_path) -> None:
    bad = tmp_path / "corrupt.tif"
    bad.write_bytes(b"II*\x00not really a tiff")
    out = tmp_path / "pred"
    summary = predict_scenes([SceneRef("corrupt", bad), SceneRef("seams", seam_scene)], "fake.pt", out,
                             device="cpu", model=fake_model("obb"),
                             settings=InferenceSettings(tile_size_px=128, overlap_px=32, reader=reader))
    status = {s.scene_id: s.status for s in summary.scenes}
    assert status == {"corrupt": "failed", "seams": "ok"}
    assert "corrupt.tif" in summary.failed[0].error
    assert sorted(p.name for p in out.iterdir()) == ["seams.geojson", "summary.json"]
    # A rerun skips what is done and says so.
    again = predict_scenes([SceneRef("seams", seam_scene)], "fake.pt", out, device="cpu", model=fake_model("obb"),
                           settings=InferenceSettings(tile_size_px=128, overlap_px=32))
    assert [s.status for s in again.scenes] == ["skipped"]


def test_unknown_reader_is_refused() -> None:
    from yardwatch.errors import ConfigError
    from yardwatch.infer.core import InferenceEngine

    with pytest.raises(ConfigError, match="reader='async' is not one of thread, inline"):
        InferenceEngine(fake_model("obb"), InferenceSettings(tile_size_px=128, overlap_px=32, reader="async"))


def test_wide_scene_windows_are_planned_in_chunks(tmp_path) -> None:
    """Tiles of a scene wider than the reader's chunk come row-major inside each chunk, so the strip the reader
    holds spans a chunk, not the scene; the windows still cover the same grid."""
    from yardwatch.infer.core import plan_scene
    from yardwatch.io.raster import open_scene
    from yardwatch.tiling import make_tile_grid

    path = write_scene(tmp_path / "wide.tif", np.zeros((3, 256, 12288), np.uint8))
    plan = plan_scene(open_scene(path), fake_model("obb"), InferenceSettings(tile_size_px=128, overlap_px=32))
    grid = {(w.col_off, w.row_off) for w in make_tile_grid(12288, 256, 128, 32)}
    assert {(int(c), int(r)) for c, r, _, _ in plan.windows_px} == grid
    cols = plan.windows_px[:, 0]
    first_chunk = np.flatnonzero(cols >= 8192)[0]  # every tile left of the chunk boundary comes first
    assert (cols[:first_chunk] < 8192).all() and (cols[first_chunk:] >= 8192).all()
