"""Colours of ground materials by season and of the objects a yard holds.

Colours are display reflectances in 0..1 for (red, green, blue, near-infrared). Each ground material has two
colours that a coarse noise field mixes (patchy grass, wet and dry soil) and two texture amplitudes (per-pixel
grain and metre-scale mottling). Vegetation is bright in the near infrared and painted metal is not, as in
real 4-band imagery.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from yardwatch.errors import ConfigError

SEASONS: tuple[str, ...] = ("summer", "autumn", "winter")


class Material(IntEnum):
    """Ground materials of the land-cover map, one uint8 per pixel."""

    GRASS = 0
    DRY_GRASS = 1
    SOIL = 2
    FIELD = 3
    FIELD_BARE = 4
    GRAVEL = 5
    BALLAST = 6
    SLEEPERS = 7
    RAIL_INNER = 8
    ASPHALT = 9
    CONCRETE = 10
    DIRT_ROAD = 11
    GARDEN = 12
    PAVING = 13
    WEEDS = 14


@dataclass(frozen=True, slots=True)
class Ground:
    """One material's look: two colours mixed by a coarse field, grain and mottle amplitudes."""

    colour_a: tuple[float, float, float, float]
    colour_b: tuple[float, float, float, float]
    grain: float
    mottle: float
    sleeper: float = 0.0


def _g(a: tuple[int, ...], b: tuple[int, ...], grain: float, mottle: float, sleeper: float = 0.0) -> Ground:
    return Ground(tuple(v / 255.0 for v in a), tuple(v / 255.0 for v in b), grain, mottle, sleeper)


_SUMMER: dict[Material, Ground] = {
    Material.GRASS: _g((84, 104, 58, 150), (118, 124, 78, 140), 0.03, 0.05),
    Material.DRY_GRASS: _g((122, 124, 84, 125), (108, 114, 74, 130), 0.05, 0.07),
    Material.SOIL: _g((148, 126, 100, 105), (118, 100, 82, 95), 0.06, 0.09),
    Material.FIELD: _g((96, 122, 64, 165), (128, 136, 80, 150), 0.05, 0.07),
    Material.FIELD_BARE: _g((156, 136, 108, 110), (132, 112, 88, 100), 0.05, 0.07),
    Material.GRAVEL: _g((134, 128, 119, 100), (110, 103, 95, 92), 0.13, 0.08),
    Material.BALLAST: _g((122, 114, 104, 96), (136, 126, 114, 104), 0.16, 0.05),
    Material.SLEEPERS: _g((140, 136, 130, 110), (150, 146, 140, 116), 0.12, 0.05, 0.25),
    Material.RAIL_INNER: _g((104, 90, 78, 84), (92, 80, 70, 78), 0.14, 0.06, 0.15),
    Material.ASPHALT: _g((72, 74, 78, 60), (94, 94, 96, 70), 0.025, 0.04),
    Material.CONCRETE: _g((176, 172, 164, 150), (148, 144, 137, 130), 0.02, 0.035),
    Material.DIRT_ROAD: _g((150, 136, 112, 110), (128, 116, 96, 100), 0.08, 0.08),
    Material.GARDEN: _g((78, 102, 52, 165), (104, 112, 64, 150), 0.12, 0.12),
    Material.PAVING: _g((158, 152, 144, 132), (132, 128, 122, 120), 0.06, 0.05),
    Material.WEEDS: _g((106, 112, 76, 135), (128, 122, 100, 110), 0.15, 0.10),
}

_AUTUMN: dict[Material, Ground] = {
    **_SUMMER,
    Material.GRASS: _g((124, 120, 78, 125), (104, 106, 66, 130), 0.08, 0.10),
    Material.DRY_GRASS: _g((156, 140, 100, 105), (136, 122, 88, 100), 0.08, 0.08),
    Material.FIELD: _g((168, 152, 112, 115), (150, 132, 98, 110), 0.05, 0.07),
    Material.FIELD_BARE: _g((122, 100, 80, 95), (104, 86, 70, 88), 0.06, 0.08),
    Material.GARDEN: _g((112, 110, 66, 130), (126, 104, 62, 120), 0.12, 0.12),
    Material.WEEDS: _g((128, 118, 84, 110), (112, 104, 80, 105), 0.15, 0.10),
}

