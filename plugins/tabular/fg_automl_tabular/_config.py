"""The training options of a tabular binary classifier, read from a flat config.

A sampled configuration is flat: ``{"epochs": 6, "lr": 1e-3, "imbalance":
"focal", "imbalance.focal.gamma": 2.0, "model": "resmlp", ...}``. This module
knows the non-model keys; ``model`` and ``model.<family>.*`` belong to the core.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from finegrain_automl.config import config_number, require_config

__all__ = ["IMBALANCE_STRATEGIES", "NUMERIC_SCALINGS", "TABULAR_HYPERPARAMETERS", "BinaryTrainingConfig"]

#: How numeric columns are scaled (the ``preprocessing`` choice); the
#: preprocessor documents each (:class:`~fg_automl_tabular.TabularPreprocessor`).
NUMERIC_SCALINGS: tuple[str, ...] = ("standard", "quantile", "robust")

#: Branches of the ``imbalance`` choice.
IMBALANCE_STRATEGIES: tuple[str, ...] = ("none", "class_weight", "focal", "oversample")

#: Every non-model key a tabular binary space may hold; a task uses it as
#: (part of) its ``Task.hyperparameters``.
TABULAR_HYPERPARAMETERS: frozenset[str] = frozenset(
    {
        "epochs",
        "batch_size",
        "lr",
        "weight_decay",
        "imbalance",
        "imbalance.class_weight.power",
        "imbalance.focal.gamma",
        "imbalance.focal.alpha",
        "imbalance.oversample.ratio",
        "preprocessing",
    }
)


@dataclass(frozen=True, kw_only=True)
class BinaryTrainingConfig:
    """How to train a tabular binary classifier; each field's key and default.

    Attributes:
        epochs: ``epochs``, default 10; limited by ``FitContext.max_epochs_cap``.
        batch_size: ``batch_size``, default 512.
        lr: ``lr``, AdamW peak learning rate, default 1e-3 (cosine decay to 0
            over the run, after a 5 % linear warm-up).
        weight_decay: ``weight_decay``, AdamW decoupled weight decay, default 1e-4.
        imbalance: ``imbalance``, one of :data:`IMBALANCE_STRATEGIES`, default
            ``"none"`` (plain binary cross-entropy).
        class_weight_power: ``imbalance.class_weight.power``, default 0.5:
            positives weigh ``(n_negative / n_positive) ** power``.
        focal_gamma: ``imbalance.focal.gamma``, default 2.0.
        focal_alpha: ``imbalance.focal.alpha``, default ``None`` (no class
            weighting); else positives weigh ``alpha``, negatives ``1 - alpha``.
        oversample_ratio: ``imbalance.oversample.ratio``, default 0.1: the share
            of positives in each epoch's rows, drawn with replacement.
        preprocessing: ``preprocessing``, how numeric columns are scaled, one
            of :data:`~fg_automl_tabular._preprocess.NUMERIC_SCALINGS`,
            default ``"standard"``; fit on the training rows of each fit.
    """

    epochs: int = 10
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 1e-4
    imbalance: str = "none"
    class_weight_power: float = 0.5
    focal_gamma: float = 2.0
    focal_alpha: float | None = None
    oversample_ratio: float = 0.1
    preprocessing: str = "standard"

    def __post_init__(self) -> None:
        require_config(self.epochs >= 1, "epochs", "must be at least 1", self.epochs, "Use 1 or more epochs.")
        require_config(self.batch_size >= 1, "batch_size", "must be at least 1", self.batch_size,
                 "Use a positive batch size such as 512.")
        require_config(self.lr > 0, "lr", "must be positive", self.lr, "Use for example 1e-3.")
        require_config(self.weight_decay >= 0, "weight_decay", "cannot be negative", self.weight_decay,
                 "Use 0 or a small value such as 1e-4.")
        require_config(self.imbalance in IMBALANCE_STRATEGIES, "imbalance", "is not a known strategy",
                 self.imbalance, f"Use one of: {', '.join(IMBALANCE_STRATEGIES)}.")
        require_config(self.class_weight_power >= 0, "imbalance.class_weight.power", "cannot be negative",
                 self.class_weight_power, "Use a value in [0, 1]; 1 balances the classes fully.")
        require_config(self.focal_gamma >= 0, "imbalance.focal.gamma", "cannot be negative",
                 self.focal_gamma, "Use a value such as 2.0.")
        require_config(self.focal_alpha is None or 0 < self.focal_alpha < 1, "imbalance.focal.alpha",
                 "must be strictly between 0 and 1", self.focal_alpha, "Use for example 0.25.")
        require_config(0 < self.oversample_ratio < 1, "imbalance.oversample.ratio",
                 "must be strictly between 0 and 1", self.oversample_ratio, "Use for example 0.1.")
        require_config(self.preprocessing in NUMERIC_SCALINGS, "preprocessing", "is not a known scaling",
                 self.preprocessing, f"Use one of: {', '.join(NUMERIC_SCALINGS)}.")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BinaryTrainingConfig:
        """Reads the keys of :data:`TABULAR_HYPERPARAMETERS` from a flat config.

        Other keys (``model``, ``model.*``, a task's own keys) are ignored.

        Raises:
            SpaceError: A value is out of range or of the wrong type.
        """
        alpha = config.get("imbalance.focal.alpha")
        return cls(
            epochs=config_number(config, "epochs", cls.epochs, integer=True),
            batch_size=config_number(config, "batch_size", cls.batch_size, integer=True),
            lr=config_number(config, "lr", cls.lr),
            weight_decay=config_number(config, "weight_decay", cls.weight_decay),
            imbalance=str(config.get("imbalance", cls.imbalance)),
            class_weight_power=config_number(config, "imbalance.class_weight.power", cls.class_weight_power),
            focal_gamma=config_number(config, "imbalance.focal.gamma", cls.focal_gamma),
            focal_alpha=None if alpha is None else config_number(config, "imbalance.focal.alpha", 0.0),
            oversample_ratio=config_number(config, "imbalance.oversample.ratio", cls.oversample_ratio),
            preprocessing=str(config.get("preprocessing", cls.preprocessing)),
        )
