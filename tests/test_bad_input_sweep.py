"""Bad input across every command: each case exits 2 with one line naming the file or key, and writes nothing.

One parametrized test over all commands (issue 8's acceptance). Every case runs the real CLI in this process
(``yardwatch.cli.main.main``) on small files made once per module: a synthetic scene with its labels and catalog,
a tiny untrained network with its model card, a detections folder, an AOI, and broken variants of each (missing,
empty, corrupt, wrong format, no CRS, wrong classes). Reference rasters from ``../shared/data/rasterio`` give a
scene without a CRS and one with a rotated transform. No case trains or runs a network over a scene: every input
is refused before that, which is the point.

What "clean" means (see :func:`_assert_clean_failure`): exit status 2, exactly one ``yardwatch:`` line on stderr
that contains the case's needle (the file or key to fix), no traceback, the output folder absent or empty, and
no file added to or removed from the inputs (so nothing was written beside them either).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from yardwatch.cli.main import main

# --------------------------------------------------------------------------------------------------------------
# Inputs, made once per module
# --------------------------------------------------------------------------------------------------------------
SCENE_ID = "yard-000_20230705"  # what write_scenes(seed=3) names its one scene


def _tiny_weights(folder: Path, *, nc: int = 3) -> Path:
    """An untrained yolov8n detect checkpoint with a model card beside it (a real, loadable model)."""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    from yardwatch.models.card import ModelCard, write_card

    torch.manual_seed(0)
    net = DetectionModel("yolov8n.yaml", nc=nc, verbose=False)
    net.names = {i: f"c{i}" for i in range(nc)}
    folder.mkdir(parents=True)
    path = folder / "model.pt"
    torch.save({"model": net, "train_args": {"imgsz": 128}}, path)
    write_card(ModelCard(task="detect", imgsz=128, tile_size_px=128, overlap_px=32, gsd_m=0.5),
               folder / "model.model_card.json")
    return path


def _tiny_dataset(folder: Path) -> Path:
    """A valid two-tile detect dataset (one labelled railcar per tile), as ``yardwatch tile`` lays it out."""
    import cv2
    import yaml

    for split in ("train", "val"):
        (folder / "images" / split).mkdir(parents=True)
        (folder / "labels" / split).mkdir(parents=True)
        cv2.imwrite(str(folder / "images" / split / f"{split}.png"), np.full((64, 64, 3), 90, np.uint8))
        (folder / "labels" / split / f"{split}.txt").write_text("0 0.5 0.5 0.45 0.1\n")
    document = {"path": ".", "train": "images/train", "val": "images/val",
                "names": {0: "railcar", 1: "tarp", 2: "container"}, "yardwatch": {"task": "detect",
                                                                             "tile_size_px": 64}}
    return _write(folder / "dataset.yaml", yaml.safe_dump(document, sort_keys=False))


def _write_frame(frame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    driver = {".geojson": "GeoJSON", ".shp": "ESRI Shapefile", ".gpkg": "GPKG"}[path.suffix]
    frame.to_file(path, driver=driver, engine="pyogrio")
    return path


def _write(path: Path, content: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Every file the cases point at, good and bad, by placeholder name (``{scene}``, ``{labels_unknown}``, ...)."""
    import geopandas as gpd
    import rasterio
    import shapely
    import yaml

    from yardwatch.synth import write_scenes

    root = tmp_path_factory.mktemp("sweep")
    catalog = write_scenes(root / "synth", n_scenes=1, scene_size_px=256, gsd_m=0.5, seed=3, clouds=False,
                           nodata_edges=False, overviews=False)
    scene = root / "synth" / "scenes" / f"{SCENE_ID}.tif"
    labels_dir = root / "synth" / "labels"
    labels = gpd.read_file(labels_dir / f"{SCENE_ID}.geojson")
    assert scene.is_file() and len(labels) > 0
    p: dict[str, Path] = {"root": root, "catalog": catalog, "scene": scene, "labels": labels_dir,
                          "label_file": labels_dir / f"{SCENE_ID}.geojson"}
    bad = root / "bad"
    # Files that are missing, empty or not what their name says.
    p["missing_tif"] = bad / "missing.tif"
    p["empty_tif"] = _write(bad / "empty.tif", b"")
    p["corrupt_tif"] = _write(bad / "corrupt.tif", b"II*\x00" + b"garbage" * 20)
    p["empty_geojson"] = _write(bad / "empty.geojson", b"")
    p["corrupt_geojson"] = _write(bad / "corrupt.geojson", '{"type": "FeatureCollection", "features": [')
    p["csv_as_labels"] = _write(bad / "labels.csv", "id,name\n1,railcar\n")
    p["empty_pt"] = _write(bad / "empty.pt", b"")
    p["corrupt_pt"] = _write(bad / "corrupt.pt", "not a checkpoint")
    p["empty_csv"] = _write(bad / "empty.csv", b"")
    p["binary_csv"] = _write(bad / "binary.csv", bytes(range(256)) * 4)
    p["empty_yaml"] = _write(bad / "empty" / "dataset.yaml", b"")
    p["corrupt_yaml"] = _write(bad / "corrupt" / "dataset.yaml", "path: [unclosed\nnames: {0: railcar\n")
    p["afile"] = _write(bad / "a_regular_file", "not a folder")
    # Label folders holding one broken <scene_id> file each.
    unknown = labels.assign(**{"class": "bus"})
    p["labels_unknown"] = _write_frame(unknown, root / "labels_unknown" / f"{SCENE_ID}.geojson").parent
    p["labels_noclass"] = _write_frame(labels.drop(columns=["class", "class_id"]),
                                       root / "labels_noclass" / f"{SCENE_ID}.geojson").parent
    p["labels_points"] = _write_frame(labels.assign(geometry=labels.geometry.centroid),
                                      root / "labels_points" / f"{SCENE_ID}.geojson").parent
    nocrs = _write_frame(labels[["class", "geometry"]].set_crs(None, allow_override=True),
                         root / "labels_nocrs" / f"{SCENE_ID}.shp")
    assert not nocrs.with_suffix(".prj").exists()
    p["labels_nocrs"] = nocrs.parent
    # Labels in another CRS (lon/lat) that lie in Switzerland, far from the scene in UTM 52N.
    far = gpd.GeoDataFrame({"class": ["railcar"]}, geometry=[shapely.box(7.6, 47.5, 7.6002, 47.50003)],
                           crs="EPSG:4326")
    p["labels_far"] = _write_frame(far, root / "labels_far" / f"{SCENE_ID}.geojson").parent
    # Catalogs.
    p["catalog_nopath"] = _write(root / "catalogs" / "nopath.csv", f"scene_id,acquired\n{SCENE_ID},2023-07-05\n")
    p["catalog_nodate"] = _write(root / "catalogs" / "nodate.csv", f"scene_id,path\n{SCENE_ID},{scene}\n")
    p["catalog_baddate"] = _write(root / "catalogs" / "baddate.csv",
                                  f"scene_id,path,acquired\n{SCENE_ID},{scene},last tuesday\n")
    p["catalog_header_only"] = _write(root / "catalogs" / "header.csv", "scene_id,path,acquired\n")
    p["catalog_missing_scene"] = _write(root / "catalogs" / "gone.csv",
                                        f"scene_id,path,acquired\n{SCENE_ID},{bad / 'gone.tif'},2023-07-05\n")
    # AOIs.
    with rasterio.open(scene) as src:
        bounds, crs = src.bounds, src.crs.to_string()
    site = gpd.GeoDataFrame({"site": ["yard"]}, geometry=[shapely.box(*bounds)], crs=crs)
    p["aoi"] = _write_frame(site, root / "aoi" / "aoi.geojson")
    p["aoi_nosite"] = _write_frame(site.rename(columns={"site": "name"}), root / "aoi" / "nosite.geojson")
    # Weights: a real tiny network with its card, one with 5 classes against a 3-class card.
    p["weights"] = _tiny_weights(root / "w")
    p["weights_5"] = _tiny_weights(root / "w5", nc=5)
    # Datasets: classes that are not yardwatch's; a split folder that is missing.
    for name, document in (("dataset_classes", {"path": ".", "train": "images/train", "val": "images/val",
                                                "names": {0: "car", 1: "truck"}}),
                           ("dataset_nosplit", {"path": ".", "train": "images/train", "val": "images/val",
                                                "names": {0: "railcar", 1: "tarp", 2: "container"}})):
        p[name] = _write(root / name / "dataset.yaml", yaml.safe_dump(document))
    (root / "dataset_classes" / "images" / "train").mkdir(parents=True)
    p["dataset_good"] = _tiny_dataset(root / "dataset_good")
    # Detections: good ones (the labels with a score), and broken folders.
    good = labels[["class", "geometry"]].rename(columns={"class": "class_name"}).assign(score=0.9)
    p["pred"] = _write_frame(good, root / "pred" / f"{SCENE_ID}.geojson").parent
    p["pred_corrupt"] = _write(root / "pred_corrupt" / f"{SCENE_ID}.geojson", "{ nope").parent
    p["pred_noscore"] = _write_frame(good.drop(columns=["score"]),
                                     root / "pred_noscore" / f"{SCENE_ID}.geojson").parent
    p["pred_unknown"] = _write_frame(good.assign(class_name="bus"),
                                     root / "pred_unknown" / f"{SCENE_ID}.geojson").parent
    (root / "pred_none").mkdir()
    p["pred_none"] = root / "pred_none"
    return p


