"""Interactions for the recommendation task: the built-in generator and users' files.

Every row of a :class:`~finegrain_automl.Dataset` of this task is one positive
(implicit) interaction of a user with an item; there is no target. The
features hold :data:`USER` and :data:`ITEM` ids as Python ``str`` (object
dtype), plus :data:`TIME` (int64 seconds) when the data have timestamps and
:data:`CATEGORY` (``str``; ``None`` where a file gives an item none) when they
have item categories. ``groups`` holds an int64 code per user, so the core's
``spread`` split shares every user's rows out over the test split and the folds.

Every problem a user can cause is a :class:`~finegrain_automl.DataError` with
a one-line message that states the rule, the offending value and a fix.
"""

from __future__ import annotations

import csv
import gzip
import io
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fg_automl_recommendation._columns import CATEGORY, DEFAULT_K, ITEM, TIME, USER
from fg_automl_recommendation._generator import generate_interactions
from finegrain_automl import (
    DataError,
    DataNote,
    DataOption,
    Dataset,
    DataSource,
    UsageError,
    check_unique_columns,
    column_list,
)

__all__ = [
    "CATEGORY",
    "DATA_OPTIONS",
    "DEFAULT_K",
    "ITEM",
    "TIME",
    "USER",
    "generate_interactions",
    "load_builtin",
    "read_interactions",
]


DATA_OPTIONS: tuple[DataOption, ...] = (
    DataOption(name="user_column", help="Column of user ids (MovieLens layouts are recognised without it).",
               predict=True),
    DataOption(name="item_column", help="Column of item ids (MovieLens layouts are recognised without it).",
               predict=True),
    DataOption(name="rating_column",
               help="Column of ratings, for --min-rating (without one every row is a positive)."),
    DataOption(name="min_rating", type=float,
               help="Keep only interactions rated at least this; lower ones are dropped."),
    DataOption(name="timestamp_column", help="Column of times (seconds since 1970, or dates).", predict=True),
    DataOption(name="category_column", help="Column of item categories (genres).", predict=True),
    DataOption(name="k", type=int, default=DEFAULT_K, builtin=True,
               help="Length K of each user's recommendation list (F1@K)."),
)

_ROLES = ("user", "item", "rating", "timestamp", "category")
_ROLE_WORDS = {"user": "user ids", "item": "item ids", "rating": "ratings", "timestamp": "times",
               "category": "item categories"}
_LAYOUTS_TEXT = ("MovieLens u.data, ratings.csv or ratings.dat, or a header with columns user and item "
                 "(or user_id and item_id)")


# --------------------------------------------------------------------------- built-in data


def load_builtin(*, seed: int, k: int = DEFAULT_K) -> Dataset:
    """Returns :func:`generate_interactions` ``(seed)`` as this task's data set."""
    k = _checked_k(k)
    frame = generate_interactions(seed)
    info = {"group_column": USER, "layout": "built-in generator", "min_rating": None,
            "dropped_below_min_rating": 0, "duplicates_removed": 0}
    return _dataset(frame, k=k, info=info, require_target=True)


# --------------------------------------------------------------------------- users' files


@dataclass(frozen=True)
class _Layout:
    """A file's shape: its name for ``info["layout"]``, and the column of each role."""

    name: str
    columns: dict[str, str] = field(default_factory=dict)
    header_is_data: bool = False  # a headerless file that no layout recognises


def read_interactions(source: DataSource) -> Dataset:
    """Reads a user's interactions: a MovieLens file, or any CSV or Parquet with options.

    Recognised without options: MovieLens 100K ``u.data`` (tab-separated
    user, item, rating, timestamp; no header), MovieLens ``ratings.csv``
    (header ``userId,movieId,rating,timestamp``), MovieLens 1M ``ratings.dat``
    (``UserID::MovieID::Rating::Timestamp``), and headers with columns
    ``user`` and ``item`` (or ``user_id`` and ``item_id``). The options
    ``user_column``, ``item_column``, ``rating_column``, ``timestamp_column``
    and ``category_column`` name columns (overriding a layout's);
    ``min_rating`` drops interactions rated below it; ``k`` is checked
    against the catalogue.

    Rows without a user or an item are dropped, and a duplicated (user, item)
    pair is kept once (the latest); each with a :class:`DataNote`. Rows to
    predict (``source.require_target`` false) need only the user column and
    are kept as they are.

    Raises:
        DataError: The file cannot be read, a column is missing or unusable,
            nothing is left after ``--min-rating``, or ``k`` is larger than
            the catalogue; the message says how to fix it.
    """
    path = Path(source.path)
    predict = not source.require_target
    options = source.options
    if source.target is not None and not predict:
        raise DataError(
            f"The recommendation task has no target column (got --target {source.target}): every row is an "
            "interaction; to keep only well-rated ones, use --rating-column COLUMN and --min-rating NUMBER "
            "instead."
        )
    k = _checked_k(options.get("k", DEFAULT_K))
    frame, layout = _read_frame(path, predict=predict)
    columns, layout_name = _choose_columns(frame, layout, options, name=path.name, predict=predict)
    min_rating = None if predict else options.get("min_rating")
    if min_rating is not None and "rating" not in columns:
        raise DataError(
            f"--min-rating {min_rating:g} needs ratings, but no rating column of {path.name} is in use; its "
            f"columns are: {column_list(frame.columns)}; name it with --rating-column COLUMN."
        )
    features, dropped, removed = _interactions(frame, columns, name=path.name, predict=predict,
                                               min_rating=min_rating)
    info = {"source": path.name, "group_column": columns["user"], "layout": layout_name,
            "min_rating": min_rating, "dropped_below_min_rating": dropped, "duplicates_removed": removed}
    return _dataset(features, k=k, info=info, require_target=not predict)


