"""The text task's report figures: per-class F1 and the confusion matrix of the test rows."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fg_automl_text import TEXT_FAMILIES, TEXT_FEATURE, TextTask
from fg_automl_text._figures import confusion_counts, per_class_f1
from sklearn.metrics import f1_score

from finegrain_automl import Dataset, FitContext, FittedModel
from finegrain_automl.ensemble import EnsembleModel
from finegrain_automl.figures import Bars, Image, Matrix, figures_from_json, figures_to_json
from finegrain_automl.report._plots import draw_figure

_CONFIG = {"epochs": 4, "vocab_size": 1000, "max_length": 48, "batch_size": 32}


def _dataset(frame: pd.DataFrame, *, classes: list[Any] | None = None) -> Dataset:
    classes = classes or sorted(frame["label"].unique())
    codes = frame["label"].map({label: code for code, label in enumerate(classes)}).to_numpy()
    info = {"classes": classes, "target": "label", "text_column": "text"}
    return Dataset(features=pd.DataFrame({TEXT_FEATURE: frame["text"].to_numpy()}), target=codes, info=info)


def _fit(frame: pd.DataFrame, family: str, *, seed: int = 0) -> FittedModel:
    return TextTask().fit(
        config=_CONFIG, family=TEXT_FAMILIES[family], family_params={}, train=_dataset(frame),
        context=FitContext(seed=seed),
    )


class _Fixed(FittedModel):
    """Predicts the given class codes, in order, whatever the rows."""

    def __init__(self, codes: list[int], classes: list[Any]) -> None:
        self.codes = np.asarray(codes, dtype=np.int64)
        self.classes = classes

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        assert len(features) == len(self.codes)
        labels = [self.classes[c] for c in self.codes]
        return pd.DataFrame(
            {"label": labels, "probability": 1.0, "prediction": self.codes}, index=features.index
        )

    def to_state(self) -> dict[str, Any]:
        return {"codes": self.codes.tolist()}


def _rows(codes: list[int], classes: list[Any]) -> Dataset:
    features = pd.DataFrame({TEXT_FEATURE: [f"message {i}" for i in range(len(codes))]})
    return Dataset(features=features, target=np.asarray(codes, dtype=np.int64), info={"classes": classes})


def _figures(model: FittedModel, data: Dataset, *, private: bool = True) -> tuple[Bars, Matrix]:
    figures = TextTask().report_figures(model, data, private=private)
    assert [type(f) for f in figures] == [Bars, Matrix]
    return figures[0], figures[1]


def _check_json_and_drawing(figures: list[Any]) -> None:
    data = json.loads(json.dumps(figures_to_json(figures), allow_nan=False))
    assert figures_from_json(data) == figures
    for figure in figures:
        assert draw_figure(figure).startswith("data:image/png;base64,")


def _hand_counts(true_labels: list[Any], predicted_labels: list[Any], classes: list[Any]) -> list[list[int]]:
    counts = [[0] * len(classes) for _ in classes]
    for true, predicted in zip(true_labels, predicted_labels, strict=True):
        counts[classes.index(true)][classes.index(predicted)] += 1
    return counts


def test_figures_of_fixed_predictions_match_counts_by_hand() -> None:
    classes = [3, 7, 11]  # integer labels, shown as they are in the data
    target = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    predicted = [0, 0, 1, 1, 2, 2, 2, 0, 2]
    bars, matrix = _figures(_Fixed(predicted, classes), _rows(target, classes))

    assert matrix.row_labels == matrix.column_labels == ["3", "7", "11"]
    assert (matrix.row_title, matrix.column_title) == ("true class", "predicted class")
    assert matrix.values == [[2, 1, 0], [0, 1, 1], [1, 0, 3]]
    assert "66.7% of the 9 rows" in matrix.caption  # (2 + 1 + 3) / 9 on the diagonal

    assert bars.labels == ["3", "7", "11"]
    # F1 = 2 TP / (true + predicted) per class: 4/6, 2/4, 6/8.
    assert bars.series == {"F1": pytest.approx([4 / 6, 2 / 4, 6 / 8])}
    macro = TextTask().metrics(_rows(target, classes), pd.DataFrame({"prediction": predicted}))["f1"]
    assert np.mean(bars.series["F1"]) == pytest.approx(macro, abs=1e-6)
    assert f"{macro:.3f}" in bars.caption
    assert "Test rows per class: 3 3, 7 2, 11 4." in bars.caption

    # Rows that do not name their classes take the model's names.
    unnamed = Dataset(features=_rows(target, classes).features, target=np.asarray(target), info={})
    assert _figures(_Fixed(predicted, classes), unnamed) == (bars, matrix)


def test_a_single_class_in_the_test_rows_leaves_the_absent_class_out_of_the_bars() -> None:
    classes = ["ham", "spam", "promo"]
    data = _rows([0, 0, 0, 0], classes)
    bars, matrix = _figures(_Fixed([0, 0, 1, 0], classes), data)
    assert matrix.values == [[3, 1, 0], [0, 0, 0], [0, 0, 0]]
    assert bars.labels == ["ham", "spam"]  # spam was predicted (F1 0); promo neither seen nor predicted
    assert bars.series["F1"] == pytest.approx([6 / 7, 0.0])
    assert "never predicted (no F1, left out): promo." in bars.caption
    macro = TextTask().metrics(data, pd.DataFrame({"prediction": [0, 0, 1, 0]}))["f1"]
    assert np.mean(bars.series["F1"]) == pytest.approx(macro, abs=1e-6)

    # Every row right and of one class: one bar, F1 1, and no NaN to break the JSON.
    bars, matrix = _figures(_Fixed([0, 0, 0, 0], classes), data)
    assert bars.labels == ["ham"] and bars.series["F1"] == [1.0]
    assert matrix.values[0] == [4, 0, 0] and sum(map(sum, matrix.values)) == 4
    _check_json_and_drawing([bars, matrix])


def test_no_rows_or_no_target_give_no_figures() -> None:
    classes = ["ham", "spam"]
    empty = _rows([], classes)
    assert TextTask().report_figures(_Fixed([], classes), empty, private=True) == []
    unlabelled = Dataset(features=pd.DataFrame({TEXT_FEATURE: ["a", "b"]}), target=None, info={})
    assert TextTask().report_figures(_Fixed([0, 1], classes), unlabelled, private=False) == []


@pytest.mark.parametrize("n_classes", [3, 6])
def test_per_class_f1_matches_scikit_learn_and_averages_to_the_task_metric(n_classes: int) -> None:
    rng = np.random.default_rng(n_classes)
    target = rng.integers(0, n_classes - 1, 300)  # the last class is never in the targets
    predicted = np.where(rng.random(300) < 0.6, target, rng.integers(0, n_classes - 1, 300))
    counts = confusion_counts(target, predicted, n_classes=n_classes)
    assert counts.shape == (n_classes, n_classes) and counts.sum() == 300
    f1, present = per_class_f1(counts)
    labels = np.flatnonzero(present)
    expected = f1_score(target, predicted, labels=labels, average=None)
    np.testing.assert_allclose(f1[labels], expected, atol=1e-12)
    data = Dataset(features=pd.DataFrame({TEXT_FEATURE: ["x"] * 300}), target=target,
                   info={"classes": [f"c{i}" for i in range(n_classes)]})
    macro = TextTask().metrics(data, pd.DataFrame({"prediction": predicted}))["f1"]
    assert f1[present].mean() == pytest.approx(macro, abs=1e-6)


def test_figures_of_a_fitted_classifier_on_test_rows(small_sms: pd.DataFrame) -> None:
    train, test = small_sms.iloc[:220], small_sms.iloc[220:]
    model = _fit(train, "bag")
    rows = _dataset(test, classes=list(model.classes))
    bars, matrix = _figures(model, rows, private=False)  # built-in data, yet no image: texts are rows

    predicted_labels = model.predict(rows.features)["label"].tolist()
    assert matrix.values == _hand_counts(test["label"].tolist(), predicted_labels, ["ham", "spam"])
    assert sum(map(sum, matrix.values)) == len(test) == 80
    assert matrix.row_labels == matrix.column_labels == ["ham", "spam"]

    codes = model.predict(rows.features)["prediction"].to_numpy()
    shown = [model.classes.index(label) for label in bars.labels]
    expected = f1_score(rows.target, codes, labels=shown, average=None)
    np.testing.assert_allclose(bars.series["F1"], expected, atol=1e-12)
    assert np.mean(bars.series["F1"]) == pytest.approx(TextTask().evaluate(model, rows)["f1"], abs=1e-6)
    support = test["label"].value_counts()
    assert f"ham {support['ham']}, spam {support['spam']}" in bars.caption
    figures = list(TextTask().report_figures(model, rows, private=True))
    assert figures == [bars, matrix] and not any(isinstance(f, Image) for f in figures)
    _check_json_and_drawing(figures)


def test_figures_of_an_ensemble_on_three_classes(three_class: pd.DataFrame) -> None:
    train, test = three_class.iloc[:180], three_class.iloc[180:]
    task = TextTask()
    members = [_fit(train, "bag", seed=0), _fit(train, "cnn", seed=1)]
    model = EnsembleModel(task=task, members=members, weights=[0.5, 0.5], decision={}, trial_ids=["a", "b"])
    rows = _dataset(test, classes=list(model.classes))
    bars, matrix = _figures(model, rows)

    predicted = model.predict(rows.features)
    assert matrix.values == _hand_counts(test["label"].tolist(), predicted["label"].tolist(), model.classes)
    assert matrix.row_labels == ["other", "question", "spam"]
    shown = [model.classes.index(label) for label in bars.labels]
    expected = f1_score(rows.target, predicted["prediction"], labels=shown, average=None)
    np.testing.assert_allclose(bars.series["F1"], expected, atol=1e-12)
    assert np.mean(bars.series["F1"]) == pytest.approx(task.evaluate(model, rows)["f1"], abs=1e-6)
    _check_json_and_drawing([bars, matrix])
