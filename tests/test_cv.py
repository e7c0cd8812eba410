"""Splits: test rows held out first, folds disjoint, stratified, identical per seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finegrain_automl.cv import DEFAULT_FOLDS, SplitStrategy, auto_repeats, describe_cv, make_splits
from finegrain_automl.data import Dataset
from finegrain_automl.errors import DataError


def _data(n: int = 1000, positive_rate: float = 0.05, groups: bool = False, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    target = (rng.random(n) < positive_rate).astype(int)
    target[:10] = 1  # enough positives for every split
    return Dataset(
        features=pd.DataFrame({"x": rng.normal(size=n)}),
        target=target,
        groups=rng.integers(0, 50, size=n) if groups else None,
    )


def test_test_split_never_in_any_fold_and_folds_partition_the_rest() -> None:
    data = _data()
    splits = make_splits(data, n_folds=5, test_fraction=0.2, seed=3)
    test = set(splits.test.tolist())
    development = set(splits.development.tolist())
    assert test.isdisjoint(development)
    assert test | development == set(range(len(data)))
    validation_union: set[int] = set()
    for train, valid in splits.folds:
        assert set(train.tolist()).isdisjoint(valid.tolist())
        assert set(train.tolist()) | set(valid.tolist()) == development
        assert test.isdisjoint(train.tolist()) and test.isdisjoint(valid.tolist())
        assert validation_union.isdisjoint(valid.tolist())
        validation_union |= set(valid.tolist())
    assert validation_union == development
    assert len(splits.test) == pytest.approx(0.2 * len(data), abs=1)


def test_splits_are_stratified() -> None:
    data = _data(n=5000, positive_rate=0.02)
    splits = make_splits(data, n_folds=5, seed=0)
    overall = data.target.mean()
    assert data.target[splits.test].mean() == pytest.approx(overall, rel=0.1)
    for _, valid in splits.folds:
        assert data.target[valid].mean() == pytest.approx(overall, rel=0.15)


def test_same_seed_gives_identical_splits_and_other_seed_differs() -> None:
    data = _data()
    first = make_splits(data, n_folds=4, seed=7)
    again = make_splits(data, n_folds=4, seed=7)
    other = make_splits(data, n_folds=4, seed=8)
    assert np.array_equal(first.test, again.test)
    for (a_train, a_valid), (b_train, b_valid) in zip(first.folds, again.folds, strict=True):
        assert np.array_equal(a_train, b_train) and np.array_equal(a_valid, b_valid)
    assert not np.array_equal(first.test, other.test)


def test_groups_never_cross_a_split() -> None:
    data = _data(groups=True)
    splits = make_splits(data, n_folds=3, seed=0)
    assert set(data.groups[splits.test]).isdisjoint(data.groups[splits.development])
    for train, valid in splits.folds:
        assert set(data.groups[train]).isdisjoint(data.groups[valid])


def test_single_class_is_a_clear_error() -> None:
    data = Dataset(features=pd.DataFrame({"x": range(50)}), target=np.zeros(50, dtype=int))
    with pytest.raises(DataError, match="single class"):
        make_splits(data, n_folds=5)


def test_class_smaller_than_folds_is_a_clear_error() -> None:
    target = np.zeros(100, dtype=int)
    target[:4] = 1
    data = Dataset(features=pd.DataFrame({"x": range(100)}), target=target)
    with pytest.raises(DataError, match=r"Class 1 has 4 rows.*fewer --folds"):
        make_splits(data, n_folds=5)
    target[1:4] = 0  # one row: too few even for 2 folds, the fewest there are
    with pytest.raises(DataError, match=r"Class 1 has 1 rows.*needs at least 4\)\. Add rows of class 1\.$"):
        make_splits(data, n_folds=2)


@pytest.mark.parametrize("groups", [False, True])
def test_repeated_folds_partition_the_development_rows_once_per_pass(groups: bool) -> None:
    data = _data(groups=groups)
    plain = make_splits(data, n_folds=4, seed=5)
    repeated = make_splits(data, n_folds=4, seed=5, repeats=3)
    assert (repeated.n_folds, repeated.repeats, len(repeated.folds)) == (4, 3, 12)
    np.testing.assert_array_equal(repeated.test, plain.test)  # repeats never touch the test split
    passes = [repeated.folds[i * 4 : (i + 1) * 4] for i in range(3)]
    for folds in passes:
        validation = np.concatenate([valid for _, valid in folds])
        assert sorted(validation.tolist()) == sorted(repeated.development.tolist())
        for train, valid in folds:
            assert set(train.tolist()).isdisjoint(valid.tolist())
            assert len(train) + len(valid) == len(repeated.development)
    for (a_train, a_valid), (b_train, b_valid) in zip(passes[0], plain.folds, strict=True):
        np.testing.assert_array_equal(a_valid, b_valid)  # the first pass is the plain k-fold split
        np.testing.assert_array_equal(a_train, b_train)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(passes[0], passes[1], strict=True))


def test_repeats_below_one_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="--repeats must be at least 1"):
        make_splits(_data(), n_folds=5, repeats=0)


def test_auto_repeats_gives_small_data_more_passes() -> None:
    assert [auto_repeats(n) for n in (0, 120, 455, 749, 750, 1499, 1500, 40_000)] == [1, 3, 3, 3, 2, 2, 1, 1]
    assert describe_cv(5, 1) == "5-fold CV"
    assert describe_cv(5, 3) == "5-fold CV repeated 3 times"


def _grouped_data(sizes, *, seed: int = 0, column: str = "customer") -> Dataset:
    """One group per entry of ``sizes`` with that many rows; a target with both classes."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"g{i}" for i in range(len(sizes))], sizes)
    target = (rng.random(len(groups)) < 0.3).astype(int)
    return Dataset(features=pd.DataFrame({"x": rng.normal(size=len(groups))}), target=target, groups=groups,
                   info={"group_column": column})


