"""The ``churn`` task: which subscribers will leave, ranked by F1 of the churn class.

An example of a third-party task plugin built on the shared tabular toolkit
(:mod:`fg_automl_tabular`): the toolkit's :class:`~fg_automl_tabular.TabularBinaryTask`
brings the file reader, preprocessing, model families, training, metrics and
threshold tuning; this module adds the task's name, its default space and
starting points, its built-in data (a seeded generator of subscribers,
:mod:`.generator`) and the usual names of its target column.
"""

from __future__ import annotations

from importlib.resources import files

from fg_automl_tabular import TabularBinaryTask, table_dataset

from finegrain_automl import Dataset, Space, Task, hookimpl, load_points, load_space

__all__ = ["ChurnTask", "fg_automl_tasks"]

#: The finegrain-automl plugin API this plugin was written for.
fg_automl_api = "1.0"

#: Target column of the built-in data and the first default for users' files.
TARGET = "churned"
#: Target columns tried, in order, when a user's file is read without --target
#: (``Churn``, holding ``Yes``/``No``, is the public telecom-churn layout).
DEFAULT_TARGETS = (TARGET, "Churn")


class ChurnTask(TabularBinaryTask):
    """Binary churn prediction from a subscriber table; F1 of the churn class."""

    name = "churn"
    description = "Customer churn: F1 of the churn class, threshold tuned on training data."
    leaderboard_metrics = ("auroc", "average_precision")
    metric = "F1 of the churn class"
    default_targets = DEFAULT_TARGETS

    def default_space(self) -> Space:
        return load_space(files(__package__) / "space.yaml")

    def starting_points(self) -> list[dict]:
        """One usual configuration per model family (``starting_points.yaml``), tried first."""
        return load_points(files(__package__) / "starting_points.yaml")

    def load_default(self, *, seed: int) -> Dataset:
        """Returns 5,000 generated subscribers, about 20 % of them churners (seeded)."""
        from fg_automl_churn.generator import generate_customers

        frame = generate_customers(seed=seed)
        return table_dataset(frame, target=TARGET, source_name=f"generated subscribers (seed {seed})")


@hookimpl
def fg_automl_tasks() -> list[Task]:
    """Registers the churn task."""
    return [ChurnTask()]
