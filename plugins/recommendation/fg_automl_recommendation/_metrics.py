"""Full-catalogue top-K lists and the ranking metrics of the task.

Every user is ranked against every item the model knows (no sampled
negatives: Krichene and Rendle, KDD 2020, show that sampled metrics can
reverse rankings), with the user's training items excluded. Scores are
computed block by block of users, so the memory needed is bounded by
:data:`BLOCK_BYTES` whatever the numbers of users and items.

Per user, with ``hits`` the recommended items among the user's held-out ones:

- P@K = hits / K (always K, not ``min(K, |held-out|)``);
- R@K = hits / |held-out|;
- F1@K = 2 P R / (P + R), 0 without a hit;
- NDCG@K = DCG / IDCG with DCG = sum over hits of 1 / log2(rank + 1) (rank
  from 1) and IDCG the DCG of ``min(K, |held-out|)`` hits at the top.

Each is averaged over the users with at least one held-out item.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

__all__ = [
    "BLOCK_BYTES",
    "METRIC_NAMES",
    "block_rows",
    "frame_metrics",
    "frame_user_scores",
    "mean_scores",
    "ranking_metrics",
    "top_k",
    "user_scores",
]

#: Scores of one block of users take at most about this many bytes.
BLOCK_BYTES = 64 * 2**20

#: What :func:`ranking_metrics` returns, ``f1`` (F1@K) first.
METRIC_NAMES = ("f1", "p@k", "r@k", "ndcg@k")


def block_rows(n_items: int, *, bytes_per_score: int = 4, budget: int = BLOCK_BYTES) -> int:
    """Users per block so that a block's scores (``bytes_per_score`` per
    user-item pair, more for models with a wider intermediate) fit in ``budget``."""
    return max(1, budget // max(1, n_items * bytes_per_score))


def top_k(
    scores_for: Callable[[np.ndarray], torch.Tensor],
    users: np.ndarray,
    *,
    exclude: sp.csr_matrix,
    k: int,
    rows_per_block: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Returns the ``k`` best items of each user, best first, and their scores,
    both ``[len(users), k]``.

    Args:
        scores_for: Scores of a block of user indices, ``[len(block), n_items]``.
        users: User indices (rows of ``exclude``).
        exclude: ``[n_users, n_items]``; the items each user must not be
            recommended (the training items) are its nonzero entries.
        k: List length; item ``-1`` (score NaN) fills the places of a user
            who has fewer than ``k`` items left to recommend.
        rows_per_block: Users scored at a time (:func:`block_rows`).

    Ties go to the lower item index, and an item scored NaN is never
    recommended: the rule of the ONNX export's ``best_items``, so that the
    exported lists are these.
    """
    users = np.asarray(users, dtype=np.int64)
    items = np.full((len(users), k), -1, dtype=np.int64)
    scores = np.full((len(users), k), np.nan, dtype=np.float32)
    for start in range(0, len(users), rows_per_block):
        block = users[start : start + rows_per_block]
        with torch.no_grad():
            block_scores = scores_for(block).float()
        seen = exclude[block].tocoo()
        rows, cols = torch.from_numpy(seen.row.astype(np.int64)), torch.from_numpy(seen.col.astype(np.int64))
        block_scores[rows, cols] = -torch.inf
        if torch.isnan(block_scores).any():  # a NaN score recommends nothing
            block_scores.masked_fill_(torch.isnan(block_scores), -torch.inf)
        width = min(k, block_scores.shape[1])
        values, chosen = _best(block_scores, width)
        empty = torch.isneginf(values)
        chosen[empty], values[empty] = -1, torch.nan
        items[start : start + len(block), :width] = chosen.numpy()
        scores[start : start + len(block), :width] = values.numpy()
        del block_scores, values, chosen, empty  # else two blocks are alive while the next is scored
    return items, scores


