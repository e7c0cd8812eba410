"""The plugin manager factory and the registry of tasks it yields.

Task plugins are ordinary pip packages that declare an entry point in the
``finegrain_automl`` group. :func:`make_registry` loads them, isolates the
broken ones (a plugin that fails to import or whose hook raises is reported by
``fg-automl plugins`` and the other tasks still work), skips the incompatible
ones before any of their hooks is registered (an entry-point module declares
the plugin API it was written for, ``fg_automl_api = "1.0"``; see
:mod:`finegrain_automl.hookspecs`), validates what each contributes, and
returns a :class:`Registry`. There is no import-time global: every caller
(and every test) builds its own.

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
from finegrain_automl.space import Space
from finegrain_automl.task import MODEL_KEY, ModelFamily, Task, check_space

__all__ = [
    "ALLOW_LIST_ENV",
    "DISABLE_AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "Registry",
    "api_problem",
    "make_registry",
    "with_families",
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
    #: Where its entry-point module was imported from (a folder); None: not imported.
    location: str | None = None
    #: The plugin API it declares (``fg_automl_api``); None: none declared.
    api: str | None = None
    tasks: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    #: The hooks it implements (``fg_automl_search_end``...), once registered.
    hooks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The plugin as users know it: its distribution and entry point."""
        return f"{self.distribution} (plugin {self.name!r})" if self.distribution else f"plugin {self.name!r}"


@dataclass(kw_only=True)
class Registry:
    """Tasks and model families contributed by the loaded plugins."""

    manager: pluggy.PluginManager
    plugins: dict[str, PluginInfo]
    tasks: dict[str, Task]
    families: dict[str, dict[str, ModelFamily]]
    #: Task names that two or more plugins claim, with the claimants'
    #: labels: none of them is loaded, and asking for the task is an error.
    conflicts: dict[str, list[str]] = field(default_factory=dict)

    def default_space(self, name: str) -> Space:
        """The task's default search space, with the model families other
        plugins contributed (:attr:`ModelFamily.space`) added to its ``model``
        choice, so that installing such a plugin is enough to search them."""
        return with_families(self.tasks[name].default_space(), self.families[name].values())

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
        if name in self.conflicts:
            claimants = " and ".join(self.conflicts[name])
            raise UsageError(f"Task {name!r} is provided by both {claimants}, so neither is loaded; uninstall "
                             "one of them (`pip uninstall DISTRIBUTION`).")
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
        _register(manager, name, plugin, info, api_required=False)

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
            _register(manager, entry_point.name, plugin, info, api_required=True)

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
    for name, plugin in manager.list_name_plugin():
        infos[name].hooks = sorted(caller.name for caller in manager.get_hookcallers(plugin) or ())
    tasks, conflicts = _collect_tasks(manager, infos)
    families = {name: _collect_families(manager, infos, task) for name, task in tasks.items()}
    registry = Registry(manager=manager, plugins=infos, tasks=tasks, families=families, conflicts=conflicts)
    for name in list(tasks):
        _validate_default_space(registry, name)
    return registry


def _allow_list(allow: Iterable[str] | None) -> set[str] | None:
    if allow is not None:
        return set(allow)
    raw = os.environ.get(ALLOW_LIST_ENV)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def api_problem(declared: Any, *, required: bool = True) -> str | None:
    """Why a plugin that declares plugin API ``declared`` cannot load on this
    core (:data:`~finegrain_automl.hookspecs.API_VERSION`), or None if it can.

    Compatible: the same major version, and a minor version no newer than
    the core's. ``declared`` None (nothing declared) is a problem only when
    ``required`` (entry-point plugins; objects registered in-process by tests
    or an embedding application need not declare one).
    """
    attribute = hookspecs.API_ATTRIBUTE
    if declared is None:
        if not required:
            return None
        return (f"declares no plugin API version; add `{attribute} = \"{hookspecs.API_VERSION}\"` to its "
                "entry-point module (the version of finegrain-automl's plugin API it was written for)")
    parts = declared.split(".") if isinstance(declared, str) else []
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        return f"declares {attribute} = {declared!r}, which is not MAJOR.MINOR; write e.g. \"{hookspecs.API_VERSION}\""
    (major, minor), (core_major, core_minor) = map(int, parts), map(int, hookspecs.API_VERSION.split("."))
    if major != core_major:
        newer = "an older" if major < core_major else "a newer"
        return (f"written for plugin API {declared}, and this finegrain-automl provides {hookspecs.API_VERSION} "
                f"({newer} major version); install a release of the plugin made for API {core_major}.x")
    if minor > core_minor:
        return (f"written for plugin API {declared}, newer than this finegrain-automl's {hookspecs.API_VERSION}; "
                f"upgrade finegrain-automl (`pip install -U 'finegrain-automl>={declared},<{major + 1}'`)")
    return None


