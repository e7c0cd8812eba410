"""The task's split: every user spread over the test split and the folds,
with training history wherever they are scored, and the test rows in no fold."""

from __future__ import annotations

import numpy as np
import pytest
from fg_automl_recommendation import RecommendationTask
from fg_automl_recommendation._columns import USER
from fg_automl_recommendation._data import load_builtin

from finegrain_automl.cv import make_splits


@pytest.fixture(scope="module")
def data_and_splits():
    task = RecommendationTask()
    data = load_builtin(seed=3)
    return data, make_splits(data, n_folds=5, seed=3, strategy=task.split_strategy(data))


def test_every_scored_user_has_training_history_in_every_fold(data_and_splits) -> None:
    data, splits = data_and_splits
    users = data.features[USER].to_numpy(object)
    for train, valid in splits.folds:
        assert set(users[valid]) <= set(users[train])
        assert not set(train) & set(valid)
    assert set(users[splits.test]) <= set(users[splits.development])  # the final refit knows every test user


def test_the_test_rows_are_in_no_fold_and_every_development_row_is_scored_once(data_and_splits) -> None:
    data, splits = data_and_splits
    test = set(splits.test.tolist())
    for train, valid in splits.folds:
        assert not test & set(train.tolist()) and not test & set(valid.tolist())
    scored = np.concatenate([valid for _, valid in splits.folds])
    assert len(scored) == len(set(scored.tolist()))
    assert set(scored.tolist()) | set(splits.train_only.tolist()) == set(splits.development.tolist())
    assert len(test) + len(splits.development) == len(data)


def test_users_too_light_to_spread_are_only_trained_on(data_and_splits) -> None:
    data, splits = data_and_splits
    users = data.features[USER].to_numpy(object)
    counts = data.features[USER].value_counts()
    light = set(counts.index[counts < 6])
    assert light and set(users[splits.train_only]) == light
    assert not light & set(users[splits.test])
    for train, valid in splits.folds:
        assert not light & set(users[valid]) and light <= set(users[train])
    # About a fifth of each scored user's rows are test rows.
    share = (data.features.iloc[splits.test][USER].value_counts() / counts).dropna()
    assert 0.15 < share.mean() < 0.3
