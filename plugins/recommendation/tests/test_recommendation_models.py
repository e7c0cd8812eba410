"""The model families: each trains on a sampled configuration, EASE's closed
form, what a fitted model recommends and to whom."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from fg_automl_recommendation import RECOMMENDATION_FAMILIES, RecommendationTask
from fg_automl_recommendation._data import ITEM, USER
from fg_automl_recommendation._networks import ease_closed_form

from finegrain_automl import DataNote, Dataset, FitContext
from finegrain_automl.space import branch_params


def _interactions(n_users: int = 40, n_items: int = 30, per_user: int = 8, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    rows = [(f"u{u}", f"i{i}") for u in range(n_users) for i in rng.choice(n_items, per_user, replace=False)]
    features = pd.DataFrame(rows, columns=[USER, ITEM])
    features["category"] = features[ITEM].str[-1]
    groups = pd.factorize(features[USER])[0]
    return Dataset(features=features, target=None, groups=groups, info={"k": 5, "group_column": "user"})


@pytest.mark.parametrize("family", sorted(RECOMMENDATION_FAMILIES))
@pytest.mark.parametrize("seed", [0, 1])
def test_every_family_trains_a_step_on_a_sampled_configuration(family: str, seed: int) -> None:
    task = RecommendationTask()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    study.enqueue_trial({"model": family})
    config = task.default_space().sample(study.ask())
    name, params = branch_params(config, "model")
    data = _interactions(seed=seed)
    model = task.fit(config=config, family=RECOMMENDATION_FAMILIES[name], family_params=params, train=data,
                     context=FitContext(seed=seed, max_epochs_cap=1))
    lists = model.recommend(["u0", "u1"])
    assert lists.groupby(USER).size().tolist() == [5, 5]
    assert lists["score"].notna().all() and (lists["source"] == "model").all()
    trained = set(data.features.loc[data.features[USER] == "u0", ITEM])
    assert not trained & set(lists.loc[lists[USER] == "u0", ITEM])  # training items excluded
    assert 0.0 <= task.evaluate(model, data)["f1"] <= 1.0


def test_ease_closed_form_matches_its_formula_and_has_a_zero_diagonal() -> None:
    rng = np.random.default_rng(0)
    x = (rng.random((50, 12)) < 0.3).astype(np.float64)
    gram, l2 = x.T @ x, 5.0
    p = np.linalg.inv(gram + l2 * np.eye(12))
    expected = -p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    matrix = ease_closed_form(torch.from_numpy(gram), l2).double().numpy()
    np.testing.assert_allclose(matrix, expected, rtol=1e-5, atol=1e-6)
    # B minimises ||X - X B||^2 + l2 ||B||^2 with diag(B) = 0: the gradient vanishes off the diagonal.
    gradient = -2 * x.T @ (x - x @ matrix) + 2 * l2 * matrix
    np.fill_diagonal(gradient, 0.0)
    assert np.abs(gradient).max() < 1e-6


def test_ease_by_gradient_descent_moves_towards_the_closed_form() -> None:
    task, data = RecommendationTask(), _interactions()
    fits = {
        solver: task.fit(config={"model": "ease", "lr": 0.01, "epochs": epochs, "batch_size": 64},
                         family=RECOMMENDATION_FAMILIES["ease"], family_params={"l2": 10.0, "solver": solver},
                         train=data, context=FitContext(seed=0))
        for solver, epochs in [("closed", 1), ("gradient", 300)]
    }
    closed, learned = (fits[s].network.matrix().detach() for s in ("closed", "gradient"))
    assert torch.corrcoef(torch.stack([closed.ravel(), learned.ravel()]))[0, 1] > 0.9


def test_predict_excludes_the_file_items_and_gives_unknown_users_the_popular_items() -> None:
    task, data = RecommendationTask(), _interactions()
    model = task.fit(config={"model": "ease"}, family=RECOMMENDATION_FAMILIES["ease"],
                     family_params={"l2": 10.0, "solver": "closed"}, train=data, context=FitContext(seed=0))
    counts = data.features[ITEM].value_counts(sort=False)
    popular = sorted(counts.index, key=lambda item: (-counts[item], list(counts.index).index(item)))
    new = pd.DataFrame({USER: ["u0", "stranger", "stranger"], ITEM: ["i3", popular[0], None]})
    with pytest.warns(DataNote, match="1 of 2 users are not in the model's training data"):
        lists = task.prediction_table(model.predict(new))
    assert list(lists.columns) == ["user", "rank", "item", "score", "source"]
    mine = lists[lists[USER] == "u0"]
    assert "i3" not in set(mine[ITEM]) and (mine["source"] == "model").all() and mine["rank"].tolist() == [1, 2, 3, 4, 5]
    stranger = lists[lists[USER] == "stranger"]
    assert stranger[ITEM].tolist() == popular[1:6]  # the most popular less the one the file pairs them with
    assert (stranger["source"] == "popularity").all() and stranger["score"].isna().all()


def test_a_bad_loss_is_rejected_before_any_trial() -> None:
    task = RecommendationTask()
    with pytest.raises(ValueError, match="model.mf.loss: must be one of"):
        task.check_config(config={"model": "mf"}, family=RECOMMENDATION_FAMILIES["mf"], family_params={"loss": "mse"})
