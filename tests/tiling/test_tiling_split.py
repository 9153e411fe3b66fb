"""Splits of whole groups: deterministic, every split served, shares respected."""

from __future__ import annotations

import pytest

from yardwatch.errors import ConfigError
from yardwatch.tiling import SplitRatios, assign_groups


def test_ratios_are_validated():
    assert SplitRatios().as_dict() == {"train": 0.8, "val": 0.1, "test": 0.1}
    assert SplitRatios.from_mapping({"train": 0.9, "val": 0.1}).used == ("train", "val")
    with pytest.raises(ConfigError, match="sum to 1.1"):
        SplitRatios(0.9, 0.1, 0.1)
    with pytest.raises(ConfigError, match="train > 0"):
        SplitRatios(0.0, 0.5, 0.5)
    with pytest.raises(ConfigError, match="unknown key"):
        SplitRatios.from_mapping({"train": 1.0, "holdout": 0.0})
    assert SplitRatios().enough_groups(10) and not SplitRatios().enough_groups(9)


def test_assignment_is_deterministic_and_proportional():
    sizes = {("scene", i): 10 for i in range(100)}
    first = assign_groups(sizes, SplitRatios(), seed=3)
    assert first == assign_groups(dict(reversed(list(sizes.items()))), SplitRatios(), seed=3)
    assert first != assign_groups(sizes, SplitRatios(), seed=4)
    counts = {name: sum(1 for v in first.values() if v == name) for name in ("train", "val", "test")}
    assert counts == {"train": 80, "val": 10, "test": 10}


def test_every_used_split_gets_a_group():
    result = assign_groups({"a": 50, "b": 1, "c": 1}, SplitRatios(), seed=0)
    assert sorted(result.values()) == ["test", "train", "val"]
    only_two = assign_groups({"a": 5, "b": 5, "c": 5}, SplitRatios(0.5, 0.5, 0.0), seed=0)
    assert set(only_two.values()) == {"train", "val"}
    with pytest.raises(ConfigError, match="only 2 scene"):
        assign_groups({"a": 1, "b": 1}, SplitRatios(), seed=0)
