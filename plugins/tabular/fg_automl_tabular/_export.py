"""A fitted tabular binary classifier as ``fg-automl export --format onnx`` needs it.

The network is exported as it is (every family maps ``(x_num, x_cat)`` to one
logit per row) except TabM, whose package stacks its inputs with
``torch.column_stack``, an operator ONNX lacks: :class:`_TabMForExport` runs
the same submodules with ``torch.cat``. The preprocessing travels as
:mod:`fg_automl_tabular.onnx_preprocess` (numpy and pandas only) with the
statistics the fitted preprocessor saved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fg_automl_tabular import onnx_preprocess
from fg_automl_tabular._binary import TabularBinaryModel
from fg_automl_tabular._networks import TabMNetwork
from fg_automl_tabular._preprocess import TabularPreprocessor
from finegrain_automl.data import plain_value
from finegrain_automl.export import ExportNotSupported, OnnxNetwork

__all__ = ["onnx_network", "preprocess_spec"]

#: The preprocessor's saved statistics that :func:`onnx_preprocess.preprocess` reads.
_SPEC_KEYS = (
    "scaling", "clip", "numeric_columns", "median", "use_log", "mean", "std", "indicator", "quantiles",
    "categorical_columns", "vocabularies",
)


def onnx_network(model: Any) -> OnnxNetwork:
    """The network of a :class:`TabularBinaryModel`, its threshold, its labels and its preprocessing.

    Raises:
        ExportNotSupported: ``model`` is not a tabular binary classifier.
    """
    if not isinstance(model, TabularBinaryModel):
        raise ExportNotSupported(
            f"a tabular task exports TabularBinaryModel networks, but got a {type(model).__name__}."
        )
    spec = model.preprocessor.spec
    example = {
        "x_num": np.zeros((2, spec.n_numeric), dtype=np.float32),
        "x_cat": np.zeros((2, len(spec.cardinalities)), dtype=np.int64),  # code 0: unknown, in every column
    }
    return OnnxNetwork(
        module=_exportable(model.network).eval(),
        inputs=example,
        activation="sigmoid",
        decision={"threshold": model.threshold},
        classes=[plain_value(model.negative_label), plain_value(model.positive_label)],
        spec=preprocess_spec(model.preprocessor),
        preprocess=Path(onnx_preprocess.__file__),
    )


def preprocess_spec(preprocessor: TabularPreprocessor) -> dict[str, Any]:
    """The fitted statistics :func:`onnx_preprocess.preprocess` needs (JSON: lists, numbers, strings)."""
    state = preprocessor.to_state()
    return {"format": onnx_preprocess.FORMAT, **{key: state[key] for key in _SPEC_KEYS}}


def _exportable(network: nn.Module) -> nn.Module:
    return _TabMForExport(network) if isinstance(network, TabMNetwork) else network


class _TabMForExport(nn.Module):
    """:class:`TabMNetwork` in evaluation, with ``tabm.TabM.forward``'s
    ``torch.column_stack`` of the flattened inputs written as ``torch.cat``
    (the same values; ONNX has no ``column_stack``). Same submodules, same weights."""

    def __init__(self, network: TabMNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        tabm, parts = self.network.model, []
        if self.network.n_numeric:
            parts.append(x_num if tabm.num_module is None else tabm.num_module(x_num))
        if self.network.n_categorical:
            parts.append(tabm.cat_module(x_cat))
        x = tabm.backbone(tabm.ensemble_view(torch.cat([part.flatten(1) for part in parts], dim=1)))
        if tabm.output is not None:
            x = tabm.output(x)
        logits = x.squeeze(-1)  # [n, k]: one per member
        return torch.logit(torch.sigmoid(logits).mean(dim=1), eps=1e-7)
