"""What changes from one date to the next: trains on the tracks, loads, container stacks, tarp piles, heaps and
vehicles, with exact counts of labelled objects when asked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from yardwatch.errors import ConfigError
from yardwatch.synth import palette
from yardwatch.synth.catalogue import (CONTAINER_20_LENGTH_M, CONTAINER_40_LENGTH_M, CONTAINER_HEIGHT_M,
                                       CONTAINER_WIDTH_M, COUPLING_GAP_RANGE_M, WAGON_TYPES, WAGONS_BY_NAME)
from yardwatch.synth.geometry import Occupancy, clip_segment, inside, rect_corners
from yardwatch.synth.plan import Bounds, Item, SitePlan, Slot, Track, new_seed


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
    block_length = float(rng.uniform(*block_family.length_m))
    block_width = float(rng.uniform(*block_family.width_m))
    block_colour = palette.pick(rng, palette.WAGON_COLOURS[block_family.name], fleet=True)
    cars: list[_Car] = []
    with_loco = n_cars >= 4 and rng.random() < 0.45
    for index in range(n_cars):
        if with_loco and index == 0:
            loco = WAGONS_BY_NAME["locomotive"]
            cars.append(_Car("locomotive", rng.uniform(*loco.length_m), rng.uniform(*loco.width_m),
                             palette.pick(rng, palette.WAGON_COLOURS["locomotive"])))
            continue
        if block and rng.random() < 0.9:  # a block train: identical wagons, most in the same livery
            family, length, width = block_family, block_length, block_width
            colour = block_colour if rng.random() < 0.75 else \
                palette.pick(rng, palette.WAGON_COLOURS[family.name], fleet=True)
        else:
            family = families[int(rng.choice(len(families), p=weights / weights.sum()))]
            length, width = float(rng.uniform(*family.length_m)), float(rng.uniform(*family.width_m))
            colour = palette.pick(rng, palette.WAGON_COLOURS[family.name])
        load = "none"
        if family.name == "gondola":
            load = str(rng.choice(["coal", "gravel", "ore", "scrap", "none"], p=[0.3, 0.2, 0.15, 0.15, 0.2]))
        cars.append(_Car(family.name, length, width, colour, load))
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
                          wagon.height_m, car.colour, new_seed(rng), label="railcar", style=car.load))
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
                              palette.pick(rng, palette.tarp_colours()), new_seed(rng), label="tarp", base_m=deck))
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
        colour = palette.pick(rng, palette.CONTAINER_COLOURS, fleet=True)
        boxes.append(Item("container", (float(p[0]), float(p[1])), length, CONTAINER_WIDTH_M, car.angle_rad,
                          deck + CONTAINER_HEIGHT_M, colour, new_seed(rng), label="container", base_m=deck))
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
                colours = tuple(palette.pick(rng, palette.CONTAINER_COLOURS, fleet=True) for _ in range(tiers))
                p = np.asarray(slot.centre_m) + direction * offset
                items.append(Item("container", (float(p[0]), float(p[1])), length, CONTAINER_WIDTH_M,
                                  slot.angle_rad, tiers * CONTAINER_HEIGHT_M, colours[-1], new_seed(rng),
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
            colours = tuple(palette.pick(rng, palette.CONTAINER_COLOURS, fleet=True) for _ in range(tiers))
            items.append(Item("container", (float(p[0]), float(p[1])), length, CONTAINER_WIDTH_M, angle,
                              tiers * CONTAINER_HEIGHT_M, colours[-1], new_seed(rng), label="container",
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
                                  float(rng.uniform(0.8, 2.0)), palette.pick(rng, palette.tarp_colours()),
                                  new_seed(rng), label="tarp"))
            else:
                colour = [(0.55, 0.52, 0.48), (0.12, 0.12, 0.13), (0.62, 0.55, 0.42), (0.40, 0.33, 0.28)][
                    int(rng.integers(0, 4))]
                items.append(Item("heap", (float(p[0]), float(p[1])), length, w, angle, min(length, w) * 0.35,
                                  colour, new_seed(rng)))
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
                new_seed(rng))


def _overlaps(a: Item, b: Item) -> bool:
    reach = (a.length_m + b.length_m) / 2
    return math.dist(a.centre_m, b.centre_m) < reach
