"""One-epoch trainings on the tiny fixture: a loadable best.pt, a complete model card, the run folder layout."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from yardwatch import CLASS_NAMES
from yardwatch.errors import InputError, ModelError, OutputError
from yardwatch.models.card import file_sha256, read_card
from yardwatch.models.loader import EMBEDDED_CARD_KEY, load_model
from yardwatch.train import TrainConfig, make_augment_spec, train_detector

_FAST_AUGMENT = make_augment_spec([{"_target_": "albumentations.RandomRotate90", "p": 0.5}],
                                  {"mosaic": 0.0, "close_mosaic": 0})


def _config(data: Path, out_dir: Path, task: str, **changes) -> TrainConfig:
    values = dict(data=data, out_dir=out_dir, task=task, model="yolov8n", epochs=1, imgsz=128, batch=4,
                  device="cpu", workers=0, augment=_FAST_AUGMENT, trainer={"plots": False})
    values.update(changes)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def obb_run(tmp_path_factory) -> tuple[Path, object]:
    from conftest import write_tiny_dataset

    root = tmp_path_factory.mktemp("obb_run")
    data = write_tiny_dataset(root / "data", "obb")
    return data, train_detector(_config(data, root / "run", "obb", trainer={"plots": True}))


@pytest.fixture(scope="module")
def detect_run(tmp_path_factory) -> tuple[Path, object]:
    """Trained as a DDP parent process sees it: ultralytics hands back no metrics, so yardwatch validates."""
    from ultralytics.engine.model import Model

    from conftest import write_tiny_dataset

    root = tmp_path_factory.mktemp("detect_run")
    data = write_tiny_dataset(root / "data", "detect")
    original = Model.train

    def train_without_metrics(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.metrics = None

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Model, "train", train_without_metrics)
        result = train_detector(_config(data, root / "run", "detect", model="yolo11n"))
    return data, result


@pytest.mark.parametrize("run_name, task", [("obb_run", "obb"), ("detect_run", "detect")])
def test_one_epoch_writes_a_loadable_model_and_a_complete_card(run_name, task, request):
    data, result = request.getfixturevalue(run_name)
    out = result.out_dir
    assert result.best_weights == out / "weights/best.pt" and result.best_weights.is_file()
    assert (out / "weights/last.pt").is_file() and (out / "results.csv").is_file()
    assert yaml.safe_load((out / "dataset.yaml").read_text())["train"] == str(data.parent / "images/train")
    model = load_model(result.best_weights, device="cpu")
    assert model.card.task == task and model.num_classes == 3 and model.stride == 32
    output = model.forward(torch.zeros(1, 3, 128, 128))
    assert output.shape[:2] == (1, 4 + 3 + (1 if task == "obb" else 0))
    card = read_card(out / "model_card.json")
    assert card == result.card
    assert card.class_names == CLASS_NAMES and card.imgsz == 128
    assert (card.tile_size_px, card.overlap_px, card.gsd_m) == (128, 16, 0.5)
    assert card.normalization == {"bands": [1, 2, 3], "method": "none"}
    assert card.dataset_sha256 == f"fixture-{task}-0"
    assert card.weights_sha256 == file_sha256(result.best_weights)
    assert set(card.versions) >= {"yardwatch", "ultralytics", "torch"}
    assert card.training["epochs"] == 1 and card.training["augment"]["albumentations"][0]["p"] == 0.5
    assert set(card.metrics["per_class"]) == set(CLASS_NAMES)
    assert set(card.metrics["overall"]) >= {"mAP50", "mAP50-95", "precision", "recall"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 1 and metrics["train_images"] == 4 and metrics["train_images_per_s"] > 0
    assert metrics["per_class"]["railcar"]["instances"] == 2  # 6 val objects cycle through the 3 classes
    checkpoint = torch.load(result.best_weights, map_location="cpu", weights_only=False)
    embedded = checkpoint[EMBEDDED_CARD_KEY]
    assert embedded["task"] == task and embedded["dataset_sha256"] == card.dataset_sha256
    # task obb: ultralytics' own angle head (obb_angle=sigmoid, the default) is what was trained and saved
    assert type(checkpoint["model"].model[-1]).__name__ == ("OBB" if task == "obb" else "Detect")
    assert card.training["obb_angle"] == "sigmoid"


def test_training_sees_the_albumentations_pipeline(obb_run):
    _, result = obb_run
    args = yaml.safe_load((result.out_dir / "args.yaml").read_text())
    assert [t["transform"]["__class_fullname__"] for t in args["augmentations"]] == ["RandomRotate90"]
    assert args["save_dir"] == str(result.out_dir) and args["mosaic"] == 0.0


def test_plots_are_drawn_offline(obb_run):
    from ultralytics.utils import USER_CONFIG_DIR

    _, result = obb_run
    assert (result.out_dir / "labels.jpg").is_file() and (result.out_dir / "results.png").is_file()
    assert (USER_CONFIG_DIR / "Arial.ttf").stat().st_size > 10_000  # the local font ultralytics used


def test_run_folder_is_not_reused_by_accident(obb_run):
    data, result = obb_run
    with pytest.raises(OutputError, match="already holds a training run; pick a new out_dir, resume=true"):
        train_detector(_config(data, result.out_dir, "obb"))


def test_resume_needs_last_weights(obb_run, tmp_path: Path):
    data, _ = obb_run
    with pytest.raises(InputError, match="no weights/last.pt to resume from"):
        train_detector(_config(data, tmp_path / "fresh", "obb", resume=True))


def test_fine_tuning_checks_task_and_classes(obb_run, detect_run, tmp_path: Path):
    obb_data, obb_result = obb_run
    detect_data, _ = detect_run
    with pytest.raises(ModelError, match="weights are for task=obb, not task=detect"):
        train_detector(_config(detect_data, tmp_path / "a", "detect", model=str(obb_result.best_weights)))
    ckpt = torch.load(obb_result.best_weights, map_location="cpu", weights_only=False)
    ckpt["model"].names = {0: "car", 1: "truck", 2: "bus"}
    other = tmp_path / "other.pt"
    torch.save(ckpt, other)
    with pytest.raises(ModelError, match=r"classes \['car', 'truck', 'bus'\] differ from the dataset's"):
        train_detector(_config(obb_data, tmp_path / "b", "obb", model=str(other)))
    assert not (tmp_path / "b" / "weights").exists()


def _pickled(weights: Path) -> bytes:
    """Every pickle inside a torch checkpoint (a zip), concatenated: what loading it would import."""
    with zipfile.ZipFile(weights) as archive:
        return b"".join(archive.read(n) for n in archive.namelist() if n.endswith(".pkl"))


def test_training_uses_nested_targets_and_the_weights_do_not_depend_on_them(tmp_path: Path, monkeypatch) -> None:
    from conftest import write_tiny_dataset

    from yardwatch.models import nested

    calls = []
    original = nested._NestedTargets._forward

    def counting(self, *args, **kwargs):
        calls.append(type(self).__name__)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(nested._NestedTargets, "_forward", counting)
    data = write_tiny_dataset(tmp_path / "data", "obb")
    result = train_detector(_config(data, tmp_path / "run", "obb"))
    assert calls and set(calls) == {"NestedRotatedTaskAlignedAssigner"}
    assert result.card.training["nested_iou"] == 0.5
    # The checkpoint pickles no yardwatch loss class: plain ultralytics can load it.
    pickled = _pickled(result.best_weights)
    assert b"Nested" not in pickled and b"yardwatch.models.nested" not in pickled


def test_nested_targets_can_be_turned_off(tmp_path: Path, monkeypatch) -> None:
    from conftest import write_tiny_dataset

    from yardwatch.models import nested

    monkeypatch.setattr(nested._NestedTargets, "_forward", lambda *a, **k: pytest.fail("nested targets in use"))
    data = write_tiny_dataset(tmp_path / "data", "detect")
    result = train_detector(_config(data, tmp_path / "run", "detect", nested_iou=None))
    assert result.card.training["nested_iou"] is None


def test_obb_angle_periodic_trains_and_saves_the_unbounded_angle_head(tmp_path: Path) -> None:
    from conftest import write_tiny_dataset

    data = write_tiny_dataset(tmp_path / "data", "obb")
    result = train_detector(_config(data, tmp_path / "run", "obb", obb_angle="periodic"))
    checkpoint = torch.load(result.best_weights, map_location="cpu", weights_only=False)
    assert type(checkpoint["model"].model[-1]).__name__ == "OBB26"
    assert result.card.training["obb_angle"] == "periodic"
    model = load_model(result.best_weights, device="cpu")
    assert model.forward(torch.zeros(1, 3, 128, 128)).shape[1] == 8


def test_obb_box_targets_aligned_moves_target_angles_to_the_predicted_branch(tmp_path: Path, monkeypatch) -> None:
    """With obb_box_targets=aligned every rotated box loss of the run gets targets within pi/2 of the predicted
    angle, and the checkpoint pickles no yardwatch class."""
    from conftest import write_tiny_dataset

    from yardwatch.models import obb_targets

    seen = []
    original = obb_targets.nearest_branch

    def recording(target, predicted):
        moved = original(target, predicted)
        seen.append(float((moved - predicted).abs().max()) if moved.numel() else 0.0)
        return moved

    monkeypatch.setattr(obb_targets, "nearest_branch", recording)
    data = write_tiny_dataset(tmp_path / "data", "obb")
    result = train_detector(_config(data, tmp_path / "run", "obb", obb_angle="periodic", obb_box_targets="aligned"))
    assert seen and max(seen) <= math.pi / 2 + 1e-5
    assert result.card.training["obb_box_targets"] == "aligned"
    pickled = _pickled(result.best_weights)
    assert b"Aligned" not in pickled and b"obb_targets" not in pickled


def test_cpu_training_runs_channels_last_and_saves_nchw_weights(tmp_path: Path, monkeypatch) -> None:
    """The network trains in NHWC on the CPU (ultralytics only does it on CUDA), and best.pt is saved in NCHW, so
    ultralytics' fuse() (which views conv weights) and every loader read it as before."""
    from conftest import write_tiny_dataset

    from yardwatch.models import training

    seen = []
    original = training.ChannelsLastCallback.__call__

    def spying(self, trainer):
        original(self, trainer)
        convs = [m.weight for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d)]
        ema_convs = [m.weight for m in trainer.ema.ema.modules() if isinstance(m, torch.nn.Conv2d)]
        seen.append(all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
                        for w in convs + ema_convs if w.shape[-1] > 1))

    monkeypatch.setattr(training.ChannelsLastCallback, "__call__", spying)
    data = write_tiny_dataset(tmp_path / "data", "obb")
    result = train_detector(_config(data, tmp_path / "run", "obb"))
    assert seen == [True]
    assert result.card.training["channels_last"] is True
    ckpt = torch.load(result.best_weights, map_location="cpu", weights_only=False)
    weights = [t for t in ckpt["model"].state_dict().values() if t.ndim == 4 and t.shape[-1] > 1]
    assert weights and all(t.is_contiguous() for t in weights)
    ckpt["model"].float().fuse()


