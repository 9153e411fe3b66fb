"""``tile_scenes``: scenes + geo labels -> a YOLO / YOLO-OBB training dataset that does not leak.

Two phases. *Plan* (cheap, in this process, no pixels read): open and validate every scene, read and reproject
its labels, lay out the tile grid, clip the labels to every tile, split whole scenes or spatial blocks into
train/val/test, and pick the negative tiles to keep. Every input error surfaces here, before anything is
written. *Write* (one job per scene, in worker processes when ``workers > 1``): read the tiles strip by strip in a
background thread while the PNGs are encoded, skip tiles with too much nodata, write images and label files.

Output (see :func:`tile_scenes`) is built in a temporary folder beside ``out_dir`` and renamed into place when
complete, so an interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import math
import os
import queue
import shutil
import threading
from collections import deque
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from yardwatch import CLASS_NAMES
from yardwatch.errors import ConfigError, LabelError, OutputError
from yardwatch.io.raster import (
    DEFAULT_PERCENTILES,
    Normalization,
    SceneInfo,
    SceneRef,
    compute_normalization,
    find_scenes,
    iter_tiles,
    open_raster,
    open_scene,
    reading_order,
    strip_read_cache_bytes,
)
from yardwatch.tiling.grid import check_tile_geometry, make_tile_grid, split_axis
from yardwatch.tiling.labels import TASKS, TileObjects, clip_to_windows, labels_to_scene_px, yolo_lines
from yardwatch.tiling.split import SPLITS, SplitRatios, assign_groups

log = logging.getLogger(__name__)

SPLIT_MODES = ("auto", "scene", "block")
TILES_CSV_COLUMNS = ("tile_id", "scene_id", "col_off", "row_off", "width", "height", "split", "n_objects",
                     "nodata_frac")
_PREFETCH_TILES = 8


@dataclass(frozen=True, slots=True)
class TilingOptions:
    """Every choice ``tile_scenes`` makes, validated on construction (:class:`ConfigError` naming the key).

    Attributes:
        tile_size_px: side of a tile in px, after resampling.
        overlap_px: overlap between neighbouring tiles in px; at least the longest object keeps every object
            whole in some tile.
        task: ``detect`` (axis-aligned boxes) or ``obb`` (oriented boxes).
        bands: 1-based bands (one or three); None for the default (1, 2, 3 or grey).
        assume_crs: CRS for scenes without one.
        allow_pixel_only: accept scenes without georeferencing (labels then in pixel coordinates).
        gsd_m: resample every scene to this ground sample distance (m/px); None keeps each scene's own.
        min_visibility: keep an object in a tile when at least this share of its area is inside.
        max_nodata_frac: skip tiles with more nodata than this share of their in-scene pixels.
        negative_ratio: empty tiles kept per tile with objects in the train split (0.1 = one in ten); None keeps
            all.
        eval_negative_ratio: the same for the val and test splits; None (the default) keeps every empty tile, so
            validation sees the background as often as the scenes hold it (its false positives, and the counting
            threshold computed from them, are then those of whole scenes).
        split: shares of tiles for train/val/test.
        split_by: ``scene``, ``block`` (spatial blocks within scenes) or ``auto`` (scenes when there are enough
            for every split to get one, else blocks).
        split_block_tiles: side of a spatial block in tiles.
        seed: seed of the split and of the negative sampling.
        class_map: raw class value -> class name.
        class_field: label attribute holding the class.
        write_geotiff: also write each tile as a GeoTIFF of its source values, georeferenced.
        workers: scenes written in parallel processes.
        percentiles: the stretch of non-uint8 scenes.
        png_compression: zlib level of the PNGs, 0 to 9. The default 0 stores the pixels uncompressed: tiling
            runs about three times faster (zlib, not the read, is what limits it) and training decodes them
            faster too, at about twice the disk space of level 1.
    """

    tile_size_px: int = 640
    overlap_px: int = 64
    task: str = "detect"
    bands: tuple[int, ...] | None = None
    assume_crs: str | None = None
    allow_pixel_only: bool = False
    gsd_m: float | None = None
    min_visibility: float = 0.5
    max_nodata_frac: float = 0.5
    negative_ratio: float | None = 0.1
    eval_negative_ratio: float | None = None
    split: SplitRatios = field(default_factory=SplitRatios)
    split_by: str = "auto"
    split_block_tiles: int = 4
    seed: int = 0
    class_map: Mapping[str, str] | None = None
    class_field: str = "class"
    write_geotiff: bool = False
    workers: int = 1
    percentiles: tuple[float, float] = DEFAULT_PERCENTILES
    png_compression: int = 0

    def __post_init__(self) -> None:
        check_tile_geometry(self.tile_size_px, self.overlap_px)
        if self.task not in TASKS:
            raise ConfigError(f"task={self.task!r} is not one of {', '.join(TASKS)}")
        if self.split_by not in SPLIT_MODES:
            raise ConfigError(f"split_by={self.split_by!r} is not one of {', '.join(SPLIT_MODES)}")
        _check_range("min_visibility", self.min_visibility, 0.0, 1.0)
        _check_range("max_nodata_frac", self.max_nodata_frac, 0.0, 1.0)
        for key in ("negative_ratio", "eval_negative_ratio"):
            if getattr(self, key) is not None:
                _check_range(key, getattr(self, key), 0.0, math.inf)
        if self.gsd_m is not None and not (math.isfinite(self.gsd_m) and self.gsd_m > 0):
            raise ConfigError(f"gsd_m={self.gsd_m!r} must be a positive number of metres per pixel, or null")
        if not isinstance(self.split_block_tiles, int) or self.split_block_tiles < 1:
            raise ConfigError(f"split_block_tiles={self.split_block_tiles!r} must be a whole number >= 1")
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"workers={self.workers!r} must be a whole number >= 1")
        if not isinstance(self.png_compression, int) or not 0 <= self.png_compression <= 9:
            raise ConfigError(f"png_compression={self.png_compression!r} must be a whole number 0..9")
        if not isinstance(self.split, SplitRatios):
            raise ConfigError("split must be a SplitRatios; build it with SplitRatios.from_mapping({...})")


def _check_range(key: str, value: float, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ConfigError(f"{key}={value!r} must be a number in [{lo:g}, {hi:g}]")


@dataclass(frozen=True, slots=True)
class TilingSummary:
    """What ``tile_scenes`` wrote and what it left out, for the CLI to print and tests to check.

    Attributes:
        out_dir: the dataset folder.
        dataset_yaml: its ``dataset.yaml``.
        n_scenes: scenes tiled.
        split_by: ``scene`` or ``block`` (or the one split when only one has a share).
        n_tiles: tiles written per split.
        n_objects: object labels written per split (an object in two tiles counts twice).
        n_skipped_nodata: tiles skipped for nodata.
        n_negatives_dropped: empty tiles not kept (``negative_ratio``).
        n_labels: label polygons read.
        n_labels_outside: label polygons outside every scene.
        n_objects_unlabeled: objects in a scene that no tile shows at ``min_visibility``.
        gsd_m: the dataset's ground sample distance (None when unknown or mixed).
    """

    out_dir: Path
    dataset_yaml: Path
    n_scenes: int
    split_by: str
    n_tiles: dict[str, int]
    n_objects: dict[str, int]
    n_skipped_nodata: int
    n_negatives_dropped: int
    n_labels: int
    n_labels_outside: int
    n_objects_unlabeled: int
    gsd_m: float | None


# --------------------------------------------------------------------------------------------------------------
# Plan
# --------------------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _ScenePlan:
    ref: SceneRef
    info: SceneInfo
    norm: Normalization
    tile_src_px: int
    overlap_src_px: int
    windows: list[Any]
    groups: list[Hashable]
    objects: list[TileObjects]
    out_size_px: int
    n_objects_unlabeled: int = 0
    splits: list[str] = field(default_factory=list)
    keep: list[bool] = field(default_factory=list)

    @property
    def gsd_out_m(self) -> float | None:
        """The GSD of the written tiles (the native one, or the resampled one rounded to whole source px)."""
        if self.info.gsd_m is None:
            return None
        return self.info.gsd_m * self.tile_src_px / self.out_size_px


class _LabelSource:
    """Label files, read once per (file, CRS), with a record of which of their polygons hit some scene."""

    def __init__(self, labels: str | os.PathLike[str] | None, options: TilingOptions) -> None:
        self.root = None if labels in (None, "") else Path(labels).expanduser()
        self.options = options
        self.hits: dict[Path, Any] = {}  # path -> pandas Series: label index -> falls on some scene
        self.scene_bounds: dict[Path, tuple[str, tuple[float, ...], str | None]] = {}  # first scene per file
        self._cache: dict[tuple[Path, str | None], Any] = {}
        if self.root is not None and not self.root.exists():
            raise LabelError(f"labels={self.root}: not found; point labels= at a label file or a folder of "
                             "<scene_id>.geojson files")

    def path_for(self, ref: SceneRef) -> Path | None:
        from yardwatch.io.vector import find_label_file

        if self.root is None:
            if ref.labels_path is not None:
                return ref.labels_path
            return None
        if self.root.is_dir():
            return find_label_file(self.root, ref.scene_id)
        return self.root

    def read(self, path: Path, scene_crs: str | None) -> Any:
        from yardwatch.io.vector import read_labels

        key = (path, scene_crs)
        if key not in self._cache:
            frame = read_labels(path, scene_crs=scene_crs, class_map=self.options.class_map,
                                class_field=self.options.class_field)
            self._cache[key] = frame
            if path not in self.hits:
                self.hits[path] = pd.Series(False, index=frame.index)
        return self._cache[key]


def _plan_scene(ref: SceneRef, options: TilingOptions, labels: _LabelSource) -> tuple[_ScenePlan, Any]:
    import shapely

    info = open_scene(ref.path, bands=options.bands, assume_crs=options.assume_crs,
                      allow_pixel_only=options.allow_pixel_only, scene_id=ref.scene_id)
    norm = compute_normalization(ref.path, bands=options.bands, percentiles=options.percentiles)
    scale = 1.0
    if options.gsd_m is not None:
        if info.gsd_m is None:
            raise ConfigError(f"gsd_m={options.gsd_m} needs georeferenced scenes but {info.path.name} has no CRS; "
                              "pass assume_crs= or leave gsd_m=null")
        scale = options.gsd_m / info.gsd_m
    tile_src = max(1, round(options.tile_size_px * scale))
    overlap_src = min(tile_src - 1, round(options.overlap_px * scale))
    plan = _ScenePlan(ref=ref, info=info, norm=norm, tile_src_px=tile_src, overlap_src_px=overlap_src,
                      windows=[], groups=[], objects=[], out_size_px=options.tile_size_px)
    label_path = labels.path_for(ref)
    polygons_px = np.zeros(0, dtype=object)
    class_ids = np.zeros(0, dtype=np.int64)
    if label_path is not None:
        frame = labels.read(label_path, info.crs)
        polygons = labels_to_scene_px(frame, info.transform)
        footprint = shapely.box(0, 0, info.width, info.height)
        inside = shapely.intersects(polygons, footprint) & (shapely.area(shapely.intersection(polygons, footprint)) > 0)
        labels.hits[label_path].loc[frame.index[inside]] = True
        polygons_px, class_ids = polygons[inside], frame["class_id"].to_numpy()[inside]
        labels.scene_bounds.setdefault(label_path, (info.scene_id, info.bounds, info.crs))
        log.debug("%s: %d of %d label polygons in %s fall on the scene", info.scene_id, int(inside.sum()),
                 len(frame), label_path.name)
    elif labels.root is None and not ref.has_labels_entry:
        log.warning("%s: no labels given; its tiles are all negatives", info.scene_id)
    return plan, (polygons_px, class_ids)


def _layout(plan: _ScenePlan, options: TilingOptions, by_block: bool, scene_index: int) -> None:
    """Fill ``plan.windows`` and ``plan.groups``: one grid over the scene, or one grid per spatial block."""
    width, height = plan.info.width, plan.info.height
    tile, overlap = plan.tile_src_px, plan.overlap_src_px
    if not by_block:
        plan.windows = make_tile_grid(width, height, tile, overlap)
        plan.groups = [scene_index] * len(plan.windows)
        return
    block = options.split_block_tiles * (tile - overlap) + overlap
    windows, groups = [], []
    for bi, (r0, r1) in enumerate(split_axis(height, block, tile)):
        for bj, (c0, c1) in enumerate(split_axis(width, block, tile)):
            grid = make_tile_grid(c1 - c0, r1 - r0, tile, overlap, col_off=c0, row_off=r0)
            windows += grid
            groups += [(scene_index, bi, bj)] * len(grid)
    # Row-major over the whole scene, so the strip reader sees each band of rows once.
    order = sorted(range(len(windows)), key=lambda i: (windows[i].row_off, windows[i].col_off))
    plan.windows = [windows[i] for i in order]
    plan.groups = [groups[i] for i in order]


def _choose_negatives(plans: Sequence[_ScenePlan], ratios: Mapping[str, float | None], seed: int,
                      has_labels: bool) -> int:
    """Mark which empty tiles to keep (per split, ``ratios[split]`` per tile with objects, None: all); returns how
    many were dropped."""
    dropped = 0
    rng = np.random.default_rng(seed + 1)
    for split in SPLITS:
        ratio = ratios.get(split)
        if ratio is None or not has_labels:
            continue
        positives = 0
        negatives: list[tuple[int, int]] = []
        for p_index, plan in enumerate(plans):
            for t_index, (s, objects) in enumerate(zip(plan.splits, plan.objects, strict=True)):
                if s != split:
                    continue
                if len(objects):
                    positives += 1
                else:
                    negatives.append((p_index, t_index))
        n_keep = min(len(negatives), int(round(ratio * positives)))
        chosen = set(rng.choice(len(negatives), size=n_keep, replace=False).tolist()) if n_keep else set()
        for i, (p_index, t_index) in enumerate(negatives):
            if i not in chosen:
                plans[p_index].keep[t_index] = False
                dropped += 1
    return dropped


# --------------------------------------------------------------------------------------------------------------
# Write
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _TileJob:
    tile_id: str
    window: tuple[int, int, int, int]
    split: str
    label_text: str
    n_objects: int


@dataclass(frozen=True, slots=True)
class _SceneJob:
    path: str
    scene_id: str
    crs: str | None
    norm: Normalization
    tiles: tuple[_TileJob, ...]
    out_size_px: int
    resample: bool
    root: str
    max_nodata_frac: float
    write_geotiff: bool
    png_compression: int
    workers: int


@dataclass(frozen=True, slots=True)
class _SceneResult:
    rows: tuple[tuple[Any, ...], ...]
    n_skipped_nodata: int
    n_objects_lost: int


_END = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(items: Iterable[Any], size: int = _PREFETCH_TILES) -> Iterator[Any]:
    """Iterate ``items`` in a background thread, ``size`` items ahead (GDAL and numpy release the GIL).

    An exception raised by ``items`` is re-raised here; closing the returned generator stops the thread.
    """
    buffer: queue.Queue = queue.Queue(maxsize=max(1, size))
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, which re-raises it
            put(_Failure(err))
            return
        put(_END)

    thread = threading.Thread(target=produce, name="yardwatch-tile-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


def _png_params(level: int) -> list[int]:
    import cv2

    # The "sub" filter with run-length deflate encodes about three times faster than libpng's adaptive default
    # for a few percent larger files; at level 0 no filter is worth its time.
    flt = cv2.IMWRITE_PNG_FILTER_NONE if level == 0 else cv2.IMWRITE_PNG_FILTER_SUB
    return [cv2.IMWRITE_PNG_COMPRESSION, level, cv2.IMWRITE_PNG_FILTER, flt,
            cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]


def _write_png(path: Path, rgb: np.ndarray, params: list[int]) -> None:
    import cv2

    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)  # OpenCV writes BGR
    if not ok:
        raise OutputError(f"{path}: PNG encoding failed")
    encoded.tofile(path)


def _write_geotiff_tile(path: Path, raw: np.ndarray, transform: Any, dtype: str, nodata: float | None,
                        crs: str | None) -> None:
    """Write source values ``raw`` (bands, rows, cols) as a GeoTIFF with ``transform`` (the tile's own)."""
    import rasterio

    kind = np.dtype(dtype)
    data = raw
    if data.dtype != kind:  # resampled float32 with NaN -> the source dtype
        fill = nodata if nodata is not None and not math.isnan(nodata) else 0
        if np.issubdtype(kind, np.integer):
            info = np.iinfo(kind)
            data = np.clip(np.rint(np.where(np.isnan(data), fill, data)), info.min, info.max)
        data = data.astype(kind)
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                   dtype=kind.name, transform=transform, nodata=nodata, compress="deflate")
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def _encoder_threads(workers: int) -> int:
    """Threads encoding PNGs in one worker process: the cores left to it, at most 4."""
    return max(1, min(4, (os.cpu_count() or 1) // max(1, workers)))


def _write_scene(job: _SceneJob, progress: Any | None = None) -> _SceneResult:
    """Read, check and write the tiles of one scene (runs in a worker process when ``workers > 1``).

    Three stages overlap: a reader thread decodes strips and cuts tiles (GDAL releases the GIL), this thread
    checks nodata and hands tiles to a small pool that encodes the PNGs (so does OpenCV). At most a few tiles
    are in flight at once, so memory stays bounded whatever the scene size.
    """
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    root = Path(job.root)
    params = _png_params(job.png_compression)
    rows: list[tuple[Any, ...]] = []
    skipped = lost = 0
    out_shape = (job.out_size_px, job.out_size_px) if job.resample else None
    threads = _encoder_threads(job.workers)
    pending: deque[Future] = deque()

    def write(tile: _TileJob, rgb: np.ndarray, raw: np.ndarray | None, transform: Any, dtype: str,
              nodata: float | None) -> None:
        _write_png(root / "images" / tile.split / f"{tile.tile_id}.png", rgb, params)
        (root / "labels" / tile.split / f"{tile.tile_id}.txt").write_text(tile.label_text)
        if raw is not None:
            _write_geotiff_tile(root / "geotiffs" / tile.split / f"{tile.tile_id}.tif", raw, transform, dtype,
                                nodata, job.crs)

    with open_raster(job.path) as src, \
            rasterio.Env(GDAL_CACHEMAX=strip_read_cache_bytes(src.width, src.block_shapes[0], src.count,
                                                              src.dtypes[0])), \
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="yardwatch-png") as pool:
        order = reading_order([Window(*t.window) for t in job.tiles], src.block_shapes[job.norm.bands[0] - 1][1])
        tiles = [job.tiles[i] for i in order]
        # Only the reader thread touches ``src`` from here on, and closing() stops it before ``src`` closes: an
        # error's traceback would otherwise keep the generator, and so the thread reading, alive past the close.
        scene_transform, dtype, nodata = src.transform, src.dtypes[0], src.nodata
        with closing(prefetch(iter_tiles(src, [Window(*t.window) for t in tiles], job.norm, out_shape=out_shape,
                                         keep_raw=job.write_geotiff))) as reads:
            for tile, read in zip(tiles, reads, strict=True):
                in_scene = read.inside_frac * read.valid.size
                nodata_frac = float(np.clip(1.0 - read.valid.sum() / in_scene, 0.0, 1.0)) if in_scene else 1.0
                if nodata_frac > job.max_nodata_frac:
                    skipped += 1
                    lost += tile.n_objects
                else:
                    col, row, width, height = tile.window
                    transform = scene_transform @ Affine.translation(col, row) @ Affine.scale(
                        width / read.rgb.shape[1], height / read.rgb.shape[0])
                    pending.append(pool.submit(write, tile, read.rgb, read.raw, transform, dtype, nodata))
                    rows.append((tile.tile_id, job.scene_id, *tile.window, tile.split, tile.n_objects,
                                 f"{nodata_frac:.4f}"))
                while len(pending) > 2 * threads or (pending and pending[0].done()):
                    pending.popleft().result()
                if progress is not None:
                    progress.update(1)
            while pending:
                pending.popleft().result()
    return _SceneResult(tuple(rows), skipped, lost)


# --------------------------------------------------------------------------------------------------------------
# Output folder
# --------------------------------------------------------------------------------------------------------------
def _prepare_out_dir(out_dir: Path, overwrite: bool) -> Path:
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"out_dir={out_dir}: exists and is not a folder; choose another out_dir")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise OutputError(f"out_dir={out_dir}: exists and is not empty; pass overwrite=true or choose another "
                          "out_dir")
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = parent / f".{out_dir.name}.partial-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    except OSError as err:
        raise OutputError(f"out_dir={out_dir}: cannot write there ({err}); choose a writable out_dir") from err
    return tmp


