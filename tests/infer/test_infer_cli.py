"""``yardwatch predict`` from the command line: a real (untrained) network end to end, and every bad input
exits 2 with one line and leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fake_detector import write_scene
from yardwatch.cli.main import main
from yardwatch.models.card import ModelCard, write_card


def _weights(folder: Path, *, nc: int = 3, card_classes: tuple[str, ...] = ("railcar", "tarp", "container"),
             task: str = "detect", tile: int = 128) -> Path:
    from ultralytics.nn.tasks import DetectionModel, OBBModel

    cls = OBBModel if task == "obb" else DetectionModel
    torch.manual_seed(0)
    net = cls(f"yolov8n{'-obb' if task == 'obb' else ''}.yaml", nc=nc, verbose=False)
    net.names = {i: f"c{i}" for i in range(nc)}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.pt"
    torch.save({"model": net, "train_args": {"imgsz": tile}}, path)
    write_card(ModelCard(task=task, class_names=card_classes, imgsz=tile, tile_size_px=tile, overlap_px=32,
                         gsd_m=0.5, metrics={"per_class": {"railcar": {"count_conf": 0.42}}}),
               folder / "model.model_card.json")
    return path


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return _weights(tmp_path_factory.mktemp("w"))


@pytest.fixture
def scene(tmp_path) -> Path:
    rng = np.random.default_rng(1)
    return write_scene(tmp_path / "scene.tif", rng.integers(0, 255, (3, 300, 260), dtype=np.uint8))


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["predict", *args, "progress=false"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_predict_runs_a_real_network(capsys, weights, scene, tmp_path) -> None:
    out = tmp_path / "pred"
    code, stdout, err = _run(capsys, f"scenes={scene}", f"weights={weights}", f"out_dir={out}", "device=cpu",
                             "conf=0.0001", "format=gpkg")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenes"][0]["status"] == "ok"
    assert summary["tiles"] == 9  # 300x260 at 128/32: 3 x 3 tiles
    assert summary["count_conf"] == {"railcar": 0.42}  # the card's counting thresholds, for `yardwatch count`
    import geopandas as gpd

    frame = gpd.read_file(out / "scene.gpkg")
    assert frame.crs.to_epsg() == 32652
    assert len(frame) == summary["scenes"][0]["n_detections"]
    assert "wrote" in stdout


def _assert_clean_failure(code: int, err: str, out: Path, *needles: str) -> None:
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("yardwatch:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())


def test_missing_scene(capsys, weights, tmp_path) -> None:
    out = tmp_path / "pred"
    code, _, err = _run(capsys, f"scenes={tmp_path / 'nope.tif'}", f"weights={weights}", f"out_dir={out}")
    _assert_clean_failure(code, err, out, "nope.tif")


def test_corrupt_scene(capsys, weights, tmp_path) -> None:
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00garbage" * 10)
    out = tmp_path / "pred"
    code, _, err = _run(capsys, f"scenes={bad}", f"weights={weights}", f"out_dir={out}", "device=cpu")
    _assert_clean_failure(code, err, out, "bad.tif")


def test_rotated_scene_is_refused(capsys, weights, shared_data, tmp_path) -> None:
    out = tmp_path / "pred"
    code, _, err = _run(capsys, f"scenes={shared_data / 'rasterio' / 'rotated.tif'}", f"weights={weights}",
                        f"out_dir={out}", "device=cpu", "assume_crs=EPSG:32652")
    _assert_clean_failure(code, err, out, "rotated.tif")


def test_weights_that_are_not_a_model(capsys, scene, tmp_path) -> None:
    fake = tmp_path / "w" / "model.pt"
    fake.parent.mkdir()
    fake.write_text("not a checkpoint")
    out = tmp_path / "pred"
    code, _, err = _run(capsys, f"scenes={scene}", f"weights={fake}", f"out_dir={out}", "device=cpu")
    _assert_clean_failure(code, err, out, "model.pt")


def test_weights_whose_classes_disagree_with_card(capsys, scene, tmp_path) -> None:
    weights = _weights(tmp_path / "w5", nc=5)
    out = tmp_path / "pred"
    code, _, err = _run(capsys, f"scenes={scene}", f"weights={weights}", f"out_dir={out}", "device=cpu")
    _assert_clean_failure(code, err, out, "5 classes")


def test_scene_with_too_few_bands(capsys, weights, shared_data, tmp_path) -> None:
    out = tmp_path / "pred"
    code, _, err = _run(capsys, f"scenes={shared_data / 'rasterio' / 'byte.tif'}", f"weights={weights}",
                        f"out_dir={out}", "device=cpu", "bands=[1,2,3]")
    _assert_clean_failure(code, err, out, "byte.tif")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised where CUDA is missing")
def test_cuda_without_cuda(capsys, weights, scene, tmp_path) -> None:
    out = tmp_path / "pred"
    code, _, err = _run(capsys, f"scenes={scene}", f"weights={weights}", f"out_dir={out}", "device=cuda")
    _assert_clean_failure(code, err, out, "device=cuda")


@pytest.mark.parametrize("override, needle", [("tile_size_px=100", "stride"), ("tile_size_px=0", "tile_size_px"),
                                              ("overlap_px=128", "overlap_px"), ("conf=1.5", "conf"),
                                              ("batch_size=0", "batch_size"), ("format=shp", "format"),
                                              ("classes=[boat]", "boat"), ("crs=EPSG:999999", "crs")])
def test_bad_keys(capsys, weights, scene, tmp_path, override, needle) -> None:
    out = tmp_path / "pred"
    code, _, err = _run(capsys, f"scenes={scene}", f"weights={weights}", f"out_dir={out}", "device=cpu", override)
    _assert_clean_failure(code, err, out, needle)


def test_archive_with_one_bad_scene_finishes_the_others(capsys, weights, scene, tmp_path) -> None:
    folder = scene.parent
    (folder / "broken.tif").write_bytes(b"II*\x00garbage" * 10)
    out = tmp_path / "pred"
    code, _, err = _run(capsys, f"scenes={folder}", f"weights={weights}", f"out_dir={out}", "device=cpu")
    assert code == 2 and "broken.tif" in err
    assert (out / "scene.geojson").is_file()
    status = {s["scene_id"]: s["status"] for s in json.loads((out / "summary.json").read_text())["scenes"]}
    assert status == {"broken": "failed", "scene": "ok"}


def test_rerun_with_other_weights_is_refused(capsys, weights, scene, tmp_path) -> None:
    """A rerun skips scenes already written; with other weights that would mix two models in one folder."""
    out = tmp_path / "pred"
    assert _run(capsys, f"scenes={scene}", f"weights={weights}", f"out_dir={out}", "device=cpu")[0] == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    other = _weights(tmp_path / "other", task="obb")
    code, _, err = _run(capsys, f"scenes={scene}", f"weights={other}", f"out_dir={out}", "device=cpu")
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("yardwatch:")]
    assert code == 2 and len(lines) == 1 and "other weights" in lines[0] and "overwrite=true" in lines[0], err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # nothing touched
    assert _run(capsys, f"scenes={scene}", f"weights={weights}", f"out_dir={out}", "device=cpu")[0] == 0  # same
    code, _, err = _run(capsys, f"scenes={scene}", f"weights={other}", f"out_dir={out}", "device=cpu",
                        "overwrite=true")
    assert code == 0, err
    assert json.loads((out / "summary.json").read_text())["task"] == "obb"
