"""``predict_scenes``: the library call behind ``yardwatch predict``.

Runs the inference core over scenes, writes one detections file per scene (whole or absent), a ``summary.json``
and optional quicklook PNGs. An archive run skips scenes whose output already exists (unless ``overwrite``) and
reports unreadable scenes without stopping the others.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


from yardwatch.errors import OutputError, YardwatchError
from yardwatch.infer.core import InferenceEngine, InferenceSettings, SceneDetections, SceneFailure, ScenePlan
from yardwatch.infer.device import device_for_weights, resolve_device
from yardwatch.io.detections import detections_frame, output_path, write_detections
from yardwatch.io.raster import SceneRef
from yardwatch.models.loader import LoadedModel, load_model

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SceneReport:
    scene_id: str
    path: str
    status: str  # ok | skipped (output exists) | failed
    output: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    n_detections: int = 0
    tiles: int = 0
    seconds: float = 0.0
    tiles_per_s: float = 0.0
    error: str | None = None


@dataclass(slots=True)
class PredictSummary:
    weights: str
    model_sha256: str
    task: str
    device: str
    precision: str
    settings: dict[str, Any]
    count_conf: dict[str, float] = field(default_factory=dict)  # the card's counting thresholds, for `count`
    scenes: list[SceneReport] = field(default_factory=list)
    seconds: float = 0.0
    tiles: int = 0
    tiles_per_s: float = 0.0
    megapixels_per_s: float = 0.0
    forward_seconds: float = 0.0

    @property
    def failed(self) -> list[SceneReport]:
        return [s for s in self.scenes if s.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summary_settings(settings: InferenceSettings) -> dict[str, Any]:
    """The settings as they are written into ``summary.json``."""
    return {k: v for k, v in asdict(settings).items() if k != "merge"} | {"merge": asdict(settings.merge)}


def finish_summary(summary: PredictSummary, out_dir: Path, *, started: float, tiles: int, forward_seconds: float,
                   megapixels: float, created_out_dir: bool) -> PredictSummary:
    """Fill the run totals and write ``summary.json``; when every scene failed, write nothing at all."""
    summary.seconds = time.perf_counter() - started
    summary.tiles = tiles
    summary.forward_seconds = forward_seconds
    summary.tiles_per_s = summary.tiles / summary.seconds if summary.seconds else 0.0
    summary.megapixels_per_s = megapixels / summary.seconds if summary.seconds else 0.0
    if summary.scenes and len(summary.failed) == len(summary.scenes):
        # Nothing was read: leave no trace, the caller reports the failure.
        if created_out_dir and not any(out_dir.iterdir()):
            out_dir.rmdir()
        return summary
    write_json(out_dir / "summary.json", summary.to_dict())
    return summary


def check_same_model(out_dir: Path, model_sha256: str, overwrite: bool) -> None:
    """Refuse to resume into ``out_dir`` when its ``summary.json`` says other weights made its detections: the
    rerun would skip those scenes and leave one folder with two models' detections (and the other model's
    counting thresholds).

    Raises:
        OutputError: naming both models and the fix.
    """
    summary = out_dir / "summary.json"
    if overwrite or not summary.is_file():
        return
    try:
        previous = json.loads(summary.read_text()).get("model_sha256")
    except (OSError, ValueError, AttributeError):
        return
    if previous and previous != model_sha256:
        raise OutputError(f"out_dir={out_dir}: holds detections of other weights (model {previous[:16]}, these are "
                          f"{model_sha256[:16]}); a rerun would skip their scenes. Use overwrite=true to redo them, "
                          "or another out_dir")


def predict_scenes(scenes: Sequence[SceneRef], weights: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                   *, device: str = "auto", settings: InferenceSettings | None = None, fmt: str = "geojson",
                   out_crs: str | None = None, overwrite: bool = False, aoi: Path | None = None,
                   bands: Sequence[int] | None = None, assume_crs: str | None = None, quicklook: bool = False,
                   progress: bool = False, model: LoadedModel | None = None) -> PredictSummary:
    """Detect objects over ``scenes`` and write one file per scene plus ``summary.json`` into ``out_dir``.

    Scenes that cannot be read are reported in the summary (status ``failed``); the others finish.

    Returns:
        The summary (also written as ``out_dir/summary.json``).
    """
    started = time.perf_counter()
    torch_device = resolve_device(device if model is not None else device_for_weights(weights, device))
    model = model or load_model(weights, torch_device)
    card = model.card
    settings = settings or InferenceSettings(tile_size_px=card.tile_size_px, overlap_px=card.overlap_px)
    engine = InferenceEngine(model, settings)
    out_dir = Path(out_dir)
    check_same_model(out_dir, model.sha256, overwrite)
    created_out_dir = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = PredictSummary(weights=str(weights), model_sha256=model.sha256, task=card.task,
                             device=str(torch_device), precision=engine.precision,
                             settings=summary_settings(settings), count_conf=card.count_thresholds())
    by_index: dict[int, SceneRef] = {}
    aoi_px: dict[str, Any] = {}
    plans: list[ScenePlan | SceneFailure] = []
    for item in scenes:
        target = output_path(out_dir, item.scene_id, fmt)
        if target.exists() and not overwrite:
            summary.scenes.append(SceneReport(item.scene_id, str(item.path), "skipped", str(target)))
            log.info("%s: %s exists, skipping (overwrite=true redoes it)", item.scene_id, target.name)
            continue
        try:
            plan = engine.plan(item.path, bands=bands, assume_crs=assume_crs, aoi=aoi, scene_id=item.scene_id)
            aoi_px[item.scene_id] = plan.aoi_px
            plans.append(plan)
        except YardwatchError as err:
            plans.append(SceneFailure(item.path, err))
        by_index[len(plans) - 1] = item
    total_tiles = sum(len(p.windows_px) for p in plans if isinstance(p, ScenePlan))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total_tiles, unit="tile", desc="predict", leave=False)
    megapixels = 0.0
    try:
        for result in engine.run(plans, progress=bar):
            if isinstance(result, SceneFailure):
                item = next(s for s in by_index.values() if Path(s.path) == Path(result.path))
                summary.scenes.append(SceneReport(item.scene_id, str(item.path), "failed", error=str(result.error)))
                log.error("%s", result.error)
                continue
            item = next(s for s in by_index.values() if s.scene_id == result.scene.scene_id)
            report = write_scene_detections(result, item, model, out_dir, fmt, out_crs, aoi_px.get(item.scene_id),
                                            quicklook)
            summary.scenes.append(report)
            megapixels += result.scene.width * result.scene.height / 1e6
    finally:
        if bar is not None:
            bar.close()
    return finish_summary(summary, out_dir, started=started, tiles=engine.stats.tiles,
                          forward_seconds=engine.stats.forward_seconds, megapixels=megapixels,
                          created_out_dir=created_out_dir)


def write_scene_detections(result: SceneDetections, item: SceneRef, model: LoadedModel, out_dir: Path, fmt: str,
                 out_crs: str | None, aoi_px: Any | None, quicklook: bool) -> SceneReport:
    scene = result.scene
    obb, scores, classes = result.obb_xywhr_px, result.scores, result.class_ids
    if aoi_px is not None:
        import shapely

        inside = shapely.contains_xy(aoi_px, obb[:, 0], obb[:, 1])
        obb, scores, classes = obb[inside], scores[inside], classes[inside]
    frame = detections_frame(item.scene_id, obb, scores, classes, class_names=model.card.class_names,
                             transform=scene.transform, crs=scene.crs, gsd_m=scene.gsd_m, acquired=item.acquired,
                             model=model.sha256[:16], out_crs=out_crs)
    target = write_detections(frame, output_path(out_dir, item.scene_id, fmt), fmt)
    if quicklook:
        from yardwatch.infer.quicklook import write_quicklook

        write_quicklook(scene.path, obb, classes, out_dir / f"{item.scene_id}_quicklook.png",
                        class_names=model.card.class_names)
    counts = {name: int((classes == i).sum()) for i, name in enumerate(model.card.class_names)}
    log.info("%s: %d detections (%s) from %d tiles in %.1f s", item.scene_id, len(obb),
             ", ".join(f"{k} {v}" for k, v in counts.items()), result.n_tiles, result.seconds)
    return SceneReport(item.scene_id, str(item.path), "ok", str(target), counts, len(obb), result.n_tiles,
                       round(result.seconds, 3), round(result.n_tiles / result.seconds, 2) if result.seconds else 0.0)


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)
