"""Train/val/test splits that do not leak.

Overlapping tiles of the same ground in train and val inflate every validation metric (the model has seen the
val pixels; sahi #206/#213, ultralytics #2173). So tiles are never split one by one: whole *groups* are -- whole
scenes when there are enough of them, else square spatial blocks of a scene. In block mode every block is tiled
on its own (see :func:`yardwatch.tiling.grid.make_tile_grid` with an offset), so a tile lies inside exactly one
block and tiles of different blocks never share a pixel; neighbouring blocks in different splits cost no tiles.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np

from yardwatch.errors import ConfigError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True, slots=True)
class SplitRatios:
    """Shares of tiles for train, val and test; non-negative, summing to 1, train > 0."""

    train: float = 0.8
    val: float = 0.1
    test: float = 0.1

    def __post_init__(self) -> None:
        values = (self.train, self.val, self.test)
        if any(not np.isfinite(v) or v < 0 for v in values) or self.train <= 0:
            raise ConfigError(f"split ratios train={self.train}, val={self.val}, test={self.test} must be >= 0 "
                              "with train > 0, e.g. split.train=0.8 split.val=0.1 split.test=0.1")
        if abs(sum(values) - 1.0) > 1e-6:
            raise ConfigError(f"split ratios train={self.train}, val={self.val}, test={self.test} sum to "
                              f"{sum(values):g}, not 1; adjust them")

    @classmethod
    def from_mapping(cls, ratios: Mapping[str, float]) -> SplitRatios:
        """From ``{"train": .., "val": .., "test": ..}`` (missing keys are 0)."""
        unknown = set(ratios) - set(SPLITS)
        if unknown:
            raise ConfigError(f"split has unknown key(s) {', '.join(sorted(unknown))}; use train, val, test")
        try:
            values = {name: float(ratios.get(name, 0.0)) for name in SPLITS}
        except (TypeError, ValueError) as err:
            raise ConfigError(f"split ratios {dict(ratios)} must be numbers") from err
        return cls(**values)

    def as_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in SPLITS}

    @property
    def used(self) -> tuple[str, ...]:
        """The splits with a share above 0, in train, val, test order."""
        return tuple(name for name in SPLITS if getattr(self, name) > 0)

    def enough_groups(self, n_groups: int) -> bool:
        """True when ``n_groups`` groups give every used split at least one group at these shares."""
        smallest = min(getattr(self, name) for name in self.used)
        return n_groups * smallest >= 1.0 - 1e-9


def assign_groups(sizes: Mapping[Hashable, int], ratios: SplitRatios, seed: int, *,
                  positives: Mapping[Hashable, int] | None = None) -> dict[Hashable, str]:
    """Assign whole groups (scenes or blocks) to splits, deterministically for ``seed``.

    Groups are shuffled with ``seed``. Groups holding objects (``positives``: tiles with objects per group) are
    shared first, by their tiles with objects, so that val and test get objects to score and not just empty
    ground; then the empty groups, by tiles. Within each pass every used split that has none yet first gets one
    group (smallest share first), then each further group goes to the split furthest below its share.

    Args:
        sizes: tiles per group.
        ratios: the shares.
        seed: the shuffle's seed.
        positives: tiles with objects per group (None: no labels, share by tiles alone).

    Raises:
        ConfigError: fewer groups than used splits.
    """
    used = ratios.used
    keys = sorted(sizes, key=repr)
    if len(keys) < len(used):
        raise ConfigError(f"only {len(keys)} scene(s)/block(s) to share among the {len(used)} splits "
                          f"{', '.join(used)}; lower split_block_tiles, add scenes, or set the unused split "
                          "ratios to 0")
    rng = np.random.default_rng(seed)
    order = [keys[i] for i in rng.permutation(len(keys))]
    positives = positives or {}
    with_objects = [k for k in order if positives.get(k, 0) > 0]
    empty = [k for k in order if positives.get(k, 0) <= 0]
    out: dict[Hashable, str] = {}
    _fill(with_objects, {k: positives[k] for k in with_objects}, ratios, out)
    _fill(empty, sizes, ratios, out, tiles_so_far={n: sum(sizes[k] for k, v in out.items() if v == n)
                                                   for n in used})
    return out


def _fill(keys: list[Hashable], sizes: Mapping[Hashable, int], ratios: SplitRatios, out: dict[Hashable, str],
          tiles_so_far: Mapping[str, float] | None = None) -> None:
    """Greedy share of ``keys`` into ``out``: a group first to each used split that has none, then by deficit."""
    used = ratios.used
    if not keys:
        return
    filled = {name: float((tiles_so_far or {}).get(name, 0.0)) for name in used}
    total = float(sum(sizes[k] for k in keys)) + sum(filled.values()) or 1.0
    target = {name: getattr(ratios, name) * total for name in used}
    missing = sorted((n for n in used if n not in out.values()), key=lambda n: (getattr(ratios, n), SPLITS.index(n)))
    queue = list(keys)
    for name in missing:
        if not queue:
            break
        key = queue.pop(0)
        out[key] = name
        filled[name] += sizes[key]
    for key in queue:
        name = max(used, key=lambda n: (target[n] - filled[n]) / target[n])
        out[key] = name
        filled[name] += sizes[key]
