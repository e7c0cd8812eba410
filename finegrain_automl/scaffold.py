"""``fg-automl new-plugin NAME``: writes a task plugin package that works as written.

The package, ``fg-automl-NAME``, holds a binary-classification task on numeric
columns (module ``fg_automl_NAME``, task and entry point ``NAME``), two model
families, a default space, seeded built-in data, a README and tests that run
the conformance suite. The templates are package data
(``finegrain_automl/templates/plugin``): every ``*.tmpl`` file, path included,
is rendered with :class:`string.Template` (``${module}``, ``${name}``... ; a
literal dollar sign is ``$$``) and written without the ``.tmpl`` suffix.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import random
import re
import shutil
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from typing import Any

from finegrain_automl.errors import UsageError
from finegrain_automl.hookspecs import API_VERSION

__all__ = [
    "DEFAULT_ROWS",
    "DEFAULT_SEED",
    "NewPlugin",
    "PluginNames",
    "check_unclaimed",
    "claimed_names",
    "core_requirement",
    "default_data_csv",
    "plugin_names",
    "render_plugin",
    "write_plugin",
]

#: A plugin name: lowercase letters and digits, words joined by single underscores.
_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_PREFIX = "fg_automl_"
_SUFFIX = ".tmpl"
#: Rows and seed of the built-in data set a new plugin starts with.
DEFAULT_ROWS = 400
DEFAULT_SEED = 0


@dataclass(frozen=True, kw_only=True)
class PluginNames:
    """The names of one plugin, all derived from its task name.

    Attributes:
        name: The task name and the entry-point name (``churn_risk``).
    """

    name: str

    @property
    def distribution(self) -> str:
        """The pip distribution and its folder (``fg-automl-churn-risk``)."""
        return "fg-automl-" + self.name.replace("_", "-")

    @property
    def module(self) -> str:
        """The Python package (``fg_automl_churn_risk``)."""
        return _PREFIX + self.name

    @property
    def title(self) -> str:
        """The prefix of class names (``ChurnRisk``: ``ChurnRiskTask``)."""
        return "".join(word.capitalize() for word in self.name.split("_"))


@dataclass(frozen=True, kw_only=True)
class NewPlugin:
    """A plugin package :func:`write_plugin` wrote.

    Attributes:
        names: Its names.
        path: Its folder (absolute).
        files: The files written, relative to ``path``, sorted.
    """

    names: PluginNames
    path: Path
    files: tuple[PurePosixPath, ...]


def plugin_names(name: str) -> PluginNames:
    """Checks that ``name`` can name a task plugin and returns its names.

    Raises:
        UsageError: ``name`` is not a lowercase Python identifier of words
            joined by single underscores, or carries the ``fg_automl_`` prefix.
    """
    if name.startswith((_PREFIX, "fg-automl-")):
        bare = name[len(_PREFIX) :]
        raise UsageError(
            f"Plugin name {name!r} repeats the prefix that new-plugin adds (module {_PREFIX}NAME, "
            f"distribution fg-automl-NAME). Give the task name alone, e.g. {bare.replace('-', '_')!r}."
        )
    if not _NAME.fullmatch(name):
        suggestion = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        if suggestion[:1].isdigit():
            suggestion = "task_" + suggestion
        example = f"e.g. {suggestion!r}" if _NAME.fullmatch(suggestion) else "e.g. 'churn' or 'churn_risk'"
        raise UsageError(
            f"Plugin name {name!r} is not a lowercase Python identifier: it must start with a letter and "
            f"hold only a-z, 0-9 and single underscores between words. Use {example}."
        )
    return PluginNames(name=name)


def claimed_names(registry: Any) -> dict[str, str]:
    """Task and entry-point names the plugins of ``registry`` (a
    :class:`~finegrain_automl.plugins.Registry`) use, each with who uses it."""
    claimed: dict[str, str] = {}
    for info in registry.plugins.values():
        claimed[info.name] = info.label
        for task in info.tasks:
            claimed[task] = info.label
    for task, claimants in registry.conflicts.items():
        claimed[task] = " and ".join(claimants)
    for task in registry.tasks:
        claimed.setdefault(task, "a loaded plugin")
    return claimed


def check_unclaimed(names: PluginNames, *, claimed: Mapping[str, str]) -> None:
    """Checks that no installed plugin, module or distribution has the new plugin's names.

    Args:
        names: The new plugin's names.
        claimed: Task and entry-point names in use (:func:`claimed_names`).

    Raises:
        UsageError: A name is taken; the message says by what.
    """
    fix = f"Pick another name, e.g. 'my_{names.name}'."
    if names.name in claimed:
        raise UsageError(
            f"Plugin name {names.name!r} is taken: {claimed[names.name]} already provides a task or plugin "
            f"of that name, and two plugins with one name do not load. {fix}"
        )
    if importlib.util.find_spec(names.module) is not None:
        raise UsageError(
            f"A Python module named {names.module} is already installed, so the plugin's own would be "
            f"shadowed. {fix}"
        )
    try:
        importlib.metadata.distribution(names.distribution)
    except importlib.metadata.PackageNotFoundError:
        return
    raise UsageError(f"A distribution named {names.distribution} is already installed. {fix}")


def core_requirement() -> str:
    """The requirement on finegrain-automl of a plugin written for this core's
    plugin API (``API_VERSION`` "1.0": ``finegrain-automl>=1.0,<2``)."""
    major, minor = API_VERSION.split(".")
    return f"finegrain-automl>={major}.{minor},<{int(major) + 1}"


def default_data_csv(*, n_rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> str:
    """The built-in data a new plugin starts with, as CSV text.

    Columns ``x1`` and ``x2`` are informative (``x2`` partly through its
    product with ``x1``, which a linear model cannot use), ``x3`` is noise,
    and ``label`` is 1 in a quarter of the rows. The standard library's
    seeded generator makes the file identical on every platform and version.
    """
    rng = random.Random(seed)
    lines = ["x1,x2,x3,label"]
    for _ in range(n_rows):
        x1, x2, x3 = rng.gauss(0.0, 1.0), rng.gauss(0.0, 1.0), rng.gauss(0.0, 1.0)
        score = x1 + 0.5 * x2 + 0.75 * x1 * x2 + rng.gauss(0.0, 0.5)
        lines.append(f"{x1:.4f},{x2:.4f},{x3:.4f},{int(score > 0.5)}")
    return "\n".join(lines) + "\n"


def render_plugin(names: PluginNames) -> dict[PurePosixPath, str]:
    """Returns every file of the plugin package, by path relative to its folder."""
    from finegrain_automl import __version__

    values = {
        "name": names.name,
        "distribution": names.distribution,
        "module": names.module,
        "title": names.title,
        "api_version": API_VERSION,
        "core_requirement": core_requirement(),
        "core_version": __version__,
    }
    rendered = {
        PurePosixPath(*(string.Template(part).substitute(values) for part in relative.parts)).with_suffix(""):
        string.Template(template.read_text(encoding="utf-8")).substitute(values)
        for relative, template in _templates(files(__package__) / "templates" / "plugin")
    }
    rendered[PurePosixPath(names.module, "data.csv")] = default_data_csv()
    return rendered


def _templates(folder: Traversable, *parents: str) -> Iterator[tuple[PurePosixPath, Traversable]]:
    """Every ``*.tmpl`` file under ``folder``, with its path relative to it."""
    for entry in folder.iterdir():
        if entry.is_dir():
            yield from _templates(entry, *parents, entry.name)
        elif entry.name.endswith(_SUFFIX):
            yield PurePosixPath(*parents, entry.name), entry


def write_plugin(names: PluginNames, *, directory: Path) -> NewPlugin:
    """Writes the plugin package into ``directory / names.distribution``.

    Nothing is overwritten: the package's folder must not exist. If writing
    fails half-way, the folder is removed again.

    Raises:
        UsageError: ``directory`` is not an existing folder, or the package's
            folder exists already.
    """
    directory = directory.expanduser()
    if not directory.is_dir():
        what = "is a file" if directory.exists() else "does not exist"
        raise UsageError(f"--dir {directory} {what}; it must be an existing folder. Create it or pick "
                         "another.")
    target = directory / names.distribution
    exists = UsageError(
        f"{target} already exists, and new-plugin never overwrites anything. Move or remove it, or pick "
        "another --dir."
    )
    if os.path.lexists(target):
        raise exists
    rendered = render_plugin(names)
    try:
        target.mkdir()
    except FileExistsError:
        raise exists from None
    try:
        for relative, text in rendered.items():
            path = target.joinpath(relative)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return NewPlugin(names=names, path=target.resolve(), files=tuple(sorted(rendered)))
