"""Asynchronous successive halving (Li et al., MLSys 2020; Ray's ASHAScheduler), the default."""

from __future__ import annotations

from typing import Any

NAME = "asha"
DESCRIPTION = "ASHA (asynchronous successive halving, keeps the better half at each rung)"

#: ASHA keeps the best 1/2 of the trials at each rung. One fold's F1 is noisy
#: (a threshold chosen on a few dozen positives), and Ray's default of 1/3 left
#: 1 of 19 fraud trials complete in the default budget (nothing to ensemble).
REDUCTION_FACTOR = 2


def make_scheduler(*, folds: int, first_rung: int) -> Any:
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(
        time_attr="training_iteration", max_t=folds, grace_period=first_rung, reduction_factor=REDUCTION_FACTOR
    )