def _checked_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise UsageError(f"--k is the length of each user's recommendation list and must be at least 1, "
                         f"but got {k!r}; use --k {DEFAULT_K}, for example.")
    return int(k)


def _dataset(features: pd.DataFrame, *, k: int, info: dict[str, Any], require_target: bool) -> Dataset:
    """Wraps checked features; adds the counts to ``info`` and checks ``k`` against the catalogue."""
    n_items = int(features[ITEM].nunique()) if ITEM in features.columns else 0
    if require_target and k > n_items:
        raise DataError(f"--k {k} is larger than the catalogue ({n_items} items); use --k {n_items} or less.")
    groups = pd.factorize(features[USER])[0].astype(np.int64)
    info = info | {
        "k": k,
        "users": int(groups.max(initial=-1) + 1),
        "items": n_items,
        "interactions": len(features),
        "item_categories": CATEGORY in features.columns,
        "timestamps": TIME in features.columns,
    }
    return Dataset(features=features.reset_index(drop=True), target=None, groups=groups, positive_label=None,
                   info=info)


def _read_frame(path: Path, *, predict: bool) -> tuple[pd.DataFrame, _Layout]:
    """Reads ``path`` (every column as text unless it is Parquet) and recognises its layout."""
    if not path.exists():
        raise DataError(f"Data file {path} does not exist; check the path and spelling.")
    if path.is_dir():
        raise DataError(
            f"Data path {path} is a directory; pass the interactions file inside it (u.data, ratings.csv)."
        )
    lower = path.name.lower()
    try:
        if lower.endswith((".parquet", ".pq")):
            frame = pd.read_parquet(path)
            if len(frame) == 0:
                raise DataError(f"{path.name} has no rows; write one interaction per row.")
            return frame, _header_layout(frame.columns, predict=predict)
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if lower.endswith(".gz") else raw).decode("utf-8-sig")
    except UnicodeDecodeError as error:
        bad = error.object[error.start]
        raise DataError(f"{path.name} is not valid UTF-8 text (found byte 0x{bad:02x}); "
                        "re-save it as UTF-8 CSV.") from None
    except (OSError, ValueError, EOFError, zlib.error) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{path.name} cannot be read ({detail}); check that it is a complete CSV, TSV, "
                        "MovieLens or Parquet file.") from None
    first = next((line for line in io.StringIO(text) if line.strip()), "").rstrip("\r\n")
    if not first:
        raise DataError(f"{path.name} is empty; write one interaction per line (with a header line for CSV).")
    headerless = _headerless_layout(first, predict=predict)
    if headerless is not None:
        if headerless.name.endswith("ratings.dat"):
            text = text.replace("::", "\t")
        try:
            names = list(headerless.columns.values())
            frame = pd.read_csv(io.StringIO(text), sep="\t", header=None, names=names, dtype=str,
                                keep_default_na=False, na_values=[""], skip_blank_lines=True)
        except (pd.errors.ParserError, ValueError) as error:
            detail = " ".join(str(error).split())[:200]
            raise DataError(f"{path.name} cannot be read as {headerless.name} ({detail}); every line needs "
                            "the same fields as the first one.") from None
        return frame, headerless
    sep = "\t" if "\t" in first and "," not in first else ","
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, ValueError) as error:
        detail = " ".join(str(error).split())[:200]
        raise DataError(
            f"{path.name} cannot be read as CSV ({detail}); check the header and the separators."
        ) from None
    check_unique_columns(next(csv.reader([first], delimiter=sep)), path.name)
    if len(frame) == 0:
        raise DataError(f"{path.name} has a header but no rows; add one interaction per line.")
    layout = _header_layout(frame.columns, predict=predict)
    if not layout.columns and all(_is_number(v) for v in first.split(sep)):
        layout = _Layout(layout.name, header_is_data=True)
    return frame, layout


