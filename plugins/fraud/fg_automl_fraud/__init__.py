"""The ``fraud`` task: card-fraud detection, ranked by F1 of the fraud class.

Default data: a seeded generator of card transactions (:mod:`.generator`).
Users' own CSV or Parquet files work too, including the public credit-card
fraud layout (``Time, V1..V28, Amount, Class``). Preprocessing, the model
families and the training loop come from :mod:`finegrain_automl.tabular`,
shared with the disease-risk task; the decision threshold is tuned on the
training rows only.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from typing import Any

import pandas as pd

from finegrain_automl import DataSource, Dataset, FitContext, FittedModel, ModelFamily, Space, Task, hookimpl
from finegrain_automl.space import load_space
from finegrain_automl.tabular import TABULAR_FAMILIES, TABULAR_HYPERPARAMETERS, read_table, table_dataset

__all__ = ["FraudTask", "fg_automl_tasks"]

#: Target column of the built-in data and the default for users' files.
TARGET = "is_fraud"
#: Target column of the public credit-card fraud data set.
CREDIT_CARD_TARGET = "Class"
#: Rows of the built-in data set.
DEFAULT_ROWS = 50_000


class FraudTask(Task):
    """Binary fraud detection on card transactions; F1 of the fraud class."""

    name = "fraud"
    description = "Card-fraud detection: F1 of the fraud class, threshold tuned on training data."
    hyperparameters = TABULAR_HYPERPARAMETERS
    leaderboard_metrics = ("auroc", "average_precision")

    def model_families(self) -> Mapping[str, ModelFamily]:
        return dict(TABULAR_FAMILIES)

    def default_space(self) -> Space:
        return load_space(files(__package__) / "space.yaml")

    def load_default(self, *, seed: int) -> Dataset:
        from fg_automl_fraud.generator import generate_transactions

        frame = generate_transactions(n_rows=DEFAULT_ROWS, seed=seed)
        return table_dataset(frame, target=TARGET, source_name=f"generated card transactions (seed {seed})")

    def read_file(self, source: DataSource) -> Dataset:
        return read_table(source, default_target=(TARGET, CREDIT_CARD_TARGET))

    def fit(
        self,
        *,
        config: Mapping[str, Any],
        family: ModelFamily,
        family_params: Mapping[str, Any],
        train: Dataset,
        context: FitContext,
    ) -> FittedModel:
        from finegrain_automl.tabular import fit_binary_classifier

        return fit_binary_classifier(
            config=config, family=family, family_params=family_params, train=train, context=context
        )

    def check_config(
        self, *, config: Mapping[str, Any], family: ModelFamily, family_params: Mapping[str, Any]
    ) -> None:
        from finegrain_automl.tabular import check_binary_config

        check_binary_config(config=config, family=family, family_params=family_params)

    def metrics(self, data: Dataset, predictions: pd.DataFrame) -> dict[str, float]:
        from finegrain_automl.tabular import binary_metrics

        return binary_metrics(data.target, predictions)

    def load_model(self, state: Mapping[str, Any], *, families: Mapping[str, ModelFamily]) -> FittedModel:
        from finegrain_automl.tabular import load_binary_classifier

        return load_binary_classifier(state, families=families)


@hookimpl
def fg_automl_tasks() -> list[Task]:
    """Registers the fraud task."""
    return [FraudTask()]
