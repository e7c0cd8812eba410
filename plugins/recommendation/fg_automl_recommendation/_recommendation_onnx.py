"""The recommendation task's top-K lists from its ONNX network (numpy, pandas and the standard library only).

Copied into every ONNX export of a recommender, where the loader
(``fg_automl_onnx.py``) calls :func:`predict`; nothing here may import torch,
scipy or finegrain-automl. It gives the lists that
:meth:`fg_automl_recommendation.RecommenderModel.predict` gives: the network
scores the whole catalogue for a block of known users, each user's training
items (and the items the rows pair with the user) are masked, and the K best
remain; users the model does not know get the most popular training items.

``spec`` (``pipeline.json``, the model's own state) holds:

- ``users``, ``items``: the model's user and item ids, in index order;
- ``history``: ``indptr`` and ``indices`` of the users' training items (CSR);
- ``popular``: item indices, most popular in training first;
- ``k``: the list length; ``rows_per_block``: users scored at a time;
- ``input``: ``"users"`` (the network reads user indices, int64 ``[n]``) or
  ``"history"`` (their 0/1 training rows, float32 ``[n, n_items]``);
- ``output``: the name of the network's scores ``[n, n_items]``.

The plugin's own ranking (``_metrics.top_k``) uses :func:`best_items`'s rule:
the highest scores first, a tie to the lower item index, a NaN score never
recommended.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["best_items", "ids", "network_inputs", "predict", "preprocess"]

USER, ITEM = "user", "item"


def preprocess(frame: pd.DataFrame, spec: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The network's input for the distinct users of ``frame`` the model knows,
    in order of first appearance (unknown users have no row: they get the
    popularity list in :func:`predict`)."""
    index = _user_codes(_distinct_users(_rows(frame)), spec)
    return network_inputs(index[index >= 0], spec)


def predict(
    frame: pd.DataFrame,
    spec: Mapping[str, Any],
    run: Callable[[dict[str, np.ndarray]], Mapping[str, np.ndarray]],
) -> pd.DataFrame:
    """Top-K lists of every user of ``frame`` (column ``user``; ``item``
    optional), one row per (user, rank), users in order of first appearance.

    A user's training items are never recommended, nor the items ``frame``
    pairs with the user. Users the model does not know get the most popular
    training items (``source`` ``"popularity"``, score NaN) and a warning says
    how many. Ids are compared as text (``12`` and ``"12"`` are one user), as
    the task reads them; rows without a user are dropped with a warning.

    Args:
        frame: The rows to predict.
        spec: The export's ``spec`` (see the module docstring).
        run: Runs the network: ``{input name: array}`` to ``{output name: array}``.

    Returns:
        Columns ``user``, ``rank`` (1 to K), ``item``, ``score`` and ``source``.
    """
    frame = _rows(frame)
    seen = frame[[USER, ITEM]].dropna() if ITEM in frame else None
    user_ids = _distinct_users(frame)
    index = _user_codes(user_ids, spec)
    known, k = index >= 0, int(spec["k"])
    items = np.full((len(user_ids), k), -1, dtype=np.int64)
    scores = np.full((len(user_ids), k), np.nan, dtype=np.float32)
    if known.any():
        items[known], scores[known] = _model_lists(index[known], seen, spec, run)
    unknown = np.flatnonzero(~known)
    if len(unknown):
        items[unknown] = _popular_lists(user_ids[unknown], seen, spec)
        warnings.warn(f"{len(unknown)} of {len(user_ids)} users are not in the model's training data and got "
                      f"the {k} most popular items instead (source 'popularity').", stacklevel=2)
    filled = items >= 0
    user_rows, places = np.nonzero(filled)
    return pd.DataFrame(
        {
            USER: user_ids[user_rows],
            "rank": places + 1,
            ITEM: _arrays(spec)["items"][items[filled]],
            "score": scores[filled],
            "source": np.where(known[user_rows], "model", "popularity"),
        }
    )


