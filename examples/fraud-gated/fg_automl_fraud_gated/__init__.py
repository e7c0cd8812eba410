"""A gated tabular model family for the built-in ``fraud`` task (and ``disease_risk``).

This plugin registers no task: through the ``fg_automl_model_families`` hook
it adds the ``gated_grn`` family (:class:`~._network.GatedTabularNetwork`:
variable selection and Gated Residual Networks, as in the Temporal Fusion
Transformer) to the tabular tasks of ``fg-automl-tabular``, whose families all
read the same :class:`fg_automl_tabular.TabularSpec`. The family brings its
own hyperparameter space (:data:`SPACE`), so once the plugin is installed
``fg-automl space show fraud`` lists it and ``fg-automl search --task fraud``
searches it beside the built-in families.

Importing this module does not import torch (``fg-automl plugins`` stays
fast); building the network does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from finegrain_automl import ModelFamily, hookimpl

if TYPE_CHECKING:
    from fg_automl_tabular import TabularSpec
    from torch import nn

__all__ = ["FAMILY_NAME", "GATED_GRN", "SPACE", "TASKS", "build_gated_grn", "fg_automl_model_families"]

#: The finegrain-automl plugin API this plugin was written for.
fg_automl_api = "1.0"

#: The family's name: its branch under ``model`` in a space.
FAMILY_NAME = "gated_grn"

#: The tasks this plugin adds the family to: those built on ``fg_automl_tabular.TabularBinaryTask``.
TASKS: tuple[str, ...] = ("fraud", "disease_risk")

#: The family's hyperparameters as a search-space fragment, sized for a 2-core CPU: an epoch
#: of 32,000 fraud rows takes 0.8-1.5 s on one core (resmlp: 0.4 s); d_model 64 would take 4-5 s.
SPACE: dict[str, dict[str, list]] = {
    "d_model": {"choice": [16, 32]},
    "n_blocks": {"int": [1, 2]},
    "dropout": {"uniform": [0.0, 0.3]},
    "numeric_embedding": {"choice": ["none", "periodic", "ple"]},
    "n_bins": {"choice": [8, 16, 32]},
    "frequency_scale": {"loguniform": [0.01, 1.0]},
}


def build_gated_grn(
    spec: TabularSpec,
    *,
    d_model: int = 32,
    n_blocks: int = 2,
    dropout: float = 0.1,
    numeric_embedding: str = "none",
    n_bins: int = 16,
    frequency_scale: float = 0.1,
) -> nn.Module:
    """Builds the gated network: column tokens, variable selection, a GRN stack, a linear head.

    Args:
        spec: The input description from the task's fitted preprocessor.
        d_model: Width of every column token and of the GRN stack.
        n_blocks: Gated Residual Networks after the variable selection.
        dropout: Dropout inside every GRN, in ``[0, 1)``.
        numeric_embedding: The numeric columns' tokens: ``"none"`` (a linear
            map per column), ``"periodic"`` or ``"ple"`` (piecewise-linear
            over the training rows' quantile bins).
        n_bins: Bins per numeric column for ``"ple"``.
        frequency_scale: Initial frequency scale for ``"periodic"``.

    Returns:
        A module mapping ``(x_num, x_cat)`` to logits of shape ``[n]``.
    """
    from fg_automl_fraud_gated._network import GatedTabularNetwork

    return GatedTabularNetwork(
        spec,
        d_model=d_model,
        n_blocks=n_blocks,
        dropout=dropout,
        numeric_embedding=numeric_embedding,
        n_bins=n_bins,
        frequency_scale=frequency_scale,
    )


GATED_GRN = ModelFamily(
    name=FAMILY_NAME,
    build=build_gated_grn,
    # Above the MLPs (resmlp, realmlp: 1), level with TabM (2), below the
    # FT-Transformer (3): gates and a selection over the columns, no attention.
    complexity=2,
    description="Gated tabular network: column tokens, TFT-style variable selection, gated residual blocks.",
    space=SPACE,
)


@hookimpl
def fg_automl_model_families(task_name: str) -> list[ModelFamily] | None:
    """Adds :data:`GATED_GRN` to the tasks in :data:`TASKS`; nothing to others."""
    return [GATED_GRN] if task_name in TASKS else None
