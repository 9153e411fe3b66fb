"""`yardwatch synth`: bad keys exit 2 with one line and write nothing; a good run prints the catalog path."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from yardwatch.cli.main import main


@pytest.mark.parametrize("override, fragment", [
    ("scene_size_px=-5", "scene_size_px=-5"),
    ("scene_size_px=0", "scene_size_px=0"),
    ("scene_size_px=[256,10]", "scene_size_px=10"),
    ("gsd_m=2.0", "gsd_m=2.0"),
    ("gsd_m=0.1", "gsd_m=0.1"),
    ("gsd_m=[0.5,1.2]", "gsd_m=1.2"),
    ("crs=EPSG:99999", "crs='EPSG:99999'"),
    ("crs=EPSG:4326", "not projected"),
    ("dtype=float32", "dtype='float32'"),
    ("bands=5", "bands=5"),
    ("season=spring", "season='spring'"),
    ("n_scenes=0", "n_scenes=0"),
    ("dates=0", "dates=0"),
    ("seed=-1", "seed=-1"),
    ("interval_days=0", "interval_days=0"),
    ("start_date=2023-13-45", "start_date"),
    ("layout=/nonexistent/layout.geojson", "layout=/nonexistent/layout.geojson"),
    ("spike_railcars=-3", "spike_railcars=-3"),
    ("spike_date_index=12", "spike_date_index=12"),
    ("site=../escape", "site='../escape'"),
    ("series=maybe", "series='maybe'"),
    ("tarp_colours=rainbow", "tarp_colours='rainbow' is not one of natural, even"),
    ("no_such_key=1", "no_such_key"),
])
def test_bad_key_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                          override: str, fragment: str) -> None:
    out = tmp_path / "out"
    status = main(["synth", f"out_dir={out}", "scene_size_px=64", "n_scenes=1", override])
    captured = capsys.readouterr()
    assert status == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("yardwatch: error:") and fragment in lines[0], lines
    assert "Traceback" not in captured.err and captured.out == ""
    assert not out.exists()


def test_series_with_layout_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    layout = tmp_path / "layout.geojson"
    layout.write_text('{"type": "FeatureCollection", "features": []}')
    status = main(["synth", f"out_dir={tmp_path / 'out'}", "series=true", f"layout={layout}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "cannot be combined" in err[0]
    assert not (tmp_path / "out").exists()


def test_series_that_cannot_hold_its_railcars_fails_before_drawing(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    status = main(["synth", f"out_dir={out}", "series=true", "dates=3", "scene_size_px=200", "spike_railcars=300"])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "railcars do not fit" in lines[0] and "scene of 2023-" in lines[0]
    assert not out.exists()


def test_good_run_prints_the_catalog_path(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "synth"
    status = main(["synth", f"out_dir={out}", "n_scenes=2", "scene_size_px=[200,160]", "gsd_m=[0.5,0.8]",
                   "seed=3", "crs=EPSG:32633", "dtype=uint16", "bands=4", "site=test-yard"])
    captured = capsys.readouterr()
    assert status == 0
    assert captured.out.strip() == str(out / "catalog.csv")
    with (out / "catalog.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["site"] for r in rows] == ["test-yard-000", "test-yard-001"]
    assert {r["crs"] for r in rows} == {"EPSG:32633"} and {r["gsd_m"] for r in rows} <= {"0.5", "0.8"}
    assert all((out / r["path"]).is_file() and (out / r["labels_path"]).is_file() for r in rows)


def test_series_run_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "series"
    status = main(["synth", f"out_dir={out}", "series=true", "dates=3", "scene_size_px=320", "seed=1",
                   "baseline_max_railcars=4", "spike_railcars=12", "spike_date_index=1", "spike_containers=5",
                   "spike_tarps=3", "start_date=2020-03-01", "interval_days=7", "site=tumangang"])
    assert status == 0 and capsys.readouterr().out.strip() == str(out / "catalog.csv")
    with (out / "catalog.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["scene_id"] for r in rows] == ["tumangang_20200301", "tumangang_20200308", "tumangang_20200315"]
