"""Datasets: row selection, label names, column checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finegrain_automl.data import Dataset, check_unique_columns, column_list, plain_value
from finegrain_automl.errors import DataError


def test_take_selects_rows_by_position_with_their_targets_and_groups() -> None:
    data = Dataset(features=pd.DataFrame({"x": [10, 11, 12, 13]}, index=[7, 8, 9, 5]),
                   target=np.array([0, 1, 0, 1]), groups=np.array(["a", "a", "b", "c"]))
    part = data.take(np.array([3, 1]))
    assert part.features["x"].tolist() == [13, 11] and part.features.index.tolist() == [0, 1]
    assert part.target.tolist() == [1, 1] and part.groups.tolist() == ["c", "a"]
    assert len(part) == 2 and part.info is data.info


def test_lengths_must_agree() -> None:
    with pytest.raises(ValueError, match="target has 2 rows, features have 3"):
        Dataset(features=pd.DataFrame({"x": [1, 2, 3]}), target=np.array([0, 1]))
    with pytest.raises(ValueError, match="groups has 1 rows"):
        Dataset(features=pd.DataFrame({"x": [1, 2]}), target=None, groups=np.array(["a"]))


def test_label_names_come_from_the_recorded_classes_or_the_binary_labels() -> None:
    frame = pd.DataFrame({"x": [1, 2]})
    assert Dataset(features=frame, target=None, info={"classes": ["ham", "spam"]}).label_name(1) == "spam"
    binary = Dataset(features=frame, target=None, positive_label="fraud", info={"negative_label": "legit"})
    assert (binary.label_name(1), binary.label_name(0), binary.label_name(2)) == ("fraud", "legit", 2)


def test_repeated_column_names_are_named_once_each() -> None:
    check_unique_columns(["a", "b", "c"], "ok.csv")
    with pytest.raises(DataError, match=r"^x\.csv repeats the column names 'a', 'b' in its header"):
        check_unique_columns(["a", "b", "a", "b", "a", "c"], "x.csv")


def test_small_helpers() -> None:
    assert column_list(["a", "b"]) == "a, b"
    assert column_list([f"c{i}" for i in range(15)], limit=3) == "c0, c1, c2, ... (15 in all)"
    assert type(plain_value(np.int64(3))) is int and plain_value("x") == "x"
