"""Procedural, georeferenced satellite scenes of rail yards with exact labels of railcars, tarps and containers.

Public API:
- :func:`generate_scene` makes one scene in memory (:class:`SynthScene`, objects as :class:`SynthObject`).
- :func:`write_scenes` writes scenes, labels and a catalog (``yardwatch synth``), also a time series of one site.
- :func:`series_schedule` gives the per-date counts a series puts on the ground.
- :func:`plan_scene` makes every decision of :func:`generate_scene` without drawing (a cheap check that it fits).
"""

from __future__ import annotations

from yardwatch.synth.catalogue import CLASS_IDS, CLASS_NAMES
from yardwatch.synth.plan import Counts
from yardwatch.synth.scene import ObjectMask, SynthObject, SynthScene, generate_scene, plan_scene
from yardwatch.synth.series import SeriesSchedule, series_schedule
from yardwatch.synth.writer import CATALOG_COLUMNS, labels_geojson, write_geotiff, write_labels, write_scenes

__all__ = ["CATALOG_COLUMNS", "CLASS_IDS", "CLASS_NAMES", "Counts", "ObjectMask", "SeriesSchedule", "SynthObject",
           "SynthScene", "generate_scene", "labels_geojson", "plan_scene", "series_schedule", "write_geotiff",
           "write_labels", "write_scenes"]
