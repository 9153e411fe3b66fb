"""The batched inference core: scenes in, per-scene detections (scene px, merged across seams) out.

Data flow (one process)::

    reader thread --(bounded queue of uint8 tiles)--> batcher --> network on device --> decode + NMS on device
                                                                                  \\--> per-scene accumulators
    scene complete --> seam merge --> yielded to the caller (who writes it)

* The reader runs in a background thread and reads strips of block-aligned rows through ``io.raster`` (GDAL
  releases the GIL while it decodes), so the device rarely waits for the disk. Memory is bounded by the queue
  length, never by the scene size.
* Tiles from consecutive scenes share batches; a small scene does not leave the device half idle.
* Tiles travel as uint8 (4x less to copy than float32), pinned and copied without blocking on CUDA, and become
  half precision on the GPU (bf16 or fp32 on the CPU, as measured by ``scripts/bench_predict.py``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yardwatch.errors import ConfigError, YardwatchError
from yardwatch.infer.decode import decode_batch
from yardwatch.infer.merge import MergeSettings, merge_seams
from yardwatch.io.raster import (SceneInfo, compute_normalization, iter_tile_arrays, open_scene, reading_order,
                                 strip_read_cache_bytes)
from yardwatch.models.loader import LoadedModel, cpu_has_amx_bf16
from yardwatch.tiling import make_tile_grid

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
READERS = ("thread", "inline")


@dataclass(frozen=True, slots=True)
class InferenceSettings:
    """How scenes are cut and detections filtered.

    Attributes:
        tile_size_px: network input size; tiles are this many model pixels square (a multiple of the stride).
        overlap_px: overlap between neighbouring tiles, model pixels; should exceed the largest object.
        batch_size: tiles per forward pass (halved automatically on CUDA out-of-memory).
        conf: minimum score.
        iou: per-tile NMS IoU threshold.
        multi_label: every class above ``conf`` at an anchor is a candidate, not only its best class (as
            ultralytics' validator decodes). Needed for nested objects: a tarp-covered load and its flatcar share
            one box and, decoded best-class-only, the tarp is never emitted (0 of 56 tarp loads on the held-out demo
            scenes).
        classes: class ids to keep, None for all.
        merge: seam merge thresholds.
        resample: resample scenes whose GSD differs from the model's by more than ``resample_tolerance``.
        resample_tolerance: relative GSD difference that triggers resampling.
        precision: auto (fp16 on CUDA; on the CPU bf16 where it has AMX, else fp32), fp32, fp16 (CUDA only)
            or bf16.
        prefetch_tiles: length of the reader queue (memory bound: this many tiles in flight).
        reader: ``thread`` (default) reads tiles in a background thread while the network runs; ``inline``
            reads them between forward passes, one after the other. Even on 2 CPU cores that torch's threads
            keep busy, the thread was as fast or faster (two runs of scripts/bench_predict.py at 8192 px: 13.3
            and 15.3 s against 16.2 and 15.6 s inline).
        compile: run the network through ``torch.compile`` (inductor): a one-time compile when the first batch
            arrives (seconds to minutes, cached on disk for later runs), then faster forward passes; for long
            archive runs. Batches are padded to ``batch_size`` so the compiled graph is reused.
    """

    tile_size_px: int = 640
    overlap_px: int = 64
    batch_size: int = 16
    conf: float = 0.25
    iou: float = 0.6
    multi_label: bool = True
    classes: tuple[int, ...] | None = None
    merge: MergeSettings = field(default_factory=MergeSettings)
    resample: bool = True
    resample_tolerance: float = 0.10
    precision: str = "auto"
    prefetch_tiles: int = 32
    reader: str = "thread"
    compile: bool = False


@dataclass(frozen=True, slots=True)
class ScenePlan:
    """Tiles of one scene: windows in scene px and the scale between scene px and model px."""

    scene: SceneInfo
    windows_px: np.ndarray  # (T, 4) int64 col_off, row_off, width, height in scene px
    scale: float  # scene px per model px (1.0 when not resampled)
    normalization: Any
    aoi_px: Any | None = None  # the AOI in scene px (shapely), when predicting only inside an AOI


@dataclass(frozen=True, slots=True)
class SceneDetections:
    """Merged detections of one scene.

    Attributes:
        scene: the scene read.
        obb_xywhr_px: (N, 5) float64, centre x, centre y, width, height, angle (rad), scene px.
        scores: (N,) float32.
        class_ids: (N,) int64.
        n_tiles: tiles read.
        seconds: wall time from the scene's first tile read to its merge.
        n_before_merge: detections before the seam merge.
    """

    scene: SceneInfo
    obb_xywhr_px: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    n_tiles: int
    seconds: float
    n_before_merge: int


@dataclass(frozen=True, slots=True)
class SceneFailure:
    """A scene that could not be read; the run goes on with the others."""

    path: Path
    error: YardwatchError


@dataclass(slots=True)
class RunStats:
    """Counters of one run, for the summary and the benchmark."""

    tiles: int = 0
    batches: int = 0
    forward_seconds: float = 0.0
    batch_size_used: int = 0


@dataclass(slots=True)
class _SceneAccumulator:
    plan: ScenePlan
    started: float
    tiles_expected: int | None = None
    tiles_done: int = 0
    obb: list[np.ndarray] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)
    classes: list[np.ndarray] = field(default_factory=list)
    tile_ids: list[np.ndarray] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.tiles_expected is not None and self.tiles_done == self.tiles_expected


_END = object()


def plan_scene(scene: SceneInfo, model: LoadedModel, settings: InferenceSettings,
               aoi_px: Any | None = None) -> ScenePlan:
    """Windows (scene px) covering ``scene`` at the model's ground resolution.

    ``aoi_px`` (a shapely geometry in scene px) keeps only the tiles that touch it.
    """
    scale = 1.0
    if settings.resample and model.card.gsd_m and scene.gsd_m:
        ratio = model.card.gsd_m / scene.gsd_m
        if abs(ratio - 1.0) > settings.resample_tolerance:
            scale = ratio
            log.info("%s: GSD %.3f m vs model %.3f m: resampling windows by %.3f", scene.scene_id, scene.gsd_m,
                     model.card.gsd_m, 1 / ratio)
    tile_scene = max(1, round(settings.tile_size_px * scale))
    overlap_scene = min(tile_scene - 1, round(settings.overlap_px * scale))
    windows = make_tile_grid(scene.width, scene.height, tile_scene, overlap_scene)
    # Row-major within chunks a few thousand px wide: the reader's strip then spans a chunk, not the scene, so
    # its memory is the same for an 8k and a 64k wide scene.
    windows = [windows[i] for i in reading_order(windows, scene.block_shape[1])]
    arr = np.array([[w.col_off, w.row_off, w.width, w.height] for w in windows], dtype=np.int64).reshape(-1, 4)
    if aoi_px is not None and len(arr):
        import shapely

        boxes = shapely.box(arr[:, 0], arr[:, 1], arr[:, 0] + arr[:, 2], arr[:, 1] + arr[:, 3])
        arr = arr[shapely.intersects(boxes, aoi_px)]
    return ScenePlan(scene=scene, windows_px=arr, scale=tile_scene / settings.tile_size_px, normalization=None)


def _input_dtype(precision: str, device: torch.device) -> torch.dtype:
    if precision == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if cpu_has_amx_bf16() else torch.float32
    if precision == "fp16":
        if device.type != "cuda":
            raise ConfigError("precision=fp16 needs CUDA; use precision=bf16 or fp32 on the CPU")
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp32":
        return torch.float32
    raise ConfigError(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}")


def _decode_in_fp32(network: torch.nn.Module) -> None:
    """Decode boxes in fp32 while the convolutions run in bf16/fp16.

    The head turns distances into box coordinates in input pixels by adding anchor positions; bf16 has 8 bits of
    mantissa, so a coordinate near 500 px would be rounded to 2 px, a third of a railcar's width at 0.5 m. The
    regression and class convolutions (where the time goes) stay in low precision; only the decode (DFL softmax,
    anchors, strides, angle) is done in fp32. Running the whole head in fp32 instead cost most of bf16's gain.
    """
    head = network.model[-1] if hasattr(network, "model") else None
    if head is None or not hasattr(head, "_inference") or getattr(head, "_yardwatch_fp32_decode", False):
        return
    if hasattr(head, "dfl"):
        head.dfl.float()
    decode = head._inference

    def to_fp32(value: Any) -> Any:
        if torch.is_tensor(value):
            return value.float()
        if isinstance(value, (list, tuple)):
            return [to_fp32(v) for v in value]
        return value

    head._inference = lambda preds: decode({k: to_fp32(v) for k, v in preds.items()})
    head._yardwatch_fp32_decode = True


def aoi_in_scene_px(aoi_path: Path, scene: SceneInfo) -> Any:
    """The union of the AOI polygons of ``aoi_path`` in the scene's pixel frame."""
    import shapely
    from shapely import affinity

    from yardwatch.io.vector import read_vector

    frame = read_vector(aoi_path)
    if frame.crs is not None and scene.crs is not None:
        frame = frame.to_crs(scene.crs)
    inv = ~scene.transform
    geom = shapely.union_all(frame.geometry.values)
    return affinity.affine_transform(geom, [inv.a, inv.b, inv.d, inv.e, inv.c, inv.f])


class InferenceEngine:
    """Runs a loaded model over scenes in batches. One engine, many scenes; not thread-safe."""

    def __init__(self, model: LoadedModel, settings: InferenceSettings) -> None:
        if settings.tile_size_px % model.stride:
            suggested = max(model.stride, settings.tile_size_px // model.stride * model.stride)
            raise ConfigError(f"tile_size_px={settings.tile_size_px} is not a multiple of the model stride "
                              f"{model.stride}; use e.g. {suggested}")
        if settings.overlap_px >= settings.tile_size_px:
            raise ConfigError(f"overlap_px={settings.overlap_px} must be smaller than tile_size_px="
                              f"{settings.tile_size_px}")
        if settings.reader not in READERS:
            raise ConfigError(f"reader={settings.reader!r} is not one of {', '.join(READERS)}")
        self.model = model
        self.settings = settings
        self.dtype = _input_dtype(settings.precision, model.device)
        if not isinstance(model.network, torch.nn.Module):
            # An exported network takes float32 (or uint8) batches, never bf16-rounded ones: ONNX Runtime runs at
            # the precision fixed at export, OpenVINO computes at the one asked for here.
            if hasattr(model.network, "set_precision"):
                model.network.set_precision(settings.precision)
            self.dtype = torch.float32
        self._network_dtype = next(model.network.parameters()).dtype
        if self._network_dtype != self.dtype:
            model.network.to(self.dtype)
        if isinstance(model.network, torch.nn.Module) and self.dtype != torch.float32:
            _decode_in_fp32(model.network)
        if isinstance(model.network, torch.nn.Module):
            # NHWC: tiles arrive channels-last, and oneDNN (CPU, incl. AMX bf16) and cuDNN (fp16 tensor cores)
            # run convolutions fastest in this layout; measured 1.4x (fp32) and 2x (bf16) on a Xeon CPU.
            model.network.to(memory_format=torch.channels_last)
        self._compiled = bool(settings.compile) and isinstance(model.network, torch.nn.Module)
        if self._compiled:
            self.model = replace(model, network=torch.compile(model.network, dynamic=False))
        self.batch_size = settings.batch_size
        self.stats = RunStats()

    @property
    def precision(self) -> str:
        """What the network computes in, as torch names it (float16, bfloat16, float32)."""
        if isinstance(self.model.network, torch.nn.Module):
            return str(self.dtype).removeprefix("torch.")
        return getattr(self.model.network, "compute_precision", "float32")

    # -- reader -----------------------------------------------------------------------------------------------
    def _read_items(self, plans: Sequence[tuple[int, ScenePlan | SceneFailure]], stop: threading.Event
                    ) -> Iterator[tuple]:
        """The reader's messages, in order: ``start``, ``tile`` (one per window), ``end`` per scene, or ``fail``."""
        import rasterio
        from rasterio.windows import Window

        tile = self.settings.tile_size_px
        for index, plan in plans:
            if stop.is_set():
                break
            if isinstance(plan, SceneFailure):
                yield ("fail", index, plan)
                continue
            try:
                scene = plan.scene
                cache = strip_read_cache_bytes(scene.width, scene.block_shape, scene.count, scene.dtype)
                with rasterio.Env(GDAL_CACHEMAX=cache), rasterio.open(scene.path) as src:
                    yield ("start", index, plan)
                    windows = [Window(*w) for w in plan.windows_px.tolist()]
                    shape = None if plan.scale == 1.0 else (tile, tile)
                    tiles = iter_tile_arrays(src, windows, plan.normalization, out_shape=shape, need_valid=False)
                    for tile_id, (_window, image, _valid) in enumerate(tiles):
                        if stop.is_set():
                            break
                        yield ("tile", index, tile_id, image)
                    yield ("end", index, len(plan.windows_px))
            except YardwatchError as err:
                yield ("fail", index, SceneFailure(Path(plan.scene.path), err))
            except Exception as err:  # noqa: BLE001 - a scene GDAL cannot decode is reported, the run goes on
                wrapped = YardwatchError(f"{plan.scene.path}: read failed ({type(err).__name__}: {err})")
                yield ("fail", index, SceneFailure(Path(plan.scene.path), wrapped))

    def _reader(self, plans: Sequence[tuple[int, ScenePlan | SceneFailure]], out: queue.Queue,
                stop: threading.Event) -> None:
        for item in self._read_items(plans, stop):
            out.put(item)
        out.put(_END)

    # -- device ----------------------------------------------------------------------------------------------
    def _to_device(self, tiles: list[np.ndarray]) -> torch.Tensor:
        batch = torch.from_numpy(np.stack(tiles))  # (B, H, W, 3) uint8
        if getattr(self.model.network, "takes_uint8_nhwc", False):
            return batch  # the runtime converts it inside its own first layer (OpenVINO's preprocessing)
        device = self.model.device
        if device.type == "cuda":
            batch = batch.pin_memory().to(device, non_blocking=True)
        else:
            batch = batch.to(device)
        # (B, H, W, 3) -> (B, 3, H, W) is a channels-last view: no copy until the dtype conversion.
        return batch.permute(0, 3, 1, 2).to(self.dtype).div_(255.0).contiguous(memory_format=torch.channels_last)

    def _forward(self, tiles: list[np.ndarray]) -> list[Any]:
        """Forward + decode; halves the batch and retries on CUDA out-of-memory."""
        try:
            n, fed = len(tiles), tiles
            if self._compiled and n < self.batch_size:  # one batch shape: the compiled graph is reused
                fed = [*tiles, *[np.zeros_like(tiles[0])] * (self.batch_size - n)]
            batch = self._to_device(fed)
            start = time.perf_counter()
            raw = self.model.forward(batch)[:n]
            if self.model.device.type == "cuda":
                torch.cuda.synchronize(self.model.device)
            self.stats.forward_seconds += time.perf_counter() - start
            s = self.settings
            dets = decode_batch(raw.float(), task=self.model.card.task, num_classes=self.model.num_classes,
                                conf=s.conf, iou=s.iou, classes=list(s.classes) if s.classes else None,
                                multi_label=s.multi_label)
            return [dets.to_cpu()]
        except torch.cuda.OutOfMemoryError:
            if len(tiles) == 1:
                raise
            torch.cuda.empty_cache()
            half = len(tiles) // 2
            self.batch_size = max(1, half)
            log.warning("CUDA out of memory at batch %d; continuing with batch %d", len(tiles), self.batch_size)
            return self._forward(tiles[:half]) + self._forward_offset(tiles[half:], half)

    def _forward_offset(self, tiles: list[np.ndarray], offset: int) -> list[Any]:
        from yardwatch.infer.decode import BatchDetections

        return [BatchDetections(d.tile_index + offset, d.obb_xywhr_px, d.scores, d.class_ids)
                for d in self._forward(tiles)]

    # -- driver ----------------------------------------------------------------------------------------------
    def plan(self, path: str | Path, *, bands: Sequence[int] | None = None, assume_crs: str | None = None,
             aoi: Path | None = None, scene_id: str | None = None) -> ScenePlan:
        """Open ``path`` (validating it) and plan its tiles, only those touching ``aoi`` (a vector file) if given.

        Raises:
            YardwatchError: a bad scene or AOI file.
        """
        card = self.model.card
        norm_cfg = card.normalization or {}
        chosen = list(bands) if bands else norm_cfg.get("bands")
        scene = open_scene(path, bands=chosen, assume_crs=assume_crs, scene_id=scene_id)
        percentiles = tuple(norm_cfg.get("percentiles", (2.0, 98.0)))
        norm = compute_normalization(path, bands=chosen, percentiles=percentiles)
        aoi_px = aoi_in_scene_px(aoi, scene) if aoi is not None else None
        plan = plan_scene(scene, self.model, self.settings, aoi_px)
        return ScenePlan(plan.scene, plan.windows_px, plan.scale, norm, aoi_px)

    def run(self, plans: Sequence[ScenePlan | SceneFailure], progress: Any | None = None
            ) -> Iterator[SceneDetections | SceneFailure]:
        """Detect over planned scenes, yielding each scene (or its failure) as soon as it is complete."""
        stop = threading.Event()
        numbered = list(enumerate(plans))
        reader: threading.Thread | None = None
        if self.settings.reader == "thread":
            q: queue.Queue = queue.Queue(maxsize=max(2, self.settings.prefetch_tiles))
            reader = threading.Thread(target=self._reader, args=(numbered, q, stop), name="yardwatch-reader",
                                      daemon=True)
            reader.start()
            items: Iterator[Any] = iter(q.get, _END)
        else:
            items = self._read_items(numbered, stop)
        scenes: dict[int, _SceneAccumulator] = {}
        pending: list[tuple[int, int, np.ndarray]] = []
        finished = False
        try:
            while not finished or pending:
                if not finished:
                    item = next(items, _END)
                    if item is _END:
                        finished = True
                    elif item[0] == "start":
                        scenes[item[1]] = _SceneAccumulator(plan=item[2], started=time.perf_counter())
                    elif item[0] == "tile":
                        pending.append((item[1], item[2], item[3]))
                    elif item[0] == "end":
                        scenes[item[1]].tiles_expected = item[2]
                    elif item[0] == "fail":
                        scenes.pop(item[1], None)
                        pending = [p for p in pending if p[0] != item[1]]
                        yield item[2]
                if len(pending) >= self.batch_size or (finished and pending):
                    batch, pending = pending[:self.batch_size], pending[self.batch_size:]
                    self._process(batch, scenes)
                    if progress is not None:
                        progress.update(len(batch))
                for index in [i for i, acc in scenes.items() if acc.complete]:
                    yield self._finish(scenes.pop(index))
        finally:
            stop.set()
            while reader is not None and reader.is_alive():
                try:
                    q.get(timeout=0.05)
                except queue.Empty:
                    pass
            if reader is not None:
                reader.join()
            else:
                items.close()  # type: ignore[attr-defined]  # the inline generator: closes its open scene

    def _process(self, batch: list[tuple[int, int, np.ndarray]], scenes: dict[int, _SceneAccumulator]) -> None:
        tile_px = self.settings.tile_size_px
        outputs = self._forward([b[2] for b in batch])
        self.stats.tiles += len(batch)
        self.stats.batches += 1
        self.stats.batch_size_used = max(self.stats.batch_size_used, len(batch))
        for dets in outputs:
            tile_index = dets.tile_index.numpy()
            obb = dets.obb_xywhr_px.numpy().astype(np.float64)
            for local in np.unique(tile_index):
                scene_index, tile_id, _ = batch[local]
                acc = scenes[scene_index]
                sel = tile_index == local
                col, row, width, _height = acc.plan.windows_px[tile_id]
                scale = width / tile_px
                o = obb[sel].copy()
                o[:, :4] *= scale
                o[:, 0] += col
                o[:, 1] += row
                acc.obb.append(o)
                acc.scores.append(dets.scores.numpy()[sel])
                acc.classes.append(dets.class_ids.numpy()[sel])
                acc.tile_ids.append(np.full(int(sel.sum()), tile_id, dtype=np.int64))
        for scene_index, _tile_id, _ in batch:
            scenes[scene_index].tiles_done += 1

    def _finish(self, acc: _SceneAccumulator) -> SceneDetections:
        if acc.obb:
            obb, scores = np.concatenate(acc.obb), np.concatenate(acc.scores)
            classes, tile_ids = np.concatenate(acc.classes), np.concatenate(acc.tile_ids)
        else:
            obb, scores = np.zeros((0, 5)), np.zeros(0, np.float32)
            classes, tile_ids = np.zeros(0, np.int64), np.zeros(0, np.int64)
        keep = merge_seams(obb, scores, classes, tile_ids, acc.plan.windows_px, self.settings.merge)
        return SceneDetections(scene=acc.plan.scene, obb_xywhr_px=obb[keep], scores=scores[keep],
                               class_ids=classes[keep], n_tiles=len(acc.plan.windows_px),
                               seconds=time.perf_counter() - acc.started, n_before_merge=len(obb))
