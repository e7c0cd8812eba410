"""Subword tokenisation with Hugging Face ``tokenizers``, learned from training rows only.

A byte-pair-encoding model (lower-cased, accents stripped, split on whitespace
and punctuation) is trained offline from the texts a fit receives. Every
sequence starts with ``[CLS]``, so no text is ever empty after tokenisation,
and is truncated to ``max_length`` ids. The BPE trainer without a subword
prefix is deterministic (the WordPiece trainer, and BPE with
``continuing_subword_prefix``, are not in tokenizers 0.23), so identical rows
give identical vocabularies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

__all__ = ["CLS_ID", "PAD_ID", "SPECIAL_TOKENS", "UNK_ID", "encode_texts", "train_tokenizer"]

#: Special tokens, in id order: padding, unknown characters, start of sequence.
SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]")
PAD_ID, UNK_ID, CLS_ID = 0, 1, 2
#: A merge must occur this often in the training texts to enter the vocabulary.
_MIN_FREQUENCY = 2


def train_tokenizer(texts: Sequence[str], *, vocab_size: int, max_length: int) -> Tokenizer:
    """Trains a BPE tokenizer on ``texts`` and sets it to truncate to ``max_length``.

    Args:
        texts: The training texts (and nothing else: scoring rows never reach it).
        vocab_size: Largest vocabulary, special tokens included; fewer ids are
            learned when the texts hold fewer useful merges.
        max_length: Ids per sequence, ``[CLS]`` included.

    Returns:
        The trained tokenizer; :meth:`Tokenizer.to_str` saves it.
    """
    tokenizer = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS[UNK_ID]))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True, clean_text=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=_MIN_FREQUENCY,
        special_tokens=list(SPECIAL_TOKENS),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer, length=len(texts))
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{SPECIAL_TOKENS[CLS_ID]} $A", special_tokens=[(SPECIAL_TOKENS[CLS_ID], CLS_ID)]
    )
    tokenizer.enable_truncation(max_length)
    return tokenizer


def encode_texts(
    tokenizer: Tokenizer, texts: Sequence[str], *, max_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Encodes ``texts`` into padded ids and lengths.

    Returns:
        ``(ids, lengths)``: int64 ``[n, max_length]`` ids padded with
        :data:`PAD_ID`, and int64 ``[n]`` counts of real ids (at least 1).
    """
    encodings = tokenizer.encode_batch(list(texts))
    ids = np.full((len(encodings), max_length), PAD_ID, dtype=np.int64)
    lengths = np.empty(len(encodings), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        sequence = encoding.ids[:max_length]
        ids[row, : len(sequence)] = sequence
        lengths[row] = len(sequence)
    return ids, lengths
