"""``yardwatch count``: counts per site, date and class in AOIs, anomaly flags, plots and reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yardwatch.cli import _checks
from yardwatch.errors import ConfigError


def anomaly_rules(cfg: Any):
    """The ``anomaly`` group of the config as :class:`~yardwatch.analytics.AnomalyRules`."""
    from yardwatch.analytics.anomaly import COMBINE, RULES, AnomalyRules

    group = cfg.get("anomaly")
    if group is None or not hasattr(group, "get"):
        raise ConfigError("anomaly must be a group (anomaly.rules=..., anomaly.combine=...)")
    group = {f"anomaly.{key}": value for key, value in group.items()}  # errors name the full key
    rules = group.get("anomaly.rules")
    rules = [rules] if isinstance(rules, str) else list(rules or [])
    if not rules or any(r not in RULES for r in rules):
        raise ConfigError(f"anomaly.rules={rules}: use one or both of {', '.join(RULES)}, e.g. anomaly.rules=[max]")
    lookback = _checks.number(group, "anomaly.lookback_days", lo=1, integer=True, optional=True)
    return AnomalyRules(
        rules=tuple(dict.fromkeys(rules)),
        combine=_checks.choice(group, "anomaly.combine", COMBINE),
        lookback_days=None if lookback is None else int(lookback),
        min_history=_checks.number(group, "anomaly.min_history", lo=1, integer=True),
        z_threshold=float(_checks.number(group, "anomaly.z_threshold", lo=0, lo_open=True)),
        mad_floor=float(_checks.number(group, "anomaly.mad_floor", lo=0, lo_open=True)),
        poisson_floor=bool(group.get("anomaly.poisson_floor", True)),
    )


def run(cfg: Any) -> None:
    """Validate the config, count, print the series per site and where the files went."""
    from yardwatch.analytics.counting import count_detections, series_table

    detections = _checks.folder(cfg, "detections", "detection files (yardwatch predict out_dir)")
    aoi = _checks.existing_file(cfg, "aoi")
    catalog = _checks.existing_file(cfg, "catalog")
    out_dir = _checks.output_dir(cfg, "out_dir") if cfg.get("out_dir") not in (None, "") else None
    result = count_detections(
        detections, aoi, catalog, out_dir=out_dir,
        site_column=str(cfg.get("site_column") or "site"),
        conf=_checks.score_thresholds(cfg, "conf", detections),
        min_coverage=_checks.number(cfg, "min_coverage", lo=0, hi=1, lo_open=True),
        coverage_cells=_checks.number(cfg, "coverage_cells", lo=1, integer=True),
        crop_px=_checks.number(cfg, "crop_px", lo=16, integer=True),
        rules=anomaly_rules(cfg),
    )
    from yardwatch import CLASS_NAMES

    print(f"{'site':<20}{'date':<12}{'scene':<24}" + "".join(f"{n:>10}" for n in CLASS_NAMES)
          + f"{'coverage':>10}  flagged")
    for entry in series_table(result):
        counts = "".join(f"{('>=' if entry['lower_bound'] else '') + str(entry.get(n, 0)):>10}" for n in CLASS_NAMES)
        print(f"{entry['site'][:19]:<20}{entry['acquired']:<12}{entry['scene_id'][:23]:<24}{counts}"
              f"{entry['coverage']:>10.0%}  {', '.join(entry['flagged'])}")
    where = Path(result.files[0]).parent if result.files else "-"
    print(f"{len(result.anomalies)} anomalies over {len(result.sites)} sites; wrote {len(result.files)} files "
          f"to {where}")
