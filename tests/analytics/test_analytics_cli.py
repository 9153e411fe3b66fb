"""``yardwatch count`` through the real CLI."""

from __future__ import annotations

from yardwatch.cli.main import main


def test_count_prints_the_series_and_flags(seed_story, capsys, tmp_path):
    out = tmp_path / "out"
    args = ["count", f"detections={seed_story.detections}", f"aoi={seed_story.aoi}",
            f"catalog={seed_story.catalog}", f"out_dir={out}"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    spike = seed_story.dates[15].isoformat()
    flagged_lines = [line for line in printed.splitlines() if "(max+zscore)" in line]
    assert len(flagged_lines) == 1 and spike in flagged_lines[0] and " 73 " in flagged_lines[0]
    assert "1 anomalies over 1 sites" in printed
    assert (out / "counts.csv").is_file() and (out / "Tumangang_yard_report.md").is_file()
    # the rules are configurable from the command line
    assert main([*args, "anomaly.rules=[max]", "anomaly.min_history=3"]) == 0
    assert "1 anomalies" not in capsys.readouterr().out


def test_count_bad_input_exits_2_with_one_line(seed_story, capsys, tmp_path):
    base = [f"detections={seed_story.detections}", f"aoi={seed_story.aoi}", f"catalog={seed_story.catalog}"]
    cases = [
        (base[:2], "catalog is required"),
        ([*base, "anomaly.rules=[trend]"], "anomaly.rules"),
        ([*base, "anomaly.combine=most"], "anomaly.combine"),
        ([*base, "min_coverage=0"], "min_coverage=0"),
        ([*base, "site_column=name"], "no 'name' column"),
        ([*base[:2], f"catalog={seed_story.aoi}"], "not a readable CSV"),
        ([*base, "conf=high"], "conf='high'"),
        ([*base, "conf={boxcar: 0.3}"], "unknown classes boxcar"),
        ([*base, "conf={railcar: 1.5}"], "railcar=1.5 is out of range"),
    ]
    for args, expected in cases:
        assert main(["count", *args]) == 2, args
        err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("INFO")]
        assert len(err) == 1 and err[0].startswith("yardwatch: error:") and expected in err[0], err


def _spike_railcars(printed: str, spike: str) -> int:
    line = next(line for line in printed.splitlines() if spike in line)
    return int(line.split("tumangang_15")[1].split()[0])  # site, date, scene, then the railcar count


def test_count_thresholds_per_class_and_from_the_model(seed_story, capsys, tmp_path):
    """Each spike-date scene holds 73 railcars at score 0.8 and two at 0.1 in the AOI: the threshold decides."""
    import json

    args = ["count", f"detections={seed_story.detections}", f"aoi={seed_story.aoi}",
            f"catalog={seed_story.catalog}", f"out_dir={tmp_path / 'out'}"]
    spike = seed_story.dates[15].isoformat()
    assert main(args) == 0  # no summary.json beside the detections: conf=model falls back to 0.25
    assert _spike_railcars(capsys.readouterr().out, spike) == 73
    assert main([*args, "conf={railcar: 0.05}"]) == 0
    assert _spike_railcars(capsys.readouterr().out, spike) == 75
    summary = seed_story.detections / "summary.json"
    summary.write_text(json.dumps({"weights": "w.pt", "settings": {"conf": 0.01},
                                   "count_conf": {"railcar": 0.05, "tarp": 0.005, "container": 0.9}}))
    try:
        assert main(args) == 0
        printed = capsys.readouterr().out
        assert _spike_railcars(printed, spike) == 75
        report = (tmp_path / "out" / "Tumangang_yard_report.md").read_text()
        assert "score >= railcar 0.05, tarp 0.01, container 0.9" in report  # tarp: predict kept >= 0.01 only
        assert main([*args, "conf=0.5"]) == 0  # a number overrides the model's thresholds
        assert _spike_railcars(capsys.readouterr().out, spike) == 73
    finally:
        summary.unlink()
