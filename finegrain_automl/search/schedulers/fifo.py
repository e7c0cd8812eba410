"""No early stopping: every trial runs all its folds (``--no-early-stopping`` too)."""

from __future__ import annotations

from typing import Any

NAME = "fifo"
DESCRIPTION = "no early stopping (every trial runs every fold)"


def make_scheduler(*, folds: int, first_rung: int) -> Any:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()
