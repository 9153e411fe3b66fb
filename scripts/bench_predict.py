#!/usr/bin/env python
"""Benchmark ``yardwatch predict`` against SAHI and a plain ultralytics loop on the same scene and weights.

One run, side by side, each method in its own subprocess (so peak memory is its own):

* ``yardwatch fp32`` / ``yardwatch bf16`` / ``yardwatch onnx`` / ``yardwatch onnx int8`` / ``yardwatch openvino``
  / ``yardwatch openvino int8``: the batched core (``predict_scenes``; the ONNX rows through ONNX Runtime, the
  OpenVINO rows through OpenVINO, int8 = ``yardwatch export int8=true`` calibrated on 64 tiles of another
  synthetic scene), reader ``thread`` (the default); ``yardwatch fp32 inline``: the same reading tiles between
  forward passes (no reader thread);
  ``yardwatch fp32 compiled`` / ``yardwatch bf16 compiled``: ``compile=true`` (torch.compile), the second run in
  its process (the first, which compiles, is timed apart).
* ``forward only`` / ``forward only compiled`` / ``forward only bf16`` / ``forward only bf16 compiled`` /
  ``forward only openvino int8``: the bare
  network as yardwatch runs it (fused, channels-last; the int8 IR) on the same tiles, already in memory and
  converted (the floor for end-to-end time).
* ``sahi b1`` / ``sahi b8``: ``sahi.predict.get_sliced_prediction`` given the file path, same slice size and
  overlap, ``perform_standard_pred=False``; the better of the two is SAHI's figure.
* ``ultralytics loop``: ``YOLO.predict`` over pre-cut tile files (cutting not timed), no seam merge.

Every method's detections are scored at scene level against the synthetic labels with ``yardwatch.eval`` (COCO
protocol through pycocotools). Also timed: the seam merge of 100k and 300k detections. Prints a table and writes
the ``bench_predict`` section of ``docs/benchmarks.md``.

Example::

    python scripts/bench_predict.py --size 8192            # the full comparison (about 10 min on 2 CPU cores)
    python scripts/bench_predict.py --size 2048 --no-doc   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")

from _benchdoc import machine_description, markdown_table, write_section  # noqa: E402

CPU_METHODS = ("yardwatch_fp32", "yardwatch_fp32_inline", "yardwatch_fp32_compiled", "yardwatch_bf16",
               "yardwatch_bf16_inline", "yardwatch_bf16_compiled", "yardwatch_onnx", "yardwatch_onnx_int8",
               "yardwatch_openvino", "yardwatch_openvino_int8",
               "forward_only", "forward_only_compiled", "forward_only_bf16", "forward_only_bf16_compiled",
               "forward_only_openvino_int8", "sahi_b1", "sahi_b8", "ultralytics_loop")
# the export each method runs, by the suffix of its name: (format, int8); the others run the .pt
EXPORTS = {"_onnx": ("onnx", False), "_onnx_int8": ("onnx", True), "_openvino": ("openvino", False),
           "_openvino_int8": ("openvino", True)}


def method_weights(method: str, weights: Path) -> Path:
    """The file ``method`` runs: the export of ``weights`` where ``yardwatch export`` puts it by default (ONNX and
    OpenVINO rows), else ``weights``."""
    from yardwatch.models.export import default_export_path

    return next((default_export_path(weights, *export) for suffix, export in EXPORTS.items()
                 if method.endswith(suffix)), weights)


def _method_precision(method: str, device: str) -> str:
    """The ``precision`` a method runs at: bf16 for the bf16 rows; for OpenVINO rows ``auto``, OpenVINO's own choice
    for the float layers (bf16 on a CPU with AMX, fp32 elsewhere), as a user gets it; else fp32 on the CPU and fp16
    on CUDA, so that the fp32 rows stay fp32 even where ``precision=auto`` would be bf16."""
    if "_bf16" in method:
        return "bf16"
    if "openvino" in method:
        return "auto"
    return "fp32" if device == "cpu" else "fp16"


def _same_threads_for_ultralytics(threads: int) -> None:
    """Give ultralytics' predictor (used by SAHI and the plain loop) the threads yardwatch gets.

    ultralytics' ``select_device`` calls ``torch.set_num_threads(min(8, cpu_count - 1))`` when it sets up a
    predictor: one thread on a 2-core machine. Left alone, SAHI and the loop would run on half the cores.
    """
    import ultralytics.utils.torch_utils as torch_utils

    torch_utils.NUM_THREADS = threads


def _peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: the latter survives exec and would report the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _warm_libraries(scene: Path, out_dir: Path) -> None:
    """What a process pays once, whatever the scene: the raster and vector libraries imported and initialised
    (GDAL reads one block of the scene, PROJ its CRS; a one-feature GeoJSON written and deleted)."""
    import geopandas as gpd
    import rasterio
    from shapely.geometry import box

    import yardwatch.io.vector  # noqa: F401 - the writers' imports

    with rasterio.open(scene) as src:
        src.read(1, window=((0, 64), (0, 64)))
        crs = src.crs
    out_dir.mkdir(parents=True, exist_ok=True)
    probe = out_dir / ".warm.geojson"
    gpd.GeoDataFrame({"n": [1]}, geometry=[box(0, 0, 1, 1)], crs=crs).to_file(probe)
    probe.unlink()


def _load_tiles(scene: Path, tile: int, overlap: int) -> tuple[list[np.ndarray], np.ndarray]:
    import rasterio

    from yardwatch.io.raster import compute_normalization, iter_tile_arrays
    from yardwatch.tiling import make_tile_grid

    with rasterio.open(scene) as src:
        windows = make_tile_grid(src.width, src.height, tile, overlap)
        norm = compute_normalization(src)
        tiles = [rgb for _w, rgb, _v in iter_tile_arrays(src, windows, norm)]
    offsets = np.array([[w.col_off, w.row_off] for w in windows])
    return tiles, offsets


def _write_records(out_dir: Path, scene: Path, obb: np.ndarray, scores: np.ndarray, classes: np.ndarray,
                   names: tuple[str, ...]) -> None:
    import rasterio

    from yardwatch.io.detections import detections_frame, write_detections

    with rasterio.open(scene) as src:
        frame = detections_frame(scene.stem, obb, scores, classes, class_names=names, transform=src.transform,
                                 crs=src.crs.to_string(), gsd_m=abs(src.transform.a))
    out_dir.mkdir(parents=True, exist_ok=True)
    write_detections(frame, out_dir / f"{scene.stem}.geojson", "geojson")


def worker(method: str, scene: Path, weights: Path, out_dir: Path, batch: int, device: str) -> dict:
    """Run one method in this process; returns its timing and memory figures."""
    import torch

    from yardwatch.infer.core import InferenceSettings
    from yardwatch.infer.predict import predict_scenes
    from yardwatch.io.raster import SceneRef
    from yardwatch.models.loader import load_model, use_cpu_threads

    _same_threads_for_ultralytics(use_cpu_threads())
    card_model = load_model(weights, "cpu")
    card = card_model.card
    tile, overlap = card.tile_size_px, card.overlap_px
    conf = 0.25
    del card_model
    result: dict = {"method": method}
    if method.startswith("yardwatch") or method.startswith("gpu"):
        precision = _method_precision(method, device)
        reader = "inline" if method.endswith("_inline") else "thread"
        compiled = method.endswith("_compiled")
        path = method_weights(method, weights)
        model = load_model(path, device)
        base = _current_rss_mb()
        _warm_libraries(scene, out_dir)
        result["warm_rss_mb"] = _current_rss_mb()
        settings = InferenceSettings(tile_size_px=tile, overlap_px=overlap, batch_size=batch, conf=conf,
                                     precision=precision, reader=reader, compile=compiled)
        if compiled:  # a first run compiles the network (timed apart); the row is the second, compiled run
            start = time.perf_counter()
            predict_scenes([SceneRef(scene.stem, scene)], path, out_dir / "first", device=device,
                           settings=settings, overwrite=True, model=model)
            result["first_run_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        summary = predict_scenes([SceneRef(scene.stem, scene)], path, out_dir, device=device,
                                 settings=settings, overwrite=True, model=model)
        result.update(seconds=time.perf_counter() - start, tiles=summary.tiles,
                      forward_seconds=summary.forward_seconds, base_rss_mb=base)
    elif method.startswith("forward_only"):
        # The network as yardwatch runs it (fused, channels-last, the same input dtype), on tiles already in memory
        # and already converted: the floor under yardwatch's end-to-end time.
        from yardwatch.infer.core import InferenceEngine

        precision = _method_precision(method, device)
        model = load_model(method_weights(method, weights), device)
        engine = InferenceEngine(model, InferenceSettings(tile_size_px=tile, overlap_px=overlap, batch_size=batch,
                                                          precision=precision,
                                                          compile=method.endswith("_compiled")))
        model = engine.model  # the compiled network when compile is on
        tiles, _ = _load_tiles(scene, tile, overlap)
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % batch if engine._compiled else 0)  # one batch shape
        batches = [engine._to_device(tiles[i:i + batch]) for i in range(0, len(tiles), batch)]
        del tiles
        model.forward(batches[0])  # warm-up (oneDNN builds its kernels, inductor compiles): steady state
        base = _current_rss_mb()
        start = time.perf_counter()
        for x in batches:
            model.forward(x)
        if device != "cpu":
            torch.cuda.synchronize()
        result.update(seconds=time.perf_counter() - start, tiles=sum(len(x) for x in batches), base_rss_mb=base,
                      threads=torch.get_num_threads())
        return result | {"peak_rss_mb": _peak_rss_mb()}
    elif method.startswith("sahi"):
        from sahi import AutoDetectionModel
        from sahi.predict import get_sliced_prediction

        sahi_batch = int(method.removeprefix("sahi_b"))
        model = AutoDetectionModel.from_pretrained(model_type="ultralytics", model_path=str(weights),
                                                   confidence_threshold=conf, device=device, image_size=tile)
        base = _current_rss_mb()
        start = time.perf_counter()
        pred = get_sliced_prediction(str(scene), model, slice_height=tile, slice_width=tile,
                                     overlap_height_ratio=overlap / tile, overlap_width_ratio=overlap / tile,
                                     perform_standard_pred=False, verbose=0, batch_size=sahi_batch)
        seconds = time.perf_counter() - start
        obb, scores, classes = _sahi_to_obb(pred.object_prediction_list, card.task)
        _write_records(out_dir, scene, obb, scores, classes, card.class_names)
        result.update(seconds=seconds, tiles=None, base_rss_mb=base)
    elif method == "ultralytics_loop":
        from ultralytics import YOLO

        import cv2

        tiles, offsets = _load_tiles(scene, tile, overlap)
        tile_dir = out_dir / "tiles"
        tile_dir.mkdir(parents=True, exist_ok=True)
        files = []
        for i, rgb in enumerate(tiles):
            files.append(str(tile_dir / f"{i:05d}.png"))
            cv2.imwrite(files[-1], rgb[:, :, ::-1])
        del tiles
        model = YOLO(str(weights), task=card.task)
        base = _current_rss_mb()
        start = time.perf_counter()
        parts = []
        for i in range(0, len(files), batch):
            for j, res in enumerate(model.predict(files[i:i + batch], imgsz=tile, conf=conf, device=device,
                                                  verbose=False, batch=batch)):
                off = offsets[i + j]
                if card.task == "obb":
                    o = res.obb.xywhr.cpu().numpy().astype(np.float64)
                    s, c = res.obb.conf.cpu().numpy(), res.obb.cls.cpu().numpy().astype(int)
                else:
                    xywh = res.boxes.xywh.cpu().numpy().astype(np.float64)
                    o = np.column_stack([xywh, np.zeros(len(xywh))])
                    s, c = res.boxes.conf.cpu().numpy(), res.boxes.cls.cpu().numpy().astype(int)
                o[:, :2] += off
                parts.append((o, s, c))
        seconds = time.perf_counter() - start
        obb = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, 5))
        scores = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
        classes = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, int)
        _write_records(out_dir, scene, obb, scores, classes, card.class_names)
        result.update(seconds=seconds, tiles=len(files), base_rss_mb=base)
    else:
        raise SystemExit(f"unknown method {method}")
    return result | {"peak_rss_mb": _peak_rss_mb(), "threads": torch.get_num_threads()}


def _sahi_to_obb(predictions: list, task: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from yardwatch.geo import corners_to_obb

    rows, scores, classes = [], [], []
    for p in predictions:
        seg = getattr(p.mask, "segmentation", None) if p.mask is not None else None
        if task == "obb" and seg:
            pts = np.asarray(seg[0], dtype=np.float64).reshape(-1, 2)[:4]
            rows.append(corners_to_obb(pts[None])[0])
        else:
            x0, y0, x1, y1 = p.bbox.to_xyxy()
            rows.append([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, 0.0])
        scores.append(p.score.value)
        classes.append(p.category.id)
    return (np.asarray(rows, dtype=np.float64).reshape(-1, 5), np.asarray(scores), np.asarray(classes, int))


def _spawn(method: str, scene: Path, weights: Path, out_dir: Path, batch: int, device: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--scene", str(scene), "--weights", str(weights),
           "--out-dir", str(out_dir), "--batch", str(batch), "--device", device]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return {"method": method, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median_round(rounds: list[dict]) -> dict:
    """One row from a method's rounds: the round of median time (the lower of the middle two for an even count),
    with the fastest and slowest times beside it, the highest extra memory of all rounds, and round one's mAP50.
    Any failed round makes the row a failure."""
    failed = [r for r in rounds if "error" in r]
    if failed:
        return failed[0]
    ordered = sorted(rounds, key=lambda r: r["seconds"])
    row = dict(ordered[(len(ordered) - 1) // 2])
    worst = max(rounds, key=lambda r: r["peak_rss_mb"] - r["base_rss_mb"])
    row.update(peak_rss_mb=worst["peak_rss_mb"], base_rss_mb=worst["base_rss_mb"],
               warm_rss_mb=worst.get("warm_rss_mb"), map50=rounds[0].get("map50"),
               seconds_range=(ordered[0]["seconds"], ordered[-1]["seconds"]), rounds=len(rounds))
    return row


def _scene_map50(pred_dir: Path, labels_dir: Path) -> float | None:
    from yardwatch.eval.metrics import evaluate_predictions

    result = evaluate_predictions(pred_dir, labels_dir, write=False, plots=False)
    return result.coco.get("AP50")


def merge_timings() -> list[tuple[int, float]]:
    """Seconds to seam-merge 100k and 300k random detections on an 8192 px grid (best of 3)."""
    from yardwatch.infer.merge import merge_seams

    rng = np.random.default_rng(0)
    grid = np.array([[c, r, 640, 640] for r in range(0, 16384 - 576, 576) for c in range(0, 16384 - 576, 576)])
    out = []
    for n in (100_000, 300_000):
        tiles = rng.integers(0, len(grid), n)
        obb = np.column_stack([grid[tiles, 0] + rng.uniform(0, 640, n), grid[tiles, 1] + rng.uniform(0, 640, n),
                               rng.uniform(10, 30, n), rng.uniform(3, 6, n), rng.uniform(0, np.pi, n)])
        scores, classes = rng.uniform(0.3, 1, n), rng.integers(0, 3, n)
        best = min(_timed(lambda: merge_seams(obb, scores, classes, tiles, grid)) for _ in range(3))
        out.append((n, best))
    return out


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def make_scene(work: Path, size: int, gsd_m: float, seed: int) -> tuple[Path, Path]:
    from yardwatch.synth import write_scenes

    folder = work / f"scene_{size}_{gsd_m:g}m_seed{seed}"  # a scene cached for other weights must not be reused
    catalog = folder / "catalog.csv"
    if not catalog.is_file():
        write_scenes(folder, n_scenes=1, scene_size_px=size, gsd_m=gsd_m, seed=seed)
    import pandas as pd

    row = pd.read_csv(catalog).iloc[0]
    return folder / row["path"], folder / Path(row["labels_path"]).parent


def calibration_tiles(work: Path, card, seed: int) -> Path:
    """Training-style tiles (``yardwatch tile``) of a 2048 px synthetic scene with another seed than the bench
    scene's: the int8 export's calibration set (the bench scene itself is never seen before it is scored)."""
    from yardwatch.cli.main import main as yardwatch

    scene, _ = make_scene(work, 2048, card.gsd_m or 0.5, seed + 2)
    tiles = work / f"calibration_tiles_seed{seed + 2}"
    if not (tiles / "dataset.yaml").is_file():
        code = yardwatch(["tile", f"scenes={scene.parent.parent / 'catalog.csv'}", f"out_dir={tiles}",
                          f"tile_size_px={card.tile_size_px}", f"overlap_px={card.overlap_px}", f"task={card.task}",
                          "split.train=1.0", "split.val=0.0", "split.test=0.0", "progress=false", "overwrite=true"])
        if code:
            raise SystemExit(f"yardwatch tile failed ({code}) making the int8 calibration tiles")
    return tiles / "dataset.yaml"


def exported_weights(weights: Path, card, methods: list[str], work: Path, seed: int) -> Path:
    """``weights``, or a copy in ``work`` beside the ONNX and OpenVINO exports (fp32 and int8, calibrated on
    :func:`calibration_tiles`) that ``methods`` run, when any of them is missing beside ``weights``."""
    needed = {method_weights(m, weights) for m in methods} - {weights}
    if all(path.is_file() for path in needed):
        return weights
    import shutil

    from yardwatch.models.card import card_path_for, file_sha256, write_card
    from yardwatch.models.export import export_model

    local = work / "weights"
    stamp, source_hash = local / "source.sha256", file_sha256(weights)
    if local.is_dir() and (not stamp.is_file() or stamp.read_text().strip() != source_hash):
        shutil.rmtree(local)  # exports of other weights (the demo weights were retrained): make them again
    local.mkdir(exist_ok=True)
    stamp.write_text(source_hash + "\n")
    for src in (weights, card_path_for(weights)):
        if src.is_file():
            shutil.copy(src, local / src.name)
    weights = local / weights.name
    if not card_path_for(weights).is_file():
        write_card(card, card_path_for(weights))
    calibration = None
    for suffix, (fmt, int8) in EXPORTS.items():
        if not any(m.endswith(suffix) for m in methods) or method_weights(suffix, weights).is_file():
            continue
        if int8 and calibration is None:
            calibration = calibration_tiles(work, card, seed)
        export_model(weights, fmt, dynamic=True, int8=int8, calibration=calibration)
    return weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--size", type=int, default=8192, help="scene side in px (default 8192)")
    parser.add_argument("--memory-size", type=int, default=0,
                        help="also run yardwatch fp32 on a scene of this side to check memory stays flat (e.g. 16384)")
    parser.add_argument("--weights", type=Path, default=None, help="a .pt with its card (default: the demo weights)")
    parser.add_argument("--batch", type=int, default=16,
                        help="batch size for yardwatch (its predict default) and the ultralytics loop")
    parser.add_argument("--methods", default=",".join(CPU_METHODS), help="comma-separated subset to run")
    parser.add_argument("--work", type=Path, default=Path("/tmp/yardwatch_bench_predict"), help="scratch folder")
    parser.add_argument("--seed", type=int, default=777, help="synthetic scene seed (never used in training)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="rounds over all the methods, interleaved (so a noisy spell of the machine hits every "
                             "method alike); each row's time is the median round, its memory the highest")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--scene", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda to add GPU rows (batch 32 and 64, fp16)")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.scene, args.weights, args.out_dir, args.batch, args.device)))
        return

    from yardwatch.models.card import demo_weights_path
    from yardwatch.models.loader import load_model

    weights = (args.weights or demo_weights_path()).resolve()
    card = load_model(weights, "cpu").card
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    methods = [m for m in args.methods.split(",") if m]
    weights = exported_weights(weights, card, methods, work, args.seed)
    scene, labels = make_scene(work, args.size, card.gsd_m or 0.5, args.seed)
    megapixels = args.size * args.size / 1e6
    rows = []
    runs = [(m, args.batch, "cpu") for m in methods]
    if args.device.startswith("cuda"):
        runs += [("gpu_b32", 32, args.device), ("gpu_b64", 64, args.device), ("forward_only", 64, args.device)]
    rounds: dict[str, list[dict]] = {}
    for round_index in range(args.repeats):
        for method, batch, device in runs:
            key = method if device == "cpu" else f"{method}@{device}"
            out_dir = work / "out" / key
            print(f"running {key} (round {round_index + 1} of {args.repeats}) ...", flush=True)
            res = _spawn(method, scene, weights, out_dir, batch, device)
            if "error" not in res and not method.startswith("forward_only") and round_index == 0:
                res["map50"] = _scene_map50(out_dir, labels)  # the detections are the same every round
            rounds.setdefault(key, []).append(res)
    results = {key: median_round(runs_of_key) for key, runs_of_key in rounds.items()}

    def floor(key: str) -> float | None:
        """The forward-only time that ``key`` is compared with: same precision, same device."""
        name = ("forward_only_openvino_int8" if "openvino_int8" in key
                else "forward_only" + ("_bf16" if "bf16" in key else "") + ("_compiled" if "compiled" in key else ""))
        name += key[key.index("@"):] if "@" in key else ""
        return results.get(name, {}).get("seconds")

    for key, res in results.items():
        if "error" in res:
            rows.append((key, "failed: " + res["error"][:60], *[""] * (8 + (args.repeats > 1))))
            continue
        secs = res["seconds"]
        extra = res["peak_rss_mb"] - res["base_rss_mb"]
        forward = floor(key)
        ratio = f"{secs / forward:.2f}x" if forward and not key.startswith("forward_only") else ""
        low, high = res.get("seconds_range", (secs, secs))
        spread = (f"{low:.1f}-{high:.1f}",) if args.repeats > 1 else ()
        rows.append((key, round(secs, 1), *spread, round(megapixels / secs, 2), res.get("threads", ""),
                     round(res["peak_rss_mb"]), round(extra),
                     "" if res.get("warm_rss_mb") is None else round(res["peak_rss_mb"] - res["warm_rss_mb"]),
                     "" if res.get("map50") is None else
                     round(res["map50"], 3), ratio))
    sahi = [results[k]["seconds"] for k in ("sahi_b1", "sahi_b8") if k in results and "error" not in results[k]]
    speedups = []
    if sahi:
        for key in CPU_METHODS:  # every yardwatch row but the inline reader's
            row_ran = key in results and "error" not in results[key]
            if row_ran and key.startswith("yardwatch") and not key.endswith("_inline"):
                speedups.append((key, round(min(sahi) / results[key]["seconds"], 2)))
    memory_rows = []
    if args.memory_size:
        big_scene, _ = make_scene(work, args.memory_size, card.gsd_m or 0.5, args.seed + 1)
        for size, sc in ((args.size, scene), (args.memory_size, big_scene)):
            res = results.get("yardwatch_fp32") if size == args.size else _spawn(
                "yardwatch_fp32", sc, weights, work / "out" / f"mem_{size}", args.batch, "cpu")
            if res and "error" not in res:
                memory_rows.append((f"{size}x{size}", round(res["peak_rss_mb"] - res["base_rss_mb"]),
                                    round(res["peak_rss_mb"] - res["warm_rss_mb"]), round(res["seconds"], 1)))
    merges = merge_timings()
    header = ("method", "seconds" + (f" (median of {args.repeats})" if args.repeats > 1 else ""),
              *(("fastest-slowest round",) if args.repeats > 1 else ()), "MP/s", "torch threads", "peak RSS MB",
              "extra RSS over model MB", "extra RSS over model + libraries MB", "scene mAP50",
              "time / forward-only (same precision)")
    table = markdown_table(header, rows)
    text = [f"Scene {args.size}x{args.size} px synthetic (seed {args.seed}, {card.gsd_m} m), weights "
            f"`{weights.name}` ({card.task}, tile {card.tile_size_px} px, overlap {card.overlap_px} px), "
            f"batch {args.batch}, conf 0.25"
            + (f"; {args.repeats} interleaved rounds over every method, each row the median round (memory: the "
               "highest round)" if args.repeats > 1 else "") + ".", "", table, ""]
    if speedups:
        text += ["Speed-up over SAHI's better batch size: " + ", ".join(f"{k} {v}x" for k, v in speedups), ""]
    for key in CPU_METHODS:
        first = results.get(key, {}).get("first_run_seconds")  # the compiled rows
        if first:
            text += [f"{key} is the second run in its process; the first, which compiles the network "
                     f"(torch.compile, inductor), took {first:.1f} s.", ""]
    if memory_rows:
        text += [markdown_table(("scene", "yardwatch fp32 extra RSS MB", "over model + libraries MB", "seconds"),
                                memory_rows), ""]
    text += ["*extra RSS over model*: peak RSS less the RSS after loading the model. *over model + libraries*: less "
             "the RSS after also initialising the raster and vector libraries, which a process pays once whatever "
             "the scene (one block read, one tiny GeoJSON written; yardwatch rows only).", ""]
    text += [markdown_table(("detections merged", "seconds (best of 3)"), [(n, round(s, 3)) for n, s in merges])]
    body = "\n".join(text)
    print(body)
    if not args.no_doc:
        write_section("bench_predict", f"## Inference: `scripts/bench_predict.py`\n\nMachine: {machine_description()}."
                      f"\nCommand: `python scripts/bench_predict.py --size {args.size}"
                      f"{' --memory-size ' + str(args.memory_size) if args.memory_size else ''}"
                      f"{' --repeats ' + str(args.repeats) if args.repeats > 1 else ''}`\n\n" + body)


if __name__ == "__main__":
    main()
