"""The ``fraud`` task: card-fraud detection, ranked by F1 of the fraud class.

Default data: a seeded generator of card transactions (:mod:`.generator`).
Users' own CSV or Parquet files work too, including the public credit-card
fraud layout (``Time, V1..V28, Amount, Class``). Preprocessing, the model
families and the training loop come from :mod:`fg_automl_tabular`,
shared with the disease-risk task; the decision threshold is tuned on the
training rows only.
"""

from __future__ import annotations

from importlib.resources import files

from finegrain_automl import Dataset, Space, Task, hookimpl, load_points, load_space
from fg_automl_tabular import TabularBinaryTask, table_dataset

__all__ = ["FraudTask", "fg_automl_tasks"]

#: The finegrain-automl plugin API this plugin was written for.
fg_automl_api = "1.0"

#: Target column of the built-in data and the default for users' files.
TARGET = "is_fraud"
#: Target column of the public credit-card fraud data set.
CREDIT_CARD_TARGET = "Class"
#: Rows of the built-in data set.
DEFAULT_ROWS = 50_000


class FraudTask(TabularBinaryTask):
    """Binary fraud detection on card transactions; F1 of the fraud class."""

    name = "fraud"
    description = "Card-fraud detection: F1 of the fraud class, threshold tuned on training data."
    leaderboard_metrics = ("auroc", "average_precision")
    metric = "F1 of the fraud class"
    default_targets = (TARGET, CREDIT_CARD_TARGET)

    def default_space(self) -> Space:
        return load_space(files(__package__) / "space.yaml")

    def starting_points(self) -> list[dict]:
        """One usual configuration per model family (``starting_points.yaml``), tried first."""
        return load_points(files(__package__) / "starting_points.yaml")

    def load_default(self, *, seed: int) -> Dataset:
        from fg_automl_fraud.generator import generate_transactions

        frame = generate_transactions(n_rows=DEFAULT_ROWS, seed=seed)
        return table_dataset(frame, target=TARGET, source_name=f"generated card transactions (seed {seed})")


@hookimpl
def fg_automl_tasks() -> list[Task]:
    """Registers the fraud task."""
    return [FraudTask()]
