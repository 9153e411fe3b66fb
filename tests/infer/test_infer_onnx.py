"""Predicting through an exported ``.onnx`` (ONNX Runtime) gives the detections of the ``.pt`` it came from, and an
exported file without its model card is refused with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fake_detector import matched_one_to_one, noise_tiles, spread_detections, spread_weights, write_scene
from yardwatch.cli.main import main
from yardwatch.errors import ModelError
from yardwatch.infer.predict import predict_scenes
from yardwatch.io.raster import find_scenes
from yardwatch.models.loader import load_model

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

# int8 detections matched one-to-one to fp32 ones (same class, IoU >= 0.5) on the untrained spread network;
# a trained network keeps its scene AP50 (docs/benchmarks.md).
INT8_MATCHED = 0.95  # measured 0.981 (2945 of 3002)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    from yardwatch.models.export import export_model

    pt = spread_weights(tmp_path_factory.mktemp("weights"))
    return pt, export_model(pt, "onnx", dynamic=True)


def test_onnx_detections_match_the_pt_model(exported, tmp_path) -> None:
    pt, onnx = exported
    assert load_model(onnx).network.__class__.__name__ == "OnnxNetwork"
    rng = np.random.default_rng(7)
    scene = write_scene(tmp_path / "scene.tif", rng.integers(0, 255, (3, 300, 260), dtype=np.uint8))
    pt_found = spread_detections(pt, scene, tmp_path / "pt")
    onnx_found = spread_detections(onnx, scene, tmp_path / "onnx")
    assert len(pt_found[0]) > 100  # enough detections for 99 % to mean something
    matched, rows, cols = matched_one_to_one(pt_found, onnx_found, 0.9)
    assert matched >= 0.99 * max(len(pt_found[0]), len(onnx_found[0])), \
        (matched, len(pt_found[0]), len(onnx_found[0]))
    np.testing.assert_allclose(pt_found[2][rows], onnx_found[2][cols], atol=2e-3)


def test_an_export_beside_the_pt_leaves_the_pt_card_alone(tmp_path) -> None:
    # model.onnx beside model.pt: its card is model.onnx.model_card.json, never the .pt's model.model_card.json
    from yardwatch.models.export import export_model

    pt = spread_weights(tmp_path)
    pt_card = pt.with_name("model.model_card.json")
    before = pt_card.read_bytes()
    onnx = export_model(pt, "onnx", imgsz=256)
    assert onnx == tmp_path / "model.onnx" and pt_card.read_bytes() == before
    assert load_model(pt).card.imgsz == 128 and load_model(onnx).card.imgsz == 256
    card = json.loads((tmp_path / "model.onnx.model_card.json").read_text())
    assert card["training"]["export_format"] == "onnx" and card["training"]["exported_from"] == str(pt)


def test_onnx_summary_names_the_onnx_file(exported, tmp_path) -> None:
    _, onnx = exported
    scene = write_scene(tmp_path / "scene.tif", np.full((3, 128, 128), 90, dtype=np.uint8))
    summary = predict_scenes(find_scenes(scene), onnx, tmp_path / "out", device="cpu")
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["weights"] == str(onnx) and written["model_sha256"] == summary.model_sha256
    assert summary.tiles == 1


def test_exported_file_without_its_card_is_refused(exported, tmp_path) -> None:
    _, onnx = exported
    lonely = tmp_path / "alone" / "model.onnx"
    lonely.parent.mkdir()
    lonely.write_bytes(onnx.read_bytes())
    with pytest.raises(ModelError, match=r"no model card beside it \(model\.model_card\.json\)"):
        load_model(lonely)


def test_cli_refuses_exported_file_without_its_card(capsys, exported, tmp_path) -> None:
    _, onnx = exported
    lonely = tmp_path / "alone" / "model.onnx"
    lonely.parent.mkdir()
    lonely.write_bytes(onnx.read_bytes())
    scene = write_scene(tmp_path / "scene.tif", np.full((3, 128, 128), 90, dtype=np.uint8))
    out = tmp_path / "pred"
    code = main(["predict", f"scenes={scene}", f"weights={lonely}", f"out_dir={out}", "device=cpu",
                 "progress=false"])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("yardwatch:")]
    assert code == 2 and len(lines) == 1, err
    assert "model.onnx" in lines[0] and "no model card" in lines[0] and "yardwatch export" in lines[0]
    assert not out.exists() or not any(out.iterdir())


@pytest.fixture(scope="module")
def calibration_tiles(tmp_path_factory) -> Path:
    return noise_tiles(tmp_path_factory.mktemp("calib"))


def test_calibration_tiles_from_a_dataset_yaml_with_a_relative_path(calibration_tiles, tmp_path, monkeypatch):
    # A relative `path:` is taken from the dataset.yaml's folder, as training reads it, whatever the working folder.
    from yardwatch.models.quantize import calibration_images

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tiles").symlink_to(calibration_tiles.parent, target_is_directory=True)
    yaml_path = tmp_path / "data" / "dataset.yaml"
    yaml_path.write_text(f"path: tiles\ntrain: {calibration_tiles.name}\nval: {calibration_tiles.name}\n")
    monkeypatch.chdir(tmp_path)
    images = calibration_images(yaml_path, 4)
    assert [p.name for p in images] == ["tile0.png", "tile2.png", "tile4.png", "tile6.png"]
    assert all(p.is_file() for p in images)


@pytest.fixture(scope="module")
def exported_int8(exported, calibration_tiles, tmp_path_factory) -> Path:
    from yardwatch.models.export import export_model

    pt, _ = exported
    before = sorted(p.name for p in pt.parent.iterdir())
    path = export_model(pt, "onnx", int8=True, calibration=calibration_tiles, calibration_tiles=6)
    assert sorted(p.name for p in pt.parent.iterdir()) == sorted([*before, path.name, "model.int8.model_card.json"])
    return path


def test_int8_export_quantises_the_convolutions_and_keeps_the_box_decoder_float(exported_int8) -> None:
    import onnx

    assert exported_int8.name == "model.int8.onnx"
    graph = onnx.load(str(exported_int8)).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("QuantizeLinear") >= 50 and ops.count("DequantizeLinear") >= 50
    int8_weights = {i.name for i in graph.initializer if i.data_type == onnx.TensorProto.INT8}
    assert len(int8_weights) >= 50  # per-channel conv weights
    dfl = [n for n in graph.node if n.op_type == "Conv" and "dfl" in n.name]
    assert dfl and all(not name.endswith("_quantized") for n in dfl for name in n.input)
    card = json.loads(exported_int8.with_name("model.int8.model_card.json").read_text())
    assert card["training"]["export_int8"] is True and card["training"]["calibration_tiles"] == 6


def test_int8_detections_follow_the_fp32_model(exported, exported_int8, tmp_path) -> None:
    _, onnx = exported
    rng = np.random.default_rng(7)
    scene = write_scene(tmp_path / "scene.tif", rng.integers(0, 255, (3, 300, 260), dtype=np.uint8))
    fp32 = spread_detections(onnx, scene, tmp_path / "fp32")
    int8 = spread_detections(exported_int8, scene, tmp_path / "int8")
    matched, _, _ = matched_one_to_one(fp32, int8, 0.5)
    assert len(fp32[0]) > 100 and matched >= INT8_MATCHED * max(len(fp32[0]), len(int8[0])), \
        (matched, len(fp32[0]), len(int8[0]))


@pytest.mark.parametrize("args, words", [
    (("format=torchscript", "int8=true", "calibration={calib}"), "int8=true quantises ONNX and OpenVINO models"),
    (("int8=true",), "int8=true needs calibration="),
    (("int8=true", "calibration={tmp}/nowhere"), "calibration=.*nowhere: not found"),
    (("int8=true", "calibration={tmp}"), "no tiles found"),
    (("int8=true", "calibration={calib}", "calibration_tiles=0"), "calibration_tiles=0 is out of range"),
    (("int8=yes", "calibration={calib}"), "int8='yes' must be true or false"),
])
def test_cli_int8_bad_input_exits_2_and_writes_nothing(args, words, capsys, exported, calibration_tiles,
                                                       tmp_path) -> None:
    import re

    pt, _ = exported
    before = sorted(p.name for p in pt.parent.iterdir())
    filled = [a.format(calib=calibration_tiles, tmp=tmp_path) for a in args]
    code = main(["export", f"weights={pt}", *filled])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("yardwatch:")]
    assert code == 2 and len(err) == 1 and re.search(words, err[0]), err
    assert sorted(p.name for p in pt.parent.iterdir()) == before
