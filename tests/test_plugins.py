"""Plugin discovery: entry points, allow-list, autoload switch, broken plugins, validation."""

from __future__ import annotations

import importlib.metadata
import inspect
import re
import textwrap
import zlib
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

fg_automl_api = "1.0"

@hookimpl
def fg_automl_tasks():
    return [ToyTask()]
"""

BROKEN_IMPORT = """
raise ImportError("this plugin needs a library that is not installed")
"""

BROKEN_HOOK = """
from finegrain_automl import hookimpl

fg_automl_api = "1.0"

@hookimpl
def fg_automl_tasks():
    raise RuntimeError("boom")
"""


@pytest.fixture
def entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Installs fake plugin modules, each in a distribution ``fg-automl-<name>``
    (a real ``.dist-info`` folder) advertising it as an entry point."""

    def install(**modules: str) -> None:
        points = []
        for name, source in modules.items():
            module = f"fake_fg_plugin_{name}_{zlib.crc32(str(tmp_path).encode())}"  # not one cached earlier
            (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
            info = tmp_path / f"fg_automl_{name}-0.1.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fg-automl-{name}\nVersion: 0.1\n")
            (info / "entry_points.txt").write_text(f"[finegrain_automl]\n{name} = {module}\n")
            points.extend(importlib.metadata.PathDistribution(info).entry_points)
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setattr(
            "finegrain_automl.plugins.importlib.metadata.entry_points",
            lambda group: [p for p in points if p.group == group],
        )

    monkeypatch.delenv("FG_AUTOML_PLUGINS", raising=False)
    monkeypatch.delenv("FG_AUTOML_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    return install


def test_entry_point_plugin_is_discovered(entry_points, tmp_path: Path) -> None:
    entry_points(good=GOOD)
    registry = make_registry()
    assert list(registry.tasks) == ["toy"]
    assert registry.plugins["good"].tasks == ["toy"]
    assert registry.plugins["good"].errors == []
    assert set(registry.families["toy"]) == {"linear", "mlp"}
    assert registry.plugins["good"].location == str(tmp_path)  # where its module was imported from
    assert registry.plugins["good"].api == "1.0"
    assert (registry.plugins["good"].distribution, registry.plugins["good"].version) == ("fg-automl-good", "0.1")


@pytest.mark.parametrize(("declaration", "reason"), [
    ("", 'declares no plugin API version; add `fg_automl_api = "1.0"`'),
    ('fg_automl_api = "2.0"', "written for plugin API 2.0, and this finegrain-automl provides 1.0 (a newer major"),
    ('fg_automl_api = "0.9"', "(an older major version); install a release of the plugin made for API 1.x"),
    ('fg_automl_api = "1.7"', "newer than this finegrain-automl's 1.0; upgrade finegrain-automl"),
    ("fg_automl_api = 1.0", "which is not MAJOR.MINOR"),
])
def test_incompatible_plugin_is_reported_with_the_reason_and_not_loaded_at_all(
    entry_points, declaration: str, reason: str
) -> None:
    families = """
@hookimpl
def fg_automl_model_families(task_name):
    raise AssertionError("an incompatible plugin's hooks must never be called")
"""
    entry_points(old=GOOD.replace('fg_automl_api = "1.0"', declaration) + families)
    registry = make_registry()
    (error,) = registry.plugins["old"].errors
    assert error.startswith("not loaded: ") and reason in error
    assert registry.tasks == {} and registry.plugins["old"].tasks == []
    assert registry.manager.get_plugin("old") is None  # none of its hooks registered: never half-loaded


def test_compatible_minor_versions_load() -> None:
    from finegrain_automl.plugins import api_problem

    assert api_problem("1.0") is None
    assert api_problem(None, required=False) is None  # registered in-process (tests, embedding)
    assert hookspecs.API_VERSION == "1.0"


def test_the_plugin_api_version_is_the_core_release_s_major_and_minor() -> None:
    import finegrain_automl

    release = importlib.metadata.version("finegrain-automl")
    assert finegrain_automl.__version__ == release
    assert finegrain_automl.API_VERSION == ".".join(release.split(".")[:2])


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


def test_two_plugins_claiming_one_task_is_an_error_naming_both_distributions(entry_points) -> None:
    entry_points(first=GOOD, second=GOOD)
    registry = make_registry()
    assert "toy" not in registry.tasks
    assert registry.plugins["first"].tasks == registry.plugins["second"].tasks == []
    (error,) = registry.plugins["second"].errors
    assert "task 'toy' is also provided by fg-automl-first (plugin 'first'); neither is loaded" in error
    assert "Uninstall one of them" in error
    assert "also provided by fg-automl-second (plugin 'second')" in registry.plugins["first"].errors[0]
    with pytest.raises(UsageError, match=r"Task 'toy' is provided by both fg-automl-first \(plugin 'first'\) and "
                                         r"fg-automl-second \(plugin 'second'\), so neither is loaded"):
        registry.task("toy")


def test_a_task_claimed_twice_in_process_names_both_plugins() -> None:
    registry = make_registry(plugins=[("first", _Tasks()), ("second", _Tasks())], autoload=False)
    assert "toy" not in registry.tasks
    assert "task 'toy' is also provided by plugin 'second'" in registry.plugins["first"].errors[0]


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


class _SearchedFamily:
    def __init__(self, space: dict) -> None:
        self.space = space

    @hookimpl
    def fg_automl_model_families(self, task_name: str):
        return [ModelFamily(name="wide", build=_wide, complexity=1, space=self.space)] if task_name == "toy" else None


def test_a_family_with_a_space_joins_the_task_s_default_space() -> None:
    registry = make_registry(plugins=[("toy", _Tasks()), ("extra", _SearchedFamily({"width": {"int": [2, 8]}}))],
                             autoload=False)
    space = registry.default_space("toy")
    assert set(space.branches("model")) == {"mlp", "linear", "wide"}
    assert ("model.wide.width", "int 2..8") in space.rows()
    assert registry.tasks["toy"].default_space() != space  # the task's own space is left as it is
    # Without a space a family is searched only where a space names it.
    plain = make_registry(plugins=[("toy", _Tasks()), ("extra", _ExtraFamily())], autoload=False)
    assert set(plain.default_space("toy").branches("model")) == {"mlp", "linear"}


def test_a_family_space_the_family_does_not_accept_disables_only_that_family() -> None:
    registry = make_registry(plugins=[("toy", _Tasks()), ("extra", _SearchedFamily({"depth": {"int": [1, 3]}}))],
                             autoload=False)
    (error,) = registry.plugins["extra"].errors
    assert "the space of model family 'wide' for task 'toy' is invalid" in error and "depth" in error
    assert "wide" not in registry.families["toy"] and registry.plugins["extra"].families == []
    assert "toy" in registry.tasks and set(registry.default_space("toy").branches("model")) == {"mlp", "linear"}


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
    # fg_automl_onnx is the export's own loader (its docstring shows how to import it), not a plugin.
    plugin_import = re.compile(r"^\s*(from|import)\s+(fg_automl_(?!onnx\b)\w+|tabm|rtdl_num_embeddings)\b", re.MULTILINE)
    for path in core.rglob("*.py"):
        assert not plugin_import.search(path.read_text()), path


def test_plugins_command_shows_api_location_and_why_a_plugin_was_skipped(entry_points, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from finegrain_automl.cli import app

    watcher = """
        from finegrain_automl import hookimpl

        fg_automl_api = "1.0"

        @hookimpl
        def fg_automl_search_end(summary):
            pass

        @hookimpl
        def fg_automl_search_start(settings):
            pass
        """
    entry_points(good=GOOD, future=GOOD.replace('"1.0"', '"1.4"'), watcher=watcher)
    result = CliRunner().invoke(app, ["plugins"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "plugin API 1.0" in text
    assert "│ good │ fg-automl-good │ 0.1 │ 1.0 │ task toy │ ok │" in text
    assert "not loaded: written for plugin API 1.4, newer than this finegrain-automl's 1.0" in text
    assert f"good loaded from {tmp_path}" in text
    assert "│ watcher │ fg-automl-watcher │ 0.1 │ 1.0 │ observes search_end, search_start │ ok │" in text
