"""One synthetic scene: plan it, draw it, label what is visible, and georeference it."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import shapely
from affine import Affine
from shapely.geometry import Polygon, box

from yardwatch.errors import ConfigError
from yardwatch.synth import palette, render
from yardwatch.synth.canvas import Canvas, Stamp
from yardwatch.synth.catalogue import CLASS_IDS, CONTAINER_HEIGHT_M, WAGON_TYPES, WAGONS_BY_NAME
from yardwatch.synth.georef import crs_name, default_origin, resolve_crs
from yardwatch.synth.layoutfile import Footprint, read_layout
from yardwatch.synth.content import plan_ground, plan_loads, plan_stacks, plan_trains, plan_vehicles
from yardwatch.synth.plan import Counts, Item, SitePlan, Track
from yardwatch.synth.site import plan_site
from yardwatch.synth.sprites import Light

DTYPES = ("uint8", "uint16")
BAND_COUNTS = (3, 4)
SEASON_CHOICES = ("summer", "autumn", "winter", "random")
GSD_RANGE_M = (0.3, 1.0)
MAX_SCENE_PX = 20000
UINT16_MAX_DN = 2047  # an 11-bit sensor

_HIDDEN_SHARE_OCCLUDED = 0.2
_CLOUD_OPAQUE = 0.6


@dataclass(frozen=True, slots=True)
class SynthObject:
    """A labelled object as the scene shows it.

    Attributes:
        class_name: railcar, tarp or container.
        class_id: 0, 1 or 2.
        corners_px: the oriented rectangle's 4 corners (col, row) in scene pixels (pixel centres at +0.5).
        corners_crs: the same corners (x, y) in the scene CRS.
        occluded: more than a fifth of it is hidden (by its load, a tree, a catenary beam or thick cloud).
        truncated: cut by the scene edge or a nodata area; the corners then bound the part that is visible.
        stack_height: containers in the stack under a visible container top; 1 for everything else.
        length_m: the object's real length (the whole object, also when truncated).
        width_m: the object's real width.
        kind: what was drawn (box, tank, hopper, gondola, flat, locomotive, tarp_load, tarp_pile, container).
    """

    class_name: str
    class_id: int
    corners_px: tuple[tuple[float, float], ...]
    corners_crs: tuple[tuple[float, float], ...]
    occluded: bool
    truncated: bool
    stack_height: int
    length_m: float
    width_m: float
    kind: str

    @property
    def obb_xywhr_px(self) -> tuple[float, float, float, float, float]:
        """(cx, cy, w, h, angle) in scene pixels, w along the first edge, angle of that edge in radians."""
        corners = np.asarray(self.corners_px)
        edge_w, edge_h = corners[1] - corners[0], corners[2] - corners[1]
        cx, cy = corners.mean(axis=0)
        return (float(cx), float(cy), float(np.hypot(*edge_w)), float(np.hypot(*edge_h)),
                float(math.atan2(edge_w[1], edge_w[0])))


@dataclass(frozen=True, slots=True)
class ObjectMask:
    """The rendered coverage (0..1) of one labelled object's top, in a window at (row_off, col_off)."""

    row_off: int
    col_off: int
    alpha: np.ndarray


@dataclass(frozen=True, slots=True, eq=False)
class SynthScene:
    """A generated scene.

    Attributes:
        scene_id: file stem of the scene and its labels.
        site: site id (the same for every date of a series).
        acquired: acquisition date.
        image: (bands, rows, cols) uint8 or uint16; 0 is nodata in every band, valid pixels are >= 1.
        transform: affine transform, scene pixel -> CRS (north up).
        crs: ``EPSG:<code>``.
        gsd_m: pixel size in metres.
        season: summer, autumn or winter.
        sun_azimuth_deg: sun azimuth, clockwise from north.
        sun_elevation_deg: sun elevation.
        objects: labelled objects, visible ones only.
        masks: when asked for, the rendered coverage of each object (same order as ``objects``).
    """

    scene_id: str
    site: str
    acquired: date
    image: np.ndarray
    transform: Affine
    crs: str
    gsd_m: float
    season: str
    sun_azimuth_deg: float
    sun_elevation_deg: float
    objects: tuple[SynthObject, ...]
    masks: tuple[ObjectMask, ...] | None = None

    @property
    def valid_mask(self) -> np.ndarray:
        """(rows, cols) bool, True where the scene has data."""
        return np.any(self.image != 0, axis=0)


