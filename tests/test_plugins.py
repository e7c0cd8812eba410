"""Plugin discovery: entry points, allow-list, autoload switch, broken plugins, validation."""

from __future__ import annotations

import importlib.metadata
import inspect
import re
import textwrap
from pathlib import Path

import pytest

from finegrain_automl import hookimpl, hookspecs
from finegrain_automl.errors import UsageError
from finegrain_automl.plugins import make_registry
from finegrain_automl.space import Space
from finegrain_automl.task import ModelFamily
from finegrain_automl.testing import ToyTask

GOOD = """
from finegrain_automl import hookimpl
from finegrain_automl.testing import ToyTask

@hookimpl
def fg_automl_tasks():
    return [ToyTask()]
"""

BROKEN_IMPORT = """
raise ImportError("this plugin needs a library that is not installed")
"""

BROKEN_HOOK = """
from finegrain_automl import hookimpl

@hookimpl
def fg_automl_tasks():
    raise RuntimeError("boom")
"""


@pytest.fixture
def entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Installs fake plugin modules and advertises them as entry points."""

    def install(**modules: str) -> None:
        points = []
        for name, source in modules.items():
            module = f"fake_fg_plugin_{name}"
            (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
            points.append(importlib.metadata.EntryPoint(name=name, value=module, group="finegrain_automl"))
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setattr(
            "finegrain_automl.plugins.importlib.metadata.entry_points",
            lambda group: [p for p in points if p.group == group],
        )

    monkeypatch.delenv("FG_AUTOML_PLUGINS", raising=False)
    monkeypatch.delenv("FG_AUTOML_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    return install


def test_entry_point_plugin_is_discovered(entry_points) -> None:
    entry_points(good=GOOD)
    registry = make_registry()
    assert list(registry.tasks) == ["toy"]
    assert registry.plugins["good"].tasks == ["toy"]
    assert registry.plugins["good"].errors == []
    assert set(registry.families["toy"]) == {"linear", "mlp"}


def test_plugin_failing_on_import_is_reported_and_others_still_work(entry_points) -> None:
    entry_points(broken=BROKEN_IMPORT, good=GOOD)
    registry = make_registry()
    assert registry.task("toy").name == "toy"
    assert "ImportError" in registry.plugins["broken"].errors[0]
    assert "not installed" in registry.plugins["broken"].errors[0]


def test_plugin_whose_hook_raises_is_reported(entry_points) -> None:
    entry_points(hooky=BROKEN_HOOK, good=GOOD)
    registry = make_registry()
    assert "fg_automl_tasks raised RuntimeError: boom" in registry.plugins["hooky"].errors[0]
    assert "toy" in registry.tasks


def test_allow_list_loads_only_the_named_plugins(entry_points, monkeypatch: pytest.MonkeyPatch) -> None:
    entry_points(broken=BROKEN_IMPORT, good=GOOD)
    monkeypatch.setenv("FG_AUTOML_PLUGINS", "good")
    registry = make_registry()
    assert list(registry.plugins) == ["good"]
    assert "toy" in registry.tasks


def test_autoload_switch_turns_entry_points_off(entry_points, monkeypatch: pytest.MonkeyPatch) -> None:
    entry_points(good=GOOD)
    monkeypatch.setenv("FG_AUTOML_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = make_registry()
    assert registry.tasks == {}
    with pytest.raises(UsageError, match=r"Unknown task 'toy'; installed tasks: none"):
        registry.task("toy")


class _Tasks:
    @hookimpl
    def fg_automl_tasks(self):
        return [ToyTask()]


def test_duplicate_task_name_names_both_plugins() -> None:
    registry = make_registry(plugins=[("first", _Tasks()), ("second", _Tasks())], autoload=False)
    assert registry.plugins["first"].tasks == ["toy"]
    error = registry.plugins["second"].errors[0]
    assert "plugin 'second'" in error and "already provided by plugin 'first'" in error
    assert "rename the task" in error


def _wide(n_inputs: int, *, width: int = 4) -> object:
    import torch

    return torch.nn.Linear(n_inputs, 1)


class _ExtraFamily:
    @hookimpl
    def fg_automl_model_families(self, task_name: str):
        if task_name == "toy":
            return [ModelFamily(name="wide", build=_wide, description="third-party family")]
        return None


def test_third_party_model_family_joins_an_existing_task() -> None:
    registry = make_registry(plugins=[("toy", _Tasks()), ("extra", _ExtraFamily())], autoload=False)
    assert "wide" in registry.families["toy"]
    assert registry.families["toy"]["wide"].hyperparameters == frozenset({"width"})
    assert registry.plugins["extra"].families == ["toy:wide"]


class _DuplicateFamily:
    @hookimpl
    def fg_automl_model_families(self, task_name: str):
        return [ModelFamily(name="mlp", build=_wide)]


def test_family_name_clash_is_reported() -> None:
    registry = make_registry(plugins=[("toy", _Tasks()), ("dup", _DuplicateFamily())], autoload=False)
    assert "model family 'mlp' already exists for task 'toy'" in registry.plugins["dup"].errors[0]


class _BadSpaceTask(ToyTask):
    name = "bad_space"

    def default_space(self) -> Space:
        return Space.from_dict({"lr": 0.1, "epochs": 1, "model": {"choice": {"mlp": {"depth": 3}}}})


class _BadSpacePlugin:
    @hookimpl
    def fg_automl_tasks(self):
        return [_BadSpaceTask()]


def test_default_space_key_the_family_does_not_accept_disables_only_that_task() -> None:
    registry = make_registry(plugins=[("toy", _Tasks()), ("bad", _BadSpacePlugin())], autoload=False)
    assert "bad_space" not in registry.tasks and "toy" in registry.tasks
    error = registry.plugins["bad"].errors[0]
    assert "model.mlp.depth" in error and "no hyperparameter 'depth'" in error and "hidden" in error


class _Misspelled:
    @hookimpl
    def fg_automl_task(self):  # the hook is fg_automl_tasks
        return [ToyTask()]


def test_misspelled_hook_is_reported() -> None:
    registry = make_registry(plugins=[("typo", _Misspelled()), ("toy", _Tasks())], autoload=False)
    assert "fg_automl_task" in registry.plugins["typo"].errors[0]
    assert "spelling" in registry.plugins["typo"].errors[0]
    assert "toy" in registry.tasks


class _NotATask:
    @hookimpl
    def fg_automl_tasks(self):
        return ["fraud"]


def test_non_task_contribution_is_rejected() -> None:
    registry = make_registry(plugins=[("odd", _NotATask())], autoload=False)
    assert "not a finegrain_automl.Task" in registry.plugins["odd"].errors[0]


def test_unknown_task_error_lists_installed_tasks() -> None:
    registry = make_registry(plugins=[("toy", _Tasks())], autoload=False)
    with pytest.raises(UsageError, match=r"Unknown task 'fruad'; installed tasks: toy"):
        registry.task("fruad")


def test_every_hook_is_documented_and_tested() -> None:
    specs = [name for name, obj in inspect.getmembers(hookspecs) if name.startswith("fg_automl_")]
    assert specs, "no hookspecs found"
    this_file = Path(__file__).read_text()
    tested_elsewhere = (Path(__file__).parent / "test_search.py").read_text()
    for name in specs:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert doc.startswith("Called"), f"{name}: docstring must say when it is called"
        assert name in this_file or name in tested_elsewhere, f"{name} has no test"


def test_constraints_pin_every_dependency_of_the_core_and_the_plugins() -> None:
    """scripts/install installs with -c constraints.txt: each requirement of a
    built-in distribution is pinned there to one version that satisfies it."""
    import tomllib

    from packaging.requirements import Requirement

    root = Path(__file__).resolve().parents[1]
    pins = {}
    for line in (root / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    projects = [root / "pyproject.toml", *sorted((root / "plugins").glob("*/pyproject.toml"))]
    ours = {tomllib.loads(p.read_text())["project"]["name"] for p in projects}
    for path in projects:
        project = tomllib.loads(path.read_text())["project"]
        requirements = project.get("dependencies", []) + [
            r for extra in project.get("optional-dependencies", {}).values() for r in extra
        ]
        for text in requirements:
            requirement = Requirement(text)
            name = requirement.name.lower().replace("_", "-")
            if name in ours:
                continue
            assert name in pins, f"{path.parent.name}: {name} is not pinned in constraints.txt"
            assert requirement.specifier.contains(pins[name], prereleases=True), (
                f"{path.parent.name}: constraints.txt pins {name}=={pins[name]}, outside {requirement.specifier}"
            )


def test_every_plugin_has_one_name_across_folder_distribution_package_and_task() -> None:
    """plugins/<name>: distribution fg-automl-<name> (dashes), package fg_automl_<name>,
    and, for a task plugin, one entry point <name> (the task's name) to that package."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    folders = sorted(p.parent for p in (root / "plugins").glob("*/pyproject.toml"))
    assert {f.name for f in folders} >= {"fraud", "disease_risk", "text", "tabular"}
    for folder in folders:
        name = folder.name
        project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
        assert project["name"] == f"fg-automl-{name.replace('_', '-')}", folder
        assert (folder / f"fg_automl_{name}" / "__init__.py").is_file(), folder
        entry_points = project.get("entry-points", {}).get("finegrain_automl", {})
        assert entry_points in ({}, {name: f"fg_automl_{name}"}), folder


def test_the_core_holds_no_modality_code() -> None:
    """The tabular toolkit is its own distribution; the core imports no plugin."""
    import finegrain_automl

    core = Path(finegrain_automl.__file__).parent
    assert not (core / "tabular").exists()
    plugin_import = re.compile(r"^\s*(from|import)\s+(fg_automl_\w+|tabm|rtdl_num_embeddings)\b", re.MULTILINE)
    for path in core.rglob("*.py"):
        assert not plugin_import.search(path.read_text()), path
