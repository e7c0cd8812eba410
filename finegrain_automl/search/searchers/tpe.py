"""Tree-structured Parzen estimators (Bergstra et al., 2011; Optuna's TPE), the default."""

from __future__ import annotations

import warnings
from typing import Any

NAME = "tpe"
DESCRIPTION = "Optuna TPE (multivariate, grouped by architecture)"


def make_sampler(*, seed: int, trials: int, concurrency: int) -> Any:
    """TPE modelling each architecture's parameters together; with trials in
    parallel, a constant liar keeps them from all sampling the same point."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=max(3, min(10, trials // 3)),
            multivariate=True,
            group=True,  # conditional spaces: model each architecture's parameters together
            constant_liar=concurrency > 1,
        )
