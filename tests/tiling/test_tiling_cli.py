"""``yardwatch tile`` from the command line: a happy run, and the bad-input matrix (exit 2, one line, no output)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
import yaml

from yardwatch.cli.main import main


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["tile", *args, "progress=false"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_tile_command_writes_a_dataset(labeled_scene, tmp_path, capsys):
    scene, labels, _ = labeled_scene
    out = tmp_path / "ds"
    code, stdout, stderr = _run(capsys, f"scenes={scene}", f"labels={labels}", f"out_dir={out}", "tile_size_px=64",
                                "overlap_px=16", "split_block_tiles=2", "task=obb", "bands=[3,2,1]",
                                "split.train=0.6", "split.val=0.2", "split.test=0.2")
    assert code == 0, stderr
    assert "tiles: train" in stdout and str(out / "dataset.yaml") in stdout
    meta = yaml.safe_load((out / "dataset.yaml").read_text())["yardwatch"]
    assert meta["task"] == "obb" and meta["normalization"]["bands"] == [3, 2, 1]
    assert meta["split"] == {"train": 0.6, "val": 0.2, "test": 0.2}


def test_class_map_override(tmp_path, capsys, geotiff_writer, label_writer):
    scene = geotiff_writer(tmp_path / "s.tif", np.full((3, 64, 64), 90, np.uint8))
    labels = label_writer(tmp_path / "s.geojson", [shapely.box(350005, 4699980, 350012, 4699982)], ["x"],
                          extra={"kind": ["wagon"]})
    code, _, stderr = _run(capsys, f"scenes={scene}", f"labels={labels}", f"out_dir={tmp_path / 'ds'}",
                           "tile_size_px=64", "overlap_px=0", "class_field=kind", "class_map={wagon: railcar}",
                           "split.train=1.0", "split.val=0", "split.test=0")
    assert code == 0, stderr
    assert (tmp_path / "ds" / "labels" / "train" / "s_0_0.txt").read_text().startswith("0 ")


def _scene(tmp_path, geotiff_writer, **kwargs):
    return geotiff_writer(tmp_path / "scene.tif", np.full((3, 64, 64), 90, np.uint8), **kwargs)


def _labels(tmp_path, label_writer, cls="railcar", *, offset=0.0, crs="EPSG:32652", name="labels.geojson"):
    box = shapely.box(350005 + offset, 4699980, 350012 + offset, 4699982)
    return label_writer(tmp_path / name, [box], [cls], crs=crs)


def _case(name, tmp_path, geotiff_writer, label_writer, shared_data):
    """(scenes, labels, extra overrides, text the error line must name) for each bad input."""
    if name == "missing scene":
        return tmp_path / "nope.tif", None, [], "nope.tif: file not found"
    if name == "corrupt file":
        path = tmp_path / "corrupt.tif"
        path.write_bytes(b"II*\x00" + b"\x00garbage" * 64)
        return path, None, [], "corrupt.tif"
    if name == "no crs":
        return _scene(tmp_path, geotiff_writer, crs=None), None, [], "scene.tif: no CRS"
    if name == "rotated transform":
        return shared_data / "rasterio" / "rotated.tif", None, ["assume_crs=EPSG:32652"], "rotated.tif"
    scene = _scene(tmp_path, geotiff_writer)
    if name == "labels missing":
        return scene, tmp_path / "none.geojson", [], "none.geojson"
    if name == "labels empty":
        path = tmp_path / "empty.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
        return scene, path, [], "empty.geojson: has no features"
    if name == "unknown class":
        return scene, _labels(tmp_path, label_writer, "truck"), [], "unknown class(es) 'truck'"
    if name == "unknown crs":
        return scene, _labels(tmp_path, label_writer, crs=None, name="noprj.shp"), [], "noprj.shp: unknown CRS"
    if name == "labels miss the scene":
        return scene, _labels(tmp_path, label_writer, offset=5000.0), [], "no label falls on any scene"
    if name == "tile size <= 0":
        return scene, None, ["tile_size_px=0"], "tile_size_px=0"
    if name == "overlap >= tile size":
        return scene, None, ["tile_size_px=64", "overlap_px=64"], "overlap_px=64"
    if name == "unknown task":
        return scene, None, ["task=segment"], "task='segment'"
    raise AssertionError(name)


BAD_INPUTS = ["missing scene", "corrupt file", "no crs", "rotated transform", "labels missing", "labels empty",
              "unknown class", "unknown crs", "labels miss the scene", "tile size <= 0", "overlap >= tile size",
              "unknown task"]


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(name, tmp_path, capsys, geotiff_writer,
                                                            label_writer, shared_data):
    scenes, labels, extra, expected = _case(name, tmp_path, geotiff_writer, label_writer, shared_data)
    out = tmp_path / "out" / "ds"
    args = [f"scenes={scenes}", f"out_dir={out}", *extra]
    if labels is not None:
        args.append(f"labels={labels}")
    code, stdout, stderr = _run(capsys, *args)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("yardwatch: error: "), stderr
    assert expected in lines[0]
    assert not out.exists() and not (tmp_path / "out").exists()


def test_missing_required_keys(tmp_path, capsys):
    code, _, stderr = _run(capsys, f"out_dir={tmp_path / 'ds'}")
    assert code == 2 and "scenes is required" in stderr
    code, _, stderr = _run(capsys, f"scenes={tmp_path}")
    assert code == 2 and "out_dir is required" in stderr


def test_bad_values_name_the_key(tmp_path, capsys, tiny_scene):
    for override, text in [("min_visibility=1.5", "min_visibility=1.5"), ("split.val=0.5", "sum to"),
                           ("bands=[0,1,2]", "bands="), ("percentiles=[2]", "percentiles"),
                           ("workers=0", "workers=0"), ("gsd_m=-1", "gsd_m=-1")]:
        code, _, stderr = _run(capsys, f"scenes={tiny_scene}", f"out_dir={tmp_path / 'ds'}", override)
        assert code == 2 and text in stderr, (override, stderr)
    assert not (tmp_path / "ds").exists()
