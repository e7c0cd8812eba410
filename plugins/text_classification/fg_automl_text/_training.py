"""Training options, batches and the Lightning module of the ``text`` task.

Batches are slices of tensors built once (no ``DataLoader``, no workers). Each
epoch shuffles the rows, sorts them by length within chunks of a few batches
and cuts every batch to its longest row, so recurrent and attention layers
spend little time on padding.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from finegrain_automl.training import adamw_warmup_cosine
from fg_automl_text._config import TextTrainingConfig

__all__ = ["TextClassifierModule", "TokenBatches", "predict_probabilities"]

_WARMUP_SHARE = 0.1
_BUCKET_BATCHES = 8
_PREDICT_BATCH = 512


class TokenBatches:
    """Shuffled, length-bucketed batches of token ids, each cut to its longest row.

    Args:
        ids: int64 ``[n, max_length]`` padded token ids.
        lengths: int64 ``[n]`` real ids per row.
        target: int64 ``[n]`` class codes.
        batch_size: Rows per batch (the last batch may be smaller).
        seed: Seed of the batch order.
    """

    def __init__(
        self, ids: torch.Tensor, lengths: torch.Tensor, target: torch.Tensor, *, batch_size: int, seed: int
    ) -> None:
        self.ids, self.lengths, self.target = ids, lengths, target
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def to(self, device: torch.device) -> TokenBatches:
        """Moves the tensors to ``device`` once, so batches need no copy."""
        self.ids, self.lengths, self.target = (t.to(device) for t in (self.ids, self.lengths, self.target))
        return self

    def __len__(self) -> int:
        return math.ceil(len(self.target) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.target), generator=self.generator)
        lengths = self.lengths.cpu()
        chunk = self.batch_size * _BUCKET_BATCHES
        batches = []
        for start in range(0, len(order), chunk):
            rows = order[start : start + chunk]
            rows = rows[torch.argsort(lengths[rows], stable=True)]
            batches += list(rows.split(self.batch_size))
        for index in torch.randperm(len(batches), generator=self.generator).tolist():
            rows = batches[index].to(self.target.device)
            yield (*_cut(self.ids[rows], self.lengths[rows]), self.target[rows])


def _cut(ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns ``ids`` cut to the longest row and the matching mask of real tokens."""
    longest = int(lengths.max())
    positions = torch.arange(longest, device=ids.device)
    return ids[:, :longest], positions.unsqueeze(0) < lengths.unsqueeze(1)


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


@torch.inference_mode()
def predict_probabilities(network: nn.Module, ids: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
    """Returns class probabilities (float64 ``[n, n_classes]``), in row order.

    Rows are run shortest first, in batches cut to their longest row.
    """
    network.eval()
    device = next(network.parameters()).device
    order = torch.argsort(lengths, stable=True)
    parts = []
    for rows in order.split(_PREDICT_BATCH):
        batch_ids, mask = _cut(ids[rows].to(device), lengths[rows].to(device))
        parts.append(torch.softmax(network(batch_ids, mask).float(), dim=1).cpu())
    probabilities = torch.empty((len(ids), parts[0].shape[1]), dtype=torch.float64)
    probabilities[order] = torch.cat(parts).double()
    return probabilities.numpy()