def _headerless_layout(first: str, *, predict: bool) -> _Layout | None:
    """u.data or ratings.dat when the first line is four numbers (one to four when predicting)."""
    for sep, name, names in (
        ("::", "MovieLens ratings.dat", ("UserID", "MovieID", "Rating", "Timestamp")),
        ("\t", "MovieLens u.data", ("user_id", "item_id", "rating", "timestamp")),
    ):
        fields = first.split(sep)
        if sep == "::" and sep not in first:
            continue
        if (len(fields) == 4 or (predict and len(fields) < 4)) and all(_is_number(v) for v in fields):
            roles = ("user", "item", "rating", "timestamp")[: len(fields)]
            return _Layout(name, dict(zip(roles, names, strict=False)))
    return None


def _header_layout(columns: pd.Index, *, predict: bool) -> _Layout:
    """The MovieLens ``ratings.csv`` header, or columns named user and item; else no columns."""
    present = set(map(str, columns))
    for name, user, item, extra in (
        ("MovieLens ratings.csv", "userId", "movieId", {"rating": "rating", "timestamp": "timestamp"}),
        ("columns user and item", "user", "item", {"rating": "rating", "timestamp": "timestamp"}),
        ("columns user_id and item_id", "user_id", "item_id", {"rating": "rating", "timestamp": "timestamp"}),
    ):
        if user in present and (item in present or predict):
            found = {"user": user, "item": item} | extra
            return _Layout(name, {role: column for role, column in found.items() if column in present})
    return _Layout("columns chosen by options")


def _choose_columns(
    frame: pd.DataFrame, layout: _Layout, options: dict[str, Any], *, name: str, predict: bool
) -> tuple[dict[str, str], str]:
    """The column of each role (the layout's, overridden by the options), checked to exist, and the
    layout's name (``"columns chosen by options"`` when the options name other user or item columns)."""
    columns = dict(layout.columns)
    named = {role: options[f"{role}_column"] for role in _ROLES if options.get(f"{role}_column")}
    columns |= named
    needed = ("user",) if predict else ("user", "item")
    if any(role not in columns for role in needed):
        hint = " (its first line looks like data: add a header line)" if layout.header_is_data else ""
        raise DataError(
            f"{name} is not in a layout this task recognises ({_LAYOUTS_TEXT}); its columns are: "
            f"{column_list(frame.columns)}{hint}; name the columns with --user-column COLUMN"
            f"{'' if predict else ' and --item-column COLUMN'} (and optionally --rating-column, "
            "--timestamp-column, --category-column)."
        )
    for role, column in list(columns.items()):
        if column not in frame.columns:
            if predict and role != "user":  # rows to predict need only the users
                del columns[role]
                continue
            hint = " (its first line looks like data: add a header line)" if layout.header_is_data else ""
            raise DataError(
                f"{name} has no {role} column {column!r}; its columns are: "
                f"{column_list(frame.columns)}{hint}; name the column of {_ROLE_WORDS[role]} with "
                f"--{role}-column COLUMN."
            )
    by_column: dict[str, str] = {}
    for role, column in columns.items():
        if column in by_column:
            raise DataError(f"Column {column!r} of {name} is named as both the {by_column[column]} and the "
                            f"{role} column; give each role its own column.")
        by_column[column] = role
    own = all(layout.columns.get(role) == columns.get(role) for role in needed)
    return columns, layout.name if own else "columns chosen by options"


def _interactions(
    frame: pd.DataFrame, columns: dict[str, str], *, name: str, predict: bool, min_rating: float | None
) -> tuple[pd.DataFrame, int, int]:
    """The features, the number of rows dropped by ``min_rating`` and the number of duplicates removed."""
    features = _features(frame, columns, name=name)
    if "rating" in columns and not predict:
        features["rating"] = _ratings(frame[columns["rating"]], name=name, column=columns["rating"])
    features = _without_missing(features, columns, name=name, predict=predict)
    if predict:
        return features, 0, 0
    n_rows = len(features)
    features = _without_duplicates(features, name=name)
    removed = n_rows - len(features)
    n_rows = len(features)
    if min_rating is not None:
        features = _rated_at_least(features, min_rating, name=name, column=columns["rating"])
    return features.drop(columns=["rating"], errors="ignore"), n_rows - len(features), removed


def _features(frame: pd.DataFrame, columns: dict[str, str], *, name: str) -> pd.DataFrame:
    """The columns in use under this task's names, ids as text, times as seconds."""
    features = pd.DataFrame({USER: _ids(frame[columns["user"]])})
    if "item" in columns:
        features[ITEM] = _ids(frame[columns["item"]])
    if "timestamp" in columns:
        features[TIME] = _timestamps(frame[columns["timestamp"]], name=name, column=columns["timestamp"])
    if "category" in columns:
        features[CATEGORY] = _ids(frame[columns["category"]])
        if features[CATEGORY].isna().any():
            _note(f"{int(features[CATEGORY].isna().sum())} interactions of {name} have no item category in "
                  f"{columns['category']!r}; those items count as uncategorised.")
    return features


