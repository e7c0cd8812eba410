"""Shared test set-up: quiet, loopback-only Ray; no plugin autoload surprises."""

from __future__ import annotations

import json
import os
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest

# Before anything imports ray: no usage statistics, local instances on 127.0.0.1.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")


@pytest.fixture
def toy_run(tmp_path: Path):
    """Makes a run directory without a search: ``run.json`` and a linear
    ``model.pt`` for a toy-like task whose probability is ``sigmoid(a)``
    (label 1 where column ``a`` is 0 or more)."""

    def make(task: str = "toy", *, options: dict | None = None) -> Path:
        import torch

        from finegrain_automl.results import RUN_FILE, save_model

        run_dir = tmp_path / f"{task}-run"
        run_dir.mkdir()
        linear = torch.nn.Linear(2, 1)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor([[1.0, 0.0]]))
            linear.bias.zero_()
        save_model(run_dir, task_name=task, state={"family": "linear", "params": {}, "columns": ["a", "b"],
                                                   "weights": linear.state_dict()})
        data = {"target": "label", "options": {"sep": ","} if options is None else options}
        (run_dir / RUN_FILE).write_text(json.dumps({"task": task, "data": data}))
        return run_dir

    return make


@pytest.fixture(scope="session")
def finished_toy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small finished toy search (8 trials, 3 folds), run once per session in
    a process of its own; tests copy it before changing anything in it."""
    import subprocess
    import sys

    from finegrain_automl.testing import TOY_CLI

    output = tmp_path_factory.mktemp("toy-runs")
    done = subprocess.run(
        [sys.executable, "-c", TOY_CLI, "search", "--task", "toy", "--trials", "8", "--folds", "3",
         "--time-budget", "120", "--no-dashboard", "--output", str(output)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = output.iterdir()
    return run_dir


class LayeredVenv:
    """A virtual environment over this one: it sees every package installed
    here (torch, Ray, the core, the built-in plugins) and adds its own, so a
    plugin package can be pip-installed and tried as a user would, without
    installing torch again."""

    def __init__(self, path: Path) -> None:
        import site
        import subprocess
        import sys
        import sysconfig

        self.path = path
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
        self.python = path / "bin" / "python"
        purelib = subprocess.run([str(self.python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        parent = [sysconfig.get_path("purelib"), *site.getsitepackages()]
        # addsitedir, not a bare path: the parent's own .pth files (editable installs) must run too.
        lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in dict.fromkeys(parent))
        (Path(purelib) / "_fg_parent_env.pth").write_text(lines)

    def install(self, *packages: Path) -> None:
        """``pip install -e`` each package into this environment (this one's pip
        and setuptools; nothing downloaded: dependencies come from the parent)."""
        import sys

        args = [arg for package in packages for arg in ("-e", str(package))]
        self.run(sys.executable, "-m", "pip", "--python", str(self.python), "install", "--quiet",
                 "--disable-pip-version-check", "--no-build-isolation", "--no-deps", *args)

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 600, check: bool = True) -> Any:
        """Runs a command with this environment first on ``PATH``; returns the
        completed process (stdout and stderr as text), which must have exited
        0 if ``check``."""
        import subprocess

        env = {**os.environ, "PATH": f"{self.path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
               "VIRTUAL_ENV": str(self.path), "COLUMNS": "200"}
        env.pop("PYTHONPATH", None)
        done = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n"
                                 f"{done.stderr[-3000:]}")
        return done

    def fg_automl(self, *args: str, **kwargs: Any) -> Any:
        """``fg-automl ARGS`` in this environment."""
        return self.run(str(self.python), "-m", "finegrain_automl", *args, **kwargs)


@pytest.fixture
def layered_venv(tmp_path: Path) -> LayeredVenv:
    """A fresh :class:`LayeredVenv` in the test's temporary folder."""
    return LayeredVenv(tmp_path / "venv")


#: What tests marked ``chromium`` drive (Debian's packages ``chromium`` and ``chromium-driver``).
CHROMIUM = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``chromium`` skip on a developer's machine without it; under CI
    (``CI`` set, where ``.ci/run`` installs it) they run and fail, so a missing
    browser never passes as a skip."""
    if all(path.exists() for path in CHROMIUM) or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
                                   "chromium-driver, as .ci/run does)")
    for item in items:
        if "chromium" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Headless Chromium driven by Selenium through Debian's chromedriver
    (``.ci/run`` installs both); Selenium Manager downloads nothing."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_AVOID_STATS", "true")  # Selenium Manager: no statistics, no downloads
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1500,1000", "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()
