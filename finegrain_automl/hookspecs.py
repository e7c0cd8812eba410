"""Every hook a finegrain-automl plugin may implement.

Plugins are discovered through the ``finegrain_automl`` entry-point group (see
:mod:`finegrain_automl.plugins`). A plugin implements any subset of these hooks,
marking each implementation with :data:`hookimpl`. Hooks only ever gain
arguments, and an implementation may accept a subset of them, so a plugin
written today keeps working.

The plugin API (these hooks, the :class:`~finegrain_automl.Task` contract and
the names ``finegrain_automl`` exports) is versioned ``MAJOR.MINOR``
(:data:`API_VERSION`): a minor release only adds (a hook, an argument, a
Task attribute with a default); a major release may remove or change. A
plugin declares the version it was written for in its entry-point module::

    fg_automl_api = "1.0"

and loads on every core with the same major version and at least that minor
one; any other plugin is reported by ``fg-automl plugins`` and not loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from finegrain_automl.task import ModelFamily, Task

__all__ = ["API_ATTRIBUTE", "API_VERSION", "PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME = "finegrain_automl"

#: The plugin API this core provides (see the module's docstring): the major
#: and minor parts of the ``finegrain-automl`` release.
API_VERSION = "1.0"

#: The attribute of a plugin's entry-point module that declares the API it was written for.
API_ATTRIBUTE = "fg_automl_api"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -------------------------------------------------------------------------
# Contributing tasks and model families
# -------------------------------------------------------------------------


@hookspec
def fg_automl_tasks() -> Sequence[Task]:
    """Called once per plugin when the plugin manager is built.

    Returns:
        The tasks this plugin provides, as :class:`~finegrain_automl.Task`
        instances. Task names are global: a name another plugin registered
        first is rejected with a :class:`~finegrain_automl.errors.PluginError`
        that names both plugins. The task's default space is validated against
        its model families and hyperparameters at this point.

    All results are collected (not ``firstresult``).
    """


@hookspec
def fg_automl_model_families(task_name: str) -> Sequence[ModelFamily] | None:
    """Called once per registered task, after every plugin's tasks are known.

    Lets a plugin add architectures to a task it does not own (a third party
    can add a model to ``fraud`` without forking it). A family's ``build``
    receives the task's input spec, so it must understand that task's spec.

    Args:
        task_name: The task being assembled.

    Returns:
        Extra model families for ``task_name``, or ``None`` for none. A family
        whose name the task already has is rejected with a ``PluginError``.

    All results are collected (not ``firstresult``).
    """


# -------------------------------------------------------------------------
# Observing a search (loggers, notifiers)
# -------------------------------------------------------------------------


@hookspec
def fg_automl_search_start(task_name: str, run_dir: Path, settings: Mapping[str, Any]) -> None:
    """Called in the driver process after the run directory is written and
    before the first trial starts.

    Args:
        task_name: The task being searched.
        run_dir: The run directory (absolute).
        settings: The resolved search settings (JSON-serialisable).
    """


@hookspec
def fg_automl_trial_result(task_name: str, run_dir: Path, trial: Mapping[str, Any]) -> None:
    """Called in the driver process each time a trial reports a fold.

    Args:
        task_name: The task being searched.
        run_dir: The run directory.
        trial: ``trial_id``, ``config``, ``folds_done``, ``cv_f1`` (running
            mean), ``cv_f1_std`` and ``fold_seconds`` (how long the fold
            took in the worker); JSON-serialisable.
    """


@hookspec
def fg_automl_search_end(task_name: str, run_dir: Path, summary: Mapping[str, Any]) -> None:
    """Called in the driver process once the winner is refit and saved.

    Args:
        task_name: The task searched.
        run_dir: The run directory.
        summary: The run record's JSON form
            (:meth:`~finegrain_automl.record.RunRecord.to_dict`): what
            ``fg-automl search --json`` prints and ``run.json`` holds.
    """
