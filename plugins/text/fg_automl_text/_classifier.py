"""Fitting, applying, scoring, saving and loading a text classifier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from tokenizers import Tokenizer
from torch import nn

from fg_automl_text._config import TextTrainingConfig
from fg_automl_text._data import TEXT_FEATURE
from fg_automl_text._spec import TextSpec
from fg_automl_text._tokenizer import PAD_ID, encode_texts, train_tokenizer
from fg_automl_text._training import TokenBatches, predict_probabilities
from finegrain_automl import DataError, Dataset, FitContext, FittedModel, ModelFamily, saved_family

__all__ = [
    "TextClassifier",
    "check_text_config",
    "fit_text_classifier",
    "load_text_classifier",
    "text_metrics",
]

_STATE_FORMAT = "fg_automl_text.classifier/1"


class TextClassifier(FittedModel):
    """A fitted tokenizer and network, with the original class labels.

    Args:
        family_name: Name of the model family that built ``network``.
        family_params: The family's hyperparameters.
        spec: The input and output sizes ``network`` was built for.
        tokenizer: The tokenizer fitted on the training texts.
        network: The trained network (moved to CPU, eval mode).
        classes: Original label of each class code, in code order.
    """

    def __init__(
        self,
        *,
        family_name: str,
        family_params: Mapping[str, Any],
        spec: TextSpec,
        tokenizer: Tokenizer,
        network: nn.Module,
        classes: Sequence[Any],
    ) -> None:
        self.family_name = family_name
        self.family_params = dict(family_params)
        self.spec = spec
        self.tokenizer = tokenizer
        self.network = network.cpu().eval()
        self.classes = list(classes)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Returns the probability of each class (float64 ``[n, n_classes]``, code order).

        Raises:
            DataError: ``features`` has no :data:`TEXT_FEATURE` column.
        """
        if TEXT_FEATURE not in features.columns:
            raise DataError(
                f"The rows to predict have no {TEXT_FEATURE!r} column (columns: "
                f"{', '.join(map(str, features.columns))}); pass a frame with the texts in {TEXT_FEATURE!r}."
            )
        if len(features) == 0:
            return np.zeros((0, self.spec.n_classes))
        texts = features[TEXT_FEATURE].astype(str)
        missing = np.flatnonzero(texts.isna().to_numpy())
        if len(missing):  # pandas keeps a missing value missing through astype(str)
            raise DataError(
                f"Column {TEXT_FEATURE!r} has no text in {len(missing)} of {len(texts)} rows (first: row "
                f"{missing[0] + 1}, counting from 1); fill in those texts or remove those rows."
            )
        texts = texts.tolist()
        ids, lengths = encode_texts(self.tokenizer, texts, max_length=self.spec.max_length)
        return predict_probabilities(self.network, torch.from_numpy(ids), torch.from_numpy(lengths))

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Returns ``label`` (the original label value), ``probability`` (of that
        label) and ``prediction`` (its int code), indexed like ``features``."""
        probabilities = self.predict_proba(features)
        codes = probabilities.argmax(axis=1).astype(np.int64)
        return pd.DataFrame(
            {
                "label": pd.Series(
                    [self.classes[c] for c in codes], index=features.index, dtype=_label_dtype(self.classes)
                ),
                "probability": probabilities[np.arange(len(codes)), codes],
                "prediction": codes,
            },
            index=features.index,
        )

    def to_state(self) -> dict[str, Any]:
        """Returns the model as tensors, numbers, strings, lists and dicts only."""
        return {
            "format": _STATE_FORMAT,
            "family": self.family_name,
            "family_params": dict(self.family_params),
            "spec": self.spec.to_state(),
            "tokenizer": self.tokenizer.to_str(),
            "classes": list(self.classes),
            "state_dict": {k: v.detach().cpu() for k, v in self.network.state_dict().items()},
        }


def _label_dtype(classes: Sequence[Any]) -> Any:
    """Returns the dtype that keeps the original labels as they were read (``object`` if mixed)."""
    return pd.Series(list(classes)).dtype


def load_text_classifier(state: Mapping[str, Any], *, families: Mapping[str, ModelFamily]) -> TextClassifier:
    """Rebuilds a :class:`TextClassifier` from :meth:`TextClassifier.to_state`.

    Raises:
        UsageError: The state is not a text classifier, or its family is not
            registered (a plugin is missing).
    """
    family = saved_family(state, families=families, expected_format=_STATE_FORMAT)
    name = family.name
    spec = TextSpec(**state["spec"])
    network = families[name].build(spec, **state["family_params"])
    network.load_state_dict(state["state_dict"])
    return TextClassifier(
        family_name=name,
        family_params=state["family_params"],
        spec=spec,
        tokenizer=Tokenizer.from_str(state["tokenizer"]),
        network=network,
        classes=state["classes"],
    )


def fit_text_classifier(
    *,
    config: Mapping[str, Any],
    family: ModelFamily,
    family_params: Mapping[str, Any],
    train: Dataset,
    context: FitContext,
) -> TextClassifier:
    """Trains a tokenizer and a network on ``train``'s texts, and nothing else.

    Args:
        config: The flat sampled configuration; the keys of
            :data:`~._config.TEXT_HYPERPARAMETERS` are read (see
            :class:`TextTrainingConfig` for defaults), others are ignored.
        family: The model family to build.
        family_params: Its hyperparameters, already stripped of ``model.<name>.``.
        train: Training rows: texts in :data:`TEXT_FEATURE`, class codes as
            target, the original labels in ``info["classes"]``.
        context: Seed, threads, accelerator and epoch cap of this fit.

    Returns:
        The fitted model, on CPU, in eval mode.

    Raises:
        SpaceError: A configuration value is out of range.
    """
    options = TextTrainingConfig.from_config(config)
    if train.target is None:
        raise ValueError("fit_text_classifier needs training rows with a target, but train.target is None.")
    classes = list(train.info.get("classes") or range(int(np.max(train.target)) + 1))
    import pytorch_lightning as pl  # only to fit: predict stays free of Lightning's import time

    from fg_automl_text._module import TextClassifierModule

    pl.seed_everything(context.seed, verbose=False)
    torch.set_num_threads(context.num_threads)
    texts = train.features[TEXT_FEATURE].astype(str).tolist()
    tokenizer = train_tokenizer(texts, vocab_size=options.vocab_size, max_length=options.max_length)
    spec = TextSpec(
        vocab_size=tokenizer.get_vocab_size(),
        max_length=options.max_length,
        n_classes=len(classes),
        pad_id=PAD_ID,
    )
    ids, lengths = encode_texts(tokenizer, texts, max_length=options.max_length)
    network = family.build(spec, **family_params)
    batches = TokenBatches(
        torch.from_numpy(ids),
        torch.from_numpy(lengths),
        torch.tensor(np.asarray(train.target, dtype=np.int64)),
        batch_size=options.batch_size,
        seed=context.seed,
    )
    epochs = context.epochs(options.epochs)
    module = TextClassifierModule(network, config=options, total_steps=epochs * len(batches))
    trainer = context.trainer(max_epochs=epochs)
    batches.to(trainer.strategy.root_device)
    trainer.fit(module, train_dataloaders=batches)
    return TextClassifier(
        family_name=family.name,
        family_params=family_params,
        spec=spec,
        tokenizer=tokenizer,
        network=module.network,
        classes=classes,
    )


def text_metrics(target: np.ndarray, predictions: pd.DataFrame, *, n_classes: int) -> dict[str, float]:
    """Scores class-code predictions against class-code targets.

    Returns:
        ``f1``: macro F1, the unweighted mean of the per-class F1 scores over
        the classes present in the targets or the predictions (as
        ``sklearn.metrics.f1_score(average="macro")``); ``accuracy``.
    """
    from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

    y = torch.tensor(np.asarray(target, dtype=np.int64))
    predicted = torch.tensor(np.asarray(predictions["prediction"], dtype=np.int64))
    if len(y) != len(predicted):
        raise ValueError(
            f"target and predictions must have the same rows, but got {len(y)} and {len(predicted)}."
        )
    n_classes = max(n_classes, int(y.max()) + 1, int(predicted.max()) + 1, 2)
    return {
        "f1": float(multiclass_f1_score(predicted, y, num_classes=n_classes, average="macro")),
        "accuracy": float(multiclass_accuracy(predicted, y, num_classes=n_classes, average="micro")),
    }


def check_text_config(
    *, config: Mapping[str, Any], family: ModelFamily, family_params: Mapping[str, Any]
) -> None:
    """Raises if ``config`` could never be fit: a bad training value, or a family
    that cannot be built with ``family_params`` or run on a tiny batch."""
    options = TextTrainingConfig.from_config(config)
    spec = TextSpec(vocab_size=16, max_length=options.max_length, n_classes=3, pad_id=PAD_ID)
    network = family.build(spec, **family_params)
    ids = torch.tensor([[2, 5, 6, 7], [2, 9, 0, 0]])
    mask = ids != PAD_ID
    with torch.no_grad():
        logits = network(ids[:, : options.max_length], mask[:, : options.max_length])
    if tuple(logits.shape) != (2, spec.n_classes):
        raise ValueError(
            f"model family {family.name!r} returned logits of shape {tuple(logits.shape)} for 2 rows and "
            f"3 classes, but [2, 3] is needed. Fix the family's forward."
        )
