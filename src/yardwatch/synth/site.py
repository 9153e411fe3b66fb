"""The static part of a scene: yard tracks and ladders, container pad, roads, town, fields, trees, catenary.

Everything in scene metres (x right, y down); see :mod:`yardwatch.synth.plan` for the types.
"""

from __future__ import annotations

import math

import numpy as np

from yardwatch.synth import palette
from yardwatch.synth.catalogue import CONTAINER_40_LENGTH_M, CONTAINER_WIDTH_M
from yardwatch.synth.geometry import Occupancy, clip_segment, rect_corners
from yardwatch.synth.palette import Material
from yardwatch.synth.plan import Area, Item, Road, SitePlan, Slot, Track, new_seed
from yardwatch.synth.plan import along_across as _at  # short: it is on every line of the yard layout


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
                site.statics.append(Item("mast", tuple(p), 0.5, 0.5, angle, 9.0, (0.35, 0.35, 0.36), new_seed(rng)))
            site.statics.append(Item("beam", tuple(mid), float(np.linalg.norm(b - a)), 0.3, angle, 7.6,
                                     (0.38, 0.38, 0.40), new_seed(rng)))
        s += spacing


def _place_building(rng: np.random.Generator, site: SitePlan, centre: np.ndarray, length: float, width: float,
                    angle: float, height: float, roof: str, margin: float = 2.0) -> bool:
    corners = rect_corners(tuple(centre), length + 2 * margin, width + 2 * margin, angle)
    if not site.occupancy.is_free(corners):
        return False
    site.occupancy.mark(corners)
    colour = palette.pick(rng, palette.ROOF_COLOURS[roof])
    site.statics.append(Item("building", tuple(float(v) for v in centre), float(length), float(width), float(angle),
                             float(height), colour, new_seed(rng), style=roof))
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
                             new_seed(rng), style="conifer" if conifer else "deciduous"))


