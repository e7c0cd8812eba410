"""Reading labelled texts: the bundled SMS Spam Collection and users' CSV or JSONL files.

Every problem a user can cause is a :class:`~finegrain_automl.DataError` with a
one-line message that states the rule, the offending value and a fix.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from finegrain_automl import DataError, Dataset, DataSource, check_unique_columns, column_list, plain_value

__all__ = [
    "DEFAULT_TARGET",
    "DEFAULT_TEXT_COLUMN",
    "SUPPORTED_SUFFIXES",
    "TEXT_FEATURE",
    "TEXT_COLUMN_OPTION",
    "load_sms_spam",
    "read_text_file",
    "text_dataset",
]

#: Label column of the built-in data and the default for users' files (``--target``).
DEFAULT_TARGET = "label"
#: Text column of the built-in data and the default for users' files (``--text-column``).
DEFAULT_TEXT_COLUMN = "text"
#: Key of :attr:`DataSource.options` that names the text column.
TEXT_COLUMN_OPTION = "text_column"
#: Name of the one column of :attr:`Dataset.features`, whatever the file calls it.
TEXT_FEATURE = "text"
#: File name endings :func:`read_text_file` reads, and the format of each.
SUPPORTED_SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson": "jsonl",
    ".ndjson.gz": "jsonl",
}

_SMS_SPAM_FILE = "sms_spam.csv.gz"
_SMS_SPAM_NAME = (
    "SMS Spam Collection (Almeida, Gómez Hidalgo and Yamakami, 2011; UCI ML Repository; CC BY 4.0)"
)


def load_sms_spam() -> Dataset:
    """Returns the bundled SMS Spam Collection: 5,574 messages, ``ham`` or ``spam``."""
    raw = (files(__package__) / _SMS_SPAM_FILE).read_bytes()
    frame = _parse_csv(
        _decode(gzip.decompress(raw), _SMS_SPAM_FILE),
        _SMS_SPAM_FILE,
        text_column=DEFAULT_TEXT_COLUMN,
        target=DEFAULT_TARGET,
    )
    return text_dataset(
        frame, text_column=DEFAULT_TEXT_COLUMN, target=DEFAULT_TARGET, source_name=_SMS_SPAM_NAME
    )


def read_text_file(source: DataSource) -> Dataset:
    """Reads a user's CSV or JSONL file (optionally gzip-compressed) of labelled texts.

    The text column is ``source.options["text_column"]`` (``--text-column``),
    else ``text``; the label column is ``source.target`` (``--target``), else
    ``label``. A JSONL file holds one JSON object per line.

    Raises:
        DataError: The file cannot be read, or a column or a value cannot be
            used; the message says how to fix it.
    """
    path = Path(source.path)
    text_column = source.options.get(TEXT_COLUMN_OPTION) or DEFAULT_TEXT_COLUMN
    target = source.target or DEFAULT_TARGET
    kind = _format(path)
    raw = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise DataError(
                f"{path.name} is not a valid gzip file ({error}); compress it again or pass it uncompressed."
            ) from None
    content = _decode(raw, path.name)
    if kind == "csv":
        frame = _parse_csv(content, path.name, text_column=text_column, target=target)
    else:
        frame = _parse_jsonl(content, path.name)
    drop = source.drop_columns if source.require_target else ()
    _check_drop(frame, drop, name=path.name, text_column=text_column, target=target)
    return text_dataset(
        frame,
        text_column=text_column,
        target=target,
        source_name=path.name,
        require_target=source.require_target,
    )


def text_dataset(
    frame: pd.DataFrame, *, text_column: str, target: str, source_name: str, require_target: bool = True
) -> Dataset:
    """Checks a frame of labelled texts and turns it into a :class:`Dataset`.

    The features are one column, :data:`TEXT_FEATURE`, of non-empty strings.
    The target holds int codes ``0..C-1`` of the labels sorted by value;
    ``info["classes"]`` holds the original labels in that order.
    ``info`` also holds ``source``, ``n_rows``, ``text_column``, ``target``
    and (with labels) ``class_counts``.

    Raises:
        DataError: A column is missing, a text is empty, or a label is missing
            or unusable.
    """
    name = source_name
    if text_column == target:
        raise DataError(
            f"{name}: the text column and the label column are both {text_column!r}; "
            "name the label column with --target and the text column with --text-column."
        )
    if text_column not in frame.columns:
        raise DataError(
            f"{name} has no text column {text_column!r}; its columns are: {column_list(frame.columns)}; "
            "name the column holding the texts with --text-column COLUMN."
        )
    texts = _texts(frame[text_column], name=name, column=text_column)
    info: dict[str, Any] = {
        "source": name,
        "n_rows": len(frame),
        "text_column": text_column,
        "target": target,
    }
    features = pd.DataFrame({TEXT_FEATURE: texts})
    if not require_target:
        return Dataset(features=features, target=None, positive_label=None, info=info)
    if target not in frame.columns:
        raise DataError(
            f"{name} has no label column {target!r}; its columns are: {column_list(frame.columns)}; "
            "name the label column with --target COLUMN."
        )
    codes, classes, counts = _encode_labels(frame[target], name=name, column=target)
    info |= {"classes": classes, "class_counts": {str(c): n for c, n in zip(classes, counts, strict=True)}}
    return Dataset(features=features, target=codes, positive_label=None, info=info)


def _format(path: Path) -> str:
    """Returns ``"csv"`` or ``"jsonl"`` for ``path``, which must be a file."""
    if not path.exists():
        raise DataError(f"Data file {path} does not exist; check the path and spelling.")
    if path.is_dir():
        raise DataError(f"Data path {path} is a directory; pass a CSV or JSONL file inside it.")
    lower = path.name.lower()
    for suffix, kind in SUPPORTED_SUFFIXES.items():
        if lower.endswith(suffix):
            return kind
    suffix = "".join(path.suffixes) or "(none)"
    hint = " For JSON, write one object per line and name the file .jsonl." if lower.endswith(".json") else ""
    raise DataError(
        f"{path.name} has unsupported suffix {suffix!r}; the text task reads CSV or JSONL files "
        f"ending in one of: {', '.join(SUPPORTED_SUFFIXES)}.{hint}"
    )


def _decode(raw: bytes, name: str) -> str:
    """Decodes UTF-8 (a byte-order mark is allowed), naming the first bad byte's line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        bad = raw[error.start : error.start + 1].hex()
        raise DataError(
            f"{name} is not valid UTF-8 text (byte 0x{bad} on line {line}); re-save it as UTF-8 "
            "(for example 'CSV UTF-8' in a spreadsheet program, or iconv -t UTF-8)."
        ) from None


