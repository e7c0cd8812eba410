"""Data containers shared by the core and task plugins."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DataSource", "Dataset", "check_unique_columns", "column_list", "plain_value"]


@dataclass(frozen=True, kw_only=True)
class DataSource:
    """Where a task reads a user's data from, as the user named it.

    Attributes:
        path: The file, already resolved to an absolute path (Ray Tune changes
            the working directory of trials, so relative paths are resolved
            before the search starts).
        target: The label column; ``None`` means the task's default.
        require_target: ``False`` when reading rows to predict: the target
            column may then be absent.
        drop_columns: Columns the user asked to ignore (identifiers, free text).
        options: The task's data options (its ``Task.data_options``), typed
            and checked by the core, defaults filled in (for example
            ``{"sep": ";"}``).
    """

    path: Path
    target: str | None = None
    require_target: bool = True
    drop_columns: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """Rows of a task's data: features, labels, and optional groups.

    Attributes:
        features: One row per example. Tabular tasks keep their columns here;
            other tasks keep whatever their model families read (a text
            column, image paths, user and item ids).
        target: One label per row, or ``None`` for rows to predict.
        groups: Optional group id per row; folds never split a group
            (recommendation groups by user).
        positive_label: For binary tasks, the original value of the positive
            class (shown in reports and written by ``predict``).
        info: Free-form facts about the data for the report (source, class
            balance); JSON-serialisable values only.
    """

    features: pd.DataFrame
    target: np.ndarray | None
    groups: np.ndarray | None = None
    positive_label: Any = 1
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.features)
        for name in ("target", "groups"):
            values = getattr(self, name)
            if values is not None and len(values) != n:
                raise ValueError(f"{name} has {len(values)} rows, features have {n}.")

    def label_name(self, code: Any) -> Any:
        """The original label of an encoded target value, for messages.

        Uses ``info["classes"]`` (the original labels, indexed by code) when a
        task records it, else ``positive_label`` for 1 and
        ``info["negative_label"]`` for 0.
        """
        labels = self.info.get("classes")
        if labels is not None and 0 <= int(code) < len(labels):
            return labels[int(code)]
        if code == 1:
            return self.positive_label
        return self.info.get("negative_label", code) if code == 0 else code

    def __len__(self) -> int:
        return len(self.features)

    def take(self, indices: np.ndarray) -> Dataset:
        """Returns the rows at ``indices`` (positions, not labels)."""
        indices = np.asarray(indices)
        return replace(
            self,
            features=self.features.iloc[indices].reset_index(drop=True),
            target=None if self.target is None else self.target[indices],
            groups=None if self.groups is None else self.groups[indices],
        )


def plain_value(value: Any) -> Any:
    """A numpy scalar as the matching Python value (JSON- and ``torch.load``-safe)."""
    return value.item() if isinstance(value, np.generic) else value


def check_unique_columns(names: list[str], file_name: str) -> None:
    """Raises a :class:`~finegrain_automl.errors.DataError` naming the column
    names a file's header repeats (pandas would rename them ``name.1`` silently)."""
    from finegrain_automl.errors import DataError

    seen: set[str] = set()
    repeated = [name for name in names if name in seen or seen.add(name)]
    if repeated:
        raise DataError(
            f"{file_name} repeats the column name{'s' * (len(set(repeated)) > 1)} "
            f"{', '.join(repr(name) for name in sorted(set(repeated)))} in its header; "
            "give every column its own name."
        )


def column_list(columns: Any, limit: int = 12) -> str:
    """Up to ``limit`` column names, for an error message."""
    names = [str(c) for c in columns]
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
