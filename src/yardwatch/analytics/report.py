"""What ``yardwatch count`` leaves for an analyst: the series CSV, the anomalies, a plot and a report per site.

Layout of the output folder::

    counts.csv                    every (site, date, class): count, coverage, lower_bound, anomaly, rules_fired, ...
    anomalies.csv                 the flagged rows only
    <site>_counts.png             counts over time per class; anomalies ringed, lower bounds hollow
    <site>_report.md              the series as a table, the flagged dates with the rule that fired, the crops
    crops/<site>_<date>.png       the AOI on the scene with the counted detections drawn, per flagged date

Each file is written whole (temporary name, then rename). Crops are read from the scene at a decimated
resolution (at most ``crop_px`` per side) and stretched 2-98 % over their valid pixels, for the eye only.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from yardwatch import CLASS_NAMES, __version__
from yardwatch.analytics.counting import CountResult, CountRow, Observation
from yardwatch.analytics.coverage import decimated_window, open_scene_raster
from yardwatch.eval.outputs import new_figure, save_figure_atomic, write_text_atomic

_MIN_CROP_SIDE_PX = 400
CLASS_COLOURS = {"railcar": "#e6194b", "tarp": "#ffe119", "container": "#42d4f4"}


def site_slug(site: str) -> str:
    """A file-name-safe form of a site name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", site).strip("_") or "site"


def _stretch_to_uint8(data: np.ma.MaskedArray) -> np.ndarray:
    """``(B, H, W)`` masked -> ``(H, W, 3)`` uint8, 2-98 % per band over valid pixels, invalid black."""
    bands = []
    for band in data:
        valid = band.compressed()
        lo, hi = (np.percentile(valid, (2, 98)) if valid.size else (0.0, 1.0))
        hi = hi if hi > lo else lo + 1.0
        scaled = np.clip((band.filled(lo).astype(np.float64) - lo) / (hi - lo), 0, 1) * 255
        bands.append(np.where(np.ma.getmaskarray(band), 0, scaled).astype(np.uint8))
    if len(bands) == 1:
        bands *= 3
    return np.stack(bands[:3], axis=-1)


def render_crop(obs: Observation, aoi: Any, path: Path, *, crop_px: int = 512) -> Path:
    """Draw the AOI (a polygon in ``obs.crs``) on its scene with the counted detections, as a small PNG."""
    from matplotlib.patches import Polygon as PolygonPatch

    dataset, _ = open_scene_raster(obs.scene_path, fallback_crs=obs.crs)
    with dataset:
        minx, miny, maxx, maxy = aoi.bounds
        margin = 0.05 * max(maxx - minx, maxy - miny)
        window, out_shape, grid = decimated_window(dataset, (minx - margin, miny - margin, maxx + margin,
                                                             maxy + margin), crop_px)
        indexes = [1, 2, 3] if dataset.count >= 3 else [1]
        data = dataset.read(indexes, window=window, out_shape=(len(indexes), *out_shape), boundless=True,
                            masked=True)
    rgb = _stretch_to_uint8(data)
    to_px = ~grid
    zoom = max(1, math.ceil(_MIN_CROP_SIDE_PX / max(out_shape)))  # small AOIs: enlarge so the caption fits
    figure = new_figure(zoom * out_shape[1] / 100, zoom * out_shape[0] / 100, layout=None)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.imshow(rgb, interpolation="nearest")
    axes.set_axis_off()

    def outline(geom: Any, **style: Any) -> None:
        for part in getattr(geom, "geoms", [geom]):
            xy = np.asarray(part.exterior.coords)
            cols = to_px.a * xy[:, 0] + to_px.b * xy[:, 1] + to_px.c
            rows = to_px.d * xy[:, 0] + to_px.e * xy[:, 1] + to_px.f
            axes.add_patch(PolygonPatch(np.column_stack([cols, rows]), closed=True, fill=False, **style))

    outline(aoi, edgecolor="white", linewidth=1.2, linestyle="--")
    for polygon, class_id in zip(obs.polygons, obs.class_ids):
        outline(polygon, edgecolor=CLASS_COLOURS[CLASS_NAMES[class_id]], linewidth=1.0)
    caption = f"{obs.acquired.isoformat()}: " + ", ".join(
        f"{name} {count}" for name, count in zip(CLASS_NAMES, obs.counts))
    axes.text(0.01, 0.99, caption, transform=axes.transAxes, va="top", ha="left", fontsize=7, color="white",
              bbox={"facecolor": "black", "alpha": 0.6, "pad": 2, "linewidth": 0})
    axes.set(xlim=(0, out_shape[1]), ylim=(out_shape[0], 0))
    return save_figure_atomic(figure, path, dpi=100)


