"""Both dashboards of a real (small) search, in headless Chromium.

While the search runs (a fresh process: a local Ray with its dashboard on
127.0.0.1 and token authentication on), the Ray dashboard lists the trial
workers and each worker's log names its current trial; ``fg-automl
dashboard``'s trials view lists the trials with their CV F1. Screenshots are
saved under the test's temporary folder (``screenshots/``).

Selenium drives Debian's ``chromium`` through its ``chromedriver``
(``.ci/run`` installs both); Selenium Manager is told to download nothing.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


pytestmark = [
    pytest.mark.ray,
    pytest.mark.timeout(300),
    pytest.mark.chromium,
]

#: Trials at once in the search, so trial workers (Ray actors) the Ray dashboard lists.
CONCURRENCY = 2
#: The trial workers' class and name in the Ray dashboard (``finegrain_automl.search._worker_class``).
WORKER_CLASS, WORKER_NAME = "FgAutomlTrialWorker", re.compile(r"fg-automl\s+worker\s+(\d+)")

#: The search, in a fresh process (Ray reads its token once per process): it
#: writes what the test needs (the Ray dashboard's address, the running
#: trials) to a status file every half second, until SIGTERM stops it.
_SEARCH = """
import json, sys, threading
from contextlib import contextmanager
from pathlib import Path
from finegrain_automl import hookimpl
from finegrain_automl.api import DataOptions, SearchInterrupted, prepare_search, run_prepared_search
from finegrain_automl.plugins import make_registry
from finegrain_automl.search import SearchSettings
from finegrain_automl.testing import ToyTask

status_file, output, space = (Path(arg) for arg in sys.argv[1:4])

# Ray's dashboard reads a worker's log through the node's dashboard agent, which listens on a fixed port
# (52365): with another Ray instance on the machine (a developer's, another test run) this one's agent
# has none, and the log cannot be read. ray.init has no option for it (`ray start` has
# --dashboard-agent-listen-port), so this instance is given any free port.
from finegrain_automl.search import _configure_environment
_configure_environment(local=True)  # what the search sets before it imports Ray
import ray._private.parameter
_ray_params = ray._private.parameter.RayParams.__init__
def _any_agent_port(self, *args, **kwargs):
    _ray_params(self, *args, **{"dashboard_agent_listen_port": 0, **kwargs})
ray._private.parameter.RayParams.__init__ = _any_agent_port

class Plugin:
    @hookimpl
    def fg_automl_tasks(self):
        return [ToyTask()]

@contextmanager
def view(progress):
    stop = threading.Event()
    def write():
        while not stop.wait(0.5):
            status = {"dashboard_url": progress.dashboard_url, "running": sorted(progress.running),
                      "phase": progress.phase}
            status_file.with_suffix(".tmp").write_text(json.dumps(status))
            status_file.with_suffix(".tmp").replace(status_file)
    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()

registry = make_registry(plugins=[("toy", Plugin())], autoload=False)
settings = SearchSettings(trials=400, folds=2, repeats=1, time_budget_s=240, concurrency=int(sys.argv[4]),
                          dashboard=True, ensemble=0, early_stopping=False)
prepared = prepare_search(registry, task_name="toy", settings=settings, data=DataOptions(), space_path=space)
try:
    run_prepared_search(prepared, registry, output=output, view=view)
except SearchInterrupted:
    pass  # the test's SIGTERM
