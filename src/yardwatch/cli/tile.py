"""``yardwatch tile``: scenes + geo labels -> a YOLO / YOLO-OBB dataset (see ``configs/tile.yaml``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from yardwatch.cli import _checks
from yardwatch.errors import ConfigError


def _optional_str(cfg: Any, key: str) -> str | None:
    value = cfg.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ConfigError(f"{key}={value!r} must be a single value, e.g. {key}=<path>")
    return str(value)


def _int_list(cfg: Any, key: str) -> tuple[int, ...] | None:
    value = cfg.get(key)
    if value is None:
        return None
    items = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    if not items or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in items):
        raise ConfigError(f"{key}={value!r} must list band numbers counted from 1, e.g. {key}=[1,2,3]")
    return tuple(items)


def _mapping(cfg: Any, key: str) -> dict[str, Any]:
    value = cfg.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}={value!r} must be a mapping, e.g. {key}={{wagon: railcar}}")
    return {str(k): v for k, v in value.items()}


def options_from_config(cfg: Any):
    """Validate ``cfg`` (the composed ``tile`` config) and build :class:`~yardwatch.tiling.TilingOptions`."""
    from yardwatch.tiling import SplitRatios, TilingOptions

    split = _mapping(cfg, "split")
    for name, share in split.items():
        _checks.number({f"split.{name}": share}, f"split.{name}", lo=0.0, hi=1.0)
    percentiles = cfg.get("percentiles")
    if percentiles is None or len(list(percentiles)) != 2:
        raise ConfigError(f"percentiles={percentiles!r} must be two numbers, e.g. percentiles=[2,98]")
    pct = [_checks.number({"percentiles": p}, "percentiles", lo=0.0, hi=100.0) for p in percentiles]
    class_map = _mapping(cfg, "class_map")
    return TilingOptions(
        tile_size_px=_checks.number(cfg, "tile_size_px", lo=1, integer=True),
        overlap_px=_checks.number(cfg, "overlap_px", lo=0, integer=True),
        task=_checks.choice(cfg, "task", ("detect", "obb")),
        bands=_int_list(cfg, "bands"),
        assume_crs=_optional_str(cfg, "assume_crs"),
        allow_pixel_only=_checks.flag(cfg, "allow_pixel_only"),
        gsd_m=_checks.number(cfg, "gsd_m", lo=0.0, lo_open=True, optional=True),
        min_visibility=_checks.number(cfg, "min_visibility", lo=0.0, hi=1.0),
        max_nodata_frac=_checks.number(cfg, "max_nodata_frac", lo=0.0, hi=1.0),
        negative_ratio=_checks.number(cfg, "negative_ratio", lo=0.0, optional=True),
        eval_negative_ratio=_checks.number(cfg, "eval_negative_ratio", lo=0.0, optional=True),
        split=SplitRatios.from_mapping(split),
        split_by=_checks.choice(cfg, "split_by", ("auto", "scene", "block")),
        split_block_tiles=_checks.number(cfg, "split_block_tiles", lo=1, integer=True),
        seed=_checks.number(cfg, "seed", lo=0, integer=True),
        class_map={k: str(v) for k, v in class_map.items()} or None,
        class_field=_optional_str(cfg, "class_field") or "class",
        write_geotiff=_checks.flag(cfg, "write_geotiff"),
        workers=_checks.number(cfg, "workers", lo=1, integer=True),
        percentiles=(float(pct[0]), float(pct[1])),
        png_compression=_checks.number(cfg, "png_compression", lo=0, hi=9, integer=True),
    )


def run(cfg: Any) -> None:
    """Validate the config, tile, and print what was written."""
    from yardwatch.tiling import tile_scenes

    scenes = _optional_str(cfg, "scenes")
    if scenes is None:
        raise ConfigError("scenes is required; pass scenes=<file|folder|glob|catalog.csv>")
    labels = _optional_str(cfg, "labels")
    out_dir = _checks.output_dir(cfg, "out_dir")
    options = options_from_config(cfg)
    summary = tile_scenes(scenes, out_dir, labels=labels, options=options, overwrite=_checks.flag(cfg, "overwrite"),
                          progress=_checks.flag(cfg, "progress"))
    splits = ", ".join(f"{name} {summary.n_tiles[name]} ({summary.n_objects[name]} objects)"
                       for name in summary.n_tiles)
    print(f"tiles: {splits}; split by {summary.split_by}")
    print(f"left out: {summary.n_skipped_nodata} nodata tiles, {summary.n_negatives_dropped} empty tiles, "
          f"{summary.n_labels_outside} labels outside every scene, {summary.n_objects_unlabeled} objects in no tile")
    print(f"dataset: {summary.dataset_yaml}")
