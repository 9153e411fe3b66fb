"""Seam merge and decode: exact cores, one box per object, nothing dropped on dense tiles."""

from __future__ import annotations

import numpy as np
import torch

from yardwatch.infer.decode import decode_batch
from yardwatch.infer.merge import MergeSettings, merge_seams, tile_cores


def test_tile_cores_cut_overlaps_in_the_middle() -> None:
    # 2 x 2 grid of 100 px tiles, overlap 20 px: starts 0 and 80; the seam is at 90 on both axes.
    windows = np.array([[0, 0, 100, 100], [80, 0, 100, 100], [0, 80, 100, 100], [80, 80, 100, 100]])
    cores = tile_cores(windows)
    assert cores[0].tolist() == [-np.inf, -np.inf, 90.0, 90.0]
    assert cores[3].tolist() == [90.0, 90.0, np.inf, np.inf]
    # An edge tile shifted inward (starts 150, ends 250 after one at 80..180): seam at (150 + 180) / 2 = 165.
    shifted = np.array([[0, 0, 100, 100], [80, 0, 100, 100], [150, 0, 100, 100]])
    assert tile_cores(shifted)[2, 0] == 165.0


def test_duplicate_in_overlap_kept_once_and_neighbours_kept() -> None:
    windows = np.array([[0, 0, 100, 100], [80, 0, 100, 100]])
    # The same 10 px car seen whole by both tiles (centre x=88, left of the seam at 90), and two distinct cars
    # 12 px apart near the seam which must both survive.
    obb = np.array([[88, 20, 10, 4, 0], [88.3, 20.1, 10, 4, 0],
                    [85, 50, 10, 4, 0], [97, 50, 10, 4, 0], [97.2, 50, 10, 4, 0]], dtype=float)
    scores = np.array([0.9, 0.8, 0.9, 0.9, 0.7])
    classes = np.zeros(5, dtype=int)
    tiles = np.array([0, 1, 0, 1, 0])
    keep = merge_seams(obb, scores, classes, tiles, windows)
    assert keep.tolist() == [0, 2, 3]


def test_truncated_partial_box_suppressed_by_ios() -> None:
    windows = np.array([[0, 0, 100, 100], [80, 0, 100, 100]])
    # A 30 px car from x=76 to 106, centre 91 (tile 1's core). Tile 0 sees it cut at its edge (76..100, centre 88
    # in its own core); tile 1 sees it whole. IoU = 24/30 = 0.8 but the rule that matters is IOS = 1.
    obb = np.array([[88, 40, 24, 6, 0], [91, 40, 30, 6, 0]], dtype=float)
    keep = merge_seams(obb, np.array([0.6, 0.9]), np.array([0, 0]), np.array([0, 1]), windows,
                       MergeSettings(iou=0.95, ios=0.7))
    assert keep.tolist() == [1]


def test_merge_is_class_aware() -> None:
    windows = np.array([[0, 0, 100, 100], [80, 0, 100, 100]])
    # A tarp on a flatcar: the same footprint twice with different classes is two objects.
    obb = np.array([[88, 40, 30, 6, 0], [91, 40, 30, 6, 0]], dtype=float)
    keep = merge_seams(obb, np.array([0.9, 0.9]), np.array([0, 1]), np.array([0, 1]), windows)
    assert keep.tolist() == [0, 1]


def test_rotated_merge_uses_polygon_overlap() -> None:
    windows = np.array([[0, 0, 100, 100], [80, 0, 100, 100]])
    # Two parallel diagonal cars 6 px apart: their axis-aligned hulls overlap heavily, their polygons do not.
    a = [86, 50, 40, 4, np.pi / 4]
    b = [86 + 6 / np.sqrt(2), 50 - 6 / np.sqrt(2), 40, 4, np.pi / 4]
    keep = merge_seams(np.array([a, b]), np.array([0.9, 0.8]), np.array([0, 0]), np.array([0, 1]), windows)
    assert keep.tolist() == [0, 1]