def plot_site_series(site: str, rows: list[CountRow], path: Path) -> Path:
    """Counts per class over time for one site: lines, hollow markers for lower bounds, red rings for anomalies."""
    import datetime as dt

    figure = new_figure(8.0, 3.8)
    axes = figure.add_subplot()
    for name in CLASS_NAMES:
        mine = [r for r in rows if r.class_name == name]
        if not mine:
            continue
        dates = [dt.date.fromisoformat(r.acquired) for r in mine]
        counts = [r.count for r in mine]
        colour = CLASS_COLOURS[name] if name != "tarp" else "#c9a800"  # a darker yellow reads on white
        axes.plot(dates, counts, marker="o", markersize=4, linewidth=1.4, color=colour, label=name)
        low = [(d, c) for d, c, r in zip(dates, counts, mine) if r.lower_bound]
        if low:
            axes.plot(*zip(*low), linestyle="none", marker="^", markersize=8, markerfacecolor="white",
                      markeredgecolor=colour)
        for d, c, r in zip(dates, counts, mine):
            if r.anomaly:
                axes.plot([d], [c], linestyle="none", marker="o", markersize=14, markerfacecolor="none",
                          markeredgecolor="red", markeredgewidth=2)
                axes.annotate(f"{c} ({r.rules_fired})", (d, c), textcoords="offset points", xytext=(6, 6),
                              fontsize=8, color="red")
    axes.plot([], [], linestyle="none", marker="^", markerfacecolor="white", markeredgecolor="grey",
              label="lower bound (partial coverage)")
    axes.plot([], [], linestyle="none", marker="o", markerfacecolor="none", markeredgecolor="red",
              label="anomaly")
    axes.set(title=f"{site}: objects per acquisition date", ylabel="count", xlabel="acquired")
    peak = max((r.count for r in rows), default=0)
    axes.set_ylim(0, max(1.0, peak * 1.18))  # room for the anomaly labels above the highest point
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper left")
    for label in axes.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")
    return save_figure_atomic(figure, path)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def site_report(site: str, rows: list[CountRow], result: CountResult, plot_name: str,
                crops: Mapping[str, str], sources: Mapping[str, str]) -> str:
    """The markdown report of one site."""
    rules = result.rules
    lookback = "all earlier dates" if rules.lookback_days is None else f"the {rules.lookback_days} days before"
    lines = [
        f"# {site}: counts over time",
        "",
        f"yardwatch {__version__}. Detections `{sources.get('detections', '')}` with score >= {result.conf_text}, "
        f"counted when their centre lies in the AOI (`{sources.get('aoi', '')}`); dates from "
        f"`{sources.get('catalog', '')}`.",
        "",
        f"Anomaly rules ({rules.combine} of: {', '.join(rules.rules)}), against {lookback} with at least "
        f"{rules.min_history} earlier counts, lower bounds left out of the history: `max` = above the history's "
        f"maximum; `zscore` = (count - median) / max(1.4826 MAD, {rules.mad_floor:g}"
        f"{', sqrt(median)' if rules.poisson_floor else ''}) >= {rules.z_threshold:g}. "
        f"Counts with coverage below {result.min_coverage:.0%} are lower bounds (marked >=).",
        "",
    ]
    flagged = [r for r in rows if r.anomaly]
    lines += ["## Flagged dates", ""]
    if flagged:
        lines += ["| date | class | count | rules fired | history max | median | MAD | z | coverage |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r.acquired} | {r.class_name} | {r.count} | {r.rules_fired} | {_fmt(r.history_max)} | "
                  f"{_fmt(r.history_median)} | {_fmt(r.history_mad)} | {_fmt(r.zscore)} | {r.coverage:.0%} |"
                  for r in flagged]
    else:
        lines.append("None.")
    lines += ["", f"![counts over time]({plot_name})", "", "## Series", "",
              "| date | scene | " + " | ".join(CLASS_NAMES) + " | coverage | flagged |",
              "|---|---|" + "---|" * len(CLASS_NAMES) + "---|---|"]
    by_date: dict[str, list[CountRow]] = {}
    for r in rows:
        by_date.setdefault(r.acquired, []).append(r)
    for date, group in by_date.items():
        cells = {r.class_name: (">=" if r.lower_bound else "") + str(r.count) for r in group}
        flags = ", ".join(f"{r.class_name} ({r.rules_fired})" for r in group if r.anomaly)
        lines.append(f"| {date} | {group[0].scene_id} | " + " | ".join(cells.get(n, "-") for n in CLASS_NAMES)
                     + f" | {group[0].coverage:.0%} | {flags} |")
    if not rows:
        lines.append("| - | no scene covers this site | " + " | ".join("-" for _ in CLASS_NAMES) + " | - | |")
    if crops:
        lines += ["", "## Flagged dates on the ground", ""]
        for date, crop in crops.items():
            lines += [f"### {date}", "", f"![{site} on {date}]({crop})", ""]
    if result.skipped_scenes:
        lines += ["", f"Catalog scenes without a detection file (not counted): {', '.join(result.skipped_scenes)}."]
    return "\n".join(lines).rstrip() + "\n"


