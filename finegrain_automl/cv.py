"""Seeded splits: a held-out test split first, then k folds of the rest.

The same seed gives the same splits, so every trial of a search is scored on
identical folds, and the test split never enters any fold. The task says how
rows are split (:class:`SplitStrategy`, from ``Task.split_strategy``):

- ``rows``: row by row, stratified by the target for classification;
- ``grouped``: by ``Dataset.groups`` (a patient, a customer), no group on
  both sides of any split, stratified by the target where possible;
- ``spread``: by ``Dataset.groups`` (a user), every group on both sides of
  every split, in proportion: each group's rows are shared out between the
  test split and every fold's validation part (recommendation: every user
  has training history wherever they are scored).

On small data the k folds can be repeated with fresh shuffles (repeated
k-fold cross-validation): every configuration is then scored on several
partitions of the same rows, which lowers the part of the CV estimate's noise
that comes from one particular partition and one training seed, so that the
search ranks configurations rather than lucky draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from finegrain_automl.data import Dataset, plain_value
from finegrain_automl.errors import DataError

__all__ = ["DEFAULT_FOLDS", "SplitStrategy", "Splits", "auto_repeats", "describe_cv", "make_splits"]

#: Unless ``--repeats`` is given, folds are repeated until every configuration
#: is scored on about this many validation predictions (at most
#: :data:`MAX_AUTO_REPEATS` passes).
AUTO_REPEAT_PREDICTIONS = 1500
MAX_AUTO_REPEATS = 3
#: Folds unless ``--folds`` is given or the task's :class:`SplitStrategy` says otherwise.
DEFAULT_FOLDS = 5


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
class SplitStrategy:
    """How a task's rows are split into the test split and the folds.

    Attributes:
        kind: ``"rows"``, ``"grouped"`` or ``"spread"`` (see the module's docstring).
        stratify: Stratify by the target (``rows`` and ``grouped``), when
            the data have one.
        small_groups: ``spread`` only: what to do with a group of fewer than
            ``n_folds + 1`` rows, too few to appear in the test split and in
            every fold's validation part: ``"error"`` (a :class:`DataError`
            naming it), or ``"train"`` (its rows are in every fold's training
            part and never scored; :attr:`Splits.train_only`).
        folds: Folds when the user gives no ``--folds``; ``None``:
            :data:`DEFAULT_FOLDS`. A task whose fits are costly (a detector
            trained from scratch) asks for fewer.
        repeats: Passes of the folds when the user gives no ``--repeats``;
            ``None``: from the number of development rows (:func:`auto_repeats`).
    """

    kind: str = "rows"
    stratify: bool = True
    small_groups: str = "error"
    folds: int | None = None
    repeats: int | None = None

    KINDS: ClassVar[tuple[str, ...]] = ("rows", "grouped", "spread")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"SplitStrategy.kind must be one of {self.KINDS}, but got {self.kind!r}.")
        if self.small_groups not in ("error", "train"):
            raise ValueError(f"small_groups must be 'error' or 'train', but got {self.small_groups!r}.")
        if self.folds is not None and self.folds < 2:
            raise ValueError(f"SplitStrategy.folds must be at least 2 or None, but got {self.folds!r}.")
        if self.repeats is not None and self.repeats < 1:
            raise ValueError(f"SplitStrategy.repeats must be at least 1 or None, but got {self.repeats!r}.")

    def describe(self, column: str = "group") -> str:
        """A few words for the run record: ``"grouped by customer_id"``."""
        if self.kind == "rows":
            return "stratified by the target" if self.stratify else "by rows"
        return f"{'grouped' if self.kind == 'grouped' else 'spread'} by {column}"


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
        train_only: Development rows in every fold's training part and in
            no validation part (a ``spread`` strategy's small groups).
    """

    development: np.ndarray
    test: np.ndarray
    folds: tuple[tuple[np.ndarray, np.ndarray], ...]
    n_folds: int
    repeats: int
    train_only: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def make_splits(
    data: Dataset,
    *,
    n_folds: int | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    stratified: bool = True,
    repeats: int | None = 1,
    strategy: SplitStrategy | None = None,
) -> Splits:
    """Cuts the test split, then ``n_folds`` folds of the remaining rows, as
    ``strategy`` says (default: by rows, stratified by the target if
    ``stratified``; grouped when ``data.groups`` is set).

    With ``repeats`` above 1 the folds are cut again with other shuffles
    (pass ``r`` shuffles with ``seed + r``; pass 0 is the same as without
    repeats), giving ``n_folds * repeats`` folds. ``n_folds=None`` takes the
    strategy's :attr:`SplitStrategy.folds` (else :data:`DEFAULT_FOLDS`);
    ``repeats=None`` its :attr:`SplitStrategy.repeats`, else a number chosen
    from the development rows (:func:`auto_repeats`).

    Raises:
        DataError: Too few rows, a class with fewer rows than the splits
            need, or groups the strategy cannot place (too few, too large, or
            too small to spread); the message says how many and what to change.
    """
    if strategy is None:
        strategy = SplitStrategy(kind="grouped" if data.groups is not None else "rows", stratify=stratified)
    if n_folds is None:
        n_folds = strategy.folds or DEFAULT_FOLDS
    if repeats is None:
        repeats = strategy.repeats  # still None: auto_repeats once the development rows are known
    if n_folds < 2:
        raise DataError(f"--folds must be at least 2, got {n_folds}. Use --folds 2 or more.")
    if repeats is not None and repeats < 1:
        raise DataError(f"--repeats must be at least 1, got {repeats}. Use --repeats 1 for plain k-fold CV.")
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"The test fraction must be between 0 and 1, got {test_fraction}.")
    if strategy.kind != "rows" and data.groups is None:
        raise ValueError(f"A {strategy.kind!r} split needs Dataset.groups, but the data set has none.")
    if strategy.kind == "spread":
        return _spread_splits(data, strategy, n_folds=n_folds, test_fraction=test_fraction, seed=seed,
                              repeats=repeats)
    return _row_or_group_splits(data, strategy, n_folds=n_folds, test_fraction=test_fraction, seed=seed,
                                repeats=repeats)


