#!/usr/bin/env python
"""Tarp recall on train_demo's held-out scenes, by where the tarp lies (on a railcar, on the ground) and its colour.

The generator knows each tarp's kind and paint; the labels do not. This script plans each held-out scene again
(``plan_scene``, the same arguments as ``scripts/train_demo.py``, no drawing), pairs every tarp label with its
planned tarp (nearest centre), and matches the tarp detections that ``train_demo`` wrote (``heldout/predictions``)
to the labels as ``yardwatch evaluate`` does (greedy by score, polygon IoU >= 0.5 in the scene CRS), at the tarp
counting threshold of the weights' model card (``count_conf``). It prints found / labels per group.

    python scripts/probe_tarp_recall.py --work-dir demo_out_winter --card src/yardwatch/assets/demo.model_card.json
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

COMMON = ("blue", "green")  # the natural mix's two commonest tarp colours (palette.TARP_COLOURS order below)
NAMES = ("blue", "green", "grey", "olive", "beige", "white", "orange")


def planned_tarps(group, index: int) -> list[tuple[float, float, str, str]]:
    """(x, y in the scene CRS, kind, colour name) of each tarp the generator places in one held-out scene."""
    from yardwatch.synth.palette import TARP_COLOURS
    from yardwatch.synth.plan import Counts
    from yardwatch.synth.scene import plan_scene

    _site, items, _exact, _shape, origin, _crs = plan_scene(
        scene_size_px=group.scene_size_px, gsd_m=group.gsd_m, seed=group.scene_seed(index),
        counts=Counts(tarps=group.tarps) if group.tarps else None)
    bases = np.array([rgb for _, rgb in TARP_COLOURS])
    out = []
    for item in items:
        if item.label != "tarp":
            continue
        colour = NAMES[int(np.abs(bases - np.asarray(item.colour)).sum(axis=1).argmin())]
        where = "on a railcar" if item.kind == "tarp_load" else "on the ground"
        out.append((origin[0] + item.centre_m[0], origin[1] - item.centre_m[1], where, colour))
    return out


def matched_labels(labels: list, detections: list[tuple[float, object]], min_iou: float = 0.5) -> set[int]:
    """Indices of the labels that a detection matches: yardwatch evaluate's greedy COCO matching (highest score
    first) on polygon IoU."""
    from yardwatch.eval.cocoeval import greedy_match
    from yardwatch.eval.iou import polygon_iou_matrix

    ordered = sorted(detections, key=lambda d: -d[0])
    ious = polygon_iou_matrix(np.array([d[1] for d in ordered], dtype=object), np.array(labels, dtype=object))
    no_flags = np.zeros(len(labels), dtype=bool)
    _, gt_match = greedy_match(ious, [min_iou], no_flags, no_flags)
    return {int(j) for j in np.flatnonzero(gt_match[0] >= 0)}


def main(argv: list[str] | None = None) -> int:
    import geopandas as gpd

    from train_demo import HELDOUT_GROUPS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, required=True, help="a train_demo work dir (its heldout/ folder)")
    parser.add_argument("--card", type=Path, required=True, help="model card of the weights that made the predictions")
    args = parser.parse_args(argv)
    threshold = json.loads(args.card.read_text())["metrics"]["per_class"]["tarp"]["count_conf"]
    heldout = args.work_dir / "heldout"
    found: collections.Counter = collections.Counter()
    total: collections.Counter = collections.Counter()
    for group in HELDOUT_GROUPS:
        for index in range(group.n_scenes):
            scene_id = f"{group.name}_{index:02d}"
            labels = gpd.read_file(heldout / "labels_all" / f"{scene_id}.geojson")
            preds = gpd.read_file(heldout / "predictions" / f"{scene_id}.geojson").to_crs(labels.crs)
            tarps = [g for g, c in zip(labels.geometry, labels["class"]) if c == "tarp"]
            plan = planned_tarps(group, index)
            dets = [(s, g) for s, g, c in zip(preds["score"], preds.geometry, preds["class_name"])
                    if c == "tarp" and s >= threshold]
            hit = matched_labels(tarps, dets)
            for j, poly in enumerate(tarps):
                c = poly.centroid
                x, y, where, colour = min(plan, key=lambda p: (p[0] - c.x) ** 2 + (p[1] - c.y) ** 2)
                family = "blue/green" if colour in COMMON else "other colours"
                for key in ((where, family), ("all", family), (where, "all"), ("all", "all"), ("colour", colour)):
                    total[key] += 1
                    found[key] += j in hit
    print(f"tarp labels found at the counting threshold {threshold} (IoU >= 0.5), {args.work_dir}:")
    print("| where | colour | found / labels | recall |\n|---|---|---|---|")
    for key in sorted(total, key=lambda k: (k[0] == "colour", k[0] == "all", k[0], k[1] == "all", k[1])):
        print(f"| {key[0]} | {key[1]} | {found[key]} / {total[key]} | {found[key] / total[key]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
