"""What a text network is built for: the input description of a fitted tokenizer.

Its own module, below the networks and the families, so neither imports the
other for it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["TextSpec"]


@dataclass(frozen=True, kw_only=True)
class TextSpec:
    """What a family's ``build`` knows about its input and output.

    Attributes:
        vocab_size: Number of token ids (the fitted tokenizer's vocabulary).
        max_length: Longest sequence, ``[CLS]`` included.
        n_classes: Number of classes (logits per row).
        pad_id: Id of the padding token.
    """

    vocab_size: int
    max_length: int
    n_classes: int
    pad_id: int = 0

    def to_state(self) -> dict[str, int]:
        """Returns the spec as plain ints."""
        return asdict(self)
