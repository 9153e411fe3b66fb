"""Dataset checks before training: counts, and a clear error naming the file for every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from yardwatch.errors import InputError, LabelError
from yardwatch.train.dataset import read_dataset


def _edit_yaml(path: Path, **changes) -> None:
    data = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data))


def test_reads_counts_and_the_yardwatch_block(obb_dataset: Path):
    info = read_dataset(obb_dataset, "obb")
    assert info.n_images == {"train": 4, "val": 2}
    assert info.n_labels == {"train": 12, "val": 6}
    assert info.class_names == ("railcar", "tarp", "container")
    assert info.yardwatch["gsd_m"] == 0.5 and info.tiles_sha256 == "fixture-obb-0"
    data = info.ultralytics_dict()
    assert Path(data["train"]).is_absolute() and data["names"] == {0: "railcar", 1: "tarp", 2: "container"}


def test_folder_argument_finds_dataset_yaml(detect_dataset: Path):
    assert read_dataset(detect_dataset.parent, "detect").yaml_path == detect_dataset.resolve()


def test_fingerprint_changes_with_labels_when_the_block_has_no_hash(detect_dataset: Path):
    _edit_yaml(detect_dataset, yardwatch={"task": "detect"})
    first = read_dataset(detect_dataset, "detect").tiles_sha256
    label = detect_dataset.parent / "labels/train/t000.txt"
    label.write_text(label.read_text().replace("0.", "0.0", 1))
    assert read_dataset(detect_dataset, "detect").tiles_sha256 != first


def test_missing_yaml(tmp_path: Path):
    with pytest.raises(InputError, match=r"nothing\.yaml: dataset.yaml not found; make one with `yardwatch tile"):
        read_dataset(tmp_path / "nothing.yaml", "detect")


@pytest.mark.parametrize("task, other", [("obb", "detect"), ("detect", "obb")])
def test_labels_in_the_other_format_name_the_file(task, other, tmp_path: Path):
    """obb labels (9 values) read as detect and detect labels (5 values) read as obb, with no block to warn."""
    from conftest import write_tiny_dataset

    data = write_tiny_dataset(tmp_path / other, other, yardwatch_block={"task": None})
    with pytest.raises(LabelError, match=rf"labels/train/t000.txt:1: .* label but task={task} needs .*; "
                                         rf"set task={other} or retile with task={task}"):
        read_dataset(data, task)


def test_block_task_disagreeing_with_task(obb_dataset: Path):
    with pytest.raises(InputError, match="tiled for task=obb but task=detect; set task=obb"):
        read_dataset(obb_dataset, "detect")


def test_class_names_must_be_yardwatch_classes(detect_dataset: Path):
    _edit_yaml(detect_dataset, names={0: "car", 1: "tarp", 2: "container"})
    with pytest.raises(InputError, match=r"classes \['car', 'tarp', 'container'\] differ from yardwatch's"):
        read_dataset(detect_dataset, "detect")
    assert read_dataset(detect_dataset, "detect", expected_classes=None).class_names[0] == "car"


def test_unknown_class_id_names_the_line(detect_dataset: Path):
    label = detect_dataset.parent / "labels/val/t001.txt"
    label.write_text(label.read_text() + "7 0.5 0.5 0.1 0.1\n")
    with pytest.raises(LabelError, match=r"labels/val/t001.txt:4: class id 7 is not in 0..2"):
        read_dataset(detect_dataset, "detect")


def test_pixel_coordinates_are_refused(detect_dataset: Path):
    (detect_dataset.parent / "labels/train/t002.txt").write_text("0 64 64 20 10\n")
    with pytest.raises(LabelError, match=r"t002.txt:1: coordinates must be normalised"):
        read_dataset(detect_dataset, "detect")


def test_missing_val_split(detect_dataset: Path):
    _edit_yaml(detect_dataset, val=None)
    with pytest.raises(InputError, match="no 'val' split"):
        read_dataset(detect_dataset, "detect")


def test_missing_split_folder(detect_dataset: Path):
    _edit_yaml(detect_dataset, train="images/nowhere")
    with pytest.raises(InputError, match=r"train images folder .*images/nowhere not found"):
        read_dataset(detect_dataset, "detect")


def test_empty_train_labels(detect_dataset: Path):
    for label in (detect_dataset.parent / "labels/train").glob("*.txt"):
        label.write_text("")
    with pytest.raises(InputError, match="train split has no labelled objects"):
        read_dataset(detect_dataset, "detect")
