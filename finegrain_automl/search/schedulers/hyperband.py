"""Hyperband (Li et al., JMLR 2018; Ray's synchronous HyperBandScheduler)."""

from __future__ import annotations

from typing import Any

NAME = "hyperband"
DESCRIPTION = "Hyperband (brackets of successive halving over folds)"


def make_scheduler(*, folds: int, first_rung: int) -> Any:
    from ray.tune.schedulers import HyperBandScheduler

    # Ray's Hyperband has no grace period; its smallest bracket runs max_t / eta^s folds.
    return HyperBandScheduler(time_attr="training_iteration", max_t=folds, reduction_factor=2)
