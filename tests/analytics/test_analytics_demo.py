"""scripts/demo_border_crossing.py: its AOI, spike and verdict logic on a synthetic series (synth and predict are
skipped: the detections are written by the fixture)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
import shapely

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "demo_border_crossing.py"


@pytest.fixture(scope="module")
def demo():
    spec = importlib.util.spec_from_file_location("demo_border_crossing", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_flags_the_spike_and_only_it(demo, seed_story, capsys):
    assert demo.main(["--out-dir", str(seed_story.root), "--skip-synth", "--skip-predict"]) == 0
    out = capsys.readouterr().out
    spike = seed_story.dates[15].isoformat()
    assert f"OK: {spike} is flagged and no other date is" in out
    ordinary = max(n for i, n in enumerate(seed_story.railcars) if i != 15)
    assert f"labels: 73 railcars on {spike}, at most {ordinary} on the other 19 dates" in out
    written = shapely.from_geojson((seed_story.root / "aoi.geojson").read_text())
    assert written.geoms[0].bounds == pytest.approx((350000.5, 4700000.5, 350099.5, 4700099.5))


def test_demo_fails_when_another_date_is_flagged(demo, site_series, capsys):
    series = site_series([10, 11, 12, 10, 11, 60, 12, 73])  # a false spike on date 5 before the real one
    assert demo.main(["--out-dir", str(series.root), "--skip-synth", "--skip-predict"]) == 1
    second = series.dates[5].isoformat()
    assert f"other dates are flagged too: {second}" in capsys.readouterr().err
    flagged = pd.read_csv(series.root / "counts" / "anomalies.csv")["acquired"].tolist()
    assert flagged == [second, series.dates[7].isoformat()]


def test_demo_reports_a_failed_step(demo, tmp_path, capsys):
    assert demo.main(["--out-dir", str(tmp_path / "nothing"), "--skip-synth", "--skip-predict"]) == 2
    assert "catalog" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.ci
def test_the_seed_story_end_to_end_with_the_bundled_weights(demo, tmp_path, capsys):
    # synth + predict (bundled demo weights) + count over 20 dates: the spike date, and only it, is flagged.
    assert demo.main(["--out-dir", str(tmp_path / "demo"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "OK: " in out and "is flagged and no other date is" in out
    anomalies = pd.read_csv(tmp_path / "demo" / "counts" / "anomalies.csv")
    assert anomalies["acquired"].nunique() == 1 and "railcar" in set(anomalies["class_name"])
