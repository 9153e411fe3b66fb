#!/usr/bin/env python
"""How many training objects a YOLO head can learn at all: the share with no anchor point of the finest level inside.

ultralytics' task-aligned assigner only gives an object to anchor points (the centres of the stride-8 grid cells,
for the finest level) that lie inside its box; an object with none is never a positive sample, so it cannot be
learned and caps recall. This reads a YOLO-OBB label folder (tiles of ``--tile-px``) made at ``--label-gsd`` m and
reports, per class, the share of objects without an anchor inside when the same objects are drawn at each
ground resolution of ``--gsd`` (scaled by label-gsd / gsd, at a random sub-cell offset, seeded).

Example::

    python scripts/probe_anchor_coverage.py demo_out/train/tiles/labels/train --label-gsd 0.5 --gsd 0.5 0.4 0.35 0.3
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def read_obb_labels(folder: Path, tile_px: int) -> list[tuple[int, np.ndarray]]:
    """``(class id, (4, 2) corners in px)`` for every line of every ``*.txt`` in ``folder``."""
    objects = []
    for path in sorted(folder.glob("*.txt")):
        for line in path.read_text().splitlines():
            values = line.split()
            if len(values) == 9:
                objects.append((int(values[0]), np.asarray(values[1:], float).reshape(4, 2) * tile_px))
    return objects


def anchorless_share(objects: list[tuple[int, np.ndarray]], scale: float, stride: int = 8,
                     seed: int = 0) -> dict[int, float]:
    """Per class, the share of objects (scaled by ``scale``) with no stride-grid cell centre inside."""
    from matplotlib.path import Path as Polygon

    rng = np.random.default_rng(seed)
    missing: dict[int, int] = {}
    total: dict[int, int] = {}
    for class_id, corners in objects:
        pts = corners * scale + rng.uniform(0, stride, 2)
        lo = np.floor(pts.min(0) / stride) * stride + stride / 2
        xs = np.arange(lo[0], pts.max(0)[0] + 1e-9, stride)
        ys = np.arange(lo[1], pts.max(0)[1] + 1e-9, stride)
        grid = np.array([(x, y) for x in xs for y in ys]).reshape(-1, 2)
        inside = bool(len(grid)) and bool(Polygon(pts).contains_points(grid).any())
        total[class_id] = total.get(class_id, 0) + 1
        missing[class_id] = missing.get(class_id, 0) + (not inside)
    return {k: missing[k] / total[k] for k in sorted(total)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("labels", type=Path, help="a YOLO-OBB labels folder (one .txt per tile)")
    parser.add_argument("--tile-px", type=int, default=320, help="tile size the labels are normalised by")
    parser.add_argument("--label-gsd", type=float, required=True, help="ground resolution of those tiles, m")
    parser.add_argument("--gsd", type=float, nargs="+", required=True, help="resolutions to check, m")
    parser.add_argument("--names", nargs="+", default=["railcar", "tarp", "container"], help="class names")
    args = parser.parse_args()
    objects = read_obb_labels(args.labels, args.tile_px)
    print(f"{len(objects)} objects; share without a stride-8 anchor inside:")
    print("gsd m  " + "".join(f"{n:>11}" for n in args.names))
    for gsd in args.gsd:
        share = anchorless_share(objects, args.label_gsd / gsd)
        print(f"{gsd:<7g}" + "".join(f"{share.get(i, float('nan')):>11.3f}" for i in range(len(args.names))))


if __name__ == "__main__":
    main()
