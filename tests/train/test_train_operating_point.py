"""The counting operating point written into model cards: detections at it number the labels."""

from __future__ import annotations

import numpy as np
import pytest

from yardwatch.models.card import ModelCard
from yardwatch.train.run import count_unbiased_conf


@pytest.mark.parametrize("n_true, n_false", [(80, 40), (80, 200), (30, 5)])
def test_detections_from_the_count_conf_number_the_labels(n_true, n_false):
    """Precision/recall curves from ultralytics' own ap_per_class (not yardwatch's); at the returned score the
    detections kept are as many as the labels, within one grid step."""
    from ultralytics.utils.metrics import ap_per_class

    rng = np.random.default_rng(n_true + n_false)
    n_labels = 100
    scores = np.concatenate([rng.beta(5, 2, n_true), rng.beta(2, 5, n_false)])
    tp = np.concatenate([np.ones(n_true, bool), np.zeros(n_false, bool)])[:, None]
    out = ap_per_class(tp, scores, np.zeros(len(scores)), np.zeros(n_labels))
    p_curve, r_curve, grid = out[7], out[8], out[10]
    conf = count_unbiased_conf(grid, p_curve[0], r_curve[0])
    kept = int((scores >= conf).sum())
    if n_true + n_false <= n_labels:  # never as many detections as labels: count everything
        assert conf == 0.0
        return
    step = grid[1] - grid[0]
    assert int((scores >= conf + step).sum()) <= n_labels <= int((scores >= conf - step).sum()), (conf, kept)


def test_count_thresholds_prefer_count_conf_then_f1_max_conf():
    card = ModelCard(task="obb", metrics={"per_class": {
        "railcar": {"count_conf": 0.41, "f1_max_conf": 0.3},
        "tarp": {"f1_max_conf": 0.2},
        "container": None}})
    assert card.count_thresholds() == {"railcar": 0.41, "tarp": 0.2}
    assert ModelCard(task="detect").count_thresholds() == {}
