#!/usr/bin/env python
"""Train the demo weights that yardwatch ships, on synthetic scenes, on CPU, and score them on held-out scenes.

Steps (each one a yardwatch command or library call, so the demo exercises the real pipeline):
1. ``yardwatch synth`` makes training scenes with fixed seeds: several ground resolutions in 0.3-1.0 m, 8- and
   16-bit, different seasons;
2. ``yardwatch tile`` cuts each group into YOLO-OBB (or YOLO) tiles; the groups are listed in one dataset.yaml;
3. ``yardwatch.train.train_detector`` trains the network from scratch on CPU;
4. the weights and their model card are copied to ``src/yardwatch/assets/demo.pt`` and ``demo.model_card.json``;
5. new scenes with seeds never used in training are made and tiled the same way, and ultralytics' validator scores
   the weights on all their tiles; mAP50 per class is printed and written to docs/benchmarks.md (``train_demo``).

Run ``python scripts/train_demo.py --help`` for the knobs; the defaults are the shipped demo's recipe.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

log = logging.getLogger("train_demo")


@dataclass(frozen=True)
class SceneGroup:
    """Scenes made by one ``yardwatch synth`` call."""

    name: str
    seed: int
    gsd_m: float
    dtype: str
    season: str
    n_scenes: int


# Training scenes: every seed here is used for training only.
TRAIN_GROUPS = (
    SceneGroup("g03_u8_summer", 101, 0.3, "uint8", "summer", 2),
    SceneGroup("g05_u16_winter", 102, 0.5, "uint16", "winter", 3),
    SceneGroup("g05_u8_autumn", 103, 0.5, "uint8", "autumn", 3),
    SceneGroup("g07_u16_spring", 104, 0.7, "uint16", "spring", 2),
    SceneGroup("g10_u8_summer", 105, 1.0, "uint8", "summer", 2),
)
# Held-out scenes: new seeds, the same spread of resolutions, bit depths and seasons.
HELDOUT_GROUPS = (
    SceneGroup("h04_u8_winter", 901, 0.4, "uint8", "winter", 1),
    SceneGroup("h05_u16_summer", 902, 0.5, "uint16", "summer", 1),
    SceneGroup("h06_u8_spring", 903, 0.6, "uint8", "spring", 1),
    SceneGroup("h09_u16_autumn", 904, 0.9, "uint16", "autumn", 1),
)


def _yardwatch(*args: str) -> None:
    """Run a yardwatch command in this process; stop the script when it fails."""
    from yardwatch.cli.main import main

    log.info("yardwatch %s", " ".join(args))
    code = main(list(args))
    if code != 0:
        raise SystemExit(f"`yardwatch {' '.join(args)}` failed with exit status {code}")


def make_group_dataset(group: SceneGroup, root: Path, *, scene_size_px: int, tile_size_px: int, overlap_px: int,
                       task: str) -> Path:
    """Synthesise one group of scenes and tile it; returns its dataset.yaml (reused when already there)."""
    scenes, tiles = root / "scenes" / group.name, root / "tiles" / group.name
    if not (scenes / "catalog.csv").is_file():
        _yardwatch("synth", f"out_dir={scenes}", f"n_scenes={group.n_scenes}", f"scene_size_px={scene_size_px}",
                   f"gsd_m={group.gsd_m}", f"seed={group.seed}", f"dtype={group.dtype}", f"season={group.season}")
    if not (tiles / "dataset.yaml").is_file():
        _yardwatch("tile", f"scenes={scenes / 'catalog.csv'}", f"labels={scenes / 'labels'}", f"out_dir={tiles}",
                   f"tile_size_px={tile_size_px}", f"overlap_px={overlap_px}", f"task={task}")
    return tiles / "dataset.yaml"


def combine_datasets(parts: list[Path], out: Path, *, all_tiles_as_val: bool = False) -> Path:
    """One dataset.yaml listing the split folders of several tiled groups.

    The ``yardwatch:`` block is the first group's (task, tile size, normalisation method are the same for all);
    ``gsd_m`` becomes the mean and ``gsd_m_range`` records the spread, ``tiles_sha256`` hashes the parts' hashes.
    ``all_tiles_as_val`` puts every tile of every split under ``val`` (for scoring held-out scenes).
    """
    import hashlib

    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    blocks, names = [], None
    for part in parts:
        data = yaml.safe_load(part.read_text())
        root = Path(data.get("path") or part.parent)
        root = root if root.is_absolute() else (part.parent / root)
        names = names or data["names"]
        blocks.append(data.get("yardwatch") or {})
        for split in splits:
            for entry in ([data[split]] if isinstance(data.get(split), str) else data.get(split) or []):
                folder = (root / entry).resolve()
                if folder.is_dir() and any(folder.iterdir()):
                    splits["val" if all_tiles_as_val else split].append(str(folder))
    block = dict(blocks[0])
    gsds = [float(b["gsd_m"]) for b in blocks if b.get("gsd_m") is not None]
    if gsds:
        block["gsd_m"] = round(sum(gsds) / len(gsds), 4)
        block["gsd_m_range"] = [min(gsds), max(gsds)]
    block["tiles_sha256"] = hashlib.sha256("".join(str(b.get("tiles_sha256")) for b in blocks).encode()).hexdigest()
    combined = {"path": str(out.parent), "names": names, "yardwatch": block,
                **{split: folders for split, folders in splits.items() if folders}}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(combined, sort_keys=False))
    return out


def build_dataset(groups: tuple[SceneGroup, ...], root: Path, args: argparse.Namespace, *, heldout: bool) -> Path:
    parts = [make_group_dataset(g, root, scene_size_px=args.scene_size_px, tile_size_px=args.tile_size_px,
                                overlap_px=args.overlap_px, task=args.task) for g in groups]
    return combine_datasets(parts, root / "dataset.yaml", all_tiles_as_val=heldout)


def evaluate_tiles(weights: Path, data: Path, *, imgsz: int, batch: int, task: str) -> dict[str, Any]:
    """ultralytics' validator over every tile of ``data``'s val split: mAP50 overall and per class."""
    from yardwatch.models.loader import ensure_offline

    ensure_offline()
    from ultralytics import YOLO

    from yardwatch.train.offline import provide_local_font

    provide_local_font()
    metrics = YOLO(str(weights), task=task).val(data=str(data), imgsz=imgsz, batch=batch, device="cpu",
                                                split="val", plots=False, verbose=False, workers=0)
    per_class = {str(row["Class"]): {"mAP50": float(row["mAP50"]), "mAP50-95": float(row["mAP50-95"]),
                                     "instances": int(row["Instances"])} for row in metrics.summary()}
    overall = {k.split("/")[-1].removesuffix("(B)"): float(v) for k, v in metrics.results_dict.items()}
    return {"overall": overall, "per_class": per_class}


def install_weights(run_dir: Path) -> tuple[Path, Path]:
    """Copy the run's best.pt and card to the package's assets (the card's weights hash stays valid: same bytes)."""
    from yardwatch.models.card import assets_dir, file_sha256, read_card, write_card

    target = assets_dir()
    target.mkdir(parents=True, exist_ok=True)
    weights, card_path = target / "demo.pt", target / "demo.model_card.json"
    tmp = weights.with_name("demo.pt.tmp")
    shutil.copyfile(run_dir / "weights" / "best.pt", tmp)
    tmp.replace(weights)
    card = read_card(run_dir / "model_card.json")
    write_card(card.with_updates(weights_sha256=file_sha256(weights)), card_path)
    return weights, card_path


def write_benchmark(command: str, seconds: dict[str, float], train_info: dict[str, Any],
                    heldout: dict[str, Any], heldout_info: str) -> None:
    from _benchdoc import machine_description, markdown_table, write_section

    rows = [(name, f"{row['mAP50']:.3f}", f"{row['mAP50-95']:.3f}", row["instances"])
            for name, row in heldout["per_class"].items()]
    rows.append(("all", f"{heldout['overall'].get('mAP50', float('nan')):.3f}",
                 f"{heldout['overall'].get('mAP50-95', float('nan')):.3f}", sum(r["instances"] for r in
                                                                               heldout["per_class"].values())))
    body = "\n".join([
        "## train_demo: the shipped demo weights (`scripts/train_demo.py`)",
        "",
        f"Machine: {machine_description()} (shared with other jobs while it ran).",
        "",
        f"Command: `{command}`",
        "",
        markdown_table(["step", "seconds"], [(k, round(v, 1)) for k, v in seconds.items()]),
        "",
        f"Training: {train_info}",
        "",
        f"Held-out tiles ({heldout_info}), ultralytics val on CPU:",
        "",
        markdown_table(["class", "mAP50", "mAP50-95", "instances"], rows),
    ])
    write_section("train_demo", body)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=REPO / "demo_out", help="scenes, tiles and the run go here")
    parser.add_argument("--task", choices=("obb", "detect"), default="obb", help="oriented or axis-aligned boxes")
    parser.add_argument("--model", default="yolov8n", help="architecture (configs/model/)")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs")
    parser.add_argument("--batch", type=int, default=8, help="images per batch")
    parser.add_argument("--workers", type=int, default=1, help="data loader workers")
    parser.add_argument("--scene-size-px", type=int, default=1024, help="synthetic scene size")
    parser.add_argument("--tile-size-px", type=int, default=320, help="tile size (and network input size)")
    parser.add_argument("--overlap-px", type=int, default=32, help="tile overlap")
    parser.add_argument("--augment", default="overhead", help="augment config (configs/augment/<name>.yaml)")
    parser.add_argument("--trainer", default="cpu", help="trainer config (configs/trainer/<name>.yaml)")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--no-install", action="store_true", help="do not copy the weights into the package")
    parser.add_argument("--eval-only", type=Path, default=None,
                        help="skip training; score this run folder (or .pt) on the held-out scenes")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    return parser.parse_args(argv)


