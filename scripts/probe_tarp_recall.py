#!/usr/bin/env python
"""Tarp recall on train_demo's held-out scenes, by where the tarp lies (on a railcar, on the ground) and its colour.

The generator knows each tarp's kind and paint; the labels do not. This script plans each held-out scene again
(``plan_scene``, the same arguments as ``scripts/train_demo.py``, no drawing), pairs every tarp label with its
planned tarp (nearest centre), and matches the tarp detections that ``train_demo`` wrote (``heldout/predictions``)
to the labels as ``yardwatch evaluate`` does (greedy by score, polygon IoU >= 0.5 in the scene CRS), at the tarp
counting threshold of the weights' model card (``count_conf``). It prints found / labels per group.

It then says why tarps are missed and what the false ones are. A missed tarp either has a tarp box at IoU >= 0.5
that scores under the threshold (the place is found, the class not trusted) or none at all. A false tarp (over the
threshold, matched to no label) is a second box on a real tarp where it overlaps a tarp label at IoU >= 0.3;
otherwise it is named by the planned thing it covers most of (a tank car, a tree, ...; ``bare ground`` where no
planned thing covers a fifth of it), with how many of those things the scenes hold and the false tarps per 100 of
them. Last, it sets the railcar labels per tarp label of the held-out scenes beside those of the validation tiles
(the model card's instances): the rarer tarps are among wagons, the more the same false alarms per wagon cost.

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


def planned_items(group, index: int) -> tuple[list, tuple[float, float]]:
    """The items the generator places in one held-out scene and the scene's origin (x, y of its top-left corner in
    the scene CRS; item coordinates are metres right and down from it)."""
    from yardwatch.synth.plan import Counts
    from yardwatch.synth.scene import plan_scene

    _site, items, _exact, _shape, origin, _crs = plan_scene(
        scene_size_px=group.scene_size_px, gsd_m=group.gsd_m, seed=group.scene_seed(index),
        counts=Counts(tarps=group.tarps) if group.tarps else None)
    return items, origin


def item_polygon(item, origin: tuple[float, float]):
    """A planned item's footprint in the scene CRS (a north-up scene: y grows up, the plan's rows grow down)."""
    from shapely.geometry import Polygon

    corners = item.corners()
    return Polygon(np.column_stack([origin[0] + corners[:, 0], origin[1] - corners[:, 1]]))


def scene_footprint(group, origin: tuple[float, float]):
    """The ground a held-out scene covers in its CRS (``origin`` its top-left corner, as :func:`planned_items`)."""
    from shapely.geometry import box

    side = group.scene_size_px * group.gsd_m
    return box(origin[0], origin[1] - side, origin[0] + side, origin[1])


def item_name(item) -> str:
    """What a planned item is, for a person: its kind, with a flatcar's load (timber, pipes) where it has one."""
    return f"{item.kind} ({item.style})" if item.style not in ("", "none") else item.kind


def planned_tarps(items: list, origin: tuple[float, float]) -> list[tuple[float, float, str, str]]:
    """(x, y in the scene CRS, kind, colour name) of each tarp among a held-out scene's planned ``items``
    (:func:`planned_items`)."""
    from yardwatch.synth.palette import TARP_COLOURS

    bases = np.array([rgb for _, rgb in TARP_COLOURS])
    out = []
    for item in items:
        if item.label != "tarp":
            continue
        colour = NAMES[int(np.abs(bases - np.asarray(item.colour)).sum(axis=1).argmin())]
        where = "on a railcar" if item.kind == "tarp_load" else "on the ground"
        out.append((origin[0] + item.centre_m[0], origin[1] - item.centre_m[1], where, colour))
    return out


def _greedy(labels: list, detections: list[tuple[float, object]],
            min_iou: float) -> tuple[list, np.ndarray, np.ndarray]:
    """yardwatch evaluate's greedy COCO matching (highest score first) on polygon IoU: the detections by descending
    score, each one's matched label index (or -1) and each label's matched detection index (or -1)."""
    from yardwatch.eval.cocoeval import greedy_match
    from yardwatch.eval.iou import polygon_iou_matrix

    ordered = sorted(detections, key=lambda d: -d[0])
    if not labels or not ordered:
        return ordered, np.full(len(ordered), -1), np.full(len(labels), -1)
    ious = polygon_iou_matrix(np.array([d[1] for d in ordered], dtype=object), np.array(labels, dtype=object))
    no_flags = np.zeros(len(labels), dtype=bool)
    dt_match, gt_match = greedy_match(ious, [min_iou], no_flags, no_flags)
    return ordered, dt_match[0], gt_match[0]


def matched_labels(labels: list, detections: list[tuple[float, object]], min_iou: float = 0.5) -> set[int]:
    """Indices of the labels that a detection matches (:func:`_greedy`)."""
    _, _, gt_match = _greedy(labels, detections, min_iou)
    return {int(j) for j in np.flatnonzero(gt_match >= 0)}


def unmatched_detections(labels: list, detections: list[tuple[float, object]], min_iou: float = 0.5) -> list:
    """The boxes of the detections that match no label (:func:`_greedy`)."""
    ordered, dt_match, _ = _greedy(labels, detections, min_iou)
    return [d[1] for d, m in zip(ordered, dt_match) if m < 0]


