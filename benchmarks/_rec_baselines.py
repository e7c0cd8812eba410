"""Classical recommenders of ``benchmarks/quality.py`` for the recommendation task.

Three baselines, each learning from the search's development rows only and
scored once on its test rows, exactly as the task scores its own models: the
user's top-K list over the whole training catalogue (every item of the
development rows), the user's training items excluded, K from the data's
``info["k"]``, through the plugin's :func:`top_k` and :func:`frame_metrics`
(so F1@K, P@K, R@K and NDCG@K have one definition, the task's). A held-out
item the training rows never saw is a miss, as it is for the task's models.

- :func:`popularity`: the most popular training items (by number of users).
- :func:`item_knn`: item-item cosine similarity of the training user-item
  matrix, ``X^T X / (|i| |j| + shrink)`` with a zero diagonal, keeping each
  item's ``neighbours`` most similar items; a user's scores are
  ``history @ similarity`` (Sarwar et al. 2001; the ItemKNN-CF of Ferrari
  Dacrema et al. 2019). Tuned over :data:`NEIGHBOURS` x :data:`SHRINKS`.
- :func:`ease`: EASE in closed form (Steck 2019): ``P = (X^T X + l2 I)^-1``,
  ``B = -P / diag(P)`` column by column, ``diag(B) = 0``; scores
  ``history @ B``. Tuned over :data:`L2_GRID`. Written here, not taken from
  the plugin's EASE family, so it also checks that one.

Tuning never looks at the test rows: :func:`inner_split` spreads the
development rows of every scored user (every user with 2 or more of them;
the search's train-only users stay whole in training, as in its folds) into
an inner training part and about :data:`INNER_HOLDOUT` of each user's rows to
score, seeded; the setting with the best inner F1@K (the first on a tie, in
grid order) is refit on all development rows and scored on the test rows.

The similarity and EASE matrices are dense ``[n_items, n_items]`` (fine for
the task's data: a few thousand items).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from fg_automl_recommendation._data import DEFAULT_K, ITEM, USER
from fg_automl_recommendation._interactions import Vocabulary
from fg_automl_recommendation._metrics import METRIC_NAMES, block_rows, frame_metrics, top_k

__all__ = [
    "INNER_HOLDOUT",
    "L2_GRID",
    "NEIGHBOURS",
    "REC_BASELINES",
    "SHRINKS",
    "Scored",
    "ease",
    "inner_split",
    "item_knn",
    "popularity",
    "rec_baselines",
]

#: Share of each scored user's development rows that the inner split holds out to tune on.
INNER_HOLDOUT = 0.2
#: ItemKNN: most similar items kept per item, and the shrink term of the cosine.
NEIGHBOURS = (10, 20, 50, 100, 200, 500, 1000)
SHRINKS = (0.0, 10.0, 30.0, 100.0, 300.0)
#: EASE: L2 regularisation, a log grid.
L2_GRID = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0)

#: Scores of a block of user indices, ``[len(block), n_items]`` (what :func:`top_k` takes).
ScoresFor = Callable[[np.ndarray], torch.Tensor]


@dataclass(frozen=True, kw_only=True)
class Scored:
    """A baseline's test scores and how it was chosen.

    Attributes:
        test: F1@K, P@K, R@K and NDCG@K on the test rows (keys :data:`METRIC_NAMES`).
        setting: The chosen hyperparameters (empty for popularity).
        inner_f1: The chosen setting's F1@K on the inner split (``None`` untuned).
        grid_edge: The chosen setting lies at an end of a tuned grid (widen it).
        tried: Settings scored on the inner split.
        seconds: Wall time of the tuning, the refit and the test scoring.
    """

    test: dict[str, float]
    setting: dict[str, Any] = field(default_factory=dict)
    inner_f1: float | None = None
    grid_edge: bool = False
    tried: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class _Training:
    """A fit's vocabulary (the training users and items) and its 0/1 ``[users, items]`` matrix."""

    vocabulary: Vocabulary
    history: sp.csr_matrix

    @classmethod
    def of(cls, rows: pd.DataFrame) -> _Training:
        vocabulary = Vocabulary.fit(rows[[USER, ITEM]])
        users = vocabulary.user_index(rows[USER].to_numpy(object))
        items = vocabulary.item_index(rows[ITEM].to_numpy(object))
        return cls(vocabulary, vocabulary.matrix(users, items))

    def item_users(self) -> np.ndarray:
        """Training users of each item, ``[n_items]``."""
        return np.asarray(self.history.sum(axis=0)).ravel()

    def gram(self) -> np.ndarray:
        """``X^T X``, dense float64 ``[n_items, n_items]``: users shared by each pair of items."""
        return (self.history.T @ self.history).toarray().astype(np.float64)

    def linear_scores(self, weights: np.ndarray) -> ScoresFor:
        """Scores ``history[block] @ weights`` (``weights``: ``[n_items, n_items]``)."""
        weights = np.ascontiguousarray(weights, dtype=np.float32)

        def scores_for(block: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(self.history[block] @ weights, dtype=np.float32))

        return scores_for

    def popularity_scores(self) -> ScoresFor:
        counts = torch.from_numpy(self.item_users().astype(np.float32))
        return lambda block: counts.repeat(len(block), 1)  # a fresh tensor: top_k writes -inf into it


