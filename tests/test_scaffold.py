"""``fg-automl new-plugin``: the package it writes installs, passes its own tests,
is discovered and searched with no edit; bad names and existing folders are
refused in one line, with nothing written."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pandas as pd
import pytest
from typer.testing import CliRunner

from finegrain_automl import API_VERSION, hookimpl, scaffold
from finegrain_automl.cli import app
from finegrain_automl.plugins import make_registry
from finegrain_automl.testing import TaskConformance, ToyTask

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "finegrain_automl" / "templates" / "plugin"
runner = CliRunner()


class _ToyPlugin:
    @hookimpl
    def fg_automl_tasks(self):
        return [ToyTask()]


@pytest.fixture
def toy_registry(monkeypatch: pytest.MonkeyPatch):
    """The CLI sees the toy task only (installed plugins play no part in the in-process tests)."""
    from finegrain_automl import cli

    registry = make_registry(plugins=[("toy", _ToyPlugin())], autoload=False)
    monkeypatch.setattr(cli, "_registry", lambda: registry)
    return registry


def _one_line_failure(result, *fragments: str) -> None:
    message = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0, f"expected one line, got: {result.output!r}"
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_new_plugin_writes_the_package_and_prints_the_next_commands(toy_registry, tmp_path: Path) -> None:
    result = runner.invoke(app, ["new-plugin", "sensor_alarm", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    package = tmp_path / "fg-automl-sensor-alarm"
    module = package / "fg_automl_sensor_alarm"
    written = sorted(str(path.relative_to(package)) for path in package.rglob("*") if path.is_file())
    assert written == sorted([
        "README.md", "pyproject.toml", "tests/test_conformance.py", "tests/test_plugin.py",
        *(f"fg_automl_sensor_alarm/{name}"
          for name in ("__init__.py", "data.csv", "families.py", "space.yaml", "task.py")),
    ])
    for line in written:
        assert f"  {line}\n" in result.output
    for step in (f"cd {package.resolve()}", "pip install -e '.[test]'", "pytest",
                 "fg-automl search --task sensor_alarm"):
        assert f"  {step}\n" in result.output
    sources = [path for path in package.rglob("*") if path.suffix in (".py", ".toml", ".yaml", ".md")]
    assert not [path for path in sources if "$" in path.read_text()], "a placeholder was left unrendered"
    pyproject = (package / "pyproject.toml").read_text()
    assert 'dependencies = ["finegrain-automl>=1.0,<2"]' in pyproject
    assert '[project.entry-points.finegrain_automl]\nsensor_alarm = "fg_automl_sensor_alarm"' in pyproject
    assert f'fg_automl_api = "{API_VERSION}"' in (module / "__init__.py").read_text()
    conformance = (package / "tests" / "test_conformance.py").read_text()
    assert "class TestSensorAlarmConformance(TaskConformance):" in conformance
    data = pd.read_csv(module / "data.csv")
    assert list(data.columns) == ["x1", "x2", "x3", "label"]
    assert len(data) == scaffold.DEFAULT_ROWS
    assert 0.15 < data["label"].mean() < 0.4  # both classes, the positive one rarer
    assert (module / "data.csv").read_text() == scaffold.default_data_csv()  # seeded: the same every time


def test_the_dependency_range_follows_the_plugin_api(monkeypatch: pytest.MonkeyPatch) -> None:
    assert scaffold.core_requirement() == "finegrain-automl>=1.0,<2"
    monkeypatch.setattr(scaffold, "API_VERSION", "2.3")
    assert scaffold.core_requirement() == "finegrain-automl>=2.3,<3"
    files = scaffold.render_plugin(scaffold.plugin_names("sensor_alarm"))
    assert 'dependencies = ["finegrain-automl>=2.3,<3"]' in files[PurePosixPath("pyproject.toml")]
    assert 'fg_automl_api = "2.3"' in files[PurePosixPath("fg_automl_sensor_alarm/__init__.py")]


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        ("SensorAlarm", ["'SensorAlarm' is not a lowercase Python identifier", "e.g. 'sensoralarm'"]),
        ("sensor-alarm", ["'sensor-alarm' is not a lowercase Python identifier", "e.g. 'sensor_alarm'"]),
        ("2fast", ["must start with a letter", "e.g. 'task_2fast'"]),
        ("sensor__alarm", ["single underscores", "e.g. 'sensor_alarm'"]),
        ("fg_automl_sensor", ["repeats the prefix", "e.g. 'sensor'"]),
        ("toy", ["'toy' is taken: plugin 'toy' already provides", "e.g. 'my_toy'"]),
    ],
)
def test_a_bad_name_is_refused_in_one_line_and_nothing_is_written(
    toy_registry, tmp_path: Path, name: str, fragments: list[str]
) -> None:
    _one_line_failure(runner.invoke(app, ["new-plugin", name, "--dir", str(tmp_path)]), *fragments)
    assert list(tmp_path.iterdir()) == []


def test_a_name_whose_module_is_installed_is_refused(toy_registry, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "site" / "fg_automl_shadowed").mkdir(parents=True)
    (tmp_path / "site" / "fg_automl_shadowed" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    result = runner.invoke(app, ["new-plugin", "shadowed", "--dir", str(tmp_path)])
    _one_line_failure(result, "module named fg_automl_shadowed is already installed", "e.g. 'my_shadowed'")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["site"]


def test_an_existing_folder_is_never_overwritten(toy_registry, tmp_path: Path) -> None:
    existing = tmp_path / "fg-automl-sensor-alarm"
    existing.mkdir()
    (existing / "pyproject.toml").write_text("mine")
    result = runner.invoke(app, ["new-plugin", "sensor_alarm", "--dir", str(tmp_path)])
    _one_line_failure(result, f"{existing} already exists", "never overwrites", "another --dir")
    assert [path.name for path in existing.iterdir()] == ["pyproject.toml"]
    assert (existing / "pyproject.toml").read_text() == "mine"
    _one_line_failure(runner.invoke(app, ["new-plugin", "sensor_alarm", "--dir", str(tmp_path / "nope")]),
                      "--dir", "does not exist", "Create it")
    assert not (tmp_path / "nope").exists()


def test_the_templates_ship_in_the_cores_wheel(tmp_path: Path) -> None:
    """The package-data entry of pyproject.toml covers every template file."""
    source = tmp_path / "core"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(ROOT / "finegrain_automl", source / "finegrain_automl",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "--no-build-isolation", str(source), "-w", str(tmp_path / "dist")],
                   check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    templates = list(TEMPLATES.rglob("*.tmpl"))
    assert len(templates) >= 8
    for path in templates:
        assert path.relative_to(ROOT).as_posix() in shipped


@pytest.mark.ray
def test_the_package_installs_passes_its_tests_is_listed_and_searches(layered_venv, tmp_path: Path) -> None:
    done = layered_venv.fg_automl("new-plugin", "sensor_alarm", "--dir", str(tmp_path))
    package = tmp_path / "fg-automl-sensor-alarm"
    assert f"Wrote fg-automl-sensor-alarm (task 'sensor_alarm', module fg_automl_sensor_alarm) in {package}" \
        in done.stdout
    layered_venv.install(package)

    tests = layered_venv.run(str(layered_venv.python), "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
                             cwd=package)
    passed = set(re.findall(r"^PASSED (\S+)", tests.stdout, flags=re.MULTILINE))
    suite = "tests/test_conformance.py::TestSensorAlarmConformance::"
    assert {suite + name for name in dir(TaskConformance) if name.startswith("test_")} <= passed
    assert any(name.startswith("tests/test_plugin.py::") for name in passed)
    assert not re.search(r"\d+ (failed|skipped|errors?)", tests.stdout), tests.stdout[-2000:]

    listing = " ".join(layered_venv.fg_automl("plugins").stdout.split())
    row = f"│ sensor_alarm │ fg-automl-sensor-alarm │ 0.1.0 │ {API_VERSION} │ task sensor_alarm │ ok │"
    assert row in listing
    assert f"sensor_alarm loaded from {package / 'fg_automl_sensor_alarm'}" in listing

    search = layered_venv.fg_automl(
        "search", "--task", "sensor_alarm", "--trials", "2", "--folds", "2", "--repeats", "1",
        "--max-epochs", "1", "--time-budget", "60", "--no-dashboard", "--ensemble", "0",
        "--output", str(tmp_path / "runs"), "--json",
    )
    summary = json.loads(search.stdout.strip().splitlines()[-1])
    assert summary["task"] == "sensor_alarm"
    (run_dir,) = (tmp_path / "runs").iterdir()
    leaderboard = pd.read_csv(run_dir / "leaderboard.csv")
    assert len(leaderboard) >= 1
    assert set(leaderboard["model"]) <= {"linear", "mlp"}
    assert 0.0 <= summary["best"]["test_f1"] <= 1.0