def season_of(day: date) -> str:
    """The palette of an acquisition date in the northern mid-latitudes."""
    if day.month in (12, 1, 2) or (day.month == 3 and day.day < 15):
        return "winter"
    if day.month in (9, 10, 11):
        return "autumn"
    return "summer"


def draw_look(rng: np.random.Generator, season: str, shape: tuple[int, int], *, clouds: bool, nodata_edges: bool,
              exact: bool) -> render.Look:
    """Draw the light, atmosphere, sensor and nodata edge of one acquisition.

    ``exact`` (a schedule or a layout promised every object visible) keeps clouds thin.
    """
    elevation = {"summer": (50.0, 68.0), "autumn": (28.0, 45.0), "winter": (20.0, 30.0)}[season]
    elevation_deg = float(rng.uniform(*elevation))
    azimuth_deg = float(rng.uniform(125.0, 175.0))  # a morning pass, sun in the south-east
    az = math.radians(azimuth_deg)
    off_nadir = math.radians(rng.uniform(0.0, 16.0))
    view = rng.uniform(0.0, 2 * math.pi)
    lean = (math.tan(off_nadir) * math.cos(view), math.tan(off_nadir) * math.sin(view))
    light = Light((math.sin(az), -math.cos(az)), math.radians(elevation_deg), lean)
    cloud_cover = float(rng.uniform(0.04, 0.25)) if clouds and rng.random() < 0.3 else 0.0
    opacity = float(rng.uniform(0.45, 1.0))
    if exact:  # a schedule or layout promises every object is visible: thin cloud only
        opacity = min(opacity, 0.5)
    haze = float(rng.uniform(0.0, 0.1)) if rng.random() < 0.85 else float(rng.uniform(0.1, 0.22))
    cuts: tuple[tuple[float, float, float], ...] = ()
    if nodata_edges and rng.random() < 0.35:
        cuts = (_corner_cut(rng, shape),)
    tint = tuple(float(v) for v in 1.0 + rng.normal(0.0, 0.025, 4))
    return render.Look(season, light, haze, cloud_cover, opacity, float(rng.uniform(0.4, 0.65)),
                       float(rng.uniform(0.1, 0.4)), float(rng.uniform(0.004, 0.011)), tint,  # type: ignore[arg-type]
                       cuts)


