"""What a scene holds and where, in scene metres, before anything is drawn.

A *site* is the part that does not move between acquisitions: the yard's tracks and ladders, roads, the container
pad and its slots, buildings, trees, catenary masts, parking places. *Content* is what changes from one date to the
next: trains standing on the tracks (with tarp or container loads on flatcars), container stacks on the pad, tarp
piles, bulk heaps and vehicles. A time series keeps the site and draws new content for every date.

Frame: x to the right and y down from the scene's top-left corner, in metres; angles from +x towards +y.
This module holds the value types; :mod:`yardwatch.synth.site` lays out a site and
:mod:`yardwatch.synth.content` puts a date's content on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from yardwatch.synth.geometry import Occupancy, rect_corners
from yardwatch.synth.palette import Material

Point = tuple[float, float]
Bounds = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Item:
    """One thing to draw. ``label`` is the class name for labelled objects, None for everything else."""

    kind: str
    centre_m: Point
    length_m: float
    width_m: float
    angle_rad: float
    height_m: float
    colour: tuple[float, float, float]
    seed: int
    label: str | None = None
    base_m: float = 0.0
    stack_height: int = 1
    style: str = ""
    tier_colours: tuple[tuple[float, float, float], ...] = ()

    def corners(self) -> np.ndarray:
        return rect_corners(self.centre_m, self.length_m, self.width_m, self.angle_rad)


@dataclass(frozen=True, slots=True)
class Track:
    """A straight piece of track centreline. Trains stand on ``yard``, ``main`` and ``siding`` tracks."""

    p0: Point
    p1: Point
    kind: str

    @property
    def length_m(self) -> float:
        return math.dist(self.p0, self.p1)

    @property
    def angle_rad(self) -> float:
        return math.atan2(self.p1[1] - self.p0[1], self.p1[0] - self.p0[0])


@dataclass(frozen=True, slots=True)
class Road:
    """A road centreline (N, 2) with its paved width; ``marked`` roads get lane markings and traffic."""

    points: tuple[Point, ...]
    width_m: float
    surface: Material
    marked: bool


@dataclass(frozen=True, slots=True)
class Area:
    """A polygon of one ground material (pad, parking, field, garden, yard gravel)."""

    polygon: tuple[Point, ...]
    material: Material


@dataclass(frozen=True, slots=True)
class Slot:
    """A place for something oriented: a container stack position, a parking stall, a storage patch."""

    centre_m: Point
    angle_rad: float
    length_m: float = 0.0
    width_m: float = 0.0
    group: int = 0


@dataclass(slots=True)
class SitePlan:
    """The static part of a scene (see the module docstring)."""

    extent_m: tuple[float, float]
    yard_angle_rad: float
    tracks: list[Track] = field(default_factory=list)
    roads: list[Road] = field(default_factory=list)
    areas: list[Area] = field(default_factory=list)
    statics: list[Item] = field(default_factory=list)
    container_slots: list[Slot] = field(default_factory=list)
    storage: list[Slot] = field(default_factory=list)
    parking: list[Slot] = field(default_factory=list)
    wooden_sleepers: bool = False
    occupancy: Occupancy | None = None


@dataclass(frozen=True, slots=True)
class Counts:
    """Exact numbers of labelled objects to place; None leaves a number to the scene's own density."""

    railcars: int | None = None
    tarps: int | None = None
    containers: int | None = None


def new_seed(rng: np.random.Generator) -> int:
    """A seed for one item's own texture draws, so an item looks the same whatever is drawn before it."""
    return int(rng.integers(0, 2**31 - 1))


def along_across(centre: np.ndarray, axis: np.ndarray, normal: np.ndarray, s: float, o: float) -> np.ndarray:
    """The point ``s`` metres along ``axis`` and ``o`` metres along ``normal`` from ``centre``."""
    return centre + s * axis + o * normal
