"""scripts/train_demo.py's scene sets: held-out scenes share no generator seed with any training set, and the
``many`` set tiles into whole 3x3 grids at the demo's ground resolution."""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_demo.py"


@pytest.fixture(scope="module")
def train_demo():
    sys.path.insert(0, str(SCRIPT.parent))  # its _benchdoc helper
    try:
        spec = importlib.util.spec_from_file_location("train_demo", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules["train_demo"] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return module


def _seeds(groups) -> list[int]:
    return [g.scene_seed(i) for g in groups for i in range(g.n_scenes)]


def test_held_out_seeds_are_never_training_seeds(train_demo) -> None:
    held_out = set(_seeds(train_demo.HELDOUT_GROUPS))
    for name, groups in train_demo.TRAIN_SCENE_SETS.items():
        seeds = _seeds(groups)
        assert len(set(seeds)) == len(seeds), name
        assert not held_out & set(seeds), name
        assert len({g.name for g in groups}) == len(groups), name  # scenes are cached by group name
    names = {k: {g.name for g in groups} for k, groups in train_demo.TRAIN_SCENE_SETS.items()}
    for a, b in itertools.combinations(names, 2):  # a work dir caches scenes by group name: no two sets share one
        assert not names[a] & names[b], (a, b)


def test_many_tarps_differs_from_many_only_in_tarps(train_demo) -> None:
    many, tarps = train_demo.TRAIN_SCENE_SETS["many"], train_demo.TRAIN_SCENE_SETS["many-tarps"]
    assert len(many) == len(tarps)
    for a, b in zip(many, tarps):
        assert dataclasses.replace(b, name=a.name, tarps=a.tarps) == a
        assert b.tarps == (2 * a.tarps if a.tarps else 18)


def test_many_scenes_cover_the_standard_ground_in_whole_tile_grids(train_demo) -> None:
    args = train_demo.parse_args(["--train-scenes", "many"])
    standard, many = train_demo.TRAIN_SCENE_SETS["standard"], train_demo.TRAIN_SCENE_SETS["many"]
    area = lambda groups: sum(g.n_scenes * g.extent_m ** 2 for g in groups)  # noqa: E731
    assert 0.8 < area(many) / area(standard) < 1.0
    assert len(_seeds(many)) >= 2 * len(_seeds(standard))
    three_tiles_px = 2 * (args.tile_size_px - args.overlap_px) + args.tile_size_px
    for g in many:  # three tiles a side at the demo's ground resolution, the last one not a sliver
        assert three_tiles_px - 8 <= g.extent_m / args.gsd_m <= three_tiles_px


def test_scene_factor_adds_new_seeds_and_keeps_held_out_ones_apart(train_demo) -> None:
    many = train_demo.TRAIN_SCENE_SETS["many-tarps"]
    assert train_demo.scaled_groups(many, 1) is many
    scaled = train_demo.scaled_groups(many, 6)
    assert [g.n_scenes for g in scaled] == [6 * g.n_scenes for g in many]
    assert set(_seeds(many)) < set(_seeds(scaled))  # the first scenes are the set's own, the rest new
    seeds = _seeds(scaled)
    assert len(set(seeds)) == len(seeds)
    assert not set(seeds) & set(_seeds(train_demo.HELDOUT_GROUPS))
    assert not {g.name for g in scaled} & {g.name for g in many}  # cached by name: the x6 groups are new ones
    for a, b in zip(many, scaled):
        assert dataclasses.replace(b, name=a.name, n_scenes=a.n_scenes) == a


@pytest.mark.parametrize("factor", [0, 13])
def test_scene_factor_out_of_range_is_refused(train_demo, factor: int) -> None:
    with pytest.raises(ValueError, match="--scene-factor"):
        train_demo.scaled_groups(train_demo.TRAIN_SCENE_SETS["many-tarps"], factor)


@pytest.mark.parametrize("n_scenes", [0, 101])
def test_a_scene_group_past_its_seed_range_is_refused(train_demo, n_scenes: int) -> None:
    group = train_demo.TRAIN_GROUPS[0]
    with pytest.raises(ValueError, match=f"{group.name}: {n_scenes} scenes"):
        dataclasses.replace(group, n_scenes=n_scenes)
