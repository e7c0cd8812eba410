"""The pieces of one training run: inner split, batches, losses, Lightning module.

Batches are slices of tensors built once (no ``DataLoader``, no workers), so a
step costs the network's forward and backward and little else.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from fg_automl_tabular._config import BinaryTrainingConfig
from finegrain_automl.training import adamw_warmup_cosine

__all__ = [
    "BinaryClassifierModule",
    "TensorBatches",
    "stratified_holdout",
]

_WARMUP_SHARE = 0.05


def stratified_holdout(
    target: np.ndarray, *, fraction: float, seed: int, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Splits row positions into a fit part and a held-out part, per class.

    Each class sends ``round(fraction * n_class)`` rows to the held-out part,
    but at least one when the class has two or more rows and never all of
    them, so both parts keep every class that can be shared. With ``groups``
    (``--group-column``), whole groups are held out instead, stratified by
    whether a group has a positive row, so no entity is on both sides.

    Returns:
        ``(fit_rows, holdout_rows)``, sorted positions.
    """
    if groups is not None:
        names, group_of = np.unique(np.asarray(groups), return_inverse=True)
        has_positive = np.zeros(len(names), dtype=np.int64)
        np.maximum.at(has_positive, group_of, (np.asarray(target) > 0).astype(np.int64))
        fit_groups, holdout_groups = stratified_holdout(has_positive, fraction=fraction, seed=seed)
        return np.flatnonzero(np.isin(group_of, fit_groups)), np.flatnonzero(np.isin(group_of, holdout_groups))
    rng = np.random.default_rng(seed)
    fit_parts, holdout_parts = [], []
    for value in np.unique(target):
        rows = rng.permutation(np.flatnonzero(target == value))
        n_holdout = 0
        if fraction > 0 and len(rows) >= 2:
            n_holdout = min(max(1, round(fraction * len(rows))), len(rows) - 1)
        holdout_parts.append(rows[:n_holdout])
        fit_parts.append(rows[n_holdout:])
    empty = np.zeros(0, dtype=np.int64)
    fit = np.sort(np.concatenate(fit_parts)) if fit_parts else empty
    holdout = np.sort(np.concatenate(holdout_parts)) if holdout_parts else empty
    return fit, holdout


class TensorBatches:
    """Shuffled mini-batches of tensors; a fresh order (or resample) per epoch.

    Args:
        x_num: Float inputs ``[n, n_numeric]``.
        x_cat: Integer inputs ``[n, n_categorical]``.
        target: Float 0/1 targets ``[n]``.
        batch_size: Rows per batch (the last batch may be smaller).
        seed: Seed of the batch order.
        positive_share: If set, each epoch draws ``n`` rows with replacement
            so that this share of them is positive on average (oversampling,
            as a ``WeightedRandomSampler`` would).
    """

    def __init__(
        self,
        x_num: torch.Tensor,
        x_cat: torch.Tensor,
        target: torch.Tensor,
        *,
        batch_size: int,
        seed: int,
        positive_share: float | None = None,
    ) -> None:
        self.x_num, self.x_cat, self.target = x_num, x_cat, target
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.weights: torch.Tensor | None = None
        n_positive = int(target.sum().item())
        n_negative = len(target) - n_positive
        if positive_share is not None and n_positive and n_negative:
            weights = torch.where(
                target > 0.5, positive_share / n_positive, (1 - positive_share) / n_negative
            )
            self.weights = weights.double().cpu()

    def to(self, device: torch.device) -> TensorBatches:
        """Moves the tensors to ``device`` once, so batches need no copy."""
        self.x_num, self.x_cat, self.target = (
            t.to(device) for t in (self.x_num, self.x_cat, self.target)
        )
        return self

    def __len__(self) -> int:
        return math.ceil(len(self.target) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        n = len(self.target)
        if self.weights is None:
            order = torch.randperm(n, generator=self.generator)
        else:
            order = torch.multinomial(self.weights, n, replacement=True, generator=self.generator)
        order = order.to(self.target.device)
        for start in range(0, n, self.batch_size):
            rows = order[start : start + self.batch_size]
            yield self.x_num[rows], self.x_cat[rows], self.target[rows]


def focal_loss(
    logits: torch.Tensor, target: torch.Tensor, *, gamma: float, alpha: float | None
) -> torch.Tensor:
    """Returns the mean binary focal loss (Lin et al., 2017)."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    p_true = p * target + (1 - p) * (1 - target)
    loss = bce * (1 - p_true).pow(gamma)
    if alpha is not None:
        loss = loss * (alpha * target + (1 - alpha) * (1 - target))
    return loss.mean()


class BinaryClassifierModule(pl.LightningModule):
    """Trains a tabular network with the configured loss, AdamW and a cosine schedule.

    Args:
        network: Maps ``(x_num, x_cat)`` to logits ``[n]``.
        config: The training options.
        pos_weight: Weight of positive rows in the cross-entropy (1 for none).
        total_steps: Optimiser steps in the whole run, for the schedule.
    """

    def __init__(
        self,
        network: nn.Module,
        *,
        config: BinaryTrainingConfig,
        pos_weight: float,
        total_steps: int,
    ) -> None:
        super().__init__()
        self.network = network
        self.config = config
        self.total_steps = max(1, total_steps)
        self.register_buffer("pos_weight", torch.tensor(float(pos_weight)), persistent=False)

    def forward(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        return self.network(x_num, x_cat)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Returns the configured loss of ``logits`` against 0/1 ``target``.

        Logits ``[n, k]`` (an ensemble such as TabM, each member's logit) are
        scored member by member against the same target, and averaged.
        """
        if logits.ndim == 2:
            target = target.unsqueeze(1).expand_as(logits)
        if self.config.imbalance == "focal":
            return focal_loss(
                logits, target, gamma=self.config.focal_gamma, alpha=self.config.focal_alpha
            )
        return F.binary_cross_entropy_with_logits(logits, target, pos_weight=self.pos_weight)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        """Called by Lightning for every batch; returns the loss to minimise."""
        x_num, x_cat, target = batch
        return self.loss(self.network(x_num, x_cat), target)

    def configure_optimizers(self) -> dict:
        """Called once by Lightning: AdamW with linear warm-up and cosine decay per step."""
        return adamw_warmup_cosine(
            self.network,
            lr=self.config.lr,
            weight_decay=self.config.weight_decay,
            total_steps=self.total_steps,
            warmup_share=_WARMUP_SHARE,
        )
