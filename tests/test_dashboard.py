"""``fg-automl dashboard``: optuna-dashboard over a run's study, read-only, live while the study is written.

The study here is built with Optuna directly, shaped as the search writes it
(a journal, study "search", CV F1 maximised, the running CV F1 after each
fold as intermediate values, details as user attributes);
``tests/test_browser.py`` serves the study of a real search.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import optuna
import pytest

from finegrain_automl.dashboard import READ_ONLY_REASON, DashboardServer, open_study_storage, serve, start
from finegrain_automl.errors import UsageError

State = optuna.trial.TrialState
_SPACE = {
    "lr": optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True),
    "model": optuna.distributions.CategoricalDistribution(["mlp", "linear"]),
}


def _writer(run_dir: Path, *, sqlite: bool = False) -> optuna.storages.BaseStorage:
    """Another handle on the study, as the search holds one (a journal; SQLite in earlier versions' runs)."""
    if sqlite:
        return optuna.storages.RDBStorage(f"sqlite:///{run_dir / 'study.db'}",
                                          engine_kwargs={"connect_args": {"timeout": 30}})
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(run_dir / "study.journal")))


def _trial(state: State, lr: float, model: str, folds: list[float], **attrs: Any) -> optuna.trial.FrozenTrial:
    running = [sum(folds[: i + 1]) / (i + 1) for i in range(len(folds))]
    return optuna.trial.create_trial(
        state=state,
        value=running[-1] if state == State.COMPLETE else None,
        params={"lr": lr, "model": model},
        distributions=_SPACE,
        intermediate_values=dict(enumerate(running, start=1)),
        user_attrs={"config": {"lr": lr, "model": model, "epochs": 2}, "fold_f1": folds,
                    "folds_done": len(folds), **attrs},
    )


def _make_run(run_dir: Path, *, sqlite: bool = False) -> Path:
    """A run directory whose study has a completed, a pruned, a failed and a running trial."""
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"task": "toy"}))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="search", storage=_writer(run_dir, sqlite=sqlite),
                                direction="maximize")
    study.add_trial(_trial(State.COMPLETE, 0.05, "mlp", [0.75, 0.71, 0.73], tune_trial_id="a0001"))
    study.add_trial(_trial(State.PRUNED, 0.002, "mlp", [0.40], tune_trial_id="a0002"))
    study.add_trial(_trial(State.FAIL, 0.09, "linear", [], tune_trial_id="a0003",
                           error="TrialError: diverged"))
    study.add_trial(_trial(State.COMPLETE, 0.01, "linear", [0.70, 0.66, 0.68], tune_trial_id="a0004"))
    study.add_trial(_trial(State.RUNNING, 0.03, "mlp", [0.72], tune_trial_id="a0005"))
    return run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_run(tmp_path_factory.mktemp("runs") / "toy-20260101-000000")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        body = response.read()
        return json.loads(body) if response.headers["Content-Type"].startswith("application/json") else body


def _origin(server: DashboardServer) -> str:
    return f"http://127.0.0.1:{server.port}"


def _study_trials(server: DashboardServer) -> list[dict[str, Any]]:
    return _get(f"{_origin(server)}/api/studies/{server.study_id}")["trials"]


def _one_line_error(run_dir: Path, **options: Any) -> str:
    with pytest.raises(UsageError) as caught:
        start(run_dir, **options)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_folder_that_is_not_a_run_directory_is_a_one_line_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    assert _one_line_error(missing).startswith(f"Run directory {missing} does not exist.")
    assert _one_line_error(tmp_path).startswith(f"{tmp_path} is not a run directory (no run.json, no ")
    (tmp_path / "run.json").write_text("{}")
    assert _one_line_error(tmp_path) == (
        f"{tmp_path} has no study.journal yet: the search writes it when its trials start. "
        "Run this again in a moment.")
    (tmp_path / "study.db").write_text("not a database")
    message = _one_line_error(tmp_path)
    assert message.startswith(f"{tmp_path / 'study.db'} cannot be read as an Optuna study (file is not a "
                              "database)")
    assert "Pass the run directory of a search made with this version" in message
    (tmp_path / "study.journal").write_text("not a journal\n{}\n")  # the journal comes first
    message = _one_line_error(tmp_path)
    assert message.startswith(f"{tmp_path / 'study.journal'} cannot be read as an Optuna study (")


def test_the_study_is_where_and_what_the_search_writes() -> None:
    from finegrain_automl import dashboard
    from finegrain_automl.search import _study

    assert (_study.STUDY_FILE, _study.STUDY_NAME) == (dashboard.JOURNAL_FILE, dashboard.STUDY_NAME)


@pytest.fixture(params=["journal", "sqlite"])
def any_run_dir(request: pytest.FixtureRequest, run_dir: Path, tmp_path: Path) -> Path:
    """The run directory of this version (a journal), and of earlier ones (SQLite)."""
    return run_dir if request.param == "journal" else _make_run(tmp_path / "old-run", sqlite=True)


