"""The networks of the ``text`` task's model families (importing this module imports torch).

Every network maps ``(token_ids, mask)`` to class logits: ``token_ids`` is an
int64 ``[n, length]`` tensor padded with :data:`~._tokenizer.PAD_ID`, ``mask``
a bool ``[n, length]`` tensor that is ``True`` on real tokens (each row has at
least one, ``[CLS]``), and the output is float ``[n, n_classes]``. A network's
output for a row does not depend on how much padding follows it, so batches
may be cut to their longest row.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fg_automl_text._spec import TextSpec

__all__ = [
    "BIGRAM_BUCKETS",
    "BagOfEmbeddings",
    "ConvEncoder",
    "RecurrentEncoder",
    "TransformerEncoderClassifier",
]

#: Hash buckets of the bag family's token-bigram embeddings.
BIGRAM_BUCKETS = 8192
_BIGRAM_MULTIPLIER = 1_000_003
_BAG_INIT_STD = 0.1


class BagOfEmbeddings(nn.Module):
    """fastText-like: the mean of token (and optionally hashed bigram) embeddings, then a linear layer."""

    def __init__(self, spec: TextSpec, *, embedding_dim: int, dropout: float, bigrams: bool) -> None:
        super().__init__()
        self.embedding = nn.Embedding(spec.vocab_size, embedding_dim, padding_idx=spec.pad_id)
        self.bigrams = nn.Embedding(BIGRAM_BUCKETS, embedding_dim) if bigrams else None
        # Small embeddings (as fastText's) let moderate learning rates move the mean.
        for table in (self.embedding, self.bigrams):
            if table is not None:
                nn.init.normal_(table.weight, std=_BAG_INIT_STD)
        with torch.no_grad():
            self.embedding.weight[spec.pad_id].zero_()
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(embedding_dim, spec.n_classes)

    def forward(self, token_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weights = mask.unsqueeze(-1).to(self.head.weight.dtype)
        total = (self.embedding(token_ids) * weights).sum(1)
        count = weights.sum(1)
        if self.bigrams is not None and token_ids.shape[1] > 1:
            buckets = (token_ids[:, :-1] * _BIGRAM_MULTIPLIER + token_ids[:, 1:]) % BIGRAM_BUCKETS
            pair_weights = (mask[:, :-1] & mask[:, 1:]).unsqueeze(-1).to(weights.dtype)
            total = total + (self.bigrams(buckets) * pair_weights).sum(1)
            count = count + pair_weights.sum(1)
        return self.head(self.dropout(total / count.clamp(min=1.0)))


class ConvEncoder(nn.Module):
    """1-D convolutions of several widths over token embeddings, max-pooled over positions (Kim, 2014)."""

    def __init__(
        self,
        spec: TextSpec,
        *,
        embedding_dim: int,
        filters: int,
        kernel_sizes: tuple[int, ...],
        dropout: float,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(spec.vocab_size, embedding_dim, padding_idx=spec.pad_id)
        self.convolutions = nn.ModuleList(nn.Conv1d(embedding_dim, filters, size) for size in kernel_sizes)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(filters * len(kernel_sizes), spec.n_classes)

    def forward(self, token_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.embedding(token_ids)).transpose(1, 2)  # [n, dim, length]
        padding = ~mask.unsqueeze(1)
        pooled = []
        for convolution in self.convolutions:
            # Right padding of width-1 zeros: one output per position, whatever the batch's length.
            h = F.relu(convolution(F.pad(x, (0, convolution.kernel_size[0] - 1))))
            pooled.append(h.masked_fill(padding, float("-inf")).amax(dim=2))
        return self.head(self.dropout(torch.cat(pooled, dim=1)))


class RecurrentEncoder(nn.Module):
    """An LSTM or GRU over token embeddings; the last layer's final states feed a linear layer."""

    def __init__(
        self,
        spec: TextSpec,
        *,
        embedding_dim: int,
        hidden: int,
        cell: str,
        bidirectional: bool,
        n_layers: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(spec.vocab_size, embedding_dim, padding_idx=spec.pad_id)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn(
            embedding_dim,
            hidden,
            num_layers=n_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if n_layers > 1 else 0.0,
        )
        self.directions = 2 if bidirectional else 1
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden * self.directions, spec.n_classes)

    def forward(self, token_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            self.dropout(self.embedding(token_ids)), lengths, batch_first=True, enforce_sorted=False
        )
        _, state = self.rnn(packed)
        final = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c)
        last_layer = final[-self.directions :]  # [directions, n, hidden]
        return self.head(self.dropout(torch.cat(list(last_layer), dim=1)))


class TransformerEncoderClassifier(nn.Module):
    """A small pre-norm Transformer encoder with learned positions, mean- or ``[CLS]``-pooled."""

    def __init__(
        self,
        spec: TextSpec,
        *,
        d_model: int,
        n_heads: int,
        n_layers: int,
        ffn_factor: float,
        dropout: float,
        pooling: str,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(spec.vocab_size, d_model, padding_idx=spec.pad_id)
        self.positions = nn.Embedding(spec.max_length, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model,
            n_heads,
            dim_feedforward=max(1, round(d_model * ffn_factor)),
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.pooling = pooling
        self.head = nn.Linear(d_model, spec.n_classes)

    def forward(self, token_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(token_ids.shape[1], device=token_ids.device)
        x = self.dropout(self.embedding(token_ids) + self.positions(positions))
        x = self.norm(self.encoder(x, src_key_padding_mask=~mask))
        if self.pooling == "cls":
            pooled = x[:, 0]
        else:
            weights = mask.unsqueeze(-1).to(x.dtype)
            pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return self.head(self.dropout(pooled))
