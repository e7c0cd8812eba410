"""Ray Tune schedulers a search can use (``--scheduler``), one small module each.

A module here defines ``NAME`` (what ``--scheduler`` takes), ``DESCRIPTION``
(one line for the report) and ``make_scheduler(*, folds, first_rung)``
returning a Ray Tune ``TrialScheduler``. Its unit of time is the fold: a
trial reports its running mean F1 after each of its ``folds`` fits, and no
scheduler may stop it before ``first_rung`` folds. Adding a scheduler is
adding one file: :func:`available` finds every module of this package.
"""

from __future__ import annotations

from types import ModuleType

from finegrain_automl.search._discovery import modules_by_name

__all__ = ["available", "get"]


def available() -> dict[str, ModuleType]:
    """Every scheduler module of this package, by ``NAME``."""
    return modules_by_name(__name__, __path__)


def get(name: str) -> ModuleType:
    """The scheduler module called ``name`` (a ``KeyError`` if there is none)."""
    return available()[name]