def _parse_csv(content: str, name: str, *, text_column: str, target: str) -> pd.DataFrame:
    """Parses CSV text; texts are kept verbatim ("NA" is a text), only empty labels are missing."""
    if not content.strip():
        raise DataError(f"{name} is empty; write a header line and one row per text.")
    try:
        frame = pd.read_csv(
            io.StringIO(content),
            dtype={text_column: "string"},
            keep_default_na=False,
            na_values={target: [""]},
        )
    except (pd.errors.ParserError, ValueError) as error:
        detail = " ".join(str(error).split())[:200]
        raise DataError(
            f"{name} cannot be read as CSV ({detail}); check the header and that texts with commas, "
            "quotes or line breaks are quoted."
        ) from None
    check_unique_columns(next(csv.reader(io.StringIO(content))), name)  # pandas would rename them "name.1"
    if len(frame) == 0:
        raise DataError(f"{name} has a header but no rows; add one row per text.")
    return frame


def _parse_jsonl(content: str, name: str) -> pd.DataFrame:
    """Parses JSON Lines: one JSON object per non-blank line."""
    records = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(
                f"{name} line {number} is not valid JSON ({error.msg}); write one JSON object per line."
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                f"{name} line {number} holds a JSON {type(record).__name__}, not an object; "
                'write one object per line, such as {"text": "...", "label": "..."}.'
            )
        records.append(record)
    if not records:
        raise DataError(f"{name} has no JSON objects; write one object per line.")
    return pd.DataFrame.from_records(records)


def _check_drop(
    frame: pd.DataFrame, drop: Sequence[str], *, name: str, text_column: str, target: str
) -> None:
    """``--drop`` changes nothing for texts, but a column it names must exist and be droppable."""
    for column in drop:
        if column not in frame.columns:
            raise DataError(
                f"--drop names column {column!r}, which {name} does not have; its columns are: "
                f"{column_list(frame.columns)}; fix the spelling or remove it from --drop."
            )
        if column in (text_column, target):
            raise DataError(
                f"--drop names {column!r}, the {'text' if column == text_column else 'label'} column the "
                "task needs; remove it from --drop (the text task reads only the text and label columns)."
            )


def _texts(values: pd.Series, *, name: str, column: str) -> np.ndarray:
    """Returns the texts as an object array of ``str``; rejects empty ones and non-strings."""
    texts = values.astype(object).to_numpy()
    bad = [i for i, v in enumerate(texts) if not (_is_missing(v) or isinstance(v, str | int | float))]
    if bad:
        value = texts[bad[0]]
        raise DataError(
            f"Text column {column!r} of {name} holds a {type(value).__name__} in row {bad[0] + 1}, not text; "
            "store every text as a string."
        )
    texts = np.array(["" if _is_missing(v) else str(v) for v in texts], dtype=object)
    empty = np.flatnonzero([not t.strip() for t in texts])
    if len(empty):
        raise DataError(
            f"Text column {column!r} of {name} is empty or whitespace-only in {len(empty)} of {len(texts)} "
            f"rows (first: row {empty[0] + 1}, counting data rows from 1); remove those rows or fill in "
            "their text."
        )
    return texts


def _encode_labels(values: pd.Series, *, name: str, column: str) -> tuple[np.ndarray, list[Any], list[int]]:
    """Returns the int codes, the sorted original labels and the row count of each."""
    labels = [plain_value(v) for v in values.astype(object)]
    missing = [i for i, v in enumerate(labels) if _is_missing(v)]
    if missing:
        raise DataError(
            f"Label column {column!r} of {name} is missing in {len(missing)} of {len(labels)} rows "
            f"(first: row {missing[0] + 1}); fill in those labels or remove those rows."
        )
    odd = next((v for v in labels if not isinstance(v, str | int | float | bool)), None)
    if odd is not None:
        raise DataError(
            f"Label column {column!r} of {name} holds a {type(odd).__name__} ({odd!r}), not a single value; "
            "use one string or number per row as the label."
        )
    classes = sorted(set(labels), key=lambda v: (isinstance(v, str), v))
    if len(classes) < 2:
        raise DataError(
            f"Label column {column!r} of {name} has one class ({classes[0]!r}) in all {len(labels)} rows; "
            "classification needs at least two, so add rows of other classes or choose another --target."
        )
    code_of = {label: code for code, label in enumerate(classes)}
    codes = np.array([code_of[v] for v in labels], dtype=np.int64)
    return codes, classes, np.bincount(codes, minlength=len(classes)).tolist()


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)



