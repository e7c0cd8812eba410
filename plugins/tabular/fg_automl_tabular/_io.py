"""Reading a user's CSV or Parquet table for binary classification.

Every problem a user can cause is a :class:`~finegrain_automl.errors.DataError`
with a one-line message that states the rule, the offending value and a fix.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from finegrain_automl.data import Dataset, DataSource, check_unique_columns, column_list, plain_value
from finegrain_automl.errors import DataError
from fg_automl_tabular._columns import column_kind, split_columns

__all__ = ["SUPPORTED_SUFFIXES", "read_table", "table_dataset"]

#: File name endings :func:`read_table` reads, and the reader each one uses.
SUPPORTED_SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".tsv": "tsv",
    ".tsv.gz": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}

#: A non-numeric column with more distinct values than
#: ``max(_MAX_DISTINCT_FLOOR, _MAX_DISTINCT_SHARE * rows)`` is rejected.
_MAX_DISTINCT_FLOOR = 1000
#: Key of :attr:`DataSource.options` naming the group column (``--group-column``).
GROUP_COLUMN_OPTION = "group_column"
_MAX_DISTINCT_SHARE = 0.5


def read_table(source: DataSource, *, default_target: str | Sequence[str] | None) -> Dataset:
    """Reads a CSV or Parquet file into a binary classification data set.

    The target is encoded as ``0``/``1``. A target holding ``0``/``1`` or
    booleans has positive class ``1``/``True``; any other two values (``"M"``/
    ``"B"``, ``"fraud"``/``"legit"``) have the minority class as positive,
    recorded in :attr:`Dataset.positive_label`. ``Dataset.info`` holds
    ``source``, ``target``, ``n_rows``, ``n_positive``, ``n_negative``,
    ``positive_label``, ``negative_label``, ``positive_rule``,
    ``numeric_columns``, ``categorical_columns``, ``dropped_columns`` and
    ``missing_values`` (count per column that has any).

    When ``source.require_target`` is ``False`` (rows to predict), the target
    column may be absent; if present it is dropped and ``target`` is ``None``.

    Args:
        source: The file and the user's options (``target``, ``drop_columns``).
        default_target: The task's target column when the user names none; with
            several names, the first one the file has (else the first).

    Returns:
        The features (every column except the target and dropped ones, with
        their types as read) and the encoded target.

    Raises:
        DataError: The file cannot be read, or its target or a column cannot
            be used; the message says how to fix it.
    """
    path = Path(source.path)
    frame = _read_frame(path)
    defaults = (default_target,) if isinstance(default_target, str) or default_target is None else default_target
    target = source.target
    if target is None:
        # The first of the task's usual target names that the file has.
        target = next((t for t in defaults if t is not None and t in frame.columns), defaults[0])
    return table_dataset(
        frame,
        target=target,
        source_name=path.name,
        require_target=source.require_target,
        drop_columns=source.drop_columns,
        group_column=source.options.get(GROUP_COLUMN_OPTION),
    )


def table_dataset(
    frame: pd.DataFrame,
    *,
    target: str | None,
    source_name: str,
    require_target: bool = True,
    drop_columns: tuple[str, ...] = (),
    group_column: str | None = None,
) -> Dataset:
    """Checks a table and splits it into features and an encoded 0/1 target.

    :func:`read_table` uses it for users' files; tasks use it for their
    built-in data, so both get the same checks and the same ``info``.
    ``group_column`` (``--group-column``) names the entity each row belongs
    to (a customer, a patient): it becomes :attr:`Dataset.groups`, so that no
    entity is on both sides of a split, and is not a feature. Rows to
    predict may lack it.

    Raises:
        DataError: The target or a column cannot be used.
    """
    name = source_name
    if require_target and target is not None and target in drop_columns:
        raise DataError(
            f"--drop names the target column {target!r} of {name}; the target is never used as a feature, "
            f"so remove it from --drop (or pick another --target)."
        )
    if not require_target:  # rows to predict need not carry the columns training ignored
        drop_columns = tuple(c for c in drop_columns if c in frame.columns)
    frame = _drop_columns(frame, drop_columns, name)
    frame, groups = _take_groups(frame, group_column, name, target=target, required=require_target)
    target_name = target
    info: dict[str, Any] = {
        "source": name,
        "n_rows": len(frame),
        "dropped_columns": [str(c) for c in drop_columns],
    }
    if groups is not None:
        info.update(group_column=str(group_column), n_groups=int(len(np.unique(groups))))
    if not require_target:
        if target_name is not None and target_name in frame.columns:
            frame = frame.drop(columns=[target_name])
        info.update(_column_info(frame))
        return Dataset(features=frame, target=None, info=info)

    if target_name is None:
        raise DataError(
            f"{name} needs a target column, but none was named; its columns are: "
            f"{column_list(frame.columns)}; name the label column with --target COLUMN."
        )
    if target_name not in frame.columns:
        raise DataError(
            f"{name} has no target column {target_name!r}; its columns are: "
            f"{column_list(frame.columns)}; name the label column with --target COLUMN."
        )
    encoded, positive, negative, rule = _encode_target(frame[target_name], target_name, name)
    features = frame.drop(columns=[target_name])
    if features.shape[1] == 0:
        raise DataError(
            f"{name} has no feature columns besides the target {target_name!r}; "
            "add the columns to predict from, or check the --drop list."
        )
    _check_columns(features, name)
    n_positive = int(encoded.sum())
    info.update(
        target=str(target_name),
        n_positive=n_positive,
        n_negative=len(encoded) - n_positive,
        positive_label=positive,
        negative_label=negative,
        positive_rule=rule,
        **_column_info(features),
    )
    return Dataset(features=features, target=encoded, positive_label=positive, info=info, groups=groups)


def _take_groups(
    frame: pd.DataFrame, column: str | None, name: str, *, target: str | None, required: bool
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Removes the group column from ``frame``; returns the rest and each row's group (as text)."""
    if column is None:
        return frame, None
    if column not in frame.columns:
        if not required:  # rows to predict need not carry it
            return frame, None
        raise DataError(
            f"{name} has no group column {column!r}; its columns are: {column_list(frame.columns)}; "
            "name the column of the entity each row belongs to with --group-column COLUMN."
        )
    if column == target:
        raise DataError(f"--group-column {column!r} is the target column of {name}; name the entity column instead.")
    values = frame[column]
    missing = int(values.isna().sum())
    if missing and required:
        raise DataError(
            f"Group column {column!r} of {name} is missing in {missing} of {len(frame)} rows; every row needs "
            "the entity it belongs to. Fill them in or remove those rows."
        )
    return frame.drop(columns=[column]), values.astype("object").astype(str).to_numpy()


