"""Benchmark the synthetic scene generator: seconds per scene and peak memory, on one core.

Each configuration runs in its own child process pinned to one CPU (``sched_setaffinity``, one OpenCV thread), so
the peak resident memory reported is the generator's own (imports included, shown separately). Generation
(``generate_scene``) and writing (COG GeoTIFF with overviews + GeoJSON) are timed apart; the target is a
4096 x 4096 scene in <= 10 s and <= 1 GB.

    python scripts/bench_synth.py                 # 4096 px uint8 RGB and uint16 RGB+NIR, 3 seeds each
    python scripts/bench_synth.py --sizes 1024 --seeds 1 --no-doc
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_SECONDS = 10.0
TARGET_RSS_MB = 1024.0


def _child(args: argparse.Namespace) -> None:
    """Run one measurement and print it as JSON (this runs inside the pinned child process)."""
    import resource
    import time

    import cv2

    cv2.setNumThreads(1)
    from yardwatch.synth import generate_scene, write_geotiff, write_labels

    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    start_cpu, start = time.process_time(), time.perf_counter()
    scene = generate_scene(scene_size_px=args.size, gsd_m=args.gsd, seed=args.seed, dtype=args.dtype,
                           bands=args.bands)
    generate_s, generate_cpu_s = time.perf_counter() - start, time.process_time() - start_cpu
    with tempfile.TemporaryDirectory() as folder:
        start_cpu, start = time.process_time(), time.perf_counter()
        write_geotiff(Path(folder) / f"{scene.scene_id}.tif", scene)
        write_labels(Path(folder) / f"{scene.scene_id}.geojson", scene)
        write_s, write_cpu_s = time.perf_counter() - start, time.process_time() - start_cpu
    print(json.dumps({"generate_s": generate_s, "generate_cpu_s": generate_cpu_s, "write_s": write_s,
                      "write_cpu_s": write_cpu_s,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                      "baseline_rss_mb": baseline_mb, "objects": len(scene.objects)}))


GALLERY = Path(__file__).resolve().parents[1] / "docs" / "images" / "synth_gallery.png"
_LABEL_BGR = {"railcar": (0, 215, 255), "tarp": (255, 220, 0), "container": (255, 0, 230)}


def _bgr(scene) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(scene.image[:3], 0, 2)[..., ::-1])


def _crop_at(image, centre, size: tuple[int, int]):
    rows, cols = image.shape[:2]
    r0 = int(min(max(centre[1] - size[1] / 2, 0), rows - size[1]))
    c0 = int(min(max(centre[0] - size[0] / 2, 0), cols - size[0]))
    return image[r0:r0 + size[1], c0:c0 + size[0]].copy(), (c0, r0)


def _centre_of(scene, class_name: str) -> np.ndarray:
    points = [np.mean(o.corners_px, axis=0) for o in scene.objects if o.class_name == class_name]
    if not points:
        return np.array([scene.image.shape[2] / 2, scene.image.shape[1] / 2])
    points = np.array(points)
    # the densest spot: the object with the most others within 60 px
    counts = [(np.linalg.norm(points - p, axis=1) < 60).sum() for p in points]
    return points[int(np.argmax(counts))]


def _caption(image, text: str) -> None:
    import cv2

    # a dark halo drawn with the same stroke (a thicker stroke would also widen the letter spacing)
    for dx, dy in ((-1, -1), (-1, 1), (1, -1), (1, 1), (0, 2), (2, 0), (0, -2), (-2, 0)):
        cv2.putText(image, text, (8 + dx, 22 + dy), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(image, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)


def write_gallery(path: Path = GALLERY, seed: int = 21) -> Path:
    """A 1024 px wide picture of what the scenes look like: a 0.5 m crop with its labels drawn, and close-ups."""
    import cv2

    from yardwatch.synth import generate_scene

    summer = generate_scene(scene_size_px=2048, gsd_m=0.5, seed=seed, season="summer", clouds=False,
                            nodata_edges=False)
    image = _bgr(summer)
    railcars, containers = _centre_of(summer, "railcar"), _centre_of(summer, "container")
    # show the yard and the container pad together when they are close enough, else the yard
    centre = (railcars + containers) / 2 if np.all(np.abs(railcars - containers) < (700, 450)) else railcars
    clean, (c0, r0) = _crop_at(image, centre, (1024, 640))
    outlined = clean.copy()
    for obj in summer.objects:
        points = np.round((np.asarray(obj.corners_px) - (c0, r0)) * 16).astype(np.int32)
        cv2.polylines(outlined, [points], True, _LABEL_BGR[obj.class_name], 1, cv2.LINE_AA, shift=4)
    top = clean.copy()
    top[:, :512] = cv2.addWeighted(outlined[:, :512], 0.7, clean[:, :512], 0.3, 0.0)
    _caption(top, "0.5 m, summer; left: labels (railcar yellow, tarp cyan, container magenta)")
    tiles = []
    for name, scene_image, where in (("railcars x2", image, _centre_of(summer, "railcar")),
                                     ("containers x2", image, _centre_of(summer, "container"))):
        crop, _ = _crop_at(scene_image, where, (128, 128))
        tiles.append((name, cv2.resize(crop, (256, 256), interpolation=cv2.INTER_NEAREST)))
    winter = generate_scene(scene_size_px=1024, gsd_m=0.5, seed=seed + 1, season="winter", nodata_edges=False)
    crop, _ = _crop_at(_bgr(winter), _centre_of(winter, "railcar"), (256, 256))
    tiles.append(("winter, 0.5 m", crop))
    overview = cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA)
    tiles.append(("whole scene, 1 km", overview))
    row = []
    for name, tile in tiles:
        _caption(tile, name)
        row.append(tile)
    gallery = np.vstack([top, np.hstack(row)])
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), gallery, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return path


def _measure(size: int, bands: int, dtype: str, seed: int, gsd: float) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               GDAL_NUM_THREADS="1")
    command = [sys.executable, __file__, "--child", "--sizes", str(size), "--gsd", str(gsd), "--seed", str(seed),
               "--dtype", dtype, "--bands", str(bands)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench child failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    intro, _, details = __doc__.partition("\n\n")
    parser = argparse.ArgumentParser(description=intro, epilog=details,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096], help="scene sides in pixels")
    parser.add_argument("--seeds", type=int, default=3, help="scenes per configuration (seeds 0..N-1)")
    parser.add_argument("--gsd", type=float, default=0.5, help="pixel size in metres")
    parser.add_argument("--configs", nargs="+", default=["uint8:3", "uint16:4"],
                        help="dtype:bands pairs to measure")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--gallery", action="store_true",
                        help=f"only (re)draw the gallery image {GALLERY.relative_to(GALLERY.parents[2])}")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="uint8", help=argparse.SUPPRESS)
    parser.add_argument("--bands", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.size = args.sizes[0]
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        _child(args)
        return 0
    if args.gallery:
        print(write_gallery())
        return 0

    from _benchdoc import machine_description, markdown_table, write_section

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    load_before = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    rows = []
    for size in args.sizes:
        for config in args.configs:
            dtype, bands = config.split(":")
            runs = [_measure(size, int(bands), dtype, seed, args.gsd) for seed in range(args.seeds)]
            generate = [r["generate_s"] for r in runs]
            write = [r["write_s"] for r in runs]
            total = [g + w for g, w in zip(generate, write)]
            total_cpu = [r["generate_cpu_s"] + r["write_cpu_s"] for r in runs]
            peak = max(r["peak_rss_mb"] for r in runs)
            meets = max(total_cpu) <= TARGET_SECONDS and peak <= TARGET_RSS_MB
            rows.append([f"{size} x {size}", f"{dtype}, {bands} bands", f"{args.gsd:g}", len(runs),
                         round(mean([r["objects"] for r in runs])), mean(generate), mean(write), mean(total),
                         mean([r["generate_cpu_s"] for r in runs]), mean([r["write_cpu_s"] for r in runs]),
                         mean(total_cpu), max(total_cpu), peak, runs[0]["baseline_rss_mb"], "yes" if meets else "NO"])
            print(f"{size}px {dtype}x{bands}: generate {mean(generate):.2f} s + write {mean(write):.2f} s wall, "
                  f"{mean(total_cpu):.2f} s CPU (max {max(total_cpu):.2f}), peak RSS {peak:.0f} MB", flush=True)
    header = ["scene", "pixels", "GSD m", "scenes", "objects/scene", "generate s", "write s", "total s",
              "generate CPU s", "write CPU s", "total CPU s", "total CPU s (max)", "peak RSS MB",
              "RSS after imports MB", f"CPU <= {TARGET_SECONDS:g} s and RSS <= {TARGET_RSS_MB:g} MB"]
    table = markdown_table(header, rows)
    print(table)
    if not args.no_doc:
        body = (f"## Synthetic scenes (`scripts/bench_synth.py`)\n\n"
                f"Machine: {machine_description()}. Each scene is made in a child process pinned to one core "
                f"(one OpenCV thread); *generate* is `generate_scene` (plan, render, labels), *write* is the COG "
                f"GeoTIFF (DEFLATE, 512 px tiles, overviews) plus the GeoJSON labels. Peak RSS is the child's "
                f"maximum resident memory, imports included. Seeds 0..{args.seeds - 1}. Load average before the "
                f"runs: {load_before[0]:.1f} (1 min), {load_before[1]:.1f} (5 min) on {os.cpu_count()} cores shared "
                f"with other jobs. The child is single-threaded, so its CPU seconds are the time it takes on one "
                f"dedicated core; wall-clock seconds (means) grow with the machine's load. The target (<= "
                f"{TARGET_SECONDS:g} s, <= {TARGET_RSS_MB:g} MB on one core) is judged on the slowest scene's CPU "
                f"seconds.\n\n{table}\n")
        write_section("bench_synth", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
