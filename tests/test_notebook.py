"""notebooks/01_quickstart.ipynb runs top to bottom on CPU and leaves what it promises.

The notebook is executed with nbclient in a temporary working folder (its outputs go to ``quickstart_out/`` there),
so it cannot rot: a renamed key, a changed output file or a broken command fails this test. The committed copy
is also checked for what a reader sees: small outputs, no errors, offline settings first.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_quickstart.ipynb"
MAX_NOTEBOOK_BYTES = 400_000  # one shrunken quicklook, one plot, a few tables


def _code_cells(nb) -> list:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def _error_outputs(nb) -> list[str]:
    """Error outputs, and ``yardwatch: ...error`` lines that a failed ``!yardwatch`` line printed."""
    errors = []
    for cell in _code_cells(nb):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                errors.append(f"{output.ename}: {output.evalue}")
            text = output.get("text", "")
            errors += [line for line in text.splitlines() if line.startswith("yardwatch:") and "error" in line]
    return errors


def test_committed_notebook_is_small_clean_and_offline() -> None:
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert NOTEBOOK.stat().st_size < MAX_NOTEBOOK_BYTES
    first = _code_cells(nb)[0].source
    for setting in ('"YOLO_OFFLINE"] = "1"', '"YOLO_AUTOINSTALL"] = "false"'):
        assert setting in first
    assert _error_outputs(nb) == []
    commands = [line.split()[1] for cell in _code_cells(nb) for line in cell.source.splitlines()
                if line.startswith("!yardwatch ") and not line.startswith("!yardwatch --")]
    for command in ("synth", "tile", "train", "predict", "evaluate", "count"):
        assert command in commands, f"the quickstart lost its {command} step"


@pytest.mark.slow
@pytest.mark.ci
@pytest.mark.timeout(600)
def test_quickstart_notebook_runs_top_to_bottom(tmp_path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    if shutil.which("yardwatch") is None:
        pytest.skip("the yardwatch command is not on PATH (pip install -e . puts it there)")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell

    assert _error_outputs(nb) == []
    out = tmp_path / "quickstart_out"
    run = out / "run"
    assert (run / "weights" / "best.pt").is_file()
    card = json.loads((run / "model_card.json").read_text())
    assert (card["task"], card["tile_size_px"], card["class_names"]) == ("obb", 256, ["railcar", "tarp", "container"])
    for folder, n_scenes in (("pred_mine", 3), ("pred_demo", 3), ("series_pred", 6)):
        summary = json.loads((out / folder / "summary.json").read_text())
        assert [s["status"] for s in summary["scenes"]] == ["ok"] * n_scenes
        assert len(list((out / folder).glob("*.geojson"))) == n_scenes
    demo = json.loads((out / "pred_demo" / "summary.json").read_text())
    assert demo["weights"].endswith("demo.pt")
    assert sum(s["n_detections"] for s in demo["scenes"]) > 0, "the demo weights found nothing"
    metrics = json.loads((out / "pred_demo" / "metrics.json").read_text())
    assert metrics["n_gt"] > 0 and set(metrics["classes"]) == {"railcar", "tarp", "container", "all"}

    import pandas as pd

    counts = pd.read_csv(out / "counts" / "counts.csv")
    assert counts["acquired"].nunique() == 6 and set(counts["class_name"]) == {"railcar", "tarp", "container"}
    totals = counts.groupby("acquired")["count"].sum()
    assert totals.idxmax() == sorted(totals.index)[4], "the spike date (index 4) should have the most objects"
    assert counts.loc[counts["acquired"] == sorted(totals.index)[4], "anomaly"].any()
    assert list((out / "counts").glob("*_counts.png"))
    assert len(nbformat.writes(nb).encode()) < MAX_NOTEBOOK_BYTES, "the executed notebook's outputs grew too big"
