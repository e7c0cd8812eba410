"""The report's pictures of a tabular binary classifier on the test rows.

Three aggregates of the model's own predictions (:meth:`FittedModel.predict`):
the precision-recall curve of the positive class with the model's decision
threshold marked, the confusion matrix at that threshold, and a calibration
curve over bins of equal count. None shows a row of the data, so they are
the same for private and built-in data, and there are no images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torchmetrics.functional.classification import binary_precision_recall_curve

from finegrain_automl.data import Dataset
from finegrain_automl.figures import Curve, Figure, Matrix
from fg_automl_tabular._binary import binary_labels
from fg_automl_tabular._metrics import binary_metrics
from finegrain_automl.task import FittedModel

__all__ = ["binary_report_figures", "calibration_bins", "decision_threshold"]

#: Most points a drawn curve keeps (the precision-recall curve has one per distinct probability).
MAX_CURVE_POINTS = 200
#: Most bins of the calibration curve.
CALIBRATION_BINS = 10


def binary_report_figures(model: FittedModel, data: Dataset) -> list[Figure]:
    """Returns the precision-recall curve, the confusion matrix and the calibration
    curve of ``model`` on ``data``'s rows (fewer when the rows cannot show one).

    Args:
        model: A fitted binary model (a :class:`~fg_automl_tabular.TabularBinaryModel`
            or an ensemble of them): its :meth:`~FittedModel.predict` gives
            ``probability`` (of the positive class) and ``prediction`` (0/1 at
            its threshold).
        data: Rows with a 0/1 target (the test split).

    Returns:
        No figure for rows without a target or without rows; no
        precision-recall curve for rows without a positive one.
    """
    if data.target is None or len(data) == 0:
        return []
    target = np.asarray(data.target).astype(np.int64)
    predictions = model.predict(data.features)
    labels = _class_names(model, data)
    threshold = decision_threshold(model)
    figures: list[Figure] = []
    if target.any():
        figures.append(precision_recall_figure(target, predictions, labels=labels, threshold=threshold))
    figures.append(confusion_figure(target, predictions, labels=labels, threshold=threshold))
    figures.append(calibration_figure(target, np.asarray(predictions["probability"]), positive=labels[1]))
    return figures


def decision_threshold(model: FittedModel) -> float | None:
    """The positive-class probability from which ``model`` predicts the positive
    class: a single model's ``threshold``, an ensemble's ``decision["threshold"]``;
    None for a model that keeps it elsewhere."""
    threshold = getattr(model, "threshold", None)
    if threshold is None:
        threshold = dict(getattr(model, "decision", None) or {}).get("threshold")
    return None if threshold is None else float(threshold)


def precision_recall_figure(
    target: np.ndarray, predictions: pd.DataFrame, *, labels: Sequence[str], threshold: float | None
) -> Curve:
    """Precision against recall of the positive class as the threshold moves over
    the probabilities, the model's own decision marked (``target`` holds a positive)."""
    probability = torch.tensor(np.asarray(predictions["probability"], dtype=np.float64))
    precision, recall, cuts = binary_precision_recall_curve(probability, torch.tensor(target))
    on_curve = None if threshold is None else int(np.searchsorted(cuts.numpy(), threshold))
    kept = torch.from_numpy(_spread(len(precision), keep=on_curve))
    counts = _counts(target, predictions)
    base_rate = float(target.mean())
    name = _threshold_name(threshold)
    points = {}
    if counts["tp"] + counts["fp"]:
        point_recall = counts["tp"] / (counts["tp"] + counts["fn"])
        point_precision = counts["tp"] / (counts["tp"] + counts["fp"])
        points[name] = (float(point_recall), float(point_precision))
        marked = f"Marked: the model's {name} (precision {point_precision:.3f}, recall {point_recall:.3f})."
    else:
        marked = f"The model's {name} predicts no test row positive, so it has no point on the curve."
    average_precision = binary_metrics(target, predictions)["average_precision"]  # NaN without negatives
    summary = "" if np.isnan(average_precision) else f" Average precision {average_precision:.3f}."
    return Curve(
        title=f"Precision-recall curve of {labels[1]!r}",
        x_label="recall",
        y_label="precision",
        series={
            "model": (recall[kept].tolist(), precision[kept].tolist()),
            "base rate (guessing)": ([0.0, 1.0], [base_rate, base_rate]),
        },
        points=points,
        caption=(
            f"{len(target)} test rows; base rate of {labels[1]!r}: {base_rate:.2%} "
            f"({int(target.sum())} rows), the precision of guessing.{summary} {marked}"
        ),
    )


