"""Every shipped search space is valid: the built-in plugins' defaults and the
GPU-cluster variants under ``search_spaces/``.

Each is checked against the published JSON Schema
(``search_spaces/space.schema.json``), the core's format validator
(:func:`~finegrain_automl.space.load_space`), and its task's key and value
checks (:func:`~finegrain_automl.task.check_space`,
:func:`~finegrain_automl.task.check_space_values`), exactly as a search checks
a ``--space`` file before Ray starts. No model is trained.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

from finegrain_automl.plugins import ENTRY_POINT_GROUP, Registry, make_registry
from finegrain_automl.space import Space, SpaceError, load_space
from finegrain_automl.task import check_space, check_space_values

ROOT = Path(__file__).resolve().parents[1]
SPACES = ROOT / "search_spaces"
SCHEMA_PATH = SPACES / "space.schema.json"
#: A cluster variant of task T is ``search_spaces/T.gpu.yaml``.
GPU_SUFFIX = ".gpu.yaml"


def _builtin_tasks() -> list[str]:
    """The tasks of the built-in plugins: the entry points of ``plugins/*/pyproject.toml``."""
    names = []
    for pyproject in sorted(ROOT.glob("plugins/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        names += project.get("entry-points", {}).get(ENTRY_POINT_GROUP, {})
    return sorted(names)


BUILTIN_TASKS = _builtin_tasks()
SPACE_FILES = sorted(SPACES.glob("*.yaml"))


def _task_of(path: Path) -> str:
    """The task a space file is for: the file name's first part (``fraud.gpu.yaml``: ``fraud``)."""
    return path.name.split(".")[0]


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The built-in plugins, loaded from their entry points whatever the environment allows."""
    return make_registry(autoload=True, allow=BUILTIN_TASKS)


@pytest.fixture(scope="module")
def schema_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


def _space_and_raw(registry: Registry, name: str) -> tuple[str, Space, object]:
    """(task, validated space, raw YAML data) of a parametrised space: ``default:<task>``
    (the plugin's ``default_space()``, read back from its file) or a ``search_spaces/`` file."""
    if name.startswith("default:"):
        task = name.removeprefix("default:")
        assert task in registry.tasks, registry.plugins.get(task)
        space = registry.task(task).default_space()
        source = Path(space.source)
        assert source.is_file(), f"the default space of {task!r} comes from {space.source!r}, not a file"
        return task, space, yaml.safe_load(source.read_text(encoding="utf-8"))
    path = SPACES / name
    return _task_of(path), load_space(path), yaml.safe_load(path.read_text(encoding="utf-8"))


SHIPPED = [f"default:{task}" for task in BUILTIN_TASKS] + [path.name for path in SPACE_FILES]


def test_the_built_in_plugins_load_without_errors(registry: Registry) -> None:
    assert BUILTIN_TASKS, "no built-in plugin found under plugins/"
    assert {name: info.errors for name, info in registry.plugins.items() if info.errors} == {}
    assert sorted(registry.tasks) == BUILTIN_TASKS


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_space_passes_the_schema_and_every_check_of_its_task(
    name: str, registry: Registry, schema_validator: jsonschema.Draft202012Validator
) -> None:
    task_name, space, raw = _space_and_raw(registry, name)
    # (a) the published JSON Schema, on the file as written and on the normalised form
    errors = [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
              for e in schema_validator.iter_errors(raw)]
    assert errors == [], errors
    schema_validator.validate(space.to_dict())
    # (b) the core's format validator; plain YAML reading gives the same space
    assert Space.from_dict(raw, source=name) == space
    # (c) the task's key and value checks
    assert task_name in registry.tasks, f"{name}: no registered task {task_name!r}"
    task, families = registry.task(task_name), registry.families[task_name]
    check_space(space, task=task, families=families)
    check_space_values(space, task=task, families=families)


def test_every_file_under_search_spaces_is_a_gpu_variant_of_a_registered_task(registry: Registry) -> None:
    assert SPACE_FILES, f"no space under {SPACES}"
    for path in SPACE_FILES:
        assert path.name.endswith(GPU_SUFFIX) and path.name.count(".") == 2, (
            f"{path.name}: name cluster variants <task>{GPU_SUFFIX}"
        )
        assert _task_of(path) in registry.tasks, (
            f"{path.name} is for task {_task_of(path)!r}, which no built-in plugin registers "
            f"(tasks: {', '.join(sorted(registry.tasks))})"
        )


@pytest.mark.parametrize("task", BUILTIN_TASKS)
def test_every_built_in_task_has_a_gpu_variant_that_searches_all_its_default_does(
    task: str, registry: Registry
) -> None:
    """A new plugin, family or key in a default space needs its cluster variant too."""
    path = SPACES / f"{task}{GPU_SUFFIX}"
    assert path.is_file(), f"task {task!r} has no cluster variant {path.relative_to(ROOT)}"
    default, gpu = registry.task(task).default_space(), load_space(path)
    missing = [p for p in default.paths() if p not in gpu.paths()]
    assert missing == [], f"{path.name} lacks key paths of the default space: {missing}"


def _broken(tmp_path: Path, change) -> Path:
    """A copy of the fraud GPU variant with ``change`` applied to its raw data, in ``tmp_path``."""
    raw = yaml.safe_load((SPACES / f"fraud{GPU_SUFFIX}").read_text())
    change(raw)
    path = tmp_path / f"fraud{GPU_SUFFIX}"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("change", "path", "stage"),
    [
        # a family parameter that resmlp's builder does not take: check_space
        (lambda raw: raw["model"]["choice"]["resmlp"].update(widht={"int": [64, 1024]}),
         "model.resmlp.widht", "keys"),
        # bounds the wrong way round: the format validator (and no schema can tell)
        (lambda raw: raw["model"]["choice"]["tabm"].update(n_blocks={"int": [4, 2]}),
         "model.tabm.n_blocks", "format"),
        # a width that is not a multiple of every head count: the task's value checks
        (lambda raw: raw["model"]["choice"]["ft_transformer"].update(d_token={"choice": [36, 64]}),
         "model.ft_transformer", "values"),
    ],
    ids=["unknown-family-parameter", "int-bounds-reversed", "indivisible-width"],
)
def test_a_broken_copy_is_rejected_with_its_key_path(
    tmp_path: Path, registry: Registry, change, path: str, stage: str
) -> None:
    broken = _broken(tmp_path, change)
    task, families = registry.task("fraud"), registry.families["fraud"]
    with pytest.raises(SpaceError) as error:
        space = load_space(broken)
        assert stage != "format", "the format validator accepted reversed int bounds"
        check_space(space, task=task, families=families)
        assert stage != "keys", "check_space accepted an unknown family parameter"
        check_space_values(space, task=task, families=families)
    assert error.value.path == path
    assert str(error.value).startswith(f"{broken}: {path}: ")