def miss_reason(label, detections: list[tuple[float, object]], threshold: float, min_iou: float = 0.5) -> str:
    """Why a tarp label went unmatched: the best score of a tarp box at IoU >= ``min_iou`` with it, binned."""
    from yardwatch.eval.iou import polygon_iou_matrix

    if not detections:
        return "no tarp box at IoU >= 0.5"
    ious = polygon_iou_matrix(np.array([d[1] for d in detections], dtype=object), np.array([label], dtype=object))
    scores = [d[0] for d, iou in zip(detections, ious[:, 0]) if iou >= min_iou]
    if not scores:
        return "no tarp box at IoU >= 0.5"
    best = max(scores)
    if best >= threshold:
        return "a box over the threshold, taken by another label"
    return "a box at IoU >= 0.5 scoring under 0.1" if best < 0.1 else f"a box at IoU >= 0.5 scoring 0.1 to {threshold}"


def false_tarp_site(box, tarp_labels: list, things: list[tuple[str, object]], duplicate_iou: float = 0.3,
                    min_cover: float = 0.2) -> str:
    """What a false tarp box lies on: ``duplicate of a real tarp`` where it overlaps a tarp label at IoU >=
    ``duplicate_iou``, else the name of the planned thing (``things``: (name, footprint)) covering most of it, else
    ``bare ground`` (no thing covers ``min_cover`` of its area)."""
    from yardwatch.eval.iou import polygon_iou_matrix

    if tarp_labels:
        ious = polygon_iou_matrix(np.array([box], dtype=object), np.array(tarp_labels, dtype=object))
        if ious.max() >= duplicate_iou:
            return "duplicate of a real tarp"
    area = box.area
    best_name, best_cover = "bare ground", min_cover
    for name, footprint in things:
        if not footprint.intersects(box):
            continue
        cover = footprint.intersection(box).area / area
        if cover >= best_cover:
            best_name, best_cover = name, cover
    return best_name


def _print_counts(title: str, counts: collections.Counter, of: collections.Counter | None = None) -> None:
    """A markdown table of ``counts``, most first; with ``of`` (how many of each thing the scenes hold) a column of
    each count per 100 of those things, blank where the scenes plan none (bare ground, a duplicate)."""
    header, rule, tail = "| what | count |", "|---|---|", ""
    if of is not None:
        header, rule, tail = header + " of them in the scenes | per 100 |", rule + "---|---|", " | |"
    print(f"\n{title}:\n{header}\n{rule}")
    for name, count in counts.most_common():
        extra = ""
        if of is not None:
            rate = f"{100 * count / of[name]:.1f}" if of.get(name) else ""
            extra = f" {of.get(name, '')} | {rate} |"
        print(f"| {name} | {count} |{extra}")
    print(f"| all | {sum(counts.values())} |{tail}")


def base_rate_line(heldout: dict[str, int], validation: dict[str, int]) -> str:
    """How many railcar labels stand beside each tarp label on the held-out scenes and on the validation tiles (the
    model card's instances): where tarps are rarer among the wagons, the same false alarms per wagon cost more
    precision, and AP with it."""
    def per_tarp(counts: dict[str, int]) -> str:
        return f"{counts.get('railcar', 0) / counts['tarp']:.1f}" if counts.get("tarp") else "n/a"

    return (f"railcar labels per tarp label: held-out scenes {per_tarp(heldout)} "
            f"({heldout.get('railcar', 0)} / {heldout.get('tarp', 0)}), validation tiles {per_tarp(validation)} "
            f"({validation.get('railcar', 0)} / {validation.get('tarp', 0)})")


def main(argv: list[str] | None = None) -> int:
    import geopandas as gpd

    from train_demo import HELDOUT_GROUPS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, required=True, help="a train_demo work dir (its heldout/ folder)")
    parser.add_argument("--card", type=Path, required=True, help="model card of the weights that made the predictions")
    args = parser.parse_args(argv)
    per_class = json.loads(args.card.read_text())["metrics"]["per_class"]
    threshold = per_class["tarp"]["count_conf"]
    heldout = args.work_dir / "heldout"
    found: collections.Counter = collections.Counter()
    total: collections.Counter = collections.Counter()
    misses: collections.Counter = collections.Counter()
    false_sites: collections.Counter = collections.Counter()
    planned_things: collections.Counter = collections.Counter()
    label_counts: collections.Counter = collections.Counter()
    for group in HELDOUT_GROUPS:
        for index in range(group.n_scenes):
            scene_id = f"{group.name}_{index:02d}"
            labels = gpd.read_file(heldout / "labels_all" / f"{scene_id}.geojson")
            preds = gpd.read_file(heldout / "predictions" / f"{scene_id}.geojson").to_crs(labels.crs)
            tarps = [g for g, c in zip(labels.geometry, labels["class"]) if c == "tarp"]
            all_dets = [(s, g) for s, g, c in zip(preds["score"], preds.geometry, preds["class_name"]) if c == "tarp"]
            dets = [(s, g) for s, g in all_dets if s >= threshold]
            hit = matched_labels(tarps, dets)
            items, origin = planned_items(group, index)
            plan = planned_tarps(items, origin)
            things = [(item_name(i), item_polygon(i, origin)) for i in items if i.label != "tarp"]
            footprint = scene_footprint(group, origin)
            planned_things.update(name for name, poly in things if poly.intersects(footprint))
            label_counts.update(labels["class"])
            for j, poly in enumerate(tarps):
                if j not in hit:
                    misses[miss_reason(poly, all_dets, threshold)] += 1
            for box in unmatched_detections(tarps, dets):
                false_sites[false_tarp_site(box, tarps, things)] += 1
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
    _print_counts(f"missed tarps, by the best tarp box on them (threshold {threshold})", misses)
    _print_counts(f"false tarps (score >= {threshold}, matched to no label), by what they lie on", false_sites,
                  of=planned_things)
    print("\n" + base_rate_line(dict(label_counts),
                                 {name: int(v.get("instances", 0)) for name, v in per_class.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