def test_channels_last_can_be_turned_off(tmp_path: Path, monkeypatch) -> None:
    from conftest import write_tiny_dataset

    from yardwatch.models import training

    monkeypatch.setattr(training.ChannelsLastCallback, "__call__", lambda *a: pytest.fail("converted to NHWC"))
    data = write_tiny_dataset(tmp_path / "data", "detect")
    result = train_detector(_config(data, tmp_path / "run", "detect", channels_last=False))
    assert result.card.training["channels_last"] is False


@pytest.mark.parametrize("world_size, device", [(4, "cuda"), (1, "mps")])
def test_channels_last_callback_leaves_ddp_and_mps_alone(world_size: int, device: str) -> None:
    from types import SimpleNamespace

    from yardwatch.models.training import ChannelsLastCallback

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))
    trainer = SimpleNamespace(model=model, ema=None, world_size=world_size, device=torch.device(device))
    ChannelsLastCallback()(trainer)
    assert model[0].weight.is_contiguous()


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def test_amp_bf16_on_the_cpu_runs_the_network_in_bf16_and_the_loss_in_float32(tmp_path: Path, monkeypatch) -> None:
    """trainer.amp=bf16 on the CPU (ultralytics' own autocast refuses it): the network's outputs reach the loss in
    bf16 under autocast, the loss sees float32 with autocast off, the weights train, the checkpoint pickles no
    yardwatch class, and ultralytics' autocast is given back after the run."""
    import ultralytics.engine.trainer as trainer_module
    from ultralytics.utils.loss import RotatedBboxLoss

    from conftest import write_tiny_dataset

    from yardwatch.models import training

    entering, inside = [], []
    original_call, original_box = training._Float32LossMixin.__call__, RotatedBboxLoss.forward

    def recording_call(self, preds, batch):
        entering.append(({t.dtype for t in _tensors(preds) if t.is_floating_point()},
                         torch.is_autocast_enabled("cpu")))
        return original_call(self, preds, batch)

    def recording_box(self, pred_dist, pred_bboxes, *args, **kwargs):
        inside.append((pred_dist.dtype, pred_bboxes.dtype, torch.is_autocast_enabled("cpu")))
        return original_box(self, pred_dist, pred_bboxes, *args, **kwargs)

    monkeypatch.setattr(training._Float32LossMixin, "__call__", recording_call)
    monkeypatch.setattr(RotatedBboxLoss, "forward", recording_box)
    autocast_before = trainer_module.autocast
    data = write_tiny_dataset(tmp_path / "data", "obb")
    result = train_detector(_config(data, tmp_path / "run", "obb", trainer={"plots": False, "amp": "bf16"}))
    assert trainer_module.autocast is autocast_before
    assert entering and all(torch.bfloat16 in dtypes and on for dtypes, on in entering)
    assert inside and all(d == b == torch.float32 and not on for d, b, on in inside)
    assert result.metrics["train_precision"] == "bf16"
    assert result.card.training["trainer"]["amp"] == "bf16"
    pickled = _pickled(result.best_weights)
    assert b"Float32" not in pickled and b"yardwatch.models.training" not in pickled
    model = load_model(result.best_weights, device="cpu")
    assert model.forward(torch.zeros(1, 3, 128, 128)).shape[1] == 8


