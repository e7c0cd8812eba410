"""Fitting a recommendation network, and the fitted model that ranks the catalogue.

The model keeps its vocabulary (the training users and items), its training
matrix (to exclude what each user already has, and as the history that EASE
and Mult-VAE read) and the items' training popularity (the list for users it
does not know). Loading a model for ``predict`` does not import Lightning.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from fg_automl_recommendation._data import DEFAULT_K, ITEM, USER
from fg_automl_recommendation._interactions import Vocabulary
from fg_automl_recommendation._metrics import block_rows, top_k
from fg_automl_recommendation._networks import EASE, Recommender, RecSpec, TwoTower, ease_closed_form
from finegrain_automl import (
    DataNote,
    Dataset,
    FitContext,
    FittedModel,
    ModelFamily,
    config_number,
    require_config,
)

__all__ = ["FORMAT", "RecommenderModel", "fit_recommender", "load_recommender", "training_options"]

#: Format tag of a saved model's state.
FORMAT = "fg_automl_recommendation/1"


def training_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """The task-level training values of ``config`` (``lr``, ``epochs``, ``batch_size``), checked."""
    lr = config_number(config, "lr", 1e-3)
    epochs = config_number(config, "epochs", 20, integer=True)
    batch_size = config_number(config, "batch_size", 1024, integer=True)
    require_config(lr > 0, "lr", "must be positive", lr, "Use a learning rate above 0.")
    require_config(epochs >= 1, "epochs", "must be at least 1", epochs, "Use 1 or more.")
    require_config(batch_size >= 1, "batch_size", "must be at least 1", batch_size, "Use 1 or more.")
    return {"lr": lr, "epochs": epochs, "batch_size": batch_size}


class RecommenderModel(FittedModel):
    """A fitted recommender: top-K lists over its whole catalogue.

    Args:
        family_name, family_params: The architecture, to rebuild it on load.
        vocabulary: Training users and items.
        history: ``[n_users, n_items]`` 0/1 training interactions.
        network: The trained network, in eval mode.
        k: The list length K of the run.
    """

    def __init__(
        self,
        *,
        family_name: str,
        family_params: Mapping[str, Any],
        vocabulary: Vocabulary,
        history: sp.csr_matrix,
        network: Recommender,
        k: int,
    ) -> None:
        self.family_name, self.family_params = family_name, dict(family_params)
        self.vocabulary, self.history, self.network, self.k = vocabulary, history, network.eval(), k
        popularity = np.asarray(history.sum(axis=0)).ravel()
        self.popular = np.argsort(-popularity, kind="stable")  # most popular first

    def scores(self, users: np.ndarray) -> torch.Tensor:
        """Scores of every item for a block of user indices, ``[len(users), n_items]``."""
        history = None
        if self.network.trains_on == "history":
            history = torch.from_numpy(self.history[users].toarray())
        return self.network.score(torch.from_numpy(np.asarray(users, dtype=np.int64)), history)

    def training_interactions(self, user_ids: Sequence[str]) -> np.ndarray:
        """How many training items each of ``user_ids`` has (0 for a user the model does not know)."""
        index = self.vocabulary.user_index(np.asarray(user_ids, dtype=object))
        per_user = np.diff(self.history.tocsr().indptr)
        return np.where(index >= 0, per_user[np.clip(index, 0, None)], 0).astype(np.int64)

    def recommend(self, user_ids: Sequence[str], *, seen: pd.DataFrame | None = None) -> pd.DataFrame:
        """Top-K lists of ``user_ids`` (in that order), one row per (user, rank).

        A user's training items are never recommended, nor the items ``seen``
        (rows with ``user`` and ``item``, e.g. those of the file to predict)
        pairs with them. Users the model does not know get the most popular
        training items (``source`` is then ``"popularity"``).

        Returns:
            Columns ``user``, ``rank`` (1 to K), ``item``, ``score`` (the
            model's; NaN for popularity lists) and ``source``.
        """
        vocab, k = self.vocabulary, self.k
        user_ids = np.asarray(pd.unique(np.asarray(user_ids, dtype=object)), dtype=object)
        index = vocab.user_index(user_ids)
        exclude = self.history
        if seen is not None and len(seen):
            known = vocab.user_index(seen[USER].to_numpy(object))
            extra = vocab.matrix(known, vocab.item_index(seen[ITEM].to_numpy(object)))
            exclude = ((exclude + extra) > 0).astype(np.float32).tocsr()
        known = index >= 0
        items = np.full((len(user_ids), k), -1, dtype=np.int64)
        scores = np.full((len(user_ids), k), np.nan, dtype=np.float32)
        rows = block_rows(vocab.n_items, bytes_per_score=self.network.bytes_per_score)
        if known.any():
            items[known], scores[known] = top_k(self.scores, index[known], exclude=exclude, k=k,
                                                rows_per_block=rows)
        unknown = np.flatnonzero(~known)
        if len(unknown):
            items[unknown] = self._popular_lists(user_ids[unknown], seen)
        filled = items >= 0
        user_rows, places = np.nonzero(filled)
        return pd.DataFrame(
            {
                USER: user_ids[user_rows],
                "rank": places + 1,
                ITEM: vocab.items[items[filled]],
                "score": scores[filled],
                "source": np.where(known[user_rows], "model", "popularity"),
            }
        )

    def _popular_lists(self, user_ids: np.ndarray, seen: pd.DataFrame | None) -> np.ndarray:
        """The K most popular items for each unknown user, less the items ``seen`` with them."""
        k = self.k
        lists = np.full((len(user_ids), k), -1, dtype=np.int64)
        own: dict[Any, set[int]] = {}
        if seen is not None and len(seen):
            codes = self.vocabulary.item_index(seen[ITEM].to_numpy(object))
            for user, code in zip(seen[USER].to_numpy(object), codes, strict=True):
                own.setdefault(user, set()).add(int(code))
        default = self.popular[:k]
        for row, user in enumerate(user_ids):
            mine = own.get(user)
            chosen = default if not mine else [i for i in self.popular[: k + len(mine)] if i not in mine][:k]
            lists[row, : len(chosen)] = chosen
        return lists

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Top-K lists of every user of ``features``, excluding the user's training
        items and the items ``features`` pairs with the user; says in a
        :class:`~finegrain_automl.DataNote` how many users got the popularity list."""
        seen = features[[USER, ITEM]].dropna() if ITEM in features else None
        table = self.recommend(features[USER].to_numpy(object), seen=seen)
        fallback = table.loc[table["source"] == "popularity", USER].nunique()
        if fallback:
            users = features[USER].nunique()
            warnings.warn(
                DataNote(
                    f"{fallback} of {users} users are not in the model's training data and got the "
                    f"{self.k} most popular items instead (source 'popularity')."
                ),
                stacklevel=2,
            )
        return table

    def to_state(self) -> dict[str, Any]:
        history = self.history.tocsr()
        return {
            "format": FORMAT,
            "family": self.family_name,
            "params": self.family_params,
            "k": self.k,
            "vocabulary": self.vocabulary.to_state(),
            "history": {
                "indptr": torch.from_numpy(history.indptr.astype(np.int64)),
                "indices": torch.from_numpy(history.indices.astype(np.int64)),
                "shape": list(history.shape),
            },
            "weights": {name: tensor.detach().cpu() for name, tensor in self.network.state_dict().items()},
        }


def _spec(vocabulary: Vocabulary) -> RecSpec:
    return RecSpec(
        n_users=vocabulary.n_users,
        n_items=vocabulary.n_items,
        n_categories=len(vocabulary.categories),
        item_categories=tuple(vocabulary.item_categories.tolist()),
    )


def fit_recommender(
    *,
    config: Mapping[str, Any],
    family: ModelFamily,
    family_params: Mapping[str, Any],
    train: Dataset,
    context: FitContext,
) -> RecommenderModel:
    """Fits one configuration on the training interactions ``train``.

    The vocabulary, the training matrix and (for the two-tower model) the
    items' frequencies come from ``train`` only. EASE with ``solver="closed"``
    is solved exactly; every other network is trained by Lightning.
    """
    options = training_options(config)
    torch.manual_seed(context.seed)
    torch.set_num_threads(context.num_threads)
    vocab = Vocabulary.fit(train.features)
    users = vocab.user_index(train.features[USER].to_numpy(object))
    items = vocab.item_index(train.features[ITEM].to_numpy(object))
    history = vocab.matrix(users, items)
    network = family.build(_spec(vocab), **family_params)
    k = int(train.info.get("k", DEFAULT_K))
    if isinstance(network, EASE) and network.solver == "closed":
        gram = torch.from_numpy((history.T @ history).toarray())
        with torch.no_grad():
            network.weight.copy_(ease_closed_form(gram, network.l2))
    else:
        _train(network, history, users, items, options=options, context=context)
    return RecommenderModel(family_name=family.name, family_params=family_params, vocabulary=vocab,
                            history=history, network=network.cpu(), k=k)


def _train(network: Recommender, history: sp.csr_matrix, users: np.ndarray, items: np.ndarray, *,
           options: dict[str, Any], context: FitContext) -> None:
    import pytorch_lightning as pl  # only to fit: predict stays free of Lightning's import time

    from fg_automl_recommendation._module import HistoryBatches, PairBatches, RecommenderModule

    pl.seed_everything(context.seed, verbose=False)
    if isinstance(network, TwoTower):
        counts = np.asarray(history.sum(axis=0)).ravel()
        network.log_frequency.copy_(torch.from_numpy(np.log(counts / counts.sum() + 1e-12).astype(np.float32)))
    if network.trains_on == "history":
        batches: Any = HistoryBatches(history, batch_size=options["batch_size"], seed=context.seed)
    else:
        pairs = history.tocoo()
        batches = PairBatches(pairs.row, pairs.col, batch_size=options["batch_size"], seed=context.seed)
    epochs = context.epochs(options["epochs"])
    module = RecommenderModule(network, lr=options["lr"], total_steps=epochs * len(batches),
                               n_rows=history.shape[0])
    context.trainer(max_epochs=epochs).fit(module, train_dataloaders=batches)


def load_recommender(state: Mapping[str, Any], family: ModelFamily) -> RecommenderModel:
    """Rebuilds a :class:`RecommenderModel` from :meth:`RecommenderModel.to_state`."""
    vocab = Vocabulary.from_state(state["vocabulary"])
    saved = state["history"]
    history = sp.csr_matrix(
        (np.ones(len(saved["indices"]), dtype=np.float32), saved["indices"].numpy(), saved["indptr"].numpy()),
        shape=tuple(saved["shape"]),
    )
    network = family.build(_spec(vocab), **state["params"])
    network.load_state_dict(state["weights"])
    return RecommenderModel(family_name=state["family"], family_params=state["params"], vocabulary=vocab,
                            history=history, network=network, k=int(state["k"]))
