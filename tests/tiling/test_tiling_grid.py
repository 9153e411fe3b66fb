"""The tile grid: exact windows, full coverage, edge tiles shifted inward, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from yardwatch.errors import ConfigError
from yardwatch.tiling import make_tile_grid, split_axis, tile_starts


def _boxes(windows):
    return [(int(w.col_off), int(w.row_off), int(w.width), int(w.height)) for w in windows]


def test_exact_windows_without_overlap():
    assert tile_starts(900, 90, 0) == list(range(0, 900, 90))
    windows = make_tile_grid(900, 900, 90, 0)
    assert len(windows) == 100
    assert _boxes(windows)[:3] == [(0, 0, 90, 90), (90, 0, 90, 90), (180, 0, 90, 90)]
    assert _boxes(windows)[-1] == (810, 810, 90, 90)


def test_edge_tiles_shift_inward():
    assert tile_starts(1000, 640, 64) == [0, 360]
    assert tile_starts(100, 64, 0) == [0, 36]
    assert tile_starts(1200, 640, 64) == [0, 560]
    assert tile_starts(1216, 640, 64) == [0, 576]  # exactly two strides: no shift
    assert _boxes(make_tile_grid(1000, 700, 640, 64)) == [(0, 0, 640, 640), (360, 0, 640, 640),
                                                          (0, 60, 640, 640), (360, 60, 640, 640)]


def test_row_major_order():
    windows = make_tile_grid(300, 200, 100, 10)
    keys = [(w.row_off, w.col_off) for w in windows]
    assert keys == sorted(keys)


@pytest.mark.parametrize("width,height,tile,overlap", [(900, 900, 90, 0), (1000, 700, 640, 64), (257, 513, 64, 16),
                                                       (64, 64, 64, 0), (641, 640, 640, 639)])
def test_every_pixel_in_some_full_size_tile_inside_the_scene(width, height, tile, overlap):
    covered = np.zeros((height, width), dtype=bool)
    windows = make_tile_grid(width, height, tile, overlap)
    for w in windows:
        assert (w.width, w.height) == (tile, tile)
        assert 0 <= w.col_off and w.col_off + tile <= width and 0 <= w.row_off and w.row_off + tile <= height
        covered[int(w.row_off):int(w.row_off) + tile, int(w.col_off):int(w.col_off) + tile] = True
    assert covered.all()
    starts = sorted({int(w.col_off) for w in windows})
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:], strict=False))


def test_scene_smaller_than_a_tile_gets_one_padded_window():
    assert _boxes(make_tile_grid(100, 50, 640, 64)) == [(0, 0, 640, 640)]
    assert _boxes(make_tile_grid(1000, 50, 640, 64)) == [(0, 0, 640, 640), (360, 0, 640, 640)]


def test_offset_grid_for_a_block():
    assert _boxes(make_tile_grid(200, 100, 100, 0, col_off=300, row_off=50)) == [(300, 50, 100, 100),
                                                                                (400, 50, 100, 100)]


@pytest.mark.parametrize("tile,overlap,message", [(0, 0, "tile_size_px=0"), (-64, 0, "tile_size_px=-64"),
                                                  (64, 64, "overlap_px=64 must be smaller"),
                                                  (64, 100, "overlap_px=100 must be smaller"),
                                                  (64, -1, "overlap_px=-1"), (64.5, 0, "tile_size_px=64.5")])
def test_bad_geometry_is_a_config_error(tile, overlap, message):
    with pytest.raises(ConfigError, match=message):
        make_tile_grid(500, 500, tile, overlap)


def test_numpy_integers_are_accepted():
    assert len(make_tile_grid(np.int64(200), np.int64(100), np.int64(100), np.int32(0))) == 2


def test_split_axis_merges_a_short_tail():
    assert split_axis(1000, 400, 100) == [(0, 400), (400, 800), (800, 1000)]
    assert split_axis(850, 400, 100) == [(0, 400), (400, 850)]
    assert split_axis(300, 400, 100) == [(0, 300)]
