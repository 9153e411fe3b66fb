#!/usr/bin/env python
"""Draw the README's pictures from real runs of yardwatch (no hand-made images).

1. ``docs/images/demo_detections.png``: the bundled demo weights on the generated demo scene (the same one
   ``yardwatch predict`` makes with no arguments), a full-resolution crop over the rail yard with detections drawn.
2. ``docs/images/counts_over_time.png``: the counts plot of the border-crossing demo
   (``scripts/demo_border_crossing.py``: synth series -> predict -> count), copied from its output.

Example::

    python scripts/make_readme_figures.py                 # both pictures (about 3 min on 2 CPU cores)
    python scripts/make_readme_figures.py --skip-counts   # only the detections picture
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "docs" / "images"


def detections_figure(work: Path, crop_px: int) -> Path:
    """Predict on the demo scene and draw the densest ``crop_px`` window at full resolution."""
    import geopandas as gpd

    from yardwatch.cli.predict import demo_scene
    from yardwatch.infer.quicklook import write_quicklook
    from yardwatch.io.raster import find_scenes

    out = work / "predict"
    subprocess.run(["yardwatch", "predict", f"out_dir={out}", "progress=false", "overwrite=true"], check=True)
    scene = find_scenes(demo_scene(out))[0]
    frame = gpd.read_file(out / f"{scene.scene_id}.geojson")
    obb = frame[["cx_px", "cy_px", "w_px", "h_px", "angle_rad"]].to_numpy()
    classes = frame["class_id"].to_numpy()
    # The window holding the most detections (railcars, tarps and containers all count).
    best, origin = -1, (0, 0)
    import rasterio

    with rasterio.open(scene.path) as src:
        width, height = src.width, src.height
    for col in range(0, max(1, width - crop_px + 1), crop_px // 4):
        for row in range(0, max(1, height - crop_px + 1), crop_px // 4):
            inside = ((obb[:, 0] >= col) & (obb[:, 0] < col + crop_px) & (obb[:, 1] >= row)
                      & (obb[:, 1] < row + crop_px)).sum() if len(obb) else 0
            if inside > best:
                best, origin = int(inside), (col, row)
    IMAGES.mkdir(parents=True, exist_ok=True)
    target = IMAGES / "demo_detections.png"
    write_quicklook(scene.path, obb, classes, target, class_names=("railcar", "tarp", "container"),
                    max_side_px=crop_px, window_px=(origin[0], origin[1], crop_px, crop_px))
    print(f"{target}: {best} detections in the {crop_px} px window at {origin} ({len(obb)} in the scene)")
    return target


def counts_figure(work: Path) -> Path:
    """Run the border-crossing demo and copy its per-site counts plot."""
    out = work / "border_crossing"
    subprocess.run([sys.executable, str(REPO / "scripts" / "demo_border_crossing.py"), "--out-dir", str(out)],
                   check=False)
    plots = sorted((out / "counts").glob("*_counts.png"))
    if not plots:
        raise SystemExit(f"the border-crossing demo wrote no counts plot under {out / 'counts'}")
    target = IMAGES / "counts_over_time.png"
    shutil.copy(plots[0], target)
    print(f"{target}: from {plots[0]}")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--work", type=Path, default=Path("/tmp/yardwatch_readme_figures"), help="scratch folder")
    parser.add_argument("--crop-px", type=int, default=768, help="side of the detections crop in scene px")
    parser.add_argument("--skip-counts", action="store_true", help="only draw the detections picture")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    detections_figure(args.work, args.crop_px)
    if not args.skip_counts:
        counts_figure(args.work)


if __name__ == "__main__":
    main()