@pytest.fixture
def unwritable(tmp_path, inputs) -> Path:
    """An output folder this process cannot create: under a read-only folder, or under a file when run as root
    (permission bits do not stop root, a file in the path does)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):  # root: the bits are not enforced
        locked.chmod(0o700)
        return inputs["afile"] / "sub"
    return locked / "sub"


# --------------------------------------------------------------------------------------------------------------
# The cases: (id, command, arguments, needle that the one error line must contain)
# --------------------------------------------------------------------------------------------------------------
S = "{scene}"
CASES: list[tuple[str, str, tuple[str, ...], str]] = [
    # ---- synth
    ("synth-n_scenes-zero", "synth", ("n_scenes=0",), "n_scenes"),
    ("synth-n_scenes-negative", "synth", ("n_scenes=-2",), "n_scenes"),
    ("synth-scene_size-negative", "synth", ("scene_size_px=-1",), "scene_size_px"),
    ("synth-gsd-too-coarse", "synth", ("gsd_m=5",), "gsd_m"),
    ("synth-gsd-nan", "synth", ("gsd_m=nan",), "gsd_m"),
    ("synth-seed-negative", "synth", ("seed=-1",), "seed"),
    ("synth-dates-zero", "synth", ("series=true", "dates=0"), "dates"),
    ("synth-interval-zero", "synth", ("series=true", "interval_days=0"), "interval_days"),
    ("synth-spike-negative", "synth", ("series=true", "spike_railcars=-5"), "spike_railcars"),
    ("synth-spike-index-past-end", "synth", ("series=true", "dates=3", "spike_date_index=5"), "spike_date_index"),
    ("synth-baseline-negative", "synth", ("series=true", "baseline_max_tarps=-1"), "baseline_max_tarps"),
    ("synth-bands", "synth", ("bands=5",), "bands"),
    ("synth-dtype", "synth", ("dtype=float64",), "dtype"),
    ("synth-crs-unknown", "synth", ("crs=EPSG:999999",), "crs"),
    ("synth-start-date", "synth", ("start_date=yesterday",), "start_date"),
    ("synth-layout-missing", "synth", ("layout={missing_tif}",), "missing.tif"),
    ("synth-layout-empty", "synth", ("layout={empty_geojson}",), "empty.geojson"),
    ("synth-layout-corrupt", "synth", ("layout={corrupt_geojson}", "n_scenes=1", "scene_size_px=64"),
     "corrupt.geojson"),
    ("synth-unknown-key", "synth", ("foo=1",), "foo"),
    ("synth-out-unwritable", "synth", ("n_scenes=1", "scene_size_px=64", "out_dir={unwritable}"), "out_dir"),
    # ---- tile
    ("tile-scene-missing", "tile", ("scenes={missing_tif}", "labels={labels}"), "missing.tif"),
    ("tile-scene-empty", "tile", ("scenes={empty_tif}", "labels={labels}"), "empty.tif"),
    ("tile-scene-corrupt", "tile", ("scenes={corrupt_tif}", "labels={labels}"), "corrupt.tif"),
    ("tile-scene-wrong-format", "tile", ("scenes={label_file}", "labels={labels}"), f"{SCENE_ID}.geojson"),
    ("tile-scene-no-crs", "tile", ("scenes={shared}/rasterio/float_nan.tif",), "float_nan.tif"),
    ("tile-scene-rotated", "tile", ("scenes={shared}/rasterio/rotated.tif", "assume_crs=EPSG:32652"),
     "rotated.tif"),
    ("tile-labels-missing", "tile", (f"scenes={S}", "labels={root}/nowhere"), "nowhere"),
    ("tile-labels-empty", "tile", (f"scenes={S}", "labels={empty_geojson}"), "empty.geojson"),
    ("tile-labels-corrupt", "tile", (f"scenes={S}", "labels={corrupt_geojson}"), "corrupt.geojson"),
    ("tile-labels-wrong-format", "tile", (f"scenes={S}", "labels={csv_as_labels}"), "labels.csv"),
    ("tile-labels-unknown-class", "tile", (f"scenes={S}", "labels={labels_unknown}"), "bus"),
    ("tile-labels-no-class-column", "tile", (f"scenes={S}", "labels={labels_noclass}"), "class"),
    ("tile-labels-points", "tile", (f"scenes={S}", "labels={labels_points}"), "Point"),
    ("tile-labels-no-crs", "tile", (f"scenes={S}", "labels={labels_nocrs}"), f"{SCENE_ID}.shp"),
    ("tile-labels-other-crs-elsewhere", "tile", (f"scenes={S}", "labels={labels_far}"), f"{SCENE_ID}.geojson"),
    ("tile-class-map-to-nonclass", "tile", (f"scenes={S}", "labels={labels_unknown}", "class_map={{bus: lorry}}"),
     "class_map"),
    ("tile-catalog-no-path", "tile", ("scenes={catalog_nopath}",), "nopath.csv"),
    ("tile-catalog-header-only", "tile", ("scenes={catalog_header_only}",), "header.csv"),
    ("tile-catalog-missing-scene", "tile", ("scenes={catalog_missing_scene}",), "gone.tif"),
    ("tile-tile_size-negative", "tile", (f"scenes={S}", "tile_size_px=-1"), "tile_size_px"),
    ("tile-tile_size-zero", "tile", (f"scenes={S}", "tile_size_px=0"), "tile_size_px"),
    ("tile-overlap-negative", "tile", (f"scenes={S}", "overlap_px=-1"), "overlap_px"),
    ("tile-overlap-too-big", "tile", (f"scenes={S}", "tile_size_px=64", "overlap_px=64"), "overlap_px"),
    ("tile-gsd-zero", "tile", (f"scenes={S}", "gsd_m=0"), "gsd_m"),
    ("tile-min_visibility-nan", "tile", (f"scenes={S}", "min_visibility=nan"), "min_visibility"),
    ("tile-max_nodata-above-one", "tile", (f"scenes={S}", "max_nodata_frac=2"), "max_nodata_frac"),
    ("tile-negative_ratio-negative", "tile", (f"scenes={S}", "negative_ratio=-1"), "negative_ratio"),
    ("tile-split-negative", "tile", (f"scenes={S}", "split.train=-0.5"), "split"),
    ("tile-percentiles-reversed", "tile", (f"scenes={S}", "percentiles=[98,2]"), "percentiles"),
    ("tile-workers-zero", "tile", (f"scenes={S}", "workers=0"), "workers"),
    ("tile-png-level", "tile", (f"scenes={S}", "png_compression=10"), "png_compression"),
    ("tile-split_block-zero", "tile", (f"scenes={S}", "split_block_tiles=0"), "split_block_tiles"),
    ("tile-seed-negative", "tile", (f"scenes={S}", "seed=-1"), "seed"),
    ("tile-task", "tile", (f"scenes={S}", "task=segment"), "task"),
    ("tile-bands-zero", "tile", (f"scenes={S}", "bands=[0]"), "bands"),
    ("tile-unknown-key", "tile", (f"scenes={S}", "foo=1"), "foo"),
    ("tile-out-unwritable", "tile", (f"scenes={S}", "labels={labels}", "out_dir={unwritable}"), "out_dir"),
    # ---- train (every case is refused before a network is built)
    ("train-data-missing", "train", ("data={root}/nowhere/dataset.yaml", "task=detect"), "nowhere"),
    ("train-data-empty", "train", ("data={empty_yaml}", "task=detect"), "dataset.yaml"),
    ("train-data-corrupt", "train", ("data={corrupt_yaml}", "task=detect"), "dataset.yaml"),
    ("train-data-classes", "train", ("data={dataset_classes}", "task=detect"), "car"),
    ("train-data-split-missing", "train", ("data={dataset_nosplit}", "task=detect"), "train"),
    ("train-epochs-zero", "train", ("data={dataset_good}", "epochs=0"), "epochs"),
    ("train-epochs-negative", "train", ("data={dataset_good}", "epochs=-3"), "epochs"),
    ("train-batch-zero", "train", ("data={dataset_good}", "batch=0"), "batch"),
    ("train-imgsz-stride", "train", ("data={dataset_good}", "imgsz=100"), "imgsz"),
    ("train-imgsz-nan", "train", ("data={dataset_good}", "imgsz=nan"), "imgsz"),
    ("train-workers-negative", "train", ("data={dataset_good}", "workers=-1"), "workers"),
    ("train-patience-zero", "train", ("data={dataset_good}", "patience=0"), "patience"),
    ("train-seed-negative", "train", ("data={dataset_good}", "seed=-1"), "seed"),
    ("train-model-group-unknown", "train", ("data={dataset_good}", "model=nonexistent"), "model"),
    ("train-augment-group-unknown", "train", ("data={dataset_good}", "augment=nope"), "augment"),
    ("train-trainer-group-unknown", "train", ("data={dataset_good}", "trainer=nope"), "trainer"),
    ("train-augment-knob-range", "train", ("data={dataset_good}", "augment.ultralytics.mosaic=2"),
     "augment.ultralytics.mosaic"),
    ("train-augment-knob-nan", "train", ("data={dataset_good}", "augment.ultralytics.fliplr=nan"),
     "augment.ultralytics.fliplr"),
    ("train-augment-transform-unknown", "train", ("data={dataset_good}",
                                                  "augment.albumentations=[{{_target_: albumentations.Nope}}]"),
     "albumentations.Nope"),
    ("train-trainer-type", "train", ("data={dataset_good}", "trainer.lr0=fast"), "trainer.lr0"),
    ("train-trainer-lr0-nan", "train", ("data={dataset_good}", "task=detect", "trainer.lr0=nan"), "lr0"),
    ("train-trainer-unknown-key", "train", ("data={dataset_good}", "trainer.foo=1"), "foo"),
    ("train-trainer-amp", "train", ("data={dataset_good}", "trainer.amp=fp8"), "trainer.amp"),
    ("train-model-task-mismatch", "train", ("data={dataset_good}", "model=yolov8n-obb", "task=detect"),
     "task"),
    ("train-weights-corrupt", "train", ("data={dataset_good}", "task=detect", "weights={corrupt_pt}"),
     "corrupt.pt"),
    ("train-weights-empty", "train", ("data={dataset_good}", "task=detect", "weights={empty_pt}"), "empty.pt"),
    ("train-device-missing", "train", ("data={dataset_good}", "device=cuda:99"), "cuda"),
    ("train-unknown-key", "train", ("data={dataset_good}", "foo=1"), "foo"),
    ("train-out-unwritable", "train", ("data={dataset_good}", "task=detect", "out_dir={unwritable}"),
     "out_dir"),
    # ---- predict (the tiny network loads; nothing reaches it)
    ("predict-scene-missing", "predict", ("scenes={missing_tif}", "weights={weights}"), "missing.tif"),
    ("predict-scene-empty", "predict", ("scenes={empty_tif}", "weights={weights}"), "empty.tif"),
    ("predict-scene-corrupt", "predict", ("scenes={corrupt_tif}", "weights={weights}"), "corrupt.tif"),
    ("predict-scene-no-crs", "predict", ("scenes={shared}/rasterio/float_nan.tif", "weights={weights}"),
     "float_nan.tif"),
    ("predict-scene-rotated", "predict", ("scenes={shared}/rasterio/rotated.tif", "weights={weights}",
                                          "assume_crs=EPSG:32652"), "rotated.tif"),
    ("predict-catalog-empty", "predict", ("scenes={empty_csv}", "weights={weights}"), "empty.csv"),
    ("predict-catalog-no-path", "predict", ("scenes={catalog_nopath}", "weights={weights}"), "nopath.csv"),
    ("predict-weights-missing", "predict", (f"scenes={S}", "weights={root}/w/nope.pt"), "nope.pt"),
    ("predict-weights-empty", "predict", (f"scenes={S}", "weights={empty_pt}"), "empty.pt"),
    ("predict-weights-corrupt", "predict", (f"scenes={S}", "weights={corrupt_pt}"), "corrupt.pt"),
    ("predict-weights-classes", "predict", (f"scenes={S}", "weights={weights_5}"), "5 classes"),
    ("predict-conf-nan", "predict", (f"scenes={S}", "weights={weights}", "conf=nan"), "conf"),
    ("predict-conf-negative", "predict", (f"scenes={S}", "weights={weights}", "conf=-0.1"), "conf"),
    ("predict-iou-zero", "predict", (f"scenes={S}", "weights={weights}", "iou=0"), "iou"),
    ("predict-merge_iou-above-one", "predict", (f"scenes={S}", "weights={weights}", "merge_iou=1.5"), "merge_iou"),
    ("predict-merge_ios-nan", "predict", (f"scenes={S}", "weights={weights}", "merge_ios=nan"), "merge_ios"),
    ("predict-batch-zero", "predict", (f"scenes={S}", "weights={weights}", "batch_size=0"), "batch_size"),
    ("predict-tile-negative", "predict", (f"scenes={S}", "weights={weights}", "tile_size_px=-1"), "tile_size_px"),
    ("predict-overlap-negative", "predict", (f"scenes={S}", "weights={weights}", "overlap_px=-1"), "overlap_px"),
    ("predict-overlap-too-big", "predict", (f"scenes={S}", "weights={weights}", "tile_size_px=128",
                                            "overlap_px=128"), "overlap_px"),
    ("predict-format", "predict", (f"scenes={S}", "weights={weights}", "format=shp"), "format"),
    ("predict-crs", "predict", (f"scenes={S}", "weights={weights}", "crs=EPSG:nope"), "crs"),
    ("predict-classes", "predict", (f"scenes={S}", "weights={weights}", "classes=[bus]"), "bus"),
    ("predict-bands-zero", "predict", (f"scenes={S}", "weights={weights}", "bands=[0]"), "bands"),
    ("predict-precision", "predict", (f"scenes={S}", "weights={weights}", "precision=fp8"), "precision"),
    ("predict-engine", "predict", (f"scenes={S}", "weights={weights}", "engine=spark"), "engine"),
    ("predict-device-missing", "predict", (f"scenes={S}", "weights={weights}", "device=cuda:99"), "cuda"),
    ("predict-aoi-missing", "predict", (f"scenes={S}", "weights={weights}", "aoi={root}/aoi/nope.geojson"),
     "nope.geojson"),
    ("predict-aoi-corrupt", "predict", (f"scenes={S}", "weights={weights}", "aoi={corrupt_geojson}"),
     "corrupt.geojson"),
    ("predict-unknown-key", "predict", (f"scenes={S}", "weights={weights}", "foo=1"), "foo"),
    ("predict-out-unwritable", "predict", (f"scenes={S}", "weights={weights}", "out_dir={unwritable}"),
     "out_dir"),
    # ---- evaluate
    ("evaluate-predictions-missing", "evaluate", ("predictions={root}/nowhere", "labels={labels}"), "nowhere"),
    ("evaluate-predictions-a-file", "evaluate", ("predictions={label_file}", "labels={labels}"), "predictions"),
    ("evaluate-predictions-none", "evaluate", ("predictions={pred_none}", "labels={labels}"), "pred_none"),
    ("evaluate-predictions-corrupt", "evaluate", ("predictions={pred_corrupt}", "labels={labels}"),
     f"{SCENE_ID}.geojson"),
    ("evaluate-predictions-no-score", "evaluate", ("predictions={pred_noscore}", "labels={labels}"), "score"),
    ("evaluate-predictions-unknown-class", "evaluate", ("predictions={pred_unknown}", "labels={labels}"), "bus"),
    ("evaluate-labels-missing", "evaluate", ("predictions={pred}", "labels={root}/nowhere"), "nowhere"),
    ("evaluate-labels-unknown-class", "evaluate", ("predictions={pred}", "labels={labels_unknown}"), "bus"),
    ("evaluate-labels-no-crs", "evaluate", ("predictions={pred}", "labels={labels_nocrs}"), f"{SCENE_ID}.shp"),
    ("evaluate-conf-nan", "evaluate", ("predictions={pred}", "labels={labels}", "conf=nan"), "conf"),
    ("evaluate-iou-zero", "evaluate", ("predictions={pred}", "labels={labels}", "iou=0"), "iou"),
    ("evaluate-iou-above-one", "evaluate", ("predictions={pred}", "labels={labels}", "iou=1.5"), "iou"),
    ("evaluate-iou_type", "evaluate", ("predictions={pred}", "labels={labels}", "iou_type=mask"), "iou_type"),
    ("evaluate-area-reversed", "evaluate", ("predictions={pred}", "labels={labels}", "area_ranges_m2=[60,20]"),
     "area_ranges_m2"),
    ("evaluate-area-negative", "evaluate", ("predictions={pred}", "labels={labels}", "area_ranges_m2=[-1,20]"),
     "area_ranges_m2"),
    ("evaluate-max_dets-zero", "evaluate", ("predictions={pred}", "labels={labels}", "max_dets=[0,1,2]"),
     "max_dets"),
    ("evaluate-aoi-corrupt", "evaluate", ("predictions={pred}", "labels={labels}", "aoi={corrupt_geojson}"),
     "corrupt.geojson"),
    ("evaluate-unknown-key", "evaluate", ("predictions={pred}", "labels={labels}", "foo=1"), "foo"),
    ("evaluate-out-unwritable", "evaluate", ("predictions={pred}", "labels={labels}", "out_dir={unwritable}"),
     "out_dir"),
    # ---- count
    ("count-detections-missing", "count", ("detections={root}/nowhere", "aoi={aoi}", "catalog={catalog}"),
     "nowhere"),
    ("count-detections-none", "count", ("detections={pred_none}", "aoi={aoi}", "catalog={catalog}"), "pred_none"),
    ("count-detections-corrupt", "count", ("detections={pred_corrupt}", "aoi={aoi}", "catalog={catalog}"),
     f"{SCENE_ID}.geojson"),
    ("count-aoi-missing", "count", ("detections={pred}", "aoi={root}/aoi/nope.geojson", "catalog={catalog}"),
     "nope.geojson"),
    ("count-aoi-empty", "count", ("detections={pred}", "aoi={empty_geojson}", "catalog={catalog}"),
     "empty.geojson"),
    ("count-aoi-corrupt", "count", ("detections={pred}", "aoi={corrupt_geojson}", "catalog={catalog}"),
     "corrupt.geojson"),
    ("count-aoi-no-site", "count", ("detections={pred}", "aoi={aoi_nosite}", "catalog={catalog}"), "site"),
    ("count-catalog-missing", "count", ("detections={pred}", "aoi={aoi}", "catalog={root}/nope.csv"), "nope.csv"),
    ("count-catalog-empty", "count", ("detections={pred}", "aoi={aoi}", "catalog={empty_csv}"), "empty.csv"),
    ("count-catalog-corrupt", "count", ("detections={pred}", "aoi={aoi}", "catalog={binary_csv}"), "binary.csv"),
    ("count-catalog-no-date", "count", ("detections={pred}", "aoi={aoi}", "catalog={catalog_nodate}"),
     "acquired"),
    ("count-catalog-bad-date", "count", ("detections={pred}", "aoi={aoi}", "catalog={catalog_baddate}"),
     "last tuesday"),
    ("count-catalog-scene-gone", "count", ("detections={pred}", "aoi={aoi}", "catalog={catalog_missing_scene}"),
     "gone.tif"),
    ("count-conf-above-one", "count", ("detections={pred}", "aoi={aoi}", "catalog={catalog}", "conf=2"), "conf"),
    ("count-min_coverage-zero", "count", ("detections={pred}", "aoi={aoi}", "catalog={catalog}",
                                          "min_coverage=0"), "min_coverage"),
    ("count-coverage_cells-zero", "count", ("detections={pred}", "aoi={aoi}", "catalog={catalog}",
                                            "coverage_cells=0"), "coverage_cells"),
    ("count-crop-small", "count", ("detections={pred}", "aoi={aoi}", "catalog={catalog}", "crop_px=8"), "crop_px"),
    ("count-rules-unknown", "count", ("detections={pred}", "aoi={aoi}", "catalog={catalog}",
                                      "anomaly.rules=[psychic]"), "anomaly.rules"),
    ("count-combine", "count", ("detections={pred}", "aoi={aoi}", "catalog={catalog}", "anomaly.combine=xor"),
     "anomaly.combine"),
    ("count-z-negative", "count", ("detections={pred}", "aoi={aoi}", "catalog={catalog}",
                                   "anomaly.z_threshold=-1"), "anomaly.z_threshold"),
    ("count-min_history-zero", "count", ("detections={pred}", "aoi={aoi}", "catalog={catalog}",
                                         "anomaly.min_history=0"), "anomaly.min_history"),
    ("count-lookback-zero", "count", ("detections={pred}", "aoi={aoi}", "catalog={catalog}",
                                      "anomaly.lookback_days=0"), "anomaly.lookback_days"),
    ("count-mad_floor-nan", "count", ("detections={pred}", "aoi={aoi}", "catalog={catalog}",
                                      "anomaly.mad_floor=nan"), "anomaly.mad_floor"),
    ("count-unknown-key", "count", ("detections={pred}", "aoi={aoi}", "catalog={catalog}", "anomaly.foo=1"), "foo"),
    ("count-out-unwritable", "count", ("detections={pred}", "aoi={aoi}", "catalog={catalog}",
                                       "out_dir={unwritable}"), "out_dir"),
    # ---- export
    ("export-weights-required", "export", (), "weights"),
    ("export-weights-missing", "export", ("weights={root}/w/nope.pt",), "nope.pt"),
    ("export-weights-empty", "export", ("weights={empty_pt}",), "empty.pt"),
    ("export-weights-corrupt", "export", ("weights={corrupt_pt}",), "corrupt.pt"),
    ("export-format", "export", ("weights={weights}", "format=tflite"), "format"),
    ("export-imgsz-negative", "export", ("weights={weights}", "imgsz=-1"), "imgsz"),
    ("export-unknown-key", "export", ("weights={weights}", "foo=1"), "foo"),
    ("export-out-unwritable", "export", ("weights={weights}", "out={unwritable}/model.onnx"), "model.onnx"),
    # ---- doctor
    ("doctor-unknown-key", "doctor", ("foo=1",), "foo"),
    ("doctor-unknown-group", "doctor", ("model=nonexistent",), "model"),
]

# Cases that fail today because of a bug outside the CLI's shared checks, each named with its owner's module.
# strict: when the bug is fixed the case passes, the xfail turns into a failure, and this entry must go.
KNOWN_BUGS = {
}

# Commands whose output location the sweep passes (and checks) as out_dir=; export writes `out=`.
_OUT_KEY = {"synth": "out_dir", "tile": "out_dir", "train": "out_dir", "predict": "out_dir", "evaluate": "out_dir",
            "count": "out_dir"}


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _assert_clean_failure(code: int, err: str, needle: str, out: Path | None) -> None:
    lines = [line for line in err.splitlines() if line.startswith("yardwatch:")]
    assert code == 2, f"exit {code}, stderr:\n{err}"
    assert len(lines) == 1, f"want one 'yardwatch:' line, got:\n{err}"
    assert "Traceback" not in err, err
    assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    if out is not None:
        assert not out.exists() or not any(out.iterdir()), sorted(out.iterdir())


def test_sweep_has_enough_cases() -> None:
    commands = {command for _, command, _, _ in CASES}
    assert len(CASES) >= 40 and len({case_id for case_id, *_ in CASES}) == len(CASES)
    assert commands == {"synth", "tile", "train", "predict", "evaluate", "count", "export", "doctor"}


@pytest.mark.parametrize(("command", "args", "needle"), [
    pytest.param(*case, id=case_id, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[case_id])]
                 if case_id in KNOWN_BUGS else [])
    for case_id, *case in CASES])
def test_bad_input_exits_2_cleanly(command: str, args: tuple[str, ...], needle: str, inputs, request, tmp_path,
                                   capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # anything a command writes by default (synth_out/, yardwatch_out/) lands here
    values = {key: str(path) for key, path in inputs.items()}
    values["out"] = str(tmp_path / "out")
    if any("{shared}" in a for a in args):
        values["shared"] = str(request.getfixturevalue("shared_data"))
    if any("{unwritable}" in a for a in args):
        values["unwritable"] = str(request.getfixturevalue("unwritable"))
    argv = [a.format(**values) for a in args]
    key = _OUT_KEY.get(command)
    if key and not any(a.startswith(f"{key}=") for a in argv):
        argv.append(f"{key}={values['out']}")
    if command in ("tile", "predict"):
        argv.append("progress=false")
    if command in ("train", "predict") and not any(a.startswith("device=") for a in argv):
        argv.append("device=cpu")
    out = next((Path(a.split("=", 1)[1]) for a in argv if key and a.startswith(f"{key}=")), None)
    before = _snapshot(inputs["root"])
    before_cwd = _snapshot(tmp_path)

    code = main([command, *argv])
    captured = capsys.readouterr()

    _assert_clean_failure(code, captured.err, needle, out)
    assert _snapshot(inputs["root"]) == before, "files appeared or vanished among the inputs"
    assert _snapshot(tmp_path) - before_cwd <= {"out"}, "the command wrote into the working folder"
    if command == "export":
        assert not any(Path(values["root"]).rglob("*.onnx")), "export left a partial .onnx"


def test_sweep_inputs_are_good_where_they_should_be(inputs, capsys, tmp_path) -> None:
    """The good inputs the broken cases vary from really work, so each case fails for its own reason."""
    out = tmp_path / "metrics"
    code = main(["evaluate", f"predictions={inputs['pred']}", f"labels={inputs['labels']}", f"out_dir={out}",
                 "plots=false"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["classes"]["all"]["ap50"] == pytest.approx(1.0)  # detections = labels: perfect score
    tiles = tmp_path / "tiles"
    code = main(["tile", f"scenes={inputs['scene']}", f"labels={inputs['labels']}", f"out_dir={tiles}",
                 "tile_size_px=64", "overlap_px=16", "split_block_tiles=1", "progress=false"])
    assert code == 0, capsys.readouterr().err
    assert (tiles / "dataset.yaml").is_file()
    from yardwatch.train.dataset import read_dataset

    assert read_dataset(inputs["dataset_good"], "detect").n_labels == {"train": 1, "val": 1}
    counts = tmp_path / "counts"
    code = main(["count", f"detections={inputs['pred']}", f"aoi={inputs['aoi']}", f"catalog={inputs['catalog']}",
                 f"out_dir={counts}"])
    assert code == 0, capsys.readouterr().err
    assert (counts / "counts.csv").is_file()
