"""Precision paths agree: bf16 (CPU) and fp16 (CUDA) find the same objects as fp32, with the demo weights."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from yardwatch.geo import obb_px_to_corners
from yardwatch.infer.core import InferenceSettings
from yardwatch.infer.predict import predict_scenes
from yardwatch.io.raster import find_scenes
from yardwatch.models.card import demo_weights_path
from yardwatch.models.loader import load_model


def matched_fraction(a: np.ndarray, a_cls: np.ndarray, b: np.ndarray, b_cls: np.ndarray, iou: float = 0.9) -> float:
    """Share of detections (of both sets) that have a same-class partner at polygon IoU >= ``iou``."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    pa, pb = shapely.polygons(obb_px_to_corners(a)), shapely.polygons(obb_px_to_corners(b))
    tree = shapely.STRtree(pb)
    i, j = tree.query(pa, predicate="intersects")
    inter = shapely.area(shapely.intersection(pa[i], pb[j]))
    ious = inter / (shapely.area(pa[i]) + shapely.area(pb[j]) - inter)
    ok = (ious >= iou) & (a_cls[i] == b_cls[j])
    return (len(np.unique(i[ok])) + len(np.unique(j[ok]))) / (len(a) + len(b))


def _detections(catalog, device: str, precision: str, tmp_path, *, compile: bool = False, batch_size: int = 8):
    import geopandas as gpd

    weights = demo_weights_path()
    model = load_model(weights, device)
    settings = InferenceSettings(tile_size_px=model.card.tile_size_px, overlap_px=model.card.overlap_px,
                                 batch_size=batch_size, precision=precision, compile=compile)
    out = tmp_path / f"{device}-{precision}-{'compiled' if compile else 'eager'}"
    predict_scenes(find_scenes(catalog), weights, out, device=device, settings=settings, model=model)
    frame = gpd.read_file(next(out.glob("*.geojson")))
    obb = frame[["cx_px", "cy_px", "w_px", "h_px", "angle_rad"]].to_numpy()
    return obb, frame["class_id"].to_numpy()


@pytest.fixture(scope="module")
def parity_scene(tmp_path_factory):
    from yardwatch.synth import write_scenes

    return write_scenes(tmp_path_factory.mktemp("parity"), n_scenes=1, scene_size_px=1024, gsd_m=0.5, seed=4242)


@pytest.mark.slow
@pytest.mark.xfail(reason="bf16 parity depends on the weights and sits at the 99 % target: the current demo weights "
                          "match 99.4 % here (98.9 % and 98.7 % on two 2048 px scenes, seeds 4243 and 4244); the "
                          "previous ones 98.75 % (99.4 %, 98.8 %), and earlier ones 99.3 % and 97.5 %. The misses "
                          "have no same-class partner even at IoU 0.5: found in one precision only, or with another "
                          "class", strict=False)
def test_bf16_matches_fp32_on_cpu(parity_scene, tmp_path) -> None:
    a, a_cls = _detections(parity_scene, "cpu", "fp32", tmp_path)
    b, b_cls = _detections(parity_scene, "cpu", "bf16", tmp_path)
    assert len(a) > 20  # the demo weights find the scene's objects
    # precision=auto is bf16 only on a CPU with AMX; without it bf16 is 2.2-2.5x slower than fp32. On the 8192 px
    # scene of scripts/bench_predict.py (3620 detections) an AMX Xeon matched 99.1 % at IoU 0.9 (run 15).
    assert matched_fraction(a, a_cls, b, b_cls) >= 0.99


@pytest.mark.gpu
def test_cuda_fp16_matches_cpu_fp32(parity_scene, tmp_path) -> None:
    a, a_cls = _detections(parity_scene, "cpu", "fp32", tmp_path)
    b, b_cls = _detections(parity_scene, "cuda", "fp16", tmp_path)
    assert len(a) > 20
    assert matched_fraction(a, a_cls, b, b_cls) >= 0.99


def test_compiled_path_feeds_full_batches_and_keeps_every_detection(parity_scene, tmp_path, monkeypatch) -> None:
    """compile=true pads the last, partial batch to batch_size (one graph shape) and drops the padding's output:
    with torch.compile replaced by a recorder of batch shapes, the detections equal the eager path's exactly."""
    import torch

    shapes = []

    def recording_compile(module, **kwargs):
        def run(batch):
            shapes.append(tuple(batch.shape))
            return module(batch)
        return run

    import json

    a, a_cls = _detections(parity_scene, "cpu", "fp32", tmp_path, batch_size=7)
    monkeypatch.setattr(torch, "compile", recording_compile)
    b, b_cls = _detections(parity_scene, "cpu", "fp32", tmp_path, compile=True, batch_size=7)
    tiles = json.loads((tmp_path / "cpu-fp32-compiled" / "summary.json").read_text())["tiles"]
    assert tiles % 7 != 0 and len(shapes) == -(-tiles // 7), (tiles, shapes)  # a partial batch was padded
    assert {s[0] for s in shapes} == {7}, shapes
    assert len(a) > 20 and np.array_equal(a_cls, b_cls) and np.allclose(a, b)


@pytest.mark.slow
def test_torch_compile_matches_eager_on_cpu(parity_scene, tmp_path) -> None:
    a, a_cls = _detections(parity_scene, "cpu", "fp32", tmp_path)
    b, b_cls = _detections(parity_scene, "cpu", "fp32", tmp_path, compile=True)
    assert len(a) > 20
    assert matched_fraction(a, a_cls, b, b_cls) >= 0.99


@pytest.mark.parametrize(("amx", "expected"), [(True, "bfloat16"), (False, "float32")])
def test_auto_precision_on_cpu_is_bf16_only_with_amx(monkeypatch, amx: bool, expected: str) -> None:
    """precision=auto on the CPU: bf16 where the CPU has AMX (1.8x faster there, run 15 in docs/benchmarks.md),
    fp32 elsewhere (bf16 is emulated and 2.2-2.5x slower); explicit precisions are kept as asked."""
    import torch

    from yardwatch.infer import core

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    cpu = torch.device("cpu")
    assert core._input_dtype("auto", cpu) == getattr(torch, expected)
    assert core._input_dtype("fp32", cpu) == torch.float32
    assert core._input_dtype("bf16", cpu) == torch.bfloat16
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")  # an older torch without the probe: fp32
    assert core._input_dtype("auto", cpu) == torch.float32
