"""A gated tabular network: variable selection and Gated Residual Networks.

The gating ideas of the Temporal Fusion Transformer (Lim, Arık, Loeff &
Pfister, "Temporal Fusion Transformers for interpretable multi-horizon time
series forecasting", International Journal of Forecasting, 2021), applied to
one row of a table instead of a time step:

1. every column becomes a ``d_model``-wide token: a categorical column through
   the tabular toolkit's embedding table, a numeric column (missing indicators
   included) through the toolkit's numerical-feature embedding (``"ple"`` or
   ``"periodic"``) or, for ``"none"``, a per-column linear map
   ``x_j * w_j + b_j``;
2. a variable selection network weighs the columns per row: a Gated Residual
   Network (GRN) reads all the tokens and gives a softmax over the columns,
   another GRN (shared by the columns; their tokens already differ) transforms
   each token, and the row is the weighted sum of the transformed tokens;
3. a stack of GRNs refines that vector and a linear head gives one logit.

A GRN is ``LayerNorm(skip(a) + GLU(dropout(W1 ELU(W2 a + b2) + b1)))`` with
``GLU(g) = sigmoid(W4 g + b4) * (W5 g + b5)``: the gate can close a block
entirely, so the network uses only as much depth as the data support.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from fg_automl_tabular import CategoricalEmbedding, TabularSpec, make_numeric_embedding
from torch import nn

__all__ = ["GatedResidualNetwork", "GatedTabularNetwork", "VariableSelection"]


class GatedResidualNetwork(nn.Module):
    """A Gated Residual Network (Lim et al., 2021, eq. 2-5) on the last dimension.

    Args:
        d_in: Width of the input.
        d_hidden: Width of the two inner layers.
        d_out: Width of the output; the skip connection is a linear map when
            it differs from ``d_in``.
        dropout: Dropout before the gate.
    """

    def __init__(self, d_in: int, d_hidden: int, d_out: int, *, dropout: float) -> None:
        super().__init__()
        self.skip = nn.Linear(d_in, d_out) if d_in != d_out else nn.Identity()
        self.hidden = nn.Linear(d_in, d_hidden)
        self.inner = nn.Linear(d_hidden, d_hidden)
        self.dropout = nn.Dropout(dropout)
        self.gate = nn.Linear(d_hidden, 2 * d_out)  # both halves of the GLU in one matrix
        self.norm = nn.LayerNorm(d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Maps ``[..., d_in]`` to ``[..., d_out]``."""
        h = self.inner(F.elu(self.hidden(x)))
        return self.norm(self.skip(x) + F.glu(self.gate(self.dropout(h)), dim=-1))


class VariableSelection(nn.Module):
    """Weighs a row's column tokens and sums them (Lim et al., 2021, eq. 6-8).

    Args:
        n_tokens: Number of column tokens.
        d_model: Width of each token.
        dropout: Dropout of both GRNs.
    """

    def __init__(self, n_tokens: int, d_model: int, *, dropout: float) -> None:
        super().__init__()
        self.selector = GatedResidualNetwork(n_tokens * d_model, d_model, n_tokens, dropout=dropout)
        self.transform = GatedResidualNetwork(d_model, d_model, d_model, dropout=dropout)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Maps tokens ``[n, n_tokens, d_model]`` to the selected row ``[n, d_model]``
        and the column weights ``[n, n_tokens]`` (each row sums to 1)."""
        weights = torch.softmax(self.selector(tokens.flatten(1)), dim=-1)
        selected = (weights.unsqueeze(-1) * self.transform(tokens)).sum(dim=1)
        return selected, weights


class GatedTabularNetwork(nn.Module):
    """Column tokens -> variable selection -> ``n_blocks`` GRNs -> one logit per row.

    Reads what every tabular network of the toolkit reads: ``x_num`` (float
    ``[n, spec.n_numeric]``: values, then missing indicators) and ``x_cat``
    (int64 ``[n, len(spec.cardinalities)]``); returns logits ``[n]``.

    Args:
        spec: The input description from the fitted preprocessor.
        d_model: Width of every token and of the GRN stack.
        n_blocks: GRNs after the variable selection (0 is allowed).
        dropout: Dropout inside every GRN, in ``[0, 1)``.
        numeric_embedding: ``"none"`` (a linear map per column), ``"periodic"``
            or ``"ple"`` (:func:`fg_automl_tabular.make_numeric_embedding`, ``d_model`` wide).
        n_bins: Quantile bins per numeric column for ``"ple"``.
        frequency_scale: Initial frequency scale for ``"periodic"``.

    Raises:
        ValueError: A hyperparameter is out of range (the message names it).
    """

    def __init__(
        self,
        spec: TabularSpec,
        *,
        d_model: int,
        n_blocks: int,
        dropout: float,
        numeric_embedding: str,
        n_bins: int,
        frequency_scale: float,
    ) -> None:
        super().__init__()
        if d_model < 1:
            raise ValueError(f"d_model must be at least 1, but got {d_model=}; use for example d_model=32.")
        if n_blocks < 0:
            raise ValueError(f"n_blocks cannot be negative, but got {n_blocks=}; use 0 for none.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), but got {dropout=}.")
        self.n_numeric = spec.n_numeric
        self.n_categorical = len(spec.cardinalities)
        self.numeric_embedding = make_numeric_embedding(
            spec, kind=numeric_embedding, dim=d_model, n_bins=n_bins, frequency_scale=frequency_scale
        )
        # Used only without an embedding: one linear map x_j * w_j + b_j per numeric column.
        n_linear = self.n_numeric if self.numeric_embedding is None else 0
        bound = 1 / math.sqrt(d_model)
        self.numeric_weight = nn.Parameter(torch.empty(n_linear, d_model).uniform_(-bound, bound))
        self.numeric_bias = nn.Parameter(torch.empty(n_linear, d_model).uniform_(-bound, bound))
        self.categorical = CategoricalEmbedding(spec.cardinalities, d_model) if self.n_categorical else None
        self.selection = VariableSelection(self.n_numeric + self.n_categorical, d_model, dropout=dropout)
        self.blocks = nn.Sequential(
            *(GatedResidualNetwork(d_model, d_model, d_model, dropout=dropout) for _ in range(n_blocks))
        )
        self.head = nn.Linear(d_model, 1)

    def tokens(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        """Returns one token per column, ``[n, n_numeric + n_categorical, d_model]``."""
        tokens = []
        if self.n_numeric:
            if self.numeric_embedding is not None:
                tokens.append(self.numeric_embedding(x_num))
            else:
                tokens.append(x_num.unsqueeze(-1) * self.numeric_weight + self.numeric_bias)
        if self.categorical is not None:
            tokens.append(self.categorical(x_cat))
        return tokens[0] if len(tokens) == 1 else torch.cat(tokens, dim=1)

    def column_weights(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        """Returns how much each row's prediction draws on each column, ``[n, n_columns]``:
        the variable selection's softmax, numeric columns (indicators included) first."""
        return self.selection(self.tokens(x_num, x_cat))[1]

    def forward(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        selected, _ = self.selection(self.tokens(x_num, x_cat))
        return self.head(self.blocks(selected)).squeeze(-1)
