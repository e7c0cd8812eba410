"""The ``disease_risk`` task: who has the disease, ranked by F1 of the disease class.

Default data: the Wisconsin Diagnostic Breast Cancer table bundled with
scikit-learn (569 patients, 30 numeric measurements of cell nuclei), with the
diagnosis as ``"malignant"``/``"benign"`` and malignant, the disease, as the
positive class. Users' own CSV or Parquet files work too, with numeric and
categorical columns and missing values. Preprocessing (imputation included),
the model families and the training loop come from
:mod:`fg_automl_tabular`, shared with the fraud task; the decision
threshold is tuned on training rows only.
"""

from __future__ import annotations

from importlib.resources import files

import pandas as pd

from finegrain_automl import Dataset, Space, Task, hookimpl, load_points, load_space
from fg_automl_tabular import TabularBinaryTask, table_dataset

__all__ = ["DiseaseRiskTask", "fg_automl_tasks"]

#: The finegrain-automl plugin API this plugin was written for.
fg_automl_api = "1.0"

#: Target column of the built-in data and the first default for users' files.
TARGET = "diagnosis"
#: Target columns tried, in order, when a user's file is read without --target.
DEFAULT_TARGETS = (TARGET, "target", "outcome")
#: Diagnosis labels of the built-in data; malignant is the disease (positive class).
MALIGNANT, BENIGN = "malignant", "benign"
#: Name of the built-in data in reports.
DEFAULT_SOURCE = "Wisconsin Diagnostic Breast Cancer (UCI, bundled with scikit-learn)"


class DiseaseRiskTask(TabularBinaryTask):
    """Binary disease-risk prediction from patient measurements; F1 of the disease class."""

    name = "disease_risk"
    description = "Disease risk: F1 of the disease class, threshold tuned on training data; AUROC and Brier."
    leaderboard_metrics = ("auroc", "brier")
    metric = "F1 of the disease class"
    default_targets = DEFAULT_TARGETS

    def default_space(self) -> Space:
        return load_space(files(__package__) / "space.yaml")

    def starting_points(self) -> list[dict]:
        """One usual configuration per model family (``starting_points.yaml``), tried first."""
        return load_points(files(__package__) / "starting_points.yaml")

    def load_default(self, *, seed: int) -> Dataset:
        """Returns the 569 patients of the breast-cancer table (``seed`` is unused:
        the data are real and fixed)."""
        return table_dataset(breast_cancer_frame(), target=TARGET, source_name=DEFAULT_SOURCE)


def breast_cancer_frame() -> pd.DataFrame:
    """Returns the Wisconsin Diagnostic Breast Cancer table with a ``diagnosis`` column.

    scikit-learn encodes the target as 0 = malignant, 1 = benign; here it is
    spelled out as :data:`MALIGNANT`/:data:`BENIGN`, so that the minority class,
    malignant, becomes the positive class and predictions carry readable labels.

    Returns:
        569 rows: the 30 numeric measurements and ``diagnosis``.
    """
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    names = bunch.target_names  # ["malignant", "benign"], indexed by the 0/1 code
    if list(names) != [MALIGNANT, BENIGN]:
        raise RuntimeError(
            f"scikit-learn's breast-cancer target names must be {[MALIGNANT, BENIGN]} (0 = malignant), "
            f"but got {list(names)}; the installed scikit-learn changed the encoding, so update "
            "fg-automl-disease-risk."
        )
    frame = bunch.data.copy()
    frame[TARGET] = names[bunch.target.to_numpy()]
    return frame


@hookimpl
def fg_automl_tasks() -> list[Task]:
    """Registers the disease-risk task."""
    return [DiseaseRiskTask()]
