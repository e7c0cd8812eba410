"""The built-in data of the recommendation task: seeded implicit feedback with
the structure of real data (power-law activity and popularity, categories,
drifting tastes, timestamps, noise), generated in about a second."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fg_automl_recommendation._columns import CATEGORY, ITEM, TIME, USER

__all__ = ["generate_interactions"]

_START = 1_672_531_200  # 2023-01-01 00:00 UTC
_YEAR = 365 * 24 * 3600
_DIMS = 16  # latent taste dimensions
_TASTE = 12.0  # weight of taste against popularity; calibrated: popularity F1@10 ~0.045, EASE ~0.145
_ITEM_SPREAD = 0.7  # items' distance from their category's centre
_USER_SPREAD = 0.5  # users' distance from their favourite categories' mixture
_DRIFT = 0.5  # how far a user's taste moves over their active span
_SEGMENTS = 4  # time segments a user's span is cut into, each with its own drifted taste
_POPULARITY_EXPONENT = 0.9  # item of popularity rank r is chosen in proportion to r ** -0.9
_ACTIVITY_SHAPE, _ACTIVITY_SCALE, _MIN_ACTIVITY = 3.0, 34.0, 3  # interactions per user: 3 + Lomax(3) * 34


def generate_interactions(
    seed: int, *, users: int = 3000, items: int = 2000, categories: int = 20, noise: float = 0.1
) -> pd.DataFrame:
    """Returns seeded implicit feedback with the structure of real data.

    Users' activity and items' popularity follow power laws (a few very active
    users and blockbuster items, many light users and niche items; every
    user has at least 3 interactions). Each item lies near the centre of its
    category in a 16-dimensional taste space; each user mixes one to three
    favourite categories, and that taste drifts a little over the user's
    active span of the year. Each interaction picks an item by taste plus
    popularity, except about ``noise`` of them, picked by popularity alone.
    No user meets an item twice. With the defaults: about 60,000
    interactions, power-law tails, popularity clearly beaten by a
    collaborative model but far from perfect.

    Returns:
        Columns :data:`USER`, :data:`ITEM` (``str`` ids ``"1"``...),
        :data:`TIME` (int64 seconds in 2023) and :data:`CATEGORY` (``str``),
        one row per interaction in time order.
    """
    if min(users, items, categories) < 1 or not 0 <= noise <= 1:
        raise ValueError(f"users, items and categories must be positive and noise in [0, 1], but got "
                         f"{users=}, {items=}, {categories=}, {noise=}.")
    rng = np.random.default_rng(seed)
    share = rng.dirichlet(np.full(categories, 2.0))
    item_category = rng.choice(categories, size=items, p=share)
    centres = _unit(rng.normal(size=(categories, _DIMS)))
    offsets = rng.normal(size=(items, _DIMS)) / np.sqrt(_DIMS)
    item_taste = _unit(centres[item_category] + _ITEM_SPREAD * offsets)
    log_popularity = -_POPULARITY_EXPONENT * np.log(rng.permutation(items) + 1.0)
    favourites = rng.choice(categories, size=(users, 3), p=share)
    weights = rng.dirichlet(np.full(3, 0.5), size=users)
    taste = (weights[:, :, None] * centres[favourites]).sum(axis=1)
    taste = _unit(taste + _USER_SPREAD * rng.normal(size=(users, _DIMS)) / np.sqrt(_DIMS))
    drift = rng.normal(size=(users, _DIMS)) / np.sqrt(_DIMS)

    cap = max(items // 4, min(_MIN_ACTIVITY, items))
    extra = np.floor(_ACTIVITY_SCALE * rng.pareto(_ACTIVITY_SHAPE, size=users)).astype(np.int64)
    counts = np.minimum(_MIN_ACTIVITY + extra, cap)
    n_noise = rng.binomial(counts, noise)
    per_segment = rng.multinomial(counts - n_noise, np.full(_SEGMENTS, 1 / _SEGMENTS))
    span = rng.uniform(0.1, 1.0, size=users) * _YEAR
    begin = rng.uniform(0.0, 1.0, size=users) * (_YEAR - span)

    chosen = np.zeros((users, items), dtype=bool)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for segment in range(_SEGMENTS + 1):
        if segment < _SEGMENTS:  # taste plus popularity, the taste drifted to this segment's time
            at = segment / max(_SEGMENTS - 1, 1)
            scores = _TASTE * (_unit(taste + _DRIFT * at * drift) @ item_taste.T) + log_popularity
            wanted = per_segment[:, segment]
        else:  # noise: popularity alone, anywhere in the span
            scores = np.broadcast_to(log_popularity, (users, items))
            wanted = n_noise
        user, item = _gumbel_top_k(scores.astype(np.float32), wanted, chosen, rng)
        fraction = rng.uniform(size=len(user))
        if segment < _SEGMENTS:
            fraction = (segment + fraction) / _SEGMENTS
        parts.append((user, item, begin[user] + fraction * span[user]))
    user, item, when = (np.concatenate(values) for values in zip(*parts, strict=True))
    order = np.argsort(when, kind="stable")
    names = np.array([f"c{c + 1:02d}" for c in range(categories)], dtype=object)
    return pd.DataFrame({
        USER: pd.Series((user[order] + 1).astype(str), dtype=object),
        ITEM: pd.Series((item[order] + 1).astype(str), dtype=object),
        TIME: (_START + when[order]).astype(np.int64),
        CATEGORY: pd.Series(names[item_category[item[order]]], dtype=object),
    })


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def _gumbel_top_k(
    scores: np.ndarray, wanted: np.ndarray, chosen: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``wanted[u]`` items per user without replacement, in proportion
    to ``exp(scores)``, never one in ``chosen`` (which it updates)."""
    most = int(wanted.max(initial=0))
    if most == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    uniform = np.clip(rng.random(size=scores.shape, dtype=np.float32), 1e-7, 1 - 1e-7)
    noisy = scores - np.log(-np.log(uniform))  # Gumbel noise: top-k of it samples without replacement
    noisy[chosen] = -np.inf
    top = np.argpartition(-noisy, most - 1, axis=1)[:, :most]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(noisy, top, axis=1), axis=1), axis=1)
    keep = np.arange(most)[None, :] < wanted[:, None]
    user, item = np.nonzero(keep)[0], top[keep]
    chosen[user, item] = True
    return user, item
