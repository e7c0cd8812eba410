"""Tabular binary classification shared by task plugins (fraud, disease risk).

A task plugin delegates to these functions::

    class FraudTask(Task):
        hyperparameters = TABULAR_HYPERPARAMETERS

        def model_families(self):
            return dict(TABULAR_FAMILIES)

        def read_file(self, source):
            return read_table(source, default_target="is_fraud")

        def fit(self, *, config, family, family_params, train, context):
            return fit_binary_classifier(config=config, family=family,
                                         family_params=family_params, train=train, context=context)

        def metrics(self, data, predictions):
            return binary_metrics(data.target, predictions)

        def load_model(self, state, *, families):
            return load_binary_classifier(state, families=families)

Importing this package does not import torch; the names that need it
(preprocessing, fitting, metrics) load their module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from finegrain_automl.tabular._config import (
    IMBALANCE_STRATEGIES,
    TABULAR_HYPERPARAMETERS,
    BinaryTrainingConfig,
)
from finegrain_automl.tabular._io import SUPPORTED_SUFFIXES, read_table, table_dataset
from finegrain_automl.tabular._models import (
    FT_TRANSFORMER,
    RESMLP,
    TABULAR_FAMILIES,
    TabularSpec,
    build_ft_transformer,
    build_resmlp,
)

if TYPE_CHECKING:
    from finegrain_automl.tabular._binary import (
        TabularBinaryModel,
        binary_labels,
        check_binary_config,
        fit_binary_classifier,
        load_binary_classifier,
    )
    from finegrain_automl.tabular._metrics import best_f1_threshold, binary_metrics
    from finegrain_automl.tabular._preprocess import TabularPreprocessor

__all__ = [
    "FT_TRANSFORMER",
    "IMBALANCE_STRATEGIES",
    "RESMLP",
    "SUPPORTED_SUFFIXES",
    "TABULAR_FAMILIES",
    "TABULAR_HYPERPARAMETERS",
    "BinaryTrainingConfig",
    "TabularBinaryModel",
    "TabularPreprocessor",
    "TabularSpec",
    "best_f1_threshold",
    "binary_labels",
    "binary_metrics",
    "check_binary_config",
    "build_ft_transformer",
    "build_resmlp",
    "fit_binary_classifier",
    "load_binary_classifier",
    "read_table",
    "table_dataset",
]

# Names whose modules import torch, loaded on first access (PEP 562).
_LAZY = {
    "TabularBinaryModel": "_binary",
    "binary_labels": "_binary",
    "check_binary_config": "_binary",
    "fit_binary_classifier": "_binary",
    "load_binary_classifier": "_binary",
    "best_f1_threshold": "_metrics",
    "binary_metrics": "_metrics",
    "TabularPreprocessor": "_preprocess",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
