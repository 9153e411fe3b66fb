"""Predicting through an exported OpenVINO IR (``yardwatch export format=openvino``, fp32 and NNCF int8) gives the
detections of the ``.pt`` it came from; the export leaves the ``.pt`` and its card alone; bad input is one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from fake_detector import (TILE_PX, matched_one_to_one, noise_tiles, scene_detections, spread_detections,
                           spread_weights, write_scene)
from yardwatch.cli.main import main
from yardwatch.errors import ConfigError, ModelError
from yardwatch.infer.predict import predict_scenes
from yardwatch.io.raster import find_scenes
from yardwatch.models.loader import OpenVinoNetwork, load_model

ov = pytest.importorskip("openvino")
pytest.importorskip("nncf")
pytest.importorskip("onnx")

# int8 detections of the demo weights matched one-to-one to their fp32 ones (same class, IoU >= 0.5) on a synthetic
# scene; held-out scene AP50 moves by 0.01-0.03 (src/yardwatch/models/quantize.py, docs/benchmarks.md).
INT8_MATCHED = 0.9  # measured 0.988 (79 of 80 fp32 and 80 int8 detections)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return spread_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="module")
def calibration(tmp_path_factory) -> Path:
    return noise_tiles(tmp_path_factory.mktemp("calib"))


def _listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def exported(weights) -> dict[str, Path]:
    from yardwatch.models.export import export_model

    before = _listing(weights.parent)
    fp32 = export_model(weights, "openvino")
    after = _listing(weights.parent)
    # the .pt and its card are untouched; the IR lies whole in its own folder with its card
    assert {k: v for k, v in after.items() if k in before} == before
    assert sorted(set(after) - set(before)) == [
        "model_openvino_model/model.bin", "model_openvino_model/model.model_card.json",
        "model_openvino_model/model.xml"]
    return {"pt": weights, "fp32": fp32}


@pytest.fixture(scope="module")
def demo_int8(tmp_path_factory) -> dict[str, Path]:
    """The demo weights (a copy) and their int8 IR, calibrated on training-style tiles (``yardwatch tile``) of a
    synthetic scene with another seed than the scene it is scored on."""
    import shutil

    from yardwatch.models.card import demo_weights_path
    from yardwatch.models.export import export_model
    from yardwatch.synth import write_scenes

    root = tmp_path_factory.mktemp("demo_int8")
    pt = root / "weights" / "demo.pt"
    pt.parent.mkdir()
    for source in (demo_weights_path(), demo_weights_path().with_name("demo.model_card.json")):
        shutil.copyfile(source, pt.parent / source.name)
    card = load_model(pt).card
    calib_scene = write_scenes(root / "calib_scene", n_scenes=1, scene_size_px=1024, gsd_m=0.5, seed=4240)
    assert main(["tile", f"scenes={calib_scene}", f"out_dir={root / 'calib'}", f"tile_size_px={card.tile_size_px}",
                 f"overlap_px={card.overlap_px}", f"task={card.task}", "split.train=1.0", "split.val=0.0",
                 "split.test=0.0", "progress=false"]) == 0
    before = _listing(pt.parent)
    int8 = export_model(pt, "openvino", int8=True, calibration=root / "calib" / "dataset.yaml",
                        calibration_tiles=32)
    after = _listing(pt.parent)
    assert {k: v for k, v in after.items() if k in before} == before
    assert sorted(set(after) - set(before)) == [
        "demo_int8_openvino_model/demo.bin", "demo_int8_openvino_model/demo.model_card.json",
        "demo_int8_openvino_model/demo.xml"]
    scene = write_scenes(root / "scene", n_scenes=1, scene_size_px=1024, gsd_m=0.5, seed=4242)
    tiles = len(list((root / "calib").rglob("*.png")))
    return {"pt": pt, "int8": int8, "scene": scene, "calibration_tiles": min(32, tiles)}


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    rng = np.random.default_rng(7)
    return write_scene(tmp_path_factory.mktemp("scene") / "scene.tif",
                       rng.integers(0, 255, (3, 300, 260), dtype=np.uint8))


def test_openvino_fp32_detections_match_the_pt_model(exported, scene, tmp_path) -> None:
    assert isinstance(load_model(exported["fp32"]).network, OpenVinoNetwork)
    pt = spread_detections(exported["pt"], scene, tmp_path / "pt")
    ir = spread_detections(exported["fp32"], scene, tmp_path / "ir")
    assert len(pt[0]) > 100  # enough detections for 99 % to mean something
    matched, rows, cols = matched_one_to_one(pt, ir, 0.9)
    assert matched >= 0.99 * max(len(pt[0]), len(ir[0])), (matched, len(pt[0]), len(ir[0]))
    np.testing.assert_allclose(pt[2][rows], ir[2][cols], atol=2e-3)


def test_ir_takes_the_reader_uint8_batch_and_a_float_batch_alike(exported) -> None:
    # predict hands the IR the reader's uint8 (B, H, W, 3) batch, converted inside OpenVINO; the float NCHW batch
    # the torch network takes gives the same output, and so does the .pt on it
    rng = np.random.default_rng(5)
    tiles = torch.from_numpy(rng.integers(0, 255, (2, TILE_PX, TILE_PX, 3), dtype=np.uint8))
    as_float = tiles.permute(0, 3, 1, 2).float().div(255.0)
    ir = load_model(exported["fp32"])
    ir.network.set_precision("fp32")  # OpenVINO's default is bf16 on a CPU with AMX
    out_u8, out_float = ir.forward(tiles), ir.forward(as_float)
    np.testing.assert_allclose(out_u8.numpy(), out_float.numpy(), rtol=1e-5, atol=1e-4)
    reference = load_model(exported["pt"]).forward(as_float)
    np.testing.assert_allclose(out_u8.numpy(), reference.numpy(), rtol=1e-3, atol=2e-2)


def test_precision_picks_what_openvino_computes_in(exported, scene, tmp_path) -> None:
    # auto is OpenVINO's own choice (bf16 where the CPU has AMX); fp32 and bf16 are asked for, and the summary
    # says which one ran
    from yardwatch.infer.core import InferenceSettings, cpu_has_amx_bf16

    ir = load_model(exported["fp32"])
    assert ir.network.compute_precision == ("bfloat16" if cpu_has_amx_bf16() else "float32")
    tiles = torch.from_numpy(np.random.default_rng(3).integers(0, 255, (1, TILE_PX, TILE_PX, 3), dtype=np.uint8))
    outputs = {}
    for precision, name, hint in (("fp32", "float32", "f32"), ("bf16", "bfloat16", "bf16")):
        ir.network.set_precision(precision)
        assert ir.network.compute_precision == name
        outputs[precision] = ir.forward(tiles).numpy()
        assert ir.network.compiled.get_property("INFERENCE_PRECISION_HINT").to_string() == hint
    reference = load_model(exported["pt"]).forward(tiles.permute(0, 3, 1, 2).float().div(255.0)).numpy()
    np.testing.assert_allclose(outputs["fp32"], reference, rtol=1e-3, atol=2e-2)
    with pytest.raises(ConfigError, match="precision=fp16"):
        ir.network.set_precision("fp16")
    settings = InferenceSettings(tile_size_px=TILE_PX, overlap_px=32, conf=0.25, precision="bf16")
    summary = predict_scenes(find_scenes(scene), exported["fp32"], tmp_path / "bf16", device="cpu",
                             settings=settings)
    assert summary.precision == "bfloat16"


def test_int8_ir_quantises_the_body_and_keeps_the_box_decoder_float(demo_int8) -> None:
    from yardwatch.models.quantize import head_decode_ops

    model = ov.Core().read_model(str(demo_int8["int8"]))
    ops = {op.get_friendly_name(): op for op in model.get_ordered_ops()}
    fake_quantize = [op for op in ops.values() if op.get_type_name() == "FakeQuantize"]
    assert len(fake_quantize) >= 50  # the activations into the convolutions of backbone, neck and head branches
    int8_constants = [op for op in ops.values() if op.get_type_name() == "Constant"
                      and op.get_element_type().get_type_name() == "i8"]
    assert len(int8_constants) >= 50  # int8 weights

    def quantized_input(op) -> bool:
        return any(i.get_source_output().get_node().get_type_name() == "FakeQuantize" for i in op.inputs())

    elementwise = [op for op in ops.values() if op.get_type_name() in ("Multiply", "Add", "Sigmoid")]
    assert elementwise and not any(quantized_input(op) for op in elementwise)  # SiLU and residuals stay float
    decode = [ops[name] for name in head_decode_ops(model) if name in ops]
    assert any("dfl" in op.get_friendly_name() for op in decode)
    # a ShapeOf reads only the shape of the quantised feature maps the head's branches start from
    assert decode and not any(quantized_input(op) for op in decode if op.get_type_name() != "ShapeOf")
    card = json.loads(demo_int8["int8"].with_name("demo.model_card.json").read_text())
    assert card["training"]["export_int8"] is True and card["training"]["calibration_tiles"] == demo_int8["calibration_tiles"] > 8
    assert card["training"]["export_format"] == "openvino"


def test_int8_ir_detections_follow_the_fp32_model(demo_int8, tmp_path) -> None:
    fp32, int8 = (scene_detections(demo_int8[name], demo_int8["scene"], tmp_path / name) for name in ("pt", "int8"))
    matched, _, _ = matched_one_to_one(fp32, int8, 0.5)
    assert len(fp32[0]) > 50 and matched >= INT8_MATCHED * max(len(fp32[0]), len(int8[0])), \
        (matched, len(fp32[0]), len(int8[0]))


def test_int8_ir_of_a_wide_range_network_follows_its_fp32_ir(weights, calibration, tmp_path) -> None:
    # The spread network's activations span a wide range. Quantising the element-wise ops too (NNCF's default)
    # zeroed its feature maps: every class score came out as the bias and no detection was left.
    import shutil

    from yardwatch.models.export import export_model

    copy = tmp_path / "w" / "model.pt"
    copy.parent.mkdir()
    for part in (weights, weights.with_name("model.model_card.json")):
        shutil.copyfile(part, copy.parent / part.name)
    int8 = export_model(copy, "openvino", int8=True, calibration=calibration, calibration_tiles=6)
    fp32 = export_model(copy, "openvino")
    rng = np.random.default_rng(7)
    scene = write_scene(tmp_path / "scene.tif", rng.integers(0, 255, (3, 300, 260), dtype=np.uint8))
    a, b = spread_detections(fp32, scene, tmp_path / "fp32"), spread_detections(int8, scene, tmp_path / "int8")
    matched, _, _ = matched_one_to_one(a, b, 0.5)
    assert len(a[0]) > 100 and matched >= 0.95 * max(len(a[0]), len(b[0])), (matched, len(a[0]), len(b[0]))


def test_device_auto_runs_an_ir_on_the_cpu_even_with_a_gpu(exported, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # as on a GPU workstation
    scene = write_scene(tmp_path / "scene.tif", np.full((3, 128, 128), 90, dtype=np.uint8))
    summary = predict_scenes(find_scenes(scene), exported["fp32"], tmp_path / "out", device="auto")
    assert summary.device == "cpu" and summary.scenes[0].status == "ok"


def test_an_ir_refuses_a_cuda_device(exported) -> None:
    with pytest.raises(ModelError, match=r"model\.xml: OpenVINO models run on the CPU here; pass device=cpu"):
        OpenVinoNetwork(exported["fp32"], torch.device("cuda"))


def test_missing_nncf_is_one_line_before_any_work(monkeypatch, weights, calibration) -> None:
    import importlib.util

    from yardwatch.models.export import export_model

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nncf" else real(name, *a))
    before = _listing(weights.parent)
    with pytest.raises(ConfigError, match=r"format=openvino needs nncf: pip install 'yardwatch\[openvino\]'"):
        export_model(weights, "openvino", int8=True, calibration=calibration)
    assert _listing(weights.parent) == before


def test_nncf_is_imported_with_its_telemetry_off() -> None:
    # In a fresh interpreter without pytest (NNCF turns its telemetry off by itself under pytest).
    import subprocess
    import sys

    code = ("from yardwatch.models.quantize import import_nncf_offline; import os; import_nncf_offline(); "
            "from nncf.telemetry import decorator, wrapper; "
            "print(isinstance(decorator.telemetry, wrapper.NNCFTelemetry), os.environ.get('NNCF_CI'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[-2:] == ["False", "None"], out  # a stub sends nothing; the variable is not left behind


def _cli_error(capsys, args: list[str]) -> tuple[int, list[str]]:
    code = main(args)
    return code, [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("yardwatch:")]


@pytest.mark.parametrize("args, words", [
    (("format=openvino", "half=true"), "format=openvino runs on the CPU in fp32 or int8; half=true"),
    (("format=openvino", "out={tmp}/model.onnx"), r"ends in \.xml; name it model\.xml"),
    (("format=openvino", "int8=true"), "int8=true needs calibration="),
    (("format=openvino", "int8=true", "calibration={tmp}/nowhere"), "calibration=.*nowhere: not found"),
])
def test_cli_openvino_export_bad_input_exits_2_and_writes_nothing(args, words, capsys, weights, tmp_path) -> None:
    before = _listing(weights.parent)
    code, err = _cli_error(capsys, ["export", f"weights={weights}", *[a.format(tmp=tmp_path) for a in args]])
    assert code == 2 and len(err) == 1 and re.search(words, err[0]), err
    assert _listing(weights.parent) == before and not any(tmp_path.iterdir())


@pytest.mark.parametrize("damage", ["garbage", "no_bin"])
def test_cli_refuses_a_broken_ir_with_one_line(damage, capsys, exported, tmp_path) -> None:
    broken = tmp_path / "ir"
    broken.mkdir()
    for part in exported["fp32"].parent.iterdir():
        (broken / part.name).write_bytes(part.read_bytes())
    if damage == "garbage":
        (broken / "model.xml").write_text("<net><layers>not a model")
    else:
        (broken / "model.bin").unlink()
    scene = write_scene(tmp_path / "scene.tif", np.full((3, 128, 128), 90, dtype=np.uint8))
    out = tmp_path / "pred"
    code, err = _cli_error(capsys, ["predict", f"scenes={scene}", f"weights={broken / 'model.xml'}",
                                    f"out_dir={out}", "device=cpu", "progress=false"])
    assert code == 2 and len(err) == 1 and "model.xml: OpenVINO cannot load it" in err[0], err
    assert not out.exists() or not any(out.iterdir())



@pytest.mark.parametrize("weights, spec, expected", [
    ("m_openvino_model/m.xml", "auto", "cpu"), ("m_openvino_model/m.XML", None, "cpu"),
    ("m_openvino_model/m.xml", "cuda", "cuda"), ("m.pt", "auto", "auto"), ("m.onnx", "auto", "auto")])
def test_device_auto_means_the_cpu_for_an_ir_locally_and_on_ray(weights, spec, expected) -> None:
    # predict_scenes and the Ray engine (its worker plan) both resolve device through device_for_weights
    from yardwatch.infer.device import device_for_weights
    from yardwatch.infer.ray_engine import plan_workers

    assert device_for_weights(weights, spec) == expected
    if expected == "cpu":  # a cluster with GPUs gives an IR CPU workers, not GPU ones
        plan = plan_workers(device_for_weights(weights, spec), None, None, 4, {"CPU": 8.0, "GPU": 2.0}, [8.0])
        assert plan.num_gpus == 0 and plan.device == "cpu"