def test_the_trials_view_serves_every_trial_with_its_state_value_and_details(any_run_dir: Path) -> None:
    with start(any_run_dir, port=0) as server:
        assert server.loopback and server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}/dashboard/studies/{server.study_id}"
        assert b"<html" in _get(server.url).lower()  # optuna-dashboard's own page
        (study,) = _get(f"{_origin(server)}/api/studies")["study_summaries"]
        assert study["study_name"] == "search" and study["directions"] == ["maximize"]
        detail = _get(f"{_origin(server)}/api/studies/{server.study_id}")
        trials = detail["trials"]
        assert [t["state"] for t in trials] == ["Complete", "Pruned", "Fail", "Complete", "Running"]
        assert trials[0]["values"] == [pytest.approx(0.73)] and trials[3]["values"] == [pytest.approx(0.68)]
        assert all("values" not in t for t in trials[1:3] + trials[4:])
        # The running CV F1 after each fold; the sampled parameters.
        assert [v["step"] for v in trials[0]["intermediate_values"]] == [1, 2, 3]
        params = {p["name"]: p["param_external_value"] for p in trials[0]["params"]}
        assert params == {"lr": "0.05", "model": "mlp"}
        attrs = [{a["key"]: a["value"] for a in t["user_attrs"]} for t in trials]
        assert json.loads(attrs[0]["fold_f1"]) == [0.75, 0.71, 0.73]
        assert json.loads(attrs[0]["config"]) == {"lr": 0.05, "model": "mlp", "epochs": 2}
        assert attrs[2]["error"] == "TrialError: diverged" and attrs[4]["tune_trial_id"] == "a0005"
        assert detail["best_trials"][0]["number"] == 0
        importances = _get(f"{_origin(server)}/api/studies/{server.study_id}/param_importances")
        assert {p["name"] for p in importances["param_importances"][0]} == {"lr", "model"}


def test_the_view_is_read_only(any_run_dir: Path) -> None:
    sqlite = (any_run_dir / "study.db").exists()
    before = len(optuna.load_study(study_name="search", storage=_writer(any_run_dir, sqlite=sqlite)).trials)
    with start(any_run_dir, port=0) as server:
        for method, path in [("DELETE", f"/api/studies/{server.study_id}"), ("POST", "/api/studies"),
                             ("PUT", f"/api/studies/{server.study_id}/note"), ("POST", "/api/trials/5/tell")]:
            request = urllib.request.Request(_origin(server) + path, data=b"{}", method=method)
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(request, timeout=30)
            assert caught.value.code == 405
            assert json.loads(caught.value.read()) == {"reason": READ_ONLY_REASON}
        assert len(_study_trials(server)) == before
    with pytest.raises(Exception, match="(?i)readonly|read-only|commit"):  # beneath, the storage cannot write
        open_study_storage(any_run_dir).create_new_study([optuna.study.StudyDirection.MAXIMIZE], "another")
    after = optuna.load_study(study_name="search", storage=_writer(any_run_dir, sqlite=sqlite)).trials
    assert len(after) == before


@pytest.mark.parametrize("sqlite", [False, True], ids=["journal", "sqlite"])
def test_the_view_follows_a_study_that_another_connection_writes(tmp_path: Path, sqlite: bool) -> None:
    run_dir = _make_run(tmp_path / "run", sqlite=sqlite)
    study = optuna.load_study(study_name="search", storage=_writer(run_dir, sqlite=sqlite))
    before = len(study.trials)
    added = 12
    with start(run_dir, port=0) as server:
        failures: list[BaseException] = []

        def write() -> None:
            try:
                for i in range(added):
                    study.add_trial(_trial(State.COMPLETE, 0.02, "mlp", [0.6 + i / 100]))
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        while writer.is_alive():  # the reads interleave with the writes; none fails or waits long
            started = time.monotonic()
            assert len(_study_trials(server)) >= before
            assert time.monotonic() - started < 10
        writer.join()
        assert not failures, failures
        deadline = time.monotonic() + 15  # optuna-dashboard caches the trials for a couple of seconds
        while len(trials := _study_trials(server)) < before + added and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(trials) == before + added
        assert trials[-1]["state"] == "Complete"
        assert trials[-1]["values"] == [pytest.approx(0.6 + (added - 1) / 100)]


def test_a_study_the_search_has_not_created_yet_opens_on_the_study_list(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text("{}")
    (tmp_path / "study.journal").touch()  # the search has opened it, and not yet created the study
    with start(tmp_path, port=0) as server:
        assert server.study_id is None and server.url.endswith("/dashboard")
        assert _get(f"{_origin(server)}/api/studies") == {"study_summaries": []}


def test_a_port_in_use_or_an_address_not_of_this_machine_is_a_one_line_error(run_dir: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert _one_line_error(run_dir, port=port) == (
            f"Port {port} on 127.0.0.1 is in use (another dashboard?). "
            f"Pass a free one, e.g. --port {port + 1}.")
    assert _one_line_error(run_dir, host="192.0.2.1", port=0).startswith(  # TEST-NET-1: no machine's address
        "Cannot listen on --host 192.0.2.1 (")
    assert _one_line_error(run_dir, port=70000) == "--port must be between 0 and 65535, but got 70000."


def test_serve_blocks_until_shut_down_and_says_where(run_dir: Path) -> None:
    ready: list[DashboardServer] = []
    thread = threading.Thread(target=serve, args=(run_dir,), kwargs={"port": 0, "on_ready": ready.append})
    thread.start()
    deadline = time.monotonic() + 30
    while not ready and time.monotonic() < deadline:
        time.sleep(0.1)
    (server,) = ready
    assert len(_study_trials(server)) >= 5
    server.shutdown()
    thread.join(timeout=30)
    assert not thread.is_alive()
    with pytest.raises(OSError):  # the port is closed again
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
