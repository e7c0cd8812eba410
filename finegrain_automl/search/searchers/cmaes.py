"""CMA-ES (Hansen, 2016; Optuna's CmaEsSampler) for the numeric parameters."""

from __future__ import annotations

import warnings
from typing import Any

NAME = "cmaes"
DESCRIPTION = "CMA-ES (Optuna CmaEsSampler; categorical and conditional parameters drawn at random)"


def make_sampler(*, seed: int, trials: int, concurrency: int) -> Any:
    """CMA-ES over the parameters every trial shares; the architecture choice
    and each architecture's own parameters (conditional, often categorical)
    come from a seeded random sampler, as CMA-ES cannot model them."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.CmaEsSampler(
            seed=seed,
            n_startup_trials=max(3, min(10, trials // 3)),
            independent_sampler=optuna.samplers.RandomSampler(seed=seed),
            warn_independent_sampling=False,
        )
