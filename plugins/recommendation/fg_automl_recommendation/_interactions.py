"""Interactions as index arrays and sparse matrices, over a fit's own vocabulary.

A model knows the users and items of its training rows only (as a text
model knows its training vocabulary): :class:`Vocabulary` is learned from
them, and rows of other data map onto it, unknown ids to ``-1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fg_automl_recommendation._data import CATEGORY, ITEM, USER

__all__ = ["Vocabulary"]

#: Category index of items without a category.
NO_CATEGORY = 0


@dataclass(frozen=True)
class Vocabulary:
    """The users and items a model was trained on, in index order.

    Attributes:
        users: User ids (strings); index ``i`` is user ``users[i]``.
        items: Item ids (strings).
        item_categories: Category index of each item (0: none), ``[n_items]``.
        categories: Category names; index ``c`` (from 1) is ``categories[c - 1]``.
    """

    users: np.ndarray
    items: np.ndarray
    item_categories: np.ndarray
    categories: tuple[str, ...] = ()

    @classmethod
    def fit(cls, features: pd.DataFrame) -> Vocabulary:
        """Learns the vocabulary from training rows (users and items in order of first appearance)."""
        users = pd.unique(features[USER].to_numpy())
        items = pd.unique(features[ITEM].to_numpy())
        item_categories = np.zeros(len(items), dtype=np.int64)
        categories: tuple[str, ...] = ()
        if CATEGORY in features:
            first = features.drop_duplicates(ITEM).set_index(ITEM)[CATEGORY]
            codes, names = pd.factorize(first.reindex(items), use_na_sentinel=True)
            item_categories = np.where(codes >= 0, codes + 1, NO_CATEGORY).astype(np.int64)
            categories = tuple(str(name) for name in names)
        return cls(np.asarray(users, dtype=object), np.asarray(items, dtype=object), item_categories, categories)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def user_index(self, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """Index of each user id, ``-1`` for a user the model does not know."""
        return pd.Index(self.users).get_indexer(np.asarray(ids, dtype=object))

    def item_index(self, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """Index of each item id, ``-1`` for an item the model does not know."""
        return pd.Index(self.items).get_indexer(np.asarray(ids, dtype=object))

    def matrix(self, users: np.ndarray, items: np.ndarray, *, n_rows: int | None = None) -> sp.csr_matrix:
        """A 0/1 ``[n_rows, n_items]`` matrix of (user index, item index) pairs,
        pairs with an unknown user or item left out; ``n_rows`` defaults to the users."""
        keep = (users >= 0) & (items >= 0)
        n_rows = self.n_users if n_rows is None else n_rows
        values = np.ones(int(keep.sum()), dtype=np.float32)
        matrix = sp.csr_matrix((values, (users[keep], items[keep])), shape=(n_rows, self.n_items))
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        return matrix

    def to_state(self) -> dict:
        return {
            "users": [str(u) for u in self.users],
            "items": [str(i) for i in self.items],
            "item_categories": self.item_categories.tolist(),
            "categories": list(self.categories),
        }

    @classmethod
    def from_state(cls, state: dict) -> Vocabulary:
        return cls(
            np.asarray(state["users"], dtype=object),
            np.asarray(state["items"], dtype=object),
            np.asarray(state["item_categories"], dtype=np.int64),
            tuple(state["categories"]),
        )
