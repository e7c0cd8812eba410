"""binary_metrics against scikit-learn; the F1-best threshold."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from fg_automl_tabular import best_f1_threshold, binary_metrics
from fg_automl_tabular._metrics import F1_TOLERANCE


def _predictions(probability: np.ndarray, threshold: float) -> pd.DataFrame:
    prediction = (probability >= threshold).astype(np.int64)
    return pd.DataFrame({"label": prediction, "probability": probability, "prediction": prediction})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    target = (rng.random(500) < 0.1).astype(np.int64)
    probability = np.clip(rng.random(500) * 0.6 + target * 0.3, 0, 1)
    predictions = _predictions(probability, 0.5)
    metrics = binary_metrics(target, predictions)
    decided = predictions["prediction"].to_numpy()
    assert metrics["f1"] == pytest.approx(f1_score(target, decided), abs=1e-6)
    assert metrics["precision"] == pytest.approx(precision_score(target, decided, zero_division=0), abs=1e-6)
    assert metrics["recall"] == pytest.approx(recall_score(target, decided), abs=1e-6)
    assert metrics["auroc"] == pytest.approx(roc_auc_score(target, probability), abs=1e-6)
    assert metrics["average_precision"] == pytest.approx(
        average_precision_score(target, probability), abs=1e-6
    )
    assert metrics["brier"] == pytest.approx(brier_score_loss(target, probability), abs=1e-12)


def test_one_class_rows_give_nan_ranking_metrics():
    target = np.zeros(10, dtype=np.int64)
    metrics = binary_metrics(target, _predictions(np.linspace(0, 0.9, 10), 0.5))
    assert math.isnan(metrics["auroc"]) and math.isnan(metrics["average_precision"])
    assert metrics["f1"] == 0.0 and metrics["precision"] == 0.0


def test_row_count_mismatch():
    with pytest.raises(ValueError, match="same rows"):
        binary_metrics(np.zeros(3), _predictions(np.zeros(4), 0.5))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_threshold_reaches_the_best_f1_within_the_tolerance(seed):
    rng = np.random.default_rng(seed)
    target = (rng.random(300) < 0.08).astype(np.int64)
    probability = np.round(rng.random(300) * 0.5 + target * 0.3, 2)  # with ties
    best = max(f1_score(target, probability >= t) for t in np.unique(probability))
    exact = best_f1_threshold(target, probability, tolerance=0.0)
    assert f1_score(target, probability >= exact) == pytest.approx(best)
    default = best_f1_threshold(target, probability)
    assert f1_score(target, probability >= default) >= best - F1_TOLERANCE - 1e-9
    # Each threshold lies strictly between two observed probabilities.
    assert exact not in set(probability.tolist()) and default not in set(probability.tolist())


def test_threshold_is_the_middle_of_the_near_best_range():
    # Positives at 0.9 and 0.8, then a run of rows where every cut scores F1 within 0.01.
    target = np.array([1] * 50 + [0] * 1 + [1] * 1 + [0] * 1 + [1] * 1 + [0] * 46)
    probability = np.linspace(1.0, 0.01, len(target))
    f1_at = {t: f1_score(target, probability >= t) for t in probability}
    best = max(f1_at.values())
    near = sorted(t for t, f in f1_at.items() if f >= best - 0.01)
    assert len(near) >= 3  # a plateau, not a single peak
    threshold = best_f1_threshold(target, probability)
    assert near[0] < threshold < near[-1]  # inside the plateau, not at its upper edge
    with pytest.raises(ValueError, match="tolerance cannot be negative"):
        best_f1_threshold(target, probability, tolerance=-0.1)


def test_threshold_without_positives_is_one_half():
    assert best_f1_threshold(np.zeros(5), np.linspace(0, 1, 5)) == 0.5
