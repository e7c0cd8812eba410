"""The recommendation task's model families, as ``torch.nn`` modules.

Two kinds, told apart by :attr:`Recommender.trains_on`:

- ``"pairs"`` (matrix factorisation, NeuMF, two-tower): learn from
  (user, item) positives against sampled negatives; they score a user from
  the user's own embedding.
- ``"history"`` (EASE's linear autoencoder, Mult-VAE): read a user's
  training items (a 0/1 row over the catalogue) and score every item from it.

Every module scores whole blocks of users against the whole catalogue
(:meth:`Recommender.score`), which the task's full-catalogue ranking uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "EASE",
    "MatrixFactorisation",
    "MultVAE",
    "NeuMF",
    "RecSpec",
    "Recommender",
    "TwoTower",
    "build_ease",
    "build_mf",
    "build_multvae",
    "build_neumf",
    "build_two_tower",
    "ease_closed_form",
]


@dataclass(frozen=True)
class RecSpec:
    """What a network is built for.

    Attributes:
        n_users: Users of the training rows.
        n_items: Items of the training rows (the catalogue).
        n_categories: Item categories (0: the data have none).
        item_categories: Category index of each item, 0 for none, ``[n_items]``.
    """

    n_users: int
    n_items: int
    n_categories: int = 0
    item_categories: tuple[int, ...] = ()


class Recommender(nn.Module):
    """Base of the task's networks.

    Attributes:
        trains_on: ``"pairs"`` or ``"history"`` (see the module docstring).
        loss: The loss it is trained with (``bpr``, ``softmax``, ``bce``,
            ``multinomial``, ``squared``).
        negatives: Sampled negative items per positive (``"pairs"`` networks).
        bytes_per_score: Memory a user-item score takes while scoring a block
            (more than 4 when the score passes through a hidden layer).
    """

    trains_on = "pairs"
    loss = "bpr"
    negatives = 1
    bytes_per_score = 4

    def score(self, users: torch.Tensor, history: torch.Tensor | None) -> torch.Tensor:
        """Scores of every item, ``[len(users), n_items]``; ``history`` is the
        users' 0/1 training rows ``[len(users), n_items]`` (``"history"`` networks)."""
        raise NotImplementedError

    def pair_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of ``items`` ``[b, m]`` for ``users`` ``[b]`` (``"pairs"`` networks)."""
        raise NotImplementedError

    def regulariser(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """L2 penalty of the parameters a batch used (0 when the network has none)."""
        return torch.zeros((), device=users.device)


def _embedding(count: int, dim: int) -> nn.Embedding:
    table = nn.Embedding(count, dim)
    nn.init.normal_(table.weight, std=0.1 / dim**0.5)
    return table


class MatrixFactorisation(Recommender):
    """Dot product of user and item embeddings plus an item bias (BPR-MF, or
    sampled softmax)."""

    def __init__(self, spec: RecSpec, *, dim: int, loss: str, negatives: int, reg: float) -> None:
        super().__init__()
        self.users, self.items = _embedding(spec.n_users, dim), _embedding(spec.n_items, dim)
        self.item_bias = nn.Parameter(torch.zeros(spec.n_items))
        self.loss, self.negatives, self.reg = loss, negatives, reg

    def score(self, users: torch.Tensor, history: torch.Tensor | None) -> torch.Tensor:
        return self.users(users) @ self.items.weight.T + self.item_bias

    def pair_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (self.users(users).unsqueeze(1) * self.items(items)).sum(-1) + self.item_bias[items]

    def regulariser(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.reg * (self.users(users).pow(2).sum(-1).mean() + self.items(items).pow(2).sum(-1).mean())


class NeuMF(Recommender):
    """Neural matrix factorisation (He et al., 2017): a generalised matrix
    factorisation branch and an MLP over concatenated embeddings, fused by a
    linear layer."""

    def __init__(self, spec: RecSpec, *, dim: int, depth: int, loss: str, negatives: int, reg: float,
                 dropout: float) -> None:
        super().__init__()
        self.gmf_users, self.gmf_items = _embedding(spec.n_users, dim), _embedding(spec.n_items, dim)
        self.mlp_users, self.mlp_items = _embedding(spec.n_users, dim), _embedding(spec.n_items, dim)
        layers: list[nn.Module] = []
        width = 2 * dim
        for _ in range(depth):
            layers += [nn.Linear(width, max(8, width // 2)), nn.ReLU(), nn.Dropout(dropout)]
            width = max(8, width // 2)
        self.mlp = nn.Sequential(*layers)
        self.out = nn.Linear(dim + width, 1)
        self.loss, self.negatives, self.reg = loss, negatives, reg
        self.bytes_per_score = 4 * (2 * dim + 2)

    def pair_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        m = items.shape[1]
        gmf = self.gmf_users(users).unsqueeze(1) * self.gmf_items(items)
        mlp_in = torch.cat([self.mlp_users(users).unsqueeze(1).expand(-1, m, -1), self.mlp_items(items)], dim=-1)
        return self.out(torch.cat([gmf, self.mlp(mlp_in)], dim=-1)).squeeze(-1)

    def score(self, users: torch.Tensor, history: torch.Tensor | None) -> torch.Tensor:
        n_items = self.gmf_items.num_embeddings
        items = torch.arange(n_items, device=users.device).expand(len(users), -1)
        return self.pair_scores(users, items)

    def regulariser(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        used = [self.gmf_users(users), self.mlp_users(users), self.gmf_items(items), self.mlp_items(items)]
        return self.reg * sum(t.pow(2).sum(-1).mean() for t in used)


class TwoTower(Recommender):
    """A user tower over the user id and an item tower over the item id and,
    where the data have them, the item's category; cosine similarity over a
    temperature, trained with in-batch sampled softmax (with the usual
    log-frequency correction of in-batch negatives) or BPR."""

    def __init__(self, spec: RecSpec, *, dim: int, depth: int, loss: str, negatives: int, reg: float,
                 temperature: float) -> None:
        super().__init__()
        self.users, self.items = _embedding(spec.n_users, dim), _embedding(spec.n_items, dim)
        self.categories = _embedding(spec.n_categories + 1, dim) if spec.n_categories else None
        self.register_buffer(
            "item_categories", torch.tensor(spec.item_categories or [0] * spec.n_items, dtype=torch.long)
        )
        self.register_buffer("log_frequency", torch.zeros(spec.n_items))
        self.user_tower, self.item_tower = _tower(dim, depth), _tower(dim, depth)
        self.loss, self.negatives, self.reg, self.temperature = loss, negatives, reg, temperature

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.user_tower(self.users(users)), dim=-1)

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        x = self.items(items)
        if self.categories is not None:
            x = x + self.categories(self.item_categories[items])
        return F.normalize(self.item_tower(x), dim=-1)

    def score(self, users: torch.Tensor, history: torch.Tensor | None) -> torch.Tensor:
        items = torch.arange(self.items.num_embeddings, device=users.device)
        return self.user_vectors(users) @ self.item_vectors(items).T / self.temperature

    def pair_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (self.user_vectors(users).unsqueeze(1) * self.item_vectors(items)).sum(-1) / self.temperature

    def regulariser(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.reg * (self.users(users).pow(2).sum(-1).mean() + self.items(items).pow(2).sum(-1).mean())


def _tower(dim: int, depth: int) -> nn.Module:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(dim, dim), nn.GELU()]
    return nn.Sequential(*layers, nn.Linear(dim, dim)) if depth else nn.Identity()


class EASE(Recommender):
    """EASE's linear item-item autoencoder (Steck, 2019): ``scores = X B``
    with ``diag(B) = 0``. ``solver="closed"`` solves it exactly inside the fit
    (:func:`ease_closed_form`); ``"gradient"`` learns ``B`` by gradient descent
    on the squared reconstruction error plus ``l2 * ||B||^2``."""

    trains_on = "history"
    loss = "squared"

    def __init__(self, spec: RecSpec, *, l2: float, solver: str) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(spec.n_items, spec.n_items))
        self.l2, self.solver = l2, solver

    def matrix(self) -> torch.Tensor:
        return self.weight - torch.diag(torch.diagonal(self.weight))

    def score(self, users: torch.Tensor, history: torch.Tensor | None) -> torch.Tensor:
        assert history is not None
        return history @ self.matrix()

    def history_loss(self, history: torch.Tensor, *, n_rows: int) -> torch.Tensor:
        """Squared error of the batch's rows plus ``l2 ||B||^2`` shared out over batches."""
        error = (history - history @ self.matrix()).pow(2).sum()
        return (error + self.l2 * self.matrix().pow(2).sum() * len(history) / n_rows) / len(history)


