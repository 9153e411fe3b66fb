"""Read a layout: polygons of real objects (any CRS) that a synthetic scene draws at exactly those footprints."""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS

from yardwatch.errors import ConfigError, InputError, LabelError
from yardwatch.synth.catalogue import CLASS_IDS, CLASS_NAMES
from yardwatch.synth.georef import resolve_crs

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Footprint:
    """One object of a layout as an oriented rectangle in the scene CRS.

    Attributes:
        class_name: railcar, tarp or container.
        centre_xy: centre in the scene CRS.
        length_m: long side.
        width_m: short side.
        angle_rad: direction of the long side, from +x (east) towards +y (north) of the CRS.
        stack_height: containers stacked under the visible top (1 unless the file says).
    """

    class_name: str
    centre_xy: tuple[float, float]
    length_m: float
    width_m: float
    angle_rad: float
    stack_height: int = 1


def _class_of(value: object) -> str | None:
    if isinstance(value, str) and value.strip().lower() in CLASS_IDS:
        return value.strip().lower()
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= int(value) < len(CLASS_NAMES):
        return CLASS_NAMES[int(value)]
    return None


def read_layout(path: str | Path, crs: str | int | None) -> tuple[list[Footprint], CRS]:
    """Footprints of ``path`` reprojected into ``crs`` (None: the file's own CRS when projected, else its UTM zone).

    A ``class`` property names each feature's class (railcar, tarp, container or 0-2); features without one, or
    with another value (e.g. Muttenz's ``zug``), are railcars. A ``stack_height`` property is read for containers.

    Raises:
        InputError: the file cannot be read.
        LabelError: it has no CRS, no polygons, or geometries that are not polygons.
        ConfigError: ``crs`` does not cover the layout.
    """
    import geopandas as gpd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"layout={path}: file not found; point layout= at a GeoJSON/GPKG/Shapefile of polygons")
    try:
        frame = gpd.read_file(path)
    except Exception as err:  # noqa: BLE001 - any driver failure means the same thing to the user
        raise InputError(f"layout={path}: cannot be read as a vector file ({type(err).__name__}); "
                         "give a GeoJSON, GPKG or Shapefile") from err
    if frame.crs is None:
        raise LabelError(f"layout={path}: has no CRS; write one into the file (e.g. EPSG:2056)")
    frame = frame[~frame.geometry.is_empty & frame.geometry.notna()]
    if frame.empty:
        raise LabelError(f"layout={path}: holds no geometries; draw some polygons in it")
    kinds = set(frame.geometry.geom_type)
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise LabelError(f"layout={path}: has {', '.join(sorted(kinds - {'Polygon', 'MultiPolygon'}))} "
                         "geometries; a layout holds object footprints as polygons")
    if crs in (None, ""):
        own = frame.crs
        target = own if own.is_projected and own.to_epsg() is not None else frame.estimate_utm_crs()
        scene_crs = resolve_crs(target.to_epsg())
    else:
        scene_crs = resolve_crs(crs)
        area = scene_crs.area_of_use
        if area is not None:
            west, south, east, north = frame.to_crs("EPSG:4326").total_bounds
            if west < area.west - 1 or east > area.east + 1 or south < area.south - 1 or north > area.north + 1:
                raise ConfigError(f"crs={crs} does not cover layout={path.name} (lon {west:.2f}..{east:.2f}, lat "
                                  f"{south:.2f}..{north:.2f}); leave crs unset to use the layout's own CRS")
    frame = frame.to_crs(scene_crs)
    classes = frame["class"].tolist() if "class" in frame.columns else [None] * len(frame)
    stacks = frame["stack_height"].tolist() if "stack_height" in frame.columns else [1] * len(frame)
    footprints, others = [], Counter()
    for geometry, raw_class, stack in zip(frame.geometry, classes, stacks):
        name = _class_of(raw_class)
        if name is None:
            others[str(raw_class)] += 1
            name = "railcar"
        rectangle = shapely.minimum_rotated_rectangle(geometry)
        if rectangle.geom_type != "Polygon":
            continue
        corners = np.asarray(rectangle.exterior.coords)[:4]
        edge_a, edge_b = corners[1] - corners[0], corners[2] - corners[1]
        long_edge, short_edge = (edge_a, edge_b) if np.hypot(*edge_a) >= np.hypot(*edge_b) else (edge_b, edge_a)
        length, width = float(np.hypot(*long_edge)), float(np.hypot(*short_edge))
        if width <= 0.0:
            continue
        centre = corners.mean(axis=0)
        height = int(stack) if name == "container" and isinstance(stack, (int, float)) and stack == stack else 1
        footprints.append(Footprint(name, (float(centre[0]), float(centre[1])), length, width,
                                    math.atan2(float(long_edge[1]), float(long_edge[0])), max(1, min(height, 6))))
    if others:
        log.info("layout %s: %s placed as railcars", path.name,
                 ", ".join(f"{count} with class {value!r}" for value, count in sorted(others.items())))
    if not footprints:
        raise LabelError(f"layout={path}: no polygon has an area; draw real footprints")
    return footprints, scene_crs
