"""The plugin manager factory and the registry of tasks it yields.

Task plugins are ordinary pip packages that declare an entry point in the
``finegrain_automl`` group. :func:`make_registry` loads them, isolates the
broken ones (a plugin that fails to import or whose hook raises is reported by
``fg-automl plugins`` and the other tasks still work), validates what each
contributes, and returns a :class:`Registry`. There is no import-time global:
every caller (and every test) builds its own.

Environment:
    FG_AUTOML_PLUGINS: comma-separated allow-list of entry-point names
        (``fraud,text``); others are not imported.
    FG_AUTOML_DISABLE_PLUGIN_AUTOLOAD: when set to a non-empty value, no entry
        point is loaded (plugins passed explicitly still are).
"""

from __future__ import annotations

import difflib
import importlib.metadata
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from finegrain_automl import hookspecs
from finegrain_automl.errors import PluginError, UsageError
from finegrain_automl.task import ModelFamily, Task, check_space

__all__ = [
    "ALLOW_LIST_ENV",
    "DISABLE_AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "Registry",
    "make_registry",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "finegrain_automl"
ALLOW_LIST_ENV = "FG_AUTOML_PLUGINS"
DISABLE_AUTOLOAD_ENV = "FG_AUTOML_DISABLE_PLUGIN_AUTOLOAD"


@dataclass(kw_only=True)
class PluginInfo:
    """What ``fg-automl plugins`` shows about one plugin."""

    name: str
    distribution: str | None = None
    version: str | None = None
    tasks: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class Registry:
    """Tasks and model families contributed by the loaded plugins."""

    manager: pluggy.PluginManager
    plugins: dict[str, PluginInfo]
    tasks: dict[str, Task]
    families: dict[str, dict[str, ModelFamily]]

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Calls an observer hook on every plugin; one that raises is logged and
        skipped, so a broken logger or notifier never stops a search."""
        for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
            try:
                impl.function(*(kwargs[arg] for arg in impl.argnames))
            except Exception as exc:  # noqa: BLE001 - isolate broken observers
                log.warning("plugin %r: %s raised %s: %s; ignored", impl.plugin_name, hook_name,
                            type(exc).__name__, exc)

    def task(self, name: str) -> Task:
        """Returns the task called ``name``.

        Raises:
            UsageError: No loaded plugin provides it; the message lists the
                tasks that are available and any plugin that failed to load.
        """
        if name in self.tasks:
            return self.tasks[name]
        known = ", ".join(sorted(self.tasks)) or "none"
        close = difflib.get_close_matches(name, list(self.tasks), n=1)
        fix = f"Did you mean {close[0]!r}?" if close else "Pick one of them or install the plugin that provides it."
        broken = [p.name for p in self.plugins.values() if p.errors]
        hint = f" Plugins that failed to load: {', '.join(broken)} (see `fg-automl plugins`)." if broken else ""
        raise UsageError(f"Unknown task {name!r}; installed tasks: {known}. {fix}{hint}")


def make_registry(
    *,
    plugins: Iterable[tuple[str, Any]] = (),
    autoload: bool | None = None,
    allow: Iterable[str] | None = None,
) -> Registry:
    """Builds a plugin manager and collects what its plugins contribute.

    Args:
        plugins: Extra ``(name, plugin)`` pairs registered before entry points
            (tests and embedding applications use this).
        autoload: Load the entry-point group; default: unless
            ``FG_AUTOML_DISABLE_PLUGIN_AUTOLOAD`` is set.
        allow: Entry-point names to load; default: ``FG_AUTOML_PLUGINS`` if
            set, else all of them.

    Returns:
        The registry. Problems are recorded in ``registry.plugins[name].errors``
        rather than raised, so one broken plugin never hides the others.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    infos: dict[str, PluginInfo] = {}

    for name, plugin in plugins:
        info = infos.setdefault(name, PluginInfo(name=name))
        _register(manager, name, plugin, info)

    if autoload is None:
        autoload = not os.environ.get(DISABLE_AUTOLOAD_ENV)
    if autoload:
        allowed = _allow_list(allow)
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if allowed is not None and entry_point.name not in allowed:
                continue
            info = infos.setdefault(entry_point.name, PluginInfo(name=entry_point.name))
            if entry_point.dist is not None:
                info.distribution = entry_point.dist.name
                info.version = entry_point.dist.version
            try:
                plugin = entry_point.load()
            except Exception as exc:  # noqa: BLE001 - any import failure is the plugin's
                info.errors.append(f"import failed: {type(exc).__name__}: {exc}")
                continue
            _register(manager, entry_point.name, plugin, info)

    while True:  # a hook implementation whose name matches no hook: a typo, reported
        try:
            manager.check_pending()
            break
        except pluggy.PluginValidationError as exc:
            name = manager.get_name(exc.plugin) or "?"
            infos.setdefault(name, PluginInfo(name=name)).errors.append(
                f"{exc}; check the hook's spelling in finegrain_automl/hookspecs.py"
            )
            manager.unregister(exc.plugin)
    tasks = _collect_tasks(manager, infos)
    families = {name: _collect_families(manager, infos, task) for name, task in tasks.items()}
    for name in list(tasks):
        _validate_default_space(tasks, families, name, infos)
    return Registry(manager=manager, plugins=infos, tasks=tasks, families=families)


def _allow_list(allow: Iterable[str] | None) -> set[str] | None:
    if allow is not None:
        return set(allow)
    raw = os.environ.get(ALLOW_LIST_ENV)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _register(manager: pluggy.PluginManager, name: str, plugin: Any, info: PluginInfo) -> None:
    try:
        manager.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        info.errors.append(f"invalid plugin: {exc}")


def _call(impl: pluggy.HookImpl, infos: dict[str, PluginInfo], **kwargs: Any) -> Any:
    """Calls one plugin's hook implementation, recording any exception on it."""
    info = infos.setdefault(impl.plugin_name, PluginInfo(name=impl.plugin_name))
    try:
        return impl.function(*(kwargs[arg] for arg in impl.argnames))
    except Exception as exc:  # noqa: BLE001 - isolate broken plugins
        hook = impl.function.__name__
        info.errors.append(f"{hook} raised {type(exc).__name__}: {exc}")
        return None


def _collect_tasks(manager: pluggy.PluginManager, infos: dict[str, PluginInfo]) -> dict[str, Task]:
    tasks: dict[str, Task] = {}
    owners: dict[str, str] = {}
    # get_hookimpls() lists implementations in registration order: first come, first served.
    for impl in manager.hook.fg_automl_tasks.get_hookimpls():
        contributed = _call(impl, infos) or ()
        info = infos[impl.plugin_name]
        for task in contributed:
            problem = _task_problem(task)
            if problem is None and task.name in tasks:
                problem = (
                    f"task {task.name!r} is already provided by plugin {owners[task.name]!r}; "
                    "rename the task or uninstall one of the two plugins"
                )
            if problem is not None:
                info.errors.append(str(PluginError(f"plugin {impl.plugin_name!r}: {problem}.")))
                continue
            tasks[task.name] = task
            owners[task.name] = impl.plugin_name
            info.tasks.append(task.name)
    return tasks


def _task_problem(task: Any) -> str | None:
    if not isinstance(task, Task):
        return f"fg_automl_tasks returned {task!r}, which is not a finegrain_automl.Task; return Task instances"
    name = getattr(task, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        return f"task name must be a Python identifier, got {name!r}; set the class attribute `name`"
    return None


def _collect_families(
    manager: pluggy.PluginManager, infos: dict[str, PluginInfo], task: Task
) -> dict[str, ModelFamily]:
    try:
        families = dict(task.model_families())
    except Exception as exc:  # noqa: BLE001 - the task is unusable, not the registry
        owner = next((p for p in infos.values() if task.name in p.tasks), None)
        if owner is not None:
            owner.errors.append(f"task {task.name!r}: model_families() raised {type(exc).__name__}: {exc}")
        families = {}
    for impl in manager.hook.fg_automl_model_families.get_hookimpls():
        info = infos[impl.plugin_name]
        for family in _call(impl, infos, task_name=task.name) or ():
            if not isinstance(family, ModelFamily):
                info.errors.append(
                    f"plugin {impl.plugin_name!r}: fg_automl_model_families returned {family!r}, "
                    "which is not a finegrain_automl.ModelFamily; return ModelFamily objects."
                )
            elif family.name in families:
                info.errors.append(
                    f"plugin {impl.plugin_name!r}: model family {family.name!r} already exists "
                    f"for task {task.name!r}; give the family another name."
                )
            else:
                families[family.name] = family
                info.families.append(f"{task.name}:{family.name}")
    return families


def _validate_default_space(
    tasks: dict[str, Task],
    families: dict[str, dict[str, ModelFamily]],
    name: str,
    infos: dict[str, PluginInfo],
) -> None:
    task = tasks[name]
    try:
        check_space(task.default_space(), task=task, families=families[name])
    except Exception as exc:  # noqa: BLE001 - a broken default space disables only this task
        owner = next(p for p in infos.values() if name in p.tasks)
        owner.errors.append(
            f"plugin {owner.name!r}: default space of task {name!r} is invalid: {exc} "
            "Fix the plugin's space file."
        )
        owner.tasks.remove(name)
        del tasks[name]
        del families[name]

