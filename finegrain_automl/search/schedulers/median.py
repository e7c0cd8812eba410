"""The median stopping rule (Golovin et al., KDD 2017, Google Vizier; Ray's MedianStoppingRule)."""

from __future__ import annotations

from typing import Any

NAME = "median"
DESCRIPTION = "median stopping rule (stops a trial below the median of others at the same fold)"


def make_scheduler(*, folds: int, first_rung: int) -> Any:
    from ray.tune.schedulers import MedianStoppingRule

    return MedianStoppingRule(time_attr="training_iteration", grace_period=first_rung, min_samples_required=3)
