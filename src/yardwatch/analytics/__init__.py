"""Counts over time: detections per site (AOI polygon), acquisition date and class, with coverage, anomaly flags,
plots and a markdown report per site.

Entry point: :func:`count_detections` (what ``yardwatch count`` calls).
"""

from __future__ import annotations

from yardwatch.analytics.anomaly import AnomalyCheck, AnomalyRules, check_dates
from yardwatch.analytics.catalog import CatalogScene, read_catalog
from yardwatch.analytics.counting import CountResult, CountRow, Observation, count_detections, series_table
from yardwatch.analytics.coverage import aoi_coverage, open_scene_raster, scene_footprint

__all__ = [
    "AnomalyCheck",
    "AnomalyRules",
    "CatalogScene",
    "CountResult",
    "CountRow",
    "Observation",
    "aoi_coverage",
    "check_dates",
    "count_detections",
    "open_scene_raster",
    "read_catalog",
    "scene_footprint",
    "series_table",
]
