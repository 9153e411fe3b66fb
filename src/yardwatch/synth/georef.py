"""Where synthetic scenes sit on the Earth: the CRS and the upper-left corner of each scene."""

from __future__ import annotations

import math

from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from yardwatch.errors import ConfigError

DEFAULT_CRS = "EPSG:32652"
TUMANGANG_LONLAT = (130.62, 42.42)  # the rail facility on the Tumen river, North Korea - Russia border


def resolve_crs(crs: str | int | None, key: str = "crs") -> CRS:
    """A projected CRS in metres with an EPSG code, from ``crs`` (default EPSG:32652, UTM 52N).

    Raises:
        ConfigError: naming ``key`` when the CRS is unknown, geographic, not in metres or has no EPSG code.
    """
    text = DEFAULT_CRS if crs in (None, "") else crs
    try:
        resolved = CRS.from_user_input(text)
    except CRSError as err:
        raise ConfigError(f"{key}={text!r} is not a CRS pyproj knows; use an EPSG code such as EPSG:32652") from err
    if not resolved.is_projected:
        raise ConfigError(f"{key}={text!r} is not projected; scenes need a CRS in metres, e.g. a UTM zone "
                          "such as EPSG:32652")
    units = {axis.unit_name for axis in resolved.axis_info}
    if not units <= {"metre", "meter"}:
        raise ConfigError(f"{key}={text!r} has axis units {', '.join(sorted(units))}; pick a CRS in metres")
    if resolved.to_epsg() is None:
        raise ConfigError(f"{key}={text!r} has no EPSG code; pick one that has (GeoJSON names its CRS by EPSG)")
    return resolved


def crs_name(crs: CRS) -> str:
    """``EPSG:<code>``, the way the catalog and rasterio spell a CRS."""
    return f"EPSG:{crs.to_epsg()}"


def default_origin(crs: CRS) -> tuple[float, float]:
    """A plausible upper-left corner in ``crs``: near Tumangang when the CRS covers it, else its area's centre."""
    lon, lat = TUMANGANG_LONLAT
    area = crs.area_of_use
    if area is not None and not (area.west <= lon <= area.east and area.south <= lat <= area.north):
        lon, lat = (area.west + area.east) / 2, (area.south + area.north) / 2
    transformer = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = transformer.transform(lon, lat)
    if not (math.isfinite(x) and math.isfinite(y)):
        return 0.0, 0.0
    return float(round(x / 1000.0) * 1000.0), float(round(y / 1000.0) * 1000.0)