"""

#: The toy space with longer training, so that trials are running when the browser looks.
_SPACE = """
epochs: 20
lr: {loguniform: [1.0e-3, 1.0e-1]}
model: {choice: {mlp: {hidden: {int: [2, 16]}}, linear: null}}
"""


def _wait_for(what: str, check: Callable[[], Any], *, timeout: float, every: float = 1.0) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        # A file half written, a study being created, a page redrawn under the test.
        except (OSError, ValueError, KeyError, StaleElementReferenceException):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


@pytest.fixture
def search(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A running search; stopped with SIGTERM (as Ctrl-C) after the test."""
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "space.yaml").write_text(_SPACE)
    status = tmp_path / "status.json"
    auth = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")  # Ray's defaults: a token in HOME
    env = {k: v for k, v in os.environ.items() if k not in auth}
    log = (tmp_path / "search.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-c", _SEARCH, str(status), str(tmp_path / "runs"), str(tmp_path / "space.yaml"),
         str(CONCURRENCY)],
        env={**env, "HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield {"process": process, "status": status, "token": home / ".ray" / "auth_token",
               "output": tmp_path / "runs", "log": tmp_path / "search.log"}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _page_text(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def _study_trials(run_dir: Path) -> list[Any]:
    """The study's trials, read as the trials view reads them."""
    from finegrain_automl.dashboard import STUDY_NAME, open_study_storage

    storage = open_study_storage(run_dir)
    return storage.get_all_trials(storage.get_study_id_from_name(STUDY_NAME))


def _as_javascript_prints(value: float) -> str:
    """A float as the browser shows it (both print the shortest round-trip form; JavaScript drops ``.0``)."""
    return str(int(value)) if value == int(value) else repr(value)


def test_the_ray_dashboard_and_the_trials_view_show_a_running_search(search, browser, tmp_path: Path) -> None:
    import optuna
    from selenium.webdriver.common.by import By

    from finegrain_automl.dashboard import start

    shots = tmp_path / "screenshots"
    shots.mkdir()

    def running() -> dict[str, Any] | None:
        assert search["process"].poll() is None, search["log"].read_text()[-3000:]  # it failed: why
        status = json.loads(search["status"].read_text())
        return status if status["running"] else None

    status = _wait_for("the search's Ray dashboard and running trials", running, timeout=150)
    ray_url = status["dashboard_url"]
    assert ray_url and ray_url.startswith("http://127.0.0.1:"), status
    (run_dir,) = search["output"].iterdir()

    # (a) The Ray dashboard, signed in with the token cookie: the trial workers, then one worker's log.
    browser.get(f"{ray_url}/favicon.ico")  # the origin, for the cookie
    browser.add_cookie({"name": "ray-authentication-token", "value": search["token"].read_text().strip(),
                        "path": "/"})
    browser.get(f"{ray_url}/#/actors")

    def worker_rows() -> list[tuple[str, str]]:
        """(text, actor page) of each live trial worker's row; the table redraws itself: read it at once."""
        rows = browser.execute_script(
            "return [...document.querySelectorAll('tr')].map(row => "
            "[row.innerText, (row.querySelector(\"a[href*='#/actors/']\") || {}).href || '']);")
        # Tune may have asked for one more worker, not yet alive.
        alive = [(text, href) for text, href in rows if WORKER_CLASS in text and "ALIVE" in text]
        return alive if len(alive) >= CONCURRENCY else []

    try:
        rows = _wait_for("the trial workers on the Actors page", worker_rows, timeout=60)
    finally:
        browser.save_screenshot(str(shots / "ray-actors.png"))
        (shots / "ray-actors.txt").write_text(_page_text(browser))
    names = [WORKER_NAME.search(text) for text, _ in rows]  # "fg-automl worker 1", "... 2"
    assert all(names) and sorted(int(n.group(1)) for n in names) == list(range(1, len(rows) + 1)), rows
    actor = re.search(r"#/actors/(\w+)", rows[0][1]).group(1)
    browser.get(f"{ray_url}/#/actors/{actor}")
    stdout_tab = _wait_for("the worker's log tabs", lambda: [
        tab for tab in browser.find_elements(By.CSS_SELECTOR, "[role='tab']")
        if tab.text.strip().lower() == "stdout"
    ], timeout=30)
    stdout_tab[0].click()

    def worker_log() -> list[str]:
        text = _page_text(browser)
        # What the page says when the node's dashboard agent, which reads logs, is not there (see _SEARCH).
        assert "Failed to load" not in text, "the Ray dashboard could not read the worker's log"
        started = re.findall(r"\[fg-automl\] trial (\w+) starts", text)
        if not started and ":actor_name:" in text:  # the log view read the file before the trial began
            for button in browser.find_elements(By.TAG_NAME, "button"):
                if button.text.strip().upper() == "REFRESH":
                    button.click()
        return started

    try:
        log = _wait_for("a trial in the worker's log (its STDOUT tab)", worker_log, timeout=45)
    finally:
        browser.save_screenshot(str(shots / "ray-trial-worker.png"))
        (shots / "ray-trial-worker.txt").write_text(_page_text(browser))
    trial_ids = {t.user_attrs.get("tune_trial_id") for t in _study_trials(run_dir)}
    assert log[-1] in trial_ids, (log, trial_ids)  # the worker's current (or latest) trial, in the study

    # (b) The trials view (fg-automl dashboard) of the same study, while the search writes it.
    complete = optuna.trial.TrialState.COMPLETE
    _wait_for("two completed trials in the study",
              lambda: sum(t.state == complete for t in _study_trials(run_dir)) >= 2, timeout=120)
    with start(run_dir, port=0) as server:
        trials = _study_trials(run_dir)
        finished = [t for t in trials if t.state == complete][:3]  # one detail pane each, side by side
        numbers = ",".join(str(t.number) for t in finished)
        browser.set_window_size(1900, 1100)
        browser.get(f"{server.url}/trials?numbers={numbers}")
        text = _wait_for("the completed trials' CV F1 in the trials view", timeout=60,
                         check=lambda: (t := _page_text(browser)).count("\nValue\n") >= len(finished) and t)
        for trial in finished:
            assert f"Trial {trial.number} (trial_id={trial._trial_id})" in text
            assert f"Value\n{_as_javascript_prints(trial.value)}\n" in text, trial.number
        listed = int(re.search(r"(\d+) Trials", text).group(1))  # the list beside the panes: every trial
        assert listed >= len(trials) and all(f"Trial {t.number}\n" in text for t in trials[:listed])
        browser.save_screenshot(str(shots / "trials-view.png"))
        browser.set_window_size(1500, 1300)
        browser.get(server.url)  # history, parameter importance, timeline, intermediate values
        _wait_for("the history plot", lambda: "Hyperparameter Importance" in _page_text(browser), timeout=60)
        time.sleep(2)  # the plots draw after the page's text
        browser.save_screenshot(str(shots / "trials-history.png"))
    assert search["process"].poll() is None, "the search ended before the browser looked"
