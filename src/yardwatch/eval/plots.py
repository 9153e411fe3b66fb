"""Figures of an evaluation: precision-recall curves per class and the confusion matrix."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from yardwatch.eval.outputs import new_figure, save_figure_atomic


def plot_pr_curves(recall_thresholds: np.ndarray, precision_by_class: np.ndarray, class_names: Sequence[str],
                   ap50_by_class: Sequence[float | None], path: str | os.PathLike[str]) -> Path:
    """Interpolated precision against recall at IoU 0.50, one line per class that has ground truth.

    Args:
        recall_thresholds: ``(R,)`` COCO's 101 recall points.
        precision_by_class: ``(K, R)`` precision at those points; -1 where the class has no ground truth.
        class_names: ``(K,)`` names.
        ap50_by_class: ``(K,)`` AP at IoU 0.50 for the legend (None where undefined).
        path: the PNG to write.
    """
    figure = new_figure(5.0, 4.0)
    axes = figure.add_subplot()
    drawn = 0
    for name, precision, ap50 in zip(class_names, precision_by_class, ap50_by_class):
        if ap50 is None or np.all(precision < 0):
            continue
        axes.plot(recall_thresholds, np.clip(precision, 0, 1), linewidth=1.5, label=f"{name} AP50={ap50:.3f}")
        drawn += 1
    if not drawn:
        axes.text(0.5, 0.5, "no ground truth to score", ha="center", va="center", transform=axes.transAxes)
    axes.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision",
             title="Precision-recall at IoU 0.50 (scene level)")
    axes.grid(alpha=0.3)
    if drawn:
        axes.legend(loc="lower left", fontsize=8)
    return save_figure_atomic(figure, path)


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], path: str | os.PathLike[str], *,
                          conf: str, iou: float) -> Path:
    """Counts of (true class, predicted class) pairs, with ``background`` for misses and false positives.

    Args:
        matrix: ``(K+1, K+1)`` counts; rows true (classes, then background), columns predicted.
        class_names: ``(K,)`` names.
        path: the PNG to write.
        conf: the score thresholds the matrix was made at, as text (for the title; see
            :func:`yardwatch.eval.thresholds.thresholds_text`).
        iou: the IoU threshold (for the title).
    """
    labels = [*class_names, "background"]
    counts = np.asarray(matrix, dtype=np.int64)
    figure = new_figure(4.8, 4.2)
    axes = figure.add_subplot()
    image = axes.imshow(counts, cmap="Blues")
    peak = counts.max() if counts.size else 0
    for (row, col), value in np.ndenumerate(counts):
        axes.text(col, row, str(value), ha="center", va="center", fontsize=9,
                  color="white" if peak and value > peak / 2 else "black")
    axes.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set(xlabel="predicted", ylabel="true", title=f"Confusion (score >= {conf}, IoU >= {iou:g})")
    figure.colorbar(image, ax=axes, shrink=0.8)
    return save_figure_atomic(figure, path)
