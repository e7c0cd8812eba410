"""The ``text`` task: text classification, ranked by macro F1.

Default data: the SMS Spam Collection (Almeida, Gómez Hidalgo and Yamakami,
2011; UCI Machine Learning Repository; CC BY 4.0), bundled with the package.
Users' own CSV or JSONL files work too, binary or multi-class: the text column
is ``--text-column`` (default ``text``), the label column ``--target``
(default ``label``). Each fit trains its own subword tokenizer on its training
rows only; the model families are a fastText-like bag of embeddings, a 1-D
CNN, an LSTM/GRU encoder and a small Transformer encoder. Every family exports
to ONNX, with the tokenizer reimplemented in pure Python
(:mod:`fg_automl_text.onnx_preprocess`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import pandas as pd

from fg_automl_text._config import TEXT_HYPERPARAMETERS
from fg_automl_text._data import (
    DEFAULT_TARGET,
    DEFAULT_TEXT_COLUMN,
    TEXT_COLUMN_OPTION,
    TEXT_FEATURE,
    load_sms_spam,
    read_text_file,
)
from fg_automl_text._models import TEXT_FAMILIES
from fg_automl_text._spec import TextSpec
from finegrain_automl import (
    DataOption,
    Dataset,
    DataSource,
    FitContext,
    FittedModel,
    ModelFamily,
    Space,
    Task,
    hookimpl,
)
from finegrain_automl.space import load_space

if TYPE_CHECKING:
    from finegrain_automl.export import OnnxNetwork
    from finegrain_automl.figures import Figure

__all__ = [
    "DEFAULT_TARGET",
    "DEFAULT_TEXT_COLUMN",
    "TEXT_COLUMN_OPTION",
    "TEXT_FAMILIES",
    "TEXT_FEATURE",
    "TEXT_HYPERPARAMETERS",
    "TextSpec",
    "TextTask",
    "fg_automl_tasks",
]

#: The finegrain-automl plugin API this plugin was written for.
fg_automl_api = "1.0"


class TextTask(Task):
    """Binary or multi-class classification of short texts; macro F1."""

    name = "text"
    description = "Text classification (SMS spam by default): macro F1 over the classes."
    hyperparameters = TEXT_HYPERPARAMETERS
    leaderboard_metrics = ("accuracy",)
    metric = "macro F1 over the classes"
    data_options = (
        DataOption(
            name=TEXT_COLUMN_OPTION,
            help=f"Text column of --data; default: {DEFAULT_TEXT_COLUMN}.",
            predict=True,
        ),
    )

    def model_families(self) -> Mapping[str, ModelFamily]:
        return dict(TEXT_FAMILIES)

    def default_space(self) -> Space:
        return load_space(files(__package__) / "space.yaml")

    def load_default(self, *, seed: int) -> Dataset:
        """Returns the bundled SMS Spam Collection (the same rows for every seed)."""
        return load_sms_spam()

    def read_file(self, source: DataSource) -> Dataset:
        return read_text_file(source)

    def fit(
        self,
        *,
        config: Mapping[str, Any],
        family: ModelFamily,
        family_params: Mapping[str, Any],
        train: Dataset,
        context: FitContext,
    ) -> FittedModel:
        from fg_automl_text._classifier import fit_text_classifier

        return fit_text_classifier(
            config=config, family=family, family_params=family_params, train=train, context=context
        )

    def check_config(
        self, *, config: Mapping[str, Any], family: ModelFamily, family_params: Mapping[str, Any]
    ) -> None:
        from fg_automl_text._classifier import check_text_config

        check_text_config(config=config, family=family, family_params=family_params)

    def metrics(self, data: Dataset, predictions: pd.DataFrame) -> dict[str, float]:
        from fg_automl_text._classifier import text_metrics

        return text_metrics(data.target, predictions, n_classes=len(data.info.get("classes", ())))

    def report_figures(self, model: FittedModel, data: Dataset, *, private: bool) -> Sequence[Figure]:
        """Returns per-class F1 (bars) and the confusion matrix of ``model`` on the test rows ``data``.

        Counts and rates per class only, never a text, so ``private`` changes
        nothing; no figures for rows without a target or no rows.
        """
        from fg_automl_text._figures import text_report_figures

        return text_report_figures(model, data)

    def onnx_network(self, model: FittedModel) -> OnnxNetwork:
        """Returns ``model``'s network on ``token_ids`` and ``mask`` (softmax over the
        classes, the most probable wins) with its tokenizer as the spec of
        :mod:`fg_automl_text.onnx_preprocess`, which tokenises in pure Python
        exactly as ``tokenizers`` does.

        Raises:
            ExportNotSupported: The model's tokenizer uses a feature that
                ``onnx_preprocess`` does not reproduce.
        """
        from fg_automl_text._onnx import text_onnx_network

        return text_onnx_network(model)

    def load_model(self, state: Mapping[str, Any], *, families: Mapping[str, ModelFamily]) -> FittedModel:
        from fg_automl_text._classifier import load_text_classifier

        return load_text_classifier(state, families=families)


@hookimpl
def fg_automl_tasks() -> list[Task]:
    """Registers the text task."""
    return [TextTask()]
