"""Seeded splits: a held-out test split first, then k folds of the rest.

The same seed gives the same splits, so every trial of a search is scored on
identical folds, and the test split never enters any fold. Classification
tasks are stratified by the target; tasks with groups (recommendation: users)
never put one group on both sides of a split.

On small data the k folds can be repeated with fresh shuffles (repeated
k-fold cross-validation): every configuration is then scored on several
partitions of the same rows, which lowers the part of the CV estimate's noise
that comes from one particular partition and one training seed, so that the
search ranks configurations rather than lucky draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from finegrain_automl.data import Dataset
from finegrain_automl.errors import DataError

__all__ = ["Splits", "auto_repeats", "describe_cv", "make_splits"]

#: Unless ``--repeats`` is given, folds are repeated until every configuration
#: is scored on about this many validation predictions (at most
#: :data:`MAX_AUTO_REPEATS` passes).
AUTO_REPEAT_PREDICTIONS = 1500
MAX_AUTO_REPEATS = 3


def auto_repeats(n_development: int) -> int:
    """How often to repeat the k folds of ``n_development`` rows by default.

    One pass of k-fold CV scores every development row once; small data get
    more passes (``ceil(1500 / n_development)``, between 1 and 3): 455 rows
    (the breast-cancer table) get 3, 1,000 rows 2, 1,500 rows or more 1.
    """
    if n_development <= 0:
        return 1
    return int(min(MAX_AUTO_REPEATS, max(1, math.ceil(AUTO_REPEAT_PREDICTIONS / n_development))))


def describe_cv(n_folds: int, repeats: int | None) -> str:
    """``"5-fold CV"``, or ``"5-fold CV repeated 3 times"``."""
    return f"{n_folds}-fold CV" + (f" repeated {repeats} times" if repeats and repeats > 1 else "")


@dataclass(frozen=True, kw_only=True)
class Splits:
    """Row positions of the test split and of each fold.

    Attributes:
        development: Positions of the rows that are not test rows.
        test: Positions of the held-out test rows.
        folds: ``(train, validation)`` position pairs, indexing the full data
            set (not ``development``): ``repeats`` passes of ``n_folds``
            folds, one pass after the other; the validation parts of one
            pass partition ``development``.
        n_folds: Folds per pass.
        repeats: Number of passes, each with its own shuffle.
    """

    development: np.ndarray
    test: np.ndarray
    folds: tuple[tuple[np.ndarray, np.ndarray], ...]
    n_folds: int
    repeats: int


def make_splits(
    data: Dataset,
    *,
    n_folds: int = 5,
    test_fraction: float = 0.2,
    seed: int = 0,
    stratified: bool = True,
    repeats: int | None = 1,
) -> Splits:
    """Cuts the test split, then ``n_folds`` folds of the remaining rows.

    With ``repeats`` above 1 the folds are cut again with other shuffles
    (pass ``r`` shuffles with ``seed + r``; pass 0 is the same as without
    repeats), giving ``n_folds * repeats`` folds. ``repeats=None`` chooses
    the number from the development rows (:func:`auto_repeats`).

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
    if repeats is not None and repeats < 1:
        raise DataError(f"--repeats must be at least 1, got {repeats}. Use --repeats 1 for plain k-fold CV.")
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
        kfold = StratifiedGroupKFold
    elif dev_groups is not None:
        kfold = GroupKFold
    elif dev_y is not None:
        kfold = StratifiedKFold
    else:
        kfold = KFold
    if repeats is None:
        repeats = auto_repeats(len(dev))
    folds = tuple(
        (rows[dev][train], rows[dev][valid])
        for repeat in range(repeats)
        for train, valid in kfold(n_splits=n_folds, shuffle=True, random_state=seed + repeat).split(
            np.zeros(len(dev)), dev_y, dev_groups
        )
    )
    return Splits(
        development=np.sort(rows[dev]), test=np.sort(rows[test]), folds=folds, n_folds=n_folds, repeats=repeats
    )


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
                f"stratified folds (needs at least {needed}). "
                + ("Use fewer --folds or more data." if n_folds > 2 else f"Add rows of class {label!r}.")
            )
