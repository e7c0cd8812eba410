"""The Lightning module that trains a ``text`` network (imported only to fit)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from fg_automl_text._config import TextTrainingConfig
from finegrain_automl.training import adamw_warmup_cosine

__all__ = ["TextClassifierModule"]

_WARMUP_SHARE = 0.1


class TextClassifierModule(pl.LightningModule):
    """Trains a text network with cross-entropy, AdamW, warm-up and cosine decay.

    Args:
        network: Maps ``(token_ids, mask)`` to logits ``[n, n_classes]``.
        config: The training options.
        total_steps: Optimiser steps in the whole run, for the schedule.
    """

    def __init__(self, network: nn.Module, *, config: TextTrainingConfig, total_steps: int) -> None:
        super().__init__()
        self.network = network
        self.config = config
        self.total_steps = max(1, total_steps)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        """Called by Lightning for every batch; returns the loss to minimise."""
        ids, mask, target = batch
        return F.cross_entropy(self.network(ids, mask), target, label_smoothing=self.config.label_smoothing)

    def configure_optimizers(self) -> dict[str, Any]:
        """Called once by Lightning: AdamW with linear warm-up and cosine decay per step."""
        return adamw_warmup_cosine(
            self.network,
            lr=self.config.lr,
            weight_decay=self.config.weight_decay,
            total_steps=self.total_steps,
            warmup_share=_WARMUP_SHARE,
        )
