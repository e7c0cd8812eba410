"""The task's report figure: hit rate@K and mean F1@K by user activity, counted
by hand from the lists the task's evaluation ranks, agreeing with its test F1."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from fg_automl_recommendation import RECOMMENDATION_FAMILIES, RecommendationTask, RecommenderModel
from fg_automl_recommendation._data import ITEM, USER
from fg_automl_recommendation._report import activity_buckets

from finegrain_automl import Dataset, FitContext
from finegrain_automl.figures import Bars, figures_from_json, figures_to_json
from finegrain_automl.report._plots import draw_figure

K = 5


def _dataset(rows: list[tuple[str, str]]) -> Dataset:
    features = pd.DataFrame(rows, columns=[USER, ITEM])
    groups = pd.factorize(features[USER])[0]
    return Dataset(features=features, target=None, groups=groups, info={"k": K, "group_column": USER})


def _train_and_test(seed: int = 0) -> tuple[Dataset, Dataset]:
    """60 users with 3 to 30 training items each (so several activity buckets)
    and 2 held-out items each, from 40 items in 4 clusters of taste."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for user in range(60):
        cluster = user % 4
        liked = rng.permutation(np.arange(cluster * 10, cluster * 10 + 10))
        others = rng.permutation(np.setdiff1d(np.arange(40), liked))
        items = np.concatenate([liked, others])[: int(rng.integers(3, 31)) + 2]
        train += [(f"u{user}", f"i{i}") for i in items[2:]]
        test += [(f"u{user}", f"i{i}") for i in items[:2]]
    return _dataset(train), _dataset(test)


def _fit(train: Dataset) -> RecommenderModel:
    model = RecommendationTask().fit(
        config={"model": "ease"}, family=RECOMMENDATION_FAMILIES["ease"],
        family_params={"l2": 10.0, "solver": "closed"}, train=train, context=FitContext(seed=0),
    )
    assert isinstance(model, RecommenderModel)
    return model


@pytest.fixture(scope="module")
def fitted() -> tuple[RecommenderModel, Dataset, Dataset]:
    train, test = _train_and_test()
    return _fit(train), train, test


def _bucket(label: str) -> tuple[int, int, int]:
    """``(low, high, users)`` of a label such as ``"4-9 (12 users)"`` or ``"3 (1 user)"``."""
    found = re.fullmatch(r"(\d+)(?:-(\d+))? \((\d+) users?\)", label)
    assert found, label
    low, high, users = found.groups()
    return int(low), int(high or low), int(users)


def test_activity_buckets_are_quantile_ranges_that_tile_the_counts() -> None:
    counts = np.array([1, 1, 2, 3, 4, 5, 6, 8, 10, 20])
    # Upper ends: the 2nd, 4th, 6th, 8th and 10th of the sorted counts.
    assert activity_buckets(counts) == [(1, 1), (2, 3), (4, 5), (6, 8), (9, 20)]
    assert activity_buckets(np.array([7, 7, 7])) == [(7, 7)]  # ties are never split
    assert activity_buckets(np.array([2, 2, 2, 2, 9])) == [(2, 2), (3, 9)]
    assert activity_buckets(np.array([], dtype=np.int64)) == []
    rng = np.random.default_rng(0)
    counts = rng.zipf(1.8, size=500).clip(max=1000)
    ranges = activity_buckets(counts)
    assert len(ranges) <= 5 and ranges[0][0] == counts.min() and ranges[-1][1] == counts.max()
    assert all(low <= high for low, high in ranges)
    assert all(ranges[i][1] + 1 == ranges[i + 1][0] for i in range(len(ranges) - 1))  # no gap, no overlap
    assert all(((counts >= low) & (counts <= high)).any() for low, high in ranges)  # none empty


def test_hit_rate_and_f1_by_activity_match_hand_counts_and_the_test_f1(
    fitted: tuple[RecommenderModel, Dataset, Dataset],
) -> None:
    model, train, test = fitted
    task = RecommendationTask()
    figures = task.report_figures(model, test, private=True)
    assert len(figures) == 1 and isinstance(figures[0], Bars)
    bars = figures[0]
    assert list(bars.series) == [f"hit rate@{K}", f"mean F1@{K}"]

    activity = train.features.groupby(USER).size()
    held = test.features.groupby(USER)[ITEM].agg(set)
    lists = model.recommend(held.index.to_numpy(object)).groupby(USER)[ITEM].agg(list)
    buckets = [_bucket(label) for label in bars.labels]
    assert len(buckets) > 1 and sum(users for _, _, users in buckets) == len(held)
    for index, (low, high, users) in enumerate(buckets):
        members = activity[(activity >= low) & (activity <= high)].index
        assert len(members) == users
        hits = [len(held[user] & set(lists[user])) for user in members]
        f1 = [2 * (h / K) * (h / len(held[user])) / (h / K + h / len(held[user])) if h else 0.0
              for h, user in zip(hits, members, strict=True)]
        assert bars.series[f"hit rate@{K}"][index] == pytest.approx(np.mean([h > 0 for h in hits]))
        assert bars.series[f"mean F1@{K}"][index] == pytest.approx(np.mean(f1))

    weights = [users for _, _, users in buckets]
    overall = np.average(bars.series[f"mean F1@{K}"], weights=weights)
    assert overall == pytest.approx(task.evaluate(model, test)["f1"])  # the leaderboard's test F1
    assert f"({overall:.3f})" in bars.caption and f"The {len(held)} test users" in bars.caption


def test_figures_are_aggregates_whether_private_or_not_and_round_trip_and_draw(
    fitted: tuple[RecommenderModel, Dataset, Dataset],
) -> None:
    model, _, test = fitted
    task = RecommendationTask()
    private, public = (task.report_figures(model, test, private=flag) for flag in (True, False))
    assert private == public and all(isinstance(figure, Bars) for figure in public)  # never an Image
    data = json.loads(json.dumps(figures_to_json(public)))
    assert figures_from_json(data) == list(public)
    for figure in figures_from_json(data):
        assert draw_figure(figure).startswith("data:image/png;base64,")


def test_degenerate_test_splits_give_fewer_figures_never_an_error(
    fitted: tuple[RecommenderModel, Dataset, Dataset],
) -> None:
    model, _, test = fitted
    task = RecommendationTask()
    assert task.report_figures(model, test.take(np.array([], dtype=np.int64)), private=True) == []

    one_user = test.take(np.flatnonzero(test.features[USER].to_numpy(object) == "u0"))
    (bars,) = task.report_figures(model, one_user, private=True)
    assert len(bars.labels) == 1 and bars.labels[0].endswith("(1 user)")

    # Items the model never saw and a user it never saw: no hit anywhere, activity 0 for the stranger.
    unseen = _dataset([("u1", "new-a"), ("u2", "new-b"), ("stranger", "new-c")])
    (bars,) = task.report_figures(model, unseen, private=True)
    assert bars.series[f"hit rate@{K}"] == [0.0] * len(bars.labels)
    assert bars.series[f"mean F1@{K}"] == [0.0] * len(bars.labels)
    assert _bucket(bars.labels[0])[:2] == (0, 0) and sum(_bucket(label)[2] for label in bars.labels) == 3
