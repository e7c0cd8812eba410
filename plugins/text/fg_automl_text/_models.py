"""The model families of the ``text`` task, built from a :class:`~fg_automl_text._spec.TextSpec`.

Building a network imports torch (:mod:`._networks`); importing this module
does not, so ``fg-automl plugins`` lists the families without loading torch.
Every network maps ``(token_ids, mask)`` to logits ``[n, n_classes]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finegrain_automl import ModelFamily
from fg_automl_text._spec import TextSpec

if TYPE_CHECKING:
    from torch import nn

__all__ = ["TEXT_FAMILIES", "TextSpec", "build_bag", "build_cnn", "build_rnn", "build_transformer"]


def build_bag(
    spec: TextSpec, *, embedding_dim: int = 64, dropout: float = 0.1, bigrams: bool = False
) -> nn.Module:
    """Builds :class:`~._networks.BagOfEmbeddings`."""
    _positive("embedding_dim", embedding_dim)
    _dropout(dropout)
    from fg_automl_text._networks import BagOfEmbeddings

    return BagOfEmbeddings(spec, embedding_dim=embedding_dim, dropout=dropout, bigrams=bool(bigrams))


def build_cnn(
    spec: TextSpec,
    *,
    embedding_dim: int = 64,
    filters: int = 64,
    kernel_sizes: str = "3,4,5",
    dropout: float = 0.2,
) -> nn.Module:
    """Builds :class:`~._networks.ConvEncoder`.

    ``kernel_sizes`` is a comma-separated list of convolution widths, such as ``"3,4,5"``.
    """
    _positive("embedding_dim", embedding_dim)
    _positive("filters", filters)
    _dropout(dropout)
    sizes = _kernel_sizes(kernel_sizes)
    from fg_automl_text._networks import ConvEncoder

    return ConvEncoder(
        spec, embedding_dim=embedding_dim, filters=filters, kernel_sizes=sizes, dropout=dropout
    )


def build_rnn(
    spec: TextSpec,
    *,
    embedding_dim: int = 64,
    hidden: int = 64,
    cell: str = "lstm",
    bidirectional: bool = True,
    n_layers: int = 1,
    dropout: float = 0.2,
) -> nn.Module:
    """Builds :class:`~._networks.RecurrentEncoder`; ``cell`` is ``"lstm"`` or ``"gru"``."""
    _positive("embedding_dim", embedding_dim)
    _positive("hidden", hidden)
    _positive("n_layers", n_layers)
    _dropout(dropout)
    if cell not in ("lstm", "gru"):
        raise ValueError(f"cell must be 'lstm' or 'gru', but got {cell=}. Use one of them.")
    from fg_automl_text._networks import RecurrentEncoder

    return RecurrentEncoder(
        spec,
        embedding_dim=embedding_dim,
        hidden=hidden,
        cell=cell,
        bidirectional=bool(bidirectional),
        n_layers=n_layers,
        dropout=dropout,
    )


def build_transformer(
    spec: TextSpec,
    *,
    d_model: int = 64,
    n_heads: int = 4,
    n_layers: int = 2,
    ffn_factor: float = 2.0,
    dropout: float = 0.1,
    pooling: str = "mean",
) -> nn.Module:
    """Builds :class:`~._networks.TransformerEncoderClassifier`.

    Raises:
        ValueError: ``d_model`` is not divisible by ``n_heads``, or another value is out of range.
    """
    _positive("d_model", d_model)
    _positive("n_heads", n_heads)
    _positive("n_layers", n_layers)
    _dropout(dropout)
    if d_model % n_heads:
        raise ValueError(
            f"d_model must be divisible by n_heads, but got {d_model=} and {n_heads=}. "
            "Choose d_model as a multiple of every n_heads value in the space."
        )
    if not ffn_factor > 0:
        raise ValueError(f"ffn_factor must be positive, but got {ffn_factor=}. Use for example 2.0.")
    if pooling not in ("mean", "cls"):
        raise ValueError(f"pooling must be 'mean' or 'cls', but got {pooling=}. Use one of them.")
    from fg_automl_text._networks import TransformerEncoderClassifier

    return TransformerEncoderClassifier(
        spec,
        d_model=d_model,
        n_heads=n_heads,
        n_layers=n_layers,
        ffn_factor=ffn_factor,
        dropout=dropout,
        pooling=pooling,
    )


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, but got {name}={value!r}. Use 1 or more.")


def _dropout(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise ValueError(f"dropout must be in [0, 1), but got dropout={value!r}. Use for example 0.1.")


def _kernel_sizes(text: str) -> tuple[int, ...]:
    parts = [part.strip() for part in str(text).split(",")]
    if not parts or not all(part.isdigit() and int(part) >= 1 for part in parts):
        raise ValueError(
            f"kernel_sizes must be comma-separated positive integers, but got kernel_sizes={text!r}. "
            "Use for example '3,4,5'."
        )
    return tuple(int(part) for part in parts)


#: The task's own model families, by name.
TEXT_FAMILIES: dict[str, ModelFamily] = {
    family.name: family
    for family in (
        ModelFamily(
            name="bag",
            build=build_bag,
            description="fastText-like mean of token (and bigram) embeddings.",
            complexity=0,
        ),
        ModelFamily(
            name="cnn", build=build_cnn, description="1-D convolutions of several widths, max-pooled.", complexity=1
        ),
        ModelFamily(
            name="rnn", build=build_rnn, description="LSTM or GRU encoder, uni- or bidirectional.", complexity=2
        ),
        ModelFamily(
            name="transformer",
            build=build_transformer,
            description="Small pre-norm Transformer encoder.",
            complexity=3,
        ),
    )
}