def test_merge_scales_to_100k() -> None:
    rng = np.random.default_rng(0)
    grid = np.array([[c, r, 640, 640] for r in range(0, 8192 - 576, 576) for c in range(0, 8192 - 576, 576)])
    n = 100_000
    tiles = rng.integers(0, len(grid), n)
    obb = np.column_stack([grid[tiles, 0] + rng.uniform(0, 640, n), grid[tiles, 1] + rng.uniform(0, 640, n),
                           rng.uniform(10, 30, n), rng.uniform(3, 6, n), rng.uniform(0, np.pi, n)])
    keep = merge_seams(obb, rng.uniform(0.3, 1, n), rng.integers(0, 3, n), tiles, grid)
    assert 0 < len(keep) < n
    assert np.all(np.diff(keep) > 0)


def _raw(boxes_per_tile: list[np.ndarray], nc: int = 3, obb: bool = False) -> torch.Tensor:
    n = max(len(b) for b in boxes_per_tile)
    raw = torch.zeros(len(boxes_per_tile), 4 + nc + int(obb), n)
    for t, boxes in enumerate(boxes_per_tile):
        raw[t, :4, : len(boxes)] = torch.as_tensor(boxes[:, :4].T, dtype=torch.float32)
        raw[t, 4 + torch.as_tensor(boxes[:, 4], dtype=torch.long), torch.arange(len(boxes))] = 0.9
        if obb:
            raw[t, -1, : len(boxes)] = torch.as_tensor(boxes[:, 5], dtype=torch.float32)
    return raw


def test_decode_keeps_every_box_of_a_dense_batch() -> None:
    # 8 tiles x 4096 separated boxes: ultralytics' NMS would give up on its time limit on slow machines; here
    # every box survives and stays with its tile.
    side = 64
    xs, ys = np.meshgrid(np.arange(side) * 10 + 5, np.arange(side) * 10 + 5)
    boxes = np.column_stack([xs.ravel(), ys.ravel(), np.full(side * side, 6), np.full(side * side, 3),
                             np.zeros(side * side), np.zeros(side * side)])
    raw = _raw([boxes] * 8)
    dets = decode_batch(raw, task="detect", num_classes=3, conf=0.25, iou=0.5)
    assert len(dets.scores) == 8 * side * side
    assert torch.bincount(dets.tile_index).tolist() == [side * side] * 8


def test_decode_suppresses_duplicates_per_tile_and_class() -> None:
    boxes = np.array([[50, 50, 20, 6, 0, 0.3], [51, 50, 20, 6, 0, 0.3], [51, 50, 20, 6, 1, 0.3]])
    for task in ("detect", "obb"):
        dets = decode_batch(_raw([boxes, boxes], obb=task == "obb"), task=task, num_classes=3, conf=0.25,
                            iou=0.5)
        assert len(dets.scores) == 4, task  # per tile: one class-0 box and the class-1 box
        assert sorted(dets.class_ids.tolist()) == [0, 0, 1, 1]
        if task == "obb":
            assert torch.allclose(dets.obb_xywhr_px[:, 4], torch.full((4,), 0.3))


def test_decode_wraps_unbounded_angles_into_one_half_turn() -> None:
    # The periodic head (yardwatch.models.loader.periodic_obb_yaml) emits angles anywhere; a box a half turn on is
    # the same box, and decode hands out the YOLOv8 head's range [-pi/4, 3pi/4) with the same corners.
    from yardwatch.geo.obb import obb_px_to_corners

    raw_angles = np.array([-0.72, -0.72 + np.pi, -0.72 - 3 * np.pi, 2.0, 2.0 - 4 * np.pi, 7.0])
    boxes = np.column_stack([np.arange(6) * 100 + 50, np.full(6, 50), np.full(6, 40), np.full(6, 8),
                             np.zeros(6), raw_angles])
    dets = decode_batch(_raw([boxes], obb=True), task="obb", num_classes=3, conf=0.25, iou=0.5)
    order = torch.argsort(dets.obb_xywhr_px[:, 0])
    got = dets.obb_xywhr_px[order].numpy().astype(np.float64)
    assert ((got[:, 4] >= -np.pi / 4) & (got[:, 4] < 3 * np.pi / 4)).all()
    np.testing.assert_allclose(got[:, 4], [-0.72, -0.72, -0.72, 2.0, 2.0, 7.0 - 2 * np.pi], atol=1e-5)

    def corner_set(obb: np.ndarray) -> np.ndarray:
        return np.sort(np.round(obb_px_to_corners(obb), 3).reshape(len(obb), -1), axis=1)

    np.testing.assert_allclose(corner_set(got), corner_set(boxes[:, [0, 1, 2, 3, 5]]), atol=2e-3)


