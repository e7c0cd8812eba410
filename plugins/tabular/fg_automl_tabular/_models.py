"""The tabular model families, built from a :class:`~fg_automl_tabular._spec.TabularSpec`.

Building a network imports torch; importing this module does not, so a plugin
can list its families (``fg-automl plugins``) without loading torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from finegrain_automl.task import ModelFamily
from fg_automl_tabular._spec import TabularSpec

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "FT_TRANSFORMER",
    "LINEAR",
    "REALMLP",
    "RESMLP",
    "TABM",
    "TABULAR_FAMILIES",
    "build_ft_transformer",
    "build_linear",
    "build_realmlp",
    "build_resmlp",
    "build_tabm",
]


def build_resmlp(
    spec: TabularSpec,
    *,
    hidden: int = 128,
    depth: int = 2,
    dropout: float = 0.1,
    embedding_dim: int = 8,
    activation: str = "relu",
    numeric_embedding: str = "none",
    numeric_embedding_dim: int = 8,
    n_bins: int = 16,
    frequency_scale: float = 0.1,
) -> nn.Module:
    """Builds a residual MLP: embeddings and numbers -> linear -> residual blocks -> head.

    Each block is ``x + dropout(activation(linear(layer_norm(x))))``.

    Args:
        spec: The input description.
        hidden: Width of the residual stream.
        depth: Number of residual blocks (0 is allowed).
        dropout: Dropout probability inside the blocks.
        embedding_dim: Width of each categorical column's embedding.
        activation: ``"relu"``, ``"gelu"``, ``"silu"``, ``"selu"`` or ``"mish"``.
        numeric_embedding, numeric_embedding_dim, n_bins, frequency_scale:
            The numeric columns' embedding (:data:`NUMERIC_EMBEDDING_ARGS`).

    Returns:
        A module mapping ``(x_num, x_cat)`` to logits of shape ``[n]``.
    """
    from fg_automl_tabular._networks import ResMLP

    return ResMLP(
        spec,
        hidden=hidden,
        depth=depth,
        dropout=dropout,
        embedding_dim=embedding_dim,
        activation=activation,
        numeric=_numeric(numeric_embedding, numeric_embedding_dim, n_bins, frequency_scale),
    )


def build_ft_transformer(
    spec: TabularSpec,
    *,
    d_token: int = 32,
    n_layers: int = 2,
    n_heads: int = 2,
    dropout: float = 0.1,
    ffn_factor: float = 4 / 3,
    numeric_embedding: str = "none",
    n_bins: int = 16,
    frequency_scale: float = 0.1,
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
        numeric_embedding, n_bins, frequency_scale: The numeric columns'
            tokens: ``"none"`` is the linear tokenizer above; ``"ple"`` and
            ``"periodic"`` embed each numeric column (missing indicators
            included, each its own token) into ``d_token``.

    Returns:
        A module mapping ``(x_num, x_cat)`` to logits of shape ``[n]``.
    """
    from fg_automl_tabular._networks import FTTransformer

    return FTTransformer(
        spec,
        d_token=d_token,
        n_layers=n_layers,
        n_heads=n_heads,
        dropout=dropout,
        ffn_factor=ffn_factor,
        numeric=_numeric(numeric_embedding, d_token, n_bins, frequency_scale),
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
    from fg_automl_tabular._networks import Linear

    return Linear(spec, embedding_dim=embedding_dim)


def build_tabm(
    spec: TabularSpec,
    *,
    k: int = 16,
    n_blocks: int = 2,
    d_block: int = 256,
    dropout: float = 0.1,
    arch_type: str = "tabm",
    numeric_embedding: str = "ple",
    numeric_embedding_dim: int = 8,
    n_bins: int = 16,
    frequency_scale: float = 0.1,
) -> nn.Module:
    """Builds TabM (Gorishniy, Kotelnikov & Babenko, ICLR 2025): ``k`` MLPs
    trained at once as one parameter-efficient ensemble, from the ``tabm`` package.

    Args:
        spec: The input description.
        k: Ensemble members.
        n_blocks: Hidden layers of each member.
        d_block: Their width.
        dropout: Dropout after each hidden layer.
        arch_type: ``"tabm"`` (BatchEnsemble adapters in every layer) or
            ``"tabm-mini"`` (members differ only by a first scaling).
        numeric_embedding, numeric_embedding_dim, n_bins, frequency_scale:
            The numeric columns' embedding (:data:`NUMERIC_EMBEDDING_ARGS`;
            the paper's best variant, TabM with PLE, is the default).

    Returns:
        A module mapping ``(x_num, x_cat)`` to logits ``[n]`` in evaluation
        (the members' mean probability) and ``[n, k]`` in training.
    """
    from fg_automl_tabular._networks import TabMNetwork

    return TabMNetwork(
        spec,
        k=k,
        n_blocks=n_blocks,
        d_block=d_block,
        dropout=dropout,
        arch_type=arch_type,
        numeric=_numeric(numeric_embedding, numeric_embedding_dim, n_bins, frequency_scale),
    )


def build_realmlp(
    spec: TabularSpec,
    *,
    width: int = 256,
    depth: int = 3,
    dropout: float = 0.15,
    activation: str = "selu",
    embedding_dim: int = 4,
    n_frequencies: int = 16,
    frequency_scale: float = 0.1,
) -> nn.Module:
    """Builds a RealMLP-style MLP (Holzmüller et al., NeurIPS 2024) with the
    paper's tuned defaults for classification: 3 x 256 SELU layers, dropout
    0.15, a learnable scale per input, periodic embeddings (16 frequencies,
    scale 0.1, 4 wide) beside each numeric value. Pair it with the
    ``robust`` preprocessing (its starting points do).

    Args:
        spec: The input description.
        width: Hidden layer width.
        depth: Hidden layers.
        dropout: Dropout after each hidden layer.
        activation: ``"selu"``, ``"mish"``, ``"relu"``, ``"gelu"`` or ``"silu"``.
        embedding_dim: Width of each numeric column's periodic embedding and
            of each categorical column's embedding.
        n_frequencies: Frequencies per numeric column.
        frequency_scale: Standard deviation of the initial frequencies.

    Returns:
        A module mapping ``(x_num, x_cat)`` to logits of shape ``[n]``.
    """
    from fg_automl_tabular._networks import RealMLP

    return RealMLP(
        spec,
        width=width,
        depth=depth,
        dropout=dropout,
        activation=activation,
        embedding_dim=embedding_dim,
        n_frequencies=n_frequencies,
        frequency_scale=frequency_scale,
    )


#: The numeric-embedding hyperparameters of ``resmlp`` and ``tabm``
#: (``ft_transformer`` takes all but the width, which is ``d_token``):
#: ``numeric_embedding`` (``"none"``, ``"periodic"`` or ``"ple"``),
#: ``numeric_embedding_dim``, ``n_bins`` (``"ple"``) and ``frequency_scale``
#: (``"periodic"``). See :mod:`fg_automl_tabular._embeddings`.
NUMERIC_EMBEDDING_ARGS: tuple[str, ...] = ("numeric_embedding", "numeric_embedding_dim", "n_bins", "frequency_scale")


def _numeric(kind: str, dim: int, n_bins: int, frequency_scale: float):  # -> NumericEmbeddingOptions
    from fg_automl_tabular._networks import NumericEmbeddingOptions

    return NumericEmbeddingOptions(kind=kind, dim=dim, n_bins=n_bins, frequency_scale=frequency_scale)


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
REALMLP = ModelFamily(
    name="realmlp",
    build=build_realmlp,
    complexity=1,
    description="RealMLP-style MLP: input scaling, periodic embeddings beside the values, SELU layers.",
)
TABM = ModelFamily(
    name="tabm",
    build=build_tabm,
    complexity=2,
    description="TabM: a parameter-efficient ensemble of MLPs trained as one, piecewise-linear embeddings.",
)
FT_TRANSFORMER = ModelFamily(
    name="ft_transformer",
    build=build_ft_transformer,
    complexity=3,
    description="FT-Transformer: one token per column, CLS token, pre-norm attention.",
)

#: The tabular families by name; a plugin returns ``dict(TABULAR_FAMILIES)``.
TABULAR_FAMILIES: dict[str, ModelFamily] = {
    f.name: f for f in (LINEAR, RESMLP, REALMLP, TABM, FT_TRANSFORMER)
}
