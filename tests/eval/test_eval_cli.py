"""``yardwatch evaluate`` through the real CLI: exit codes, the printed table, one-line errors."""

from __future__ import annotations

import json

from yardwatch.cli.main import main


def test_evaluate_prints_a_table_and_writes_metrics(yard, capsys):
    preds, labels = yard
    assert main(["evaluate", f"predictions={preds}", f"labels={labels}", "plots=false"]) == 0
    out = capsys.readouterr().out
    assert "railcar" in out and "AP50=1.000" in out and "metrics.json" in out
    assert json.loads((preds / "metrics.json").read_text())["operating_point"] == {"conf": 0.25, "iou": 0.5}


def test_evaluate_writes_to_out_dir(yard, tmp_path, capsys):
    preds, labels = yard
    out = tmp_path / "report"
    assert main(["evaluate", f"predictions={preds}", f"labels={labels}", f"out_dir={out}", "conf=0.95"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["classes"]["all"]["n_pred"] == 0  # every score is 0.9 < 0.95
    assert not (preds / "metrics.json").exists()


def test_bad_input_exits_2_with_one_line(yard, tmp_path, capsys):
    preds, labels = yard
    cases = [
        ([f"predictions={preds}"], "labels is required"),
        ([f"predictions={preds}", f"labels={tmp_path / 'nope'}"], "file not found"),
        ([f"predictions={preds}", f"labels={labels}", "iou=0"], "iou=0"),
        ([f"predictions={preds}", f"labels={labels}", "area_ranges_m2=[60,20]"], "increasing"),
        ([f"predictions={preds}", f"labels={labels}", "iou_type=segm"], "iou_type='segm'"),
        ([f"predictions={labels / 'scene0.geojson'}", f"labels={labels}"], "not a folder"),
    ]
    for args, expected in cases:
        assert main(["evaluate", *args]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("yardwatch: error:") and expected in err[0], err


def test_operating_point_per_class_and_from_the_model(yard, capsys):
    """All scores are 0.9: a class whose threshold is above that finds nothing, the others everything."""
    preds, labels = yard
    args = ["evaluate", f"predictions={preds}", f"labels={labels}", "plots=false"]
    assert main([*args, "conf={tarp: 0.95}"]) == 0
    metrics = json.loads((preds / "metrics.json").read_text())
    assert metrics["operating_point"]["conf"] == {"railcar": 0.25, "tarp": 0.95, "container": 0.25}
    assert metrics["classes"]["tarp"]["n_pred"] == 0 and metrics["classes"]["tarp"]["recall"] == 0.0
    assert metrics["classes"]["railcar"]["recall"] == 1.0
    assert "score >= railcar 0.25, tarp 0.95, container 0.25" in capsys.readouterr().out
    (preds / "summary.json").write_text(json.dumps({"settings": {"conf": 0.1}, "count_conf": {"container": 0.99}}))
    assert main(args) == 0  # conf=model, the default: the thresholds predict copied from the model card
    metrics = json.loads((preds / "metrics.json").read_text())
    assert metrics["operating_point"]["conf"] == {"railcar": 0.25, "tarp": 0.25, "container": 0.99}
    assert metrics["classes"]["container"]["n_pred"] == 0 and metrics["classes"]["railcar"]["n_pred"] > 0
    (preds / "summary.json").write_text("{not json")
    assert main(args) == 0  # an unreadable summary: the default threshold, with a warning
    assert json.loads((preds / "metrics.json").read_text())["operating_point"]["conf"] == 0.25
