"""``yardwatch synth``: write synthetic rail-yard scenes, their labels and a catalog."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from yardwatch.cli import _checks
from yardwatch.errors import ConfigError

_SITE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_COUNT_KEYS = ("baseline_max_railcars", "spike_railcars", "baseline_max_tarps", "spike_tarps",
               "baseline_max_containers", "spike_containers")


def _flag(cfg: Any, key: str) -> bool:
    value = cfg.get(key)
    if not isinstance(value, bool):
        raise ConfigError(f"{key}={value!r} must be true or false")
    return value


def _plain(value: Any) -> Any:
    from omegaconf import DictConfig, ListConfig, OmegaConf

    return OmegaConf.to_container(value) if isinstance(value, (ListConfig, DictConfig)) else value


def _one_or_list(cfg: Any, key: str, length: int | None = None, **limits: Any) -> Any:
    """A number, or a list of numbers (of ``length`` when given), each checked like ``_checks.number``."""
    value = _plain(cfg.get(key))
    if isinstance(value, list):
        if not value or (length is not None and len(value) != length):
            size = f"{length} values" if length else "at least one value"
            raise ConfigError(f"{key}={value!r} must be one number or a list of {size}")
        return [_checks.number({key: item}, key, **limits) for item in value]
    return _checks.number({key: value}, key, **limits)


def settings(cfg: Any) -> dict[str, Any]:
    """Check every key of the synth config and return the keyword arguments of ``write_scenes``.

    Raises:
        ConfigError, InputError, OutputError: naming the key, its value and the fix.
    """
    from yardwatch.synth.georef import resolve_crs
    from yardwatch.synth.palette import TARP_MIXES
    from yardwatch.synth.scene import BAND_COUNTS, DTYPES, GSD_RANGE_M, MAX_SCENE_PX, SEASON_CHOICES

    size = _one_or_list(cfg, "scene_size_px", length=2, lo=32, hi=MAX_SCENE_PX, integer=True)
    args: dict[str, Any] = {
        "n_scenes": _checks.number(cfg, "n_scenes", lo=1, hi=100_000, integer=True),
        "scene_size_px": tuple(size) if isinstance(size, list) else size,
        "gsd_m": _one_or_list(cfg, "gsd_m", lo=GSD_RANGE_M[0], hi=GSD_RANGE_M[1]),
        "seed": _checks.number(cfg, "seed", lo=0, hi=2**31 - 1, integer=True),
        "dtype": _checks.choice(cfg, "dtype", DTYPES),
        "season": _checks.choice(cfg, "season", SEASON_CHOICES),
        "series": _flag(cfg, "series"),
        "dates": _checks.number(cfg, "dates", lo=1, hi=10_000, integer=True),
        "interval_days": _checks.number(cfg, "interval_days", lo=1, hi=3650, integer=True),
        "clouds": _flag(cfg, "clouds"),
        "nodata_edges": _flag(cfg, "nodata_edges"),
        "overviews": _flag(cfg, "overviews"),
        "tarp_colours": _checks.choice(cfg, "tarp_colours", tuple(TARP_MIXES)),
    }
    bands = cfg.get("bands")
    if bands not in BAND_COUNTS or isinstance(bands, bool):
        raise ConfigError(f"bands={bands!r} is not 3 (RGB) or 4 (RGB + NIR)")
    args["bands"] = int(bands)
    crs = cfg.get("crs")
    if crs not in (None, ""):
        resolve_crs(crs)
    args["crs"] = None if crs in (None, "") else crs
    site = cfg.get("site")
    if site not in (None, "") and not (isinstance(site, str) and _SITE_PATTERN.match(site)):
        raise ConfigError(f"site={site!r} must be letters, digits, '.', '_' or '-' (it names files)")
    args["site"] = site or None
    start = cfg.get("start_date")
    try:
        args["start_date"] = start if isinstance(start, date) else date.fromisoformat(str(start))
    except ValueError as err:
        raise ConfigError(f"start_date={start!r} is not an ISO date; write it as YYYY-MM-DD") from err
    args["layout"] = _checks.existing_file(cfg, "layout", optional=True)
    for key in _COUNT_KEYS:
        args[key] = _checks.number(cfg, key, lo=0, hi=100_000, integer=True)
    args["spike_date_index"] = _checks.number(cfg, "spike_date_index", lo=-1, hi=args["dates"] - 1, integer=True,
                                              optional=True)
    if args["series"] and args["layout"] is not None:
        raise ConfigError("series=true and layout=... cannot be combined: a layout fixes the railcars, a series "
                          "changes them; drop one of the two")
    args["out_dir"] = _checks.output_dir(cfg, "out_dir")
    return args


def run(cfg: Any) -> None:
    """Validate the config, write the scenes, and print where the catalog is."""
    from yardwatch.synth import write_scenes

    args = settings(cfg)
    catalog = write_scenes(**args, progress=True)
    print(catalog)
