"""Which columns a tabular model reads as numbers and which as categories.

Kept free of torch so that reading a file stays cheap to import.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

__all__ = ["ColumnKind", "column_kind", "split_columns"]

ColumnKind = Literal["numeric", "categorical", "unsupported"]


def column_kind(series: pd.Series) -> ColumnKind:
    """Returns how a tabular model reads ``series``.

    Booleans, strings, objects and pandas categoricals are categorical; other
    integer and floating columns are numeric; anything else (dates, durations,
    complex numbers, nested values) is unsupported.
    """
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        return "categorical"
    if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
        return "numeric"
    return "unsupported"


def split_columns(frame: pd.DataFrame) -> tuple[list[str], list[str], list[str]]:
    """Returns the numeric, categorical and unsupported column names of ``frame``."""
    kinds: dict[str, list[str]] = {"numeric": [], "categorical": [], "unsupported": []}
    for name in frame.columns:
        kinds[column_kind(frame[name])].append(name)
    return kinds["numeric"], kinds["categorical"], kinds["unsupported"]
