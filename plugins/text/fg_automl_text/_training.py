"""Batches and the forward pass of the ``text`` task (the Lightning module is in
``_module``, imported only to fit, so that loading a model for ``predict`` does
not import PyTorch Lightning).

Batches are slices of tensors built once (no ``DataLoader``, no workers). Each
epoch shuffles the rows, sorts them by length within chunks of a few batches
and cuts every batch to its longest row, so recurrent and attention layers
spend little time on padding.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

__all__ = ["TokenBatches", "predict_probabilities"]

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
