"""The example plugins in examples/ as their users get them: each installed
with pip into a fresh environment, its own tests passing there, discovered by
the core; and packages that must not load (an incompatible plugin API, a task
two distributions claim) rejected with the right messages."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Every example plugin package (the Ray cluster configuration in examples/cluster is not one).
EXAMPLES = sorted(path.parent for path in (ROOT / "examples").glob("*/pyproject.toml"))

pytestmark = pytest.mark.ray  # their own tests run small searches


def test_the_three_example_plugins_are_there() -> None:
    assert {path.name for path in EXAMPLES} >= {"churn", "fraud-gated", "trial-log"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_installs_passes_its_own_tests_and_is_discovered(example: Path, layered_venv) -> None:
    import tomllib

    project = tomllib.loads((example / "pyproject.toml").read_text())["project"]
    (entry_point,) = project["entry-points"]["finegrain_automl"]
    layered_venv.install(example)
    tests = layered_venv.run(str(layered_venv.python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "--rootdir", str(example), str(example / "tests"), cwd=example)
    assert " passed" in tests.stdout and " failed" not in tests.stdout, tests.stdout[-2000:]
    listing = " ".join(layered_venv.fg_automl("plugins").stdout.split())
    assert f"│ {entry_point} │ {project['name']} │ {project['version']} │ 1.0 │" in listing
    assert f"{entry_point} loaded from {example}" in listing
    assert "not loaded" not in listing


def _package(root: Path, name: str, body: str, *, api: str = "1.0") -> Path:
    """A one-module plugin distribution ``fg-automl-<name>`` (entry point ``name``)."""
    folder = root / name
    (folder / f"fg_automl_{name}").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=69"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "fg-automl-{name.replace('_', '-')}"
        version = "0.3.0"
        dependencies = ["finegrain-automl>=1.0,<2"]

        [project.entry-points.finegrain_automl]
        {name} = "fg_automl_{name}"
        """))
    (folder / f"fg_automl_{name}" / "__init__.py").write_text(f"fg_automl_api = {api!r}\n" + textwrap.dedent(body))
    return folder


def test_an_incompatible_and_a_duplicate_plugin_installed_with_pip_are_rejected(layered_venv, tmp_path) -> None:
    claims_fraud = """
        from finegrain_automl import hookimpl
        from fg_automl_fraud import FraudTask

        @hookimpl
        def fg_automl_tasks():
            return [FraudTask()]
        """
    layered_venv.install(
        _package(tmp_path, "future", claims_fraud.replace("FraudTask()", "FraudTask(), FraudTask()"), api="2.1"),
        _package(tmp_path, "fraud_fork", claims_fraud),
    )
    listing = " ".join(layered_venv.fg_automl("plugins").stdout.split())
    assert ("│ future │ fg-automl-future │ 0.3.0 │ 2.1 │ - │ not loaded: written for plugin API 2.1, and this "
            "finegrain-automl provides 1.0 (a newer major version)") in listing
    assert ("task 'fraud' is also provided by fg-automl-fraud (plugin 'fraud'); neither is loaded. Uninstall one "
            "of them") in listing
    assert "task 'fraud' is also provided by fg-automl-fraud-fork (plugin 'fraud_fork')" in listing
    search = layered_venv.run(str(layered_venv.python), "-m", "finegrain_automl", "search", "--task", "fraud",
                              "--no-dashboard", check=False)
    assert search.returncode == 2 and "Traceback" not in search.stderr + search.stdout
    assert ("Task 'fraud' is provided by both fg-automl-fraud (plugin 'fraud') and fg-automl-fraud-fork (plugin "
            "'fraud_fork'), so neither is loaded") in " ".join((search.stdout + search.stderr).split())
