"""The Task contract's defaults: fit contexts, split strategies, decisions, options."""

from __future__ import annotations

import numpy as np
import pandas as pd

from finegrain_automl.cv import SplitStrategy
from finegrain_automl.data import Dataset
from finegrain_automl.task import FitContext
from finegrain_automl.testing import ToyTask


def test_fit_context_caps_epochs() -> None:
    assert FitContext(seed=0).epochs(30) == 30
    assert FitContext(seed=0, max_epochs_cap=3).epochs(30) == 3


def test_default_split_strategy_follows_the_data() -> None:
    task = ToyTask()
    rows = Dataset(features=pd.DataFrame({"x": range(4)}), target=np.array([0, 1, 0, 1]))
    assert task.split_strategy(rows) == SplitStrategy(kind="rows", stratify=True)
    grouped = Dataset(features=rows.features, target=rows.target, groups=np.array(["a", "a", "b", "b"]))
    assert task.split_strategy(grouped) == SplitStrategy(kind="grouped", stratify=True)


def test_default_decision_is_the_most_probable_class() -> None:
    task = ToyTask()
    probabilities = np.array([[0.2, 0.8], [0.7, 0.3]])
    assert task.fit_decision(probabilities, np.array([1, 0])) == {}
    predicted = task.predictions_from_probabilities(probabilities, decision={}, classes=["no", "yes"],
                                                    index=pd.Index([4, 5]))
    assert predicted["label"].tolist() == ["yes", "no"] and predicted.index.tolist() == [4, 5]
    assert predicted["probability"].tolist() == [0.8, 0.7]


def test_the_toy_task_declares_its_data_options_and_metric() -> None:
    options = {option.name: option for option in ToyTask.data_options}
    assert set(options) == {"sep", "max_rows"} and options["max_rows"].type is int
    assert options["sep"].predict and not options["max_rows"].predict
    assert ToyTask.metric == "F1 of class 1"


def test_predictions_are_csv_without_index_and_nothing_follows_by_default() -> None:
    import io

    task = ToyTask()
    assert task.prediction_format == "CSV"
    predictions = pd.DataFrame({"label": [1, 0], "prediction": [1, 0], "probability": [0.75, 0.25]},
                               index=[7, 8])
    stream = io.StringIO()
    task.write_predictions(task.prediction_table(predictions), stream)
    assert stream.getvalue().splitlines() == ["row,label,probability", "7,1,0.75", "8,0,0.25"]
    data = Dataset(features=pd.DataFrame({"a": [0.1, 0.2]}), target=None)
    assert task.after_predict(predictions, data=data, options={"sep": ","}) == []
