#!/usr/bin/env python
"""Benchmark ``yardwatch predict engine=ray`` (1 and 2 workers) against the local engine on the same catalog.

Every engine predicts the same scenes with the same weights into its own folder. Two figures per engine:

* ``steady scenes/s``: throughput once the model is loaded. Local: ``predict_scenes`` given the already loaded
  model. Ray: from the first scene a worker starts to the last file written (timestamps from the workers'
  ``scene_hook``), i.e. without the one-off cost of starting the workers and loading the model in each.
* ``end-to-end s``: the whole call as a user waits for it (Ray: an already running cluster, as on a real one; its
  workers start and load the model inside the call).

The ratio ``steady / local steady`` is the Ray path's overhead: 1.0 means none. Outputs of every Ray run are checked
against the local engine's (same scenes, same detection counts). Prints a table and writes the ``bench_scale``
section of ``docs/benchmarks.md``.

Weights: ``src/yardwatch/assets/demo.pt`` when it exists, else untrained yolov8n weights with a model card (their
detections are few, so the times are reading, forward pass and merge). Scenes: ``yardwatch.synth.write_scenes``
when it is available, else random-texture GeoTIFFs.

Example::

    python scripts/bench_scale.py                          # 8 scenes of 1024 px on this machine's CPUs
    python scripts/bench_scale.py --device cuda --workers 1 2 --gpus-per-worker 1   # on a GPU machine
    python scripts/bench_scale.py --scenes 4 --size 512 --no-doc   # a quick look
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")

from _benchdoc import machine_description, markdown_table, write_section  # noqa: E402

log = logging.getLogger("bench_scale")


def make_weights(folder: Path, tile_px: int) -> Path:
    """The demo weights when shipped, else untrained yolov8n weights (3 classes) with a model card."""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    from yardwatch.models.card import ModelCard, assets_dir, write_card

    demo = assets_dir() / "demo.pt"
    if demo.is_file():
        return demo
    torch.manual_seed(0)
    net = DetectionModel("yolov8n.yaml", nc=3, verbose=False)
    net.names = {0: "railcar", 1: "tarp", 2: "container"}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "untrained.pt"
    torch.save({"model": net, "train_args": {"imgsz": tile_px}}, path)
    write_card(ModelCard(task="detect", imgsz=tile_px, tile_size_px=tile_px, overlap_px=64, gsd_m=0.5),
               folder / "untrained.model_card.json")
    return path


def make_catalog(folder: Path, n_scenes: int, size_px: int, seed: int) -> Path:
    """``n_scenes`` scenes of ``size_px`` square and their catalog.csv (synthetic rail yards when available)."""
    try:
        from yardwatch.synth import write_scenes
    except ImportError:
        write_scenes = None
    if write_scenes is not None:
        return write_scenes(folder, n_scenes=n_scenes, scene_size_px=size_px, gsd_m=0.5, seed=seed)
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = ["scene_id,path"]
    for i in range(n_scenes):
        # Smooth random texture (noise blurred by block averaging) so the file compresses like imagery.
        coarse = rng.integers(30, 220, (3, size_px // 8 + 1, size_px // 8 + 1), dtype=np.uint8)
        image = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2)[:, :size_px, :size_px]
        image = (image + rng.integers(0, 25, image.shape, dtype=np.uint8)).astype(np.uint8)
        path = folder / f"scene_{i:03d}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=size_px, height=size_px, count=3, dtype="uint8",
                           crs="EPSG:32652", transform=from_origin(350000.0 + i * 1000, 4700000.0, 0.5, 0.5),
                           tiled=True, blockxsize=256, blockysize=256, compress="deflate") as dst:
            dst.write(image)
        rows.append(f"{path.stem},{path.name}")
    catalog = folder / "catalog.csv"
    catalog.write_text("\n".join(rows) + "\n")
    return catalog


class StampHook:
    """Writes the wall-clock time of each worker event to ``<folder>/<scene>.<event>`` (picklable by value)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def __call__(self, event: str, scene, output: Path) -> None:
        Path(self.folder, f"{scene.scene_id}.{event}").write_text(repr(time.time()))


def _stamps(folder: Path, event: str) -> list[float]:
    return [float(p.read_text()) for p in folder.glob(f"*.{event}")]


def _counts(summary) -> dict[str, int]:
    return {s.scene_id: s.n_detections for s in summary.scenes}


