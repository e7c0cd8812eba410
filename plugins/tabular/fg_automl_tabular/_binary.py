"""Fitting, applying, saving and loading a tabular binary classifier.

Applying and loading a model needs torch only; PyTorch Lightning (seconds to
import) is imported when a model is fit, so ``fg-automl predict`` starts fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from finegrain_automl.data import Dataset, plain_value
from fg_automl_tabular._config import BinaryTrainingConfig
from fg_automl_tabular._metrics import DEFAULT_THRESHOLD, best_f1_threshold
from fg_automl_tabular._spec import TabularSpec
from fg_automl_tabular._preprocess import TabularPreprocessor
from finegrain_automl.task import FitContext, FittedModel, ModelFamily, saved_family

__all__ = [
    "TabularBinaryModel",
    "binary_labels",
    "binary_predictions",
    "fit_binary_classifier",
    "load_binary_classifier",
]

_STATE_FORMAT = "fg_automl_tabular.binary/1"
_PREDICT_BATCH = 8192
#: Inner folds whose out-of-fold predictions set the threshold of a final refit.
CROSS_FIT_FOLDS = 3


class TabularBinaryModel(FittedModel):
    """A fitted tabular binary classifier with its tuned decision threshold.

    Args:
        family_name: Name of the model family that built ``network``.
        family_params: The family's hyperparameters.
        preprocessor: The fitted preprocessor.
        network: The trained network (CPU, eval mode).
        threshold: Rows with positive probability ``>= threshold`` are positive.
        positive_label: Original value of the positive class.
        negative_label: Original value of the other class.
        threshold_source: ``"holdout"`` when the threshold was chosen on the
            inner held-out part, ``"training"`` when that part could not
            choose one (too few positives) and all training rows were used.
    """

    def __init__(
        self,
        *,
        family_name: str,
        family_params: Mapping[str, Any],
        preprocessor: TabularPreprocessor,
        network: nn.Module,
        threshold: float,
        positive_label: Any = 1,
        negative_label: Any = 0,
        threshold_source: str = "holdout",
    ) -> None:
        self.family_name = family_name
        self.family_params = dict(family_params)
        self.preprocessor = preprocessor
        self.network = network.cpu().eval()
        self.threshold = float(threshold)
        self.positive_label = positive_label
        self.negative_label = negative_label
        self.threshold_source = threshold_source
        self.classes = [negative_label, positive_label]

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Returns ``[P(negative), P(positive)]`` per row (float64 ``[n, 2]``)."""
        positive = self.predict_probability(features)
        return np.stack([1.0 - positive, positive], axis=1)

    def predict_probability(self, features: pd.DataFrame) -> np.ndarray:
        """Returns the positive-class probability of each row (float64 ``[n]``)."""
        x_num, x_cat = self.preprocessor.transform(features)
        return predict_probabilities(self.network, x_num, x_cat)

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Returns ``label`` (original label values at the tuned threshold),
        ``probability`` (of the positive class) and ``prediction`` (0/1),
        indexed like ``features``.

        Raises:
            DataError: ``features`` lacks a column the model was trained on.
        """
        return binary_predictions(
            self.predict_probability(features), threshold=self.threshold, classes=self.classes, index=features.index
        )

    def to_state(self) -> dict[str, Any]:
        """Returns the model as tensors, numbers, strings, lists and dicts only."""
        return {
            "format": _STATE_FORMAT,
            "family": self.family_name,
            "family_params": {k: plain_value(v) for k, v in self.family_params.items()},
            "preprocessor": self.preprocessor.to_state(),
            "state_dict": {k: v.detach().cpu() for k, v in self.network.state_dict().items()},
            "threshold": self.threshold,
            "threshold_source": self.threshold_source,
            "positive_label": plain_value(self.positive_label),
            "negative_label": plain_value(self.negative_label),
        }


def binary_predictions(
    probability: np.ndarray, *, threshold: float, classes: Sequence[Any], index: pd.Index
) -> pd.DataFrame:
    """``label`` (``classes[1]`` at ``probability >= threshold``, else ``classes[0]``),
    ``probability`` (of the positive class) and ``prediction`` (0/1), indexed by ``index``."""
    decision = np.asarray(probability) >= threshold
    return pd.DataFrame(
        {
            "label": np.where(decision, classes[1], classes[0]),
            "probability": probability,
            "prediction": decision.astype(np.int64),
        },
        index=index,
    )


def load_binary_classifier(
    state: Mapping[str, Any], *, families: Mapping[str, ModelFamily]
) -> TabularBinaryModel:
    """Rebuilds a :class:`TabularBinaryModel` from its :meth:`~TabularBinaryModel.to_state`.

    Args:
        state: The saved state (as ``torch.load(..., weights_only=True)`` gives it).
        families: The model families registered for the task, by name.

    Raises:
        UsageError: The state is not a tabular binary model, or its family is
            not registered (a plugin is missing).
    """
    family = saved_family(state, families=families, expected_format=_STATE_FORMAT)
    name = family.name
    preprocessor = TabularPreprocessor.from_state(state["preprocessor"])
    network = families[name].build(preprocessor.spec, **state["family_params"])
    network.load_state_dict(state["state_dict"])
    return TabularBinaryModel(
        family_name=name,
        family_params=state["family_params"],
        preprocessor=preprocessor,
        network=network,
        threshold=state["threshold"],
        positive_label=state["positive_label"],
        negative_label=state["negative_label"],
        threshold_source=state.get("threshold_source", "holdout"),
    )


def fit_binary_classifier(
    *,
    config: Mapping[str, Any],
    family: ModelFamily,
    family_params: Mapping[str, Any],
    train: Dataset,
    context: FitContext,
    validation_fraction: float = 0.2,
) -> TabularBinaryModel:
    """Fits one configuration on ``train`` and tunes its decision threshold.

    ``train`` is split, stratified and seeded, into a fit part and a held-out
    part of ``validation_fraction`` of the rows. The preprocessor and the
    network learn from the fit part; the threshold that maximises F1 of the
    positive class on the held-out part's probabilities becomes the model's
    decision rule. If the held-out part lacks a class, the threshold is chosen
    on all of ``train`` instead. No row outside ``train`` is ever seen.

    With ``context.final`` (the refit of a search's winner) the network learns
    from every row of ``train`` and the threshold is chosen on out-of-fold
    probabilities of :data:`CROSS_FIT_FOLDS` inner fits (seeded, stratified);
    with ``context.decision`` off as well (a member of an ensemble, whose
    threshold the core chooses), those inner fits are skipped and the
    threshold is :data:`DEFAULT_THRESHOLD` (source ``"none"``).

    Args:
        config: The flat sampled configuration; the keys of
            :data:`TABULAR_HYPERPARAMETERS` are read (see
            :class:`BinaryTrainingConfig` for defaults), others are ignored.
        family: The model family to build.
        family_params: Its hyperparameters, already stripped of ``model.<name>.``.
        train: Training rows with a 0/1 target.
        context: Seed, threads, accelerator and epoch cap of this fit.
        validation_fraction: Share of ``train`` held out to choose the threshold.

    Returns:
        The fitted model, on CPU, in eval mode.

    Raises:
        SpaceError: A configuration value is out of range.
    """
    options = BinaryTrainingConfig.from_config(config)
    if train.target is None:
        raise ValueError("fit_binary_classifier needs training rows with a target, but train.target is None.")
    target = np.asarray(train.target).astype(np.int64)
    if not np.isin(target, (0, 1)).all():
        raise ValueError(f"train.target must hold 0/1 labels, but got values {np.unique(target)[:5]}.")
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), but got {validation_fraction=}.")
    import pytorch_lightning as pl

    from fg_automl_tabular._training import stratified_holdout

    pl.seed_everything(context.seed, verbose=False)
    torch.set_num_threads(context.num_threads)

    def fit_on(rows: np.ndarray) -> tuple[TabularPreprocessor, nn.Module]:
        features = train.features.iloc[rows]
        preprocessor = TabularPreprocessor(scaling=options.preprocessing).fit(features)
        x_num, x_cat = preprocessor.transform(features)
        network = _train_network(
            family.build(preprocessor.spec, **family_params),
            (x_num, x_cat, torch.from_numpy(target[rows].astype(np.float32))),
            options=options,
            context=context,
        )
        return preprocessor, network

    if context.final:
        # The refit of a winner learns from every row; its threshold comes from
        # cross-fitted predictions of the same rows, as TunedThresholdClassifierCV does.
        threshold, source = (
            _cross_fitted_threshold(fit_on, train.features, target, seed=context.seed, groups=train.groups)
            if context.decision else (DEFAULT_THRESHOLD, "none")
        )
        preprocessor, network = fit_on(np.arange(len(target)))
    else:
        fit_rows, holdout_rows = stratified_holdout(
            target, fraction=validation_fraction, seed=context.seed, groups=train.groups
        )
        preprocessor, network = fit_on(fit_rows)
        threshold, source = _choose_threshold(
            network, preprocessor, train.features, target, holdout_rows=holdout_rows
        )
    negative, positive = binary_labels(train)
    return TabularBinaryModel(
        family_name=family.name,
        family_params=family_params,
        preprocessor=preprocessor,
        network=network,
        threshold=threshold,
        positive_label=positive,
        negative_label=negative,
        threshold_source=source,
    )


def binary_labels(data: Dataset) -> tuple[Any, Any]:
    """Returns ``(negative_label, positive_label)`` of a binary data set.

    The negative label comes from ``data.info["negative_label"]`` (as
    :func:`read_table` records it); without it, it is ``False`` for a
    positive ``True``, ``0`` for a positive ``1``, else ``"not <positive>"``.
    """
    positive = plain_value(data.positive_label)
    if "negative_label" in data.info:
        return plain_value(data.info["negative_label"]), positive
    if isinstance(positive, bool):
        return (not positive), positive
    if positive == 1:
        return 0, positive
    return f"not {positive}", positive


def _train_network(
    network: nn.Module,
    tensors: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    options: BinaryTrainingConfig,
    context: FitContext,
) -> nn.Module:
    """Trains ``network`` on ``(x_num, x_cat, target)`` with Lightning; returns it on CPU, in eval mode."""
    from fg_automl_tabular._training import BinaryClassifierModule, TensorBatches

    x_num, x_cat, y = tensors
    batches = TensorBatches(
        x_num,
        x_cat,
        y,
        batch_size=options.batch_size,
        seed=context.seed,
        positive_share=options.oversample_ratio if options.imbalance == "oversample" else None,
    )
    epochs = context.epochs(options.epochs)
    module = BinaryClassifierModule(
        network,
        config=options,
        pos_weight=_positive_weight(y, options),
        total_steps=epochs * len(batches),
    )
    trainer = context.trainer(max_epochs=epochs)
    batches.to(trainer.strategy.root_device)
    trainer.fit(module, train_dataloaders=batches)
    return module.network.cpu().eval()


def _positive_weight(y: torch.Tensor, options: BinaryTrainingConfig) -> float:
    """Returns the cross-entropy weight of positive rows."""
    n_positive = float(y.sum())
    n_negative = len(y) - n_positive
    if options.imbalance != "class_weight" or n_positive == 0 or n_negative == 0:
        return 1.0
    return (n_negative / n_positive) ** options.class_weight_power


def _choose_threshold(
    network: nn.Module,
    preprocessor: TabularPreprocessor,
    features: pd.DataFrame,
    target: np.ndarray,
    *,
    holdout_rows: np.ndarray,
) -> tuple[float, str]:
    """Returns the F1-best threshold and where it was chosen."""
    held_out = target[holdout_rows]
    if len(held_out) and 0 < held_out.sum() < len(held_out):
        rows, source = holdout_rows, "holdout"
    else:
        rows, source = np.arange(len(target)), "training"
    x_num, x_cat = preprocessor.transform(features.iloc[rows])
    probability = predict_probabilities(network, x_num, x_cat)
    return best_f1_threshold(target[rows], probability), source


def _cross_fitted_threshold(
    fit_on: Callable[[np.ndarray], tuple[TabularPreprocessor, nn.Module]],
    features: pd.DataFrame,
    target: np.ndarray,
    *,
    seed: int,
    folds: int = CROSS_FIT_FOLDS,
    groups: np.ndarray | None = None,
) -> tuple[float, str]:
    """Returns the F1-best threshold on out-of-fold probabilities of ``folds`` fits
    (grouped folds with ``groups``: no entity on both sides of an inner fit)."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    folds = min(folds, int(np.bincount(target, minlength=2).min()))
    if groups is not None:
        folds = min(folds, len(np.unique(np.asarray(groups))))
    if folds < 2:
        return DEFAULT_THRESHOLD, "default"
    out_of_fold = np.zeros(len(target), dtype=np.float64)
    splitter = (StratifiedKFold if groups is None else StratifiedGroupKFold)(
        n_splits=folds, shuffle=True, random_state=seed
    )
    for inner_train, inner_valid in splitter.split(np.zeros(len(target)), target, groups):
        preprocessor, network = fit_on(inner_train)
        x_num, x_cat = preprocessor.transform(features.iloc[inner_valid])
        out_of_fold[inner_valid] = predict_probabilities(network, x_num, x_cat)
    return best_f1_threshold(target, out_of_fold), "cross-fitted"


def check_binary_config(
    *, config: Mapping[str, Any], family: ModelFamily, family_params: Mapping[str, Any]
) -> None:
    """Raises if ``config`` could never be fit: bad training values, or a family
    that cannot be built with ``family_params`` (checked on a tiny input)."""
    BinaryTrainingConfig.from_config(config)
    grid = tuple(float(v) for v in np.linspace(-2.0, 2.0, 129))  # as a fitted preprocessor gives it
    family.build(TabularSpec(n_numeric=2, cardinalities=(3,), quantiles=(grid, grid)), **family_params)


@torch.inference_mode()
def predict_probabilities(
    network: nn.Module, x_num: torch.Tensor, x_cat: torch.Tensor
) -> np.ndarray:
    """Returns positive-class probabilities (float64 ``[n]``) with a plain forward pass."""
    network.eval()
    device = next(network.parameters()).device
    out = np.empty(len(x_num), dtype=np.float64)
    for start in range(0, len(x_num), _PREDICT_BATCH):
        stop = start + _PREDICT_BATCH
        logits = network(x_num[start:stop].to(device), x_cat[start:stop].to(device))
        out[start:stop] = torch.sigmoid(logits.float()).cpu().numpy()
    return out
