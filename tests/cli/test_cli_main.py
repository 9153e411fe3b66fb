"""The top-level ``yardwatch`` command: usage, version, unknown commands, ``--cfg job`` and ``-m`` sweeps."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from yardwatch import __version__
from yardwatch.cli.main import COMMANDS, main

ALL_COMMANDS = ("synth", "tile", "train", "predict", "evaluate", "count", "export", "doctor")


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("yardwatch:")]


@pytest.mark.parametrize("argv", [(), ("--help",), ("-h",), ("help",)])
def test_usage_lists_every_command(capsys, argv) -> None:
    code, out, _ = _run(capsys, *argv)
    assert code == 0
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert listed == list(ALL_COMMANDS) == list(COMMANDS)
    assert "--cfg job" in out


def test_version(capsys) -> None:
    code, out, _ = _run(capsys, "--version")
    assert (code, out.strip()) == (0, f"yardwatch {__version__}")


def test_unknown_command_exits_2_with_one_line(capsys) -> None:
    code, out, err = _run(capsys, "frobnicate", "x=1")
    assert code == 2 and out == ""
    lines = _error_lines(err)
    assert len(lines) == 1 and "'frobnicate'" in lines[0]
    assert all(name in lines[0] for name in ALL_COMMANDS)


def test_cfg_job_prints_the_composed_config(capsys) -> None:
    code, out, _ = _run(capsys, "synth", "--cfg", "job", "n_scenes=7", "gsd_m=[0.4,0.6]")
    assert code == 0
    config = yaml.safe_load(out)
    assert config["n_scenes"] == 7 and config["gsd_m"] == [0.4, 0.6]
    assert config["scene_size_px"] == 1024  # the default from configs/synth.yaml
    assert "hydra" not in config and "defaults" not in config


def test_cfg_job_shows_chosen_group_options(capsys) -> None:
    code, out, _ = _run(capsys, "train", "--cfg", "job", "model=yolo11n-obb", "augment=none", "trainer=cpu",
                        "epochs=3")
    assert code == 0
    config = yaml.safe_load(out)
    assert config["model"] == {"name": "yolo11n-obb", "task": "obb"}
    assert config["augment"]["albumentations"] == [] and config["augment"]["ultralytics"]["mosaic"] == 0.0
    assert config["trainer"]["optimizer"] == "AdamW" and config["epochs"] == 3


@pytest.mark.parametrize(("argv", "needle"), [
    (("synth", "--cfg", "job", "foo=1"), "foo"),
    (("train", "--cfg", "job", "model=nonexistent"), "model/nonexistent"),
    (("train", "--cfg", "job", "augment=nope"), "augment/nope"),
    (("train", "-m", "model=yolov8n,nope", "--cfg", "job"), "model/nope"),
    (("synth", "-m", "seed=1,2", "foo=3"), "foo"),
    (("synth", "--cfg", "job", "n_scenes=[1,"), "n_scenes=[1,"),
])
def test_bad_override_under_hydra_flags_exits_2_with_one_line(capsys, tmp_path, monkeypatch, argv, needle) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, *argv)
    assert code == 2
    lines = _error_lines(err)
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err and out == ""
    assert not any(tmp_path.iterdir()), "nothing may be written for a refused sweep"


def test_sweep_runs_one_job_per_value(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(capsys, "synth", "-m", "seed=1,2", "n_scenes=1", "scene_size_px=96", "clouds=false",
                        "out_dir=runs/s${seed}")
    assert code == 0, err
    tifs = {seed: sorted((tmp_path / "runs" / f"s{seed}" / "scenes").glob("*.tif")) for seed in (1, 2)}
    assert all(len(files) == 1 for files in tifs.values())
    assert tifs[1][0].read_bytes() != tifs[2][0].read_bytes()  # each job got its own seed
    assert (tmp_path / "runs" / "s1" / "catalog.csv").is_file()


def test_sweep_stops_at_the_first_bad_job_with_exit_2(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(capsys, "synth", "-m", "n_scenes=0,1", "scene_size_px=96", "out_dir=runs")
    assert code == 2
    lines = _error_lines(err)
    assert len(lines) == 1 and "n_scenes=0" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_commands_run_as_a_module(tmp_path) -> None:
    """``python -m yardwatch.cli.main`` is the same entry point as the installed ``yardwatch`` script."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "yardwatch.cli.main", "nope"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("yardwatch: error: unknown command 'nope'")
    assert not any(Path(tmp_path).iterdir())
