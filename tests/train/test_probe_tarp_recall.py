"""scripts/probe_tarp_recall.py's error analysis: why a tarp is missed and what a false tarp lies on, on
hand-made boxes whose answers are known; and that a planned item's footprint lands where its label does."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import Polygon, box

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "probe_tarp_recall.py"


@pytest.fixture(scope="module")
def probe():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        spec = importlib.util.spec_from_file_location("probe_tarp_recall", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return module


def test_miss_reasons_bin_the_best_box_on_the_label(probe) -> None:
    label = box(0, 0, 10, 3)
    on_it, beside = box(0.5, 0, 10.5, 3), box(20, 0, 30, 3)
    assert probe.miss_reason(label, [], 0.4) == "no tarp box at IoU >= 0.5"
    assert probe.miss_reason(label, [(0.9, beside)], 0.4) == "no tarp box at IoU >= 0.5"
    assert probe.miss_reason(label, [(0.05, on_it), (0.9, beside)], 0.4) == "a box at IoU >= 0.5 scoring under 0.1"
    assert probe.miss_reason(label, [(0.05, on_it), (0.3, on_it)], 0.4) == "a box at IoU >= 0.5 scoring 0.1 to 0.4"
    assert probe.miss_reason(label, [(0.6, on_it)], 0.4) == "a box over the threshold, taken by another label"


def test_false_tarps_are_named_by_what_covers_most_of_them(probe) -> None:
    tank, tree = ("tank", box(0, 0, 15, 3)), ("tree (conifer)", box(14, 0, 20, 6))
    real_tarp = box(40, 0, 50, 3)
    assert probe.false_tarp_site(box(1, 0, 13, 3), [real_tarp], [tank, tree]) == "tank"
    assert probe.false_tarp_site(box(15, 0, 19, 3), [real_tarp], [tank, tree]) == "tree (conifer)"
    assert probe.false_tarp_site(box(41, 0, 47, 3), [real_tarp], [tank, tree]) == "duplicate of a real tarp"
    assert probe.false_tarp_site(box(100, 0, 110, 3), [real_tarp], [tank, tree]) == "bare ground"
    # a box that a thing only grazes (under a fifth of its area) is on bare ground
    assert probe.false_tarp_site(box(-9.5, 0, 0.5, 3), [], [tank]) == "bare ground"


def test_unmatched_detections_are_the_ones_greedy_matching_leaves(probe) -> None:
    labels = [box(0, 0, 10, 3), box(20, 0, 30, 3)]
    detections = [(0.9, box(0, 0, 10, 3)), (0.8, box(0.2, 0, 10.2, 3)), (0.7, box(20, 0, 30, 3)),
                  (0.6, box(50, 0, 60, 3))]
    assert probe.matched_labels(labels, detections) == {0, 1}
    left = probe.unmatched_detections(labels, detections)
    assert [b.bounds for b in left] == [(0.2, 0.0, 10.2, 3.0), (50.0, 0.0, 60.0, 3.0)]
    assert probe.unmatched_detections([], detections[:1])[0].bounds == (0.0, 0.0, 10.0, 3.0)


def test_planned_items_land_on_their_labels(probe) -> None:
    """item_polygon puts a planned tarp where generate_scene's label for it lies (the CRS and the y flip)."""
    from yardwatch.synth.plan import Counts
    from yardwatch.synth.scene import generate_scene

    group = type("Group", (), {"scene_size_px": 256, "gsd_m": 0.5, "tarps": 4, "scene_seed": lambda self, i: 7})()
    items, origin = probe.planned_items(group, 0)
    scene = generate_scene(scene_size_px=256, gsd_m=0.5, seed=7, counts=Counts(tarps=4))
    labels = [Polygon(o.corners_crs) for o in scene.objects if o.class_name == "tarp" and not o.truncated]
    planned = [probe.item_polygon(i, origin) for i in items if i.label == "tarp"]
    assert labels
    for label in labels:
        best = max(planned, key=lambda p: p.intersection(label).area / p.union(label).area)
        assert best.intersection(label).area / best.union(label).area > 0.95
    assert np.isfinite(origin).all()
    footprint = probe.scene_footprint(group, origin)
    assert footprint.area == pytest.approx((256 * 0.5) ** 2)
    assert all(footprint.buffer(1e-6).contains(label) for label in labels)


def test_false_tarp_table_gives_a_rate_per_planned_thing(probe, capsys) -> None:
    import collections

    counts = collections.Counter({"tank": 9, "bare ground": 5})
    probe._print_counts("false tarps", counts, of=collections.Counter({"tank": 180, "box": 40}))
    rows = capsys.readouterr().out.splitlines()
    assert "| tank | 9 | 180 | 5.0 |" in rows
    assert "| bare ground | 5 |  |  |" in rows
    assert rows[-1] == "| all | 14 | | |"


def test_base_rate_line_sets_held_out_beside_validation(probe) -> None:
    line = probe.base_rate_line({"railcar": 791, "tarp": 101, "container": 529}, {"railcar": 530, "tarp": 272})
    assert "held-out scenes 7.8 (791 / 101)" in line
    assert "validation tiles 1.9 (530 / 272)" in line
    assert "n/a" in probe.base_rate_line({"railcar": 3}, {"railcar": 3, "tarp": 1})


def test_scene_footprint_is_the_scene_square_below_its_origin(probe) -> None:
    group = type("Group", (), {"scene_size_px": 200, "gsd_m": 0.5})()
    assert probe.scene_footprint(group, (1000.0, 5000.0)).bounds == (1000.0, 4900.0, 1100.0, 5000.0)
