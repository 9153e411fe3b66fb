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
    ]
    for args, expected in cases:
        assert main(["count", *args]) == 2, args
        err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("INFO")]
        assert len(err) == 1 and err[0].startswith("yardwatch: error:") and expected in err[0], err
