"""``yardwatch predict``: configuration -> :func:`yardwatch.infer.predict.predict_scenes`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from yardwatch import CLASS_NAMES
from yardwatch.cli import _checks
from yardwatch.errors import ConfigError, InputError

log = logging.getLogger(__name__)

DEMO_SEED = 20231015


def _classes(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, (str, int)) else list(value)
    ids = []
    for item in items:
        if isinstance(item, int) and 0 <= item < len(CLASS_NAMES):
            ids.append(item)
        elif str(item) in CLASS_NAMES:
            ids.append(CLASS_NAMES.index(str(item)))
        else:
            raise ConfigError(f"classes: {item!r} is not a class; use names or ids of {', '.join(CLASS_NAMES)}")
    return tuple(ids)


def demo_scene(out_dir: Path) -> Path:
    """The demo scene: generated once with a fixed seed (no download), reused on later runs."""
    from yardwatch.synth import write_scenes

    folder = out_dir / "demo_scene"
    catalog = folder / "catalog.csv"
    if not catalog.is_file():
        log.info("generating the demo scene in %s", folder)
        catalog = write_scenes(folder, n_scenes=1, scene_size_px=2048, gsd_m=0.5, seed=DEMO_SEED)
    return catalog


def _engine(cfg: Any, engine: str) -> Any:
    """The predict function of ``engine``: the local core, or the same call fanned out over Ray workers."""
    if engine == "local":
        from yardwatch.infer.predict import predict_scenes

        return predict_scenes
    from yardwatch.infer.ray_engine import ray_predictor

    return ray_predictor(
        ray_address=str(cfg.ray_address) if cfg.get("ray_address") else None,
        num_workers=_checks.number(cfg, "num_workers", lo=1, integer=True, optional=True),
        num_gpus_per_worker=_checks.number(cfg, "num_gpus_per_worker", lo=0, hi=64, optional=True))


def run(cfg: Any) -> None:
    from yardwatch.infer.core import PRECISIONS, READERS, InferenceSettings
    from yardwatch.infer.merge import MergeSettings
    from yardwatch.io.raster import find_scenes
    from yardwatch.io.detections import FORMATS
    from yardwatch.models.card import demo_weights_path, find_card, read_card

    out_dir = _checks.output_dir(cfg)
    batch_size = _checks.number(cfg, "batch_size", lo=1, integer=True)
    conf = _checks.number(cfg, "conf", lo=0.0, hi=1.0)
    iou = _checks.number(cfg, "iou", lo=0.0, hi=1.0, lo_open=True)
    merge_iou = _checks.number(cfg, "merge_iou", lo=0.0, hi=1.0, lo_open=True)
    merge_ios = _checks.number(cfg, "merge_ios", lo=0.0, hi=1.0, lo_open=True)
    tile = _checks.number(cfg, "tile_size_px", lo=1, integer=True, optional=True)
    overlap = _checks.number(cfg, "overlap_px", lo=0, integer=True, optional=True)
    fmt = _checks.choice(cfg, "format", tuple(FORMATS))
    precision = _checks.choice(cfg, "precision", PRECISIONS)
    reader = _checks.choice(cfg, "reader", READERS)
    engine = _checks.choice(cfg, "engine", ("local", "ray"))
    classes = _classes(cfg.classes)
    out_crs = None if str(cfg.crs).lower() == "scene" else str(cfg.crs)
    if out_crs is not None:
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            CRS.from_user_input(out_crs)
        except CRSError as err:
            raise ConfigError(f"crs={out_crs!r} is not a CRS; use crs=scene or e.g. crs=EPSG:4326") from err
    aoi = _checks.existing_file(cfg, "aoi", optional=True)
    is_demo = cfg.scenes is None
    weights = Path(str(cfg.weights)) if cfg.weights is not None else demo_weights_path()
    if cfg.weights is not None:
        _checks.existing_file(cfg, "weights")
    card_path = find_card(weights)
    card = read_card(card_path) if card_path else None
    tile = tile or (card.tile_size_px if card else 640)
    overlap = overlap if overlap is not None else (card.overlap_px if card else 64)
    if overlap >= tile:
        raise ConfigError(f"overlap_px={overlap} must be smaller than tile_size_px={tile}")
    bands = None if cfg.bands is None else [int(b) for b in cfg.bands]
    if bands is not None and any(b < 1 for b in bands):
        raise ConfigError(f"bands={bands}: band indexes are 1-based; use e.g. bands=[1,2,3]")
    predict = _engine(cfg, engine)
    scenes = find_scenes(demo_scene(out_dir) if is_demo else str(cfg.scenes))
    if not scenes:
        raise InputError(f"scenes={cfg.scenes}: no scenes to predict on")
    if len(scenes) == 1 and not scenes[0].path.exists():
        raise InputError(f"scenes={scenes[0].path}: file not found; check the path")
    settings = InferenceSettings(tile_size_px=tile, overlap_px=overlap, batch_size=batch_size, conf=conf,
                                 iou=iou, multi_label=_checks.flag(cfg, "multi_label"), classes=classes,
                                 merge=MergeSettings(iou=merge_iou, ios=merge_ios),
                                 resample=bool(cfg.resample), precision=precision,
                                 reader=reader, compile=_checks.flag(cfg, "compile"))
    quicklook = is_demo if cfg.quicklook is None else bool(cfg.quicklook)
    summary = predict(scenes, weights, out_dir, device=str(cfg.device), settings=settings, fmt=fmt,
                             out_crs=out_crs, overwrite=bool(cfg.overwrite), aoi=aoi, bands=bands,
                             assume_crs=cfg.assume_crs, quicklook=quicklook, progress=bool(cfg.progress))
    for report in summary.scenes:
        counts = ", ".join(f"{k} {v}" for k, v in report.counts.items())
        status = report.error if report.status == "failed" else (counts or report.status)
        print(f"{report.scene_id}: {report.status}: {status}")
    print(f"wrote {out_dir / 'summary.json'} ({summary.tiles} tiles, {summary.tiles_per_s:.1f} tiles/s on "
          f"{summary.device})")
    failed = summary.failed
    if failed:
        if len(failed) == len(summary.scenes):
            raise InputError(failed[0].error or f"{failed[0].path}: failed")
        names = ", ".join(f"{r.path}" for r in failed)
        raise InputError(f"{len(failed)} of {len(summary.scenes)} scenes failed ({names}); the others were "
                         f"written; see {out_dir / 'summary.json'}")