def network_inputs(users: np.ndarray, spec: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The network's input for the user indices ``users``: the indices, or their training rows."""
    users = np.asarray(users, dtype=np.int64)
    if spec["input"] == "users":
        return {"users": users}
    rows, cols = _training_pairs(users, spec)
    history = np.zeros((len(users), len(spec["items"])), dtype=np.float32)
    history[rows, cols] = 1.0
    return {"history": history}


def best_items(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best items of each row of ``scores`` ``[n, n_items]``, best
    first, and their scores, both ``[n, k]``.

    The rule: higher scores first, a tie to the lower item index; an item
    scored ``-inf`` (masked) or NaN is never chosen, and item ``-1`` (score
    NaN) fills the places of a row with fewer than ``k`` items left.
    """
    n, n_items = scores.shape
    items = np.full((n, k), -1, dtype=np.int64)
    values = np.full((n, k), np.nan, dtype=np.float32)
    width = min(k, n_items)
    if n == 0 or width == 0:
        return items, values
    scores = np.where(np.isnan(scores), np.float32(-np.inf), scores).astype(np.float32, copy=False)
    kth = np.partition(scores, n_items - width, axis=1)[:, n_items - width, None]  # the width-th best
    take, tied = scores > kth, scores == kth
    need = width - take.sum(axis=1)
    crowded = np.flatnonzero(tied.sum(axis=1) > need)  # more items tie for the last places than they hold
    tied[crowded] &= np.cumsum(tied[crowded], axis=1) <= need[crowded, None]  # the lowest indices
    take |= tied
    chosen = np.nonzero(take)[1].reshape(n, width)  # exactly width per row, in item order
    chosen_scores = np.take_along_axis(scores, chosen, axis=1)
    order = np.argsort(-chosen_scores, axis=1, kind="stable")
    chosen, chosen_scores = np.take_along_axis(chosen, order, 1), np.take_along_axis(chosen_scores, order, 1)
    empty = np.isneginf(chosen_scores)
    chosen[empty], chosen_scores[empty] = -1, np.nan
    items[:, :width], values[:, :width] = chosen, chosen_scores
    return items, values


def ids(values: pd.Series) -> pd.Series:
    """Ids as ``str`` in an object column (``12`` and ``"12"`` alike), ``None``
    where missing: what the task's file reader makes of them."""
    if pd.api.types.is_float_dtype(values.dtype) and np.all(np.mod(values.dropna(), 1) == 0):
        values = values.astype("Int64")  # Parquet keeps integer ids with gaps as floats: 12.0 -> "12"
    missing = values.isna().to_numpy()
    text = np.array(values.astype(str).str.strip().astype(object), dtype=object)
    text[missing | (text == "")] = None
    return pd.Series(text, dtype=object, index=values.index)


def _rows(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s ``user`` and ``item`` as the task reads them; rows without a user dropped."""
    if USER not in frame:
        raise ValueError(f"Column {USER!r} is missing from the rows to predict (columns: "
                         f"{', '.join(map(str, frame.columns))}). Name the user ids {USER!r}.")
    rows = pd.DataFrame({USER: ids(frame[USER])})
    if ITEM in frame:
        rows[ITEM] = ids(frame[ITEM])
    missing = rows[USER].isna()
    if missing.any():
        warnings.warn(f"{int(missing.sum())} rows without a user were removed.", stacklevel=3)
    return rows[~missing]


def _distinct_users(frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(pd.unique(frame[USER].to_numpy(object)), dtype=object)


#: The arrays of each spec seen (by id, the spec kept to check it): JSON lists become arrays once.
_ARRAYS: dict[int, tuple[Mapping[str, Any], dict[str, Any]]] = {}


def _arrays(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``spec``'s ids and training history as arrays and indexes, made on first use."""
    found = _ARRAYS.get(id(spec))
    if found is not None and found[0] is spec:
        return found[1]
    if len(_ARRAYS) >= 8:
        _ARRAYS.clear()
    arrays = {
        "users": pd.Index(np.asarray(spec["users"], dtype=object)),
        "items": np.asarray(spec["items"], dtype=object),
        "indptr": np.asarray(spec["history"]["indptr"], dtype=np.int64),
        "indices": np.asarray(spec["history"]["indices"], dtype=np.int64),
    }
    arrays["item_index"] = pd.Index(arrays["items"])
    _ARRAYS[id(spec)] = (spec, arrays)
    return arrays


def _user_codes(user_ids: np.ndarray, spec: Mapping[str, Any]) -> np.ndarray:
    """Index of each user id in the model, ``-1`` for a user it does not know."""
    return _arrays(spec)["users"].get_indexer(np.asarray(user_ids, dtype=object))


def _item_codes(item_ids: np.ndarray, spec: Mapping[str, Any]) -> np.ndarray:
    """Index of each item id in the model, ``-1`` for an item it does not know."""
    return _arrays(spec)["item_index"].get_indexer(np.asarray(item_ids, dtype=object))


def _training_pairs(users: np.ndarray, spec: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(position in ``users``, item index) of every training item of ``users``."""
    indptr, indices = _arrays(spec)["indptr"], _arrays(spec)["indices"]
    starts, lengths = indptr[users], indptr[users + 1] - indptr[users]
    rows = np.repeat(np.arange(len(users)), lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return rows, indices[np.repeat(starts, lengths) + offsets]


def _exclusions(users: np.ndarray, seen: pd.DataFrame | None,
                spec: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(position in ``users``, item index) of every item ``users`` must not get,
    sorted by position: their training items and the known items ``seen`` pairs with them."""
    rows, cols = _training_pairs(users, spec)
    if seen is not None and len(seen):
        codes = _user_codes(seen[USER].to_numpy(object), spec)
        extra_rows = pd.Index(users).get_indexer(codes)
        extra_cols = _item_codes(seen[ITEM].to_numpy(object), spec)
        keep = (codes >= 0) & (extra_rows >= 0) & (extra_cols >= 0)
        rows, cols = np.concatenate([rows, extra_rows[keep]]), np.concatenate([cols, extra_cols[keep]])
    order = np.argsort(rows, kind="stable")
    return rows[order], cols[order]


def _model_lists(
    users: np.ndarray,
    seen: pd.DataFrame | None,
    spec: Mapping[str, Any],
    run: Callable[[dict[str, np.ndarray]], Mapping[str, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`best_items` of the known user indices ``users``, scored block by block, exclusions masked."""
    k, block_size = int(spec["k"]), max(1, int(spec["rows_per_block"]))
    items = np.full((len(users), k), -1, dtype=np.int64)
    scores = np.full((len(users), k), np.nan, dtype=np.float32)
    rows, cols = _exclusions(users, seen, spec)
    for start in range(0, len(users), block_size):
        block = users[start : start + block_size]
        block_scores = np.array(run(network_inputs(block, spec))[spec["output"]], dtype=np.float32)
        low, high = np.searchsorted(rows, [start, start + len(block)])
        block_scores[rows[low:high] - start, cols[low:high]] = -np.inf
        items[start : start + len(block)], scores[start : start + len(block)] = best_items(block_scores, k)
    return items, scores


def _popular_lists(user_ids: np.ndarray, seen: pd.DataFrame | None, spec: Mapping[str, Any]) -> np.ndarray:
    """The K most popular items for each unknown user, less the items ``seen`` with them."""
    k, popular = int(spec["k"]), [int(i) for i in spec["popular"]]
    lists = np.full((len(user_ids), k), -1, dtype=np.int64)
    own: dict[Any, set[int]] = {}
    if seen is not None and len(seen):
        codes = _item_codes(seen[ITEM].to_numpy(object), spec)
        for user, code in zip(seen[USER].to_numpy(object), codes, strict=True):
            own.setdefault(user, set()).add(int(code))
    default = popular[:k]
    for row, user in enumerate(user_ids):
        mine = own.get(user)
        chosen = default if not mine else [i for i in popular[: k + len(mine)] if i not in mine][:k]
        lists[row, : len(chosen)] = chosen
    return lists