def _register(manager: pluggy.PluginManager, name: str, plugin: Any, info: PluginInfo, *, api_required: bool) -> None:
    """Registers ``plugin`` unless its declared API is incompatible (then none of its hooks is)."""
    module_file = getattr(plugin, "__file__", None)
    if module_file:
        info.location = os.path.dirname(os.path.abspath(module_file))
    info.api = getattr(plugin, hookspecs.API_ATTRIBUTE, None)
    problem = api_problem(info.api, required=api_required)
    if problem is not None:
        info.errors.append(f"not loaded: {problem}")
        return
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


def _collect_tasks(
    manager: pluggy.PluginManager, infos: dict[str, PluginInfo]
) -> tuple[dict[str, Task], dict[str, list[str]]]:
    """The tasks the plugins provide, and the names two or more plugins claim
    (a conflict: no claimant's task is loaded, each claimant reports it)."""
    tasks: dict[str, Task] = {}
    owners: dict[str, list[str]] = {}
    for impl in manager.hook.fg_automl_tasks.get_hookimpls():
        contributed = _call(impl, infos) or ()
        info = infos[impl.plugin_name]
        for task in contributed:
            problem = _task_problem(task)
            if problem is not None:
                info.errors.append(str(PluginError(f"plugin {impl.plugin_name!r}: {problem}.")))
                continue
            if impl.plugin_name not in owners.setdefault(task.name, []):
                owners[task.name].append(impl.plugin_name)
            tasks.setdefault(task.name, task)
    conflicts: dict[str, list[str]] = {}
    for name, claimants in owners.items():
        if len(claimants) == 1:
            infos[claimants[0]].tasks.append(name)
            continue
        del tasks[name]
        conflicts[name] = sorted(infos[claimant].label for claimant in claimants)
        for claimant in claimants:
            others = " and ".join(infos[other].label for other in claimants if other != claimant)
            infos[claimant].errors.append(str(PluginError(
                f"task {name!r} is also provided by {others}; neither is loaded. Uninstall one of them, "
                "or rename the task in yours")))
    return tasks, conflicts


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


def with_families(space: Space, families: Iterable[ModelFamily]) -> Space:
    """``space`` with each family that brings its own space
    (:attr:`ModelFamily.space`) and is not yet a branch of its ``model``
    choice added as one. A space whose ``model`` is not a choice of
    branches (one fixed family) is returned as it is."""
    raw = space.to_dict()
    branches = raw.get(MODEL_KEY, {}).get("choice") if isinstance(raw.get(MODEL_KEY), dict) else None
    if not isinstance(branches, dict):
        return space
    added = {f.name: (dict(f.space) or None) for f in families if f.space is not None and f.name not in branches}
    if not added:
        return space
    raw[MODEL_KEY] = {"choice": {**branches, **added}}
    return Space.from_dict(raw, source=f"{space.source} + families {', '.join(added)}")


def _validate_default_space(registry: Registry, name: str) -> None:
    """Checks the task's default space with the contributed families in it;
    a broken one disables the task (its own space) or the family (its space)."""
    infos, task = registry.plugins, registry.tasks[name]
    owner = next(p for p in infos.values() if name in p.tasks)
    try:
        check_space(task.default_space(), task=task, families=registry.families[name])
    except Exception as exc:  # noqa: BLE001 - a broken default space disables only this task
        owner.errors.append(
            f"plugin {owner.name!r}: default space of task {name!r} is invalid: {exc} "
            "Fix the plugin's space file."
        )
        owner.tasks.remove(name)
        del registry.tasks[name]
        del registry.families[name]
        return
    for family in [f for f in registry.families[name].values() if f.space is not None]:
        try:
            check_space(with_families(task.default_space(), [family]), task=task, families=registry.families[name])
        except Exception as exc:  # noqa: BLE001 - a broken family space disables only that family
            contributor = next((p for p in infos.values() if f"{name}:{family.name}" in p.families), owner)
            contributor.errors.append(
                f"plugin {contributor.name!r}: the space of model family {family.name!r} for task {name!r} is "
                f"invalid: {exc} Fix the family's `space`."
            )
            if f"{name}:{family.name}" in contributor.families:
                contributor.families.remove(f"{name}:{family.name}")
            del registry.families[name][family.name]
