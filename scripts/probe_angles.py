#!/usr/bin/env python
"""Heading errors of oriented-box detections on train_demo's held-out scenes, by how near a label's heading lies to
-45 degrees (the ends of the YOLOv8/YOLO11 head's angle range [-pi/4, 3pi/4), where its sigmoid saturates).

For every detection at or above its class's counting threshold (the model card's per-class ``count_conf``) in
``<work-dir>/heldout/predictions`` the nearest label of its class is found (centre within half the label's length);
the heading error is the angle between the two long axes (0-90 degrees). Labels are binned by the distance of their
long axis from -45 degrees; per bin the script prints the detections paired with such labels, the share more than
20 degrees off, and the labels with no detection within 10 degrees (missed headings). Detections that pair with no
label are counted apart. Compare two sets of weights by running train_demo's scene evaluation for each.

    python scripts/probe_angles.py --work-dir demo_out_periodic --card demo_out_periodic/run/model_card.json

``--flips h03_u16_winter_00 --weights W`` also runs the weights on that scene's held-out tiles as tiled, turned by
90 degrees and mirrored, and counts the detections more than 20 degrees off their label's heading in each: the
same cars at other headings separate a heading weakness of the network from hard imagery.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

BINS_DEG = (0, 5, 10, 20, 30, 45, 60, 70, 80, 85, 91)


def _heading_deg(obb: np.ndarray) -> np.ndarray:
    """Direction of each box's long axis in [0, 180) degrees."""
    angle = np.where(obb[:, 2] >= obb[:, 3], obb[:, 4], obb[:, 4] + np.pi / 2)
    return np.degrees(np.mod(angle, np.pi))


def _axis_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(np.mod(a - b, 180.0))
    return np.minimum(d, 180.0 - d)


def scene_pairs(predictions: Path, labels: Path, thresholds: dict[str, float]
                ) -> tuple[list[tuple[float, float]], list[tuple[float, bool]], int]:
    """(label distance from -45 deg, heading error) per paired detection; (distance, missed) per label; unpaired."""
    import geopandas as gpd
    import rasterio

    from yardwatch.geo.obb import polygons_to_obb

    dets = gpd.read_file(predictions)
    gt = gpd.read_file(labels)
    pairs, per_label, unpaired = [], [], 0
    with rasterio.open(_scene_path(predictions, labels)) as src:
        inverse = ~src.transform
    for name, threshold in thresholds.items():
        d = dets[(dets["class_name"] == name) & (dets["score"] >= threshold)]
        g = gt[gt["class"] == name]
        if not len(g):
            unpaired += len(d)
            continue
        polys_px = [_to_px(geom, inverse) for geom in g.geometry]
        g_obb = polygons_to_obb(polys_px)
        g_head = _heading_deg(g_obb)
        g_dist = _axis_diff(g_head, np.full_like(g_head, 135.0))  # -45 deg == 135 deg as an axis
        d_obb = d[["cx_px", "cy_px", "w_px", "h_px", "angle_rad"]].to_numpy(dtype=float)
        d_head = _heading_deg(d_obb) if len(d_obb) else np.zeros(0)
        best_err = np.full(len(g_obb), 90.0)
        for k in range(len(d_obb)):
            dist = np.hypot(g_obb[:, 0] - d_obb[k, 0], g_obb[:, 1] - d_obb[k, 1])
            j = int(dist.argmin())
            if dist[j] > 0.5 * max(g_obb[j, 2], g_obb[j, 3]):
                unpaired += 1
                continue
            err = float(_axis_diff(d_head[k:k + 1], g_head[j:j + 1])[0])
            pairs.append((float(g_dist[j]), err))
            best_err[j] = min(best_err[j], err)
        per_label.extend((float(dist), bool(err > 10.0)) for dist, err in zip(g_dist, best_err))
    return pairs, per_label, unpaired


def _to_px(geom, inverse):
    from shapely.geometry import Polygon

    return Polygon([inverse * xy for xy in geom.exterior.coords])


def _scene_path(predictions: Path, labels: Path) -> Path:
    heldout = predictions.parent.parent
    scene_id = predictions.stem
    found = sorted(heldout.glob(f"scenes/*/scenes/{scene_id}.tif"))
    if not found:
        raise SystemExit(f"probe_angles: no scene raster for {scene_id} under {heldout}/scenes")
    return found[0]


def _corner_heading(corners: np.ndarray) -> tuple[float, float]:
    """Long-axis heading in [0, 180) degrees and length of a 4-corner box (tile px)."""
    e1, e2 = corners[1] - corners[0], corners[2] - corners[1]
    edge = e1 if np.hypot(*e1) >= np.hypot(*e2) else e2
    return float(np.degrees(np.arctan2(edge[1], edge[0])) % 180.0), float(max(np.hypot(*e1), np.hypot(*e2)))


# Tile transforms (image, then the same on label corners in px, for a square tile of side s).
FLIPS = {
    "as tiled": (lambda im: im, lambda p, s: p),
    "turned 90 deg": (lambda im: np.rot90(im, 1), lambda p, s: np.stack([p[:, 1], s - 1 - p[:, 0]], 1)),
    "mirrored left-right": (lambda im: im[:, ::-1], lambda p, s: np.stack([s - 1 - p[:, 0], p[:, 1]], 1)),
    "mirrored top-bottom": (lambda im: im[::-1], lambda p, s: np.stack([p[:, 0], s - 1 - p[:, 1]], 1)),
}


