"""Random search (Bergstra & Bengio, 2012): the baseline every searcher must beat."""

from __future__ import annotations

from typing import Any

NAME = "random"
DESCRIPTION = "random search (Optuna RandomSampler)"


def make_sampler(*, seed: int, trials: int, concurrency: int) -> Any:
    """Independent uniform draws from the space, seeded."""
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)
