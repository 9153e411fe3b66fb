"""Top views of single objects, drawn in the object's own frame and then warped into the scene.

Each sprite is a small array around one oriented rectangle: ``u`` runs along the object's length and ``v``
across it, both in metres from its centre. Surfaces are shaded by the sun with Lambert's law on their normals
(cylindrical tanks, gable roofs, tarp folds), so one sun direction lights the whole scene. Detail is drawn at a
supersampled grid and averaged down (``cv2.INTER_AREA``), the way a sensor integrates a pixel, and the alpha is
the exact area of the rectangle in each output pixel, so the rendered footprint is the labelled one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from yardwatch.synth.palette import with_nir

PAD_PX = 2
_MAX_SUPERSAMPLED_PX = 12000


@dataclass(frozen=True, slots=True)
class Light:
    """Sun and view geometry of a scene, in the image frame (x right, y down).

    Attributes:
        sun_xy: unit horizontal vector pointing towards the sun.
        elevation_rad: sun elevation above the horizon.
        lean_xy_m: horizontal displacement of a roof relative to its base, metres per metre of height (off-nadir
            view); side walls facing the sensor show between base and roof.
    """

    sun_xy: tuple[float, float]
    elevation_rad: float
    lean_xy_m: tuple[float, float]

    def sun_local(self, angle_rad: float) -> tuple[float, float, float]:
        """The sun vector (u, v, z) in the frame of an object whose length axis is at ``angle_rad``."""
        c, s = math.cos(angle_rad), math.sin(angle_rad)
        sx, sy = self.sun_xy
        horizontal = math.cos(self.elevation_rad)
        return ((sx * c + sy * s) * horizontal, (-sx * s + sy * c) * horizontal, math.sin(self.elevation_rad))


@dataclass(frozen=True, slots=True)
class Sprite:
    """An object drawn in its own frame at the scene's pixel size.

    Attributes:
        colour: (rows, cols, 4) float32 RGB + NIR, defined over the whole array (also outside the footprint).
        alpha: (rows, cols) float32 coverage of the footprint.
        height_m: (rows, cols) float32 surface height above ground, or None for a flat roof at the object height.
    """

    colour: np.ndarray
    alpha: np.ndarray
    height_m: np.ndarray | None = None


class Frame:
    """Coordinates of a sprite: ``u`` (1, cols) and ``v`` (rows, 1) in metres at the supersampled grid.

    Large sprites (roofs of halls) are supersampled less: their detail is coarse and their area is what costs.
    """

    def __init__(self, length_m: float, width_m: float, gsd_m: float, supersample: int) -> None:
        self.length_m, self.width_m, self.gsd_m = length_m, width_m, gsd_m
        self.cols = int(math.ceil(length_m / gsd_m)) + 2 * PAD_PX
        self.rows = int(math.ceil(width_m / gsd_m)) + 2 * PAD_PX
        supersample = min(supersample, max(1, int(math.sqrt(_MAX_SUPERSAMPLED_PX / (self.rows * self.cols)))))
        self.ss = supersample
        step = gsd_m / supersample
        cols_ss = np.arange(self.cols * supersample, dtype=np.float32)
        rows_ss = np.arange(self.rows * supersample, dtype=np.float32)
        self.u = ((cols_ss + 0.5) * step - self.cols * gsd_m / 2)[None]
        self.v = ((rows_ss + 0.5) * step - self.rows * gsd_m / 2)[:, None]

    @property
    def shape_ss(self) -> tuple[int, int]:
        return self.rows * self.ss, self.cols * self.ss

    def coverage(self) -> np.ndarray:
        """Exact fraction of each output pixel inside the footprint rectangle, (rows, cols) float32."""

        def axis(n: int, size_m: float) -> np.ndarray:
            centres = (np.arange(n, dtype=np.float32) + 0.5) * self.gsd_m - n * self.gsd_m / 2
            return np.minimum(np.maximum((size_m / 2 - np.abs(centres)) / self.gsd_m + 0.5, 0.0), 1.0)

        return np.outer(axis(self.rows, self.width_m), axis(self.cols, self.length_m)).astype(np.float32)

    def box(self, u0: float, u1: float, v0: float, v1: float) -> tuple[slice, slice]:
        """Index slices (rows, cols) of the supersampled grid covering u0..u1, v0..v1 metres."""
        step = self.gsd_m / self.ss
        c0 = int(round((u0 + self.cols * self.gsd_m / 2) / step))
        c1 = int(round((u1 + self.cols * self.gsd_m / 2) / step))
        r0 = int(round((v0 + self.rows * self.gsd_m / 2) / step))
        r1 = int(round((v1 + self.rows * self.gsd_m / 2) / step))
        return slice(max(r0, 0), max(r1, 0)), slice(max(c0, 0), max(c1, 0))

    def down(self, array: np.ndarray) -> np.ndarray:
        """Average a supersampled array to the output grid."""
        if self.ss == 1:
            return np.ascontiguousarray(array, dtype=np.float32)
        return cv2.resize(np.ascontiguousarray(array, dtype=np.float32), (self.cols, self.rows),
                          interpolation=cv2.INTER_AREA)


def supersample_for(gsd_m: float) -> int:
    """Supersampling factor: detail of about 0.2 m is resolved before it is averaged into a pixel."""
    return int(min(4, max(1, math.ceil(gsd_m / 0.2))))


def _lambert(normal_u: np.ndarray | float, normal_v: np.ndarray | float, normal_z: np.ndarray | float,
             sun: tuple[float, float, float], ambient: float = 0.32) -> np.ndarray:
    """Brightness of a surface relative to flat ground in full sun (1.0), with sky light in shadowed parts."""
    norm = np.sqrt(np.square(normal_u) + np.square(normal_v) + np.square(normal_z))
    cos_incidence = (normal_u * sun[0] + normal_v * sun[1] + normal_z * sun[2]) / norm
    direct = np.maximum(cos_incidence, 0.0) * ((1.0 - ambient) / max(sun[2], 0.2))
    direct += ambient
    return np.minimum(np.maximum(direct, 0.15), 1.35).astype(np.float32, copy=False)


def _heightfield_shade(z: np.ndarray, step_m: float, sun: tuple[float, float, float],
                       ambient: float = 0.32) -> np.ndarray:
    dz_dv, dz_du = np.gradient(z, step_m)
    return _lambert(-dz_du, -dz_dv, np.ones_like(z), sun, ambient)


def _grain(rng: np.random.Generator, shape: tuple[int, int], amount: float) -> np.ndarray:
    """1 + uniform noise of standard deviation ``amount`` (uniform: a third of the cost of a Gaussian draw)."""
    grain = rng.random(shape, dtype=np.float32)
    grain -= 0.5
    grain *= amount * 3.4641016  # sqrt(12)
    grain += 1.0
    return grain


def _blotches(rng: np.random.Generator, shape: tuple[int, int], cell_px: float, amount: float) -> np.ndarray:
    """Smooth dirt/fading patches of about ``cell_px`` supersampled pixels."""
    rows, cols = shape
    coarse = rng.standard_normal((max(2, int(rows / cell_px) + 2), max(2, int(cols / cell_px) + 2)),
                                 dtype=np.float32)
    return (1.0 + amount * cv2.resize(coarse, (cols, rows), interpolation=cv2.INTER_LINEAR)).astype(np.float32)


def _finish(frame: Frame, rgb: np.ndarray, alpha: np.ndarray | None = None, height: np.ndarray | None = None,
            vegetation: float = 0.0) -> Sprite:
    colour = with_nir(np.minimum(np.maximum(frame.down(rgb), 0.0), 1.2), vegetation)
    cover = frame.coverage() if alpha is None else alpha
    return Sprite(np.ascontiguousarray(colour, dtype=np.float32), cover.astype(np.float32),
                  None if height is None else frame.down(height))


def _paint(base: tuple[float, float, float], shade: np.ndarray) -> np.ndarray:
    return shade[..., None] * np.asarray(base, dtype=np.float32)


# --- rail vehicles -----------------------------------------------------------------------------------------------

def wagon(kind: str, frame: Frame, colour: tuple[float, float, float], sun: tuple[float, float, float],
          rng: np.random.Generator, load: str = "none") -> Sprite:
    """A railcar of family ``kind`` (box, tank, hopper, gondola, flat, locomotive) seen from above."""
    u, v = frame.u, frame.v
    half_l, half_w = frame.length_m / 2, frame.width_m / 2
    shape = frame.shape_ss
    x = np.clip(v / half_w, -1.0, 1.0)
    end = np.abs(u) > half_l - 0.45  # buffers, couplers and end platforms
    edge = np.abs(v) > half_w - 0.10
    dirt = _blotches(rng, shape, 6 * frame.ss, 0.06) * _grain(rng, shape, 0.03)
    base = np.asarray(colour, dtype=np.float32)
    if kind == "tank":
        radius = half_w - 0.08
        body_half = half_l - 0.95
        cap = radius * 0.45 * (1.0 - np.sqrt(np.clip(1.0 - (v / radius) ** 2, 0.0, 1.0)))
        tank = (np.abs(u) <= body_half - cap) & (np.abs(v) <= radius)
        nz = np.sqrt(np.clip(1.0 - x * x, 0.02, 1.0))
        shade = np.broadcast_to(0.55 + 0.45 * _lambert(0.0, x, nz, sun, ambient=0.35), shape)
        half_vector = np.asarray(sun, np.float32) + np.asarray((0.0, 0.0, 1.0), np.float32)
        half_vector /= np.linalg.norm(half_vector)
        spec = np.clip(x * half_vector[1] + nz * half_vector[2], 0.0, 1.0) ** 30
        rgb = _paint(colour, shade) + 0.25 * np.broadcast_to(spec, shape)[..., None]
        frame_rgb = np.asarray((0.10, 0.10, 0.10), np.float32)
        rgb = np.where(tank[..., None], rgb, frame_rgb)
        dome = (u - rng.uniform(-0.6, 0.6)) ** 2 + v ** 2 < 0.42 ** 2
        walkway = (np.abs(u) < 1.1) & (np.abs(v) < 0.75)
        rgb = np.where(walkway[..., None], rgb * 0.55 + 0.08, rgb)
        rgb = np.where(dome[..., None], rgb * 0.7, rgb)
        height = np.where(tank, 1.05 + (radius * 2 + 0.9) * np.broadcast_to(nz, shape) * 0.5 + 1.6, 1.2)
        return _finish(frame, rgb * dirt[..., None], height=height.astype(np.float32))
    if kind == "flat":
        deck = np.broadcast_to(base, shape + (3,)).copy()
        planks = 1.0 + 0.05 * np.cos(2 * math.pi * v / 0.18)
        stakes = (np.abs(np.abs(v) - (half_w - 0.12)) < 0.1) & (np.abs(((u + half_l) % 1.9) - 0.95) < 0.12)
        rgb = deck * np.broadcast_to(planks, shape)[..., None]
        rgb = np.where(stakes[..., None], rgb * 0.45, rgb)
        rgb = np.where(edge[..., None], rgb * 0.6, rgb)
        rgb = np.where(end[..., None], rgb * 0.5, rgb)
        if load == "timber":
            logs = (np.abs(v) < half_w - 0.2) & (np.abs(u) < half_l - 1.0)
            wood = np.asarray((0.55, 0.42, 0.28), np.float32) * (
                0.85 + 0.25 * np.abs(np.sin(2 * math.pi * v / 0.32)))[..., None]
            rgb = np.where(logs[..., None], np.broadcast_to(wood, shape + (3,)), rgb)
        elif load == "pipes":
            pipes = (np.abs(v) < half_w - 0.25) & (np.abs(u) < half_l - 1.4)
            steel = np.asarray((0.52, 0.52, 0.54), np.float32) * _lambert(
                0.0, np.sin(2 * math.pi * v / 0.5), 1.0, sun)[..., None]
            rgb = np.where(pipes[..., None], np.broadcast_to(steel, shape + (3,)), rgb)
        return _finish(frame, rgb * dirt[..., None])
    if kind == "gondola":
        rim = (np.abs(v) > half_w - 0.16) | (np.abs(u) > half_l - 0.6)
        material = {"coal": (0.09, 0.09, 0.10), "gravel": (0.50, 0.48, 0.45), "ore": (0.42, 0.26, 0.18),
                    "scrap": (0.36, 0.30, 0.26), "none": (0.24, 0.17, 0.13)}[load]
        heap = (0.35 * np.cos(np.pi * x * 0.5)) * (np.abs(u) < half_l - 0.6)
        lumps = _grain(rng, shape, 0.28 if load != "none" else 0.08)
        interior = _paint(material, _heightfield_shade(np.broadcast_to(heap, shape), frame.gsd_m / frame.ss, sun))
        interior *= lumps[..., None]
        # the walls on the sun side throw a shadow band onto the load
        wall_m = 0.9 if load != "none" else 1.8
        reach_v = wall_m * abs(sun[1]) / max(sun[2], 0.15)
        reach_u = wall_m * abs(sun[0]) / max(sun[2], 0.15)
        shadowed = ((math.copysign(1.0, sun[1]) * v > half_w - 0.16 - reach_v)
                    | (math.copysign(1.0, sun[0]) * u > half_l - 0.6 - reach_u))
        interior = np.where(shadowed[..., None] & ~rim[..., None], interior * 0.45, interior)
        ribs = np.abs(((u + half_l) % 3.2) - 1.6) < 0.08
        rgb = np.where((rim | (ribs & (np.abs(v) < half_w)))[..., None], _paint(colour, np.ones(shape, np.float32)),
                       interior)
        height = np.where(rim, 2.9, 2.0 + heap).astype(np.float32)
        return _finish(frame, rgb * dirt[..., None], height=np.broadcast_to(height, shape))
    # box, hopper and locomotive: an arched or flat roof with their own fittings
    arch = 0.25 if kind != "hopper" else 0.12
    shade = _lambert(0.0, arch * x, 1.0, sun) * np.ones(shape, np.float32)
    roof = np.asarray(colour, np.float32)
    if kind == "box":
        roof = roof * rng.uniform(0.8, 1.05) + rng.uniform(0.0, 0.12)  # roofs fade and are often galvanised
        ribs = 1.0 + 0.07 * np.cos(2 * math.pi * u / rng.uniform(0.7, 1.3))
        shade = shade * ribs
        if rng.random() < 0.3:  # sliding-wall wagon: panels along the length
            seams = np.abs(((u + half_l) % (frame.length_m / 4)) - frame.length_m / 8) > frame.length_m / 8 - 0.1
            shade = np.where(seams, shade * 0.6, shade)
    elif kind == "hopper":
        hatch_strip = np.abs(v) < 0.45
        hatches = hatch_strip & (np.abs(((u + half_l) % 2.4) - 1.2) < 0.55)
        slope = np.clip((np.abs(u) - (half_l - 2.2)) / 2.2, 0, 1)
        shade = shade * (1.0 - 0.25 * slope * np.sign(u) * np.sign(sun[0]))
        shade = np.where(hatch_strip, shade * 0.85, shade)
        shade = np.where(hatches, shade * 0.7, shade)
    elif kind == "locomotive":
        roof_grey = np.asarray((0.42, 0.43, 0.44), np.float32) * rng.uniform(0.8, 1.2)
        cab = np.abs(u) > half_l - 2.6
        windscreen = (np.abs(u) > half_l - 0.9) & (np.abs(u) < half_l - 0.45) & (np.abs(v) < half_w - 0.3)
        fans = np.zeros(shape, bool)
        for centre in np.linspace(-half_l + 4.5, half_l - 4.5, max(2, int((half_l - 4.0) / 1.6))):
            fans |= (u - centre) ** 2 + v ** 2 < 0.55 ** 2
        grille = (np.abs(u) < half_l - 3.0) & (np.abs(v) < 0.9)
        rgb = np.where(cab[..., None], np.broadcast_to(roof, shape + (3,)),
                       np.broadcast_to(roof_grey, shape + (3,)))
        rgb = rgb * shade[..., None]
        rgb = np.where(grille[..., None], rgb * 0.75, rgb)
        rgb = np.where(fans[..., None], rgb * 0.35, rgb)
        rgb = np.where(windscreen[..., None], np.float32(0.07), rgb)
        rgb = np.where(edge[..., None], rgb * 0.75, rgb)
        return _finish(frame, rgb * dirt[..., None])
    rgb = _paint(tuple(np.clip(roof, 0, 1)), shade)
    rgb = np.where(edge[..., None], rgb * 0.72, rgb)
    rgb = np.where(end[..., None], rgb * 0.45, rgb)
    return _finish(frame, rgb * dirt[..., None])


# --- cargo -------------------------------------------------------------------------------------------------------

def container(frame: Frame, colour: tuple[float, float, float], sun: tuple[float, float, float],
              rng: np.random.Generator) -> Sprite:
    """The roof of an ISO container: corrugated panels, darker rails, corner castings, rust and dirt."""
    u, v = frame.u, frame.v
    half_l, half_w = frame.length_m / 2, frame.width_m / 2
    shape = frame.shape_ss
    corrugation = 1.0 + 0.05 * np.cos(2 * math.pi * u / 0.46)
    shade = _lambert(0.0, 0.04 * v / half_w, 1.0, sun) * corrugation
    rail = (np.abs(v) > half_w - 0.09) | (np.abs(u) > half_l - 0.12)
    corner = (np.abs(v) > half_w - 0.2) & (np.abs(u) > half_l - 0.22)
    rgb = _paint(colour, np.broadcast_to(shade, shape))
    rgb = np.where(rail[..., None], rgb * 0.78, rgb)
    rgb = np.where(corner[..., None], np.float32(0.42), rgb)
    rust = _blotches(rng, shape, 3 * frame.ss, 0.10) * _grain(rng, shape, 0.035)
    return _finish(frame, rgb * rust[..., None])


def tarp(frame: Frame, colour: tuple[float, float, float], sun: tuple[float, float, float],
         rng: np.random.Generator, on_ground: bool) -> Sprite:
    """A tarpaulin over a load: a rounded heap with folds, creases and tie-down straps, shaded by the sun."""
    u, v = frame.u, frame.v
    half_l, half_w = frame.length_m / 2, frame.width_m / 2
    shape = frame.shape_ss
    x = np.clip(v / half_w, -1, 1)
    y = np.clip(u / half_l, -1, 1)
    crown = rng.uniform(0.8, 1.8) if not on_ground else rng.uniform(0.6, 1.6)
    z = crown * np.sqrt(np.clip(1 - x ** 2, 0, 1)) * np.sqrt(np.clip(1 - y ** 8, 0, 1))
    z = np.broadcast_to(z, shape).astype(np.float32)
    for _ in range(rng.integers(5, 10)):  # folds: ridges in random directions
        theta = rng.uniform(0, math.pi)
        wavelength = rng.uniform(0.6, 3.0)
        amplitude = rng.uniform(0.02, 0.07) * wavelength
        phase = rng.uniform(0, 2 * math.pi)
        z = z + amplitude * np.sin(2 * math.pi * (u * math.cos(theta) + v * math.sin(theta)) / wavelength + phase)
    shade = _heightfield_shade(z, frame.gsd_m / frame.ss, sun, ambient=0.35)
    rgb = _paint(colour, shade)
    if not on_ground:
        spacing = rng.uniform(1.5, 3.0)
        straps = np.abs(((u + half_l) % spacing) - spacing / 2) < 0.06
        rgb = np.where(np.broadcast_to(straps, shape)[..., None], rgb * 0.55, rgb)
    rgb = rgb * (_blotches(rng, shape, 8 * frame.ss, 0.05) * _grain(rng, shape, 0.03))[..., None]
    alpha = None
    if on_ground:
        # a loose edge: the sheet's outline wanders by a few centimetres, the footprint stays the rectangle
        wobble = _blotches(rng, shape, 4 * frame.ss, 0.5) - 1.0
        inside = (np.abs(u) <= half_l + 0.12 * wobble) & (np.abs(v) <= half_w + 0.12 * wobble)
        alpha = frame.down(inside.astype(np.float32))
    return _finish(frame, rgb, alpha=alpha, height=np.maximum(z, 0.2))


# --- distractors -------------------------------------------------------------------------------------------------

def vehicle(kind: str, frame: Frame, colour: tuple[float, float, float], sun: tuple[float, float, float],
            rng: np.random.Generator) -> Sprite:
    """A car, van, bus or truck (cab + trailer) seen from above; none of them is a labelled class."""
    u, v = frame.u, frame.v
    half_l, half_w = frame.length_m / 2, frame.width_m / 2
    shape = frame.shape_ss
    x = np.clip(v / half_w, -1, 1)
    shade = np.broadcast_to(_lambert(0.0, 0.5 * x ** 3, 1.0, sun), shape)
    rgb = _paint(colour, shade)
    if kind == "car":
        front = half_l * rng.choice([-1.0, 1.0])
        wind = (np.abs(u - front * 0.45) < half_l * 0.16) & (np.abs(v) < half_w - 0.12)
        rear = (np.abs(u + front * 0.62) < half_l * 0.1) & (np.abs(v) < half_w - 0.15)
        rgb = np.where((wind | rear)[..., None], np.float32(0.08), rgb)
    elif kind == "truck":
        cab_len = 2.3
        cab = u > half_l - cab_len
        gap = (u > half_l - cab_len - 0.5) & ~cab
        trailer_colour = np.asarray(colour, np.float32)
        cab_colour = np.asarray((0.8, 0.8, 0.8) if rng.random() < 0.5 else (0.55, 0.1, 0.1), np.float32)
        rgb = np.where(cab[..., None], cab_colour * shade[..., None], trailer_colour * shade[..., None])
        rgb = np.where(gap[..., None], np.float32(0.12), rgb)
        ribs = np.abs(((u + half_l) % 1.2) - 0.6) < 0.05
        rgb = np.where((ribs & ~cab)[..., None], rgb * 0.85, rgb)
    elif kind == "bus":
        windows = np.abs(np.abs(v) - (half_w - 0.15)) < 0.12
        rgb = np.where(windows[..., None], rgb * 0.4, rgb)
        vents = (np.abs(u) < 1.5) & (np.abs(v) < 0.6)
        rgb = np.where(vents[..., None], rgb * 0.75, rgb)
    elif kind == "reach_stacker":
        boom = (np.abs(v) < 0.45) & (u > -half_l * 0.4)
        rgb = np.where(boom[..., None], rgb * 0.7, rgb)
        cabin = (np.abs(u + half_l * 0.25) < 0.9) & (v > half_w - 1.4)
        rgb = np.where(cabin[..., None], np.float32(0.1), rgb)
    return _finish(frame, rgb * _grain(rng, shape, 0.03)[..., None])


def building(roof: str, frame: Frame, colour: tuple[float, float, float], sun: tuple[float, float, float],
             rng: np.random.Generator, height_m: float) -> Sprite:
    """A roof: flat (parapet, HVAC units, skylights), gable (two pitched faces) or corrugated metal.

    Build its frame with at most 2x supersampling: roof detail is coarse and buildings are many.
    """
    u, v = frame.u, frame.v
    half_l, half_w = frame.length_m / 2, frame.width_m / 2
    shape = frame.shape_ss
    rgb_base = np.asarray(colour, np.float32)
    height = np.full(shape, height_m, np.float32)
    if roof == "gable":
        pitch = math.tan(math.radians(rng.uniform(25, 40)))
        side = np.sign(v) + (v == 0)
        shade = np.broadcast_to(_lambert(0.0, -side * pitch, 1.0, sun), shape)
        tiles = 1.0 + 0.06 * np.cos(2 * math.pi * v / 0.35)
        rgb = rgb_base * (shade * tiles)[..., None]
        ridge = np.abs(v) < 0.12
        rgb = np.where(np.broadcast_to(ridge, shape)[..., None], rgb * 0.8, rgb)
        height = height + np.broadcast_to(pitch * (half_w - np.abs(v)), shape).astype(np.float32)
        for _ in range(rng.integers(0, 3)):  # chimneys and dormers
            cu, cv = rng.uniform(-half_l + 1, half_l - 1), rng.uniform(-half_w + 1, half_w - 1)
            spot = (np.abs(u - cu) < 0.4) & (np.abs(v - cv) < 0.4)
            rgb = np.where(spot[..., None], rgb * 0.6, rgb)
    elif roof == "metal":
        ribs = 1.0 + 0.12 * np.cos(2 * math.pi * v / rng.uniform(0.8, 1.2))
        shade = np.broadcast_to(_lambert(0.0, 0.06 * np.sign(v), 1.0, sun) * ribs, shape)
        rgb = rgb_base * shade[..., None]
        rgb = rgb * _blotches(rng, shape, 20 * frame.ss, 0.06)[..., None]
    else:
        shade = np.ones(shape, np.float32)
        rgb = rgb_base * (_blotches(rng, shape, 12 * frame.ss, 0.07) * _grain(rng, shape, 0.05))[..., None]
        parapet = (np.abs(v) > half_w - 0.35) | (np.abs(u) > half_l - 0.35)
        rgb = np.where(parapet[..., None], rgb * 1.12 + 0.03, rgb)
        area = frame.length_m * frame.width_m
        rgb = np.ascontiguousarray(rgb)
        shift_u, shift_v = -sun[0] / max(sun[2], 0.3), -sun[1] / max(sun[2], 0.3)
        for _ in range(int(min(25, area / 120))):  # rooftop units, each with a small shadow
            cu, cv = rng.uniform(-half_l + 2, half_l - 2), rng.uniform(-half_w + 2, half_w - 2)
            su, sv = rng.uniform(0.8, 2.5), rng.uniform(0.8, 2.0)
            unit_h = rng.uniform(0.6, 1.5)
            rows_s, cols_s = frame.box(cu - su / 2 + shift_u * unit_h, cu + su / 2 + shift_u * unit_h,
                                       cv - sv / 2 + shift_v * unit_h, cv + sv / 2 + shift_v * unit_h)
            rgb[rows_s, cols_s] *= 0.55
            rows_u, cols_u = frame.box(cu - su / 2, cu + su / 2, cv - sv / 2, cv + sv / 2)
            rgb[rows_u, cols_u] = rng.uniform(0.55, 0.8)
        if frame.length_m > 30 and rng.random() < 0.5:  # skylight rows on halls
            lights = (np.abs(((u + half_l) % 6.0) - 3.0) < 0.7) & (np.abs(v) < half_w - 3)
            rgb = np.where(lights[..., None], rgb * 0.6 + 0.25, rgb)
    return _finish(frame, rgb, height=height)


def tree(frame: Frame, colour: tuple[float, float, float], sun: tuple[float, float, float],
         rng: np.random.Generator, bare: bool) -> Sprite:
    """A round crown of lumpy foliage (or bare branches in winter) with its own light and dark side.

    Its height map is the crown's dome above the crown's lowest visible point (stamp it with that base height).
    """
    u, v = frame.u, frame.v
    radius = frame.length_m / 2
    shape = frame.shape_ss
    r = np.sqrt(u ** 2 + v ** 2) / radius
    lumps = _blotches(rng, shape, 1.6 * frame.ss / max(frame.gsd_m, 0.25), 0.35) - 1.0
    edge = 1.0 + 0.18 * lumps
    inside = r <= edge
    dome = np.sqrt(np.clip(1 - (r / np.maximum(edge, 0.5)) ** 2, 0, 1)) * radius * 0.8 + 0.3 * lumps
    if bare:  # a see-through tangle of branches: no crown shading, darker towards the trunk
        twigs = _grain(rng, shape, 0.35) * (0.8 + 0.25 * np.clip(r, 0, 1))
        rgb = _paint(colour, twigs.astype(np.float32))
        alpha = frame.down((inside * np.clip(1.1 - 0.6 * r, 0, 1)).astype(np.float32)) * 0.6
        return _finish(frame, rgb, alpha=alpha, height=dome.astype(np.float32))
    shade = _heightfield_shade(dome.astype(np.float32), frame.gsd_m / frame.ss, sun, ambient=0.3)
    rgb = _paint(colour, shade * _grain(rng, shape, 0.12))
    alpha = frame.down(inside.astype(np.float32))
    return _finish(frame, rgb, alpha=alpha, height=dome.astype(np.float32), vegetation=0.0 if bare else 0.9)


def heap(frame: Frame, colour: tuple[float, float, float], sun: tuple[float, float, float],
         rng: np.random.Generator) -> Sprite:
    """A pile of bulk material (sand, gravel, coal, scrap): an unlabelled look-alike of a tarp pile."""
    u, v = frame.u, frame.v
    shape = frame.shape_ss
    r = np.sqrt((u / (frame.length_m / 2)) ** 2 + (v / (frame.width_m / 2)) ** 2)
    wobble = _blotches(rng, shape, 5 * frame.ss, 0.06) - 1.0
    inside = r <= 0.92 + wobble
    peak = min(frame.width_m, frame.length_m) * 0.35
    z = peak * np.clip(1.0 - r, 0, 1) + 0.05 * (_grain(rng, shape, 1.0) - 1.0)
    shade = _heightfield_shade(z.astype(np.float32), frame.gsd_m / frame.ss, sun, ambient=0.35)
    rgb = _paint(colour, shade * _grain(rng, shape, 0.15))
    return _finish(frame, rgb, alpha=frame.down(inside.astype(np.float32)), height=np.maximum(z, 0.1))


def plain(frame: Frame, colour: tuple[float, float, float]) -> Sprite:
    """A flat-coloured rectangle (a mast seen from above, a portal beam)."""
    rgb = np.broadcast_to(np.asarray(colour, np.float32), frame.shape_ss + (3,))
    return _finish(frame, rgb)
