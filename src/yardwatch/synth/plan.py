"""What a scene holds and where, in scene metres, before anything is drawn.

A *site* is the part that does not move between acquisitions: the yard's tracks and ladders, roads, the container
pad and its slots, buildings, trees, catenary masts, parking places. *Content* is what changes from one date to the
next: trains standing on the tracks (with tarp or container loads on flatcars), container stacks on the pad, tarp
piles, bulk heaps and vehicles. A time series keeps the site and draws new content for every date.

Frame: x to the right and y down from the scene's top-left corner, in metres; angles from +x towards +y.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from yardwatch.errors import ConfigError
from yardwatch.synth import palette
from yardwatch.synth.catalogue import (CONTAINER_20_LENGTH_M, CONTAINER_40_LENGTH_M, CONTAINER_HEIGHT_M,
                                       CONTAINER_WIDTH_M, COUPLING_GAP_RANGE_M, WAGON_TYPES, WAGONS_BY_NAME)
from yardwatch.synth.geometry import Occupancy, clip_segment, inside, rect_corners
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


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _at(centre: np.ndarray, axis: np.ndarray, normal: np.ndarray, s: float, o: float) -> np.ndarray:
    return centre + s * axis + o * normal


# --- site ----------------------------------------------------------------------------------------------------------

def plan_site(rng: np.random.Generator, extent_m: tuple[float, float], *,
              fixed_tracks: list[Track] | None = None, reserved: list[np.ndarray] | None = None) -> SitePlan:
    """Lay out a rail yard and its surroundings.

    Args:
        rng: the site's random source (a series reuses it for every date).
        extent_m: (width, height) of the scene in metres.
        fixed_tracks: tracks to use instead of a generated yard (a layout file's railcars), with no pad.
        reserved: polygons (metres) to keep free of buildings, trees and roads (a layout's footprints).
    """
    width, height = extent_m
    occupancy = Occupancy(extent_m)
    theta = float(rng.uniform(0.0, math.pi))
    site = SitePlan(extent_m, theta, wooden_sleepers=bool(rng.random() < 0.35), occupancy=occupancy)
    axis = np.array([math.cos(theta), math.sin(theta)])
    normal = np.array([-math.sin(theta), math.cos(theta)])
    centre = np.array([width * rng.uniform(0.38, 0.62), height * rng.uniform(0.38, 0.62)])
    reach = 0.5 * math.hypot(width, height) + 80.0
    for polygon in reserved or []:
        occupancy.mark(polygon)
    if fixed_tracks is None:
        side, yard_edges = _plan_yard(rng, site, centre, axis, normal, reach)
        pad_far = _plan_pad(rng, site, centre, axis, normal, reach, side, yard_edges[1]) if rng.random() < 0.85 \
            else yard_edges[1]
        _plan_yard_roads(rng, site, centre, axis, normal, reach, side, yard_edges, pad_far)
        _plan_catenary(rng, site, centre, axis, normal, reach, side, yard_edges)
        _plan_yard_buildings(rng, site, centre, axis, normal, reach, side, yard_edges, pad_far)
        town_offset = -side * (abs(yard_edges[0]) + 60.0)
        _plan_town(rng, site, centre, axis, normal, reach, town_offset, -side)
        _plan_fields(rng, site, centre, axis, normal, reach, pad_far + side * 40.0, side)
    else:
        site.tracks.extend(fixed_tracks)
        for track in fixed_tracks:
            occupancy.mark_line(np.asarray(track.p0), np.asarray(track.p1), 6.0)
        _plan_town(rng, site, centre, axis, normal, reach, 0.0, 1, sparse=True)
    _plan_trees(rng, site)
    return site


def _plan_yard(rng: np.random.Generator, site: SitePlan, centre: np.ndarray, axis: np.ndarray,
               normal: np.ndarray, reach: float) -> tuple[int, tuple[float, float]]:
    """Main line, bundles of yard tracks with ladders at both throats; returns the side and the yard's offsets."""
    width, height = site.extent_m
    spacing = float(rng.uniform(4.5, 5.0))
    n_tracks = int(np.clip(min(width, height) / 9.0, 5, 28) * rng.uniform(0.6, 1.0))
    side = int(rng.choice([-1, 1]))
    tan_ladder = 1.0 / rng.uniform(6.0, 8.0)
    main_offsets = [0.0, side * 4.2]
    for offset in main_offsets:
        p0, p1 = _at(centre, axis, normal, -reach * 1.6, offset), _at(centre, axis, normal, reach * 1.6, offset)
        site.tracks.append(Track(tuple(p0), tuple(p1), "main"))
    edge = side * 4.2
    offset = edge + side * rng.uniform(6.0, 11.0)
    n_bundles = int(rng.integers(1, 4)) if n_tracks >= 9 else 1
    sizes = np.maximum(3, np.round(rng.dirichlet(np.ones(n_bundles)) * (n_tracks - 2))).astype(int)
    # throats mostly lie beyond the scene (a ladder of 20 tracks at 1:7 is 700 m long); sometimes one is inside
    throat_a = -reach * (rng.uniform(0.25, 0.8) if rng.random() < 0.3 else rng.uniform(1.0, 1.6))
    throat_b = reach * (rng.uniform(0.25, 0.8) if rng.random() < 0.3 else rng.uniform(1.0, 1.6))
    far = edge
    for size in sizes:
        offsets = [offset + side * spacing * i for i in range(size)]
        for o in offsets:
            run = abs(o - edge) / tan_ladder
            s0, s1 = throat_a + run, throat_b - run
            if s1 - s0 < 80.0:
                continue
            kind = "yard"
            if rng.random() < 0.15:  # a stub siding ending at a buffer stop
                s1 = s0 + (s1 - s0) * rng.uniform(0.35, 0.85)
                kind = "siding"
            site.tracks.append(Track(tuple(_at(centre, axis, normal, s0, o)), tuple(_at(centre, axis, normal, s1, o)),
                                     kind))
            far = o
        offset = offsets[-1] + side * rng.uniform(8.0, 16.0)
    if far != edge:  # one ladder per throat feeds every track in turn
        run = abs(far - edge) / tan_ladder
        for throat, direction in ((throat_a, 1.0), (throat_b, -1.0)):
            site.tracks.append(Track(tuple(_at(centre, axis, normal, throat, edge)),
                                     tuple(_at(centre, axis, normal, throat + direction * run, far)), "ladder"))
    for track in site.tracks:
        site.occupancy.mark_line(np.asarray(track.p0), np.asarray(track.p1), 7.0)
    return side, (-side * 3.0, far + side * 3.5)


def _plan_pad(rng: np.random.Generator, site: SitePlan, centre: np.ndarray, axis: np.ndarray, normal: np.ndarray,
              reach: float, side: int, yard_far: float) -> float:
    """A concrete container pad beside the yard with blocks of stack slots; returns its far offset."""
    width, height = site.extent_m
    near = yard_far + side * rng.uniform(10.0, 22.0)
    depth = float(rng.uniform(40.0, 110.0))
    length = float(min(rng.uniform(140.0, 420.0), 1.2 * max(width, height)))
    scene_mid = np.array([width / 2, height / 2])
    s_mid = float(np.dot(scene_mid - centre, axis)) + rng.uniform(-0.15, 0.15) * min(width, height)
    far = near + side * depth
    polygon = [_at(centre, axis, normal, s_mid - length / 2, near), _at(centre, axis, normal, s_mid + length / 2, near),
               _at(centre, axis, normal, s_mid + length / 2, far), _at(centre, axis, normal, s_mid - length / 2, far)]
    site.areas.append(Area(tuple(tuple(p) for p in polygon), Material.CONCRETE))
    site.occupancy.mark(np.array(polygon))
    lane = float(rng.uniform(10.0, 16.0))
    gap_row = float(rng.uniform(0.25, 0.45))
    gap_bay = float(rng.uniform(0.5, 0.9))
    bay = CONTAINER_40_LENGTH_M + gap_bay
    row = CONTAINER_WIDTH_M + gap_row
    s = s_mid - length / 2 + lane / 2
    while True:
        bays = int(rng.integers(3, 9))
        if s + bays * bay > s_mid + length / 2 - lane / 2:
            break
        o = near + side * lane / 2
        while True:
            rows = int(rng.integers(4, 8))
            if abs(o + side * rows * row - near) > depth - lane / 2:
                break
            for j in range(bays):
                group = len(site.container_slots)
                for i in range(rows):
                    p = _at(centre, axis, normal, s + (j + 0.5) * bay, o + side * (i + 0.5) * row)
                    site.container_slots.append(Slot(tuple(p), float(math.atan2(axis[1], axis[0])), group=group))
            o += side * (rows * row + lane)
        s += bays * bay + lane
    # the pad's margins hold tarp piles, bulk heaps and parked trucks
    margin = _at(centre, axis, normal, s_mid, far - side * 5.0)
    site.storage.append(Slot(tuple(margin), float(math.atan2(axis[1], axis[0])), length - 10.0, 8.0))
    return far


def _plan_yard_roads(rng: np.random.Generator, site: SitePlan, centre: np.ndarray, axis: np.ndarray,
                     normal: np.ndarray, reach: float, side: int, yard_edges: tuple[float, float],
                     pad_far: float) -> None:
    road_offset = yard_edges[0] - side * rng.uniform(12.0, 35.0)
    _add_road(site, [_at(centre, axis, normal, -reach * 1.6, road_offset),
                     _at(centre, axis, normal, reach * 1.6, road_offset)], rng.uniform(7.0, 10.0), Material.ASPHALT,
              True)
    access = pad_far + side * rng.uniform(8.0, 14.0)
    _add_road(site, [_at(centre, axis, normal, -reach * 1.6, access), _at(centre, axis, normal, reach * 1.6, access)],
              rng.uniform(6.0, 8.0), Material.ASPHALT if rng.random() < 0.6 else Material.DIRT_ROAD, True)
    if rng.random() < 0.7:  # a service track-side road inside the yard
        o = yard_edges[1] + side * 1.5
        _add_road(site, [_at(centre, axis, normal, -reach * 1.6, o), _at(centre, axis, normal, reach * 1.6, o)],
                  4.0, Material.DIRT_ROAD, False)


def _add_road(site: SitePlan, points: list[np.ndarray], width_m: float, surface: Material, marked: bool) -> None:
    site.roads.append(Road(tuple(tuple(float(v) for v in p) for p in points), float(width_m), surface, marked))
    for a, b in zip(points[:-1], points[1:]):
        site.occupancy.mark_line(np.asarray(a), np.asarray(b), width_m + 3.0)


def _plan_catenary(rng: np.random.Generator, site: SitePlan, centre: np.ndarray, axis: np.ndarray,
                   normal: np.ndarray, reach: float, side: int, yard_edges: tuple[float, float]) -> None:
    """Masts and portal beams over the main line and the first bundle (their thin shadows cross the tracks)."""
    if rng.random() > 0.45:
        return
    width, height = site.extent_m
    spacing = float(rng.uniform(50.0, 65.0))
    o_out = -side * 3.0
    o_in = side * (4.2 + 3.0)
    angle = math.atan2(axis[1], axis[0]) + math.pi / 2
    s = -reach
    while s < reach:
        a = _at(centre, axis, normal, s, o_out)
        b = _at(centre, axis, normal, s, o_in)
        mid = (a + b) / 2
        if -20 <= mid[0] <= width + 20 and -20 <= mid[1] <= height + 20:
            for p in (a, b):
                site.statics.append(Item("mast", tuple(p), 0.5, 0.5, angle, 9.0, (0.35, 0.35, 0.36), _seed(rng)))
            site.statics.append(Item("beam", tuple(mid), float(np.linalg.norm(b - a)), 0.3, angle, 7.6,
                                     (0.38, 0.38, 0.40), _seed(rng)))
        s += spacing


def _place_building(rng: np.random.Generator, site: SitePlan, centre: np.ndarray, length: float, width: float,
                    angle: float, height: float, roof: str, margin: float = 2.0) -> bool:
    corners = rect_corners(tuple(centre), length + 2 * margin, width + 2 * margin, angle)
    if not site.occupancy.is_free(corners):
        return False
    site.occupancy.mark(corners)
    colour = palette.pick(rng, palette.ROOF_COLOURS[roof])
    site.statics.append(Item("building", tuple(float(v) for v in centre), float(length), float(width), float(angle),
                             float(height), colour, _seed(rng), style=roof))
    return True


def _plan_yard_buildings(rng: np.random.Generator, site: SitePlan, centre: np.ndarray, axis: np.ndarray,
                         normal: np.ndarray, reach: float, side: int, yard_edges: tuple[float, float],
                         pad_far: float) -> None:
    width, height = site.extent_m
    theta = site.yard_angle_rad
    scene_mid = np.array([width / 2, height / 2])
    s_mid = float(np.dot(scene_mid - centre, axis))
    for _ in range(int(rng.integers(1, 4))):  # warehouses and sheds along the yard
        length = rng.uniform(40.0, 180.0)
        depth = rng.uniform(15.0, 35.0)
        o = pad_far + side * (rng.uniform(20.0, 40.0) + depth / 2)
        s = s_mid + rng.uniform(-0.4, 0.4) * min(width, height)
        _place_building(rng, site, _at(centre, axis, normal, s, o), length, depth, theta, rng.uniform(7.0, 12.0),
                        "metal" if rng.random() < 0.6 else "flat")
    for _ in range(int(rng.integers(4, 14))):  # huts and container-sized sheds by the tracks
        o = yard_edges[int(rng.integers(0, 2))] + rng.choice([-1, 1]) * rng.uniform(6.0, 14.0)
        s = s_mid + rng.uniform(-0.5, 0.5) * max(width, height)
        _place_building(rng, site, _at(centre, axis, normal, s, o), rng.uniform(4.0, 14.0), rng.uniform(2.5, 7.0),
                        theta + rng.choice([0.0, math.pi / 2]), rng.uniform(2.6, 4.5),
                        str(rng.choice(["metal", "flat", "gable"])), margin=1.0)


def _plan_town(rng: np.random.Generator, site: SitePlan, centre: np.ndarray, axis: np.ndarray, normal: np.ndarray,
               reach: float, offset: float, direction: int, sparse: bool = False) -> None:
    """A street grid with houses, gardens, apartment blocks and halls with parking, on one side of the yard."""
    if not sparse and rng.random() < 0.2:
        return
    width, height = site.extent_m
    angle = site.yard_angle_rad + (rng.normal(0.0, 0.12) if rng.random() < 0.5 else math.pi / 2 + rng.normal(0, 0.1))
    street_axis = np.array([math.cos(angle), math.sin(angle)])
    street_normal = np.array([-math.sin(angle), math.cos(angle)])
    block_a = float(rng.uniform(70.0, 130.0))
    block_b = float(rng.uniform(50.0, 90.0))
    street_w = float(rng.uniform(6.0, 8.5))
    origin = centre + offset * normal
    span = reach * 1.2
    n_a = int(span * 2 / block_a) + 1
    n_b = int(span * 2 / block_b) + 1

    def depth(p: np.ndarray) -> float:
        """How far into the town side a point lies (negative: towards the yard)."""
        return float(np.dot(p - centre, normal)) * direction - (abs(offset) - 5.0)

    def on_scene(p: np.ndarray) -> bool:
        return -40 <= p[0] <= width + 40 and -40 <= p[1] <= height + 40

    if not sparse:  # one street grid, every street cut where the town side ends
        lines = [(origin + street_axis * (-span + i * block_a) - street_normal * span,
                  origin + street_axis * (-span + i * block_a) + street_normal * span) for i in range(n_a + 1)]
        lines += [(origin + street_normal * (-span + j * block_b) - street_axis * span,
                   origin + street_normal * (-span + j * block_b) + street_axis * span) for j in range(n_b + 1)]
        for a, b in lines:
            da, db = depth(a), depth(b)
            if da < 0 and db < 0:
                continue
            if da < 0 or db < 0:  # keep the part on the town side
                t = da / (da - db)
                cut = a + (b - a) * t
                a, b = (cut, b) if da < 0 else (a, cut)
            span_ab = clip_segment(a, b, (-60.0, -60.0, width + 60.0, height + 60.0))
            if span_ab is None:
                continue
            a, b = a + (b - a) * span_ab[0], a + (b - a) * span_ab[1]
            _add_road(site, [a, b], street_w, Material.ASPHALT, bool(rng.random() < 0.3))
    for i in range(n_a):
        for j in range(n_b):
            c = origin + street_axis * (-span + (i + 0.5) * block_a) + street_normal * (-span + (j + 0.5) * block_b)
            block = rect_corners(tuple(c), block_a - street_w, block_b - street_w, angle)
            if not on_scene(c) or (not sparse and min(depth(p) for p in block) < 0):
                continue
            core = rect_corners(tuple(c), block_a - street_w - 12.0, block_b - street_w - 12.0, angle)
            if not site.occupancy.is_free(core) or (sparse and rng.random() < 0.6):
                continue
            kind = rng.choice(["houses", "apartments", "industrial", "park"], p=[0.55, 0.15, 0.2, 0.1])
            if sparse:  # streets only where nothing of the layout stands
                for edge_a, edge_b in ((0, 1), (1, 2)):
                    p0, p1 = block[edge_a], block[edge_b]
                    o = (p0 + p1) / 2 - c
                    o = o / max(np.linalg.norm(o), 1e-6) * (street_w / 2)
                    run = p1 - p0
                    inner = rect_corners(tuple((p0 + p1) / 2 + o), float(np.linalg.norm(run)) - 2 * street_w,
                                         street_w, math.atan2(run[1], run[0]))
                    if site.occupancy.is_free(inner):
                        _add_road(site, [p0 + o, p1 + o], street_w, Material.ASPHALT, bool(rng.random() < 0.5))
            built = _fill_block(rng, site, c, angle, block_a - street_w, block_b - street_w, str(kind))
            material = {"houses": Material.GARDEN, "apartments": Material.PAVING, "industrial": Material.CONCRETE,
                        "park": Material.GARDEN}[str(kind) if built else "park"]
            site.areas.append(Area(tuple(tuple(p) for p in block), material))


def _fill_block(rng: np.random.Generator, site: SitePlan, centre: np.ndarray, angle: float, length: float,
                width: float, kind: str) -> bool:
    """Put houses, apartment blocks or a hall with its car park on a block; False when nothing would fit."""
    along = np.array([math.cos(angle), math.sin(angle)])
    across = np.array([-math.sin(angle), math.cos(angle)])
    built = False
    if kind == "houses":
        for side in (-1, 1):
            u = -length / 2 + rng.uniform(2.0, 6.0)
            while u < length / 2 - 8.0:
                house_l, house_w = rng.uniform(8.0, 15.0), rng.uniform(7.0, 11.0)
                v = side * (width / 2 - rng.uniform(5.0, 9.0) - house_w / 2)
                p = centre + along * (u + house_l / 2) + across * v
                built |= _place_building(rng, site, p, house_l, house_w, angle + rng.normal(0, 0.03),
                                         rng.uniform(6.0, 9.0), "gable" if rng.random() < 0.8 else "flat", margin=1.0)
                u += house_l + rng.uniform(4.0, 12.0)
        _garden_trees(rng, site, centre, along, across, length, width, length * width / 700.0)
    elif kind == "park":
        _garden_trees(rng, site, centre, along, across, length, width, length * width / 300.0)
        built = True
    elif kind == "apartments":
        for v in (-width / 4, width / 4):
            built |= _place_building(rng, site, centre + across * v, length * rng.uniform(0.5, 0.8),
                                     rng.uniform(11.0, 14.0), angle, rng.uniform(12.0, 21.0), "flat")
        _add_parking(rng, site, centre, angle, length * 0.6, 12.0)
    elif kind == "industrial":
        scale = 1.0
        for _attempt in range(5):  # halls shrink until they fit beside the streets
            hall_w = width * rng.uniform(0.4, 0.55) * scale
            hall_l = length * rng.uniform(0.5, 0.8) * scale
            if _place_building(rng, site, centre + across * (width / 2 - hall_w / 2 - 9.0), hall_l, hall_w, angle,
                               rng.uniform(7.0, 13.0), "metal" if rng.random() < 0.6 else "flat"):
                built = True
                break
            scale *= 0.8
        if built:
            _add_parking(rng, site, centre - across * (width / 2 - 14.0), angle, length * 0.6, 14.0)
    return built


def _garden_trees(rng: np.random.Generator, site: SitePlan, centre: np.ndarray, along: np.ndarray,
                  across: np.ndarray, length: float, width: float, mean_count: float) -> None:
    conifer_share = rng.uniform(0.05, 0.3)
    for _ in range(int(rng.poisson(mean_count))):
        p = centre + along * rng.uniform(-0.45, 0.45) * length + across * rng.uniform(-0.45, 0.45) * width
        _place_tree(rng, site, p, conifer_share)


def _add_parking(rng: np.random.Generator, site: SitePlan, centre: np.ndarray, angle: float, length: float,
                 depth: float) -> None:
    """An asphalt lot with two rows of 2.5 m stalls facing an aisle."""
    lot = rect_corners(tuple(centre), length, depth, angle)
    if not site.occupancy.is_free(lot):
        return
    site.occupancy.mark(lot)
    site.areas.append(Area(tuple(tuple(p) for p in lot), Material.ASPHALT))
    along = np.array([math.cos(angle), math.sin(angle)])
    across = np.array([-math.sin(angle), math.cos(angle)])
    n = int((length - 2.0) / 2.6)
    for row in (-1, 1):
        for k in range(n):
            p = centre + along * (-length / 2 + 1.0 + (k + 0.5) * 2.6) + across * row * (depth / 2 - 2.6)
            site.parking.append(Slot(tuple(p), angle + math.pi / 2, 4.8, 2.5))


def _plan_fields(rng: np.random.Generator, site: SitePlan, centre: np.ndarray, axis: np.ndarray, normal: np.ndarray,
                 reach: float, start_offset: float, side: int) -> None:
    """Farm fields in strips beyond the pad side, separated by dirt tracks."""
    width, height = site.extent_m
    angle = site.yard_angle_rad + rng.normal(0.0, 0.3)
    along = np.array([math.cos(angle), math.sin(angle)])
    across = np.array([-math.sin(angle), math.cos(angle)])
    field_l, field_w = rng.uniform(120.0, 300.0), rng.uniform(40.0, 120.0)
    origin = centre + start_offset * normal
    for i in range(-int(reach / field_l) - 2, int(reach / field_l) + 3):
        for j in range(-int(reach / field_w) - 2, int(reach / field_w) + 3):
            c = origin + along * i * field_l + across * j * field_w
            if float(np.dot(c - centre, normal)) * side < abs(start_offset):
                continue
            if not (-200 <= c[0] <= width + 200 and -200 <= c[1] <= height + 200):
                continue
            corners = rect_corners(tuple(c), field_l - 4.0, field_w - 4.0, angle)
            material = Material.FIELD if rng.random() < 0.55 else Material.FIELD_BARE
            if rng.random() < 0.15:
                material = Material.DRY_GRASS
            site.areas.insert(0, Area(tuple(tuple(p) for p in corners), material))


def _plan_trees(rng: np.random.Generator, site: SitePlan) -> None:
    """Clumps of trees on free ground and rows along roads."""
    width, height = site.extent_m
    n_clumps = int(width * height / 30000.0 * rng.uniform(0.4, 1.4)) + 1
    conifer_share = rng.uniform(0.05, 0.4)
    for _ in range(n_clumps):
        c = np.array([rng.uniform(0, width), rng.uniform(0, height)])
        spread = rng.uniform(4.0, 25.0)
        for _ in range(int(rng.integers(1, 24))):
            p = c + rng.normal(0, spread, 2)
            _place_tree(rng, site, p, conifer_share)
    for _ in range(int(width * height / 5000.0 * rng.uniform(0.3, 1.0))):  # lone bushes in rough grass
        p = np.array([rng.uniform(0, width), rng.uniform(0, height)])
        _place_tree(rng, site, p, 0.0, radius=float(rng.uniform(0.8, 2.0)))
    for road in site.roads:
        if not road.marked or rng.random() < 0.5:
            continue
        a, b = np.asarray(road.points[0]), np.asarray(road.points[-1])
        direction = (b - a) / max(np.linalg.norm(b - a), 1e-6)
        across = np.array([-direction[1], direction[0]])
        step = rng.uniform(8.0, 14.0)
        for t in np.arange(0.0, np.linalg.norm(b - a), step):
            for sgn in (-1, 1):
                p = a + direction * t + across * sgn * (road.width_m / 2 + rng.uniform(2.5, 4.5))
                if 0 <= p[0] <= width and 0 <= p[1] <= height:
                    _place_tree(rng, site, p, conifer_share)


def _place_tree(rng: np.random.Generator, site: SitePlan, p: np.ndarray, conifer_share: float,
                radius: float | None = None) -> None:
    radius = float(rng.uniform(1.6, 5.5)) if radius is None else radius
    box = rect_corners(tuple(p), radius * 2, radius * 2, 0.0)
    if not site.occupancy.is_free(box):
        return
    site.occupancy.mark(rect_corners(tuple(p), radius * 1.2, radius * 1.2, 0.0))
    conifer = bool(rng.random() < conifer_share)
    site.statics.append(Item("tree", (float(p[0]), float(p[1])), radius * 2, radius * 2, float(rng.uniform(0, math.pi)),
                             float(rng.uniform(max(1.2, radius * 1.6), 2.0 + radius * 3.0)), (0.0, 0.0, 0.0),
                             _seed(rng), style="conifer" if conifer else "deciduous"))


# --- content -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Car:
    family: str
    length_m: float
    width_m: float
    colour: tuple[float, float, float]
    load: str = "none"


def _consist(rng: np.random.Generator, n_cars: int) -> list[_Car]:
    """A train: a block train of one wagon family or a mixed freight, often with a locomotive at one end."""
    families = [w for w in WAGON_TYPES if w.name != "locomotive"]
    weights = np.array([w.weight for w in families])
    block = rng.random() < 0.5
    block_family = families[int(rng.choice(len(families), p=weights / weights.sum()))]
    block_length = rng.uniform(*block_family.length_m)
    block_colour = palette.pick(rng, palette.WAGON_COLOURS[block_family.name])
    cars: list[_Car] = []
    with_loco = n_cars >= 4 and rng.random() < 0.45
    for index in range(n_cars):
        if with_loco and index == 0:
            loco = WAGONS_BY_NAME["locomotive"]
            cars.append(_Car("locomotive", rng.uniform(*loco.length_m), rng.uniform(*loco.width_m),
                             palette.pick(rng, palette.WAGON_COLOURS["locomotive"])))
            continue
        if block and rng.random() < 0.9:
            family = block_family
            length = float(np.clip(block_length + rng.normal(0, 0.1), *family.length_m))
            colour = block_colour if rng.random() < 0.75 else palette.pick(rng, palette.WAGON_COLOURS[family.name])
        else:
            family = families[int(rng.choice(len(families), p=weights / weights.sum()))]
            length = float(rng.uniform(*family.length_m))
            colour = palette.pick(rng, palette.WAGON_COLOURS[family.name])
        load = "none"
        if family.name == "gondola":
            load = str(rng.choice(["coal", "gravel", "ore", "scrap", "none"], p=[0.3, 0.2, 0.15, 0.15, 0.2]))
        cars.append(_Car(family.name, length, float(rng.uniform(*family.width_m)), colour, load))
    if with_loco and rng.random() < 0.5:
        cars.reverse()
    return cars


@dataclass(slots=True)
class _TrackSpace:
    track: Track
    free: list[tuple[float, float]]  # free intervals, metres along the track from p0


def _track_spaces(site: SitePlan, bounds: Bounds, main_share: float) -> list[_TrackSpace]:
    spaces = []
    for track in site.tracks:
        if track.kind == "ladder" or (track.kind == "main" and main_share <= 0):
            continue
        p0, p1 = np.asarray(track.p0), np.asarray(track.p1)
        span = clip_segment(p0, p1, bounds)
        if span is None:
            continue
        length = track.length_m
        spaces.append(_TrackSpace(track, [(span[0] * length + 2.0, span[1] * length - 2.0)]))
    return spaces


def _place_run(space: _TrackSpace, start: float, run: float) -> None:
    for index, (a, b) in enumerate(space.free):
        if a <= start and start + run <= b:
            pieces = [(a, start - 3.0), (start + run + 3.0, b)]
            space.free[index:index + 1] = [p for p in pieces if p[1] - p[0] > 12.0]
            return


def _consist_length(cars: list[_Car], gaps: list[float]) -> float:
    return sum(c.length_m for c in cars) + sum(gaps)


def plan_trains(rng: np.random.Generator, site: SitePlan, bounds: Bounds, n_railcars: int | None) -> list[Item]:
    """Trains standing on the yard's tracks: exactly ``n_railcars`` cars inside ``bounds``, or a random density.

    Raises:
        ConfigError: when ``n_railcars`` cars do not fit on the tracks inside the scene.
    """
    spaces = _track_spaces(site, bounds, main_share=0.15)
    rng.shuffle(spaces)
    items: list[Item] = []
    if n_railcars is None:
        for space in spaces:
            if space.track.kind == "main" and rng.random() > 0.15:
                continue
            a, b = space.free[0] if space.free else (0.0, 0.0)
            target = (b - a) * rng.choice([0.0, rng.uniform(0.15, 0.95)], p=[0.25, 0.75])
            used = 0.0
            for _ in range(8):
                if used >= target or not space.free:
                    break
                cars = _consist(rng, int(rng.integers(3, 40)))
                used += _put_consist(rng, space, cars, items, trim=True)
        return items
    remaining = n_railcars
    while remaining > 0:
        size = int(min(remaining, rng.integers(3, 28)))
        placed = 0.0
        for attempt in range(60):
            space = spaces[int(rng.integers(0, len(spaces)))] if spaces else None
            if space is None:
                break
            cars = _consist(rng, size)
            placed = _put_consist(rng, space, cars, items, trim=False)
            if placed:
                break
            if attempt % 10 == 9 and size > 1:
                size = max(1, size // 2)
        if not placed:
            raise ConfigError(
                f"{n_railcars} railcars do not fit on the tracks inside the scene "
                f"({len(items)} placed); raise scene_size_px or gsd_m, or ask for fewer railcars")
        remaining -= size
    return items


def _put_consist(rng: np.random.Generator, space: _TrackSpace, cars: list[_Car], items: list[Item],
                 trim: bool) -> float:
    """Place ``cars`` coupled on a free stretch of ``space``; with ``trim``, drop cars that do not fit."""
    gaps = [float(rng.uniform(*COUPLING_GAP_RANGE_M)) for _ in cars[1:]]
    room = [(a, b) for a, b in space.free if b - a > 0]
    if not room:
        return 0.0
    if trim:
        a, b = max(room, key=lambda ab: ab[1] - ab[0])
        while cars and _consist_length(cars, gaps) > b - a:
            cars, gaps = cars[:-1], gaps[:-1]
        if not cars:
            return 0.0
    run = _consist_length(cars, gaps)
    fitting = [(a, b) for a, b in room if b - a >= run]
    if not fitting:
        return 0.0
    a, b = fitting[int(rng.integers(0, len(fitting)))]
    start = float(rng.uniform(a, b - run))
    _place_run(space, start, run)
    track = space.track
    direction = (np.asarray(track.p1) - np.asarray(track.p0)) / track.length_m
    angle = track.angle_rad + (math.pi if rng.random() < 0.5 else 0.0)
    s = start
    for index, car in enumerate(cars):
        centre = np.asarray(track.p0) + direction * (s + car.length_m / 2)
        wagon = WAGONS_BY_NAME[car.family]
        items.append(Item(car.family, (float(centre[0]), float(centre[1])), car.length_m, car.width_m, angle,
                          wagon.height_m, car.colour, _seed(rng), label="railcar", style=car.load))
        s += car.length_m + (gaps[index] if index < len(gaps) else 0.0)
    return run


def plan_loads(rng: np.random.Generator, cars: list[Item], n_tarps: int | None, n_containers: int | None
               ) -> tuple[list[Item], list[Item], int, int]:
    """Tarp-covered loads and containers on flatcars (each its own labelled object) and unlabelled loads.

    Returns:
        (new flatcar items with their style set, load items, tarps placed, containers placed).
    """
    loads: list[Item] = []
    updated: list[Item] = []
    tarps = containers = 0
    flats = [index for index, car in enumerate(cars) if car.kind == "flat"]
    order = list(rng.permutation(flats))
    choice_of: dict[int, str] = {}
    if n_tarps is None and n_containers is None:
        for index in order:
            choice_of[index] = str(rng.choice(["tarp", "container", "none", "timber", "pipes"],
                                              p=[0.35, 0.28, 0.22, 0.08, 0.07]))
    else:
        want_tarps = rng.binomial(n_tarps or 0, 0.55)
        want_containers = rng.binomial(n_containers or 0, 0.35)
        for index in order:
            if want_tarps > 0:
                choice_of[index] = "tarp"
                want_tarps -= 1
            elif want_containers > 0:
                choice_of[index] = "container"
                want_containers -= 2 if cars[index].length_m >= 13.5 else 1
            else:
                choice_of[index] = str(rng.choice(["none", "timber", "pipes"], p=[0.7, 0.15, 0.15]))
    for index, car in enumerate(cars):
        kind = choice_of.get(index)
        if kind is None:
            updated.append(car)
            continue
        deck = 1.25
        if kind == "tarp":
            length = car.length_m - rng.uniform(1.4, 3.2)
            width = car.width_m - rng.uniform(0.1, 0.35)
            load_h = float(rng.uniform(1.0, 2.6))
            loads.append(Item("tarp_load", car.centre_m, length, width, car.angle_rad, deck + load_h,
                              palette.pick(rng, palette.TARP_COLOURS), _seed(rng), label="tarp", base_m=deck))
            tarps += 1
        elif kind == "container":
            limit = None if n_containers is None else max(0, n_containers - containers)
            boxes = _flat_containers(rng, car, deck, limit)
            loads.extend(boxes)
            containers += len(boxes)
        updated.append(Item(car.kind, car.centre_m, car.length_m, car.width_m, car.angle_rad,
                            car.height_m if kind in ("container", "tarp", "none") else 2.2, car.colour, car.seed,
                            label=car.label, style=kind if kind in ("timber", "pipes") else "none"))
    return updated, loads, tarps, containers


def _flat_containers(rng: np.random.Generator, car: Item, deck: float, limit: int | None) -> list[Item]:
    """One 40 ft or two 20 ft containers centred on a flatcar (one 20 ft on a short car)."""
    direction = np.array([math.cos(car.angle_rad), math.sin(car.angle_rad)])
    centre = np.asarray(car.centre_m)
    if car.length_m >= 13.5 and (limit is None or limit >= 2) and rng.random() < 0.5:
        offsets, length = [-(CONTAINER_20_LENGTH_M / 2 + 0.15), CONTAINER_20_LENGTH_M / 2 + 0.15], \
            CONTAINER_20_LENGTH_M
    elif car.length_m >= 13.5 and (limit is None or limit >= 1):
        offsets, length = [0.0], CONTAINER_40_LENGTH_M
    elif limit is None or limit >= 1:
        offsets, length = [0.0], CONTAINER_20_LENGTH_M
    else:
        return []
    boxes = []
    for offset in offsets:
        p = centre + direction * offset
        boxes.append(Item("container", (float(p[0]), float(p[1])), length, CONTAINER_WIDTH_M, car.angle_rad,
                          deck + CONTAINER_HEIGHT_M, palette.pick(rng, palette.CONTAINER_COLOURS), _seed(rng),
                          label="container", base_m=deck))
    return boxes


def plan_stacks(rng: np.random.Generator, site: SitePlan, bounds: Bounds, n_containers: int | None) -> list[Item]:
    """Container stacks on the pad: one labelled object per visible top, with its stack height.

    Raises:
        ConfigError: when ``n_containers`` tops do not fit in the pad's slots inside the scene.
    """
    slots = [slot for slot in site.container_slots
             if inside(rect_corners(slot.centre_m, CONTAINER_40_LENGTH_M, CONTAINER_WIDTH_M, slot.angle_rad), bounds)]
    fill = rng.uniform(0.2, 0.95) if n_containers is None else 1.0
    items: list[Item] = []
    # terminals fill whole bays (all rows of one 40 ft position) to a similar height; start at a random bay
    groups: dict[int, list[Slot]] = {}
    for slot in slots:
        groups.setdefault(slot.group, []).append(slot)
    bays = list(groups.values())
    start = int(rng.integers(0, max(1, len(bays))))
    remaining = n_containers
    for bay in bays[start:] + bays[:start]:
        if remaining is not None and remaining <= 0:
            break
        if remaining is None and rng.random() > fill:
            continue
        bay_tiers = int(rng.choice([1, 2, 3], p=[0.35, 0.35, 0.3]))
        pair = rng.random() < 0.3
        for slot in bay:
            if remaining is not None and remaining <= 0:
                break
            if remaining is None and rng.random() < 0.08:
                continue
            direction = np.array([math.cos(slot.angle_rad), math.sin(slot.angle_rad)])
            specs = ([(-(CONTAINER_20_LENGTH_M / 2 + 0.04), CONTAINER_20_LENGTH_M),
                      (CONTAINER_20_LENGTH_M / 2 + 0.04, CONTAINER_20_LENGTH_M)]
                     if pair and (remaining is None or remaining >= 2) else [(0.0, CONTAINER_40_LENGTH_M)])
            for offset, length in specs:
                tiers = int(np.clip(bay_tiers + rng.choice([-1, 0, 0, 0, 1]), 1, 3))
                colours = tuple(palette.pick(rng, palette.CONTAINER_COLOURS) for _ in range(tiers))
                p = np.asarray(slot.centre_m) + direction * offset
                items.append(Item("container", (float(p[0]), float(p[1])), length, CONTAINER_WIDTH_M,
                                  slot.angle_rad, tiers * CONTAINER_HEIGHT_M, colours[-1], _seed(rng),
                                  label="container", base_m=(tiers - 1) * CONTAINER_HEIGHT_M, stack_height=tiers,
                                  tier_colours=colours))
                if remaining is not None:
                    remaining -= 1
    if remaining is not None and remaining > 0:
        items += _loose_stacks(rng, site, bounds, remaining, items)
    return items


def _loose_stacks(rng: np.random.Generator, site: SitePlan, bounds: Bounds, count: int, taken: list[Item]
                  ) -> list[Item]:
    """Rows of containers set down on free ground by the yard, where a site has no pad (or it is full).

    Raises:
        ConfigError: when ``count`` containers find no free ground inside ``bounds``.
    """
    occupancy = site.occupancy.copy() if site.occupancy is not None else Occupancy(site.extent_m)
    for item in taken:
        occupancy.mark(item.corners())
    items: list[Item] = []
    angle = site.yard_angle_rad
    along = np.array([math.cos(angle), math.sin(angle)])
    across = np.array([-along[1], along[0]])
    row = CONTAINER_WIDTH_M + 0.3
    for _attempt in range(3000):
        if len(items) >= count:
            break
        rows = int(min(count - len(items), rng.integers(1, 5)))
        length = CONTAINER_40_LENGTH_M if rng.random() < 0.6 else CONTAINER_20_LENGTH_M
        centre = np.array([rng.uniform(bounds[0], bounds[2]), rng.uniform(bounds[1], bounds[3])])
        block = rect_corners(tuple(centre), length + 3.0, rows * row + 3.0, angle)
        if not inside(rect_corners(tuple(centre), length, rows * row, angle), bounds) or not occupancy.is_free(block):
            continue
        occupancy.mark(block)
        tiers = int(rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))
        for i in range(rows):
            p = centre + across * (i - (rows - 1) / 2) * row
            colours = tuple(palette.pick(rng, palette.CONTAINER_COLOURS) for _ in range(tiers))
            items.append(Item("container", (float(p[0]), float(p[1])), length, CONTAINER_WIDTH_M, angle,
                              tiers * CONTAINER_HEIGHT_M, colours[-1], _seed(rng), label="container",
                              base_m=(tiers - 1) * CONTAINER_HEIGHT_M, stack_height=tiers, tier_colours=colours))
    if len(items) < count:
        raise ConfigError(f"{len(taken) + count} containers do not fit inside the scene; raise scene_size_px or "
                          "ask for fewer containers")
    return items


def plan_ground(rng: np.random.Generator, site: SitePlan, bounds: Bounds, taken: list[Item],
                n_tarps: int | None) -> list[Item]:
    """Tarp piles (labelled) and bulk heaps (unlabelled look-alikes) on free ground near the yard.

    Raises:
        ConfigError: when ``n_tarps`` piles find no free ground inside the scene.
    """
    occupancy = site.occupancy.copy() if site.occupancy is not None else Occupancy(site.extent_m)
    for item in taken:
        occupancy.mark(item.corners())
    width, height = site.extent_m
    items: list[Item] = []
    wanted = int(rng.integers(0, 4 + int(width * height / 250000))) if n_tarps is None else n_tarps
    heaps = int(rng.integers(0, 3 + int(width * height / 500000)))
    anchors = [slot for slot in site.storage] or [Slot((width / 2, height / 2), site.yard_angle_rad, width, height)]
    for kind, count in (("tarp_pile", wanted), ("heap", heaps)):
        placed = 0
        for _attempt in range(4000):
            if placed >= count:
                break
            anchor = anchors[int(rng.integers(0, len(anchors)))] if rng.random() < 0.7 else \
                Slot((rng.uniform(0, width), rng.uniform(0, height)), site.yard_angle_rad, 60.0, 60.0)
            direction = np.array([math.cos(anchor.angle_rad), math.sin(anchor.angle_rad)])
            across = np.array([-direction[1], direction[0]])
            p = (np.asarray(anchor.centre_m) + direction * rng.uniform(-0.5, 0.5) * anchor.length_m
                 + across * rng.uniform(-0.5, 0.5) * anchor.width_m)
            if kind == "tarp_pile":
                length, w = float(rng.uniform(3.5, 14.0)), float(rng.uniform(2.0, 7.0))
                angle = anchor.angle_rad + (rng.normal(0, 0.08) if rng.random() < 0.7 else rng.uniform(0, math.pi))
            else:
                length, w = float(rng.uniform(8.0, 30.0)), float(rng.uniform(6.0, 20.0))
                angle = float(rng.uniform(0, math.pi))
            corners = rect_corners(tuple(p), length + 2, w + 2, angle)
            if not inside(rect_corners(tuple(p), length, w, angle), bounds) or not occupancy.is_free(corners):
                continue
            occupancy.mark(corners)
            if kind == "tarp_pile":
                items.append(Item("tarp_pile", (float(p[0]), float(p[1])), length, max(w, 1.8), angle,
                                  float(rng.uniform(0.8, 2.0)), palette.pick(rng, palette.TARP_COLOURS), _seed(rng),
                                  label="tarp"))
            else:
                colour = [(0.55, 0.52, 0.48), (0.12, 0.12, 0.13), (0.62, 0.55, 0.42), (0.40, 0.33, 0.28)][
                    int(rng.integers(0, 4))]
                items.append(Item("heap", (float(p[0]), float(p[1])), length, w, angle, min(length, w) * 0.35,
                                  colour, _seed(rng)))
            placed += 1
        if kind == "tarp_pile" and n_tarps is not None and placed < count:
            raise ConfigError(f"{n_tarps} tarp piles find no free ground inside the scene; "
                              "raise scene_size_px or ask for fewer tarps")
    return items


def plan_vehicles(rng: np.random.Generator, site: SitePlan, taken: list[Item]) -> list[Item]:
    """Cars and trucks on roads and in parking lots, reach stackers and trucks on the pad."""
    items: list[Item] = []
    width, height = site.extent_m
    busy = rng.uniform(0.2, 1.0)
    for road in site.roads:
        if not road.marked:
            continue
        a, b = np.asarray(road.points[0]), np.asarray(road.points[-1])
        length = float(np.linalg.norm(b - a))
        direction = (b - a) / max(length, 1e-6)
        across = np.array([-direction[1], direction[0]])
        span = clip_segment(a, b, (0.0, 0.0, width, height))
        if span is None:
            continue
        for lane in (-1, 1):
            t = span[0] * length + rng.exponential(150.0 / busy)
            while t < span[1] * length:
                kind = str(rng.choice(["car", "truck", "bus"], p=[0.82, 0.15, 0.03]))
                v_len, v_wid = {"car": (rng.uniform(4.2, 4.9), rng.uniform(1.75, 1.9)),
                                "truck": (rng.uniform(14.0, 16.5), 2.55), "bus": (12.0, 2.55)}[kind]
                p = a + direction * t + across * lane * road.width_m / 4
                angle = math.atan2(direction[1], direction[0]) + (0.0 if lane > 0 else math.pi)
                items.append(_vehicle(rng, kind, p, v_len, v_wid, angle))
                t += v_len + rng.exponential(150.0 / busy) + 6.0
    for slot in site.parking:
        if rng.random() < busy * 0.8:
            p = np.asarray(slot.centre_m)
            items.append(_vehicle(rng, "car", p, rng.uniform(4.2, 4.9), rng.uniform(1.75, 1.9),
                                  slot.angle_rad + (math.pi if rng.random() < 0.5 else 0.0)))
    if site.container_slots:  # yard machines among the stacks
        for _ in range(int(rng.integers(0, 4))):
            slot = site.container_slots[int(rng.integers(0, len(site.container_slots)))]
            p = np.asarray(slot.centre_m) + rng.normal(0, 15.0, 2)
            item = _vehicle(rng, "reach_stacker", p, 11.0, 4.1, slot.angle_rad + rng.uniform(-0.3, 0.3),
                            colour=(0.82, 0.68, 0.12))
            if not any(_overlaps(item, other) for other in taken):
                items.append(item)
    return items


def _vehicle(rng: np.random.Generator, kind: str, p: np.ndarray, length: float, width: float, angle: float,
             colour: tuple[float, float, float] | None = None) -> Item:
    height = {"car": 1.5, "truck": 4.0, "bus": 3.2, "reach_stacker": 4.5}[kind]
    if colour is None:  # factory paints, no per-car variation: cars share a bank of sprites
        weights = np.array([w for w, _ in palette.VEHICLE_COLOURS])
        colour = palette.VEHICLE_COLOURS[int(rng.choice(len(weights), p=weights / weights.sum()))][1]
    if kind == "car":
        length, width = round(length * 5) / 5, round(width * 10) / 10
    return Item(kind, (float(p[0]), float(p[1])), float(length), float(width), float(angle), height, colour,
                _seed(rng))


def _overlaps(a: Item, b: Item) -> bool:
    reach = (a.length_m + b.length_m) / 2
    return math.dist(a.centre_m, b.centre_m) < reach