def test_grouped_splits_keep_every_group_on_one_side() -> None:
    data = _grouped_data(np.random.default_rng(1).integers(3, 12, size=80))
    strategy = SplitStrategy(kind="grouped")
    splits = make_splits(data, n_folds=4, seed=2, strategy=strategy, repeats=2)
    groups = data.groups
    assert set(groups[splits.test]).isdisjoint(groups[splits.development])
    for train, valid in splits.folds:
        assert set(groups[train]).isdisjoint(groups[valid])
        assert set(train.tolist()) | set(valid.tolist()) == set(splits.development.tolist())
    again = make_splits(data, n_folds=4, seed=2, strategy=strategy, repeats=2)  # identical for every trial
    assert all(np.array_equal(a, b) for fa, fb in zip(splits.folds, again.folds) for a, b in zip(fa, fb))


def test_spread_splits_put_every_group_on_both_sides_in_proportion() -> None:
    sizes = np.random.default_rng(3).integers(6, 40, size=60)
    data = _grouped_data(sizes, column="user")
    splits = make_splits(data, n_folds=5, test_fraction=0.2, seed=4, strategy=SplitStrategy(kind="spread"),
                         repeats=2)
    groups, n_groups = data.groups, len(sizes)
    assert set(splits.test.tolist()).isdisjoint(splits.development.tolist())
    assert len(splits.test) + len(splits.development) == len(data) and len(splits.train_only) == 0
    test_counts = pd.Series(groups[splits.test]).value_counts()
    for i, size in enumerate(sizes):  # round(20 %), at least 1, leaving one row per fold
        assert test_counts[f"g{i}"] == min(max(1, round(0.2 * size)), size - 5)
    for p in range(2):
        valids = [valid for _, valid in splits.folds[5 * p : 5 * p + 5]]
        assert np.array_equal(np.sort(np.concatenate(valids)), splits.development)  # a partition per pass
    for train, valid in splits.folds:
        assert set(train.tolist()).isdisjoint(valid.tolist())
        assert len(set(groups[valid])) == len(set(groups[train])) == n_groups
        counts = pd.Series(groups[valid]).value_counts()
        dev_counts = pd.Series(groups[splits.development]).value_counts()
        assert ((counts - dev_counts / 5).abs() <= 1).all()  # dealt round-robin: within one row of a fifth


