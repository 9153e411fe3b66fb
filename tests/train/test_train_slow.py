"""End-to-end training that must actually learn: mAP50 far above what an untrained network scores."""

from __future__ import annotations

from pathlib import Path

import pytest

from yardwatch.train import TrainConfig, make_augment_spec, train_detector

# AdamW at a fixed small rate learns these bright rectangles in a few hundred iterations on CPU.
_TRAINER = {"plots": False, "optimizer": "AdamW", "lr0": 0.003, "warmup_epochs": 1.0}
_AUGMENT = make_augment_spec([{"_target_": "albumentations.RandomRotate90", "p": 0.5}],
                             {"mosaic": 0.0, "close_mosaic": 0, "scale": 0.1})


def _train(root: Path, task: str, epochs: int):
    from conftest import write_tiny_dataset

    data = write_tiny_dataset(root / "data", task, n_train=32, n_val=8, seed=5)
    return train_detector(TrainConfig(data=data, out_dir=root / "run", task=task, epochs=epochs, imgsz=128,
                                      batch=4, device="cpu", workers=0, seed=0, augment=_AUGMENT,
                                      trainer=_TRAINER))


@pytest.fixture(scope="module")
def obb_trained(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("obb_trained"), "obb", epochs=30)


@pytest.mark.slow
@pytest.mark.ci
def test_obb_training_learns(obb_trained):
    """An untrained network scores mAP50 0.000 on these tiles (one epoch, see test_train_run); 30 epochs must
    clear 0.3 overall and find every class."""
    result = obb_trained
    assert result.metrics["overall"]["mAP50"] > 0.3, result.metrics
    assert all(row["mAP50"] > 0.05 for row in result.metrics["per_class"].values()), result.metrics


@pytest.mark.slow
@pytest.mark.ci
def test_fine_tuning_starts_from_the_trained_weights(obb_trained, tmp_path: Path, monkeypatch):
    """Fine-tuning trained weights with the ``trainer=cpu`` settings starts from them and keeps a working model.

    yardwatch passed ``pretrained=False`` to every training; ultralytics >= 8.4 then builds a fresh network even for
    ``model=<weights.pt>``, and this fine-tune fell from mAP50 0.79 to 0.00. The network the trainer starts from
    is compared with best.pt tensor by tensor; its mAP50 after 3 epochs must stay far above a fresh network's 0.00.
    """
    import torch
    import yaml
    from ultralytics.engine.trainer import BaseTrainer

    start: dict[str, torch.Tensor] = {}
    setup = BaseTrainer._setup_train

    def setup_then_record(trainer):
        setup(trainer)
        start.update({k: v.detach().float().clone() for k, v in trainer.model.state_dict().items()})

    monkeypatch.setattr(BaseTrainer, "_setup_train", setup_then_record)
    cpu = yaml.safe_load((Path(__file__).resolve().parents[2] / "configs" / "trainer" / "cpu.yaml").read_text())
    before = obb_trained.metrics["overall"]["mAP50"]
    data = obb_trained.out_dir.parent / "data" / "dataset.yaml"
    result = train_detector(TrainConfig(data=data, out_dir=tmp_path / "fine_tune", task="obb",
                                        model=str(obb_trained.best_weights), epochs=3, imgsz=128, batch=4,
                                        device="cpu", workers=0, seed=1, augment=_AUGMENT,
                                        trainer={**cpu, "plots": False, "cache": False}))
    trained = torch.load(obb_trained.best_weights, map_location="cpu", weights_only=False)["model"].float()
    trained = {k: v for k, v in trained.state_dict().items() if v.is_floating_point()}
    assert trained and set(trained) <= set(start)
    for name, tensor in trained.items():
        torch.testing.assert_close(start[name], tensor, rtol=0, atol=0, msg=name)  # best.pt is fp16: exact in fp32
    # 3 epochs at lr0 0.0015 on 32 tiles move the model: 0.656 of 0.824 on a 2-core AMD EPYC (AVX2), 0.284 of 0.671
    # on an AMX Xeon, above 0.8x on an AVX-512 Xeon. A fresh network scores 0.00 after one epoch (test_train_run).
    assert result.metrics["overall"]["mAP50"] >= 0.25 * before, (before, result.metrics["overall"])


@pytest.mark.slow
def test_detect_training_learns(tmp_path: Path):
    """Axis-aligned boxes learn more slowly here than oriented ones (0.45 at 40 epochs when measured), still
    far from the 0.000 of an untrained network."""
    result = _train(tmp_path, "detect", epochs=40)
    assert result.metrics["overall"]["mAP50"] > 0.25, result.metrics
    assert result.card.metrics["overall"]["mAP50"] == result.metrics["overall"]["mAP50"]


@pytest.mark.slow
def test_resume_continues_an_interrupted_run(tmp_path: Path, monkeypatch):
    """A run killed after epoch 1 of 2 (weights/last.pt written, no card) finishes with resume=true."""
    import csv

    from ultralytics.engine.trainer import BaseTrainer

    from conftest import write_tiny_dataset

    data = write_tiny_dataset(tmp_path / "data", "obb")
    config = TrainConfig(data=data, out_dir=tmp_path / "run", task="obb", epochs=2, imgsz=128, batch=4,
                         device="cpu", workers=0, augment=_AUGMENT, trainer={"plots": False})
    save_model = BaseTrainer.save_model

    def save_then_die(trainer):
        saved = save_model(trainer)
        if trainer.epoch == 0:
            raise KeyboardInterrupt("simulated crash after epoch 1")
        return saved

    monkeypatch.setattr(BaseTrainer, "save_model", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_detector(config)
    monkeypatch.setattr(BaseTrainer, "save_model", save_model)
    assert (tmp_path / "run/weights/last.pt").is_file() and not (tmp_path / "run/model_card.json").exists()
    result = train_detector(TrainConfig(**{**{f: getattr(config, f) for f in config.__dataclass_fields__},
                                           "resume": True}))
    with (tmp_path / "run/results.csv").open() as fh:
        epochs = [int(float(row["epoch"])) for row in csv.DictReader(fh)]
    assert epochs == [1, 2]
    assert result.card_path.is_file() and result.metrics["epochs_run"] == 1