def _publish(tmp: Path, out_dir: Path) -> None:
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        out_dir.rename(old)
    tmp.rename(out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _dataset_gsd(plans: Sequence[_ScenePlan], options: TilingOptions) -> float | None:
    if options.gsd_m is not None:
        return float(options.gsd_m)
    values = [p.gsd_out_m for p in plans]
    if any(v is None for v in values):
        return None
    if max(values) > min(values) * 1.01:
        log.warning("scenes have GSDs from %.3g to %.3g m; the tiles mix them (pass gsd_m= to resample to one)",
                    min(values), max(values))
        return None
    return float(np.median(values))


def _write_dataset_yaml(root: Path, out_dir: Path, plans: Sequence[_ScenePlan], options: TilingOptions,
                        n_tiles: dict[str, int], split_by: str, gsd_m: float | None, tiles_sha256: str) -> Path:
    import yaml

    first = plans[0].norm
    meta = {
        "task": options.task,
        "tile_size_px": options.tile_size_px,
        "overlap_px": options.overlap_px,
        "gsd_m": gsd_m,
        "normalization": first.to_dict(),
        "normalization_per_scene": {p.info.scene_id: p.norm.to_dict() for p in plans},
        "gsd_m_per_scene": {p.info.scene_id: p.gsd_out_m for p in plans},
        "min_visibility": options.min_visibility,
        "max_nodata_frac": options.max_nodata_frac,
        "negative_ratio": options.negative_ratio,
        "eval_negative_ratio": options.eval_negative_ratio,
        "split_by": split_by,
        "split": options.split.as_dict(),
        "seed": options.seed,
        "n_tiles": dict(n_tiles),
        "tiles_sha256": tiles_sha256,
        "scenes": [str(p.info.path) for p in plans],
    }
    document = {"path": str(out_dir.resolve()), "train": "images/train", "val": "images/val"}
    if n_tiles.get("test"):
        document["test"] = "images/test"
    document["names"] = dict(enumerate(CLASS_NAMES))
    document["yardwatch"] = meta
    path = root / "dataset.yaml"
    with path.open("w") as fh:
        fh.write("# Written by `yardwatch tile`; ultralytics reads path/train/val/test/names, yardwatch the rest.\n")
        yaml.safe_dump(document, fh, sort_keys=False)
    return path


# --------------------------------------------------------------------------------------------------------------
# The library call
# --------------------------------------------------------------------------------------------------------------
def tile_scenes(scenes: str | os.PathLike[str] | Sequence[SceneRef], out_dir: str | os.PathLike[str], *,
                labels: str | os.PathLike[str] | None = None, options: TilingOptions | None = None,
                overwrite: bool = False, progress: bool = False) -> TilingSummary:
    """Cut scenes and their geo labels into a YOLO (``detect``) or YOLO-OBB (``obb``) dataset.

    Writes ``out_dir/images/{train,val,test}/<tile_id>.png`` (uint8 RGB by the normalisation contract),
    ``out_dir/labels/{train,val,test}/<tile_id>.txt``, ``out_dir/tiles.csv`` (one row per tile written),
    ``out_dir/dataset.yaml`` (ultralytics keys plus a ``yardwatch:`` record of every choice, the normalisation and
    GSD included, for the model card) and, with ``write_geotiff``, ``out_dir/geotiffs/<split>/<tile_id>.tif``.
    A tile id is ``<scene_id>_<col_off>_<row_off>`` of its window in scene px.

    Args:
        scenes: a raster, a folder of rasters, a glob, a ``catalog.csv``, or a list of :class:`SceneRef`.
        out_dir: the dataset folder (made; replaced only with ``overwrite``).
        labels: a label file covering the scenes, a folder of ``<scene_id>.geojson|gpkg|shp``, or None (a
            catalog's ``labels_path``, else no labels: every tile is kept as a negative).
        options: the tiling choices (default :class:`TilingOptions`).
        overwrite: replace an existing, non-empty ``out_dir``.
        progress: show a progress bar.

    Raises:
        RasterReadError, GeoreferenceError, InputError: a bad scene. LabelError: a bad label file, or labels
        that miss every scene. ConfigError: bad options. OutputError: ``out_dir`` cannot be written.
        Nothing is written when any of these is raised.
    """
    from tqdm.auto import tqdm

    options = options or TilingOptions()
    out_dir = Path(out_dir).expanduser()
    refs = list(scenes) if isinstance(scenes, Sequence) and not isinstance(scenes, str) else find_scenes(scenes)
    if not refs:
        raise ConfigError("scenes: no scene given; pass scenes=<file|folder|glob|catalog.csv>")
    label_source = _LabelSource(labels, options)
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise OutputError(f"out_dir={out_dir}: exists and is not empty; pass overwrite=true or choose another "
                          "out_dir")

    # --- plan: every input error is raised here, before anything is written
    planned = [_plan_scene(ref, options, label_source) for ref in refs]
    plans = [p for p, _ in planned]
    for path, hit in label_source.hits.items():
        if not hit.any():
            raise LabelError(f"{path}: no label falls on any scene ({_bounds_text(path, label_source)}); "
                             "check the labels' CRS and that they belong to these scenes")
    n_labels = sum(len(h) for h in label_source.hits.values())
    n_outside = sum(int((~h).sum()) for h in label_source.hits.values())
    if n_outside:
        log.warning("%d label polygon(s) fall outside every scene and are left out", n_outside)
    used = options.split.used
    if len(used) == 1:
        split_by = used[0]
        by_block = False
    elif options.split_by == "scene" or (options.split_by == "auto" and options.split.enough_groups(len(plans))):
        split_by, by_block = "scene", False
    else:
        split_by, by_block = "block", True
    for index, plan in enumerate(plans):
        _layout(plan, options, by_block, index)
    n_unlabeled = 0
    sizes: dict[Hashable, int] = {}
    positives: dict[Hashable, int] = {}
    for plan, (polygons_px, class_ids) in zip(plans, (c for _, c in planned), strict=True):
        plan.objects = clip_to_windows(polygons_px, class_ids, plan.windows, min_visibility=options.min_visibility,
                                       out_size_px=options.tile_size_px)
        shown = {int(i) for objects in plan.objects for i in objects.object_index}
        plan.n_objects_unlabeled = len(polygons_px) - len(shown)
        n_unlabeled += plan.n_objects_unlabeled
        for group, objects in zip(plan.groups, plan.objects, strict=True):
            sizes[group] = sizes.get(group, 0) + 1
            positives[group] = positives.get(group, 0) + (len(objects) > 0)
    assignment = {g: used[0] for g in sizes} if len(used) == 1 else assign_groups(
        sizes, options.split, options.seed, positives=positives)
    for plan in plans:
        plan.splits = [assignment[g] for g in plan.groups]
        plan.keep = [True] * len(plan.windows)
    if n_unlabeled:
        log.warning("%d object(s) are at least %.0f%% visible in no tile (cut by block edges or the scene edge) "
                    "and are not labeled", n_unlabeled, 100 * options.min_visibility)
    has_labels = any(len(c[0]) for _, c in planned)
    dropped = _choose_negatives(plans, {"train": options.negative_ratio, "val": options.eval_negative_ratio,
                                        "test": options.eval_negative_ratio}, options.seed, has_labels)

    # --- write
    tmp = _prepare_out_dir(out_dir, overwrite)
    try:
        for split in SPLITS:
            for kind in ("images", "labels") + (("geotiffs",) if options.write_geotiff else ()):
                (tmp / kind / split).mkdir(parents=True)
        jobs = [_scene_job(plan, options, tmp, len(plans)) for plan in plans]
        results = _run_jobs(jobs, options.workers, progress, tqdm)
        rows = sorted((row for r in results for row in r.rows),
                      key=lambda row: ([p.info.scene_id for p in plans].index(row[1]), row[3], row[2]))
        skipped = sum(r.n_skipped_nodata for r in results)
        if skipped:
            log.info("%d tile(s) skipped: more than %.0f%% nodata (%d objects in them)", skipped,
                     100 * options.max_nodata_frac, sum(r.n_objects_lost for r in results))
        n_tiles = {s: sum(1 for r in rows if r[6] == s) for s in SPLITS}
        n_objects = {s: sum(int(r[7]) for r in rows if r[6] == s) for s in SPLITS}
        if not rows:
            raise ConfigError("no tile was written: every tile was empty and dropped, or mostly nodata; raise "
                              "negative_ratio or max_nodata_frac, or check the labels")
        _warn_on_skewed_split(n_tiles, options.split, split_by)
        tiles_csv = tmp / "tiles.csv"
        with tiles_csv.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(TILES_CSV_COLUMNS)
            writer.writerows(rows)
        gsd_m = _dataset_gsd(plans, options)
        _write_dataset_yaml(tmp, out_dir, plans, options, n_tiles, split_by, gsd_m, _sha256(tiles_csv))
        _publish(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("wrote %d tiles (%s) to %s", len(rows), ", ".join(f"{s} {n_tiles[s]}" for s in SPLITS), out_dir)
    return TilingSummary(out_dir=out_dir, dataset_yaml=out_dir / "dataset.yaml", n_scenes=len(plans),
                         split_by=split_by, n_tiles=n_tiles, n_objects=n_objects, n_skipped_nodata=skipped,
                         n_negatives_dropped=dropped, n_labels=n_labels, n_labels_outside=n_outside,
                         n_objects_unlabeled=n_unlabeled, gsd_m=gsd_m)


def _warn_on_skewed_split(n_tiles: Mapping[str, int], ratios: SplitRatios, split_by: str) -> None:
    """Say so when the tiles' shares are far from the asked ones (few scenes or blocks to share out)."""
    total = sum(n_tiles.values()) or 1
    shares = {name: n_tiles[name] / total for name in SPLITS}
    if all(abs(shares[name] - getattr(ratios, name)) <= 0.1 for name in SPLITS):
        return
    got = ", ".join(f"{name} {shares[name]:.0%}" for name in SPLITS)
    asked = "/".join(f"{getattr(ratios, name):.0%}" for name in SPLITS)
    fix = "add scenes" if split_by == "scene" else "lower split_block_tiles or add scenes"
    log.warning("the split came out as %s of the tiles (asked %s): too few %ss to share; %s", got, asked,
                "scene" if split_by == "scene" else "block", fix)


def _bounds_text(path: Path, source: _LabelSource) -> str:
    """Where the labels of ``path`` are, against the first scene that used them, in that scene's CRS."""
    scene_id, (left, bottom, right, top), crs = source.scene_bounds[path]
    for (p, scene_crs), frame in source._cache.items():
        if p == path and scene_crs == crs:
            x0, y0, x1, y1 = frame.total_bounds
            return (f"labels span x {x0:.9g}..{x1:.9g}, y {y0:.9g}..{y1:.9g} in {crs or 'pixels'}; scene {scene_id} "
                    f"spans x {left:.9g}..{right:.9g}, y {bottom:.9g}..{top:.9g}")
    return f"scene {scene_id}"


def _scene_job(plan: _ScenePlan, options: TilingOptions, root: Path, n_jobs: int) -> _SceneJob:
    tiles = []
    for window, split, objects, keep in zip(plan.windows, plan.splits, plan.objects, plan.keep, strict=True):
        if not keep:
            continue
        box = (int(window.col_off), int(window.row_off), int(window.width), int(window.height))
        lines = yolo_lines(objects, options.tile_size_px, options.task)
        tiles.append(_TileJob(tile_id=f"{plan.info.scene_id}_{box[0]}_{box[1]}", window=box, split=split,
                              label_text="".join(line + "\n" for line in lines), n_objects=len(lines)))
    return _SceneJob(path=str(plan.info.path), scene_id=plan.info.scene_id, crs=plan.info.crs, norm=plan.norm,
                     tiles=tuple(tiles), out_size_px=options.tile_size_px,
                     resample=plan.tile_src_px != options.tile_size_px, root=str(root),
                     max_nodata_frac=options.max_nodata_frac, write_geotiff=options.write_geotiff,
                     png_compression=options.png_compression, workers=min(options.workers, n_jobs))


def _run_jobs(jobs: Sequence[_SceneJob], workers: int, progress: bool, tqdm: Any) -> list[_SceneResult]:
    total = sum(len(j.tiles) for j in jobs)
    if workers <= 1 or len(jobs) <= 1:
        with tqdm(total=total, unit="tile", desc="tiling", disable=not progress) as bar:
            return [_write_scene(job, bar) for job in jobs]
    import multiprocessing

    results: dict[int, _SceneResult] = {}
    context = multiprocessing.get_context("spawn")  # GDAL state does not survive fork() reliably
    with tqdm(total=total, unit="tile", desc="tiling", disable=not progress) as bar, \
            ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        futures = {pool.submit(_write_scene, job): i for i, job in enumerate(jobs)}
        try:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update(len(jobs[futures[future]].tiles))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return [results[i] for i in range(len(jobs))]