_SNOW_A, _SNOW_B = (232, 236, 241, 215), (206, 211, 218, 200)
_WINTER: dict[Material, Ground] = {
    **_SUMMER,
    Material.GRASS: _g(_SNOW_A, _SNOW_B, 0.015, 0.03),
    Material.DRY_GRASS: _g((222, 225, 230, 205), (200, 200, 198, 180), 0.03, 0.05),
    Material.SOIL: _g((214, 216, 220, 195), (186, 184, 180, 165), 0.04, 0.06),
    Material.FIELD: _g(_SNOW_A, _SNOW_B, 0.015, 0.03),
    Material.FIELD_BARE: _g(_SNOW_A, (170, 160, 146, 150), 0.03, 0.06),
    Material.GRAVEL: _g((198, 199, 203, 180), (146, 140, 132, 120), 0.10, 0.10),
    Material.BALLAST: _g((170, 168, 168, 150), (132, 126, 118, 105), 0.16, 0.06),
    Material.SLEEPERS: _g((150, 146, 142, 130), (120, 114, 106, 100), 0.14, 0.05, 0.28),
    Material.RAIL_INNER: _g((122, 110, 102, 100), (96, 86, 78, 84), 0.14, 0.06, 0.12),
    Material.ASPHALT: _g((78, 80, 85, 65), (126, 128, 133, 110), 0.05, 0.08),
    Material.CONCRETE: _g((190, 190, 192, 170), (222, 225, 229, 200), 0.04, 0.07),
    Material.DIRT_ROAD: _g((184, 180, 176, 160), (140, 130, 116, 110), 0.08, 0.08),
    Material.GARDEN: _g(_SNOW_A, _SNOW_B, 0.03, 0.05),
    Material.PAVING: _g((186, 186, 188, 165), (210, 212, 216, 190), 0.05, 0.06),
    Material.WEEDS: _g((214, 216, 220, 190), (150, 142, 124, 120), 0.12, 0.10),
}

GROUND_BY_SEASON: dict[str, dict[Material, Ground]] = {"summer": _SUMMER, "autumn": _AUTUMN, "winter": _WINTER}

WOODEN_SLEEPERS = _g((92, 80, 68, 80), (104, 92, 80, 86), 0.14, 0.05, 0.25)


