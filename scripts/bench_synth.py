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
        start = time.perf_counter()
        write_geotiff(Path(folder) / f"{scene.scene_id}.tif", scene)
        write_labels(Path(folder) / f"{scene.scene_id}.geojson", scene)
        write_s = time.perf_counter() - start
    print(json.dumps({"generate_s": generate_s, "generate_cpu_s": generate_cpu_s, "write_s": write_s,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                      "baseline_rss_mb": baseline_mb, "objects": len(scene.objects)}))


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

    from _benchdoc import machine_description, markdown_table, write_section

    rows = []
    for size in args.sizes:
        for config in args.configs:
            dtype, bands = config.split(":")
            runs = [_measure(size, int(bands), dtype, seed, args.gsd) for seed in range(args.seeds)]
            generate = [r["generate_s"] for r in runs]
            total = [r["generate_s"] + r["write_s"] for r in runs]
            peak = max(r["peak_rss_mb"] for r in runs)
            rows.append([f"{size} x {size}", f"{dtype}, {bands} bands", f"{args.gsd:g}", len(runs),
                         round(sum(r["objects"] for r in runs) / len(runs)),
                         sum(generate) / len(runs), max(generate),
                         sum(r["generate_cpu_s"] for r in runs) / len(runs), sum(r["write_s"] for r in runs) / len(runs),
                         sum(total) / len(runs), max(total), peak, runs[0]["baseline_rss_mb"],
                         "yes" if max(total) <= TARGET_SECONDS and peak <= TARGET_RSS_MB else "NO"])
            print(f"{size}px {dtype}x{bands}: generate {sum(generate) / len(runs):.2f} s (max {max(generate):.2f}),"
                  f" + write {rows[-1][8]:.2f} s, peak RSS {peak:.0f} MB", flush=True)
    header = ["scene", "pixels", "GSD m", "scenes", "objects/scene", "generate s (mean)", "generate s (max)",
              "generate CPU s (mean)", "write s (mean)", "total s (mean)", "total s (max)", "peak RSS MB", "RSS after imports MB",
              f"<= {TARGET_SECONDS:g} s and <= {TARGET_RSS_MB:g} MB"]
    table = markdown_table(header, rows)
    print(table)
    if not args.no_doc:
        body = (f"## Synthetic scenes (`scripts/bench_synth.py`)\n\n"
                f"Machine: {machine_description()}. Each scene is made in a child process pinned to one core "
                f"(one OpenCV thread); *generate* is `generate_scene` (plan, render, labels), *write* is the COG "
                f"GeoTIFF (DEFLATE, 512 px tiles, overviews) plus the GeoJSON labels. Peak RSS is the child's "
                f"maximum resident memory, imports included. Seeds 0..{args.seeds - 1}.\n\n{table}\n")
        write_section("bench_synth", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