def _group_config(group: str, name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "configs" / group / f"{name}.yaml").read_text()) or {}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    from yardwatch.cli.main import set_offline_environment

    set_offline_environment()
    from yardwatch.train import TrainConfig, make_augment_spec, train_detector

    command = "python scripts/train_demo.py " + " ".join(sys.argv[1:] if argv is None else argv)
    seconds: dict[str, float] = {}
    work = args.work_dir.resolve()
    run_dir = work / "run"
    train_info: dict[str, Any] = {}
    if args.eval_only is None:
        start = time.perf_counter()
        data = build_dataset(TRAIN_GROUPS, work / "train", args, heldout=False)
        seconds["synthesise + tile training scenes"] = time.perf_counter() - start
        augment = _group_config("augment", args.augment)
        config = TrainConfig(
            data=data, out_dir=run_dir, task=args.task, model=args.model, epochs=args.epochs,
            imgsz=args.tile_size_px, batch=args.batch, device="cpu", workers=args.workers, seed=args.seed,
            patience=max(args.epochs, 1), overwrite=True,
            augment=make_augment_spec(augment.get("albumentations") or [], augment.get("ultralytics") or {}),
            trainer=_group_config("trainer", args.trainer))
        start = time.perf_counter()
        result = train_detector(config)
        seconds["train (CPU)"] = time.perf_counter() - start
        weights = result.best_weights
        train_info = {"tiles": result.metrics["train_images"], "val tiles": result.metrics["val_images"],
                      "epochs": result.metrics["epochs_run"],
                      "val mAP50": round(result.metrics["overall"].get("mAP50", float("nan")), 3)}
        if not args.no_install:
            installed, card = install_weights(run_dir)
            log.info("installed %s (%.1f MB) and %s", installed, installed.stat().st_size / 1e6, card)
    else:
        weights = args.eval_only if args.eval_only.suffix == ".pt" else args.eval_only / "weights" / "best.pt"
    start = time.perf_counter()
    heldout_data = build_dataset(HELDOUT_GROUPS, work / "heldout", args, heldout=True)
    seconds["synthesise + tile held-out scenes"] = time.perf_counter() - start
    start = time.perf_counter()
    heldout = evaluate_tiles(weights, heldout_data, imgsz=args.tile_size_px, batch=args.batch, task=args.task)
    seconds["held-out val"] = time.perf_counter() - start
    (work / "heldout_metrics.json").write_text(json.dumps(heldout, indent=2) + "\n")
    print(f"held-out mAP50 per class ({weights}):")
    for name, row in heldout["per_class"].items():
        print(f"  {name:<10} mAP50 {row['mAP50']:.3f}  ({row['instances']} objects)")
    print(f"  {'all':<10} mAP50 {heldout['overall'].get('mAP50', float('nan')):.3f}")
    for step, value in seconds.items():
        print(f"{step}: {value:.0f} s")
    if not args.no_docs and args.eval_only is None:
        heldout_info = ", ".join(f"gsd {g.gsd_m} m {g.dtype} {g.season} seed {g.seed}" for g in HELDOUT_GROUPS)
        write_benchmark(command, seconds, train_info, heldout, heldout_info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
