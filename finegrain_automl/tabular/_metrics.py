"""Scoring binary predictions and choosing the decision threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torchmetrics.functional.classification import (
    binary_auroc,
    binary_average_precision,
    binary_f1_score,
    binary_precision,
    binary_recall,
)

__all__ = ["best_f1_threshold", "binary_metrics"]

#: Threshold used when the rows cannot choose one (no positive rows).
DEFAULT_THRESHOLD = 0.5


def binary_metrics(target: np.ndarray, predictions: pd.DataFrame) -> dict[str, float]:
    """Scores binary predictions against 0/1 targets.

    Args:
        target: 0/1 labels, one per row.
        predictions: A frame with ``prediction`` (0/1 decisions at the tuned
            threshold) and ``probability`` (of the positive class), as
            :meth:`TabularBinaryModel.predict` returns.

    Returns:
        ``f1``, ``precision`` and ``recall`` of the positive class (0 when
        undefined); ``auroc`` and ``average_precision`` of the probabilities
        (NaN when the rows hold one class only); ``brier``, the mean squared
        error of the probabilities.
    """
    y = np.asarray(target)
    if len(y) != len(predictions):
        raise ValueError(
            f"target and predictions must have the same rows, but got {len(y)} and {len(predictions)}."
        )
    labels = torch.tensor(y, dtype=torch.int64)
    decisions = torch.tensor(np.asarray(predictions["prediction"]), dtype=torch.int64)
    probability = np.asarray(predictions["probability"], dtype=np.float64)
    scores = torch.tensor(probability, dtype=torch.float64)
    both_classes = 0 < int(labels.sum()) < len(labels)
    return {
        "f1": float(binary_f1_score(decisions, labels)),
        "precision": float(binary_precision(decisions, labels)),
        "recall": float(binary_recall(decisions, labels)),
        "auroc": float(binary_auroc(scores, labels)) if both_classes else float("nan"),
        "average_precision": (
            float(binary_average_precision(scores, labels)) if both_classes else float("nan")
        ),
        "brier": float(np.mean((probability - y) ** 2)) if len(y) else float("nan"),
    }


def best_f1_threshold(target: np.ndarray, probability: np.ndarray) -> float:
    """Returns the probability threshold that maximises F1 of the positive class.

    A row is predicted positive when its probability is ``>=`` the threshold.
    The threshold lies midway between the lowest probability predicted
    positive and the next lower one, so that it generalises to new rows.
    Among equally good thresholds the highest wins (fewest positives).
    Returns :data:`DEFAULT_THRESHOLD` when ``target`` has no positive row.
    """
    y = np.asarray(target, dtype=np.int64)
    p = np.asarray(probability, dtype=np.float64)
    n_positive = int(y.sum())
    if n_positive == 0:
        return DEFAULT_THRESHOLD
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    true_positives = np.cumsum(y_sorted)
    predicted = np.arange(1, len(y) + 1)
    f1 = 2 * true_positives / (predicted + n_positive)
    last_of_value = np.append(p_sorted[1:] != p_sorted[:-1], True)
    f1 = np.where(last_of_value, f1, -1.0)
    best = int(np.argmax(f1))
    lower = p_sorted[best + 1] if best + 1 < len(p_sorted) else 0.0
    return float((p_sorted[best] + lower) / 2)
