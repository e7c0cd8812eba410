"""Gaussian-process Bayesian optimisation (Optuna's GPSampler)."""

from __future__ import annotations

import warnings
from typing import Any

NAME = "gp"
DESCRIPTION = "Gaussian-process Bayesian optimisation (Optuna GPSampler)"


def make_sampler(*, seed: int, trials: int, concurrency: int) -> Any:
    """A GP with expected improvement over the parameters every trial shares;
    conditional parameters come from a seeded random sampler."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.GPSampler(
            seed=seed,
            n_startup_trials=max(3, min(10, trials // 3)),
            independent_sampler=optuna.samplers.RandomSampler(seed=seed),
            warn_independent_sampling=False,
        )
