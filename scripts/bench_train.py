#!/usr/bin/env python
"""Training throughput: ``yardwatch train`` against plain ultralytics ``YOLO(...).train`` on the same job.

Both runs get the same dataset, architecture, imgsz, batch, epochs, device, workers, seed and the same
augmentations (the ultralytics arguments are produced by yardwatch once and handed to both), so the difference is
yardwatch's own work: checking every label file, writing the resolved dataset.yaml, the offline patches, the model
card and metrics, and embedding the card in best.pt. The runs alternate (plain, yardwatch, plain, ...) and the best
of ``--repeats`` is kept, because this machine is shared and timings drift. Images/s counts training images
processed over the whole call (setup, epochs, validation, final files), and over the training epochs alone.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


class _EpochClock:
    """Times the training part of each epoch, the same way for both runs."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def start(self, trainer: Any) -> None:
        self._start = time.perf_counter()

    def stop(self, trainer: Any) -> None:
        self.seconds += time.perf_counter() - self._start


def run_plain(config: Any, train_args: dict[str, Any]) -> tuple[float, float]:
    """Plain ultralytics on ``train_args``; returns (wall seconds, epoch seconds)."""
    from ultralytics import YOLO

    from yardwatch.models.loader import model_yaml
    from yardwatch.train.offline import install_offline_patches

    install_offline_patches()  # the font; without it plain ultralytics would try a download
    clock = _EpochClock()
    start = time.perf_counter()
    yolo = YOLO(model_yaml(config.model, config.task), task=config.task)
    yolo.add_callback("on_train_epoch_start", clock.start)
    yolo.add_callback("on_train_epoch_end", clock.stop)
    yolo.train(**train_args)
    return time.perf_counter() - start, clock.seconds


def run_yardwatch(config: Any) -> tuple[float, float]:
    """``train_detector`` on ``config``; returns (wall seconds, epoch seconds)."""
    from yardwatch.train import train_detector

    start = time.perf_counter()
    result = train_detector(config)
    return time.perf_counter() - start, result.metrics["train_seconds"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", type=Path, default=None,
                        help="a dataset.yaml; default: the demo's training tiles (demo_out/train/dataset.yaml), "
                             "made by scripts/train_demo.py")
    parser.add_argument("--task", choices=("obb", "detect"), default="obb")
    parser.add_argument("--model", default="yolov8n")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--fraction", type=float, default=0.25, help="fraction of the training tiles to use")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each; the fastest is kept")
    parser.add_argument("--augment", default="overhead", help="augment config, the same for both runs")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from yardwatch.cli.main import set_offline_environment

    set_offline_environment()
    import yaml

    from _benchdoc import machine_description, markdown_table, write_section
    from yardwatch.train import TrainConfig, make_augment_spec, read_dataset
    from yardwatch.train.run import ultralytics_train_args

    repo = Path(__file__).resolve().parents[1]
    data = args.data or repo / "demo_out" / "train" / "dataset.yaml"
    if not data.is_file():
        print(f"bench_train: {data} not found; run scripts/train_demo.py first or pass --data", file=sys.stderr)
        return 2
    augment = yaml.safe_load((repo / "configs" / "augment" / f"{args.augment}.yaml").read_text())
    spec = make_augment_spec(augment.get("albumentations") or [], augment.get("ultralytics") or {})
    work = Path(tempfile.mkdtemp(prefix="bench_train_"))
    trainer = {"plots": False, "fraction": args.fraction, "deterministic": True}
    n_train = round(read_dataset(data, args.task).n_images["train"] * args.fraction)
    best = {"ultralytics": (float("inf"), float("inf")), "yardwatch": (float("inf"), float("inf"))}
    try:
        for repeat in range(args.repeats):
            config = TrainConfig(data=data, out_dir=work / f"yw{repeat}", task=args.task, model=args.model,
                                 epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, device="cpu",
                                 workers=args.workers, augment=spec, trainer=trainer)
            plain_config = TrainConfig(**{**{f: getattr(config, f) for f in config.__dataclass_fields__},
                                          "out_dir": work / f"plain{repeat}"})
            plain_args = ultralytics_train_args(plain_config, data, args.imgsz, "cpu")
            timings = {"ultralytics": run_plain(plain_config, plain_args), "yardwatch": run_yardwatch(config)}
            for name, (wall, epochs) in timings.items():
                best[name] = (min(best[name][0], wall), min(best[name][1], epochs))
                print(f"repeat {repeat}: {name:<11} wall {wall:.1f} s, epochs {epochs:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    images = n_train * args.epochs
    rows = []
    for name, (wall, epochs) in best.items():
        rows.append((name, round(wall, 1), round(images / wall, 2), round(epochs, 1), round(images / epochs, 2)))
    overhead_wall = best["yardwatch"][0] / best["ultralytics"][0] - 1
    overhead_epochs = best["yardwatch"][1] / best["ultralytics"][1] - 1
    table = markdown_table(["trainer", "wall s", "images/s (wall)", "epoch s", "images/s (epochs)"], rows)
    summary = (f"yardwatch overhead: {overhead_wall:+.1%} on wall time, {overhead_epochs:+.1%} on epoch time "
               "(target <= 5%)")
    print(table)
    print(summary)
    if not args.no_docs:
        command = "python scripts/bench_train.py " + " ".join(sys.argv[1:] if argv is None else argv)
        write_section("bench_train", "\n".join([
            "## bench_train: `yardwatch train` against plain ultralytics (`scripts/bench_train.py`)",
            "",
            f"Machine: {machine_description()} (shared with other jobs). Command: `{command}`",
            "",
            f"Same job for both: {args.model} {args.task}, imgsz {args.imgsz}, batch {args.batch}, "
            f"{args.epochs} epochs, {n_train} training tiles ({args.fraction:g} of {data.parent.name}), "
            f"augment={args.augment}, CPU, best of {args.repeats} alternating runs.",
            "",
            table,
            "",
            summary,
        ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
