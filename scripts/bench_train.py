#!/usr/bin/env python
"""Training throughput: the ``yardwatch train`` command against plain ``yolo train`` on the same job.

Both commands run in fresh processes (as a user runs them) with the same dataset, architecture, imgsz, batch,
epochs, device, workers, seed, fraction of the tiles and augmentation knobs. Augmentation is the ``none`` group
for yardwatch and the same zeroed knobs for ``yolo`` (whose command line cannot take albumentations objects), so
the difference is yardwatch's own work: composing the Hydra config, checking every label file, the resolved
dataset.yaml, the offline patches, the model card and metrics, and embedding the card in best.pt. Runs alternate
(yolo, yardwatch, yolo, ...) and the best of ``--repeats`` is kept, because this machine is shared.

Images/s counts the training tiles times epochs over the whole command (start-up, epochs, validation, final
files), and over ultralytics' own training clock (the ``time`` column of results.csv, the same for both).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _run(command: list[str], env: dict[str, str], log_path: Path) -> float:
    start = time.perf_counter()
    with log_path.open("w") as log:
        code = subprocess.call(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"bench_train: `{' '.join(command)}` failed ({code}); see {log_path}")
    return seconds


def _results_seconds(run_dir: Path) -> float:
    with (run_dir / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    return float(rows[-1]["time"])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "demo_out" / "train" / "tiles" / "dataset.yaml",
                        help="a dataset.yaml (default: the demo's training tiles, made by scripts/train_demo.py)")
    parser.add_argument("--task", choices=("obb", "detect"), default="obb")
    parser.add_argument("--model", default="yolov8n")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--fraction", type=float, default=0.25, help="fraction of the training tiles to use")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each command; the fastest is kept")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from _benchdoc import machine_description, markdown_table, write_section
    from yardwatch.models.loader import ensure_offline
    from yardwatch.models.loader import cpu_has_amx_bf16, model_yaml
    from yardwatch.train import read_dataset

    if not args.data.is_file():
        print(f"bench_train: {args.data} not found; run scripts/train_demo.py first or pass --data", file=sys.stderr)
        return 2
    ensure_offline()
    from yardwatch.models.offline import provide_local_font

    provide_local_font()  # both commands then find the plotting font instead of trying a download
    env = dict(os.environ)
    knobs = yaml.safe_load((REPO / "configs" / "augment" / "none.yaml").read_text())["ultralytics"]
    n_train = round(read_dataset(args.data, args.task).n_images["train"] * args.fraction)
    work = Path(tempfile.mkdtemp(prefix="bench_train_"))
    shared = [f"epochs={args.epochs}", f"imgsz={args.imgsz}", f"batch={args.batch}", "device=cpu",
              f"workers={args.workers}", "seed=0"]

    def yardwatch_cmd(run_dir: Path, *extra: str, amp: str = "false") -> list[str]:
        return [shutil.which("yardwatch") or "yardwatch", "train", f"data={args.data}", f"task={args.task}",
                f"model={args.model}", *shared, f"out_dir={run_dir}", "augment=none", "trainer.plots=false",
                f"trainer.amp={amp}", f"+trainer.fraction={args.fraction}", *extra]

    # bf16 is a row only where the CPU multiplies bf16 natively (AMX); elsewhere it is emulated and slower.
    bf16 = cpu_has_amx_bf16()
    names = ("yolo train", "yardwatch train", "yardwatch train channels_last=false",
             *(("yardwatch train trainer.amp=bf16",) if bf16 else ()))
    best: dict[str, tuple[float, float]] = {name: (float("inf"),) * 2 for name in names}
    pairs: list[tuple[int, float, float, float, float]] = []  # repeat, yolo wall, yw wall, yolo train, yw train
    try:
        for repeat in range(args.repeats):
            yolo_dir, yw_dir = work / f"yolo{repeat}", work / f"yw{repeat}"
            yolo_cmd = [shutil.which("yolo") or "yolo", "train", f"model={model_yaml(args.model, args.task)}",
                        f"data={args.data}", *shared, f"project={work}", f"name={yolo_dir.name}", "exist_ok=True",
                        "pretrained=False", "plots=False", "amp=False", f"fraction={args.fraction}",
                        "deterministic=True", *(f"{k}={v}" for k, v in knobs.items())]
            nchw_dir, bf16_dir = work / f"yw_nchw{repeat}", work / f"yw_bf16{repeat}"
            runs = [(yolo_cmd, yolo_dir), (yardwatch_cmd(yw_dir), yw_dir),
                    (yardwatch_cmd(nchw_dir, "channels_last=false"), nchw_dir),
                    *([(yardwatch_cmd(bf16_dir, amp="bf16"), bf16_dir)] if bf16 else [])]
            timings = []
            for name, (command, run_dir) in zip(names, runs, strict=True):
                wall = _run(command, env, work / f"{run_dir.name}.log")
                train = _results_seconds(run_dir)
                best[name] = (min(best[name][0], wall), min(best[name][1], train))
                timings.append((wall, train))
                print(f"repeat {repeat}: {name:<36} wall {wall:.1f} s, ultralytics clock {train:.1f} s", flush=True)
            pairs.append((repeat, timings[0][0], timings[1][0], timings[0][1], timings[1][1]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    images = n_train * args.epochs
    rows = [(name, round(wall, 1), round(images / wall, 2), round(train, 1), round(images / train, 2))
            for name, (wall, train) in best.items()]
    overhead_wall = best["yardwatch train"][0] / best["yolo train"][0] - 1
    overhead_train = best["yardwatch train"][1] / best["yolo train"][1] - 1
    table = markdown_table(["command", "wall s", "images/s (wall)", "training s", "images/s (training)"], rows)
    paired = markdown_table(["repeat", "yolo wall s", "yardwatch wall s", "wall ratio - 1", "yolo training s",
                             "yardwatch training s", "training ratio - 1"],
                            [(r, round(yw, 1), round(ww, 1), f"{ww / yw - 1:+.1%}", round(yt, 1), round(wt, 1),
                              f"{wt / yt - 1:+.1%}") for r, yw, ww, yt, wt in pairs])
    median_wall = sorted(ww / yw - 1 for _, yw, ww, _, _ in pairs)[len(pairs) // 2]
    summary = (f"yardwatch overhead (best of each): {overhead_wall:+.1%} on wall time, {overhead_train:+.1%} on "
               f"training time; median of the back-to-back pairs: {median_wall:+.1%} on wall time (target <= 5%)")
    layout = best["yardwatch train channels_last=false"][1] / best["yardwatch train"][1]
    summary += (f". Channels-last on the CPU (yardwatch's default, `channels_last=true`): {layout:.2f}x the training "
                "images/s of the same command with `channels_last=false`")
    if bf16:
        speed = best["yardwatch train"][1] / best["yardwatch train trainer.amp=bf16"][1]
        summary += (f". bf16 autocast on this AMX CPU (`trainer.amp=bf16`, what `trainer.amp=auto` picks here): "
                    f"{speed:.2f}x the training images/s of fp32")
    print(table)
    print(paired)
    print(summary)
    if not args.no_docs:
        command = "python scripts/bench_train.py " + " ".join(sys.argv[1:] if argv is None else argv)
        write_section("bench_train", "\n".join([
            "## bench_train: `yardwatch train` against plain `yolo train` (`scripts/bench_train.py`)",
            "",
            f"Machine: {machine_description()}; load average (1 min) at the end {os.getloadavg()[0]:.1f}. Command: "
            f"`{command.strip()}`",
            "",
            "Threads: plain `yolo train` runs torch on `min(8, cores - 1)` threads (ultralytics' device selection: one "
            "thread on 2 cores); `yardwatch train` gives it every core. On a 2-core machine the comparison is "
            "therefore what a user gets from each command, not yardwatch's bookkeeping overhead alone.",
            "",
            f"Same job for both, each a fresh process: {args.model} {args.task}, imgsz {args.imgsz}, batch "
            f"{args.batch}, {args.epochs} epochs, {n_train} training tiles ({args.fraction:g} of "
            f"{args.data.parent.name}), augmentation off, CPU, best of {args.repeats} alternating runs.",
            "",
            table,
            "",
            "Each back-to-back pair (the two commands ran one after the other, so they saw similar load):",
            "",
            paired,
            "",
            summary,
        ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
