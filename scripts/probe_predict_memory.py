#!/usr/bin/env python
"""Where predict's peak memory goes: extra RSS over the loaded model for one scene, real network or a stub.

The stub returns an empty head output at once, so what remains is the reader, the batcher and the writers; the
real network adds its activations. Sampled every 50 ms from /proc/self/status (VmRSS), in this process. Used to
trace the growth of ``scripts/bench_predict.py``'s memory rows with scene size to glibc's heap (see
docs/benchmarks.md); run it under ``MALLOC_MMAP_THRESHOLD_=131072`` to see the allocator's share.

Example::

    python scripts/probe_predict_memory.py /tmp/yardwatch_bench_predict/scene_16384_*/scenes/*.tif --stub
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")


def _rss_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("scene", type=Path, help="a scene GeoTIFF (e.g. one bench_predict made)")
    parser.add_argument("--stub", action="store_true", help="replace the network by a stub with no detections")
    parser.add_argument("--reader", choices=("thread", "inline"), default="thread", help="predict's reader")
    parser.add_argument("--batch", type=int, default=16, help="tiles per forward pass")
    parser.add_argument("--out-dir", type=Path, default=Path("/tmp/yardwatch_probe_memory"), help="outputs")
    args = parser.parse_args()

    import torch

    from yardwatch.infer.core import InferenceSettings
    from yardwatch.infer.predict import predict_scenes
    from yardwatch.io.raster import SceneRef
    from yardwatch.models.card import demo_weights_path
    from yardwatch.models.loader import load_model

    model = load_model(demo_weights_path(), "cpu")
    if args.stub:
        class Stub(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.weight = torch.nn.Parameter(torch.zeros(1), requires_grad=False)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return torch.zeros(x.shape[0], 4 + model.num_classes + 1, 10)

        model.network = Stub()
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.05)

    base = _rss_mb()
    threading.Thread(target=sample, daemon=True).start()
    settings = InferenceSettings(tile_size_px=model.card.tile_size_px, overlap_px=model.card.overlap_px,
                                 batch_size=args.batch, reader=args.reader)
    start = time.perf_counter()
    predict_scenes([SceneRef(args.scene.stem, args.scene)], demo_weights_path(), args.out_dir, device="cpu",
                   settings=settings, overwrite=True, model=model)
    seconds = time.perf_counter() - start
    done.set()
    print(f"{args.scene.name}: {'stub' if args.stub else 'network'}, reader {args.reader}: base {base} MB, "
          f"peak {peak[0]} MB, extra {peak[0] - base} MB, {seconds:.1f} s")


if __name__ == "__main__":
    main()