def _corner_cut(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[float, float, float]:
    """A slanted swath edge across one corner: half-plane (a, b, c) with ``a*col + b*row > c`` nodata."""
    rows, cols = shape
    corner = int(rng.integers(0, 4))
    cx, cy = (cols if corner in (1, 2) else 0), (rows if corner in (2, 3) else 0)
    d_col = rng.uniform(0.08, 0.5) * cols
    d_row = rng.uniform(0.08, 0.5) * rows
    p1 = np.array([cx + (d_col if cx == 0 else -d_col), cy])
    p2 = np.array([cx, cy + (d_row if cy == 0 else -d_row)])
    normal = np.array([-(p2 - p1)[1], (p2 - p1)[0]])
    if np.dot(normal, np.array([cx, cy]) - p1) < 0:
        normal = -normal
    return float(normal[0]), float(normal[1]), float(np.dot(normal, p1))


def _valid_region(cuts: tuple[tuple[float, float, float], ...], shape: tuple[int, int]) -> Polygon:
    rows, cols = shape
    region = box(0, 0, cols, rows)
    big = 4.0 * max(rows, cols)
    for a, b, c in cuts:
        normal = np.array([a, b]) / math.hypot(a, b)
        along = np.array([-normal[1], normal[0]])
        p = normal * c / math.hypot(a, b)
        beyond = Polygon([p - along * big, p + along * big, p + along * big + normal * big,
                          p - along * big + normal * big])
        region = region.difference(beyond)
    return region


def _nodata_mask(region: Polygon, shape: tuple[int, int]) -> np.ndarray:
    rows, cols = shape
    valid = np.zeros(shape, np.uint8)
    if region.is_empty:
        return np.ones(shape, bool)
    polygons = region.geoms if hasattr(region, "geoms") else [region]
    for polygon in polygons:
        points = np.round((np.asarray(polygon.exterior.coords) - 0.5) * 16).astype(np.int32)
        cv2.fillPoly(valid, [points], 1, shift=4)
    return valid == 0


def _wagon_for(length_m: float, rng: np.random.Generator) -> str:
    fits = [w for w in WAGON_TYPES if w.length_m[0] - 1.0 <= length_m <= w.length_m[1] + 1.0]
    if not fits:
        return "flat" if length_m > 20 else "hopper"
    weights = np.array([w.weight for w in fits])
    return fits[int(rng.choice(len(fits), p=weights / weights.sum()))].name


def _layout_items(footprints: list[Footprint], origin: tuple[float, float], rng: np.random.Generator
                  ) -> tuple[list[Item], list[Track]]:
    """Items at the layout's footprints and the tracks their railcars stand on (one per row of cars)."""
    x0, y0 = origin
    items: list[Item] = []
    rows: dict[tuple[int, int], list[Item]] = {}
    for fp in footprints:
        centre = (fp.centre_xy[0] - x0, y0 - fp.centre_xy[1])
        angle = -fp.angle_rad  # the image's y axis points south
        seed = int(rng.integers(0, 2**31 - 1))
        if fp.class_name == "railcar":
            family = _wagon_for(fp.length_m, rng)
            item = Item(family, centre, fp.length_m, fp.width_m, angle, WAGONS_BY_NAME[family].height_m,
                        palette.pick(rng, palette.WAGON_COLOURS[family]), seed, label="railcar",
                        style="coal" if family == "gondola" else "none")
            axis_angle = angle % math.pi
            normal = np.array([-math.sin(axis_angle), math.cos(axis_angle)])
            key = (int(round(axis_angle / 0.06)), int(round(float(np.dot(centre, normal)) / 2.5)))
            rows.setdefault(key, []).append(item)
        elif fp.class_name == "tarp":
            item = Item("tarp_pile", centre, fp.length_m, fp.width_m, angle, 1.5,
                        palette.pick(rng, palette.tarp_colours()), seed, label="tarp")
        else:
            colours = tuple(palette.pick(rng, palette.CONTAINER_COLOURS) for _ in range(fp.stack_height))
            item = Item("container", centre, fp.length_m, fp.width_m, angle, fp.stack_height * CONTAINER_HEIGHT_M,
                        colours[-1], seed, label="container", base_m=(fp.stack_height - 1) * CONTAINER_HEIGHT_M,
                        stack_height=fp.stack_height, tier_colours=colours)
        items.append(item)
    tracks = []
    for members in rows.values():
        angle = float(np.mean([m.angle_rad % math.pi for m in members]))
        direction = np.array([math.cos(angle), math.sin(angle)])
        centres = np.array([m.centre_m for m in members])
        mean = centres.mean(axis=0)
        along = (centres - mean) @ direction
        half = max(m.length_m for m in members) / 2 + 80.0
        p0, p1 = mean + direction * (along.min() - half), mean + direction * (along.max() + half)
        tracks.append(Track((float(p0[0]), float(p0[1])), (float(p1[0]), float(p1[1])), "yard"))
    return items, tracks


def _scene_ids(site: str, acquired: date) -> str:
    return f"{site}_{acquired:%Y%m%d}"


def check_scene_args(gsd_m: float, dtype: str, bands: int, season: str, tarp_colours: str = "natural") -> None:
    """Raise :class:`ConfigError` naming the first of these arguments that is out of range."""
    if not (isinstance(gsd_m, (int, float)) and GSD_RANGE_M[0] <= gsd_m <= GSD_RANGE_M[1]):
        raise ConfigError(f"gsd_m={gsd_m!r} is outside {GSD_RANGE_M[0]}-{GSD_RANGE_M[1]} m; pick a GSD in that range")
    if dtype not in DTYPES:
        raise ConfigError(f"dtype={dtype!r} is not one of {', '.join(DTYPES)}")
    if bands not in BAND_COUNTS:
        raise ConfigError(f"bands={bands!r} is not 3 (RGB) or 4 (RGB + NIR)")
    if season not in SEASON_CHOICES:
        raise ConfigError(f"season={season!r} is not one of {', '.join(SEASON_CHOICES)}")
    palette.tarp_mix(tarp_colours)


def generate_scene(*, scene_size_px: int | tuple[int, int] = 1024, gsd_m: float = 0.5, seed: int = 0,
                   crs: str | int | None = None, dtype: str = "uint8", bands: int = 3, season: str = "random",
                   acquired: date | None = None, site: str = "yard-000", scene_id: str | None = None,
                   origin_xy: tuple[float, float] | None = None, site_seed: int | None = None,
                   site_extent_m: tuple[float, float] | None = None, counts: Counts | None = None,
                   layout: str | Path | None = None, clouds: bool = True, nodata_edges: bool = True,
                   return_masks: bool = False, tarp_colours: str = "natural") -> SynthScene:
    """Generate one georeferenced rail-yard scene with exact labels.

    Args:
        scene_size_px: side (or (cols, rows)) in pixels; ignored with ``layout`` or ``site_extent_m``.
        gsd_m: pixel size, 0.3 to 1.0 m.
        seed: randomness of everything that is not the site (content, light, atmosphere, sensor).
        crs: projected CRS in metres with an EPSG code (default EPSG:32652, UTM 52N near Tumangang; with a layout,
            the layout's own CRS).
        dtype: ``uint8`` or ``uint16`` (11-bit values 1..2047).
        bands: 3 (RGB) or 4 (RGB + NIR).
        season: summer, autumn, winter, or random (from the acquisition month).
        acquired: acquisition date (default: a date drawn from ``seed`` in 2023).
        site: site id written to the catalog.
        scene_id: file stem (default ``<site>_<YYYYMMDD>``).
        origin_xy: upper-left corner in the CRS (default: near Tumangang, or the CRS's area of use).
        site_seed: randomness of the site (tracks, roads, buildings, trees, pad); scenes sharing it show the same
            place. Default: derived from ``seed``.
        site_extent_m: (width, height) of the site in metres; scenes sharing it and ``site_seed`` cover the same
            ground at any GSD.
        counts: exact numbers of railcars, tarps and containers to place (each None: the scene's own density).
            With any count given, no object is cut by the edge, nodata or thick cloud, so the labels hold exactly
            those numbers.
        layout: vector file of footprints (any CRS) to draw objects at (see :func:`read_layout`); the scene covers
            the layout's bounds with a margin and labels exactly those objects.
        clouds: allow haze-thick cloud patches.
        nodata_edges: allow a nodata swath edge across a corner.
        return_masks: also return each object's rendered coverage (for checking labels against pixels).
        tarp_colours: ``natural`` (mostly blue and green, as in yards) or ``even`` (every tarp colour equally
            likely; for training sets, so that a detector cannot learn tarps by their colour). Everything else in
            the scene is the same under both.

    Raises:
        ConfigError: a parameter is out of range or the objects asked for do not fit.
        InputError, LabelError: the layout file cannot be used.
    """
    check_scene_args(gsd_m, dtype, bands, season, tarp_colours)
    acquired = acquired or date.fromordinal(date(2023, 1, 1).toordinal() + int(
        np.random.default_rng([int(seed), 4]).integers(0, 365)))
    plan = plan_scene(scene_size_px=scene_size_px, gsd_m=gsd_m, seed=seed, crs=crs, origin_xy=origin_xy,
                      site_seed=site_seed, site_extent_m=site_extent_m, counts=counts, layout=layout,
                      tarp_colours=tarp_colours)
    site_plan, items, exact, (cols, rows), origin, scene_crs = plan
    look_rng = np.random.default_rng([int(seed), 2])
    render_rng = np.random.default_rng([int(seed), 3])
    season_name = season_of(acquired) if season == "random" else season
    shape = (rows, cols)
    look = draw_look(look_rng, season_name, shape, clouds=clouds, nodata_edges=nodata_edges, exact=exact)
    if exact and look.nodata_cuts:
        region = _valid_region(look.nodata_cuts, shape)
        if any(not region.contains(Polygon(i.corners() / gsd_m)) for i in items if i.label is not None):
            look = dataclasses.replace(look, nodata_cuts=())
    transform = Affine(gsd_m, 0.0, float(origin[0]), 0.0, -gsd_m, float(origin[1]))
    image, objects, masks = _draw(site_plan, items, look, gsd_m, shape, bands, dtype, transform, render_rng,
                                  return_masks)
    azimuth = math.degrees(math.atan2(look.light.sun_xy[0], -look.light.sun_xy[1])) % 360.0
    return SynthScene(scene_id or _scene_ids(site, acquired), site, acquired, image, transform,
                      crs_name(scene_crs), float(gsd_m), season_name, azimuth,
                      math.degrees(look.light.elevation_rad), tuple(objects), masks)


def plan_scene(*, scene_size_px: int | tuple[int, int] = 1024, gsd_m: float = 0.5, seed: int = 0,
               crs: str | int | None = None, origin_xy: tuple[float, float] | None = None,
               site_seed: int | None = None, site_extent_m: tuple[float, float] | None = None,
               counts: Counts | None = None, layout: str | Path | None = None, tarp_colours: str = "natural"):
    """Everything :func:`generate_scene` decides before drawing (same arguments, same seeds, same result); every
    colour is drawn here, tarps' from the mix ``tarp_colours``.

    Cheap next to drawing, so callers can check that a whole run fits before writing anything.

    Returns:
        (site plan, items, exact, (cols, rows), origin (x, y) in the CRS, pyproj CRS).

    Raises:
        ConfigError, InputError, LabelError: as :func:`generate_scene`.
    """
    content_rng = np.random.default_rng([int(seed), 1])
    site_rng = np.random.default_rng([int(seed if site_seed is None else site_seed), 0])
    if layout is not None:
        footprints, scene_crs = read_layout(layout, crs)
        corners = np.array([fp.centre_xy for fp in footprints])
        reach = max(max(fp.length_m, fp.width_m) for fp in footprints)
        lo, hi = corners.min(axis=0) - reach, corners.max(axis=0) + reach
        margin = max(40.0, 0.06 * float(max(hi - lo)))
        x0 = math.floor((lo[0] - margin) / gsd_m) * gsd_m
        y0 = math.ceil((hi[1] + margin) / gsd_m) * gsd_m
        cols = int(math.ceil((hi[0] + margin - x0) / gsd_m))
        rows = int(math.ceil((y0 - (lo[1] - margin)) / gsd_m))
        _check_size(cols, rows)
        origin = (x0, y0)
        with palette.using_tarp_colours(tarp_colours):
            items, tracks = _layout_items(footprints, origin, content_rng)
        site_plan = plan_site(site_rng, (cols * gsd_m, rows * gsd_m), fixed_tracks=tracks,
                              reserved=[i.corners() for i in items])
        items = site_plan.statics + items + plan_vehicles(content_rng, site_plan, items)
        return site_plan, items, True, (cols, rows), origin, scene_crs
    scene_crs = resolve_crs(crs)
    if site_extent_m is not None:
        extent = (float(site_extent_m[0]), float(site_extent_m[1]))
        cols, rows = int(math.ceil(extent[0] / gsd_m - 1e-6)), int(math.ceil(extent[1] / gsd_m - 1e-6))
    else:
        cols, rows = ((scene_size_px, scene_size_px) if isinstance(scene_size_px, int)
                      else (int(scene_size_px[0]), int(scene_size_px[1])))
        extent = (cols * gsd_m, rows * gsd_m)
    _check_size(cols, rows)
    origin = origin_xy if origin_xy is not None else default_origin(scene_crs)
    site_plan = plan_site(site_rng, extent)
    exact = counts is not None and any(v is not None for v in (counts.railcars, counts.tarps, counts.containers))
    with palette.using_tarp_colours(tarp_colours):
        items = _plan_content(content_rng, site_plan, extent, counts if exact else None)
    return site_plan, items, exact, (cols, rows), origin, scene_crs


def _check_size(cols: int, rows: int) -> None:
    if cols < 32 or rows < 32:
        raise ConfigError(f"scene of {cols} x {rows} px is too small; scene_size_px must be at least 32")
    if cols > MAX_SCENE_PX or rows > MAX_SCENE_PX:
        raise ConfigError(f"scene of {cols} x {rows} px is larger than {MAX_SCENE_PX} px a side; use a coarser "
                          "gsd_m, a smaller scene_size_px or a smaller layout")


def _plan_content(rng: np.random.Generator, site: SitePlan, extent: tuple[float, float],
                  counts: Counts | None) -> list[Item]:
    width, height = extent
    if counts is None:
        bounds = (-15.0, -15.0, width + 15.0, height + 15.0)
        counts = Counts()
    else:
        margin = min(25.0, 0.04 * min(width, height))
        bounds = (margin, margin, width - margin, height - margin)
    cars = plan_trains(rng, site, bounds, counts.railcars)
    cars, loads, tarps_on_cars, containers_on_cars = plan_loads(rng, cars, counts.tarps, counts.containers)
    stacks = plan_stacks(rng, site, bounds,
                         None if counts.containers is None else counts.containers - containers_on_cars)
    ground = plan_ground(rng, site, bounds, cars + stacks,
                         None if counts.tarps is None else counts.tarps - tarps_on_cars)
    labelled = cars + loads + stacks + ground
    vehicles = plan_vehicles(rng, site, labelled)
    return site.statics + labelled + vehicles


def _draw(site: SitePlan, items: list[Item], look: render.Look, gsd_m: float, shape: tuple[int, int], bands: int,
          dtype: str, transform: Affine, rng: np.random.Generator, return_masks: bool
          ) -> tuple[np.ndarray, list[SynthObject], tuple[ObjectMask, ...] | None]:
    canvas = Canvas(render.render_ground(site, look, gsd_m, shape, bands, rng))
    stamps = render.draw_items(canvas, items, look, gsd_m)
    render.cast_shadows(canvas, look, gsd_m)
    cloud, cloud_shadow = render.cloud_opacity(look, shape, gsd_m, rng)
    region = _valid_region(look.nodata_cuts, shape)
    nodata = _nodata_mask(region, shape) if look.nodata_cuts else None
    objects, masks = _label(items, stamps, canvas, cloud, region, nodata, gsd_m, transform, return_masks)
    image = canvas.image
    del canvas
    render.apply_atmosphere(image, look, cloud, cloud_shadow, gsd_m, rng)
    del cloud, cloud_shadow
    render.apply_sensor(image, look, rng)
    return _quantize(image, dtype, nodata), objects, masks


def _label(items: list[Item], stamps: list[Stamp | None], canvas: Canvas, cloud: np.ndarray | None,
           region: Polygon, nodata: np.ndarray | None, gsd_m: float, transform: Affine, return_masks: bool
           ) -> tuple[list[SynthObject], tuple[ObjectMask, ...] | None]:
    """Labels of the objects that can be seen: at least half inside the data and not mostly under thick cloud."""
    rows, cols = canvas.shape
    objects: list[SynthObject] = []
    masks: list[ObjectMask] = []
    scene_box = (0.0, 0.0, float(cols), float(rows))
    for index, (item, stamp) in enumerate(zip(items, stamps)):
        if item.label is None or stamp is None:
            continue
        corners_px = item.corners() / gsd_m
        inside_box = bool(corners_px[:, 0].min() >= scene_box[0] and corners_px[:, 1].min() >= scene_box[1]
                          and corners_px[:, 0].max() <= scene_box[2] and corners_px[:, 1].max() <= scene_box[3])
        rectangle = Polygon(corners_px)
        truncated = not (inside_box and (nodata is None or region.contains(rectangle)))
        if truncated:
            visible = rectangle.intersection(region)
            if visible.is_empty or visible.area < 0.5 * rectangle.area:
                continue
            corners_px = _visible_rectangle(corners_px, region)
            if corners_px is None:
                continue
        window = (slice(stamp.row_off, stamp.row_off + stamp.alpha.shape[0]),
                  slice(stamp.col_off, stamp.col_off + stamp.alpha.shape[1]))
        solid = stamp.alpha >= 0.5
        n_solid = max(int(solid.sum()), 1)
        hidden = solid & (canvas.owner[window] != index)
        if cloud is not None:
            cloudy = solid & (cloud[window] > _CLOUD_OPAQUE)
            if cloudy.sum() > 0.5 * n_solid:
                continue
            hidden |= cloudy
        occluded = hidden.sum() > _HIDDEN_SHARE_OCCLUDED * n_solid
        xs = transform.c + transform.a * corners_px[:, 0] + transform.b * corners_px[:, 1]
        ys = transform.f + transform.d * corners_px[:, 0] + transform.e * corners_px[:, 1]
        objects.append(SynthObject(
            item.label, CLASS_IDS[item.label],
            tuple((float(c), float(r)) for c, r in corners_px),
            tuple((float(x), float(y)) for x, y in zip(xs, ys)),
            bool(occluded), bool(truncated), int(item.stack_height), float(item.length_m), float(item.width_m),
            item.kind))
        if return_masks:
            masks.append(ObjectMask(stamp.row_off, stamp.col_off, stamp.alpha.copy()))
    return objects, (tuple(masks) if return_masks else None)


def _clip_params(a: np.ndarray, b: np.ndarray, region: Polygon) -> tuple[float, float] | None:
    """Parameters [t0, t1] of the part of segment a->b inside the convex ``region``."""
    part = shapely.LineString([a, b]).intersection(region)
    if part.is_empty or part.length <= 0:
        return None
    points = np.asarray(part.coords if part.geom_type == "LineString" else shapely.get_coordinates(part))
    direction = b - a
    t = (points - a) @ direction / float(direction @ direction)
    return float(t.min()), float(t.max())


def _visible_rectangle(corners: np.ndarray, region: Polygon) -> np.ndarray | None:
    """The largest part of a rectangle, cut across its first axis then its second, that lies inside ``region``.

    A truncated object keeps its orientation and is shortened from the side the edge (or nodata) cuts it, so its
    label stays an oriented rectangle inside the data.
    """
    c0, c1, c2, c3 = corners
    spans = [_clip_params(c0, c1, region), _clip_params(c3, c2, region)]
    if None in spans:
        return None
    t0, t1 = max(spans[0][0], spans[1][0]), min(spans[0][1], spans[1][1])
    if t1 - t0 <= 1e-6:
        return None
    c0, c1 = c0 + (c1 - c0) * t0, c0 + (c1 - c0) * t1
    c3, c2 = c3 + (c2 - c3) * t0, c3 + (c2 - c3) * t1
    spans = [_clip_params(c0, c3, region), _clip_params(c1, c2, region)]
    if None in spans:
        return None
    s0, s1 = max(spans[0][0], spans[1][0]), min(spans[0][1], spans[1][1])
    if s1 - s0 <= 1e-6:
        return None
    shrunk = np.array([c0 + (c3 - c0) * s0, c1 + (c2 - c1) * s0, c1 + (c2 - c1) * s1, c0 + (c3 - c0) * s1])
    if Polygon(shrunk).area < 0.3 * Polygon(corners).area:
        return None
    return shrunk


def _quantize(image: np.ndarray, dtype: str, nodata: np.ndarray | None) -> np.ndarray:
    """(bands, rows, cols) float display reflectance -> integers of ``dtype``, 0 reserved for nodata."""
    out = np.empty(image.shape, np.uint8 if dtype == "uint8" else np.uint16)
    for band, plane in enumerate(image):
        if dtype == "uint8":
            cv2.convertScaleAbs(plane, dst=out[band], alpha=255.0)
            np.maximum(out[band], 1, out=out[band])
        else:
            # display values are roughly gamma-encoded; squaring gives radiance-like DNs of an 11-bit sensor
            np.clip(plane, 0.0, 1.05, out=plane)
            np.multiply(plane, plane, out=plane)
            plane *= 1850.0
            plane += 55.0
            np.clip(plane, 1.0, UINT16_MAX_DN, out=plane)
            out[band] = plane
        if nodata is not None:
            out[band][nodata] = 0
    return out