def ease_closed_form(gram: torch.Tensor, l2: float) -> torch.Tensor:
    """EASE's exact solution from the item-item Gram matrix ``X^T X``:
    ``P = (X^T X + l2 I)^-1``, ``B = -P / diag(P)`` column-wise, ``diag(B) = 0``."""
    g = gram.double().clone()
    g.diagonal().add_(l2)
    precision = torch.linalg.inv(g)
    matrix = -precision / torch.diagonal(precision).unsqueeze(0)
    matrix.fill_diagonal_(0.0)
    return matrix.float()


class MultVAE(Recommender):
    """Mult-VAE (Liang et al., 2018): an encoder of the L2-normalised,
    dropped-out history to a Gaussian latent, a decoder to logits over the
    catalogue, a multinomial likelihood and a KL term annealed to ``beta``."""

    trains_on = "history"
    loss = "multinomial"

    def __init__(self, spec: RecSpec, *, hidden: int, latent: int, dropout: float, beta: float) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(spec.n_items, hidden), nn.Tanh(), nn.Linear(hidden, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.Tanh(), nn.Linear(hidden, spec.n_items))
        self.drop = nn.Dropout(dropout)
        self.latent, self.beta = latent, beta

    def _encode(self, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        statistics = self.encoder(self.drop(F.normalize(history, dim=-1)))
        return statistics[:, : self.latent], statistics[:, self.latent :]

    def score(self, users: torch.Tensor, history: torch.Tensor | None) -> torch.Tensor:
        assert history is not None
        mean, _ = self._encode(history)
        return self.decoder(mean)

    def history_loss(self, history: torch.Tensor, *, anneal: float) -> torch.Tensor:
        """Negative multinomial log-likelihood plus ``anneal * beta`` times the KL term, per user."""
        mean, log_var = self._encode(history)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        likelihood = (F.log_softmax(self.decoder(z), dim=-1) * history).sum(-1).mean()
        kl = 0.5 * (log_var.exp() + mean.pow(2) - 1 - log_var).sum(-1).mean()
        return -likelihood + anneal * self.beta * kl


def build_mf(spec: RecSpec, *, dim: int = 64, loss: str = "bpr", negatives: int = 4, reg: float = 1e-4) -> MatrixFactorisation:
    """Matrix factorisation: ``dim`` factors, ``loss`` "bpr" or "softmax" against
    ``negatives`` uniformly sampled items per positive, L2 ``reg`` on the used embeddings."""
    return MatrixFactorisation(spec, dim=dim, loss=loss, negatives=negatives, reg=reg)


def build_neumf(spec: RecSpec, *, dim: int = 32, depth: int = 2, loss: str = "bce", negatives: int = 4,
                reg: float = 1e-5, dropout: float = 0.1) -> NeuMF:
    """NeuMF: ``dim`` per embedding, ``depth`` MLP layers (halving), ``loss`` "bce" or "bpr"."""
    return NeuMF(spec, dim=dim, depth=depth, loss=loss, negatives=negatives, reg=reg, dropout=dropout)


def build_two_tower(spec: RecSpec, *, dim: int = 64, depth: int = 1, loss: str = "softmax", negatives: int = 4,
                    reg: float = 0.0, temperature: float = 0.1) -> TwoTower:
    """Two towers of ``depth`` layers; "softmax": in-batch negatives (plus ``negatives``
    uniform ones per positive); "bpr": ``negatives`` uniform ones."""
    return TwoTower(spec, dim=dim, depth=depth, loss=loss, negatives=negatives, reg=reg, temperature=temperature)


def build_ease(spec: RecSpec, *, l2: float = 200.0, solver: str = "closed") -> EASE:
    """EASE with L2 weight ``l2``; ``solver`` "closed" (exact) or "gradient"."""
    return EASE(spec, l2=l2, solver=solver)


def build_multvae(spec: RecSpec, *, hidden: int = 600, latent: int = 200, dropout: float = 0.5,
                  beta: float = 0.2) -> MultVAE:
    """Mult-VAE with one ``hidden`` layer each way, ``latent`` dimensions, input
    ``dropout`` and the KL weight annealed up to ``beta``."""
    return MultVAE(spec, hidden=hidden, latent=latent, dropout=dropout, beta=beta)
