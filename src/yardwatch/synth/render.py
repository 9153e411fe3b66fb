"""Turn a site and its content into pixels: ground, tracks, objects, shadows, atmosphere and sensor.

Whole-scene work is a handful of vectorised passes, so that a 4096 x 4096 scene takes seconds on one core:
- the ground is a uint8 land-cover map (``cv2.fillPoly`` / ``cv2.line``) turned into colour through look-up tables
  and one luminance factor that carries every texture (grain, mottling, the sleeper rhythm, rails, road marks);
- objects are small sprites warped into place (see :mod:`yardwatch.synth.canvas`);
- shadows are one ray march over the height map; haze, cloud, cloud shadow and a colour cast are one pass;
- the sensor is a Gaussian point-spread function and additive noise shared by the bands (pansharpened-like).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from yardwatch.synth import palette, sprites
from yardwatch.synth.canvas import NO_OWNER, Canvas, Stamp
from yardwatch.synth.catalogue import CONTAINER_HEIGHT_M, SLEEPER_LENGTH_M, SLEEPER_SPACING_M, TRACK_GAUGE_M
from yardwatch.synth.noise import pixel_noise, smooth_field
from yardwatch.synth.palette import Material
from yardwatch.synth.plan import Item, SitePlan
from yardwatch.synth.sprites import Frame, Light

_SHIFT = 4  # fixed-point bits for sub-pixel cv2 drawing
_VEIL_COLOUR = (0.86, 0.88, 0.92, 0.80)
SKY_LIGHT = (0.32, 0.35, 0.45, 0.30)  # share of light left in shadow, per band (skylight is blue)


@dataclass(frozen=True, slots=True)
class Look:
    """How one acquisition looks: season, light, atmosphere, sensor, and the nodata cut at its edge.

    ``nodata_cuts`` are half-planes (a, b, c) in scene pixels: ``a * col + b * row > c`` has no data.
    """

    season: str
    light: Light
    haze: float
    cloud_cover: float
    cloud_opacity: float
    blur_px: float
    sharpen: float
    noise: float
    tint: tuple[float, float, float, float]
    nodata_cuts: tuple[tuple[float, float, float], ...]


def _cv_points(points_m: np.ndarray, gsd_m: float) -> np.ndarray:
    """Metres -> cv2 fixed-point pixel coordinates (cv2 puts pixel centres on integers)."""
    return np.round((np.asarray(points_m, np.float64) / gsd_m - 0.5) * (1 << _SHIFT)).astype(np.int32)


def _line(mask: np.ndarray, p0: np.ndarray, p1: np.ndarray, gsd_m: float, value: int, width_m: float,
          antialias: bool = False) -> None:
    a, b = _cv_points(np.array([p0, p1]), gsd_m)
    thickness = max(1, int(round(width_m / gsd_m)))
    cv2.line(mask, tuple(int(v) for v in a), tuple(int(v) for v in b), value, thickness=thickness,
             lineType=cv2.LINE_AA if antialias else cv2.LINE_8, shift=_SHIFT)


def render_ground(site: SitePlan, look: Look, gsd_m: float, shape: tuple[int, int], bands: int,
                  rng: np.random.Generator) -> np.ndarray:
    """The ground of the scene: land cover, yard, tracks, roads; returns (bands, rows, cols) float32."""
    rows, cols = shape
    cover = np.full(shape, Material.GRASS, np.uint8)
    patches = smooth_field(rng, shape, 220.0 / gsd_m, octaves=6, persistence=0.6)
    cover[patches > 0.55] = Material.DRY_GRASS
    cover[patches < -1.5] = Material.SOIL
    del patches
    for area in site.areas:
        cv2.fillPoly(cover, [_cv_points(np.array(area.polygon), gsd_m)], int(area.material), shift=_SHIFT)
    for road in site.roads:
        points = _cv_points(np.array(road.points), gsd_m)
        cv2.polylines(cover, [points], False, int(road.surface), thickness=max(1, int(round(road.width_m / gsd_m))),
                      shift=_SHIFT)
    rails = np.zeros(shape, np.uint8)
    for material, width_m in ((Material.GRAVEL, 12.0), (Material.BALLAST, 3.8), (Material.SLEEPERS, SLEEPER_LENGTH_M),
                              (Material.RAIL_INNER, TRACK_GAUGE_M)):
        for track in site.tracks:
            _line(cover, np.asarray(track.p0), np.asarray(track.p1), gsd_m, int(material), width_m)
    for track in site.tracks:
        p0, p1 = np.asarray(track.p0), np.asarray(track.p1)
        direction = (p1 - p0) / max(track.length_m, 1e-6)
        across = np.array([-direction[1], direction[0]]) * (TRACK_GAUGE_M / 2 + 0.035)
        for sign in (-1, 1):
            _line(rails, p0 + sign * across, p1 + sign * across, gsd_m, 255, gsd_m, antialias=True)
    marks = _road_marks(site, gsd_m, shape)
    mix = smooth_field(rng, shape, 70.0 / gsd_m, octaves=3)
    weeds = (cover == Material.GRAVEL) & (mix > 0.6)
    cover[weeds] = Material.WEEDS
    del weeds

    colour_a, delta, amps = palette.ground_tables(look.season, site.wooden_sleepers)
    # one luminance factor carries every texture: 1 + grain * pixel noise + mottle * metre-scale noise + ...
    factor = cv2.LUT(cover, amps[:, 0])
    factor *= pixel_noise(rng, shape)
    mottle = smooth_field(rng, shape, max(2.0, 4.0 / gsd_m), octaves=3)
    scratch = cv2.LUT(cover, amps[:, 1])
    scratch *= mottle
    del mottle
    factor += scratch
    factor += 1.0
    if site.tracks:
        _add_sleeper_rhythm(factor, cover, amps[:, 2], site.yard_angle_rad, gsd_m)
    rail_darkening = float(np.clip(0.22 / gsd_m, 0.15, 0.6)) / 255.0
    np.multiply(rails, -rail_darkening, out=scratch)
    factor += scratch
    del rails
    if marks is not None:
        np.multiply(marks, float(np.clip(0.35 / gsd_m, 0.3, 1.2)) * 1.6 / 255.0, out=scratch)
        factor += scratch
    del scratch, marks
    # colour = a + (b - a) * mix through one 8-bit look-up of (material, 16 mix levels) per band
    levels = 16
    ramp = np.linspace(0.0, 1.0, levels, dtype=np.float32)
    # mix in [-2, 2] -> level 0..15; convertScaleAbs rounds, so stay below 15.5 or the level spills into the
    # material bits
    np.clip(mix, -2.0, 2.0 * (levels - 1.0) / levels, out=mix)
    mix += 2.0
    index = cv2.convertScaleAbs(mix, alpha=(levels - 1) / 4.0)
    del mix
    index |= cover << 4
    del cover
    image = np.empty((bands, rows, cols), np.float32)
    for band in range(bands):
        table = (colour_a[:levels, None, band] + delta[:levels, None, band] * ramp[None, :]).reshape(-1)
        cv2.LUT(index, table.astype(np.float32), dst=image[band])
        image[band] *= factor
    del index
    return image


def _add_sleeper_rhythm(factor: np.ndarray, cover: np.ndarray, amplitude_lut: np.ndarray, angle_rad: float,
                        gsd_m: float) -> None:
    """Add amp * cos(2 pi s / spacing) where the material has a sleeper amplitude, s along the yard axis.

    The rhythm is damped as a pixel of ``gsd_m`` averages it (sinc), and evaluated only on track pixels.
    """
    amplitude = cv2.LUT(cover, amplitude_lut)
    rows, cols = np.nonzero(amplitude)
    if rows.size == 0:
        return
    omega = 2 * math.pi / SLEEPER_SPACING_M * gsd_m
    damping = abs(float(np.sinc(gsd_m / SLEEPER_SPACING_M)))
    phase = (cols.astype(np.float32) + 0.5) * (omega * math.cos(angle_rad))
    phase += (rows.astype(np.float32) + 0.5) * (omega * math.sin(angle_rad))
    factor[rows, cols] += amplitude[rows, cols] * damping * np.cos(phase)


def _road_marks(site: SitePlan, gsd_m: float, shape: tuple[int, int]) -> np.ndarray | None:
    """Dashed centre lines and solid edge lines of marked asphalt roads (uint8 coverage)."""
    marked = [road for road in site.roads if road.marked and road.surface == Material.ASPHALT]
    if not marked:
        return None
    marks = np.zeros(shape, np.uint8)
    for road in marked:
        points = np.asarray(road.points)
        for a, b in zip(points[:-1], points[1:]):
            length = float(np.linalg.norm(b - a))
            direction = (b - a) / max(length, 1e-6)
            across = np.array([-direction[1], direction[0]])
            for sign in (-1, 1):
                edge = across * sign * (road.width_m / 2 - 0.4)
                _line(marks, a + edge, b + edge, gsd_m, 255, 0.15, antialias=True)
            for t in np.arange(0.0, length - 3.0, 9.0):
                _line(marks, a + direction * t, a + direction * (t + 3.0), gsd_m, 255, 0.15, antialias=True)
    return marks


# --- objects ---------------------------------------------------------------------------------------------------------

_TREE_CACHE_VARIANTS = 6
_BANKED = ("car", "box", "tank", "hopper", "gondola", "flat", "locomotive", "container")
_BANK_VARIANTS = 3  # dirt and rust patterns per (size, paint, heading)


def draw_items(canvas: Canvas, items: list[Item], look: Look, gsd_m: float) -> list[Stamp | None]:
    """Composite every item, lowest first, with its visible walls; returns the stamp of each item (input order)."""
    stamps: list[Stamp | None] = [None] * len(items)
    supersample = sprites.supersample_for(gsd_m)
    light = look.light
    tree_cache: dict[tuple, sprites.Sprite] = {}
    sprite_bank: dict[tuple, sprites.Sprite] = {}
    order = sorted(range(len(items)), key=lambda index: (items[index].height_m, index))
    for index in order:
        item = items[index]
        rng = np.random.default_rng(item.seed)
        centre_px = (item.centre_m[0] / gsd_m, item.centre_m[1] / gsd_m)
        if item.kind == "tree":
            sprite, base = _tree_sprite(item, look, gsd_m, supersample, tree_cache)
            if look.season == "winter" and item.style != "conifer":  # bare branches: a faint, lacy shadow at most
                sprite = sprites.Sprite(sprite.colour, sprite.alpha, None)
                canvas.stamp(sprite, centre_px, 0.0, height_m=0.0)
            else:
                canvas.stamp(sprite, centre_px, 0.0, height_m=item.height_m, base_m=base)
            continue
        _draw_walls(canvas, item, light, gsd_m)
        if item.kind in _BANKED:  # repeated objects (cars, block-train wagons, containers) share a sprite
            key = (item.kind, item.style, round(item.length_m, 3), round(item.width_m, 3), item.colour,
                   round(item.angle_rad % (2 * math.pi), 2), item.seed % _BANK_VARIANTS)
            if key not in sprite_bank:
                sprite_bank[key] = _sprite(item, light, gsd_m, supersample, rng, look.season)
            sprite = sprite_bank[key]
        else:
            sprite = _sprite(item, light, gsd_m, supersample, rng, look.season)
        owner = index if item.label is not None else NO_OWNER
        stamps[index] = canvas.stamp(sprite, centre_px, item.angle_rad, height_m=item.height_m,
                                     base_m=item.base_m, owner=owner)
    return stamps


def _sprite(item: Item, light: Light, gsd_m: float, supersample: int, rng: np.random.Generator,
            season: str) -> sprites.Sprite:
    if item.kind == "building":
        supersample = min(supersample, 2)
    frame = Frame(item.length_m, item.width_m, gsd_m, supersample)
    sun = light.sun_local(item.angle_rad)
    kind = item.kind
    if kind in ("box", "tank", "hopper", "gondola", "flat", "locomotive"):
        sprite = sprites.wagon(kind, frame, item.colour, sun, rng, load=item.style or "none")
    elif kind == "container":
        sprite = sprites.container(frame, item.colour, sun, rng)
    elif kind in ("tarp_load", "tarp_pile"):
        sprite = sprites.tarp(frame, item.colour, sun, rng, on_ground=kind == "tarp_pile")
    elif kind in ("car", "truck", "bus", "reach_stacker"):
        sprite = sprites.vehicle(kind, frame, item.colour, sun, rng)
    elif kind == "building":
        sprite = sprites.building(item.style, frame, item.colour, sun, rng, item.height_m)
    elif kind == "heap":
        sprite = sprites.heap(frame, item.colour, sun, rng)
    else:
        sprite = sprites.plain(frame, item.colour)
    if season == "winter" and kind in ("building", "box", "hopper", "container", "tarp_pile", "heap") \
            and rng.random() < 0.6:
        sprite = _snow_on(sprite, rng)
    return sprite


def _snow_on(sprite: sprites.Sprite, rng: np.random.Generator) -> sprites.Sprite:
    """Patchy snow lying on a roof or a load."""
    rows, cols = sprite.alpha.shape
    coarse = rng.random((max(2, rows // 12), max(2, cols // 12)), dtype=np.float32)
    cover = np.clip((cv2.resize(coarse, (cols, rows), interpolation=cv2.INTER_CUBIC) - 0.15) * 2.0, 0, 1)
    cover *= rng.uniform(0.5, 0.95)
    snow = np.asarray((0.9, 0.92, 0.95, 0.85), np.float32)
    colour = sprite.colour + (snow - sprite.colour) * cover[..., None]
    return sprites.Sprite(colour.astype(np.float32), sprite.alpha, sprite.height_m)


def _tree_sprite(item: Item, look: Look, gsd_m: float, supersample: int, cache: dict
                 ) -> tuple[sprites.Sprite, float]:
    """A crown from a small per-scene bank (drawn unrotated so every crown keeps the scene's sun)."""
    radius_bucket = round(item.length_m / 2 * 2) / 2
    conifer = item.style == "conifer"
    variant = item.seed % _TREE_CACHE_VARIANTS
    key = (radius_bucket, variant, conifer)
    if key not in cache:
        rng = np.random.default_rng(item.seed % 100003)
        if conifer:
            colour = palette.pick(rng, ((1, (0.15, 0.23, 0.17)), (1, (0.18, 0.26, 0.18))))
        else:
            colour = palette.pick(rng, palette.TREE_COLOURS[look.season])
        frame = Frame(radius_bucket * 2, radius_bucket * 2, gsd_m, supersample)
        cache[key] = sprites.tree(frame, colour, look.light.sun_local(0.0), rng,
                                  bare=look.season == "winter" and not conifer)
    return cache[key], max(item.height_m - radius_bucket * 0.8, 1.0)


def _draw_walls(canvas: Canvas, item: Item, light: Light, gsd_m: float) -> None:
    """Walls that face the sensor in an off-nadir view, between the roof (drawn at the footprint) and the base.

    The walls of one storey are one polygon (the hull of the roof and its displaced copy; the roof drawn next
    covers the inside), shaded as the wall that faces the sensor most. Container stacks show one band per tier in
    that tier's colour, which is how stack height reads in real images.
    """
    lean_x, lean_y = light.lean_xy_m
    lean_norm = math.hypot(lean_x, lean_y)
    if item.kind in ("beam", "heap") or (item.height_m - item.base_m) * lean_norm / gsd_m < 0.5:
        return
    corners = item.corners()
    c, s = math.cos(item.angle_rad), math.sin(item.angle_rad)
    # outward normals of the length and width walls; pick the one of each pair facing the sensor (against lean)
    faces = [(-s, c), (s, -c), (c, s), (-c, -s)]
    exposure = [-(fx * lean_x + fy * lean_y) / lean_norm for fx, fy in faces]
    best = max(range(4), key=lambda k: exposure[k] * (item.length_m if k < 2 else item.width_m))
    facing = faces[best]
    sun_x, sun_y = light.sun_xy
    lit = 0.3 + 0.9 * max(0.0, facing[0] * sun_x + facing[1] * sun_y) * math.cos(light.elevation_rad)
    if item.tier_colours:
        tiers = [(k * CONTAINER_HEIGHT_M, (k + 1) * CONTAINER_HEIGHT_M, col) for k, col in enumerate(item.tier_colours)]
    else:
        tiers = [(item.base_m, item.height_m, item.colour)]
    lean = np.array([lean_x, lean_y])
    for z0, z1, colour in tiers:
        top = corners - (item.height_m - z1) * lean
        bottom = corners - (item.height_m - z0) * lean
        hull = cv2.convexHull(np.concatenate([top, bottom]).astype(np.float32)).reshape(-1, 2)
        r, g, b = (v * lit * 0.9 for v in colour)
        wall = np.array([r, g, b, 0.55 * (r + g + b) / 3 + 0.12], np.float32)
        canvas.fill_polygon(hull / gsd_m, wall, height_m=(z0 + z1) / 2)


def cast_shadows(canvas: Canvas, look: Look, gsd_m: float) -> None:
    """Darken everything the sun does not reach (one shadow pass for the whole scene)."""
    canvas.apply_shadow(canvas.shadow_mask(look.light, gsd_m), SKY_LIGHT)


# --- atmosphere and sensor ----------------------------------------------------------------------------------------

def cloud_opacity(look: Look, shape: tuple[int, int], gsd_m: float, rng: np.random.Generator
                  ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Opacity of cloud (0..1) and of its shadow on the ground, float32 (rows, cols), or (None, None)."""
    if look.cloud_cover <= 0.0:
        return None, None
    rows, cols = shape
    scale = 8
    small_shape = (rows // scale + 2, cols // scale + 2)
    shift = int(round(rng.uniform(0.05, 0.2) * max(small_shape)))
    field = smooth_field(rng, (small_shape[0] + shift, small_shape[1] + shift), 350.0 / gsd_m / scale, octaves=4)
    threshold = float(np.quantile(field, 1.0 - look.cloud_cover))
    opacity = np.clip((field - threshold) * 1.6, 0.0, 1.0) ** 1.2 * look.cloud_opacity
    cloud = opacity[:small_shape[0], :small_shape[1]]
    shadow = opacity[shift:shift + small_shape[0], shift:shift + small_shape[1]]
    size = (small_shape[1] * scale, small_shape[0] * scale)
    cloud_full = cv2.resize(np.ascontiguousarray(cloud), size, interpolation=cv2.INTER_LINEAR)[:rows, :cols]
    shadow_full = cv2.resize(np.ascontiguousarray(shadow), size, interpolation=cv2.INTER_LINEAR)[:rows, :cols]
    return np.ascontiguousarray(cloud_full), np.ascontiguousarray(shadow_full)


def apply_atmosphere(image: np.ndarray, look: Look, cloud: np.ndarray | None, cloud_shadow: np.ndarray | None,
                     gsd_m: float, rng: np.random.Generator) -> None:
    """Haze (uneven), cloud and cloud shadow, and the scene's colour cast, in place."""
    bands, rows, cols = image.shape
    veil = smooth_field(rng, (rows, cols), 600.0 / gsd_m, octaves=2)
    veil *= look.haze * 0.35
    veil += look.haze
    np.clip(veil, 0.0, 0.6, out=veil)
    if cloud is not None:
        # veil = haze + cloud * (1 - haze)
        np.add(veil, cloud * (1.0 - veil), out=veil)
    keep = 1.0 - veil
    if cloud_shadow is not None:
        keep *= 1.0 - 0.5 * cloud_shadow
    scratch = np.empty((rows, cols), np.float32)
    for band in range(bands):
        plane = image[band]
        plane *= keep
        np.multiply(veil, _VEIL_COLOUR[band], out=scratch)
        plane += scratch
        plane *= look.tint[band]


def sensor_kernel(blur_px: float, sharpen: float) -> np.ndarray:
    """1-D kernel of the sensor: a Gaussian point-spread function followed by the ground segment's sharpening.

    ``(1 + sharpen) * G(blur) - sharpen * G(2.2 blur)`` rings a little at edges, as sharpened satellite products do.
    """
    radius = int(math.ceil(3 * 2.2 * blur_px))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    narrow = np.exp(-0.5 * (x / blur_px) ** 2)
    wide = np.exp(-0.5 * (x / (2.2 * blur_px)) ** 2)
    kernel = (1 + sharpen) * narrow / narrow.sum() - sharpen * wide / wide.sum()
    return (kernel / kernel.sum()).astype(np.float32)


def apply_sensor(image: np.ndarray, look: Look, rng: np.random.Generator) -> None:
    """Point-spread blur with sharpening, and noise shared by the bands (as in pansharpened products), in place."""
    kernel = sensor_kernel(look.blur_px, look.sharpen)
    noise = pixel_noise(rng, image.shape[1:])
    noise *= look.noise * math.sqrt(3.0)
    for plane in image:
        cv2.sepFilter2D(plane, -1, kernel, kernel, dst=plane, borderType=cv2.BORDER_REFLECT)
        plane += noise
