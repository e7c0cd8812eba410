"""The text task's preprocessing for its ONNX export: its Hugging Face BPE tokenisation in pure Python.

Copied into every ONNX export of a text model, where the loader
(``fg_automl_onnx.py``) calls :func:`preprocess`. It imports only numpy,
pandas and the standard library (neither ``tokenizers`` nor torch), and gives
the ids that ``fg_automl_text._tokenizer.encode_texts`` gives with the
model's fitted tokenizer:

1. the special tokens (``[PAD]``, ``[UNK]``, ``[CLS]``) are cut out of the raw
   text, longest first;
2. each piece is normalised as ``BertNormalizer`` does: control characters
   removed and whitespace made a space, CJK ideographs spaced, accents
   stripped (canonical decomposition, canonical reordering, non-spacing marks
   dropped), then lower-cased character by character;
3. it is split as ``BertPreTokenizer`` does: on whitespace (dropped) and
   around each punctuation character (kept alone);
4. each word is cut into its characters (unknown ones become ``[UNK]``) and
   merged by byte-pair encoding, lowest merge rank first, leftmost first;
5. ``[CLS]`` goes in front, the ids are truncated to ``max_length`` and padded
   with ``[PAD]``.

``spec`` holds ``text_column``, ``max_length``, ``pad_id``, ``tokenizer`` (the
fitted tokenizer's JSON, ``Tokenizer.to_str()`` parsed: vocabulary, merges,
special tokens, template, truncation) and ``unicode``: the character tables of
the ``tokenizers`` build that trained the model (which characters each step
removes, spaces, decomposes, lower-cases or splits on, and the canonical
combining classes), read from that build at export time, so the loader does
not depend on its own Python's Unicode database.
"""

from __future__ import annotations

import bisect
import heapq
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["TextEncoder", "check_tokenizer", "encode_texts", "preprocess"]

#: Hangul syllables decompose algorithmically (Unicode 3.12), not by table.
_HANGUL = (0xAC00, 0xD7A3)
_L_BASE, _V_BASE, _T_BASE, _V_COUNT, _T_COUNT = 0x1100, 0x1161, 0x11A7, 21, 28
#: Encoders built from a spec, by ``id(spec)`` (the spec is kept with it, so the id stays its own).
_ENCODERS: dict[int, tuple[dict[str, Any], TextEncoder]] = {}
_MAX_ENCODERS = 16
_MAX_CACHED_WORDS = 200_000