def _read_frame(path: Path) -> pd.DataFrame:
    """Reads ``path`` by its suffix and checks that it has rows."""
    if not path.exists():
        raise DataError(f"Data file {path} does not exist; check the path and spelling.")
    if path.is_dir():
        raise DataError(f"Data path {path} is a directory; pass a CSV or Parquet file inside it.")
    kind = _reader_kind(path)
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(
                path,
                sep="\t" if kind == "tsv" else ",",
                encoding="utf-8-sig",
                low_memory=False,
            )
    except UnicodeDecodeError as error:
        bad = error.object[error.start : error.start + 1].hex()
        raise DataError(
            f"{path.name} is not valid UTF-8 text (found byte 0x{bad}); "
            "re-save it as UTF-8 (for example 'CSV UTF-8' in a spreadsheet program)."
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path.name} is empty; write a header line and data rows.") from None
    except (OSError, ValueError, EOFError, zlib.error) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(
            f"{path.name} cannot be read as {kind.upper()} ({detail}); "
            f"check that it is a complete, uncorrupted {kind.upper()} file."
        ) from None
    if frame.shape[1] == 0:
        raise DataError(f"{path.name} has no columns; write a header line and data rows.")
    if kind != "parquet":  # pandas renames a repeated name "name.1"; the header says what the user wrote
        header = pd.read_csv(path, sep="\t" if kind == "tsv" else ",", encoding="utf-8-sig", header=None,
                             nrows=1, dtype=str, keep_default_na=False)
        check_unique_columns(header.iloc[0].tolist(), path.name)
    if len(frame) == 0:
        raise DataError(f"{path.name} has a header but no data rows; add rows to learn from.")
    return frame


