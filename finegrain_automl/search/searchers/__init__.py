"""Optuna samplers a search can use (``--searcher``), one small module each.

A module here defines ``NAME`` (what ``--searcher`` takes), ``DESCRIPTION``
(one line for the report) and ``make_sampler(*, seed, trials, concurrency)``
returning a seeded ``optuna.samplers.BaseSampler``. Adding a searcher is
adding one file: :func:`available` finds every module of this package.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

__all__ = ["available", "get"]


def available() -> dict[str, ModuleType]:
    """Every searcher module of this package, by ``NAME``."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[module.NAME] = module
    return dict(sorted(found.items()))


def get(name: str) -> ModuleType:
    """The searcher module called ``name`` (a ``KeyError`` if there is none)."""
    return available()[name]
