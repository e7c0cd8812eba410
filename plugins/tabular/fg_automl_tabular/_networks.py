"""The torch modules behind the tabular model families.

Every network maps ``(x_num, x_cat)`` (float ``[n, n_numeric]`` and int64
``[n, n_categorical]``) to one logit per row, shape ``[n]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from fg_automl_tabular._embeddings import make_numeric_embedding
from fg_automl_tabular._spec import TabularSpec

__all__ = ["FTTransformer", "Linear", "NumericEmbeddingOptions", "RealMLP", "ResMLP", "TabMNetwork"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "selu": nn.SELU, "mish": nn.Mish,
}


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


class NumericEmbeddingOptions:
    """The ``numeric_embedding*`` hyperparameters every network family shares.

    Args:
        kind: ``"none"``, ``"periodic"`` or ``"ple"`` (see :mod:`._embeddings`).
        dim: Width of each numeric column's embedding.
        n_bins: Bins per column for ``"ple"``.
        frequency_scale: Initial frequency scale for ``"periodic"``.
    """

    def __init__(self, *, kind: str = "none", dim: int = 8, n_bins: int = 16, frequency_scale: float = 0.1):
        self.kind, self.dim, self.n_bins, self.frequency_scale = kind, dim, n_bins, frequency_scale

    def build(self, spec: TabularSpec, *, dim: int | None = None) -> nn.Module | None:
        """The embedding module for ``spec`` (``None`` for ``"none"``), ``dim`` wide if given."""
        return make_numeric_embedding(
            spec, kind=self.kind, dim=dim or self.dim, n_bins=self.n_bins, frequency_scale=self.frequency_scale
        )


def _numeric_width(spec: TabularSpec, embedding: nn.Module | None, dim: int) -> int:
    """Width of the flattened numeric input, embedded (``n_numeric * dim``) or not."""
    return spec.n_numeric * (dim if embedding is not None else 1)


def _flat_numeric(x_num: torch.Tensor, embedding: nn.Module | None) -> torch.Tensor:
    return x_num if embedding is None else embedding(x_num).flatten(1)


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
    """Residual MLP; see :func:`fg_automl_tabular.build_resmlp`."""

    def __init__(
        self,
        spec: TabularSpec,
        *,
        hidden: int,
        depth: int,
        dropout: float,
        embedding_dim: int,
        activation: str,
        numeric: NumericEmbeddingOptions | None = None,
    ) -> None:
        super().__init__()
        _check_positive(hidden=hidden, embedding_dim=embedding_dim)
        _check_at_least_zero(depth=depth)
        _check_dropout(dropout)
        act = _activation(activation)
        numeric = numeric or NumericEmbeddingOptions()
        self.n_numeric = spec.n_numeric
        self.n_categorical = len(spec.cardinalities)
        self.numeric_embedding = numeric.build(spec)
        self.embedding = (
            CategoricalEmbedding(spec.cardinalities, embedding_dim) if self.n_categorical else None
        )
        width = _numeric_width(spec, self.numeric_embedding, numeric.dim) + self.n_categorical * embedding_dim
        self.input = nn.Linear(width, hidden)
        self.blocks = nn.Sequential(*(_ResidualBlock(hidden, dropout, act) for _ in range(depth)))
        self.head = nn.Sequential(nn.LayerNorm(hidden), act(), nn.Linear(hidden, 1))

    def forward(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.n_numeric:
            parts.append(_flat_numeric(x_num, self.numeric_embedding))
        if self.embedding is not None:
            parts.append(self.embedding(x_cat).flatten(1))
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return self.head(self.blocks(self.input(x))).squeeze(-1)


class Linear(nn.Module):
    """Logistic regression (one weight per input, embeddings for categories);
    see :func:`fg_automl_tabular.build_linear`."""

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
    """FT-Transformer; see :func:`fg_automl_tabular.build_ft_transformer`."""

    def __init__(
        self,
        spec: TabularSpec,
        *,
        d_token: int,
        n_layers: int,
        n_heads: int,
        dropout: float,
        ffn_factor: float,
        numeric: NumericEmbeddingOptions | None = None,
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
        # With an embedding, every numeric column (indicators too) is a token of its own.
        self.numeric_embedding = (numeric or NumericEmbeddingOptions()).build(spec, dim=d_token)
        bound = 1 / math.sqrt(d_token)
        # Without an embedding: the linear tokenizer, missing indicators folded into their column's token.
        linear_tokens = self.numeric_embedding is None
        n_values, n_flagged = (spec.n_values, len(spec.missing_indicators)) if linear_tokens else (0, 0)
        self.numeric_weight = nn.Parameter(_uniform(bound, n_values, d_token))
        self.numeric_bias = nn.Parameter(_uniform(bound, n_values, d_token))
        self.register_buffer(
            "flagged", torch.tensor(spec.missing_indicators[:n_flagged], dtype=torch.long), persistent=False
        )
        self.missing_token = nn.Parameter(_uniform(bound, n_flagged, d_token))
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
        if self.numeric_embedding is not None:
            tokens.append(self.numeric_embedding(x_num))
        elif self.n_values:
            values = x_num[:, : self.n_values].unsqueeze(-1) * self.numeric_weight + self.numeric_bias
            if len(self.flagged):
                missing = x_num[:, self.n_values :].unsqueeze(-1) * self.missing_token
                values = values.index_add(1, self.flagged, missing)
            tokens.append(values)
        if self.embedding is not None:
            tokens.append(self.embedding(x_cat) + self.categorical_bias)
        x = self.layers(torch.cat(tokens, dim=1))
        return self.head(x[:, 0]).squeeze(-1)


class TabMNetwork(nn.Module):
    """TabM (Gorishniy et al., ICLR 2025) from the authors' ``tabm`` package.

    ``k`` MLPs that share most weights (BatchEnsemble adapters, or only a
    first scaling for ``"tabm-mini"``) see every row. In training the module
    returns each member's logit, ``[n, k]``, so that every member is trained
    on its own loss, as the paper does; in evaluation it returns the logit of
    the members' mean probability, ``[n]``.
    """

    def __init__(
        self,
        spec: TabularSpec,
        *,
        k: int,
        n_blocks: int,
        d_block: int,
        dropout: float,
        arch_type: str,
        numeric: NumericEmbeddingOptions | None = None,
    ) -> None:
        super().__init__()
        _check_positive(k=k, n_blocks=n_blocks, d_block=d_block)
        _check_dropout(dropout)
        if arch_type not in ("tabm", "tabm-mini"):
            raise ValueError(f"arch_type must be 'tabm' or 'tabm-mini', but got {arch_type=}.")
        import tabm

        self.n_numeric = spec.n_numeric
        self.n_categorical = len(spec.cardinalities)
        self.model = tabm.TabM.make(
            n_num_features=spec.n_numeric,
            cat_cardinalities=list(spec.cardinalities),
            d_out=1,
            num_embeddings=(numeric or NumericEmbeddingOptions()).build(spec),
            n_blocks=n_blocks,
            d_block=d_block,
            dropout=dropout,
            k=k,
            arch_type=arch_type,
        )

    def forward(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        logits = self.model(
            x_num if self.n_numeric else None, x_cat if self.n_categorical else None
        ).squeeze(-1)
        if self.training:
            return logits
        return torch.logit(torch.sigmoid(logits).mean(dim=1), eps=1e-7)


class RealMLP(nn.Module):
    """A RealMLP-style MLP (Holzmüller, Grinsztajn & Steinwart, NeurIPS 2024).

    What the paper's ablations found to matter most, on top of its robust
    scaling and smooth clipping (the ``robust`` preprocessing): a learnable
    scale per input column in front, periodic embeddings of the numeric
    columns concatenated with the values themselves (its "PBLD":
    ``[x, linear(cos(2 pi (w x + b)))]``), and plain wide layers with SELU
    (classification) or Mish and dropout.
    """

    def __init__(
        self,
        spec: TabularSpec,
        *,
        width: int,
        depth: int,
        dropout: float,
        activation: str,
        embedding_dim: int,
        n_frequencies: int,
        frequency_scale: float,
    ) -> None:
        super().__init__()
        _check_positive(width=width, depth=depth, embedding_dim=embedding_dim, n_frequencies=n_frequencies)
        _check_dropout(dropout)
        if frequency_scale <= 0:
            raise ValueError(f"frequency_scale must be positive, but got {frequency_scale=}.")
        act = _activation(activation)
        n = spec.n_numeric
        self.n_numeric, self.n_categorical = n, len(spec.cardinalities)
        self.frequency = nn.Parameter(torch.randn(n, n_frequencies) * frequency_scale)
        self.phase = nn.Parameter(torch.rand(n, n_frequencies) * 2 * math.pi)
        self.projection = nn.Parameter(_uniform(1 / math.sqrt(n_frequencies), n, n_frequencies, embedding_dim))
        self.embedding = CategoricalEmbedding(spec.cardinalities, embedding_dim) if self.n_categorical else None
        width_in = n * (1 + embedding_dim) + self.n_categorical * embedding_dim
        self.scale = nn.Parameter(torch.ones(width_in))
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(width_in if i == 0 else width, width), act(), nn.Dropout(dropout)]
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)

    def forward(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.n_numeric:
            periodic = torch.cos(2 * math.pi * x_num.unsqueeze(-1) * self.frequency + self.phase)
            embedded = torch.einsum("nfk,fkd->nfd", periodic, self.projection)
            parts += [x_num, embedded.flatten(1)]
        if self.embedding is not None:
            parts.append(self.embedding(x_cat).flatten(1))
        return self.head(self.layers(torch.cat(parts, dim=1) * self.scale)).squeeze(-1)


def _activation(name: str) -> type[nn.Module]:
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, but got activation={name!r}.")
    return _ACTIVATIONS[name]


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