@pytest.mark.parametrize("amp, device, amx, expected", [
    ("auto", "cpu", True, "bf16"), ("auto", "cpu", False, False), ("auto", "0", False, True),
    ("auto", "mps", True, False), (True, "cpu", True, False), ("fp16", "0", False, True), (True, "mps", False, False),
    ("bf16", "cpu", False, "bf16"), ("BF16", "0", False, "bf16"), (False, "0", True, False),
    ("fp32", "cpu", True, False),
])
def test_trainer_amp_resolves_per_device(amp, device, amx, expected, monkeypatch) -> None:
    from yardwatch.models import training

    monkeypatch.setattr(training, "cpu_has_amx_bf16", lambda: amx)
    assert training.ultralytics_amp(amp, device) == expected


def test_trainer_amp_bf16_on_mps_and_unknown_names_are_config_errors() -> None:
    from yardwatch.errors import ConfigError
    from yardwatch.models.training import ultralytics_amp

    with pytest.raises(ConfigError, match="trainer.amp=bf16: no bf16 training on MPS"):
        ultralytics_amp("bf16", "mps")
    with pytest.raises(ConfigError, match="trainer.amp='fp8'"):
        ultralytics_amp("fp8", "cpu")


def test_cls_pw_weighs_the_classification_loss_by_inverse_class_frequency(tmp_path: Path, monkeypatch) -> None:
    from ultralytics.utils.loss import v8OBBLoss

    from conftest import write_tiny_dataset

    seen = []
    original = v8OBBLoss.loss

    def recording(self, *args, **kwargs):
        seen.append(None if self.class_weights is None else self.class_weights.flatten().tolist())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(v8OBBLoss, "loss", recording)
    # Two objects a tile over four tiles: classes 0,1 / 1,2 / 2,0 / 0,1, so railcars 3, tarps 3, containers 2.
    data = write_tiny_dataset(tmp_path / "data", "obb", objects_per_tile=2)
    counts = np.bincount([int(line.split()[0]) for f in sorted((tmp_path / "data" / "labels" / "train").glob("*.txt"))
                          for line in f.read_text().splitlines()], minlength=3)
    inverse = 1.0 / counts
    expected = inverse / inverse.mean()  # cls_pw=1: full inverse frequency, scaled to mean 1
    result = train_detector(_config(data, tmp_path / "run", "obb", trainer={"plots": False, "cls_pw": 1.0}))
    assert seen and all(w is not None for w in seen)
    assert np.allclose(seen[0], expected, atol=1e-5) and seen[0][2] > seen[0][0]
    assert result.card.training["trainer"]["cls_pw"] == 1.0
    load_model(result.best_weights)


@pytest.mark.parametrize("value", [-0.5, 1.5, "high"])
def test_cls_pw_outside_zero_to_one_is_a_config_error(value, tmp_path: Path) -> None:
    from yardwatch.errors import ConfigError
    from yardwatch.train.run import check_config

    with pytest.raises(ConfigError, match="trainer.cls_pw"):
        check_config(_config(tmp_path / "dataset.yaml", tmp_path / "run", "obb", trainer={"cls_pw": value}))
