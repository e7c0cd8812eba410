"""The training options of the ``text`` task, read from a flat configuration.

A sampled configuration is flat: ``{"epochs": 6, "lr": 1e-3, "vocab_size":
4000, "model": "cnn", "model.cnn.filters": 64, ...}``. This module knows the
non-model keys; ``model`` and ``model.<family>.*`` belong to the core.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from finegrain_automl import config_number, require_config

__all__ = ["MAX_SEQUENCE_LENGTH", "MIN_VOCAB_SIZE", "TEXT_HYPERPARAMETERS", "TextTrainingConfig"]

#: Every non-model key a ``text`` space may hold.
TEXT_HYPERPARAMETERS: frozenset[str] = frozenset(
    {"epochs", "batch_size", "lr", "weight_decay", "vocab_size", "max_length", "label_smoothing"}
)

#: Smallest vocabulary: the special tokens and enough characters to spell words.
MIN_VOCAB_SIZE = 64
#: Longest sequence a space may ask for.
MAX_SEQUENCE_LENGTH = 4096


@dataclass(frozen=True, kw_only=True)
class TextTrainingConfig:
    """How to tokenise and train; each field's key in a configuration and its default.

    Attributes:
        epochs: ``epochs``, default 5; limited by ``FitContext.max_epochs_cap``.
        batch_size: ``batch_size``, default 64.
        lr: ``lr``, AdamW peak learning rate, default 2e-3 (linear warm-up over
            the first 10 % of steps, then cosine decay to 0).
        weight_decay: ``weight_decay``, AdamW decoupled weight decay of weight
            matrices (not embeddings, norms or biases), default 1e-4.
        vocab_size: ``vocab_size``, largest tokenizer vocabulary, default 8000.
        max_length: ``max_length``, ids per text including ``[CLS]``, default 64.
        label_smoothing: ``label_smoothing`` of the cross-entropy, default 0.
    """

    epochs: int = 5
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    vocab_size: int = 8000
    max_length: int = 64
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        require_config(self.epochs >= 1, "epochs", "must be at least 1", self.epochs, "Use 1 or more epochs.")
        require_config(
            self.batch_size >= 1,
            "batch_size",
            "must be at least 1",
            self.batch_size,
            "Use a positive batch size such as 64.",
        )
        require_config(self.lr > 0, "lr", "must be positive", self.lr, "Use for example 2e-3.")
        require_config(
            self.weight_decay >= 0,
            "weight_decay",
            "cannot be negative",
            self.weight_decay,
            "Use 0 or a small value such as 1e-4.",
        )
        require_config(
            self.vocab_size >= MIN_VOCAB_SIZE,
            "vocab_size",
            f"must be at least {MIN_VOCAB_SIZE}",
            self.vocab_size,
            "Use for example 8000.",
        )
        require_config(
            2 <= self.max_length <= MAX_SEQUENCE_LENGTH,
            "max_length",
            f"must be between 2 and {MAX_SEQUENCE_LENGTH} ([CLS] and at least one token)",
            self.max_length,
            "Use for example 64.",
        )
        require_config(
            0 <= self.label_smoothing < 1,
            "label_smoothing",
            "must be in [0, 1)",
            self.label_smoothing,
            "Use 0 or a small value such as 0.1.",
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TextTrainingConfig:
        """Reads the keys of :data:`TEXT_HYPERPARAMETERS` from a flat configuration.

        Raises:
            SpaceError: A value is out of range or of the wrong type.
        """
        return cls(
            epochs=config_number(config, "epochs", cls.epochs, integer=True),
            batch_size=config_number(config, "batch_size", cls.batch_size, integer=True),
            lr=config_number(config, "lr", cls.lr),
            weight_decay=config_number(config, "weight_decay", cls.weight_decay),
            vocab_size=config_number(config, "vocab_size", cls.vocab_size, integer=True),
            max_length=config_number(config, "max_length", cls.max_length, integer=True),
            label_smoothing=config_number(config, "label_smoothing", cls.label_smoothing),
        )