def preprocess(frame: pd.DataFrame, spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """The network's inputs for ``frame``'s texts (``spec["text_column"]``, read with ``astype(str)``).

    Returns:
        ``token_ids``: int64 ``[n, max_length]``, padded with ``pad_id``;
        ``mask``: bool ``[n, max_length]``, ``True`` on each row's real ids.

    Raises:
        ValueError: ``frame`` has no text column, or a row has no text (a
            missing value, which the fitted model cannot tokenise either).
    """
    column = spec["text_column"]
    if column not in frame.columns:
        raise ValueError(f"Column {column!r} is missing from the rows to predict; put the texts in it.")
    texts = frame[column].astype(str)
    missing = np.flatnonzero(texts.isna().to_numpy())
    if len(missing):
        raise ValueError(
            f"Column {column!r} has no text in {len(missing)} of {len(texts)} rows (first: row "
            f"{missing[0] + 1}, counting from 1); fill in those texts or remove those rows."
        )
    ids, lengths = encode_texts(texts.tolist(), spec)
    mask = np.arange(ids.shape[1])[None, :] < lengths[:, None]
    return {"token_ids": ids, "mask": mask}


def encode_texts(texts: Sequence[str], spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, lengths)`` of ``texts``: int64 ``[n, max_length]`` ids padded with
    ``pad_id`` and int64 ``[n]`` counts of real ids, as the plugin's ``encode_texts``."""
    encoder, max_length = _encoder(spec), int(spec["max_length"])
    ids = np.full((len(texts), max_length), int(spec["pad_id"]), dtype=np.int64)
    lengths = np.empty(len(texts), dtype=np.int64)
    for row, text in enumerate(texts):
        sequence = encoder.encode(text)[:max_length]
        ids[row, : len(sequence)] = sequence
        lengths[row] = len(sequence)
    return ids, lengths


def check_tokenizer(tokenizer: dict[str, Any]) -> None:
    """Raises ``ValueError`` naming the first part of ``tokenizer`` (its JSON) that
    :class:`TextEncoder` does not reproduce; returns None for the text task's tokenizers."""
    model, normalizer = tokenizer.get("model") or {}, tokenizer.get("normalizer") or {}
    wanted = {
        "model type": (model.get("type"), "BPE"),
        "BPE dropout": (model.get("dropout"), None),
        "BPE continuing_subword_prefix": (model.get("continuing_subword_prefix"), None),
        "BPE end_of_word_suffix": (model.get("end_of_word_suffix"), None),
        "BPE fuse_unk": (model.get("fuse_unk", False), False),
        "BPE byte_fallback": (model.get("byte_fallback", False), False),
        "BPE ignore_merges": (model.get("ignore_merges", False), False),
        "normalizer type": (normalizer.get("type"), "BertNormalizer"),
        "pre_tokenizer": (tokenizer.get("pre_tokenizer"), {"type": "BertPreTokenizer"}),
        "post_processor type": ((tokenizer.get("post_processor") or {}).get("type"), "TemplateProcessing"),
        "padding": (tokenizer.get("padding"), None),
        "truncation direction": ((tokenizer.get("truncation") or {}).get("direction", "Right"), "Right"),
    }
    for name, (found, expected) in wanted.items():
        if found != expected:
            raise ValueError(f"the tokenizer's {name} must be {expected!r}, but it is {found!r}")
    for token in tokenizer.get("added_tokens") or []:
        if token.get("normalized") or token.get("lstrip") or token.get("rstrip") or token.get("single_word"):
            raise ValueError(f"added token {token['content']!r} is normalized, stripped or single-word")
    for item in tokenizer["post_processor"]["single"]:
        if "Sequence" in item and item["Sequence"]["id"] != "A":
            raise ValueError(f"the template's single sequence must be A, but it is {item!r}")


def _encoder(spec: dict[str, Any]) -> TextEncoder:
    """The encoder of ``spec``, built once per spec object."""
    found = _ENCODERS.get(id(spec))
    if found is not None and found[0] is spec:
        return found[1]
    if len(_ENCODERS) >= _MAX_ENCODERS:
        _ENCODERS.clear()
    encoder = TextEncoder(spec["tokenizer"], spec["unicode"])
    _ENCODERS[id(spec)] = (spec, encoder)
    return encoder


class TextEncoder:
    """A fitted tokenizer (its JSON) as pure Python: :meth:`encode` gives its ids.

    Args:
        tokenizer: ``json.loads(Tokenizer.to_str())`` of a tokenizer that
            :func:`check_tokenizer` accepts.
        unicode: The character tables of the ``tokenizers`` build (``spec["unicode"]``).

    Raises:
        ValueError: ``check_tokenizer`` rejects ``tokenizer``.
    """

    def __init__(self, tokenizer: dict[str, Any], unicode: dict[str, Any]) -> None:
        check_tokenizer(tokenizer)
        self.normalizer = _Normalizer(tokenizer["normalizer"], unicode)
        self.whitespace = _Ranges(unicode["whitespace"])
        self.punctuation = _Ranges(unicode["punctuation"])
        self._ascii_words = _ascii_words(self.whitespace, self.punctuation)
        self.bpe = _BytePairEncoding(tokenizer["model"])
        added = {token["content"]: int(token["id"]) for token in tokenizer.get("added_tokens") or []}
        self.added = added
        contents = sorted(added, key=len, reverse=True)  # leftmost, then longest, as tokenizers matches
        self.added_pattern = re.compile("|".join(map(re.escape, contents))) if contents else None
        self.prefix, self.suffix = _template(tokenizer["post_processor"])
        truncation = tokenizer.get("truncation")
        self.max_ids = None if truncation is None else int(truncation["max_length"])

    def encode(self, text: str) -> list[int]:
        """The ids of ``text``: the template's special ids around its truncated tokens."""
        ids: list[int] = []
        for piece, special in self._split_added(text):
            if special is not None:
                ids.append(special)
                continue
            for word in self.pre_tokenize(self.normalize(piece)):
                ids.extend(self.bpe.encode(word))
        if self.max_ids is not None:
            ids = ids[: max(0, self.max_ids - len(self.prefix) - len(self.suffix))]
        return [*self.prefix, *ids, *self.suffix]

    def _split_added(self, text: str) -> Iterator[tuple[str, int | None]]:
        """Pieces of ``text`` between special tokens (id None), and the special tokens (their id)."""
        start = 0
        if self.added_pattern is not None:
            for match in self.added_pattern.finditer(text):
                if match.start() > start:
                    yield text[start : match.start()], None
                yield match.group(), self.added[match.group()]
                start = match.end()
        if start < len(text):
            yield text[start:], None

    def normalize(self, text: str) -> str:
        """``text`` normalised as the tokenizer's ``BertNormalizer`` does."""
        return self.normalizer.normalize(text)

    def pre_tokenize(self, text: str) -> list[str]:
        """The words of normalised ``text``, as ``BertPreTokenizer`` splits it: on
        whitespace (dropped) and around each punctuation character (kept alone)."""
        return self._ascii_words.findall(text) if text.isascii() else self._split(text)

    def _split(self, text: str) -> list[str]:
        """:meth:`pre_tokenize`, character by character (any text)."""
        words, current = [], []
        for char in text:
            code = ord(char)
            if code in self.whitespace or code in self.punctuation:
                if current:
                    words.append("".join(current))
                    current = []
                if code in self.punctuation:
                    words.append(char)
            else:
                current.append(char)
        if current:
            words.append("".join(current))
        return words


def _ascii_words(whitespace: _Ranges, punctuation: _Ranges) -> re.Pattern[str]:
    """A pattern whose matches in an ASCII text are its words: runs of other
    characters, and each punctuation character alone (whitespace dropped)."""
    marks = "".join(chr(code) for code in range(128) if code in punctuation)  # kept, as pre_tokenize does
    spaces = "".join(chr(code) for code in range(128) if code in whitespace and code not in punctuation)
    words = f"[^{re.escape(spaces + marks)}]+" if spaces + marks else r"[\s\S]+"
    return re.compile(f"{words}|[{re.escape(marks)}]" if marks else words)


def _template(post_processor: dict[str, Any]) -> tuple[list[int], list[int]]:
    """The special ids before and after the sequence in a single-sequence ``TemplateProcessing``."""
    prefix: list[int] = []
    suffix: list[int] = []
    target = prefix
    for item in post_processor["single"]:
        if "Sequence" in item:
            target = suffix
        else:
            name = item["SpecialToken"]["id"]
            target.extend(int(i) for i in post_processor["special_tokens"][name]["ids"])
    return prefix, suffix


class _Ranges:
    """Code points in sorted, disjoint, inclusive ranges ``[[first, last, (value)], ...]``."""

    def __init__(self, ranges: Sequence[Sequence[int]]) -> None:
        self.firsts = [int(r[0]) for r in ranges]
        self.lasts = [int(r[1]) for r in ranges]
        self.values = [int(r[2]) if len(r) > 2 else 1 for r in ranges]

    def value(self, code: int) -> int:
        """The value of the range holding ``code`` (1 for a plain set); 0 outside every range."""
        index = bisect.bisect_right(self.firsts, code) - 1
        return self.values[index] if index >= 0 and code <= self.lasts[index] else 0

    def __contains__(self, code: int) -> bool:
        return self.value(code) != 0


class _Normalizer:
    """``BertNormalizer`` (clean text, space CJK ideographs, strip accents, lower-case) from tables."""

    def __init__(self, options: dict[str, Any], unicode: dict[str, Any]) -> None:
        self.clean = bool(options.get("clean_text", True))
        self.space_cjk = bool(options.get("handle_chinese_chars", True))
        self.lowercase = bool(options.get("lowercase", True))
        strip = options.get("strip_accents")
        self.strip_accents = self.lowercase if strip is None else bool(strip)
        self.removed, self.spaces = _Ranges(unicode["removed"]), _Ranges(unicode["spaces"])
        self.cjk, self.marks = _Ranges(unicode["cjk"]), _Ranges(unicode["marks"])
        self.combining = _Ranges(unicode["combining"])
        self.decompositions: dict[str, str] = unicode["decompositions"]
        self.lower: dict[str, str] = unicode["lowercase"]
        self._prepared: dict[str, str] = {}
        # ASCII characters normalise one by one (no combining marks, no context): a table does it in C.
        self._ascii = str.maketrans({chr(code): self._normalize(chr(code)) for code in range(128)})

    def normalize(self, text: str) -> str:
        """``text`` normalised as ``tokenizers``' ``BertNormalizer`` does."""
        return text.translate(self._ascii) if text.isascii() else self._normalize(text)

    def _normalize(self, text: str) -> str:
        prepared = "".join(self._prepare(char) for char in text)
        if self.strip_accents:
            prepared = "".join(c for c in self._reorder(prepared) if ord(c) not in self.marks)
        if self.lowercase:
            return "".join(self.lower.get(c, c) for c in prepared)
        return prepared

    def _prepare(self, char: str) -> str:
        """One character cleaned, spaced if CJK, and canonically decomposed (when stripping accents)."""
        found = self._prepared.get(char)
        if found is None:
            found = char
            code = ord(char)
            if self.clean and code in self.removed:
                found = ""
            elif self.clean and code in self.spaces:
                found = " "
            elif self.space_cjk and code in self.cjk:
                found = f" {char} "
            if self.strip_accents:
                found = "".join(self._decompose(c) for c in found)
            self._prepared[char] = found
        return found

    def _decompose(self, char: str) -> str:
        code = ord(char)
        if _HANGUL[0] <= code <= _HANGUL[1] and char not in self.decompositions:
            index = code - _HANGUL[0]
            lead, vowel, trail = (
                index // (_V_COUNT * _T_COUNT),
                index % (_V_COUNT * _T_COUNT) // _T_COUNT,
                index % _T_COUNT,
            )
            jamo = chr(_L_BASE + lead) + chr(_V_BASE + vowel)
            return jamo + chr(_T_BASE + trail) if trail else jamo
        return self.decompositions.get(char, char)

    def _reorder(self, text: str) -> list[str]:
        """Canonical ordering: each run of combining characters stably sorted by combining class."""
        chars, run, out = list(text), [], []
        for char in chars:
            if self.combining.value(ord(char)):
                run.append(char)
                continue
            if run:
                out.extend(sorted(run, key=lambda c: self.combining.value(ord(c))))
                run = []
            out.append(char)
        out.extend(sorted(run, key=lambda c: self.combining.value(ord(c))))
        return out


class _BytePairEncoding:
    """A BPE model's vocabulary and merges; :meth:`encode` gives a word's ids."""

    def __init__(self, model: dict[str, Any]) -> None:
        self.vocab: dict[str, int] = {token: int(i) for token, i in model["vocab"].items()}
        unk = model.get("unk_token")
        self.unk_id = None if unk is None else self.vocab[unk]
        merges = [m.split(" ", 1) if isinstance(m, str) else m for m in model["merges"]]
        self.ranks: dict[tuple[str, str], int] = {}
        for rank, (left, right) in enumerate(merges):
            self.ranks[(left, right)] = rank  # a repeated merge keeps its last rank, as in tokenizers
        self._cache: dict[str, list[int]] = {}

    def encode(self, word: str) -> list[int]:
        """The ids of ``word``: its characters merged by rank; characters outside the vocabulary are unknown."""
        found = self._cache.get(word)
        if found is None:
            found = []
            for symbol in self._merge(list(word)):
                token = self.vocab.get(symbol, self.unk_id)
                if token is not None:  # without an unknown token, tokenizers drops the character
                    found.append(token)
            if len(self._cache) >= _MAX_CACHED_WORDS:
                self._cache.clear()
            self._cache[word] = found
        return found

    def _merge(self, symbols: list[str]) -> list[str]:
        """Merges adjacent symbols, always the pair of lowest rank and, among equals, the leftmost.

        Symbols form a linked list and candidate pairs a heap, as in ``tokenizers``,
        so a long word costs ``O(n log n)``.
        """
        count = len(symbols)
        following = [*range(1, count), -1]
        preceding = list(range(-1, count - 1))
        alive = [True] * count
        heap = [
            (rank, i, symbols[i], symbols[i + 1])
            for i in range(count - 1)
            if (rank := self.ranks.get((symbols[i], symbols[i + 1]))) is not None
        ]
        heapq.heapify(heap)
        while heap:
            _, i, left, right = heapq.heappop(heap)
            j = following[i] if alive[i] else -1
            if j < 0 or symbols[i] != left or symbols[j] != right:
                continue  # an entry that an earlier merge made stale
            symbols[i] = left + right
            alive[j] = False
            following[i] = following[j]
            if following[j] >= 0:
                preceding[following[j]] = i
            for a, b in ((preceding[i], i), (i, following[i])):
                if a >= 0 and b >= 0 and (rank := self.ranks.get((symbols[a], symbols[b]))) is not None:
                    heapq.heappush(heap, (rank, a, symbols[a], symbols[b]))
        return [symbol for symbol, keep in zip(symbols, alive, strict=True) if keep]