def ground_tables(season: str, wooden_sleepers: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Look-up tables indexed by :class:`Material`.

    Returns:
        colour_a (256, 4), colour_delta (256, 4) = b - a, and amplitudes (256, 3) = (grain, mottle, sleeper), all
        float32.
    """
    table = dict(GROUND_BY_SEASON[season])
    if wooden_sleepers and season != "winter":
        table[Material.SLEEPERS] = WOODEN_SLEEPERS
    colour_a = np.zeros((256, 4), np.float32)
    delta = np.zeros((256, 4), np.float32)
    amps = np.zeros((256, 3), np.float32)
    for material, ground in table.items():
        colour_a[material] = ground.colour_a
        delta[material] = np.subtract(ground.colour_b, ground.colour_a)
        amps[material] = (ground.grain, ground.mottle, ground.sleeper)
    return colour_a, delta, amps


def _rgb(*values: int) -> tuple[float, float, float]:
    return tuple(v / 255.0 for v in values)  # type: ignore[return-value]


# Weighted colour mixes: (weight, rgb). Black tank cars and rust-red box cars dominate real yards.
WAGON_COLOURS: dict[str, tuple[tuple[float, tuple[float, float, float]], ...]] = {
    "box": ((4, _rgb(112, 60, 46)), (2, _rgb(128, 72, 54)), (3, _rgb(120, 120, 116)), (3, _rgb(176, 178, 178)),
            (1, _rgb(70, 86, 112)), (1, _rgb(70, 88, 72)), (2, _rgb(196, 196, 190)), (3, _rgb(96, 72, 58)),
            (1, _rgb(70, 100, 104))),
    "tank": ((6, _rgb(34, 34, 36)), (2, _rgb(70, 70, 72)), (2, _rgb(160, 162, 162)), (2, _rgb(206, 206, 202)),
             (1, _rgb(180, 182, 184)), (1, _rgb(70, 88, 70)), (0.5, _rgb(170, 110, 56))),
    "hopper": ((3, _rgb(140, 140, 136)), (2, _rgb(168, 154, 128)), (3, _rgb(108, 80, 64)),
               (1, _rgb(80, 98, 124)), (1, _rgb(190, 190, 184))),
    "gondola": ((3, _rgb(94, 66, 52)), (2, _rgb(48, 46, 44)), (1, _rgb(70, 84, 70)), (2, _rgb(98, 96, 94))),
    "flat": ((3, _rgb(100, 84, 66)), (3, _rgb(72, 70, 68)), (1, _rgb(64, 74, 98)), (1, _rgb(110, 64, 50))),
    "locomotive": ((2, _rgb(170, 48, 40)), (1, _rgb(196, 110, 48)), (1, _rgb(200, 176, 64)), (2, _rgb(52, 76, 132)),
                   (1, _rgb(60, 106, 76)), (2, _rgb(120, 124, 128))),
}

CONTAINER_COLOURS = ((22, _rgb(126, 58, 48)), (8, _rgb(100, 50, 42)), (12, _rgb(58, 84, 120)),
                     (6, _rgb(90, 126, 154)), (14, _rgb(142, 142, 140)), (9, _rgb(66, 92, 72)),
                     (9, _rgb(196, 196, 190)), (4, _rgb(184, 112, 62)), (3, _rgb(188, 164, 82)),
                     (11, _rgb(108, 82, 62)), (3, _rgb(172, 158, 128)))

TARP_COLOURS = ((35, _rgb(40, 82, 162)), (20, _rgb(50, 86, 60)), (15, _rgb(130, 135, 138)),
                (10, _rgb(100, 100, 62)), (8, _rgb(170, 150, 110)), (7, _rgb(210, 212, 214)),
                (5, _rgb(200, 112, 42)))

# The same tarp colours, equally likely: a training-set option (``generate_scene(tarp_colours="even")``). With the
# weights above a detector trained on a few hundred tarps learns "blue or green = tarp" and misses the rest (the
# demo weights found 1 of 29 tarps of the other colours on flatcars in held-out scenes).
TARP_COLOURS_EVEN = tuple((1.0, rgb) for _, rgb in TARP_COLOURS)
TARP_MIXES = {"natural": TARP_COLOURS, "even": TARP_COLOURS_EVEN}
_TARP_MIX: ContextVar[tuple[tuple[float, tuple[float, float, float]], ...]] = ContextVar("tarp_mix",
                                                                                       default=TARP_COLOURS)


def tarp_mix(name: str) -> tuple[tuple[float, tuple[float, float, float]], ...]:
    """The tarp colour mix called ``name`` (``natural`` or ``even``).

    Raises:
        ConfigError: no mix of that name.
    """
    if name not in TARP_MIXES:
        raise ConfigError(f"tarp_colours={name!r} is not one of {', '.join(TARP_MIXES)}")
    return TARP_MIXES[name]


def tarp_colours() -> tuple[tuple[float, tuple[float, float, float]], ...]:
    """The tarp colour mix of the scene being planned (see :func:`using_tarp_colours`)."""
    return _TARP_MIX.get()


@contextmanager
def using_tarp_colours(name: str) -> Iterator[None]:
    """Draw tarps from the mix ``name`` (:func:`tarp_mix`) inside the block; one random draw per tarp either way,
    so the rest of a scene is the same under every mix."""
    token = _TARP_MIX.set(tarp_mix(name))
    try:
        yield
    finally:
        _TARP_MIX.reset(token)


VEHICLE_COLOURS = ((25, _rgb(220, 222, 222)), (18, _rgb(28, 28, 30)), (20, _rgb(110, 112, 114)),
                   (15, _rgb(176, 178, 182)), (8, _rgb(150, 30, 30)), (8, _rgb(40, 60, 120)),
                   (6, _rgb(60, 80, 60)))

ROOF_COLOURS = {
    "flat": ((3, _rgb(150, 148, 142)), (2, _rgb(72, 72, 74)), (2, _rgb(200, 200, 196)), (1, _rgb(120, 116, 108))),
    "gable": ((3, _rgb(150, 76, 56)), (2, _rgb(112, 72, 56)), (2, _rgb(82, 82, 88)), (1, _rgb(140, 130, 120))),
    "metal": ((3, _rgb(176, 178, 180)), (1, _rgb(72, 102, 140)), (1, _rgb(72, 112, 92)), (1, _rgb(130, 82, 56)),
              (1, _rgb(150, 60, 50))),
}

TREE_COLOURS = {
    "summer": ((3, _rgb(50, 76, 40)), (3, _rgb(66, 92, 48)), (1, _rgb(36, 56, 40))),
    "autumn": ((2, _rgb(150, 104, 42)), (2, _rgb(176, 140, 52)), (1, _rgb(120, 84, 40)), (2, _rgb(72, 90, 46)),
               (1, _rgb(38, 56, 40))),
    "winter": ((3, _rgb(92, 80, 70)), (1, _rgb(80, 74, 68))),
}


_FADES = (0.9, 1.0, 1.08)


def pick(rng: np.random.Generator, mix: tuple[tuple[float, tuple[float, float, float]], ...], *,
         fleet: bool = False) -> tuple[float, float, float]:
    """Draw one colour from a weighted mix and vary it a little (paint, fading, dirt).

    With ``fleet`` the variation is one of three fades of the base paint, so that objects of one fleet (containers,
    wagons of a block train) repeat colours exactly and can share a drawn sprite.
    """
    weights = np.array([w for w, _ in mix], dtype=np.float64)
    index = int(rng.choice(len(mix), p=weights / weights.sum()))
    base = np.asarray(mix[index][1], dtype=np.float64)
    if fleet:
        varied = base * _FADES[int(rng.integers(0, len(_FADES)))]
    else:
        varied = base * rng.uniform(0.88, 1.1) + rng.normal(0.0, 0.015, 3)
    return tuple(round(float(v), 4) for v in np.clip(varied, 0.02, 0.98))  # type: ignore[return-value]


def with_nir(rgb: np.ndarray, vegetation: float = 0.0) -> np.ndarray:
    """Append a near-infrared value to RGB colours (..., 3): painted surfaces from their brightness, plants high.

    nir = 0.55 lum + 0.12 + vegetation * 0.55 * (1 - lum), with lum the mean of RGB.
    """
    rgb = np.asarray(rgb, dtype=np.float32)
    weight = (0.55 - 0.55 * vegetation) / 3.0
    nir = rgb @ np.full(3, weight, np.float32)
    nir += 0.12 + 0.55 * vegetation
    return np.concatenate([rgb, nir[..., None]], axis=-1)