def test_decode_filters_classes_and_conf() -> None:
    boxes = np.array([[50, 50, 20, 6, 0, 0], [150, 50, 20, 6, 2, 0]])
    dets = decode_batch(_raw([boxes]), task="detect", num_classes=3, conf=0.25, iou=0.5, classes=[2])
    assert dets.class_ids.tolist() == [2]
    assert len(decode_batch(_raw([boxes]), task="detect", num_classes=3, conf=0.95, iou=0.5).scores) == 0


def _nested_load(obb: bool) -> torch.Tensor:
    """One anchor on a tarp-covered flatcar: railcar 0.9 and tarp 0.6 at the same box; one plain container."""
    raw = torch.zeros(1, 4 + 3 + int(obb), 2)
    raw[0, :4, 0] = torch.tensor([50.0, 50.0, 40.0, 8.0])
    raw[0, 4, 0], raw[0, 5, 0] = 0.9, 0.6
    raw[0, :4, 1] = torch.tensor([150.0, 50.0, 20.0, 8.0])
    raw[0, 6, 1] = 0.8
    if obb:
        raw[0, -1, :] = 0.4
    return raw


def test_decode_multi_label_emits_both_classes_of_a_nested_object() -> None:
    for task in ("detect", "obb"):
        raw = _nested_load(task == "obb")
        dets = decode_batch(raw, task=task, num_classes=3, conf=0.25, iou=0.5)
        assert sorted(zip(dets.class_ids.tolist(), dets.scores.tolist())) == \
            [(0, np.float32(0.9)), (1, np.float32(0.6)), (2, np.float32(0.8))], task
        tarp = dets.obb_xywhr_px[dets.class_ids == 1][0]
        assert tarp[:4].tolist() == [50.0, 50.0, 40.0, 8.0]
        # Best class only (ultralytics' predict): the tarp is lost under its railcar.
        best = decode_batch(raw, task=task, num_classes=3, conf=0.25, iou=0.5, multi_label=False)
        assert sorted(best.class_ids.tolist()) == [0, 2], task
        # Class filter and conf apply per (anchor, class) candidate.
        only_tarps = decode_batch(raw, task=task, num_classes=3, conf=0.25, iou=0.5, classes=[1])
        assert only_tarps.class_ids.tolist() == [1]
        assert sorted(decode_batch(raw, task=task, num_classes=3, conf=0.7, iou=0.5).class_ids.tolist()) == [0, 2]
        assert decode_batch(raw, task=task, num_classes=3, conf=0.25, iou=0.5, classes=[1],
                            multi_label=False).class_ids.tolist() == []


def test_decode_multi_label_matches_ultralytics_nms() -> None:
    # Random dense head output: the same boxes, scores and classes as ultralytics' non_max_suppression with
    # multi_label=True (what its validator runs), tile by tile.
    from ultralytics.utils.nms import non_max_suppression

    gen = torch.Generator().manual_seed(0)
    b, n, nc = 3, 400, 3
    raw = torch.zeros(b, 4 + nc, n)
    raw[:, :2] = torch.rand(b, 2, n, generator=gen) * 300
    raw[:, 2:4] = 8 + torch.rand(b, 2, n, generator=gen) * 30
    raw[:, 4:] = torch.rand(b, nc, n, generator=gen) ** 3
    ours = decode_batch(raw, task="detect", num_classes=nc, conf=0.25, iou=0.5)
    theirs = non_max_suppression(raw.clone(), conf_thres=0.25, iou_thres=0.5, multi_label=True, max_det=10000,
                                 max_time_img=1000.0)
    for t in range(b):
        mine = ours.tile_index == t
        got = sorted(zip(ours.class_ids[mine].tolist(), np.round(ours.scores[mine].numpy(), 5).tolist()))
        ref = sorted(zip(theirs[t][:, 5].long().tolist(), np.round(theirs[t][:, 4].numpy(), 5).tolist()))
        assert got == ref, t