def confusion_figure(
    target: np.ndarray, predictions: pd.DataFrame, *, labels: Sequence[str], threshold: float | None
) -> Matrix:
    """Test rows counted by true class (rows) and predicted class (columns)."""
    counts = _counts(target, predictions)
    scores = binary_metrics(target, predictions)
    return Matrix(
        title="Confusion matrix",
        values=[[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]],
        row_labels=list(labels),
        column_labels=list(labels),
        row_title="true class",
        column_title=f"predicted class (at the {_threshold_name(threshold)})",
        caption=(
            f"{len(target)} test rows. F1 of {labels[1]!r} {scores['f1']:.3f}, precision "
            f"{scores['precision']:.3f}, recall {scores['recall']:.3f}."
        ),
    )


def calibration_figure(target: np.ndarray, probability: np.ndarray, *, positive: str) -> Curve:
    """Observed share of positive rows against the mean predicted probability, per
    bin of equal count (:func:`calibration_bins`)."""
    mean_predicted, observed, sizes = calibration_bins(target, probability)
    size = f"{min(sizes)}" if min(sizes) == max(sizes) else f"{min(sizes)} or {max(sizes)}"
    return Curve(
        title=f"Calibration of the probability of {positive!r}",
        x_label=f"mean predicted probability of {positive!r}",
        y_label=f"observed share of {positive!r}",
        series={"model": (mean_predicted, observed)},
        diagonal=True,
        caption=(
            f"The {len(target)} test rows sorted by predicted probability and cut into {len(sizes)} bins of "
            f"equal count ({size} rows each). Points on the diagonal: probabilities that "
            "mean what they say; class weights, oversampling and focal loss move them off it on purpose, "
            "and the decision threshold allows for that."
        ),
    )


def calibration_bins(
    target: np.ndarray, probability: np.ndarray, *, bins: int = CALIBRATION_BINS
) -> tuple[list[float], list[float], list[int]]:
    """Cuts the rows, sorted by ``probability``, into ``min(bins, rows)`` bins of
    equal count (quantile bins: sizes differ by one at most; rows of equal
    probability may fall into two neighbouring bins).

    Returns:
        Per bin, in increasing probability: the mean probability, the share of
        positive rows and the number of rows.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, but got {bins=}.")
    order = np.argsort(np.asarray(probability, dtype=np.float64), kind="stable")
    parts = [rows for rows in np.array_split(order, min(bins, len(order))) if len(rows)]
    y, p = np.asarray(target, dtype=np.float64), np.asarray(probability, dtype=np.float64)
    return (
        [float(p[rows].mean()) for rows in parts],
        [float(y[rows].mean()) for rows in parts],
        [len(rows) for rows in parts],
    )


def _counts(target: np.ndarray, predictions: pd.DataFrame) -> dict[str, int]:
    """True and false positives and negatives of the model's 0/1 ``prediction``."""
    predicted = np.asarray(predictions["prediction"]).astype(np.int64)
    cells = np.bincount(2 * target + predicted, minlength=4)
    return {"tn": int(cells[0]), "fp": int(cells[1]), "fn": int(cells[2]), "tp": int(cells[3])}


def _class_names(model: FittedModel, data: Dataset) -> list[str]:
    """``[negative, positive]`` as the data name them (the model's ``classes``)."""
    classes: Sequence[Any] = model.classes if len(model.classes) == 2 else binary_labels(data)
    return [str(label) for label in classes]


def _threshold_name(threshold: float | None) -> str:
    return "decision threshold" if threshold is None else f"threshold {threshold:.3g}"


def _spread(n: int, *, keep: int | None) -> np.ndarray:
    """At most :data:`MAX_CURVE_POINTS` indices spread evenly over ``range(n)``,
    both ends and ``keep`` (the model's threshold, when on the curve) included."""
    if n <= MAX_CURVE_POINTS:
        return np.arange(n)
    indices = np.round(np.linspace(0, n - 1, MAX_CURVE_POINTS - 1)).astype(np.int64)
    if keep is not None and 0 <= keep < n:
        indices = np.append(indices, keep)
    return np.unique(indices)