def _ray_cluster(args: argparse.Namespace, workers: int) -> None:
    """Connect to ``--ray-address``, or start a local cluster (with ``--threads``: ``workers x threads`` CPUs)."""
    import ray

    from yardwatch.infer.ray_engine import connect_ray

    if args.threads and not args.ray_address:
        # The CPU share of each worker sets its torch threads: give the cluster exactly workers x threads CPUs.
        ray.init(num_cpus=workers * args.threads, include_dashboard=False, object_store_memory=128 * 1024**2,
                 log_to_driver=False)
    else:
        connect_ray(args.ray_address)


def _time_ray(args: argparse.Namespace, scenes, weights: Path, settings, out: Path, workers: int) -> dict:
    import ray

    from yardwatch.infer.ray_engine import node_cpus, plan_workers, predict_scenes_ray

    _ray_cluster(args, workers)  # a running cluster, as users have: its start is not part of any figure
    try:
        stamps = out.with_name(out.name + "_stamps")
        stamps.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        summary = predict_scenes_ray(scenes, weights, out, device=args.device, settings=settings, overwrite=True,
                                     num_workers=workers, num_gpus_per_worker=args.gpus_per_worker,
                                     scene_hook=StampHook(str(stamps)))
        end_to_end = time.perf_counter() - started
        # What the engine ran (more workers than the GPUs hold are cut to what fits).
        plan = plan_workers(args.device, workers, args.gpus_per_worker, len(scenes), ray.cluster_resources(),
                            node_cpus(ray))
    finally:
        ray.shutdown()
    steady = max(_stamps(stamps, "written")) - min(_stamps(stamps, "start"))
    return {"engine": "ray", "workers": plan.num_workers, "threads": plan.threads, "steady_s": steady,
            "end_to_end_s": end_to_end, "tiles": summary.tiles, "counts": _counts(summary)}


def run(args: argparse.Namespace) -> tuple[list[dict], str]:
    """Time every engine ``args.repeats`` times; returns the best row of each and a line on the weights used."""
    import torch

    from yardwatch.infer.core import InferenceSettings
    from yardwatch.infer.device import resolve_device
    from yardwatch.infer.predict import predict_scenes
    from yardwatch.io.raster import find_scenes
    from yardwatch.models.loader import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="bench_scale_"))
    weights = make_weights(work / "weights", args.tile)
    scenes = find_scenes(make_catalog(work / "scenes", args.scenes, args.size, args.seed))
    model = load_model(weights, resolve_device(args.device))
    settings = InferenceSettings(tile_size_px=model.card.tile_size_px, overlap_px=model.card.overlap_px,
                                 batch_size=args.batch_size, conf=args.conf)
    # Warm the local process first (lazy imports, first-call kernel setup) on one scene, untimed. Each Ray worker
    # pays that warm-up inside its steady time, so any bias is against Ray.
    predict_scenes(scenes[:1], weights, work / "warm", device=args.device, settings=settings, overwrite=True,
                   model=model)
    best: dict[str, dict] = {}
    steady: dict[str, list[float]] = {}
    # Engines take turns within each repeat, so that a change in the machine's load hits all of them alike.
    for repeat in range(args.repeats):
        started = time.perf_counter()
        local = predict_scenes(scenes, weights, work / f"local_{repeat}", device=args.device, settings=settings,
                               overwrite=True, model=model)
        seconds = time.perf_counter() - started
        rows = [("local", {"engine": "local", "workers": 1, "threads": torch.get_num_threads(), "steady_s": seconds,
                           "end_to_end_s": seconds + _load_seconds(weights, args.device), "tiles": local.tiles,
                           "counts": _counts(local)})]
        rows += [(f"ray{w}", _time_ray(args, scenes, weights, settings, work / f"ray{w}_{repeat}", w))
                 for w in args.workers]
        for key, row in rows:
            if row["counts"] != rows[0][1]["counts"]:
                raise SystemExit(f"{key}: detections differ from the local engine's: {row['counts']} vs "
                                 f"{rows[0][1]['counts']}")
            log.warning("repeat %d: %s: steady %.2f s, end to end %.2f s", repeat + 1, key, row["steady_s"],
                        row["end_to_end_s"])
            steady.setdefault(key, []).append(row["steady_s"])
            if key not in best or row["steady_s"] < best[key]["steady_s"]:
                best[key] = row
    result = list(best.values())
    # Derived figures use the median run: on a machine shared with other jobs the best run is luck.
    for (key, row) in zip(best, result, strict=True):
        row.pop("counts")
        row["median_steady_s"] = statistics.median(steady[key])
        row["scenes_per_s"] = args.scenes / row["median_steady_s"]
        row["ratio_vs_local"] = row["scenes_per_s"] / result[0]["scenes_per_s"]
        row["overhead_pct"] = (100.0 * (row["median_steady_s"] / result[0]["median_steady_s"] - 1.0)
                               if row["engine"] == "ray" and row["workers"] == 1 else None)
    (work / "bench_scale.json").write_text(json.dumps(result, indent=2) + "\n")
    kind = "the demo weights" if weights.name == "demo.pt" else "untrained yolov8n weights"
    return result, (f"{kind} ({model.card.task}, tiles {settings.tile_size_px} px with {settings.overlap_px} px "
                    f"overlap, batch {settings.batch_size})")