def _random_obb_head(seed: int, b: int, n: int, nc: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    raw = torch.zeros(b, 4 + nc + 1, n)
    raw[:, :2] = torch.rand(b, 2, n, generator=gen) * 300
    raw[:, 2:4] = 8 + torch.rand(b, 2, n, generator=gen) * 30
    raw[:, 4:4 + nc] = torch.rand(b, nc, n, generator=gen) ** 3
    raw[:, -1] = (torch.rand(b, n, generator=gen) - 0.5) * np.pi
    return raw


def test_decode_obb_multi_label_matches_ultralytics_rotated_nms() -> None:
    # Random dense oriented output: the same boxes as ultralytics' non_max_suppression(rotated=True,
    # multi_label=True), tile by tile, although yardwatch runs NMS in blocks of (tile, class) groups.
    from ultralytics.utils.nms import non_max_suppression

    b, nc = 4, 3
    raw = _random_obb_head(1, b, 500, nc)
    ours = decode_batch(raw, task="obb", num_classes=nc, conf=0.25, iou=0.5)
    # max_time_img: without it ultralytics stops after 2 s + 0.05 s per image and drops the rest on a busy machine.
    theirs = non_max_suppression(raw.clone(), conf_thres=0.25, iou_thres=0.5, multi_label=True, max_det=10000,
                                 nc=nc, rotated=True, max_time_img=1000.0)
    assert len(ours.scores) > 100 * b  # dense enough for many suppressions
    for t in range(b):
        mine = ours.tile_index == t
        got = sorted(zip(ours.class_ids[mine].tolist(), np.round(ours.scores[mine].numpy(), 5).tolist()))
        ref = sorted(zip(theirs[t][:, 5].long().tolist(), np.round(theirs[t][:, 4].numpy(), 5).tolist()))
        assert got == ref, t


def test_grouped_rotated_nms_equals_ultralytics_nms_per_group() -> None:
    # Groups of very different sizes, run with blocks small enough that large groups go alone and small ones share
    # a padded block: the kept set equals ultralytics' rotated Fast-NMS run on each group by itself.
    from ultralytics.utils.metrics import batch_probiou
    from ultralytics.utils.nms import TorchNMS

    from yardwatch.models.ops import grouped_rotated_nms, probiou_blocks

    gen = torch.Generator().manual_seed(3)
    sizes = [1, 2, 3, 7, 40, 90, 5, 5, 12]
    groups = torch.cat([torch.full((s,), g) for g, s in enumerate(sizes)])[torch.randperm(sum(sizes), generator=gen)]
    n = len(groups)
    obb = torch.column_stack([torch.rand(n, 2, generator=gen) * 60, 6 + torch.rand(n, 2, generator=gen) * 25,
                              torch.rand(n, generator=gen) * np.pi])
    scores = torch.rand(n, generator=gen)
    block = obb[:40][None]
    assert torch.allclose(probiou_blocks(block)[0], batch_probiou(block[0], block[0]), atol=1e-6)
    expected = set()
    for g in range(len(sizes)):
        idx = torch.nonzero(groups == g).squeeze(1)
        expected |= set(idx[TorchNMS.fast_nms(obb[idx], scores[idx], 0.3, iou_func=batch_probiou)].tolist())
    assert 0 < len(expected) < n
    for block_elements in (50, 400, 65536):
        kept = grouped_rotated_nms(obb, scores, groups, 0.3, block_elements=block_elements).tolist()
        assert len(kept) == len(set(kept)) and set(kept) == expected, block_elements
    assert grouped_rotated_nms(obb[:0], scores[:0], groups[:0], 0.3).numel() == 0
