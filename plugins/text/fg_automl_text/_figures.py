"""The text task's report figures: per-class F1 and the confusion matrix of the test rows.

Both come from one confusion matrix of the model's own predictions (the
``prediction`` codes of :meth:`~finegrain_automl.FittedModel.predict`, the
path :meth:`~finegrain_automl.Task.evaluate` scores), so they agree with the
task's macro F1. Aggregates only: counts and rates per class, never a text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from finegrain_automl import Dataset, FittedModel
from finegrain_automl.figures import Bars, Figure, Matrix

__all__ = ["confusion_counts", "per_class_f1", "text_report_figures"]

#: Classes named one by one in the F1 figure's caption; more are summarised.
_SUPPORT_LISTED = 12


def text_report_figures(model: FittedModel, data: Dataset) -> list[Figure]:
    """Returns per-class F1 (:class:`Bars`) and the confusion matrix (:class:`Matrix`) of ``model``.

    Args:
        model: A fitted text classifier or an ensemble of them.
        data: The labelled rows to draw (class codes as target, the original
            labels in ``info["classes"]``).

    Returns:
        Both figures; none when ``data`` has no rows or no target.
    """
    if data.target is None or len(data.features) == 0:
        return []
    classes = _class_names(model, data)
    predicted = np.asarray(model.predict(data.features)["prediction"], dtype=np.int64)
    target = np.asarray(data.target, dtype=np.int64)
    counts = confusion_counts(target, predicted, n_classes=len(classes))
    classes += [str(code) for code in range(len(classes), len(counts))]  # codes beyond the known labels
    return [_f1_bars(counts, classes), _confusion_matrix(counts, classes)]


def confusion_counts(target: np.ndarray, predicted: np.ndarray, *, n_classes: int) -> np.ndarray:
    """Returns the confusion matrix ``[C, C]`` (int64; rows: true class code, columns: predicted code).

    ``C`` is ``n_classes``, or more when a code of ``target`` or ``predicted``
    is that large, as in :func:`~fg_automl_text._classifier.text_metrics`.
    """
    from torchmetrics.functional.classification import multiclass_confusion_matrix

    n_classes = max(n_classes, int(target.max(initial=-1)) + 1, int(predicted.max(initial=-1)) + 1, 2)
    matrix = multiclass_confusion_matrix(_tensor(predicted), _tensor(target), num_classes=n_classes)
    return matrix.numpy().astype(np.int64)


def per_class_f1(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns each class's F1 and whether the class counts, from a confusion matrix.

    A class counts when it is in the targets or in the predictions; the
    task's macro F1 is the mean F1 of the classes that count (an absent,
    never predicted class has no F1 and scores 0 here).
    """
    true_positives = np.diag(counts).astype(float)
    support, predicted = counts.sum(axis=1), counts.sum(axis=0)
    present = (support + predicted) > 0
    f1 = np.divide(2 * true_positives, support + predicted, out=np.zeros_like(true_positives), where=present)
    return f1, present


def _class_names(model: FittedModel, data: Dataset) -> list[str]:
    """The original label of each class code, as text: the data's, else the model's."""
    labels: Sequence[Any] | None = data.info.get("classes")
    if labels is None or len(labels) == 0:
        labels = getattr(model, "classes", ())
    return [str(label) for label in labels]


def _f1_bars(counts: np.ndarray, classes: list[str]) -> Bars:
    f1, present = per_class_f1(counts)
    shown = np.flatnonzero(present)
    support = counts.sum(axis=1)
    caption = (
        f"F1 of each class on the {int(counts.sum())} test rows; macro F1, the task's metric, is their mean: "
        f"{float(f1[shown].mean()):.3f}. {_support_text(support[shown], [classes[i] for i in shown])}"
    )
    missing = [classes[i] for i in np.flatnonzero(~present)]
    if missing:
        caption += f" Not in the test rows and never predicted (no F1, left out): {', '.join(missing)}."
    return Bars(
        title="Per-class F1 on the test rows",
        labels=[classes[i] for i in shown],
        series={"F1": [float(f1[i]) for i in shown]},
        y_label="F1",
        x_label="class",
        limits=(0.0, 1.0),
        caption=caption,
    )


def _support_text(support: np.ndarray, classes: list[str]) -> str:
    """Names each class's number of test rows, or the range of them when there are many classes."""
    if len(classes) <= _SUPPORT_LISTED:
        return "Test rows per class: " + ", ".join(f"{c} {int(n)}" for c, n in zip(classes, support)) + "."
    low, high = int(np.argmin(support)), int(np.argmax(support))
    return (
        f"Test rows per class: from {int(support[low])} ({classes[low]}) to {int(support[high])} "
        f"({classes[high]})."
    )


def _confusion_matrix(counts: np.ndarray, classes: list[str]) -> Matrix:
    total = int(counts.sum())
    accuracy = float(np.trace(counts)) / total
    return Matrix(
        title="Confusion matrix of the test rows",
        values=[[int(v) for v in row] for row in counts],
        row_labels=list(classes),
        column_labels=list(classes),
        row_title="true class",
        column_title="predicted class",
        caption=f"Test rows by true and predicted class; the diagonal holds the {accuracy:.1%} of the "
        f"{total} rows predicted right.",
    )


def _tensor(values: np.ndarray) -> Any:
    import torch

    return torch.tensor(np.asarray(values, dtype=np.int64))  # a copy: pandas may hand out read-only arrays