def _load_seconds(weights: Path, device: str) -> float:
    from yardwatch.infer.device import resolve_device
    from yardwatch.models.loader import load_model

    started = time.perf_counter()
    load_model(weights, resolve_device(device))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=8, help="scenes in the catalog (default 8)")
    parser.add_argument("--size", type=int, default=1024, help="scene size in px (default 1024)")
    parser.add_argument("--tile", type=int, default=640, help="tile size of the untrained weights (default 640)")
    parser.add_argument("--batch-size", type=int, default=16, help="tiles per forward pass (default 16)")
    parser.add_argument("--conf", type=float, default=0.25, help="score threshold (default 0.25)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray worker counts (default 1 2)")
    parser.add_argument("--gpus-per-worker", type=float, default=None,
                        help="GPUs per Ray worker (default: 1 with --device cuda, 0 on CPU)")
    parser.add_argument("--ray-address", default=None, help="join this Ray cluster instead of a local one")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of the local engine and of each CPU Ray worker (default: the local "
                             "engine uses torch's default, Ray workers their share of the CPUs)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per engine; the fastest counts (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="scene seed")
    parser.add_argument("--work-dir", default=None, help="where scenes and outputs go (default: a temp folder)")
    parser.add_argument("--no-doc", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.device.startswith("cuda") and args.gpus_per_worker is None:
        args.gpus_per_worker = 1.0
    from yardwatch.errors import YardwatchError

    load_before = os.getloadavg()[0]
    try:
        rows, weights_line = run(args)
    except YardwatchError as err:  # e.g. --device cuda without CUDA: one line, as the CLI would say it
        raise SystemExit(f"bench_scale: {err}") from None
    load_after = os.getloadavg()[0]
    header = ("engine", "workers", "torch threads", "tiles", "steady s (best)", "steady s (median)", "scenes/s",
              "vs local", "1-worker overhead", "end-to-end s")
    table = markdown_table(header, [
        (r["engine"], r["workers"], r["threads"], r["tiles"], r["steady_s"], r["median_steady_s"], r["scenes_per_s"],
         r["ratio_vs_local"], "" if r["overhead_pct"] is None else f"{r['overhead_pct']:+.1f} %", r["end_to_end_s"])
        for r in rows])
    print(table)
    if args.no_doc:
        return
    body = "\n".join([
        "## bench_scale: archive inference on Ray vs the local engine",
        "",
        f"`python scripts/bench_scale.py --scenes {args.scenes} --size {args.size} --device {args.device} "
        f"--workers {' '.join(map(str, args.workers))} --repeats {args.repeats}"
        f"{f' --threads {args.threads}' if args.threads else ''}` on {machine_description()}.",
        f"{args.scenes} synthetic scenes of {args.size} px, {weights_line}, the same for every engine. The engines "
        f"took turns {args.repeats} times (best and median shown); the Ray rows ran on a local Ray cluster already "
        "started, and their detections were checked equal in number to the local engine's, scene by scene.",
        "",
        table,
        "",
        "*steady s*: from the first scene started to the last file written, the model already loaded (local: "
        "`predict_scenes` given the loaded model; Ray: timestamps from the workers). *scenes/s*, *vs local* "
        "(scenes/s over the local engine's) and *1-worker overhead* (the Ray path's extra time with one worker; "
        "target <= 10 %) use the median run. "
        "*end-to-end s*: the whole call, including (Ray) starting the workers and loading the model in each, or "
        "(local) loading the model.",
        "",
        f"Load average (1 min) before the runs {load_before:.1f}, after {load_after:.1f}: above the machine's "
        f"{os.cpu_count()} cores other jobs share them, the runs vary by tens of percent, and a second worker gains "
        "only what the other jobs leave free.",
    ])
    write_section("bench_scale", body)


if __name__ == "__main__":
    main()
