"""The Lightning module that trains a recommendation network (imported only to fit)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytorch_lightning as pl
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from fg_automl_recommendation._networks import EASE, MultVAE, Recommender, TwoTower
from finegrain_automl.training import adamw_warmup_cosine

__all__ = ["HistoryBatches", "PairBatches", "RecommenderModule"]

#: Share of the steps over which Mult-VAE's KL weight rises from 0 to beta.
_ANNEAL_SHARE = 0.5


class PairBatches:
    """Shuffled batches of (user index, item index) positives, tensors built once."""

    def __init__(self, users: np.ndarray, items: np.ndarray, *, batch_size: int, seed: int) -> None:
        self.users, self.items = torch.from_numpy(users.astype(np.int64)), torch.from_numpy(items.astype(np.int64))
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.users) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.users), generator=self.generator)
        for rows in order.split(self.batch_size):
            yield self.users[rows], self.items[rows]


class HistoryBatches:
    """Shuffled batches of users' 0/1 training rows, made dense one batch at a time."""

    def __init__(self, matrix: sp.csr_matrix, *, batch_size: int, seed: int) -> None:
        self.matrix = matrix[np.flatnonzero(matrix.getnnz(axis=1))]  # users with a training item
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(self.matrix.shape[0] / self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        order = torch.randperm(self.matrix.shape[0], generator=self.generator).numpy()
        for start in range(0, len(order), self.batch_size):
            yield torch.from_numpy(self.matrix[order[start : start + self.batch_size]].toarray())


class RecommenderModule(pl.LightningModule):
    """Trains a :class:`Recommender` with its loss, AdamW and a cosine schedule.

    Args:
        network: The network; its ``loss`` and ``negatives`` say how it learns.
        lr: Peak learning rate.
        total_steps: Optimiser steps of the whole run.
        n_rows: Training users (EASE shares its penalty out over batches by it).
    """

    def __init__(self, network: Recommender, *, lr: float, total_steps: int, n_rows: int) -> None:
        super().__init__()
        self.network = network
        self.lr, self.total_steps, self.n_rows = lr, max(1, total_steps), n_rows
        self.n_items = self._count_items(network)

    @staticmethod
    def _count_items(network: Recommender) -> int:
        for name in ("items", "gmf_items"):
            table = getattr(network, name, None)
            if isinstance(table, torch.nn.Embedding):
                return table.num_embeddings
        return 0

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Called by Lightning for every batch; returns the loss to minimise."""
        net = self.network
        if isinstance(net, EASE):
            return net.history_loss(batch, n_rows=self.n_rows)
        if isinstance(net, MultVAE):
            anneal = min(1.0, self.global_step / max(1.0, _ANNEAL_SHARE * self.total_steps))
            return net.history_loss(batch, anneal=anneal)
        users, items = batch
        if isinstance(net, TwoTower) and net.loss == "softmax":
            return _in_batch_softmax(net, users, items)
        negatives = torch.randint(self.n_items, (len(users), net.negatives), device=users.device)
        candidates = torch.cat([items.unsqueeze(1), negatives], dim=1)
        scores = net.pair_scores(users, candidates)
        return _pair_loss(net.loss, scores) + net.regulariser(users, candidates)

    def configure_optimizers(self) -> dict[str, Any]:
        """Called once by Lightning: AdamW (no decay: L2 is in the losses), warm-up, cosine decay."""
        return adamw_warmup_cosine(self.network, lr=self.lr, weight_decay=0.0, total_steps=self.total_steps)


def _pair_loss(loss: str, scores: torch.Tensor) -> torch.Tensor:
    """``scores[:, 0]`` the positive, the rest sampled negatives."""
    if loss == "bpr":
        return -F.logsigmoid(scores[:, :1] - scores[:, 1:]).mean()
    if loss == "softmax":
        return F.cross_entropy(scores, torch.zeros(len(scores), dtype=torch.long, device=scores.device))
    if loss == "bce":
        labels = torch.zeros_like(scores)
        labels[:, 0] = 1.0
        return F.binary_cross_entropy_with_logits(scores, labels)
    raise ValueError(f"unknown loss {loss!r}")


def _in_batch_softmax(net: TwoTower, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Sampled softmax over the batch's items, corrected by their log frequency
    (Yi et al., RecSys 2019), the same item elsewhere in the batch masked."""
    logits = net.user_vectors(users) @ net.item_vectors(items).T / net.temperature
    logits = logits - net.log_frequency[items].unsqueeze(0)
    same = items.unsqueeze(0) == items.unsqueeze(1)
    same.fill_diagonal_(False)
    logits = logits.masked_fill(same, -torch.inf)
    target = torch.arange(len(users), device=users.device)
    return F.cross_entropy(logits, target) + net.regulariser(users, items)
