#!/usr/bin/env python
"""Tiling throughput: ``yardwatch tile`` (imagery part) against reading the same scene once in full with rasterio.

A synthetic 3-band uint8 scene (512x512 internal tiles, DEFLATE, random but compressible: smooth fields, noise,
rails) is generated once per size and cached in a temporary folder. Each measurement runs in its own Python
process, so its peak RSS (``ru_maxrss``) is its own: a plain ``src.read()`` of the whole scene, and
``tile_scenes`` writing every 640 px tile (64 px overlap) as PNG with an empty label file (no labels: the
imagery part). MB/s counts the scene's decoded bytes over wall time, for both. Targets (issue 3): tiling at >= 50 %
of the full-read rate, peak RSS < 1 GB and flat as the scene grows (8k vs 16k within 10 %).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

BLOCK_PX = 512


def scene_path(cache: Path, size: int) -> Path:
    return cache / f"bench_scene_{size}.tif"


def make_scene(path: Path, size: int, seed: int = 0) -> Path:
    """Write a ``size`` x ``size`` 3-band uint8 tiled DEFLATE GeoTIFF, one 512-row strip at a time."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    # A coarse random field (one value per 64 px), upsampled: smooth ground cover that DEFLATE compresses.
    coarse = rng.integers(40, 200, size=(3, size // 64 + 2, size // 64 + 2)).astype(np.float32)
    profile = dict(driver="GTiff", width=size, height=size, count=3, dtype="uint8", crs="EPSG:32652",
                   transform=from_origin(350000.0, 4700000.0, 0.5, 0.5), tiled=True, blockxsize=BLOCK_PX,
                   blockysize=BLOCK_PX, compress="deflate", interleave="pixel")
    tmp = path.with_suffix(".partial.tif")
    cols = np.arange(size) / 64.0
    with rasterio.open(tmp, "w", **profile) as dst:
        for row0 in range(0, size, BLOCK_PX):
            rows = np.arange(row0, min(size, row0 + BLOCK_PX)) / 64.0
            r_lo, c_lo = rows.astype(int), cols.astype(int)
            fr, fc = (rows - r_lo)[None, :, None], (cols - c_lo)[None, None, :]
            field = (coarse[:, r_lo][:, :, c_lo] * (1 - fr) * (1 - fc) + coarse[:, r_lo + 1][:, :, c_lo] * fr * (1 - fc)
                     + coarse[:, r_lo][:, :, c_lo + 1] * (1 - fr) * fc
                     + coarse[:, r_lo + 1][:, :, c_lo + 1] * fr * fc)
            noise = rng.integers(0, 8, size=field.shape, dtype=np.uint8)
            strip = (field.astype(np.uint8) // 4 * 4) + noise
            rails = (np.arange(row0, row0 + strip.shape[1]) % 37) < 2  # thin bright lines every 37 rows
            strip[:, rails, :] = 230
            dst.write(strip, window=Window(0, row0, size, strip.shape[1]))
    tmp.rename(path)
    return path


def child(kind: str, scene: Path, out: Path | None, workers: int, png_compression: int) -> dict:
    """One measurement (runs in a fresh process): wall seconds and peak RSS."""
    import rasterio

    from yardwatch.tiling import SplitRatios, TilingOptions, tile_scenes

    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    start = time.perf_counter()
    if kind == "read":
        with rasterio.open(scene) as src:
            data = src.read()
        nbytes = data.nbytes
        del data
    else:
        options = TilingOptions(tile_size_px=640, overlap_px=64, negative_ratio=None, workers=workers,
                                split=SplitRatios(1.0, 0.0, 0.0), png_compression=png_compression)
        summary = tile_scenes(scene, out, options=options, overwrite=True)
        with rasterio.open(scene) as src:
            nbytes = src.width * src.height * src.count
        nbytes = nbytes if summary.n_tiles["train"] else 0
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads of this process: GDAL, encoders, Python
    return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu_before, "bytes": nbytes,
            "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's ``VmHWM`` belongs to the process image, unlike ``ru_maxrss``,
    which survives ``exec`` and so would report the parent's peak at ``fork`` time."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(kind: str, scene: Path, out: Path, workers: int, png_compression: int = 0) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--scene", str(scene), "--out", str(out),
               "--workers", str(workers), "--png-compression", str(png_compression)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{kind} on {scene.name} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8192, 16384], help="scene sides in px")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "yardwatch_bench_tile",
                        help="folder for the generated scenes (kept between runs)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each measurement; the fastest is kept")
    parser.add_argument("--workers", type=int, default=1, help="tile_scenes workers (one scene: 1 suffices)")
    parser.add_argument("--png-levels", type=int, nargs="+", default=[0, 1],
                        help="PNG compression levels to tile with (0 is the default of `yardwatch tile`)")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--child", choices=("read", "tile"), help=argparse.SUPPRESS)
    parser.add_argument("--scene", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--png-compression", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.child:
        print(json.dumps(child(args.child, args.scene, args.out, args.workers, args.png_compression)))
        return 0
    from _benchdoc import machine_description, markdown_table, write_section

    args.cache.mkdir(parents=True, exist_ok=True)
    kinds = [("read", 0)] + [("tile", level) for level in args.png_levels]
    rows, rss, loads = [], {}, []
    for size in args.sizes:
        started = time.perf_counter()
        scene = make_scene(scene_path(args.cache, size), size)
        loads.append(os.getloadavg()[0])
        print(f"scene {size}x{size}: {scene} ({scene.stat().st_size / 1e6:.0f} MB on disk, "
              f"{time.perf_counter() - started:.0f} s to make or find)", flush=True)
        best: dict[tuple[str, int], dict] = {}
        for repeat in range(args.repeats):
            for kind, level in kinds:
                out = Path(tempfile.mkdtemp(prefix="bench_tile_out_", dir=args.cache)) / "dataset"
                try:
                    result = measure(kind, scene, out, args.workers, level)
                finally:
                    shutil.rmtree(out.parent, ignore_errors=True)
                name = kind if kind == "read" else f"tile png {level}"
                print(f"  repeat {repeat}: {name:<10} {result['seconds']:.1f} s, "
                      f"{result['bytes'] / 1e6 / result['seconds']:.0f} MB/s, peak RSS {result['peak_rss_mb']:.0f} MB",
                      flush=True)
                key = (kind, level)
                peak = max(result["peak_rss_mb"], best.get(key, {}).get("peak_rss_mb", 0.0))
                if key not in best or result["seconds"] < best[key]["seconds"]:
                    best[key] = result
                best[key] = {**best[key], "peak_rss_mb": peak}
        read = best[("read", 0)]
        mb = read["bytes"] / 1e6
        read_rate = mb / read["seconds"]
        rows.append((f"{size}x{size}", "full read (`src.read()`)", round(mb), round(read["seconds"], 1),
                     round(read_rate), "100%", round(read["cpu_seconds"], 1), "100%", round(read["peak_rss_mb"])))
        for kind, level in kinds[1:]:
            tile = best[(kind, level)]
            rate = mb / tile["seconds"]
            rss[(size, level)] = tile["peak_rss_mb"]
            rows.append((f"{size}x{size}", f"tile, png_compression={level}", round(mb), round(tile["seconds"], 1),
                         round(rate), f"{rate / read_rate:.0%}", round(tile["cpu_seconds"], 1),
                         f"{read['cpu_seconds'] / tile['cpu_seconds']:.0%}", round(tile["peak_rss_mb"])))
    table = markdown_table(["scene px", "run", "MB decoded", "wall s", "MB/s", "rate vs full read", "CPU s",
                            "rate per CPU-s vs full read", "peak RSS MB"], rows)
    lines = [table, ""]
    if len(args.sizes) >= 2:
        small, large = min(args.sizes), max(args.sizes)
        for level in args.png_levels:
            change = rss[(large, level)] / rss[(small, level)] - 1
            lines.append(f"Tile peak RSS, png_compression={level}: {large} px vs {small} px {change:+.1%}.")
    lines.append("Targets: tile >= 50 % of the full-read MB/s; peak RSS < 1 GB and within 10 % from 8k to 16k. "
                 f"Load average before the runs: {', '.join(f'{v:.1f}' for v in loads)} (2 cores are idle at 0; "
                 "above 2 other jobs share them and wall-clock rates drop; CPU seconds count all threads).")
    print("\n".join(lines))
    if not args.no_docs:
        command = "python scripts/bench_tile.py " + " ".join(sys.argv[1:] if argv is None else argv)
        write_section("bench_tile", "\n".join([
            "## bench_tile: `yardwatch tile` imagery throughput and memory (`scripts/bench_tile.py`)",
            "",
            f"Machine: {machine_description()} (shared with other jobs). Command: `{command.strip()}`",
            "",
            "Synthetic 3-band uint8 scene, 512 px internal tiles, DEFLATE; `tile_scenes` with 640 px tiles, 64 px "
            "overlap, no labels (every tile written as PNG), one worker; against `src.read()` of the whole "
            f"scene. Each run in its own process; best of {args.repeats} for time, largest peak RSS seen. "
            "png_compression=0 is the default of `yardwatch tile`.",
            "",
            *lines,
        ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
