"""Finding the searcher and scheduler modules: one file each, found by name."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from types import ModuleType

__all__ = ["modules_by_name"]


def modules_by_name(package: str, path: Iterable[str]) -> dict[str, ModuleType]:
    """Every module of ``package`` (its ``__path__`` is ``path``), by its ``NAME``, sorted."""
    found = {}
    for info in pkgutil.iter_modules(path):
        module = importlib.import_module(f"{package}.{info.name}")
        found[module.NAME] = module
    return dict(sorted(found.items()))