def _row_or_group_splits(
    data: Dataset, strategy: SplitStrategy, *, n_folds: int, test_fraction: float, seed: int, repeats: int | None
) -> Splits:
    from sklearn.model_selection import (
        GroupKFold,
        GroupShuffleSplit,
        KFold,
        ShuffleSplit,
        StratifiedGroupKFold,
        StratifiedKFold,
        StratifiedShuffleSplit,
    )

    stratify = data.target if strategy.stratify and data.target is not None else None
    if stratify is not None:
        _check_class_counts(data, n_folds=n_folds, test_fraction=test_fraction)
    grouped = strategy.kind == "grouped"
    if grouped:
        _check_groups_fit(data, n_folds=n_folds, test_fraction=test_fraction)
    rows = np.arange(len(data))
    placeholder = np.zeros(len(data))

    if grouped:
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
        dev, test = next(splitter.split(placeholder, groups=data.groups))
    elif stratify is not None:
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
        dev, test = next(splitter.split(placeholder, stratify))
    else:
        splitter = ShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
        dev, test = next(splitter.split(placeholder))

    dev_y = None if stratify is None else stratify[dev]
    dev_groups = data.groups[dev] if grouped else None
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


def _spread_splits(
    data: Dataset, strategy: SplitStrategy, *, n_folds: int, test_fraction: float, seed: int, repeats: int | None
) -> Splits:
    """Each group's rows shared out: about ``test_fraction`` of them (at least
    one) to the test split, the rest dealt round-robin over the folds, so that
    every group is in the test split and in every fold's validation part."""
    groups = np.asarray(data.groups)
    column = data.info.get("group_column", "group")
    values, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    needed = n_folds + 1
    small = counts < needed
    if small.any() and strategy.small_groups == "error":
        worst = int(np.argmin(counts))
        raise DataError(
            f"{column} {plain_value(values[worst])!r} has {counts[worst]} rows ({int(small.sum())} of "
            f"{len(values)} values of {column} have fewer than {needed}); spreading each {column} over the test "
            f"split and {n_folds} folds needs at least {needed}. Use fewer --folds, or leave out the {column} "
            "values with fewer rows."
        )
    rng = np.random.default_rng(seed)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(counts)[:-1]
    members = np.split(order, bounds)  # row positions per group
    test_parts, dev_parts, train_only = [], [], []
    for rows_of_group, is_small in zip(members, small, strict=True):
        if is_small:
            train_only.append(rows_of_group)
            continue
        shuffled = rng.permutation(rows_of_group)
        n_test = min(max(1, round(test_fraction * len(shuffled))), len(shuffled) - n_folds)
        test_parts.append(shuffled[:n_test])
        dev_parts.append(shuffled[n_test:])
    if not dev_parts:
        raise DataError(f"No {column} has the {needed} rows that spreading over a test split and {n_folds} folds "
                        "needs. Use fewer --folds or more data.")
    empty = np.zeros(0, dtype=np.int64)
    train_only_rows = np.sort(np.concatenate(train_only)) if train_only else empty
    development = np.sort(np.concatenate([*dev_parts, train_only_rows]))
    if repeats is None:
        repeats = auto_repeats(len(development))
    folds = []
    for repeat in range(repeats):
        pass_rng = np.random.default_rng([seed, repeat])
        fold_of = {}
        for part in dev_parts:
            shuffled = pass_rng.permutation(part)
            offset = int(pass_rng.integers(n_folds))  # balances fold sizes across groups
            fold_of.update(zip(shuffled.tolist(), ((offset + np.arange(len(part))) % n_folds).tolist()))
        assigned = np.array(sorted(fold_of), dtype=np.int64)
        fold_ids = np.array([fold_of[r] for r in assigned.tolist()], dtype=np.int64)
        for k in range(n_folds):
            valid = assigned[fold_ids == k]
            train = np.sort(np.concatenate([assigned[fold_ids != k], train_only_rows]))
            folds.append((train, valid))
    return Splits(
        development=development, test=np.sort(np.concatenate(test_parts)), folds=tuple(folds), n_folds=n_folds,
        repeats=repeats, train_only=train_only_rows,
    )


def _check_groups_fit(data: Dataset, *, n_folds: int, test_fraction: float) -> None:
    """Raises unless the groups can fill a test split and ``n_folds`` folds, none larger than a fold."""
    column = data.info.get("group_column", "group")
    values, counts = np.unique(np.asarray(data.groups), return_counts=True)
    if len(values) < n_folds + 1:
        raise DataError(
            f"{column} has {len(values)} distinct values; a grouped split into a test split and {n_folds} folds "
            f"needs at least {n_folds + 1}. Use fewer --folds or data with more {column} values."
        )
    fold_rows = (1.0 - test_fraction) * len(data) / n_folds
    largest = int(np.argmax(counts))
    if counts[largest] > fold_rows:
        raise DataError(
            f"{column} {plain_value(values[largest])!r} has {counts[largest]} rows, more than a fold holds "
            f"(about {int(fold_rows)} of {len(data)} rows with {n_folds} folds), so no grouped split keeps the "
            f"folds alike. Use fewer --folds, or check that {column} names an entity (a customer, a patient) "
            "rather than a category."
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
