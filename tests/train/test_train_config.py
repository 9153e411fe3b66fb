"""Config composition for every option of every group, and the CLI's checks (exit 2, one line) before training."""

from __future__ import annotations

from pathlib import Path

import pytest

from yardwatch.cli.main import compose_config, config_dir, main
from yardwatch.cli.train import build_config
from yardwatch.errors import ConfigError, DeviceError

GROUPS = ("model", "augment", "trainer")


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def test_every_group_has_options():
    assert {"yolov8n", "yolo11n", "yolov8n-obb", "yolo11n-obb"} <= set(_options("model"))
    assert {"overhead", "light", "none"} <= set(_options("augment"))
    assert {"default", "cpu", "gpu"} <= set(_options("trainer"))


@pytest.mark.parametrize("group, option", [(g, o) for g in GROUPS for o in _options(g)])
def test_every_option_composes_into_a_train_config(group, option, tmp_path: Path):
    task = "obb" if option.endswith("-obb") else "detect"
    cfg = compose_config("train", [f"{group}={option}", f"data={tmp_path}/d/dataset.yaml", f"task={task}",
                                   f"out_dir={tmp_path}/run", "device=cpu", "epochs=3"])
    config = build_config(cfg)
    assert config.task == task and config.epochs == 3 and config.device == "cpu"
    if group == "model":
        assert config.model == option
    if group == "augment":
        assert [d["_target_"] for d in config.augment.albumentations] == [
            d._target_ for d in cfg.augment.albumentations]
        assert dict(config.augment.ultralytics) == dict(cfg.augment.ultralytics)
    if group == "trainer":
        assert dict(config.trainer) == {k: cfg.trainer[k] for k in cfg.trainer}


def test_defaults_are_obb_yolov8n_overhead(tmp_path: Path):
    config = build_config(compose_config("train", [f"data={tmp_path}/x.yaml", f"out_dir={tmp_path}/r"]))
    assert (config.task, config.model, config.imgsz, config.resume) == ("obb", "yolov8n", None, False)
    names = [d["_target_"].split(".")[-1] for d in config.augment.albumentations]
    assert {"RandomRotate90", "RandomBrightnessContrast", "HueSaturationValue", "GaussianBlur", "GaussNoise",
            "ImageCompression", "RandomFog"} <= set(names)


def test_weights_key_fine_tunes_a_checkpoint(tmp_path: Path):
    weights = tmp_path / "prior.pt"
    weights.write_bytes(b"not empty")
    config = build_config(compose_config("train", [f"data={tmp_path}/x.yaml", f"out_dir={tmp_path}/r",
                                                   f"weights={weights}"]))
    assert config.model == str(weights)


def test_gpu_list_becomes_a_ddp_device_string(tmp_path: Path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    config = build_config(compose_config("train", [f"data={tmp_path}/x.yaml", f"out_dir={tmp_path}/r",
                                                   "device=[0,1,2,3]"]))
    assert config.device == "0,1,2,3"
    with pytest.raises(DeviceError, match="only 4 CUDA device"):
        build_config(compose_config("train", [f"data={tmp_path}/x.yaml", f"out_dir={tmp_path}/r", "device=cuda:5"]))


@pytest.mark.parametrize("override, words", [
    ("epochs=0", "epochs=0 is out of range"),
    ("epochs=-3", "epochs=-3 is out of range"),
    ("batch=0", "batch=0 is out of range"),
    ("imgsz=100", "imgsz=100: must be a multiple of 32"),
    ("task=segment", "task='segment' is not one of detect, obb"),
    ("model=yolov8n-obb", "model=yolov8n-obb is a task=obb model but task=detect"),
    ("augment.albumentations=[{_target_: albumentations.Nope}]",
     r"augment.albumentations\[0\]._target_=albumentations.Nope"),
    ("trainer.lr0=fast", "trainer.lr0='fast': expected float"),
    ("trainer.lr0=nan", r"trainer.lr0=nan: must be a number in \(0, 1\]"),
    ("trainer.lr0=0", r"trainer.lr0=0.0: must be a number in \(0, 1\]"),
    ("+trainer.fraction=1.5", r"trainer.fraction=1.5: must be a number in \(0, 1\]"),
    ("trainer.amp=fp8", "trainer.amp='fp8': expected true, false or one of auto, fp16, bf16, fp32"),
    ("nested_iou=0", r"nested_iou=0 is out of range \(0.0, 1.0\]"),
    ("nested_iou=1.5", r"nested_iou=1.5 is out of range"),
    ("nested_iou=yes", "nested_iou='yes' is not a finite number"),
    ("channels_last=fast", "channels_last='fast' must be true or false"),
    ("obb_angle=free", "obb_angle='free' is not one of periodic, sigmoid"),
    ("obb_box_targets=snapped", "obb_box_targets=.snapped. is not one of aligned, canonical"),
])
def test_bad_values_are_config_errors(override, words, tmp_path: Path):
    overrides = [f"data={tmp_path}/x.yaml", f"out_dir={tmp_path}/r", "task=detect", override]
    cfg = compose_config("train", overrides)
    with pytest.raises(ConfigError, match=words):
        build_config(cfg)


def test_missing_data_key(tmp_path: Path):
    with pytest.raises(ConfigError, match="data is required"):
        build_config(compose_config("train", [f"out_dir={tmp_path}/r"]))


def _cli(capsys, *args: str) -> tuple[int, str]:
    code = main(["train", *args])
    return code, capsys.readouterr().err.strip()


def test_cli_device_cuda_without_cuda(capsys, detect_dataset: Path, tmp_path: Path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, err = _cli(capsys, f"data={detect_dataset}", "task=detect", f"out_dir={tmp_path}/r", "device=cuda")
    assert code == 2
    assert err.splitlines()[-1] == ("yardwatch: error: device=cuda: CUDA is not available on this machine; "
                                    "use device=auto or device=cpu")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, words", [
    (("data={tmp}/missing/dataset.yaml",), "dataset.yaml not found"),
    (("epochs=0",), "epochs=0 is out of range"),
    (("task=obb",), "tiled for task=detect but task=obb"),
])
def test_cli_bad_input_exits_2_with_one_line(args, words, capsys, detect_dataset: Path, tmp_path: Path):
    base = [f"data={detect_dataset}", "task=detect", f"out_dir={tmp_path}/r", "device=cpu"]
    extra = [a.format(tmp=tmp_path) for a in args]
    keys = {a.split("=")[0] for a in extra}
    code, err = _cli(capsys, *[b for b in base if b.split("=")[0] not in keys], *extra)
    lines = [line for line in err.splitlines() if line.startswith("yardwatch:")]
    assert code == 2 and len(lines) == 1 and words in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "r" / "weights").exists()


def test_cli_wrong_label_format_names_the_file(capsys, tmp_path: Path):
    from conftest import write_tiny_dataset

    data = write_tiny_dataset(tmp_path / "d", "obb", yardwatch_block={"task": None})
    code, err = _cli(capsys, f"data={data}", "task=detect", f"out_dir={tmp_path}/r", "device=cpu")
    assert code == 2
    assert "labels/train/t000.txt:1: YOLO-OBB (class x1 y1 ... x4 y4) label but task=detect" in err
