"""``yardwatch doctor``: versions, the device ``auto`` picks, whether the demo weights load; exit 1 when broken."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from yardwatch import __version__
from yardwatch.cli.main import main
from yardwatch.models import card as card_module


def _doctor(capsys, *args: str) -> tuple[int, dict[str, str], str]:
    code = main(["doctor", *args])
    captured = capsys.readouterr()
    rows = {}
    for line in captured.out.splitlines():
        name, _, value = line.partition("  ")
        rows[name.strip()] = value.strip()
    return code, rows, captured.err


def _tiny_weights(folder: Path) -> Path:
    """A loadable untrained yolov8n-obb checkpoint with a yardwatch model card beside it."""
    from ultralytics.nn.tasks import OBBModel

    from yardwatch.models.card import ModelCard, write_card

    torch.manual_seed(0)
    net = OBBModel("yolov8n-obb.yaml", nc=3, verbose=False)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "demo.pt"
    torch.save({"model": net, "train_args": {"imgsz": 128}}, path)
    write_card(ModelCard(task="obb", imgsz=128, tile_size_px=128, overlap_px=32, gsd_m=0.5),
               folder / "demo.model_card.json")
    return path


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory) -> Path:
    """Demo weights stand-in: an untrained oriented-box network with its card, built once for the module."""
    return _tiny_weights(tmp_path_factory.mktemp("assets"))


def test_doctor_reports_versions_device_and_demo_weights(capsys, stand_in, monkeypatch) -> None:
    import rasterio
    import ultralytics

    weights = stand_in
    monkeypatch.setattr(card_module, "demo_weights_path", lambda: weights)
    code, rows, err = _doctor(capsys, "device=cpu")
    assert code == 0, err
    assert rows["yardwatch"] == __version__
    assert rows["torch"] == torch.__version__
    assert rows["ultralytics"] == ultralytics.__version__
    assert rows["rasterio"] == rasterio.__version__ and rows["gdal"] == rasterio.__gdal_version__
    assert rows["cuda"] == (torch.version.cuda or "none")
    assert rows["device=cpu"] == "cpu"
    assert rows["demo weights"] == "ok (obb, classes railcar, tarp, container)"
    assert "problem" not in err


def test_doctor_auto_names_the_device_it_would_pick(capsys, stand_in, monkeypatch) -> None:
    monkeypatch.setattr(card_module, "demo_weights_path", lambda: stand_in)
    code, rows, err = _doctor(capsys)
    assert code == 0, err
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert rows["device=auto"].startswith(expected)
    assert rows["gpu"] == (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
    assert rows["demo weights"].startswith("ok (obb,")


def test_doctor_exits_1_when_the_demo_weights_are_missing(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(card_module, "assets_dir", lambda: tmp_path / "empty_assets")
    code, rows, err = _doctor(capsys, "device=cpu")
    assert code == 1
    assert rows["torch"] == torch.__version__  # the report is still printed in full
    problems = [line for line in err.splitlines() if line.startswith("problem:")]
    assert len(problems) == 1 and "demo weights do not load" in problems[0] and "demo.pt" in problems[0]


def test_doctor_exits_1_when_the_demo_weights_are_corrupt(capsys, tmp_path, monkeypatch) -> None:
    broken = tmp_path / "demo.pt"
    broken.write_bytes(b"\x80\x04not a pickle")
    monkeypatch.setattr(card_module, "demo_weights_path", lambda: broken)
    code, _, err = _doctor(capsys, "device=cpu")
    assert code == 1
    assert "problem: demo weights do not load" in err and "demo.pt" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: device=cuda is not a problem here")
def test_doctor_exits_1_when_the_asked_device_is_missing(capsys, stand_in, monkeypatch) -> None:
    monkeypatch.setattr(card_module, "demo_weights_path", lambda: stand_in)
    code, rows, err = _doctor(capsys, "device=cuda")
    assert code == 1
    assert "device=cuda" not in rows
    assert any(line.startswith("problem: device=cuda") for line in err.splitlines()), err


def test_doctor_refuses_unknown_keys_with_exit_2(capsys) -> None:
    code, rows, err = _doctor(capsys, "devise=cpu")
    assert code == 2 and rows == {}
    lines = [line for line in err.splitlines() if line.startswith("yardwatch:")]
    assert len(lines) == 1 and "devise" in lines[0]


def test_doctor_with_the_bundled_demo_weights(capsys) -> None:
    """The weights shipped in the package load and describe yardwatch's three classes."""
    from yardwatch.models.card import assets_dir

    if not (assets_dir() / "demo.pt").is_file():
        pytest.fail(f"{assets_dir() / 'demo.pt'} is missing: the package must ship its demo weights "
                    "(scripts/train_demo.py makes them)")
    code, rows, err = _doctor(capsys, "device=cpu")
    assert code == 0, err
    assert rows["demo weights"].startswith("ok (") and rows["demo weights"].endswith(
        "classes railcar, tarp, container)")


def test_doctor_lists_the_optional_runtimes_and_how_to_get_a_missing_one(capsys, stand_in, monkeypatch) -> None:
    from importlib import metadata

    monkeypatch.setattr(card_module, "demo_weights_path", lambda: stand_in)
    real = metadata.version

    def version(name: str) -> str:
        if name == "nncf":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", version)
    code, rows, _ = _doctor(capsys, "device=cpu")
    assert code == 0  # optional: a missing one is no problem
    assert rows["openvino"] == real("openvino") and rows["onnxruntime"] == real("onnxruntime")
    assert rows["nncf"] == "not installed (export format=openvino int8=true; pip install 'yardwatch[openvino]')"