def _without_missing(
    features: pd.DataFrame, columns: dict[str, str], *, name: str, predict: bool
) -> pd.DataFrame:
    """Drops the rows without a user (or, for training, without an item), with a note."""
    missing = features[USER].isna() if predict else features[USER].isna() | features[ITEM].isna()
    what = "a user" if predict else "both a user and an item"
    if missing.all():
        named = " and ".join(repr(columns[role]) for role in ("user", "item") if role in columns)
        raise DataError(f"{name} has no row with {what} (columns {named}); fill them in or name other "
                        "columns with --user-column and --item-column.")
    if missing.any():
        _note(f"{int(missing.sum())} rows of {name} without {what} were removed.")
    return features[~missing]


def _without_duplicates(features: pd.DataFrame, *, name: str) -> pd.DataFrame:
    """Keeps each (user, item) pair once, with a note: the latest by time, else the last in the file."""
    order = np.argsort(features[TIME].to_numpy(), kind="stable") if TIME in features.columns else np.arange(
        len(features))
    repeated = features.iloc[order].duplicated(subset=[USER, ITEM], keep="last").to_numpy()
    if not repeated.any():
        return features
    which = "the latest" if TIME in features.columns else "the last in the file"
    _note(f"{int(repeated.sum())} duplicated interactions (same user and item) were removed from {name}; "
          f"each pair is kept once ({which}).")
    keep = np.ones(len(features), dtype=bool)
    keep[order[repeated]] = False
    return features[keep]


def _rated_at_least(features: pd.DataFrame, min_rating: float, *, name: str, column: str) -> pd.DataFrame:
    """The interactions rated ``min_rating`` or more (a missing rating is not); an error if none is."""
    ratings = features["rating"].to_numpy()
    kept = ratings >= min_rating
    if not kept.any():
        largest = f"{np.nanmax(ratings):g}" if np.isfinite(ratings).any() else "none (all missing)"
        raise DataError(
            f"No interaction of {name} is rated {min_rating:g} or more: all {len(ratings)} rows were dropped "
            f"by --min-rating (the largest rating in {column!r} is {largest}); use a lower --min-rating."
        )
    return features[kept]


def _note(message: str) -> None:
    warnings.warn(DataNote(message), stacklevel=5)  # the caller of read_interactions


def _ids(values: pd.Series) -> pd.Series:
    """Ids as ``str`` in an object column (``12`` and ``"12"`` alike), ``None`` where missing."""
    if pd.api.types.is_float_dtype(values.dtype) and np.all(np.mod(values.dropna(), 1) == 0):
        values = values.astype("Int64")  # Parquet keeps integer ids with gaps as floats: 12.0 -> "12"
    missing = values.isna().to_numpy()
    text = np.array(values.astype(str).str.strip().astype(object), dtype=object)
    text[missing | (text == "")] = None
    return pd.Series(text, dtype=object, index=values.index)


def _ratings(values: pd.Series, *, name: str, column: str) -> np.ndarray:
    """Ratings as floats (NaN where missing); a :class:`DataError` for a value that is not a number."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna() & (values.astype(str).str.strip() != "")
    if bad.any():
        example = values[bad].iloc[0]
        raise DataError(f"Rating column {column!r} of {name} holds {int(bad.sum())} values that are not "
                        f"numbers (for example {example!r}); fix them or name another column with "
                        "--rating-column.")
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def _timestamps(values: pd.Series, *, name: str, column: str) -> np.ndarray:
    """Times as int64 seconds: numbers as they are, dates and times converted (UTC)."""
    missing = values.isna()
    if missing.any():
        raise DataError(f"Timestamp column {column!r} of {name} is missing in {int(missing.sum())} of "
                        f"{len(values)} rows; fill them in or remove those rows.")
    if pd.api.types.is_datetime64_any_dtype(values.dtype):  # Parquet's own times
        times = pd.to_datetime(values, utc=True)
    else:
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.notna().all():
            return np.round(numbers.to_numpy(dtype=np.float64)).astype(np.int64)
        times = pd.to_datetime(values.astype(str), errors="coerce", utc=True, format="mixed")
    if times.isna().any():
        example = values[times.isna()].iloc[0]
        raise DataError(f"Timestamp column {column!r} of {name} holds values that are neither numbers nor "
                        f"dates (for example {example!r}); write seconds since 1970 or ISO dates such as "
                        "2024-05-01.")
    return ((times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
