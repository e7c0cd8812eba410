"""The torch modules behind the tabular model families.

Every network maps ``(x_num, x_cat)`` (float ``[n, n_numeric]`` and int64
``[n, n_categorical]``) to one logit per row, shape ``[n]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from finegrain_automl.tabular._models import TabularSpec

__all__ = ["FTTransformer", "Linear", "ResMLP"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}


class CategoricalEmbedding(nn.Module):
    """One embedding table for all categorical columns, indexed with offsets.

    A single lookup instead of one per column keeps small batches cheap.
    """

    def __init__(self, cardinalities: tuple[int, ...], dim: int) -> None:
        super().__init__()
        offsets = [0]
        for cardinality in cardinalities[:-1]:
            offsets.append(offsets[-1] + cardinality)
        self.register_buffer("offsets", torch.tensor(offsets, dtype=torch.long), persistent=False)
        self.table = nn.Embedding(sum(cardinalities), dim)

    def forward(self, x_cat: torch.Tensor) -> torch.Tensor:
        """Returns embeddings of shape ``[n, n_categorical, dim]``."""
        return self.table(x_cat + self.offsets)


class _ResidualBlock(nn.Module):
    def __init__(self, width: int, dropout: float, activation: type[nn.Module]) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.linear = nn.Linear(width, width)
        self.activation = activation()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.dropout(self.activation(self.linear(self.norm(x))))


class ResMLP(nn.Module):
    """Residual MLP; see :func:`finegrain_automl.tabular.build_resmlp`."""

    def __init__(
        self,
        spec: TabularSpec,
        *,
        hidden: int,
        depth: int,
        dropout: float,
        embedding_dim: int,
        activation: str,
    ) -> None:
        super().__init__()
        _check_positive(hidden=hidden, embedding_dim=embedding_dim)
        _check_at_least_zero(depth=depth)
        _check_dropout(dropout)
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, but got {activation=}."
            )
        act = _ACTIVATIONS[activation]
        self.n_numeric = spec.n_numeric
        self.n_categorical = len(spec.cardinalities)
        self.embedding = (
            CategoricalEmbedding(spec.cardinalities, embedding_dim) if self.n_categorical else None
        )
        self.input = nn.Linear(spec.n_numeric + self.n_categorical * embedding_dim, hidden)
        self.blocks = nn.Sequential(*(_ResidualBlock(hidden, dropout, act) for _ in range(depth)))
        self.head = nn.Sequential(nn.LayerNorm(hidden), act(), nn.Linear(hidden, 1))

    def forward(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.n_numeric:
            parts.append(x_num)
        if self.embedding is not None:
            parts.append(self.embedding(x_cat).flatten(1))
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return self.head(self.blocks(self.input(x))).squeeze(-1)


class Linear(nn.Module):
    """Logistic regression (one weight per input, embeddings for categories);
    see :func:`finegrain_automl.tabular.build_linear`."""

    def __init__(self, spec: TabularSpec, *, embedding_dim: int) -> None:
        super().__init__()
        _check_positive(embedding_dim=embedding_dim)
        self.n_numeric = spec.n_numeric
        self.embedding = CategoricalEmbedding(spec.cardinalities, embedding_dim) if spec.cardinalities else None
        self.head = nn.Linear(spec.n_numeric + len(spec.cardinalities) * embedding_dim, 1)

    def forward(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        parts = [x_num] if self.n_numeric else []
        if self.embedding is not None:
            parts.append(self.embedding(x_cat).flatten(1))
        return self.head(torch.cat(parts, dim=1)).squeeze(-1)


class _TransformerLayer(nn.Module):
    """Pre-norm transformer layer; with ``cls_only`` it returns only token 0.

    ``x + attention(norm(x))`` then ``x + ffn(norm(x))``, where the
    feed-forward network is ``linear -> GELU -> dropout -> linear``.
    """

    def __init__(
        self, d_token: int, n_heads: int, ffn_hidden: int, dropout: float, *, cls_only: bool
    ) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.cls_only = cls_only
        self.attention_norm = nn.LayerNorm(d_token)
        # Separate projections: their [n, tokens, heads, width] outputs are the
        # layout the fused CPU attention kernel reads, so no permute copies.
        self.query = nn.Linear(d_token, d_token)
        self.key = nn.Linear(d_token, d_token)
        self.value = nn.Linear(d_token, d_token)
        self.attention_out = nn.Linear(d_token, d_token)
        self.ffn_norm = nn.LayerNorm(d_token)
        self.ffn = nn.Sequential(
            nn.Linear(d_token, ffn_hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(ffn_hidden, d_token),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.attention_norm(x)
        if self.cls_only:
            x = x[:, :1]
        query = self._heads(self.query(y[:, :1] if self.cls_only else y))
        attended = F.scaled_dot_product_attention(
            query, self._heads(self.key(y)), self._heads(self.value(y))
        )
        batch, _, n_queries, _ = attended.shape
        x = x + self.attention_out(attended.transpose(1, 2).reshape(batch, n_queries, -1))
        return x + self.ffn(self.ffn_norm(x))

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """``[n, tokens, width]`` -> ``[n, heads, tokens, width / heads]`` (a view)."""
        batch, n_tokens, width = x.shape
        return x.view(batch, n_tokens, self.n_heads, width // self.n_heads).transpose(1, 2)


class FTTransformer(nn.Module):
    """FT-Transformer; see :func:`finegrain_automl.tabular.build_ft_transformer`."""

    def __init__(
        self,
        spec: TabularSpec,
        *,
        d_token: int,
        n_layers: int,
        n_heads: int,
        dropout: float,
        ffn_factor: float,
    ) -> None:
        super().__init__()
        _check_positive(d_token=d_token, n_layers=n_layers, n_heads=n_heads)
        _check_dropout(dropout)
        if d_token % n_heads:
            raise ValueError(
                f"d_token must be divisible by n_heads, but got {d_token=} and {n_heads=}; "
                f"use for example d_token={n_heads * max(1, round(d_token / n_heads))}."
            )
        if ffn_factor <= 0:
            raise ValueError(f"ffn_factor must be positive, but got {ffn_factor=}.")
        self.n_values = spec.n_values
        self.n_categorical = len(spec.cardinalities)
        bound = 1 / math.sqrt(d_token)
        self.numeric_weight = nn.Parameter(_uniform(bound, spec.n_values, d_token))
        self.numeric_bias = nn.Parameter(_uniform(bound, spec.n_values, d_token))
        self.register_buffer(
            "flagged", torch.tensor(spec.missing_indicators, dtype=torch.long), persistent=False
        )
        self.missing_token = nn.Parameter(_uniform(bound, len(spec.missing_indicators), d_token))
        self.embedding = (
            CategoricalEmbedding(spec.cardinalities, d_token) if self.n_categorical else None
        )
        self.categorical_bias = nn.Parameter(_uniform(bound, self.n_categorical, d_token))
        self.cls = nn.Parameter(_uniform(bound, 1, 1, d_token))
        ffn_hidden = max(1, round(d_token * ffn_factor))
        self.layers = nn.Sequential(
            *(
                _TransformerLayer(d_token, n_heads, ffn_hidden, dropout, cls_only=i == n_layers - 1)
                for i in range(n_layers)
            )
        )
        self.head = nn.Sequential(nn.LayerNorm(d_token), nn.ReLU(), nn.Linear(d_token, 1))

    def forward(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        tokens = [self.cls.expand(x_num.shape[0], -1, -1)]
        if self.n_values:
            values = x_num[:, : self.n_values].unsqueeze(-1) * self.numeric_weight + self.numeric_bias
            if len(self.flagged):
                missing = x_num[:, self.n_values :].unsqueeze(-1) * self.missing_token
                values = values.index_add(1, self.flagged, missing)
            tokens.append(values)
        if self.embedding is not None:
            tokens.append(self.embedding(x_cat) + self.categorical_bias)
        x = self.layers(torch.cat(tokens, dim=1))
        return self.head(x[:, 0]).squeeze(-1)


def _uniform(bound: float, *shape: int) -> torch.Tensor:
    return torch.empty(*shape).uniform_(-bound, bound)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, but got {name}={value!r}.")


def _check_at_least_zero(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} cannot be negative, but got {name}={value!r}.")


def _check_dropout(dropout: float) -> None:
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), but got {dropout=}.")
