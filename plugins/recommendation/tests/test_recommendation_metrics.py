"""F1@K, P@K, R@K and NDCG@K against hand-computed examples; full-catalogue top-K in bounded blocks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from fg_automl_recommendation._metrics import (
    block_rows,
    frame_metrics,
    frame_user_scores,
    ranking_metrics,
    top_k,
)


def _frame(lists: dict[str, list[str]]) -> pd.DataFrame:
    rows = [(user, rank, item) for user, items in lists.items() for rank, item in enumerate(items, start=1)]
    return pd.DataFrame(rows, columns=["user", "rank", "item"])


def test_metrics_match_a_hand_computed_example() -> None:
    held_out = pd.DataFrame({"user": ["a", "a", "b", "c"], "item": ["x", "y", "w", "q"]})
    recommended = _frame({
        "a": ["x", "z", "w"],  # 1 hit of 2 at rank 1: P 1/3, R 1/2, F1 0.4, NDCG 1 / (1 + 1/log2 3)
        "b": ["z", "y", "w"],  # 1 hit of 1 at rank 3: P 1/3, R 1, F1 0.5, NDCG (1/log2 4) / 1
        "c": ["x", "y", "z"],  # no hit (its item is one no list holds): all 0
        "d": ["x", "y", "z"],  # no held-out item: not scored
    })
    scores = frame_metrics(held_out, recommended, k=3)
    ndcg_a = 1.0 / (1.0 + 1.0 / math.log2(3))
    assert scores["f1"] == pytest.approx((0.4 + 0.5 + 0.0) / 3)
    assert scores["p@k"] == pytest.approx((1 / 3 + 1 / 3) / 3)  # divided by K, never by |held-out|
    assert scores["r@k"] == pytest.approx((0.5 + 1.0) / 3)
    assert scores["ndcg@k"] == pytest.approx((ndcg_a + 0.5) / 3)


def test_per_user_scores_match_the_hand_computed_example_and_average_to_the_metrics() -> None:
    held_out = pd.DataFrame({"user": ["a", "a", "b", "c"], "item": ["x", "y", "w", "q"]})
    lists = {"a": ["x", "z", "w"], "b": ["z", "y", "w"], "c": ["x", "y", "z"], "d": ["x", "y", "z"]}
    recommended = _frame(lists)
    scores = frame_user_scores(held_out, recommended, k=3)
    assert scores.index.tolist() == ["a", "b", "c"]  # the held-out users only, in order
    assert scores["hits"].tolist() == [1, 1, 0]
    assert scores["f1"].tolist() == pytest.approx([0.4, 0.5, 0.0])
    assert scores["r@k"].tolist() == pytest.approx([0.5, 1.0, 0.0])
    means = frame_metrics(held_out, recommended, k=3)
    assert all(means[name] == pytest.approx(scores[name].mean()) for name in ("f1", "p@k", "r@k", "ndcg@k"))


def test_users_without_a_held_out_item_are_not_scored() -> None:
    relevant = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 0]], dtype=np.float32))
    scores = ranking_metrics(np.array([[0, 1], [0, 1]]), relevant, np.array([1, 0]), k=2)
    assert scores == {"f1": pytest.approx(2 / 3), "p@k": 0.5, "r@k": 1.0, "ndcg@k": pytest.approx(1.0)}
    assert ranking_metrics(np.array([[0, 1]]), relevant[:1] * 0, np.array([0]), k=2)["f1"] == 0.0


def test_a_perfect_list_scores_one_and_a_short_list_counts_its_empty_places_as_misses() -> None:
    held_out = pd.DataFrame({"user": ["a", "a"], "item": ["x", "y"]})
    perfect = frame_metrics(held_out, _frame({"a": ["y", "x"]}), k=2)
    assert perfect == {"f1": 1.0, "p@k": 1.0, "r@k": 1.0, "ndcg@k": pytest.approx(1.0)}
    short = frame_metrics(held_out, _frame({"a": ["x"]}), k=2)  # one place of two filled
    assert short["p@k"] == pytest.approx(0.5) and short["r@k"] == pytest.approx(0.5)
    assert frame_metrics(held_out, _frame({}), k=2)["f1"] == 0.0  # recommended nothing


def test_held_out_items_the_model_never_saw_are_misses_in_the_recall() -> None:
    relevant = sp.csr_matrix(np.array([[1, 0, 0]], dtype=np.float32))
    scores = ranking_metrics(np.array([[0, 1]]), relevant, np.array([3]), k=2)  # 2 more items unknown
    assert scores["r@k"] == pytest.approx(1 / 3) and scores["p@k"] == pytest.approx(1 / 2)


def test_top_k_excludes_training_items_and_pads_when_too_few_are_left() -> None:
    scores = torch.tensor([[0.9, 0.8, 0.1, 0.5], [0.1, 0.2, 0.3, 0.4]])
    exclude = sp.csr_matrix(np.array([[1, 0, 0, 0], [1, 1, 1, 0]], dtype=np.float32))
    items, values = top_k(lambda users: scores[torch.from_numpy(users)], np.array([0, 1]), exclude=exclude, k=3,
                          rows_per_block=2)
    assert items.tolist() == [[1, 3, 2], [3, -1, -1]]
    assert values[0].tolist() == pytest.approx([0.8, 0.5, 0.1]) and np.isnan(values[1, 1:]).all()


def test_top_k_in_blocks_is_exact_and_never_scores_more_users_than_a_block() -> None:
    """A scaled-down 100,000 x 50,000: the memory bound is one block of scores,
    and any block size gives the same lists as ranking everything at once."""
    rng = np.random.default_rng(0)
    n_users, n_items, dim = 3000, 5000, 8
    users_f, items_f = torch.randn(n_users, dim), torch.randn(n_items, dim)
    exclude = sp.random(n_users, n_items, density=0.002, format="csr", random_state=0, dtype=np.float32)
    exclude.data[:] = 1.0
    budget = 2 * 2**20  # bytes of scores at a time
    rows = block_rows(n_items, budget=budget)
    assert rows * n_items * 4 <= budget
    widest = []

    def scores_for(block: np.ndarray) -> torch.Tensor:
        widest.append(len(block))
        return users_f[torch.from_numpy(block)] @ items_f.T

    users = rng.permutation(n_users)
    blocked, _ = top_k(scores_for, users, exclude=exclude, k=10, rows_per_block=rows)
    assert max(widest) == rows
    full = users_f[torch.from_numpy(users)] @ items_f.T
    full[torch.from_numpy(exclude[users].toarray() > 0)] = -torch.inf
    assert np.array_equal(blocked, torch.topk(full, 10, dim=1).indices.numpy())
    assert not exclude[users[:, None], blocked].toarray().any()  # no training item recommended
