"""The churn task as the core sees it: discovery, built-in data, users' files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fg_automl_churn import ChurnTask
from fg_automl_churn.generator import generate_customers

from finegrain_automl import API_VERSION, DataSource
from finegrain_automl.plugins import make_registry


def test_churn_is_discovered_through_its_entry_point() -> None:
    registry = make_registry(allow=["churn"])
    info = registry.plugins["churn"]
    assert info.errors == []
    assert info.distribution == "fg-automl-churn" and info.version == "0.1.0"
    assert info.tasks == ["churn"]
    # The families are the shared toolkit's, with nothing of the plugin's own.
    assert set(registry.families["churn"]) == {"linear", "resmlp", "realmlp", "tabm", "ft_transformer"}


def test_the_module_declares_the_cores_plugin_api() -> None:
    import fg_automl_churn

    assert fg_automl_churn.fg_automl_api == "1.0"
    assert API_VERSION.split(".")[0] == fg_automl_churn.fg_automl_api.split(".")[0]


def test_built_in_data_is_5000_customers_with_categories_and_missing_values() -> None:
    data = ChurnTask().load_default(seed=0)
    assert len(data) == 5_000
    assert 0.15 <= data.target.mean() <= 0.25
    assert data.info["target"] == "churned"
    assert {"contract", "internet_service", "payment_method"} == set(data.info["categorical_columns"])
    assert set(data.info["missing_values"]) == {"total_charges", "satisfaction_score"}


def test_a_users_parquet_is_read_with_the_churned_column_by_default(tmp_path: Path) -> None:
    frame = generate_customers(n_rows=500, seed=3)
    path = tmp_path / "customers.parquet"
    frame.to_parquet(path)
    data = ChurnTask().read_file(DataSource(path=path))
    assert data.info["target"] == "churned"
    assert list(data.features.columns) == list(frame.columns[:-1])
    assert data.target.sum() == frame["churned"].sum()


def test_a_yes_no_churn_column_is_the_fallback_target_with_yes_positive(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "customerID": [f"{i:04d}-ABCD" for i in range(300)],
            "tenure": rng.integers(0, 72, 300),
            "Contract": rng.choice(["Month-to-month", "One year", "Two year"], 300),
            "Churn": np.where(rng.random(300) < 0.25, "Yes", "No"),
        }
    )
    path = tmp_path / "telco.csv"
    frame.to_csv(path, index=False)
    data = ChurnTask().read_file(DataSource(path=path, drop_columns=("customerID",)))
    assert data.info["target"] == "Churn" and data.info["positive_label"] == "Yes"
    assert list(data.features.columns) == ["tenure", "Contract"]
    assert data.target.sum() == (frame["Churn"] == "Yes").sum()


def test_default_space_lists_the_families_of_its_starting_points() -> None:
    task = ChurnTask()
    space = task.default_space()
    assert set(space.branches("model")) == {"linear", "resmlp", "tabm", "ft_transformer"}
    assert [point["model"] for point in task.starting_points()] == [
        "ft_transformer",
        "resmlp",
        "tabm",
        "linear",
    ]


@pytest.mark.parametrize("seed", [0, 5])
def test_built_in_data_follows_the_seed(seed: int) -> None:
    a, b = ChurnTask().load_default(seed=seed), ChurnTask().load_default(seed=seed)
    pd.testing.assert_frame_equal(a.features, b.features)
    assert a.info["source"] == f"generated subscribers (seed {seed})"