def _reader_kind(path: Path) -> str:
    """Returns ``"csv"``, ``"tsv"`` or ``"parquet"`` for ``path``'s suffix."""
    lower = path.name.lower()
    for suffix, kind in SUPPORTED_SUFFIXES.items():
        if lower.endswith(suffix):
            return kind
    suffix = "".join(path.suffixes) or "(none)"
    raise DataError(
        f"{path.name} has unsupported suffix {suffix!r}; save it as CSV or Parquet "
        f"with one of these endings: {', '.join(SUPPORTED_SUFFIXES)}."
    )


def _drop_columns(frame: pd.DataFrame, drop: tuple[str, ...], name: str) -> pd.DataFrame:
    """Removes the user's ``--drop`` columns, each of which must exist."""
    unknown = [column for column in drop if column not in frame.columns]
    if unknown:
        raise DataError(
            f"--drop names column {unknown[0]!r}, which {name} does not have; its columns "
            f"are: {column_list(frame.columns)}; fix the spelling or remove it from --drop."
        )
    return frame.drop(columns=list(drop)) if drop else frame


def _encode_target(
    values: pd.Series, column: str, name: str
) -> tuple[np.ndarray, Any, Any, str]:
    """Returns the 0/1 target, the positive and negative labels, and the rule used."""
    n_missing = int(values.isna().sum())
    if n_missing:
        raise DataError(
            f"Target column {column!r} of {name} is missing in {n_missing} of {len(values)} "
            "rows; fill in those labels or remove those rows."
        )
    counts = values.value_counts()
    if len(counts) < 2:
        raise DataError(
            f"Target column {column!r} of {name} has one class ({plain_value(counts.index[0])!r}) "
            f"in all {len(values)} rows; binary classification needs two classes, so add "
            "rows of the other class or choose another --target."
        )
    if len(counts) > 2:
        shown = ", ".join(repr(plain_value(v)) for v in counts.index[:5])
        more = ", ..." if len(counts) > 5 else ""
        raise DataError(
            f"Target column {column!r} of {name} has {len(counts)} classes ({shown}{more}); "
            "this task is binary classification and needs exactly two, so merge the "
            "classes into two or choose another --target."
        )
    labels = [plain_value(v) for v in counts.index]
    if all(isinstance(v, bool) for v in labels):
        positive, negative, rule = True, False, "True is positive"
    elif pd.api.types.is_numeric_dtype(values.dtype) and sorted(labels) == [0, 1]:
        positive, negative, rule = 1, 0, "1 is positive"
    else:
        # value_counts sorts by count, largest first; break ties by value.
        if counts.iloc[0] == counts.iloc[1]:
            labels = sorted(labels, key=str)
        negative, positive = labels[0], labels[1]
        rule = "minority class is positive"
    target = (values == positive).to_numpy(dtype=np.int64)
    return target, positive, negative, rule


def _check_columns(features: pd.DataFrame, name: str) -> None:
    """Rejects columns a tabular model cannot encode."""
    n_rows = len(features)
    max_distinct = max(_MAX_DISTINCT_FLOOR, int(_MAX_DISTINCT_SHARE * n_rows))
    for column in features.columns:
        series = features[column]
        if series.isna().all():
            raise DataError(
                f"Column {column!r} of {name} has no values (all {n_rows} rows missing); "
                f"fill it in or ignore it with --drop {column}."
            )
        kind = column_kind(series)
        if kind == "unsupported":
            raise DataError(
                f"Column {column!r} of {name} has type {series.dtype}, which is neither "
                f"numeric nor categorical; convert it to numbers or ignore it with --drop {column}."
            )
        if kind == "categorical" and not pd.api.types.is_bool_dtype(series.dtype):
            distinct = int(series.nunique(dropna=True))
            if distinct > max_distinct:
                raise DataError(
                    f"Column {column!r} of {name} is not numeric and has {distinct} distinct "
                    f"values in {n_rows} rows (at most {max_distinct} allowed), so it looks "
                    f"like an identifier or free text; ignore it with --drop {column}."
                )


def _column_info(features: pd.DataFrame) -> dict[str, Any]:
    """Returns the column facts recorded in ``Dataset.info``."""
    numeric, categorical, _ = split_columns(features)
    missing = features.isna().sum()
    for column in numeric:  # the preprocessor treats +-inf as missing too
        values = pd.to_numeric(features[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        missing[column] += int(np.isinf(values).sum())
    return {
        "numeric_columns": [str(c) for c in numeric],
        "categorical_columns": [str(c) for c in categorical],
        "missing_values": {str(c): int(n) for c, n in missing.items() if n},
    }



