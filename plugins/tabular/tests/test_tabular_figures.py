"""TabularBinaryTask.report_figures: the report's pictures of a model on test rows."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import precision_recall_curve

from finegrain_automl.data import Dataset
from finegrain_automl.ensemble import EnsembleModel
from finegrain_automl.figures import Curve, Image, Matrix, figures_from_json, figures_to_json
from finegrain_automl.report._plots import draw_figure
from finegrain_automl.task import FitContext
from fg_automl_tabular import TABULAR_FAMILIES, TabularBinaryTask, fit_binary_classifier, table_dataset
from fg_automl_tabular._figures import MAX_CURVE_POINTS, calibration_bins

SICK, WELL = "sick", "well"


class _Task(TabularBinaryTask):
    """The toolkit's task as a plugin subclasses it (no space or built-in data needed here)."""

    name = "tabular_figures_test"

    def default_space(self):
        raise NotImplementedError

    def load_default(self, *, seed):
        raise NotImplementedError


TASK = _Task()


def _table(n: int, *, seed: int, positive_rate: float = 0.2) -> Dataset:
    """A learnable table whose target is named as a user's file names it ("sick"/"well")."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "signal": signal + rng.normal(scale=0.5, size=n),
            "noise": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n),
            "outcome": np.where(signal >= np.quantile(signal, 1 - positive_rate), SICK, WELL),
        }
    )
    return table_dataset(frame, target="outcome", source_name="table.csv")


def _fit(train: Dataset, *, seed: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_binary_classifier(
            config={"epochs": 3, "batch_size": 64, "lr": 1e-2},
            family=TABULAR_FAMILIES["linear"],
            family_params={},
            train=train,
            context=FitContext(seed=seed, num_threads=1),
        )


@pytest.fixture(scope="module")
def train() -> Dataset:
    return _table(300, seed=0)


@pytest.fixture(scope="module")
def test_rows() -> Dataset:
    return _table(150, seed=1)


@pytest.fixture(scope="module")
def model(train):
    return _fit(train, seed=0)


@pytest.fixture(scope="module")
def ensemble(train, model):
    return EnsembleModel(
        task=TASK, members=[model, _fit(train, seed=1)], weights=[0.5, 0.5], decision={"threshold": 0.3},
        trial_ids=["a", "b"],
    )


def _by_kind(figures):
    """(precision-recall curve or None, confusion matrix, calibration curve)."""
    curves = [f for f in figures if isinstance(f, Curve)]
    (matrix,) = [f for f in figures if isinstance(f, Matrix)]
    calibration = next(c for c in curves if c.diagonal)
    pr = next((c for c in curves if not c.diagonal), None)
    return pr, matrix, calibration


def _counted_by_hand(target: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, int]:
    predicted = probability >= threshold
    positive = target == 1
    return {
        "tp": int((predicted & positive).sum()), "fp": int((predicted & ~positive).sum()),
        "fn": int((~predicted & positive).sum()), "tn": int((~predicted & ~positive).sum()),
    }


def _check_decision_figures(figures, *, target, probability, threshold):
    """The marked point and the matrix are the precision, recall and counts at ``threshold``."""
    pr, matrix, _ = _by_kind(figures)
    counts = _counted_by_hand(target, probability, threshold)
    assert counts["tp"] + counts["fp"] > 0, "the test needs a threshold that predicts some row positive"
    assert matrix.row_labels == [WELL, SICK] and matrix.column_labels == [WELL, SICK]
    assert matrix.row_title == "true class" and matrix.column_title.startswith("predicted class")
    assert matrix.values == [[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]]
    assert sum(map(sum, matrix.values)) == len(target)
    label = f"threshold {threshold:.3g}"
    assert list(pr.points) == [label]
    recall, precision = pr.points[label]
    assert recall == pytest.approx(counts["tp"] / (counts["tp"] + counts["fn"]))
    assert precision == pytest.approx(counts["tp"] / (counts["tp"] + counts["fp"]))
    xs, ys = pr.series["model"]
    on_curve = [abs(x - recall) < 1e-6 and abs(y - precision) < 1e-6 for x, y in zip(xs, ys, strict=True)]
    assert any(on_curve), "the marked point is not on the curve"


def test_single_model_figures(model, test_rows):
    figures = TASK.report_figures(model, test_rows, private=True)
    assert [type(f) for f in figures] == [Curve, Matrix, Curve]
    target = np.asarray(test_rows.target)
    probability = model.predict_probability(test_rows.features)
    _check_decision_figures(figures, target=target, probability=probability, threshold=model.threshold)

    pr, _, calibration = _by_kind(figures)
    assert (pr.x_label, pr.y_label, pr.diagonal, pr.limits) == ("recall", "precision", False, (0.0, 1.0))
    base_rate = target.mean()
    assert f"{base_rate:.2%}" in pr.caption and SICK in pr.title
    assert pr.series["base rate (guessing)"] == ([0.0, 1.0], [base_rate, base_rate])
    # Fewer than MAX_CURVE_POINTS distinct probabilities: the whole curve, as sklearn computes it.
    precision, recall, _ = precision_recall_curve(target, probability)
    xs, ys = pr.series["model"]
    np.testing.assert_allclose(sorted(zip(xs, ys)), sorted(zip(recall, precision)), atol=1e-6)

    assert calibration.diagonal and calibration.limits == (0.0, 1.0)
    means, observed = calibration.series["model"]
    order = np.argsort(probability, kind="stable")
    assert len(means) == 10  # 150 rows: ten bins of 15
    assert means[0] == pytest.approx(probability[order[:15]].mean())
    assert observed[-1] == pytest.approx(target[order[-15:]].mean())
    assert means == sorted(means)
    assert np.mean(observed) == pytest.approx(base_rate)  # equal bins: the shares' mean is the base rate


def test_ensemble_figures_use_its_decision(ensemble, test_rows):
    figures = TASK.report_figures(ensemble, test_rows, private=True)
    assert [type(f) for f in figures] == [Curve, Matrix, Curve]
    probability = ensemble.predict_proba(test_rows.features)[:, 1]
    _check_decision_figures(
        figures, target=np.asarray(test_rows.target), probability=probability, threshold=0.3
    )
    assert "threshold 0.3" in _by_kind(figures)[1].column_title


def test_no_images_and_the_same_figures_for_private_and_builtin_data(model, test_rows):
    private = TASK.report_figures(model, test_rows, private=True)
    builtin = TASK.report_figures(model, test_rows, private=False)
    assert private == builtin
    assert not any(isinstance(f, Image) for f in builtin)


def test_figures_round_trip_json_and_draw(model, ensemble, test_rows):
    figures = [*TASK.report_figures(model, test_rows, private=True),
               *TASK.report_figures(ensemble, test_rows, private=False)]
    stored = json.loads(json.dumps(figures_to_json(figures)))
    assert figures_from_json(stored) == figures
    for figure in figures:
        assert draw_figure(figure).startswith("data:image/png;base64,")


def test_long_curve_is_downsampled_and_keeps_the_threshold(model):
    rows = _table(900, seed=2)
    probability = model.predict_probability(rows.features)
    assert len(np.unique(probability)) > MAX_CURVE_POINTS
    figures = TASK.report_figures(model, rows, private=True)
    pr, _, _ = _by_kind(figures)
    xs, ys = pr.series["model"]
    assert len(xs) <= MAX_CURVE_POINTS + 1
    assert (xs[0], xs[-1], ys[-1]) == (1.0, 0.0, 1.0)  # all rows positive ... none positive
    _check_decision_figures(
        figures, target=np.asarray(rows.target), probability=probability, threshold=model.threshold
    )


def test_degenerate_test_rows_give_fewer_figures(model, test_rows):
    target = np.asarray(test_rows.target)
    negatives = test_rows.take(np.flatnonzero(target == 0))
    figures = TASK.report_figures(model, negatives, private=True)
    assert [type(f) for f in figures] == [Matrix, Curve]  # no recall without a positive row
    _, matrix, calibration = _by_kind(figures)
    assert matrix.values[1] == [0, 0] and sum(matrix.values[0]) == len(negatives)
    assert set(calibration.series["model"][1]) == {0.0}

    positives = test_rows.take(np.flatnonzero(target == 1))
    pr, matrix, _ = _by_kind(TASK.report_figures(model, positives, private=True))
    assert "100.00%" in pr.caption and "Average precision" not in pr.caption  # undefined without negatives
    assert matrix.values[0] == [0, 0]

    assert TASK.report_figures(model, test_rows.take(np.array([], dtype=np.int64)), private=True) == []


def test_a_threshold_that_predicts_nothing_positive_has_no_point(train, test_rows):
    strict = _fit(train, seed=0)
    strict.threshold = 1.5
    pr, matrix, _ = _by_kind(TASK.report_figures(strict, test_rows, private=True))
    assert pr.points == {}
    assert "predicts no test row positive" in pr.caption
    assert matrix.values[0][1] == matrix.values[1][1] == 0


@pytest.mark.parametrize(
    ("n", "sizes"),
    [(3, [1, 1, 1]), (10, [1] * 10), (23, [3, 3, 3, 2, 2, 2, 2, 2, 2, 2])],
)
def test_calibration_bins_have_equal_counts(n, sizes):
    probability = np.linspace(0.9, 0.0, n)  # decreasing: the bins sort them
    target = (np.arange(n) % 2 == 0).astype(np.int64)
    means, observed, counts = calibration_bins(target, probability)
    assert counts == sizes
    order = np.argsort(probability)
    edges = np.cumsum([0, *sizes])
    for k in range(len(sizes)):
        rows = order[edges[k] : edges[k + 1]]
        assert means[k] == pytest.approx(probability[rows].mean())
        assert observed[k] == pytest.approx(target[rows].mean())


def test_calibration_bins_by_hand():
    target = np.array([0, 0, 1, 0, 1, 1])
    probability = np.array([0.1, 0.2, 0.3, 0.4, 0.8, 0.9])
    assert calibration_bins(target, probability, bins=3) == (
        pytest.approx([0.15, 0.35, 0.85]), [0.0, 0.5, 1.0], [2, 2, 2]
    )
    with pytest.raises(ValueError, match=re.escape("bins=0")):
        calibration_bins(target, probability, bins=0)