def _metrics(
    training: _Training, scores_for: ScoresFor, held_out: pd.DataFrame, *, k: int
) -> dict[str, float]:
    """The task's metrics of top-K lists for the users of ``held_out`` (training items excluded).

    Users the training rows do not know get the most popular items, as the
    task's models give them (the spread split leaves none in the test rows).
    """
    vocab = training.vocabulary
    users = np.asarray(pd.unique(held_out[USER].to_numpy(object)), dtype=object)
    index = vocab.user_index(users)
    known = index >= 0
    items = np.full((len(users), k), -1, dtype=np.int64)
    if known.any():
        items[known], _ = top_k(scores_for, index[known], exclude=training.history, k=k,
                                rows_per_block=block_rows(vocab.n_items))
    popular = np.argsort(-training.item_users(), kind="stable")[:k]
    items[np.ix_(~known, np.arange(len(popular)))] = popular
    filled = items >= 0
    rows, places = np.nonzero(filled)
    lists = pd.DataFrame({USER: users[rows], "rank": places + 1, ITEM: vocab.items[items[filled]]})
    scores = frame_metrics(held_out[[USER, ITEM]], lists, k=k)
    return {name: scores[name] for name in METRIC_NAMES}


def inner_split(
    data, development: np.ndarray, *, train_only: np.ndarray, seed: int, fraction: float = INNER_HOLDOUT
) -> tuple[np.ndarray, np.ndarray]:
    """Splits the development rows into inner training and inner held-out positions.

    Every user with 2 or more development rows that are not ``train_only``
    has ``round(fraction * n)`` of them (at least 1, at most ``n - 1``) held
    out, chosen at random (seeded); ``train_only`` rows stay in training.

    Returns:
        ``(inner_train, inner_held_out)``, positions into ``data``, sorted.
    """
    development = np.asarray(development, dtype=np.int64)
    scored = development[~np.isin(development, train_only)]
    users = data.features[USER].to_numpy(object)[scored]
    codes = pd.factorize(users)[0]
    counts = np.bincount(codes)
    rng = np.random.default_rng([seed, 20])
    order = rng.permutation(len(scored))  # a random order of the rows, then grouped by user (stable)
    order = order[np.argsort(codes[order], kind="stable")]
    rank = np.empty(len(scored), dtype=np.int64)  # place of each row among its user's shuffled rows
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank[order] = np.arange(len(scored)) - np.repeat(starts, counts)
    n_hold = np.clip(np.round(fraction * counts).astype(np.int64), 1, counts - 1)  # 0 for one-row users
    held = rank < n_hold[codes]
    return np.sort(np.setdiff1d(development, scored[held])), np.sort(scored[held])


def _tuned(
    data,
    development: np.ndarray,
    test: np.ndarray,
    *,
    train_only: np.ndarray,
    seed: int,
    grid: Sequence[dict[str, Any]],
    model: Callable[..., ScoresFor],
    edges: Callable[[dict[str, Any]], bool],
) -> Scored:
    """Chooses the setting of ``grid`` with the best inner F1@K, refits it on
    the development rows and scores it on the test rows.

    ``model(training, **setting)`` returns the scores of a fitted setting;
    ``edges(setting)`` says whether a setting lies at an end of the grid.
    """
    started = time.perf_counter()
    k = int(data.info.get("k", DEFAULT_K))
    features = data.features
    inner_train, inner_held = inner_split(data, development, train_only=train_only, seed=seed)
    training = _Training.of(features.iloc[inner_train])
    held_out = features.iloc[inner_held]
    best, best_f1 = grid[0], -1.0
    for setting in grid:
        f1 = _metrics(training, model(training, **setting), held_out, k=k)["f1"]
        if f1 > best_f1:
            best, best_f1 = setting, f1
    training = _Training.of(features.iloc[development])
    test_scores = _metrics(training, model(training, **best), features.iloc[test], k=k)
    return Scored(test=test_scores, setting=dict(best), inner_f1=best_f1, grid_edge=edges(best),
                  tried=len(grid),
                  seconds=time.perf_counter() - started)


