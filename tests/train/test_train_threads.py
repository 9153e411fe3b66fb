"""CPU training gets every core (ultralytics' trainer leaves torch ``cpu_count - 1`` threads: one on 2 cores)."""

from __future__ import annotations

from pathlib import Path

from yardwatch.models.loader import cpu_threads


def test_cpu_training_runs_on_every_core(tmp_path: Path, monkeypatch):
    import torch

    from conftest import write_tiny_dataset
    from yardwatch.train import TrainConfig, make_augment_spec, train_detector
    from yardwatch.train.run import EpochTimer

    seen: list[int] = []
    start = EpochTimer.on_train_epoch_start
    monkeypatch.setattr(EpochTimer, "on_train_epoch_start",
                        lambda self, trainer: (seen.append(torch.get_num_threads()), start(self, trainer)))
    torch.set_num_threads(1)  # as ultralytics would leave it
    data = write_tiny_dataset(tmp_path / "data", "obb", n_train=4, n_val=2)
    train_detector(TrainConfig(data=data, out_dir=tmp_path / "run", task="obb", epochs=1, imgsz=64, batch=2,
                               device="cpu", workers=0, augment=make_augment_spec([], {"mosaic": 0.0}),
                               trainer={"plots": False, "val": False}))
    assert seen == [cpu_threads()]