def _best(scores: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``width`` best scores of each row and their items, best first, a
    tie to the lower item index (the rule of the export's ``best_items``)."""
    values, chosen = torch.topk(scores, width, dim=1)
    last = values[:, -1:]
    # topk picks arbitrarily among the items tied with the last place: take the lowest indices instead.
    crowded = ((scores == last).sum(1) > (values == last).sum(1)) & (last.squeeze(1) > -torch.inf)
    rows = torch.nonzero(crowded).squeeze(1)
    if len(rows):
        block, bound = scores[rows], last[rows]
        above, tied = block > bound, block == bound
        need = width - above.sum(1, keepdim=True)
        take = above | (tied & (tied.cumsum(1) <= need))
        chosen[rows] = torch.nonzero(take)[:, 1].view(len(rows), width)  # row-major: item order
        values[rows] = block.gather(1, chosen[rows])
    chosen, by_item = torch.sort(chosen, dim=1)  # ties within the list: the lower item first
    values, by_score = torch.sort(values.gather(1, by_item), dim=1, descending=True, stable=True)
    return values, chosen.gather(1, by_score)


def user_scores(
    recommended: np.ndarray, relevant: sp.csr_matrix, n_relevant: np.ndarray, *, k: int
) -> pd.DataFrame:
    """F1@K, P@K, R@K, NDCG@K and the number of hits of each user's list.

    Args:
        recommended: ``[n, k]`` item indices per user, ``-1`` for an empty place.
        relevant: ``[n, n_items]``, the user's held-out items the model knows.
        n_relevant: ``[n]``, how many items each user has held out, known to
            the model or not (an item the model never saw is a miss).
        k: The list length K.

    Returns:
        One row per user of ``recommended``, in its order: ``hits`` (held-out
        items in the list) and the columns :data:`METRIC_NAMES`, NaN for a
        user without a held-out item (not scored).
    """
    recommended = np.asarray(recommended, dtype=np.int64)[:, :k]
    n = len(recommended)
    rows = np.repeat(np.arange(n), recommended.shape[1])
    cols = np.clip(recommended.ravel(), 0, None)
    hits = np.asarray(relevant[rows, cols]).reshape(n, recommended.shape[1]) > 0
    hits &= recommended >= 0
    n_relevant = np.asarray(n_relevant, dtype=np.float64)
    scored = n_relevant > 0
    n_hits = hits.sum(axis=1)
    precision = np.where(scored, n_hits / k, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = n_hits / np.where(scored, n_relevant, np.nan)
        f1 = 2 * precision * recall / (precision + recall)
    f1 = np.where(n_hits > 0, f1, np.where(scored, 0.0, np.nan))
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * discount[: hits.shape[1]]).sum(axis=1)
    ideal_hits = np.minimum(n_relevant, k).astype(np.int64)
    ideal = np.where(scored, np.cumsum(discount)[np.maximum(ideal_hits, 1) - 1], np.nan)
    return pd.DataFrame({"hits": n_hits, "f1": f1, "p@k": precision, "r@k": recall, "ndcg@k": dcg / ideal})


def ranking_metrics(recommended: np.ndarray, relevant: sp.csr_matrix, n_relevant: np.ndarray, *, k: int) -> dict:
    """Mean F1@K, P@K, R@K and NDCG@K over users with a held-out item
    (:func:`user_scores`, averaged; all 0 when no user has one)."""
    return mean_scores(user_scores(recommended, relevant, n_relevant, k=k))


def mean_scores(scores: pd.DataFrame) -> dict:
    """The means of :func:`user_scores` over the users it scored (all 0 without one)."""
    scored = scores[scores["f1"].notna()]
    if scored.empty:
        return {name: 0.0 for name in METRIC_NAMES}
    return {name: float(np.mean(scored[name].to_numpy(np.float64))) for name in METRIC_NAMES}


def frame_metrics(held_out: pd.DataFrame, recommendations: pd.DataFrame, *, k: int) -> dict:
    """:func:`ranking_metrics` of top-K lists given as rows (arguments as
    :func:`frame_user_scores`)."""
    return mean_scores(frame_user_scores(held_out, recommendations, k=k))


def frame_user_scores(held_out: pd.DataFrame, recommendations: pd.DataFrame, *, k: int) -> pd.DataFrame:
    """:func:`user_scores` of top-K lists given as rows, indexed by user id.

    Args:
        held_out: The held-out interactions, columns ``user`` and ``item``.
        recommendations: Columns ``user``, ``rank`` (1 to K) and ``item``, as
            :meth:`RecommenderModel.recommend` returns them; a user of
            ``held_out`` without rows here was recommended nothing.
        k: The list length K.

    Returns:
        One row per user of ``held_out`` (each has a held-out item, so every
        row is scored), in order of first appearance.
    """
    from fg_automl_recommendation._data import ITEM, USER

    held = held_out[[USER, ITEM]].drop_duplicates()
    users = pd.Index(pd.unique(held[USER]))
    items = pd.Index(pd.unique(pd.concat([held[ITEM], recommendations[ITEM]], ignore_index=True)))
    n_relevant = held.groupby(USER, sort=False).size().reindex(users).to_numpy()
    relevant = sp.csr_matrix(
        (np.ones(len(held), dtype=np.float32), (users.get_indexer(held[USER]), items.get_indexer(held[ITEM]))),
        shape=(len(users), len(items)),
    )
    recommended = np.full((len(users), k), -1, dtype=np.int64)
    shown = recommendations[recommendations[USER].isin(users) & recommendations["rank"].between(1, k)]
    recommended[users.get_indexer(shown[USER]), shown["rank"].to_numpy(np.int64) - 1] = items.get_indexer(shown[ITEM])
    return user_scores(recommended, relevant, n_relevant, k=k).set_axis(users, axis=0)
