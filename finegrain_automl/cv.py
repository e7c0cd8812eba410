"""Seeded splits: a held-out test split first, then k folds of the rest.

The same seed gives the same splits, so every trial of a search is scored on
identical folds, and the test split never enters any fold. Classification
tasks are stratified by the target; tasks with groups (recommendation: users)
never put one group on both sides of a split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from finegrain_automl.data import Dataset
from finegrain_automl.errors import DataError

__all__ = ["Splits", "make_splits"]


@dataclass(frozen=True, kw_only=True)
class Splits:
    """Row positions of the test split and of each fold.

    Attributes:
        development: Positions of the rows that are not test rows.
        test: Positions of the held-out test rows.
        folds: ``(train, validation)`` position pairs, indexing the full data
            set (not ``development``); their union is ``development``.
    """

    development: np.ndarray
    test: np.ndarray
    folds: tuple[tuple[np.ndarray, np.ndarray], ...]


def make_splits(
    data: Dataset,
    *,
    n_folds: int = 5,
    test_fraction: float = 0.2,
    seed: int = 0,
    stratified: bool = True,
) -> Splits:
    """Cuts the test split, then ``n_folds`` folds of the remaining rows.

    Raises:
        DataError: Too few rows, or a class with fewer rows than the splits
            need; the message says how many and what to change.
    """
    from sklearn.model_selection import (
        GroupKFold,
        GroupShuffleSplit,
        StratifiedGroupKFold,
        StratifiedKFold,
        StratifiedShuffleSplit,
        KFold,
        ShuffleSplit,
    )

    if n_folds < 2:
        raise DataError(f"--folds must be at least 2, got {n_folds}. Use --folds 2 or more.")
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"The test fraction must be between 0 and 1, got {test_fraction}.")
    stratify = data.target if stratified and data.target is not None else None
    if stratify is not None:
        _check_class_counts(data, n_folds=n_folds, test_fraction=test_fraction)
    rows = np.arange(len(data))
    placeholder = np.zeros(len(data))

    if data.groups is not None:
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
        dev, test = next(splitter.split(placeholder, groups=data.groups))
    elif stratify is not None:
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
        dev, test = next(splitter.split(placeholder, stratify))
    else:
        splitter = ShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
        dev, test = next(splitter.split(placeholder))

    dev_y = None if stratify is None else stratify[dev]
    dev_groups = None if data.groups is None else data.groups[dev]
    if dev_groups is not None and dev_y is not None:
        kfold = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    elif dev_groups is not None:
        kfold = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    elif dev_y is not None:
        kfold = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    else:
        kfold = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    folds = tuple(
        (rows[dev][train], rows[dev][valid])
        for train, valid in kfold.split(np.zeros(len(dev)), dev_y, dev_groups)
    )
    return Splits(development=np.sort(rows[dev]), test=np.sort(rows[test]), folds=folds)


def _check_class_counts(data: Dataset, *, n_folds: int, test_fraction: float) -> None:
    codes, counts = np.unique(data.target, return_counts=True)
    labels = [data.label_name(code) for code in codes.tolist()]  # the user's own label values
    if len(labels) < 2:
        raise DataError(
            f"The target has a single class ({labels[0]!r}); F1 needs at least two. "
            "Check --target names the label column."
        )
    # Each class needs a row in the test split and one per validation fold.
    needed = int(np.ceil(n_folds / (1.0 - test_fraction))) + 1
    for label, count in zip(labels, counts, strict=True):
        if count < needed:
            raise DataError(
                f"Class {label!r} has {count} rows, too few for a test split and {n_folds} "
                f"stratified folds (needs at least {needed}). Use fewer --folds or more data."
            )