def popularity(
    data, development: np.ndarray, test: np.ndarray, *, train_only: np.ndarray, seed: int
) -> Scored:
    """The most popular training items for everyone (less each user's own). Nothing to tune, so
    ``train_only`` and ``seed`` (taken as the tuned baselines take them) are not used."""
    started = time.perf_counter()
    k = int(data.info.get("k", DEFAULT_K))
    training = _Training.of(data.features.iloc[development])
    test_scores = _metrics(training, training.popularity_scores(), data.features.iloc[test], k=k)
    return Scored(test=test_scores, seconds=time.perf_counter() - started)


def _knn_scores(training: _Training, *, neighbours: int, shrink: float) -> ScoresFor:
    """ItemKNN: cosine similarities, each item's ``neighbours`` largest kept (a column each)."""
    gram = training.gram()
    norms = np.sqrt(np.diag(gram))
    similarity = gram / (np.outer(norms, norms) + shrink + 1e-12)
    np.fill_diagonal(similarity, 0.0)
    n_items = similarity.shape[0]
    if neighbours < n_items:
        rows = np.argpartition(-similarity, neighbours - 1, axis=0)[:neighbours]  # [neighbours, n_items]
        columns = np.broadcast_to(np.arange(n_items), rows.shape)
        sparse = np.zeros_like(similarity)
        sparse[rows, columns] = similarity[rows, columns]
        similarity = sparse
    return training.linear_scores(similarity)


def item_knn(data, development: np.ndarray, test: np.ndarray, *, train_only: np.ndarray, seed: int) -> Scored:
    """ItemKNN tuned over :data:`NEIGHBOURS` x :data:`SHRINKS` on the inner split."""
    grid = [{"neighbours": n, "shrink": s} for n, s in itertools.product(NEIGHBOURS, SHRINKS)]
    return _tuned(data, development, test, train_only=train_only, seed=seed, grid=grid, model=_knn_scores,
                  edges=lambda s: s["neighbours"] in (NEIGHBOURS[0], NEIGHBOURS[-1])
                  or s["shrink"] == SHRINKS[-1])


def _ease_scores(training: _Training, *, l2: float) -> ScoresFor:
    """EASE's closed form: ``B = -P / diag(P)`` (column-wise), ``P = (X^T X + l2 I)^-1``, ``diag(B) = 0``."""
    gram = training.gram()
    gram[np.diag_indices_from(gram)] += l2
    precision = np.linalg.inv(gram)
    weights = -precision / np.diag(precision)[None, :]
    np.fill_diagonal(weights, 0.0)
    return training.linear_scores(weights)


def ease(data, development: np.ndarray, test: np.ndarray, *, train_only: np.ndarray, seed: int) -> Scored:
    """EASE tuned over :data:`L2_GRID` on the inner split."""
    return _tuned(data, development, test, train_only=train_only, seed=seed,
                  grid=[{"l2": l2} for l2 in L2_GRID], model=_ease_scores,
                  edges=lambda s: s["l2"] in (L2_GRID[0], L2_GRID[-1]))


#: Table name and function of each baseline, in the order the tables show them.
REC_BASELINES: dict[str, tuple[str, Callable[..., Scored]]] = {
    "popularity": ("popularity", popularity),
    "itemknn": ("ItemKNN (tuned)", item_knn),
    "ease": ("EASE (tuned)", ease),
}


def rec_baselines(
    data, development: np.ndarray, test: np.ndarray, *, train_only: np.ndarray, seed: int,
    report: Callable[[str, Scored], None] | None = None,
) -> Mapping[str, Scored]:
    """Every baseline of :data:`REC_BASELINES` on one split; ``report(key, scored)`` after each."""
    scored: dict[str, Scored] = {}
    for key, (_, baseline) in REC_BASELINES.items():
        scored[key] = baseline(data, development, test, train_only=train_only, seed=seed)
        if report is not None:
            report(key, scored[key])
    return scored
