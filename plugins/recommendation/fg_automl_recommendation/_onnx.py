"""A fitted recommender as ``fg-automl export --format onnx`` needs it.

The ONNX network is the part of each family that scores the whole catalogue
for a block of users: matrix factorisation, NeuMF and the two-tower model
read user indices, EASE (``history @ B``) and Mult-VAE (its encoder's mean
through the decoder, as in evaluation) the users' 0/1 training rows. The
rest of :meth:`~fg_automl_recommendation.RecommenderModel.predict` (the
training items masked, the top K, the popularity lists of unknown users)
is numpy in :mod:`fg_automl_recommendation._recommendation_onnx`, copied into
the export with the model's vocabulary, training items and popularity as
its ``spec``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fg_automl_recommendation._metrics import block_rows
from fg_automl_recommendation._networks import EASE, MatrixFactorisation, MultVAE, NeuMF, TwoTower
from fg_automl_recommendation._recommender import RecommenderModel
from finegrain_automl.export import ExportNotSupported, OnnxNetwork

__all__ = ["ONNX_MAX_BYTES", "PREDICT_MODULE", "onnx_network"]

#: The module the export copies (numpy and pandas only).
PREDICT_MODULE = Path(__file__).with_name("_recommendation_onnx.py")
#: Largest network an ONNX file holds: protobuf's 2 GiB (the export writes weights inline).
ONNX_MAX_BYTES = 2**31
#: The network's output: ``[users, n_items]`` scores.
OUTPUT = "scores"


def onnx_network(model: RecommenderModel) -> OnnxNetwork:
    """The :class:`~finegrain_automl.export.OnnxNetwork` of ``model``.

    Raises:
        ExportNotSupported: The family has no ONNX scorer here, or its
            weights exceed what one ONNX file can hold.
    """
    network = model.network.eval()
    scorer = _scorer(model)
    _check_size(model, scorer)
    reads = "history" if network.trains_on == "history" else "users"
    example_users = np.arange(2, dtype=np.int64) % model.vocabulary.n_users
    example = (model.history[example_users].toarray().astype(np.float32) if reads == "history"
               else example_users)
    return OnnxNetwork(module=scorer, inputs={reads: example}, spec=_spec(model, reads),
                       preprocess=PREDICT_MODULE, outputs=(OUTPUT,))


def _spec(model: RecommenderModel, reads: str) -> dict[str, Any]:
    """What the export's module needs: the model's vocabulary, training items, popularity and K."""
    history, vocabulary = model.history.tocsr(), model.vocabulary
    return {
        "family": model.family_name,
        "input": reads,
        "output": OUTPUT,
        "k": int(model.k),
        "rows_per_block": block_rows(vocabulary.n_items, bytes_per_score=model.network.bytes_per_score),
        "users": [str(user) for user in vocabulary.users],
        "items": [str(item) for item in vocabulary.items],
        "history": {"indptr": history.indptr.astype(np.int64).tolist(),
                    "indices": history.indices.astype(np.int64).tolist()},
        "popular": model.popular.astype(np.int64).tolist(),
    }


def _scorer(model: RecommenderModel) -> nn.Module:
    """The network's full-catalogue scoring, with a forward ONNX can trace for any number of users."""
    network = model.network
    if isinstance(network, EASE):
        return _EaseScores(network)
    if isinstance(network, MultVAE):
        return _HistoryScores(network)
    if isinstance(network, NeuMF):
        return _NeuMFScores(network)
    if isinstance(network, MatrixFactorisation | TwoTower):
        return _UserScores(network)
    raise ExportNotSupported(
        f"model family {model.family_name!r} ({type(network).__name__}) has no ONNX scorer: the "
        "recommendation task exports its own networks (EASE, MF, NeuMF, two-tower, Mult-VAE) only."
    )


def _check_size(model: RecommenderModel, scorer: nn.Module) -> None:
    size = sum(t.numel() * t.element_size() for t in (*scorer.parameters(), *scorer.buffers()))
    if size > ONNX_MAX_BYTES:
        raise ExportNotSupported(
            f"the {model.family_name} network has {size / 2**30:.1f} GiB of weights "
            f"({model.vocabulary.n_items} items), more than the {ONNX_MAX_BYTES / 2**30:.0f} GiB an ONNX "
            "file can hold (protobuf's limit); use fewer items (EASE stores n_items^2 weights)."
        )


class _UserScores(nn.Module):
    """Matrix factorisation and the two-tower model: scores from user indices ``[n]``."""

    def __init__(self, network: MatrixFactorisation | TwoTower) -> None:
        super().__init__()
        self.network = network

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        return self.network.score(users, None)


class _NeuMFScores(nn.Module):
    """NeuMF's scores from user indices ``[n]``: every item paired with every
    user by broadcasting (its ``score`` expands by ``len(users)``, which a
    trace would fix to the example's count)."""

    def __init__(self, network: NeuMF) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("catalogue", torch.arange(network.gmf_items.num_embeddings).unsqueeze(0))

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        items = torch.zeros_like(users).unsqueeze(1) + self.catalogue
        return self.network.pair_scores(users, items)


class _HistoryScores(nn.Module):
    """Mult-VAE: scores from the users' 0/1 training rows ``[n, n_items]`` (eval mode: no dropout)."""

    def __init__(self, network: MultVAE) -> None:
        super().__init__()
        self.network = network

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        return self.network.score(torch.zeros(0, dtype=torch.long), history)


class _EaseScores(nn.Module):
    """EASE: ``history @ B``, with ``B`` (the weights, diagonal zeroed) fixed at export."""

    def __init__(self, network: EASE) -> None:
        super().__init__()
        self.register_buffer("matrix", network.matrix().detach().clone())

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        return history @ self.matrix
