"""Counts over time: detections per site, date and class inside AOI polygons, with coverage and anomaly flags.

An object is in an AOI when its polygon's centroid is (so an object on the AOI's edge is counted once, by one
site). A scene counts for a site when its footprint meets the site's AOI; its coverage is the fraction of the AOI
with valid pixels (see :mod:`yardwatch.analytics.coverage`) and a count with coverage below ``min_coverage`` is
a *lower bound*. When several scenes see a site on the same date, the one with the highest coverage is kept (the
others would count the same objects again).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from yardwatch import CLASS_NAMES
from yardwatch.analytics.anomaly import AnomalyRules, check_dates
from yardwatch.analytics.catalog import CatalogScene, read_catalog
from yardwatch.analytics.coverage import aoi_coverage, open_scene_raster, scene_footprint
from yardwatch.errors import ConfigError, InputError
from yardwatch.eval.readers import DETECTION_SUFFIXES, list_scene_files, read_aois, read_detections
from yardwatch.eval.thresholds import DEFAULT_CONF, class_thresholds, thresholds_text

log = logging.getLogger(__name__)

SERIES_COLUMNS = ("site", "acquired", "scene_id", "class_name", "count", "coverage", "lower_bound", "anomaly",
                  "rules_fired", "history_n", "history_max", "history_median", "history_mad", "zscore")


@dataclass(frozen=True, slots=True)
class Observation:
    """One site seen in one scene: counts per class and what was counted.

    Attributes:
        site: the AOI's site name.
        acquired: the scene's date.
        scene_id: the scene.
        counts: ``(K,)`` detections per class (score >= conf, centroid in the AOI).
        coverage: fraction of the AOI with valid pixels, 0..1.
        scene_path: the raster (for crops).
        crs: the CRS of ``polygons`` (the scene's).
        polygons: ``(N,)`` the counted detections' polygons, for drawing.
        class_ids: ``(N,)`` their classes.
    """

    site: str
    acquired: dt.date
    scene_id: str
    counts: tuple[int, ...]
    coverage: float
    scene_path: Path
    crs: str
    polygons: np.ndarray = field(repr=False)
    class_ids: np.ndarray = field(repr=False)


@dataclass(frozen=True, slots=True)
class CountRow:
    """One (site, date, class) of the time series; ``anomaly`` and ``rules_fired`` come from the rules."""

    site: str
    acquired: str
    scene_id: str
    class_name: str
    count: int
    coverage: float
    lower_bound: bool
    anomaly: bool
    rules_fired: str
    history_n: int
    history_max: float | None
    history_median: float | None
    history_mad: float | None
    zscore: float | None


@dataclass(frozen=True, slots=True)
class CountResult:
    """What :func:`count_detections` found.

    Attributes:
        rows: the time series, by site, date, class.
        observations: the kept (site, date) observations, with the counted polygons.
        sites: every AOI site, seen or not.
        skipped_scenes: catalog scenes with no detection file.
        rules: the anomaly rules used.
        conf: the score threshold of each class, in :data:`~yardwatch.CLASS_NAMES` order.
        min_coverage: the coverage under which a count is a lower bound.
        files: outputs written.
    """

    rows: tuple[CountRow, ...]
    observations: tuple[Observation, ...]
    sites: tuple[str, ...]
    skipped_scenes: tuple[str, ...]
    rules: AnomalyRules
    conf: tuple[float, ...]
    min_coverage: float
    files: tuple[str, ...] = ()

    @property
    def conf_text(self) -> str:
        """The thresholds for people (see :func:`~yardwatch.eval.thresholds.thresholds_text`)."""
        return thresholds_text(self.conf)

    @property
    def anomalies(self) -> tuple[CountRow, ...]:
        """The flagged rows."""
        return tuple(r for r in self.rows if r.anomaly)

    def to_frame(self):
        """The time series as a pandas DataFrame with :data:`SERIES_COLUMNS`."""
        import pandas as pd

        return pd.DataFrame([{c: getattr(r, c) for c in SERIES_COLUMNS} for r in self.rows],
                            columns=list(SERIES_COLUMNS))


def observe_scene(scene: CatalogScene, detections_path: Path, aois, *, conf: float | tuple[float, ...],
                  coverage_cells: int) -> list[Observation]:
    """Count one scene's detections in every AOI it meets.

    Args:
        scene: the catalog row.
        detections_path: its detection file.
        aois: GeoDataFrame of ``site``/``geometry`` rows (any CRS).
        conf: score threshold, one for all classes or one per class.
        coverage_cells: decimated grid size for the coverage read.
    """
    import shapely

    detections = read_detections(detections_path, scene_id=scene.scene_id, crs=scene.crs)
    dataset, crs = open_scene_raster(scene.path, fallback_crs=scene.crs)
    with dataset:
        footprint = scene_footprint(dataset)
        sites = aois.to_crs(crs)
        thresholds = np.broadcast_to(np.asarray(conf, dtype=float), (len(CLASS_NAMES),))
        keep = detections.scores >= thresholds[detections.class_ids]
        polygons, class_ids = detections.polygons[keep], detections.class_ids[keep]
        if len(polygons) and detections.crs is not None and detections.crs != crs:
            import geopandas as gpd

            polygons = np.asarray(gpd.GeoSeries(polygons, crs=detections.crs).to_crs(crs).values, dtype=object)
        centroids = shapely.centroid(polygons) if len(polygons) else np.zeros(0, dtype=object)
        found = []
        for site, aoi in zip(sites["site"], sites.geometry):
            if not aoi.intersects(footprint):
                continue
            inside = shapely.contains(aoi, centroids) if len(centroids) else np.zeros(0, dtype=bool)
            counts = np.bincount(class_ids[inside], minlength=len(CLASS_NAMES))
            found.append(Observation(
                site=str(site), acquired=scene.acquired, scene_id=scene.scene_id,
                counts=tuple(int(c) for c in counts), coverage=aoi_coverage(dataset, aoi, max_cells=coverage_cells),
                scene_path=scene.path, crs=crs, polygons=polygons[inside], class_ids=class_ids[inside]))
    return found


def _best_per_date(observations: list[Observation]) -> list[Observation]:
    best: dict[tuple[str, dt.date], Observation] = {}
    for obs in sorted(observations, key=lambda o: (o.site, o.acquired, o.scene_id)):
        key = (obs.site, obs.acquired)
        if key not in best or obs.coverage > best[key].coverage:
            best[key] = obs
    return sorted(best.values(), key=lambda o: (o.site, o.acquired))


def _optional(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def build_series(observations: list[Observation], rules: AnomalyRules, min_coverage: float) -> list[CountRow]:
    """The time series rows with their anomaly verdicts, by site, date and class."""
    rows: list[CountRow] = []
    sites = sorted({o.site for o in observations})
    for site in sites:
        seen = [o for o in observations if o.site == site]
        lower = [o.coverage < min_coverage for o in seen]
        verdicts = [check_dates([o.acquired for o in seen], [o.counts[k] for o in seen], lower, rules)
                    for k in range(len(CLASS_NAMES))]
        for i, obs in enumerate(seen):
            for k, name in enumerate(CLASS_NAMES):
                v = verdicts[k][i]
                rows.append(CountRow(
                    site=site, acquired=obs.acquired.isoformat(), scene_id=obs.scene_id, class_name=name,
                    count=obs.counts[k], coverage=round(obs.coverage, 4), lower_bound=lower[i], anomaly=v.flagged,
                    rules_fired="+".join(v.fired), history_n=v.history_n, history_max=_optional(v.history_max),
                    history_median=_optional(v.history_median), history_mad=_optional(v.history_mad),
                    zscore=_optional(v.zscore)))
    return rows


def count_detections(detections_dir: str | os.PathLike[str], aoi: str | os.PathLike[str],
                     catalog: str | os.PathLike[str], *, out_dir: str | os.PathLike[str] | None = None,
                     site_column: str = "site", conf: float | Mapping[str, float] = DEFAULT_CONF,
                     min_coverage: float = 0.95,
                     coverage_cells: int = 512, rules: AnomalyRules | None = None, crop_px: int = 512,
                     write: bool = True) -> CountResult:
    """Count detections per site, date and class; flag anomalies; write the series, plots and reports.

    Args:
        detections_dir: folder of ``<scene_id>.{geojson,gpkg,parquet,csv}`` detection files.
        aoi: vector file of site polygons with a ``site_column`` property, any CRS.
        catalog: ``catalog.csv`` giving each scene's raster and acquisition date.
        out_dir: where outputs go (default ``<detections_dir>/counts``).
        site_column: the AOI file's site column.
        conf: score from which a detection counts: one for all classes, or per class name (others get
            :data:`DEFAULT_CONF`).
        min_coverage: coverage below which a count is flagged as a lower bound.
        coverage_cells: at most this many cells per side when reading the valid-pixel mask under an AOI.
        rules: anomaly rules (default :class:`AnomalyRules`).
        crop_px: longest side of the AOI crop drawn for each flagged date.
        write: write outputs (see :func:`yardwatch.analytics.report.write_count_outputs`).

    Raises:
        ConfigError: bad thresholds.
        InputError, RasterReadError, GeoreferenceError: unusable inputs, named in the message.
    """
    thresholds = class_thresholds(conf)
    if not 0.0 < min_coverage <= 1.0:
        raise ConfigError(f"min_coverage={min_coverage}: need 0 < min_coverage <= 1")
    if coverage_cells < 1 or crop_px < 16:
        raise ConfigError(f"coverage_cells={coverage_cells}, crop_px={crop_px}: need coverage_cells >= 1 and "
                          "crop_px >= 16")
    rules = rules or AnomalyRules()
    scenes = read_catalog(catalog)
    sites = read_aois(aoi, site_column=site_column)
    files = list_scene_files(detections_dir, DETECTION_SUFFIXES, what="detection", key="detections")
    if not files:
        raise InputError(f"detections={detections_dir}: no detection files ({', '.join(DETECTION_SUFFIXES)}); run "
                         "`yardwatch predict ... out_dir=<folder>` and point detections at that folder")
    by_id = {s.scene_id: s for s in scenes}
    unknown = sorted(set(files) - set(by_id))
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise InputError(f"catalog={catalog}: {len(unknown)} detection files are for scenes not in the catalog "
                         f"({shown}), so they have no date; add them to the catalog or point catalog at the right "
                         "file")
    skipped = tuple(s.scene_id for s in scenes if s.scene_id not in files)
    if skipped:
        log.warning("%d catalog scenes have no detection file and are not counted: %s", len(skipped),
                    ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""))
    observations: list[Observation] = []
    for scene in scenes:
        if scene.scene_id in files:
            observations += observe_scene(scene, files[scene.scene_id], sites, conf=thresholds,
                                          coverage_cells=coverage_cells)
    kept = _best_per_date(observations)
    result = CountResult(rows=tuple(build_series(kept, rules, min_coverage)), observations=tuple(kept),
                         sites=tuple(str(s) for s in sites["site"]), skipped_scenes=skipped, rules=rules,
                         conf=thresholds, min_coverage=float(min_coverage))
    log.info("%d sites, %d dated observations, %d anomalies", len(result.sites), len(kept), len(result.anomalies))
    if not write:
        return result
    from yardwatch.analytics.report import write_count_outputs

    target = Path(out_dir) if out_dir is not None else Path(detections_dir) / "counts"
    return write_count_outputs(result, target, aoi=sites, crop_px=crop_px,
                               sources={"detections": str(detections_dir), "aoi": str(aoi), "catalog": str(catalog)})


def series_table(result: CountResult) -> list[dict[str, Any]]:
    """One dict per (site, date): counts per class, coverage, lower bound and flagged classes (for printing)."""
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for row in result.rows:
        entry = table.setdefault((row.site, row.acquired), {
            "site": row.site, "acquired": row.acquired, "scene_id": row.scene_id, "coverage": row.coverage,
            "lower_bound": row.lower_bound, "flagged": []})
        entry[row.class_name] = row.count
        if row.anomaly:
            entry["flagged"].append(f"{row.class_name} ({row.rules_fired})")
    return list(table.values())
