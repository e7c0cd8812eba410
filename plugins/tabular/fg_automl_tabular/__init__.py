"""Tabular binary classification shared by task plugins (fraud, disease risk).

A task plugin subclasses :class:`TabularBinaryTask` and adds only its own
name, description, default space, built-in data and usual target names::

    class FraudTask(TabularBinaryTask):
        name = "fraud"
        default_targets = ("is_fraud", "Class")

        def default_space(self):
            return load_space(files(__package__) / "space.yaml")

        def load_default(self, *, seed):
            return table_dataset(generate(seed=seed), target="is_fraud", source_name="...")

Importing this package does not import torch; the names that need it
(preprocessing, fitting, metrics) load their module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fg_automl_tabular._config import (
    IMBALANCE_STRATEGIES,
    NUMERIC_SCALINGS,
    TABULAR_HYPERPARAMETERS,
    BinaryTrainingConfig,
)
from fg_automl_tabular._io import SUPPORTED_SUFFIXES, read_table, table_dataset
from fg_automl_tabular._models import (
    FT_TRANSFORMER,
    LINEAR,
    NUMERIC_EMBEDDING_ARGS,
    REALMLP,
    RESMLP,
    TABM,
    TABULAR_FAMILIES,
    build_ft_transformer,
    build_linear,
    build_realmlp,
    build_resmlp,
    build_tabm,
)
from fg_automl_tabular._spec import TabularSpec

if TYPE_CHECKING:
    from fg_automl_tabular._binary import (
        TabularBinaryModel,
        binary_labels,
        check_binary_config,
        fit_binary_classifier,
        load_binary_classifier,
    )
    from fg_automl_tabular._embeddings import make_numeric_embedding
    from fg_automl_tabular._metrics import best_f1_threshold, binary_metrics
    from fg_automl_tabular._networks import CategoricalEmbedding, NumericEmbeddingOptions
    from fg_automl_tabular._preprocess import TabularPreprocessor
    from fg_automl_tabular._task import TabularBinaryTask

__all__ = [
    "FT_TRANSFORMER",
    "LINEAR",
    "IMBALANCE_STRATEGIES",
    "NUMERIC_EMBEDDING_ARGS",
    "NUMERIC_SCALINGS",
    "REALMLP",
    "RESMLP",
    "TABM",
    "SUPPORTED_SUFFIXES",
    "TABULAR_FAMILIES",
    "TABULAR_HYPERPARAMETERS",
    "BinaryTrainingConfig",
    "CategoricalEmbedding",
    "NumericEmbeddingOptions",
    "TabularBinaryModel",
    "TabularBinaryTask",
    "TabularPreprocessor",
    "TabularSpec",
    "best_f1_threshold",
    "binary_labels",
    "binary_metrics",
    "check_binary_config",
    "build_ft_transformer",
    "build_linear",
    "build_realmlp",
    "build_resmlp",
    "build_tabm",
    "fit_binary_classifier",
    "load_binary_classifier",
    "make_numeric_embedding",
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
    "TabularBinaryTask": "_task",
    # Building blocks for families other plugins add to tabular tasks.
    "CategoricalEmbedding": "_networks",
    "NumericEmbeddingOptions": "_networks",
    "make_numeric_embedding": "_embeddings",
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
