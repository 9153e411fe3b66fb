"""``generate_scene(tarp_colours="even")``: the training-set option that draws every tarp colour equally often
(``scripts/train_demo.py --even-tarps`` uses it for its training scenes) changes the tarps' paint and nothing else."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from yardwatch.errors import ConfigError
from yardwatch.synth import palette
from yardwatch.synth.plan import Counts
from yardwatch.synth.scene import generate_scene


def test_even_mix_has_the_natural_colours_at_equal_weights() -> None:
    natural = [rgb for _, rgb in palette.TARP_COLOURS]
    assert [rgb for _, rgb in palette.TARP_COLOURS_EVEN] == natural
    assert {w for w, _ in palette.TARP_COLOURS_EVEN} == {1.0}
    # the natural mix is mostly blue and green: the shortcut the even mix takes away
    weights = np.array([w for w, _ in palette.TARP_COLOURS], dtype=float)
    assert weights[:2].sum() / weights.sum() > 0.5


def test_the_mix_holds_inside_its_block_only() -> None:
    assert palette.tarp_colours() is palette.TARP_COLOURS
    with palette.using_tarp_colours("even"):
        assert palette.tarp_colours() is palette.TARP_COLOURS_EVEN
    assert palette.tarp_colours() is palette.TARP_COLOURS


def test_even_tarps_change_tarp_pixels_only_and_no_label() -> None:
    args = dict(scene_size_px=512, gsd_m=0.5, seed=5, counts=Counts(tarps=12), return_masks=True)
    natural, even = generate_scene(**args), generate_scene(**args, tarp_colours="even")
    assert [o.class_name for o in natural.objects] == [o.class_name for o in even.objects]
    assert sum(o.class_name == "tarp" for o in natural.objects) == 12
    for a, b in zip(natural.objects, even.objects):
        np.testing.assert_array_equal(a.corners_crs, b.corners_crs)
    tarp_cover = np.zeros(natural.image.shape[1:], dtype=bool)
    for obj, mask in zip(natural.objects, natural.masks):
        if obj.class_name == "tarp":
            rows, cols = mask.alpha.shape
            window = tarp_cover[mask.row_off:mask.row_off + rows, mask.col_off:mask.col_off + cols]
            window |= mask.alpha[:window.shape[0], :window.shape[1]] > 0
    changed = (natural.image != even.image).any(axis=0)
    assert changed.any()
    # paint changes where a tarp lies, and in its blurred edge and cast shadow a few pixels around it
    distance_px = ndimage.distance_transform_edt(~tarp_cover)
    assert distance_px[changed].max() <= 6

def test_an_unknown_mix_is_refused() -> None:
    with pytest.raises(ConfigError, match="tarp_colours='rainbow' is not one of natural, even"):
        generate_scene(scene_size_px=256, tarp_colours="rainbow")


def test_synth_command_writes_even_tarps(tmp_path) -> None:
    import rasterio

    from yardwatch.cli.main import main

    args = ["scene_size_px=512", "n_scenes=1", "seed=3", "clouds=false", "overviews=false"]
    assert main(["synth", f"out_dir={tmp_path / 'even'}", "tarp_colours=even", *args]) == 0
    assert main(["synth", f"out_dir={tmp_path / 'natural'}", *args]) == 0
    images, labels = [], []
    for name in ("even", "natural"):
        with rasterio.open(next((tmp_path / name / "scenes").glob("*.tif"))) as src:
            images.append(src.read())
        labels.append(next((tmp_path / name / "labels").glob("*.geojson")).read_text())
    assert labels[0] == labels[1] and '"tarp"' in labels[0]  # the same objects, only the tarps repainted
    changed = (images[0] != images[1]).any(axis=0).mean()
    assert 0 < changed < 0.05, changed