def write_count_outputs(result: CountResult, out_dir: Path, *, aoi: Any, crop_px: int = 512,
                        sources: Mapping[str, str] | None = None) -> CountResult:
    """Write the series, the anomalies, and per site a plot, crops of flagged dates and a report.

    Args:
        result: what :func:`~yardwatch.analytics.counting.count_detections` found.
        out_dir: the output folder.
        aoi: GeoDataFrame of ``site``/``geometry`` (any CRS), for the crops.
        crop_px: the crops' longest side.
        sources: input paths named in the reports.

    Returns:
        ``result`` with ``files`` set.
    """
    sources = dict(sources or {})
    frame = result.to_frame()
    files = [write_text_atomic(out_dir / "counts.csv", frame.to_csv(index=False)),
             write_text_atomic(out_dir / "anomalies.csv", frame[frame["anomaly"].astype(bool)].to_csv(index=False))]
    observations = {(o.site, o.acquired.isoformat()): o for o in result.observations}
    for site in result.sites:
        slug = site_slug(site)
        rows = [r for r in result.rows if r.site == site]
        plot = plot_site_series(site, rows, out_dir / f"{slug}_counts.png")
        crops: dict[str, str] = {}
        flagged_dates = sorted({r.acquired for r in rows if r.anomaly})
        for stale in (out_dir / "crops").glob(f"{slug}_*.png"):  # crops of an earlier run's flags
            if stale.stem[len(slug) + 1:] not in flagged_dates:
                stale.unlink()
        for date in flagged_dates:
            obs = observations[site, date]
            polygon = aoi[aoi["site"] == site].to_crs(obs.crs).geometry.iloc[0]
            crop = render_crop(obs, polygon, out_dir / "crops" / f"{slug}_{date}.png", crop_px=crop_px)
            crops[date] = f"crops/{crop.name}"
            files.append(crop)
        report = site_report(site, rows, result, plot.name, crops, sources)
        files += [plot, write_text_atomic(out_dir / f"{slug}_report.md", report)]
    return dataclasses.replace(result, files=tuple(str(f) for f in files))