def test_spread_splits_name_a_group_too_small_or_keep_it_for_training() -> None:
    data = _grouped_data([10, 10, 3, 8, 10, 2], column="user")
    with pytest.raises(DataError, match=r"user 'g5' has 2 rows \(2 of 6 values of user have fewer than 6\)"):
        make_splits(data, n_folds=5, strategy=SplitStrategy(kind="spread"))
    splits = make_splits(data, n_folds=5, strategy=SplitStrategy(kind="spread", small_groups="train"))
    small = np.flatnonzero(np.isin(data.groups, ["g2", "g5"]))
    assert np.array_equal(splits.train_only, small)
    assert set(small.tolist()).isdisjoint(splits.test.tolist())
    for train, valid in splits.folds:
        assert set(small.tolist()) <= set(train.tolist()) and set(small.tolist()).isdisjoint(valid.tolist())


@pytest.mark.parametrize(
    ("sizes", "fragment"),
    [
        ([200, *([5] * 40)], r"customer 'g0' has 200 rows, more than a fold holds \(about 64 of 400 rows"),
        ([30, 30, 30, 30], r"customer has 4 distinct values; .* needs at least 6"),
    ],
)
def test_grouped_splits_that_cannot_be_cut_are_clear_errors(sizes, fragment) -> None:
    with pytest.raises(DataError, match=fragment):
        make_splits(_grouped_data(sizes), n_folds=5, strategy=SplitStrategy(kind="grouped"))


def test_a_strategy_must_be_known_and_have_groups() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        SplitStrategy(kind="by-date")
    with pytest.raises(ValueError, match="needs Dataset.groups"):
        make_splits(_data(), strategy=SplitStrategy(kind="spread"))
    assert SplitStrategy(kind="grouped").describe("patient_id") == "grouped by patient_id"


def test_the_strategy_folds_and_repeats_are_defaults_that_explicit_values_override() -> None:
    data = _data()  # 800 development rows: auto_repeats would choose 2 passes
    assert auto_repeats(800) == 2
    strategy = SplitStrategy(folds=3, repeats=1)
    own = make_splits(data, n_folds=None, repeats=None, strategy=strategy)
    assert (own.n_folds, own.repeats, len(own.folds)) == (3, 1, 3)
    assert sorted(np.concatenate([valid for _, valid in own.folds]).tolist()) == own.development.tolist()
    given = make_splits(data, n_folds=4, repeats=2, strategy=strategy)
    assert (given.n_folds, given.repeats, len(given.folds)) == (4, 2, 8)
    only_folds = make_splits(data, n_folds=2, repeats=None, strategy=SplitStrategy(folds=3, repeats=3))
    assert (only_folds.n_folds, only_folds.repeats) == (2, 3)  # the strategy's repeats still apply
    only_repeats = make_splits(data, repeats=2, strategy=strategy)  # ... and its folds
    assert (only_repeats.n_folds, only_repeats.repeats) == (3, 2)


def test_without_strategy_folds_the_default_folds_and_auto_repeats_apply() -> None:
    assert DEFAULT_FOLDS == 5
    data = _data()
    for strategy in (None, SplitStrategy(), SplitStrategy(folds=None, repeats=None)):
        splits = make_splits(data, n_folds=None, repeats=None, strategy=strategy)
        assert (splits.n_folds, splits.repeats, len(splits.folds)) == (5, auto_repeats(800), 10), strategy
    assert make_splits(data).n_folds == DEFAULT_FOLDS  # n_folds defaults to None
    passes_only = make_splits(data, repeats=None, strategy=SplitStrategy(repeats=3))
    assert (passes_only.n_folds, passes_only.repeats, len(passes_only.folds)) == (DEFAULT_FOLDS, 3, 15)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [({"folds": 1}, "SplitStrategy.folds must be at least 2 or None, but got 1"),
     ({"folds": 0}, "SplitStrategy.folds must be at least 2"),
     ({"repeats": 0}, "SplitStrategy.repeats must be at least 1 or None, but got 0"),
     ({"repeats": -2}, "SplitStrategy.repeats must be at least 1")],
)
def test_a_strategy_with_too_few_folds_or_repeats_is_refused(fields, fragment) -> None:
    with pytest.raises(ValueError, match=fragment):
        SplitStrategy(**fields)
