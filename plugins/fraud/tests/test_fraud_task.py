"""The fraud task: discovery, data, families, F1 definition, safe saving."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from fg_automl_fraud import FraudTask
from fg_automl_fraud.generator import generate_transactions
from sklearn.metrics import f1_score

from finegrain_automl import DataSource, FitContext
from finegrain_automl.plugins import make_registry


@pytest.fixture(scope="module")
def registry():
    return make_registry(allow=["fraud"])


def test_fraud_is_discovered_through_its_entry_point(registry) -> None:
    info = registry.plugins["fraud"]
    assert info.errors == []
    assert info.distribution == "fg-automl-fraud" and info.version == "0.1.0"
    assert info.tasks == ["fraud"]
    assert {"linear", "resmlp", "ft_transformer"} <= set(registry.families["fraud"])


def test_default_data_is_tens_of_thousands_of_rows_near_half_a_percent_fraud() -> None:
    data = FraudTask().load_default(seed=0)
    assert 20_000 <= len(data) <= 100_000
    assert 0.003 <= data.target.mean() <= 0.007
    assert data.info["target"] == "is_fraud"
    assert "merchant_category" in data.info["categorical_columns"]
    assert data.features.isna().any().any(), "the built-in data should have missing values"


def test_credit_card_layout_is_read_with_its_class_column(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({"Time": np.sort(rng.uniform(0, 172_800, n))})
    for i in range(1, 29):
        frame[f"V{i}"] = rng.normal(size=n)
    frame["Amount"] = rng.lognormal(3, 1.5, n).round(2)
    frame["Class"] = (rng.random(n) < 0.05).astype(int)
    frame.loc[:5, "Class"] = 1
    path = tmp_path / "creditcard.csv"
    frame.to_csv(path, index=False)
    data = FraudTask().read_file(DataSource(path=path))  # no --target: `Class` is recognised
    assert data.info["target"] == "Class"
    assert list(data.features.columns) == ["Time", *[f"V{i}" for i in range(1, 29)], "Amount"]
    assert data.target.sum() == frame["Class"].sum()


def test_parquet_with_categorical_columns_and_missing_values(tmp_path: Path) -> None:
    frame = generate_transactions(n_rows=2_000, fraud_rate=0.05, seed=1)
    path = tmp_path / "tx.parquet"
    frame.to_parquet(path)
    data = FraudTask().read_file(DataSource(path=path))
    assert len(data) == len(frame) and data.target.sum() == frame["is_fraud"].sum()
    assert data.info["missing_values"], "missing values are reported"


@pytest.mark.parametrize("family", ["linear", "resmlp", "ft_transformer"])
def test_each_family_trains_and_its_f1_matches_scikit_learn(registry, family: str, tmp_path: Path) -> None:
    task = registry.task("fraud")
    families = registry.families["fraud"]
    data = task.read_file(DataSource(path=_small_csv(tmp_path)))
    train, valid = data.take(np.arange(0, 1500)), data.take(np.arange(1500, len(data)))
    space = task.default_space()
    config = {"epochs": 1, "batch_size": 256, "lr": 3e-3, "imbalance": "class_weight",
              "imbalance.class_weight.power": 0.5, "model": family}
    params = {"linear": {"embedding_dim": 2}, "resmlp": {"hidden": 32, "depth": 1},
              "ft_transformer": {"d_token": 16, "n_layers": 1}}[family]
    assert all(f"model.{family}.{key}" in space.paths() for key in params)
    model = task.fit(config=config, family=families[family], family_params=params, train=train,
                     context=FitContext(seed=0))
    predictions = model.predict(valid.features)
    metrics = task.metrics(valid, predictions)
    assert metrics["f1"] == pytest.approx(f1_score(valid.target, predictions["prediction"], zero_division=0))
    assert predictions["probability"].between(0, 1).all()

    # Saved state loads with weights_only=True and predicts the same.
    buffer = io.BytesIO()
    torch.save(model.to_state(), buffer)
    buffer.seek(0)
    restored = task.load_model(torch.load(buffer, weights_only=True), families=families)
    again = restored.predict(valid.features)
    np.testing.assert_allclose(again["probability"], predictions["probability"], rtol=1e-5, atol=1e-6)
    assert (again["label"] == predictions["label"]).all()


def _small_csv(tmp_path: Path) -> Path:
    path = tmp_path / "small.csv"
    generate_transactions(n_rows=2_000, fraud_rate=0.05, seed=2).to_csv(path, index=False)
    return path


def test_group_column_keeps_each_customer_on_one_side_of_every_split(tmp_path) -> None:
    """Several transactions of one customer: --group-column keeps them out of each other's folds."""
    from finegrain_automl.api import DataOptions, prepare_search
    from finegrain_automl.plugins import make_registry
    from finegrain_automl.search import SearchSettings

    frame = generate_transactions(n_rows=1_500, fraud_rate=0.05, seed=2)
    frame.insert(0, "customer", [f"c{i % 300}" for i in range(len(frame))])
    path = tmp_path / "tx.csv"
    frame.to_csv(path, index=False)
    prepared = prepare_search(
        make_registry(), task_name="fraud", settings=SearchSettings(trials=1, folds=3, repeats=1, dashboard=False),
        data=DataOptions(path=path, options={"group_column": "customer"}),
    )
    assert prepared.data_options == {"group_column": "customer"}
    assert prepared.split == "grouped by customer" and "customer" not in prepared.data.features
    groups, splits = prepared.data.groups, prepared.splits
    assert set(groups[splits.test]).isdisjoint(groups[splits.development])
    for train, valid in splits.folds:
        assert set(groups[train]).isdisjoint(groups[valid])
