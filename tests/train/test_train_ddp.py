"""Multi-GPU training (``yardwatch train device=[0,1,2,3]``): the configuration path to ultralytics' DDP launch.

No GPU is needed: CUDA is faked where yardwatch and ultralytics ask for it, and the launch of the DDP workers
(``python -m torch.distributed.run --nproc_per_node 4 <generated script>``) is intercepted, so the test sees exactly
what four GPU processes would receive. A real DDP run needs several GPUs: ``test_ddp_trains_on_all_visible_gpus``
does it where they exist.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import write_tiny_dataset
from yardwatch.cli.main import main
from yardwatch.errors import DeviceError
from yardwatch.train import TrainConfig, make_augment_spec, train_detector, ultralytics_device

_FAST_AUGMENT = make_augment_spec([], {"mosaic": 0.0, "close_mosaic": 0})


def _fake_gpus(monkeypatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def _one_line_error(capsys, args: list[str]) -> tuple[int, str]:
    code = main(["train", *args])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("yardwatch:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return code, lines[0]


@pytest.mark.parametrize("spec, expected", [("0,1,2,3", "0,1,2,3"), ([0, 1, 2, 3], "0,1,2,3"), ("cuda:0,1", "0,1"),
                                            ("1, 3", "1,3"), ("cuda", "0")])
def test_gpu_lists_become_ultralytics_device_strings(monkeypatch, spec, expected) -> None:
    _fake_gpus(monkeypatch, 4)
    assert ultralytics_device(spec) == expected


@pytest.mark.parametrize("gpus, words", [(2, "device=0,1,2,3: only 2 CUDA device(s) here; use indices 0..1"),
                                         (0, "device=0,1,2,3: CUDA is not available on this machine")])
def test_fewer_gpus_than_asked_is_a_clear_error(monkeypatch, capsys, tmp_path, gpus, words) -> None:
    _fake_gpus(monkeypatch, gpus)
    with pytest.raises(DeviceError, match=r"only \d|not available"):
        ultralytics_device("0,1,2,3")
    data = write_tiny_dataset(tmp_path / "data", "detect")
    out = tmp_path / "run"
    code, line = _one_line_error(capsys, [f"data={data}", f"out_dir={out}", "device=[0,1,2,3]", "epochs=1"])
    assert code == 2 and words in line
    assert not out.exists()  # refused before anything was written


def test_unquoted_gpu_list_is_refused_with_the_forms_that_work(capsys, tmp_path) -> None:
    # Hydra reads device=0,1,2,3 as a sweep over four values; the error says to write [0,1,2,3] or '0,1,2,3'.
    code, line = _one_line_error(capsys, [f"data={tmp_path}/d.yaml", f"out_dir={tmp_path}/r", "device=0,1,2,3"])
    assert code == 2
    assert "device=0,1,2,3" in line and "key=[value1,value2]" in line and "quote the value" in line


class _Launched(Exception):
    """Raised in place of the DDP launch, carrying what the workers would have been given."""


@pytest.fixture
def ddp_launch(monkeypatch, tmp_path) -> tuple[TrainConfig, dict]:
    """Run ``train_detector`` for 4 (faked) GPUs up to the DDP launch; returns the config and what was launched."""
    import ultralytics.engine.trainer as trainer_module
    from ultralytics.utils.patches import torch_load

    _fake_gpus(monkeypatch, 4)
    # ultralytics asks the CUDA driver for the device properties; hand it the first GPU's torch.device instead.
    monkeypatch.setattr(trainer_module, "select_device", lambda *a, **k: torch.device("cuda", 0))
    launched: dict = {}

    def fake_run(cmd, check=False, **kwargs):
        script = Path(cmd[-1])
        launched["cmd"] = list(cmd)
        launched["state"] = torch_load(script.with_suffix(".pt"), map_location="cpu")
        launched["script"] = script.read_text()
        launched["data_exists"] = Path(launched["state"]["args"]["data"]).is_file()
        raise _Launched()

    monkeypatch.setattr(trainer_module.subprocess, "run", fake_run)
    data = write_tiny_dataset(tmp_path / "data", "detect")
    config = TrainConfig(data=data, out_dir=tmp_path / "run", task="detect", model="yolov8n", epochs=3, imgsz=128,
                         batch=16, device="0,1,2,3", workers=2, augment=_FAST_AUGMENT, trainer={"plots": False})
    with pytest.raises(_Launched):
        train_detector(config)
    return config, launched


def test_four_gpu_run_launches_ddp_workers_with_the_run_config(ddp_launch) -> None:
    from yardwatch.models.offline import install_offline_patches

    config, launched = ddp_launch
    cmd = launched["cmd"]
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert cmd[cmd.index("--nproc_per_node") + 1] == "4"
    args = launched["state"]["args"]
    assert args["device"] == "0,1,2,3"
    assert (args["batch"], args["epochs"], args["imgsz"], args["workers"]) == (16, 3, 128, 2)  # batch: all GPUs
    assert Path(args["project"]) / args["name"] == config.out_dir.resolve()
    assert args["amp"] is True  # mixed precision on the CUDA workers
    assert "trainer.train()" in launched["script"]
    # The offline patches (no AMP-check download, local plot font) travel to the workers as a callback.
    assert install_offline_patches in launched["state"]["callbacks"]["on_pretrain_routine_start"]
    # So do the nested-object targets (yardwatch.models.nested), with the run's IoU.
    nested = [c for c in launched["state"]["callbacks"]["on_train_start"] if type(c).__name__ == "NestedTargetsCallback"]
    assert len(nested) == 1 and nested[0].nested_iou == config.nested_iou == 0.5


def test_ddp_workers_find_the_dataset_yaml(ddp_launch) -> None:
    """ultralytics deletes the run folder right before the DDP launch, so the dataset yaml must live elsewhere."""
    _, launched = ddp_launch
    data = launched["state"]["args"]["data"]
    assert launched["data_exists"], f"{data} was deleted before the DDP workers started"
    assert not Path(data).is_relative_to(ddp_launch[0].out_dir.resolve())


def test_ddp_refuses_an_out_dir_with_other_files(monkeypatch, tmp_path) -> None:
    """The launcher's delete would take the user's files with it: refuse before training."""
    from yardwatch.errors import OutputError

    _fake_gpus(monkeypatch, 2)
    data = write_tiny_dataset(tmp_path / "data", "detect")
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    config = TrainConfig(data=data, out_dir=out, task="detect", epochs=1, imgsz=128, batch=4, device="0,1",
                         workers=0, augment=_FAST_AUGMENT, trainer={"plots": False})
    with pytest.raises(OutputError, match="holds notes.txt, which ultralytics' multi-GPU launch would delete"):
        train_detector(config)
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="DDP needs at least two GPUs")
def test_ddp_trains_on_all_visible_gpus(tmp_path) -> None:
    from yardwatch.models.loader import load_model

    gpus = ",".join(str(i) for i in range(torch.cuda.device_count()))
    data = write_tiny_dataset(tmp_path / "data", "detect", n_train=16, n_val=4)
    config = TrainConfig(data=data, out_dir=tmp_path / "run", task="detect", model="yolov8n", epochs=2, imgsz=128,
                         batch=8 * torch.cuda.device_count(), device=gpus, workers=2, augment=_FAST_AUGMENT)
    result = train_detector(config)
    assert result.best_weights.is_file() and result.metrics["epochs_run"] == 2
    assert result.card.training["device"] == gpus
    assert load_model(result.best_weights, "cpu").num_classes == 3


def test_failed_ddp_launch_is_not_swallowed(monkeypatch, tmp_path) -> None:
    import ultralytics.engine.trainer as trainer_module

    _fake_gpus(monkeypatch, 2)
    monkeypatch.setattr(trainer_module, "select_device", lambda *a, **k: torch.device("cuda", 0))

    def failing_run(cmd, check=False, **kwargs):
        raise subprocess.CalledProcessError(1, cmd)

    monkeypatch.setattr(trainer_module.subprocess, "run", failing_run)
    data = write_tiny_dataset(tmp_path / "data", "detect")
    config = TrainConfig(data=data, out_dir=tmp_path / "run", task="detect", epochs=1, imgsz=128, batch=4,
                         device="0,1", workers=0, augment=_FAST_AUGMENT, trainer={"plots": False})
    with pytest.raises(subprocess.CalledProcessError):
        train_detector(config)
    assert not (tmp_path / "run" / "model_card.json").exists()  # no card: the folder is not a finished run
