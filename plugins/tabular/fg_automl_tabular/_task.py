"""A ready-made Task for binary classification of tables.

A tabular task plugin subclasses :class:`TabularBinaryTask` and supplies only
what is its own: name, description, default space, built-in data and the
target column names its users' files usually have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from finegrain_automl.data import Dataset, DataSource
from finegrain_automl.options import DataOption
from fg_automl_tabular._config import TABULAR_HYPERPARAMETERS
from fg_automl_tabular._io import GROUP_COLUMN_OPTION, read_table
from fg_automl_tabular._models import TABULAR_FAMILIES
from finegrain_automl.task import FitContext, FittedModel, ModelFamily, Task

if TYPE_CHECKING:
    from finegrain_automl.export import OnnxNetwork
    from finegrain_automl.figures import Figure

__all__ = ["TabularBinaryTask"]


class TabularBinaryTask(Task):
    """Binary classification of a table, ranked by F1 of the positive class.

    Preprocessing is fit on training rows, the families are ``linear``,
    ``resmlp`` and ``ft_transformer``, class imbalance is part of the space,
    and the decision threshold is tuned on training data only.

    Class attributes:
        default_targets: Target columns tried, in order, when a user's file is
            read without ``--target``.
    """

    hyperparameters = TABULAR_HYPERPARAMETERS
    default_targets: ClassVar[tuple[str, ...]] = ()
    data_options = (
        DataOption(
            name=GROUP_COLUMN_OPTION,
            help="Column of the entity each row belongs to (a customer, a patient): its rows stay on one side "
            "of the test split and of every fold, and it is not a feature.",
        ),
    )

    def model_families(self) -> Mapping[str, ModelFamily]:
        return dict(TABULAR_FAMILIES)

    def read_file(self, source: DataSource) -> Dataset:
        return read_table(source, default_target=self.default_targets or None)

    def fit(
        self,
        *,
        config: Mapping[str, Any],
        family: ModelFamily,
        family_params: Mapping[str, Any],
        train: Dataset,
        context: FitContext,
    ) -> FittedModel:
        from fg_automl_tabular._binary import fit_binary_classifier

        return fit_binary_classifier(
            config=config, family=family, family_params=family_params, train=train, context=context
        )

    def check_config(
        self, *, config: Mapping[str, Any], family: ModelFamily, family_params: Mapping[str, Any]
    ) -> None:
        from fg_automl_tabular._binary import check_binary_config

        check_binary_config(config=config, family=family, family_params=family_params)

    def metrics(self, data: Dataset, predictions: pd.DataFrame) -> dict[str, float]:
        from fg_automl_tabular._metrics import binary_metrics

        return binary_metrics(data.target, predictions)

    def fit_decision(self, probabilities: np.ndarray, target: np.ndarray) -> dict[str, Any]:
        """The F1-best threshold of the positive-class probabilities (column 1)."""
        from fg_automl_tabular._metrics import best_f1_threshold

        return {"threshold": best_f1_threshold(target, np.asarray(probabilities)[:, 1])}

    def predictions_from_probabilities(
        self, probabilities: np.ndarray, *, decision: Mapping[str, Any], classes: Sequence[Any], index: pd.Index
    ) -> pd.DataFrame:
        """Positive where the positive-class probability reaches the rule's threshold."""
        from fg_automl_tabular._binary import binary_predictions

        return binary_predictions(
            np.asarray(probabilities)[:, 1], threshold=decision["threshold"], classes=classes, index=index
        )

    def report_figures(self, model: FittedModel, data: Dataset, *, private: bool) -> Sequence[Figure]:
        """The precision-recall curve of the positive class with the model's threshold
        marked, the confusion matrix at that threshold and a calibration curve, on
        ``data`` (the test rows). Aggregates only, so the same for ``private`` data;
        no images. Fewer figures for rows that cannot show one (no positive row)."""
        from fg_automl_tabular._figures import binary_report_figures

        return binary_report_figures(model, data)

    def onnx_network(self, model: FittedModel) -> OnnxNetwork:
        """The model's network on ``(x_num, x_cat)``, its threshold and labels, and its
        preprocessing as :mod:`fg_automl_tabular.onnx_preprocess` (numpy and pandas
        only) with the fitted preprocessor's statistics. Every family exports."""
        from fg_automl_tabular._export import onnx_network

        return onnx_network(model)

    def load_model(self, state: Mapping[str, Any], *, families: Mapping[str, ModelFamily]) -> FittedModel:
        from fg_automl_tabular._binary import load_binary_classifier

        return load_binary_classifier(state, families=families)
