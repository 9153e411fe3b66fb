"""Real sizes of the things a rail-yard scene holds, in metres.

Railcar ranges follow measured wagons: the 503 Muttenz footprints (length p5/p50/p95 9.7/14.5/22.1 m, width
2.42/2.77/3.19 m) and the UIC/AAR ranges for each wagon family. Containers use the ISO 668 outer dimensions, so a
label of a 20 ft box is 6.058 x 2.438 m whatever the GSD.
"""

from __future__ import annotations

from dataclasses import dataclass

CLASS_NAMES: tuple[str, ...] = ("railcar", "tarp", "container")
CLASS_IDS: dict[str, int] = {name: index for index, name in enumerate(CLASS_NAMES)}

CONTAINER_WIDTH_M = 2.438
CONTAINER_20_LENGTH_M = 6.058
CONTAINER_40_LENGTH_M = 12.192
CONTAINER_HEIGHT_M = 2.591
TRACK_GAUGE_M = 1.435
SLEEPER_LENGTH_M = 2.6
SLEEPER_SPACING_M = 0.6


@dataclass(frozen=True, slots=True)
class WagonType:
    """One family of rail vehicle seen from above.

    Attributes:
        name: the sprite that draws it (box, tank, hopper, gondola, flat, locomotive).
        length_m: (low, high) length over buffers.
        width_m: (low, high) body width.
        height_m: roof height above the rail head, for shadows and side faces.
        weight: relative frequency in a yard.
    """

    name: str
    length_m: tuple[float, float]
    width_m: tuple[float, float]
    height_m: float
    weight: float


WAGON_TYPES: tuple[WagonType, ...] = (
    WagonType("box", (13.5, 23.0), (2.80, 3.15), 4.2, 0.26),
    WagonType("tank", (11.5, 19.5), (2.60, 3.05), 4.1, 0.22),
    WagonType("hopper", (10.0, 15.5), (2.90, 3.20), 4.0, 0.14),
    WagonType("gondola", (12.0, 16.5), (2.80, 3.15), 2.9, 0.14),
    WagonType("flat", (13.0, 25.0), (2.50, 2.95), 1.3, 0.19),
    WagonType("locomotive", (15.5, 22.0), (2.95, 3.20), 4.3, 0.05),
)
WAGONS_BY_NAME: dict[str, WagonType] = {wagon.name: wagon for wagon in WAGON_TYPES}

# The labelled size ranges the tests hold every scene to (the design's ranges).
RAILCAR_LENGTH_RANGE_M = (10.0, 25.0)
RAILCAR_WIDTH_RANGE_M = (2.4, 3.3)
COUPLING_GAP_RANGE_M = (0.5, 1.5)
