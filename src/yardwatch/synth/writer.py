"""Write synthetic scenes to disk: COG GeoTIFFs, GeoJSON labels and the catalog.

Layout of ``out_dir``: ``scenes/<scene_id>.tif``, ``labels/<scene_id>.geojson`` and ``catalog.csv`` (scene_id,
path, labels_path, site, acquired, crs, gsd_m; paths relative to the catalog's folder). Every file of a run is
first written into a hidden staging folder inside ``out_dir`` and moved into place only when all scenes are made,
so a failed run leaves nothing half-written behind.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.enums import ColorInterp, Resampling
from rasterio.io import MemoryFile

from yardwatch.errors import ConfigError, OutputError
from yardwatch.synth.georef import default_origin, resolve_crs
from yardwatch.synth.plan import Counts
from yardwatch.synth.scene import SynthScene, check_scene_args, generate_scene, plan_scene
from yardwatch.synth.series import series_schedule

log = logging.getLogger(__name__)

CATALOG_COLUMNS = ("scene_id", "path", "labels_path", "site", "acquired", "crs", "gsd_m")
_BAND_NAMES = ("red", "green", "blue", "nir")
_OVERVIEW_MIN_PX = 256


def write_geotiff(path: Path, scene: SynthScene, *, overviews: bool = True) -> Path:
    """Write ``scene.image`` as a Cloud Optimized GeoTIFF: 512 px tiles, DEFLATE with predictor 2, nodata 0,
    internal overviews (average) down to about 256 px. Byte-identical for identical scenes."""
    image = scene.image
    bands, rows, cols = image.shape
    profile = dict(driver="GTiff", width=cols, height=rows, count=bands, dtype=image.dtype.name,
                   crs=scene.crs, transform=scene.transform, nodata=0)
    factors = []
    factor = 2
    while overviews and min(rows, cols) / factor >= _OVERVIEW_MIN_PX:
        factors.append(factor)
        factor *= 2
    tmp = path.with_name(f".{path.name}.part")
    with MemoryFile() as memfile:
        with memfile.open(**profile) as mem:
            mem.write(image)
            mem.descriptions = _BAND_NAMES[:bands]
            mem.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue,
                               ColorInterp.undefined][:bands]
            mem.update_tags(TIFFTAG_DATETIME=f"{scene.acquired:%Y:%m:%d} 10:30:00", YARDWATCH_SITE=scene.site,
                            YARDWATCH_SEASON=scene.season, YARDWATCH_SUN_AZIMUTH_DEG=f"{scene.sun_azimuth_deg:.2f}",
                            YARDWATCH_SUN_ELEVATION_DEG=f"{scene.sun_elevation_deg:.2f}")
            if factors:
                mem.build_overviews(factors, Resampling.average)
        with memfile.open() as src:
            rasterio.shutil.copy(src, tmp, driver="COG", COMPRESS="DEFLATE", PREDICTOR="YES", LEVEL=1, BLOCKSIZE=512,
                                 OVERVIEWS="FORCE_USE_EXISTING" if factors else "NONE", BIGTIFF="IF_SAFER")
    os.replace(tmp, path)
    return path


def labels_geojson(scene: SynthScene) -> dict:
    """The labels of ``scene`` as a GeoJSON FeatureCollection in the scene CRS (named by a top-level ``crs``)."""
    epsg = scene.crs.split(":")[1]
    features = []
    for obj in scene.objects:
        ring = [[round(x, 3), round(y, 3)] for x, y in obj.corners_crs]
        if _signed_area(ring) < 0:  # exterior ring counter-clockwise (RFC 7946)
            ring.reverse()
        ring.append(ring[0])
        features.append({
            "type": "Feature",
            "properties": {"class": obj.class_name, "class_id": obj.class_id, "occluded": obj.occluded,
                           "truncated": obj.truncated, "stack_height": obj.stack_height,
                           "length_m": round(obj.length_m, 3), "width_m": round(obj.width_m, 3), "kind": obj.kind},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        })
    return {"type": "FeatureCollection", "name": scene.scene_id,
            "crs": {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{epsg}"}},
            "features": features}


def _signed_area(ring: list[list[float]]) -> float:
    return 0.5 * sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, ring[1:] + ring[:1]))


def write_labels(path: Path, scene: SynthScene) -> Path:
    """Write the labels GeoJSON of ``scene`` (atomically)."""
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(labels_geojson(scene), separators=(",", ":")) + "\n")
    os.replace(tmp, path)
    return path


def _parse_date(value: date | str, key: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as err:
        raise ConfigError(f"{key}={value!r} is not an ISO date; write it as YYYY-MM-DD") from err


def _gsd_choices(gsd_m: float | Sequence[float]) -> list[float]:
    values = list(gsd_m) if isinstance(gsd_m, (list, tuple)) else [gsd_m]
    if not values:
        raise ConfigError("gsd_m=[] is empty; give one GSD or a list to draw from, e.g. gsd_m=[0.4,0.5,0.6]")
    return [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in values]


def write_scenes(out_dir: str | Path, *, n_scenes: int = 4, scene_size_px: int | tuple[int, int] = 1024,
                 gsd_m: float | Sequence[float] = 0.5, seed: int = 0, crs: str | int | None = None,
                 dtype: str = "uint8", bands: int = 3, season: str = "random", series: bool = False,
                 dates: int = 12, site: str | None = None, start_date: date | str = "2023-01-15",
                 interval_days: int = 30, layout: str | Path | None = None, baseline_max_railcars: int = 20,
                 spike_railcars: int = 70, spike_date_index: int | None = None, baseline_max_tarps: int = 4,
                 spike_tarps: int = 24, baseline_max_containers: int = 6, spike_containers: int = 40,
                 clouds: bool = True, nodata_edges: bool = True, overviews: bool = True,
                 tarp_colours: str = "natural", progress: bool = False) -> Path:
    """Generate scenes and write them with their labels and a catalog; returns the catalog path.

    Without ``series`` each scene is its own site (``<site>-NNN``) on a date drawn within a year from
    ``start_date``. With ``series`` one site is seen on ``dates`` dates ``interval_days`` apart: the same yard and
    footprint every time, a new season, light, atmosphere and set of trains each date, and exactly the numbers of
    :func:`series_schedule` (baseline at most ``baseline_max_*``, ``spike_*`` on ``spike_date_index``).
    ``gsd_m`` may be a list: each scene (or date) draws one value from it. With ``layout`` every scene draws the
    layout's objects at their footprints. ``tarp_colours="even"`` draws every tarp colour equally often (a training
    set on which a detector cannot learn tarps by their colour; see :func:`generate_scene`).

    Raises:
        ConfigError: a value is out of range, or asked-for objects do not fit in the scene.
        InputError, LabelError: the layout cannot be used.
        OutputError: ``out_dir`` cannot be written.
    """
    gsd_values = _gsd_choices(gsd_m)
    for value in gsd_values:
        check_scene_args(value, dtype, bands, season, tarp_colours)
    for key, value in (("n_scenes", n_scenes), ("dates", dates), ("interval_days", interval_days)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{key}={value!r} must be a whole number >= 1")
    first_date = _parse_date(start_date, "start_date")
    if series and layout is not None:
        raise ConfigError("series=true with layout=... cannot be combined: a layout fixes the railcars, a series "
                          "changes them; drop one of the two")
    scene_crs = resolve_crs(crs) if layout is None else None
    schedule = series_schedule(dates, seed=seed, baseline_max_railcars=baseline_max_railcars,
                               spike_railcars=spike_railcars, baseline_max_tarps=baseline_max_tarps,
                               spike_tarps=spike_tarps, baseline_max_containers=baseline_max_containers,
                               spike_containers=spike_containers, spike_date_index=spike_date_index) \
        if series else None
    rng = np.random.default_rng([int(seed), 11])
    cols, rows = (scene_size_px, scene_size_px) if isinstance(scene_size_px, int) else scene_size_px
    jobs: list[dict] = []
    for k in range(dates if series else n_scenes):
        gsd = float(gsd_values[int(rng.integers(0, len(gsd_values)))])
        job: dict = dict(gsd_m=gsd, seed=int(seed) * 100_003 + k + 1, crs=crs)
        if schedule is not None:
            job.update(acquired=first_date + timedelta(days=k * interval_days), site=site or "yard-000",
                       origin_xy=default_origin(scene_crs), site_seed=int(seed),
                       site_extent_m=(cols * gsd_values[0], rows * gsd_values[0]),
                       counts=Counts(schedule.railcars[k], schedule.tarps[k], schedule.containers[k]))
        elif layout is not None:  # one place seen on several dates, its objects where the layout puts them
            job.update(acquired=first_date + timedelta(days=k * interval_days), site=site or Path(layout).stem,
                       site_seed=int(seed), layout=layout)
        else:  # each scene its own site, laid out ten to a row a few km apart
            x0, y0 = default_origin(scene_crs)
            spacing = math.ceil(cols * max(gsd_values) / 1000.0 + 2) * 1000.0
            job.update(scene_size_px=(cols, rows), acquired=first_date + timedelta(days=int(rng.integers(0, 365))),
                       site=f"{site or 'yard'}-{k:03d}", origin_xy=(x0 + (k % 10) * spacing, y0 - (k // 10) * spacing))
        jobs.append(job)
    if schedule is not None or layout is not None:  # fail on a date that cannot hold its objects before any pixel
        for job in jobs:
            try:
                plan_scene(**{key: value for key, value in job.items() if key not in ("acquired", "site")})
            except ConfigError as err:
                raise ConfigError(f"scene of {job['acquired']:%Y-%m-%d}: {err}") from err
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".synth-", dir=out_dir))
    except OSError as err:
        raise OutputError(f"out_dir={out_dir}: cannot be written ({err.strerror}); choose a writable out_dir") \
            from err
    rows_out: list[dict[str, str]] = []
    try:
        (staging / "scenes").mkdir()
        (staging / "labels").mkdir()
        progress_jobs = jobs
        if progress:
            from tqdm import tqdm

            progress_jobs = tqdm(jobs, desc="synth", unit="scene")
        for job in progress_jobs:
            scene = generate_scene(dtype=dtype, bands=bands, season=season, clouds=clouds, nodata_edges=nodata_edges,
                                   tarp_colours=tarp_colours, **job)
            write_geotiff(staging / "scenes" / f"{scene.scene_id}.tif", scene, overviews=overviews)
            write_labels(staging / "labels" / f"{scene.scene_id}.geojson", scene)
            rows_out.append({"scene_id": scene.scene_id, "path": f"scenes/{scene.scene_id}.tif",
                             "labels_path": f"labels/{scene.scene_id}.geojson", "site": scene.site,
                             "acquired": scene.acquired.isoformat(), "crs": scene.crs,
                             "gsd_m": f"{scene.gsd_m:g}"})
            log.debug("synth: %s with %d objects", scene.scene_id, len(scene.objects))
        ids = [row["scene_id"] for row in rows_out]
        if len(set(ids)) != len(ids):
            raise ConfigError("two scenes got the same scene_id (same site and date); use series=true with "
                              "interval_days >= 1 or distinct sites")
        with (staging / "catalog.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=CATALOG_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows_out)
        for folder in ("scenes", "labels"):
            (out_dir / folder).mkdir(exist_ok=True)
            for file in sorted((staging / folder).iterdir()):
                os.replace(file, out_dir / folder / file.name)
        os.replace(staging / "catalog.csv", out_dir / "catalog.csv")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    log.info("synth: wrote %d scenes to %s", len(rows_out), out_dir)
    return out_dir / "catalog.csv"