def flip_check(weights: Path, tiles: list[Path], thresholds: list[float], imgsz: int) -> None:
    """Detect on each tile as tiled, turned and mirrored (ultralytics predict), and count detections more than 20
    degrees off the heading of their nearest label: the same objects at other headings tell the network's heading
    weakness from the imagery's."""
    import cv2
    from ultralytics import YOLO

    model = YOLO(str(weights), task="obb")
    print(f"{'tiles':<22}{'detections':>11}{'> 20 deg off':>16}")
    for name, (image_fn, corner_fn) in FLIPS.items():
        n = off = 0
        for tile in tiles:
            label = tile.parent.parent.parent / "labels" / tile.parent.name / f"{tile.stem}.txt"
            rows = np.loadtxt(label, ndmin=2) if label.stat().st_size else np.zeros((0, 9))
            if not len(rows):
                continue
            image = cv2.imread(str(tile))
            side = image.shape[0]
            truth = []
            for row in rows:
                corners = corner_fn(row[1:].reshape(4, 2) * side, side)
                truth.append((int(row[0]), corners.mean(0), *_corner_heading(corners)))
            result = model.predict(np.ascontiguousarray(image_fn(image)), imgsz=imgsz, conf=min(thresholds),
                                   verbose=False)[0]
            for corners, cls, score in zip(result.obb.xyxyxyxy.numpy(), result.obb.cls.numpy().astype(int),
                                           result.obb.conf.numpy()):
                if score < thresholds[cls]:
                    continue
                heading, _ = _corner_heading(corners)
                centre = corners.mean(0)
                near = [(float(np.hypot(*(t[1] - centre))), t) for t in truth if t[0] == cls]
                if not near:
                    continue
                dist, t = min(near, key=lambda x: x[0])
                if dist > 0.5 * t[3]:
                    continue
                n += 1
                off += _axis_diff(np.array([heading]), np.array([t[2]]))[0] > 20.0
        print(f"{name:<22}{n:>11}{f'{off} ({off / max(n, 1):.1%})':>16}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, required=True, help="a train_demo work dir (holds heldout/)")
    parser.add_argument("--card", type=Path, required=True, help="the weights' model_card.json (count_conf)")
    parser.add_argument("--flips", default=None, metavar="SCENE_ID",
                        help="also detect on this held-out scene's tiles turned and mirrored (needs --weights)")
    parser.add_argument("--weights", type=Path, default=None, help="the weights the predictions came from")
    args = parser.parse_args(argv)
    card = json.loads(args.card.read_text())
    thresholds = {name: float(m["count_conf"]) for name, m in card["metrics"]["per_class"].items()}
    if args.flips:
        if args.weights is None:
            parser.error("--flips needs --weights")
        from yardwatch.models.loader import ensure_offline

        ensure_offline()
        tiles = sorted((args.work_dir / "heldout" / "tiles" / "images").glob(f"*/{args.flips}_*.png"))
        if not tiles:
            parser.error(f"no held-out tiles of {args.flips} under {args.work_dir}/heldout/tiles/images")
        flip_check(args.weights, tiles, [thresholds[n] for n in card["class_names"]], int(card["imgsz"]))
    heldout = args.work_dir / "heldout"
    pairs, per_label, unpaired = [], [], 0
    for predictions in sorted((heldout / "predictions").glob("*.geojson")):
        labels = heldout / "labels_all" / predictions.name
        p, lab, u = scene_pairs(predictions, labels, thresholds)
        pairs += p
        per_label += lab
        unpaired += u
    if not pairs:
        print("probe_angles: no detections paired with labels", file=sys.stderr)
        return 1
    dist, err = np.array(pairs).T
    ldist, missed = np.array([x[0] for x in per_label]), np.array([x[1] for x in per_label])
    print(f"{'label heading from -45 deg':<28}{'detections':>11}{'> 20 deg off':>16}{'labels':>8}"
          f"{'no heading within 10 deg':>26}")
    for lo, hi in zip(BINS_DEG[:-1], BINS_DEG[1:]):
        sel, lsel = (dist >= lo) & (dist < hi), (ldist >= lo) & (ldist < hi)
        share = f"{int((err[sel] > 20).sum())} ({(err[sel] > 20).mean():.1%})" if sel.any() else "-"
        lshare = f"{int(missed[lsel].sum())} ({missed[lsel].mean():.1%})" if lsel.any() else "-"
        print(f"{f'{lo}-{min(hi, 90)} deg':<28}{int(sel.sum()):>11}{share:>16}{int(lsel.sum()):>8}{lshare:>26}")
    share, lshare = f"{int((err > 20).sum())} ({(err > 20).mean():.1%})", f"{int(missed.sum())} ({missed.mean():.1%})"
    print(f"{'all':<28}{len(err):>11}{share:>16}{len(ldist):>8}{lshare:>26}")
    print(f"detections above threshold with no label of their class nearby: {unpaired}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
