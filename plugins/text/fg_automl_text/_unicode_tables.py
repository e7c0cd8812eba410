"""What the installed ``tokenizers`` does with each character, as tables for
:mod:`fg_automl_text.onnx_preprocess`.

``tokenizers`` normalises and splits with Unicode data of its own: Rust's
standard library (lower case, whitespace), the ``unicode_categories`` crate
(control characters, non-spacing marks, punctuation) and the
``unicode-normalization-alignments`` crate (canonical decomposition), each of
its own Unicode version. Python's ``unicodedata`` disagrees with them on
hundreds of characters, so :func:`unicode_tables` asks ``tokenizers`` itself,
for every code point, what each step does with it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import tokenizers
from tokenizers import normalizers, pre_tokenizers

__all__ = ["unicode_tables"]

#: A character every normalising step keeps as it is: it separates probes in one call.
_SEPARATOR = "|"
_CHUNK = 1 << 15
#: References of the highest (240) and the lowest (1) canonical combining class.
_HIGHEST, _LOWEST = "\u0345", "\u0334"
_HANGUL_FIRST, _HANGUL_COUNT = 0xAC00, 11172


@functools.cache
def unicode_tables() -> dict[str, Any]:
    """The character tables of the installed ``tokenizers`` (JSON; computed once per process, a few seconds).

    Sets are sorted inclusive ranges of code points ``[[first, last], ...]``:

    - ``removed`` / ``spaces``: what ``BertNormalizer``'s text cleaning deletes / makes a space;
    - ``cjk``: what it surrounds with spaces as a CJK ideograph;
    - ``decompositions``: ``{character: canonical decomposition}`` where NFD
      changes it (Hangul syllables only where the standard algorithm would differ);
    - ``combining``: ``[[first, last, class], ...]``, the canonical combining
      classes NFD reorders by, as ``tokenizers`` orders them;
    - ``marks``: what stripping accents deletes from decomposed text (non-spacing marks);
    - ``lowercase``: ``{character: lower case}`` where it differs;
    - ``whitespace`` / ``punctuation``: what ``BertPreTokenizer`` splits on and drops / isolates.

    Raises:
        RuntimeError: A step did something the tables cannot hold (a newer
            ``tokenizers``): ``onnx_preprocess`` needs a new table.
    """
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]  # surrogates are no characters
    cleaned = _probe(_bert_step(clean_text=True), chars)
    spaced = _probe(_bert_step(handle_chinese_chars=True), chars)
    decomposed = _probe(normalizers.NFD().normalize_str, chars)
    stable = [c for c, out in zip(chars, decomposed, strict=True) if out == c]
    stripped = _probe(_bert_step(strip_accents=True), stable)
    lowered = _probe(normalizers.Lowercase().normalize_str, chars)
    _expect(
        [(c, o) for c, o in zip(chars, cleaned, strict=True) if o != c and o != "" and o != " "], "cleaning"
    )
    _expect([(c, o) for c, o in zip(chars, spaced, strict=True) if o != c and o != f" {c} "], "CJK spacing")
    _expect([(c, o) for c, o in zip(stable, stripped, strict=True) if o != c and o != ""], "accent stripping")
    whitespace, punctuation = _split_classes(chars)
    return {
        "tokenizers": tokenizers.__version__,
        "removed": _ranges(c for c, out in zip(chars, cleaned, strict=True) if out == ""),
        "spaces": _ranges(c for c, out in zip(chars, cleaned, strict=True) if out == " " != c),
        "cjk": _ranges(c for c, out in zip(chars, spaced, strict=True) if out != c),
        "decompositions": {
            c: out
            for c, out in zip(chars, decomposed, strict=True)
            if out != c and out != hangul_decomposition(c)
        },
        "combining": _combining_classes(stable),
        "marks": _ranges(c for c, out in zip(stable, stripped, strict=True) if out == ""),
        "lowercase": {c: out for c, out in zip(chars, lowered, strict=True) if out != c},
        "whitespace": _ranges(whitespace),
        "punctuation": _ranges(punctuation),
    }


def hangul_decomposition(char: str) -> str | None:
    """The standard (algorithmic) decomposition of a precomposed Hangul syllable; None for other characters."""
    index = ord(char) - _HANGUL_FIRST
    if not 0 <= index < _HANGUL_COUNT:
        return None
    lead, vowel, trail = index // 588, index % 588 // 28, index % 28
    jamo = chr(0x1100 + lead) + chr(0x1161 + vowel)
    return jamo + chr(0x11A7 + trail) if trail else jamo


def _bert_step(
    *, clean_text: bool = False, handle_chinese_chars: bool = False, strip_accents: bool = False
) -> Callable[[str], str]:
    """``BertNormalizer.normalize_str`` with only the named step on (never lower-casing)."""
    return normalizers.BertNormalizer(
        clean_text=clean_text,
        handle_chinese_chars=handle_chinese_chars,
        strip_accents=strip_accents,
        lowercase=False,
    ).normalize_str


def _probe(normalize: Callable[[str], str], texts: Sequence[str]) -> list[str]:
    """``normalize(t)`` for each text: a chunk per call, split at separators.

    The separator is a starter that every step keeps, so no step reorders or
    joins across it; a text holding it, and a chunk whose pieces do not line
    up, are probed one by one.
    """
    outputs: list[str] = []
    for start in range(0, len(texts), _CHUNK):
        chunk = texts[start : start + _CHUNK]
        joined, alone = chunk, set()
        if _SEPARATOR.join(chunk).count(_SEPARATOR) >= len(chunk):  # some text holds the separator
            alone = {i for i, text in enumerate(chunk) if _SEPARATOR in text}
            joined = [text for i, text in enumerate(chunk) if i not in alone]
        pieces = normalize(_SEPARATOR.join(joined)).split(_SEPARATOR)
        if len(pieces) != len(joined):
            pieces = [normalize(text) for text in joined]
        if alone:
            found = iter(pieces)
            pieces = [normalize(text) if i in alone else next(found) for i, text in enumerate(chunk)]
        outputs += pieces
    return outputs


def _split_classes(chars: Sequence[str]) -> tuple[list[str], list[str]]:
    """The characters ``BertPreTokenizer`` splits on and drops (whitespace), and those it isolates (punctuation).

    The characters are split in a row: those no piece covers were dropped. A
    piece of one character was isolated, or is an ordinary character between
    two others that are not: each of those is split again, as ``"a" + c + "a"``.
    """
    split = pre_tokenizers.BertPreTokenizer().pre_tokenize_str
    whitespace, punctuation = [], []
    for start in range(0, len(chars), _CHUNK):
        chunk = chars[start : start + _CHUNK]
        covered, single = bytearray(len(chunk)), []
        for _, (begin, end) in split("".join(chunk)):
            covered[begin:end] = b"\x01" * (end - begin)
            if end - begin == 1:
                single.append(chunk[begin])
        whitespace += [c for c, seen in zip(chunk, covered, strict=True) if not seen]
        probes = split(" ".join("a" + c + "a" for c in single))
        starts = {begin for _, (begin, _) in probes}
        punctuation += [c for index, c in enumerate(single) if 4 * index + 1 in starts]
    return whitespace, punctuation


def _combining_classes(stable: Sequence[str]) -> list[list[int]]:
    """``[[first, last, class], ...]``: the canonical combining classes by which ``tokenizers``' NFD reorders.

    NFD moves a character before the one it follows exactly when its class is
    lower and not 0. The characters that move before U+0345 (class 240) or let
    U+0334 (class 1) move before them are the combining ones. Each gets the
    class of the highest reference it does not move before: one reference per
    class that Python's ``unicodedata`` names, among those combining characters.
    """
    import unicodedata

    nfd = normalizers.NFD().normalize_str
    behind_highest = _moves(nfd, [(_HIGHEST, c) for c in stable])
    before_lowest = _moves(nfd, [(c, _LOWEST) for c in stable])
    combining = sorted(
        {c for c, a, b in zip(stable, behind_highest, before_lowest, strict=True) if a or b}
        | {_HIGHEST, _LOWEST}
    )
    references: dict[int, str] = {}
    for char in combining:
        references.setdefault(unicodedata.combining(char), char)
    references.pop(0, None)
    classes = sorted(references)
    moved = _moves(nfd, [(references[k], char) for char in combining for k in classes])
    table = []
    for index, char in enumerate(combining):
        row = moved[index * len(classes) : (index + 1) * len(classes)]
        at_most = sum(1 for m in row if not m)  # references of a class at most the character's
        table.append((ord(char), classes[max(at_most, 1) - 1]))
    return _valued_ranges(table)


def _moves(nfd: Callable[[str], str], pairs: Sequence[tuple[str, str]]) -> list[bool]:
    """For each ``(first, second)`` of different characters: whether NFD puts ``second`` before ``first``."""
    texts = ["a" + first + second for first, second in pairs]
    return [
        text[1] != text[2] and out == text[0] + text[2] + text[1]
        for text, out in zip(texts, _probe(nfd, texts), strict=True)
    ]


def _expect(unexpected: Sequence[tuple[str, str]], step: str) -> None:
    """Raises for the first ``(character, output)`` of ``step`` that the tables cannot hold."""
    for char, out in unexpected[:1]:
        raise RuntimeError(
            f"tokenizers' {step} turned U+{ord(char):04X} into {out!r}, which the export tables "
            "cannot hold; fg_automl_text.onnx_preprocess needs a new table for it."
        )


def _ranges(chars: Iterable[str]) -> list[list[int]]:
    """Characters, in code point order, as inclusive ranges ``[[first, last], ...]``."""
    return [[first, last] for first, last, _ in _valued_ranges((ord(c), 1) for c in chars)]


def _valued_ranges(items: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Sorted ``(code, value)`` as ``[[first, last, value], ...]``, joining neighbours of one value."""
    ranges: list[list[int]] = []
    for code, value in items:
        if ranges and ranges[-1][1] == code - 1 and ranges[-1][2] == value:
            ranges[-1][1] = code
        else:
            ranges.append([code, code, value])
    return ranges
