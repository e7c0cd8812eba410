"""The tabular model families and the input description they are built from.

Building a network imports torch; importing this module does not, so a plugin
can list its families (``fg-automl plugins``) without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from finegrain_automl.task import ModelFamily

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "FT_TRANSFORMER",
    "LINEAR",
    "RESMLP",
    "TABULAR_FAMILIES",
    "TabularSpec",
    "build_ft_transformer",
    "build_linear",
    "build_resmlp",
]


@dataclass(frozen=True)
class TabularSpec:
    """What a tabular network reads, as produced by a fitted preprocessor.

    Attributes:
        n_numeric: Width of the float input ``x_num``: numeric values, then
            0/1 missing indicators.
        cardinalities: Number of codes per categorical column of the integer
            input ``x_cat``, code 0 (unknown or missing) included.
        missing_indicators: For each missing indicator (the last
            ``len(missing_indicators)`` columns of ``x_num``), the position of
            the numeric value column it flags. A network may treat them as
            plain inputs (ResMLP) or fold each into its column's token
            (FT-Transformer, which keeps one token per column).
    """

    n_numeric: int
    cardinalities: tuple[int, ...] = ()
    missing_indicators: tuple[int, ...] = ()

    @property
    def n_values(self) -> int:
        """Number of numeric value columns (``n_numeric`` minus the indicators)."""
        return self.n_numeric - len(self.missing_indicators)

    def __post_init__(self) -> None:
        if self.n_numeric < 0:
            raise ValueError(f"n_numeric cannot be negative, but got {self.n_numeric=}.")
        flagged = self.missing_indicators
        if len(set(flagged)) != len(flagged) or any(not 0 <= i < self.n_values for i in flagged):
            raise ValueError(
                "missing_indicators must name distinct value columns below "
                f"n_numeric - len(missing_indicators), but got {self.missing_indicators=} "
                f"with {self.n_numeric=}."
            )
        if any(c < 1 for c in self.cardinalities):
            raise ValueError(f"Every cardinality must be at least 1, but got {self.cardinalities=}.")
        if self.n_numeric == 0 and not self.cardinalities:
            raise ValueError("A tabular network needs at least one numeric or categorical column.")


def build_resmlp(
    spec: TabularSpec,
    *,
    hidden: int = 128,
    depth: int = 2,
    dropout: float = 0.1,
    embedding_dim: int = 8,
    activation: str = "relu",
) -> nn.Module:
    """Builds a residual MLP: embeddings and numbers -> linear -> residual blocks -> head.

    Each block is ``x + dropout(activation(linear(layer_norm(x))))``.

    Args:
        spec: The input description.
        hidden: Width of the residual stream.
        depth: Number of residual blocks (0 is allowed).
        dropout: Dropout probability inside the blocks.
        embedding_dim: Width of each categorical column's embedding.
        activation: ``"relu"``, ``"gelu"`` or ``"silu"``.

    Returns:
        A module mapping ``(x_num, x_cat)`` to logits of shape ``[n]``.
    """
    from finegrain_automl.tabular._networks import ResMLP

    return ResMLP(
        spec,
        hidden=hidden,
        depth=depth,
        dropout=dropout,
        embedding_dim=embedding_dim,
        activation=activation,
    )


def build_ft_transformer(
    spec: TabularSpec,
    *,
    d_token: int = 32,
    n_layers: int = 2,
    n_heads: int = 2,
    dropout: float = 0.1,
    ffn_factor: float = 4 / 3,
) -> nn.Module:
    """Builds an FT-Transformer (Gorishniy et al., 2021).

    Every numeric column becomes a token ``x_j * w_j + b_j`` (plus a learned
    vector ``m_j`` when its value is missing), every categorical column an
    embedding token; a CLS token is prepended, pre-norm transformer layers
    (batch first) mix them, and a head reads the CLS token. As in the paper,
    the last layer computes only the CLS token's output, and attention runs
    through ``F.scaled_dot_product_attention`` without attention dropout so
    that the fused CPU kernel applies; ``nn.TransformerEncoder`` was measured
    3-4x slower per step on CPU at these sizes.

    Args:
        spec: The input description.
        d_token: Token width; must be divisible by ``n_heads``.
        n_layers: Number of transformer layers.
        n_heads: Attention heads per layer (heads narrower than 16 are slow on CPU).
        dropout: Dropout of each feed-forward sublayer's hidden units.
        ffn_factor: Feed-forward hidden width as a multiple of ``d_token``.

    Returns:
        A module mapping ``(x_num, x_cat)`` to logits of shape ``[n]``.
    """
    from finegrain_automl.tabular._networks import FTTransformer

    return FTTransformer(
        spec,
        d_token=d_token,
        n_layers=n_layers,
        n_heads=n_heads,
        dropout=dropout,
        ffn_factor=ffn_factor,
    )


def build_linear(spec: TabularSpec, *, embedding_dim: int = 4) -> nn.Module:
    """Builds a logistic regression: a linear map of the standardised numbers and
    of small categorical embeddings to one logit. It puts the classical baseline
    inside the search space; weight decay is its L2 penalty.

    Args:
        spec: The input description.
        embedding_dim: Width of each categorical column's embedding.

    Returns:
        A module mapping ``(x_num, x_cat)`` to logits of shape ``[n]``.
    """
    from finegrain_automl.tabular._networks import Linear

    return Linear(spec, embedding_dim=embedding_dim)


LINEAR = ModelFamily(
    name="linear",
    build=build_linear,
    complexity=0,
    description="Logistic regression over standardised numbers and categorical embeddings.",
)
RESMLP = ModelFamily(
    name="resmlp",
    build=build_resmlp,
    complexity=1,
    description="Residual MLP over standardised numbers and categorical embeddings.",
)
FT_TRANSFORMER = ModelFamily(
    name="ft_transformer",
    build=build_ft_transformer,
    complexity=2,
    description="FT-Transformer: one token per column, CLS token, pre-norm attention.",
)

#: The tabular families by name; a plugin returns ``dict(TABULAR_FAMILIES)``.
TABULAR_FAMILIES: dict[str, ModelFamily] = {f.name: f for f in (LINEAR, RESMLP, FT_TRANSFORMER)}
