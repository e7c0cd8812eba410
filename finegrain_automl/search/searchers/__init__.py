"""Optuna samplers a search can use (``--searcher``), one small module each.

A module here defines ``NAME`` (what ``--searcher`` takes), ``DESCRIPTION``
(one line for the report) and ``make_sampler(*, seed, trials, concurrency)``
returning a seeded ``optuna.samplers.BaseSampler``. Adding a searcher is
adding one file: :func:`available` finds every module of this package.
"""

from __future__ import annotations

from types import ModuleType

from finegrain_automl.search._discovery import modules_by_name

__all__ = ["available", "get"]


def available() -> dict[str, ModuleType]:
    """Every searcher module of this package, by ``NAME``."""
    return modules_by_name(__name__, __path__)


def get(name: str) -> ModuleType:
    """The searcher module called ``name`` (a ``KeyError`` if there is none)."""
    return available()[name]
