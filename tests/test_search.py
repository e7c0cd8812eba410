"""A real (tiny) search through Ray Tune with the toy task: ranking, refit, hooks, predict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
import torch

from finegrain_automl import UsageError, hookimpl
from finegrain_automl.api import (
    DataOptions,
    NoCompletedTrialError,
    predict,
    prepare_search,
    run_prepared_search,
)
from finegrain_automl.plugins import make_registry
from finegrain_automl.record import validate as validate_record
from finegrain_automl.results import MODEL_FILE, jsonable, select_winner
from finegrain_automl.search import SearchSettings
from finegrain_automl.search._study import open_study
from finegrain_automl.task import ModelFamily
from finegrain_automl.testing import ToyTask, make_toy_data

pytestmark = pytest.mark.ray


class _Observer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def fg_automl_search_start(self, task_name: str, run_dir: Path, settings: dict) -> None:
        self.calls.append(("fg_automl_search_start", settings))

    @hookimpl
    def fg_automl_trial_result(self, trial: dict) -> None:  # a subset of the arguments is fine
        self.calls.append(("fg_automl_trial_result", trial))

    @hookimpl
    def fg_automl_search_end(self, task_name: str, run_dir: Path, summary: dict) -> None:
        self.calls.append(("fg_automl_search_end", summary))


class _RaisingObserver:
    @hookimpl
    def fg_automl_trial_result(self, trial: dict) -> None:
        raise RuntimeError("a broken notifier must not stop the search")


class _ToyPlugin:
    @hookimpl
    def fg_automl_tasks(self):
        return [ToyTask()]


@pytest.fixture(autouse=True)
def _ray_is_shut_down():
    yield
    import ray

    assert not ray.is_initialized(), "a test left Ray running"


def test_tiny_search_ranks_refits_saves_and_predicts(tmp_path: Path) -> None:
    observer = _Observer()
    registry = make_registry(
        plugins=[("toy", _ToyPlugin()), ("observer", observer), ("raising", _RaisingObserver())], autoload=False
    )
    settings = SearchSettings(trials=3, folds=2, repeats=2, time_budget_s=300, concurrency=2, dashboard=False)
    prepared = prepare_search(registry, task_name="toy", settings=settings, data=DataOptions())
    assert len(prepared.splits.folds) == 4  # 2 folds, 2 passes
    summary = run_prepared_search(prepared, registry, output=tmp_path / "runs").to_dict()

    run_dir = Path(summary["run_dir"])
    assert run_dir.parent == (tmp_path / "runs").resolve()
    trials = summary["trials"]
    assert trials["total"] == 3 and trials["completed"] + trials["pruned"] + trials["failed"] == 3
    assert trials["completed"] >= 1

    board = pd.read_csv(run_dir / "leaderboard.csv")
    assert len(board) == trials["completed"]
    assert list(board["rank"]) == list(range(1, len(board) + 1))
    assert board["cv_f1_mean"].is_monotonic_decreasing
    assert (board["folds"] == 4).all()  # every fold of both passes
    assert summary["settings"]["repeats"] == 2
    best = summary["best"]
    # The refit trial is the one the one-standard-error rule picks from the leaderboard.
    rows = json.loads((run_dir / "leaderboard.json").read_text())
    complexity = {name: family.complexity for name, family in prepared.families.items()}
    assert complexity == {"linear": 0, "mlp": 1}
    chosen, selection = select_winner(rows, rule="one-se", complexity=complexity)
    assert best["trial_id"] == chosen["trial_id"] and best["selection"] == selection
    assert best["cv_f1_mean"] == pytest.approx(board["cv_f1_mean"].iloc[best["rank"] - 1])
    assert best["config"]["model"] in {"linear", "mlp"}
    assert 0.0 <= best["test_f1"] <= 1.0

    # The Optuna study is in SQLite inside the run directory and saw every trial.
    study = open_study(run_dir)
    assert len(study.trials) == 3
    # The task's starting point runs first, exactly as given.
    assert summary["starting_points"] == [{"lr": 0.05, "model": "mlp", "model.mlp.hidden": 8}]
    assert study.trials[0].params == {"lr": 0.05, "model": "mlp", "model.mlp.hidden": 8}
    states = [t.state for t in study.trials]
    # Trials ASHA stopped before their last fold are PRUNED, not COMPLETE with a partial score.
    assert states.count(optuna.trial.TrialState.COMPLETE) == trials["completed"]
    assert states.count(optuna.trial.TrialState.PRUNED) == trials["pruned"]
    for name in ("run.json", "space.yaml", "splits.json", "leaderboard.json", "report.md", "tune"):
        assert (run_dir / name).exists(), name
    # run.json is the returned record, and matches the published schema.
    saved_record = json.loads((run_dir / "run.json").read_text())
    validate_record(saved_record)
    assert saved_record == json.loads(json.dumps(jsonable(summary)))
    assert summary["data"]["split"] == "stratified by the target"
    # splits.json names the rows of the test split and of every fold, as the search used them.
    recorded = json.loads((run_dir / "splits.json").read_text())
    assert recorded["test"] == prepared.splits.test.tolist()
    assert [(f["pass"], f["fold"]) for f in recorded["folds"]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for fold, (_, valid) in zip(recorded["folds"], prepared.splits.folds, strict=True):
        assert fold["validation"] == valid.tolist()

    # The model loads without unpickling code, and predict applies it to new rows.
    saved = torch.load(run_dir / MODEL_FILE, weights_only=True)
    assert saved["task"] == "toy"
    rows = make_toy_data(n_rows=25, seed=9)
    rows.drop(columns=["label"]).to_csv(tmp_path / "new.csv", index=False)
    predictions = predict(registry, run_dir=run_dir, data_path=tmp_path / "new.csv")
    assert len(predictions) == 25
    assert predictions["probability"].between(0, 1).all()
    assert set(predictions["label"]) <= {0, 1}

    # A run directory written before the run record had a schema still predicts;
    # one from another schema version is a clear error.
    import shutil

    old = shutil.copytree(run_dir, tmp_path / "old-run")
    legacy = {k: v for k, v in saved_record.items() if k not in ("schema", "leaderboard")}
    legacy["data"] = {k: v for k, v in legacy["data"].items() if k not in ("split", "train_only_rows")}
    (old / "run.json").write_text(json.dumps(legacy))
    assert len(predict(registry, run_dir=old, data_path=tmp_path / "new.csv")) == 25
    (old / "run.json").write_text(json.dumps({**legacy, "schema": "finegrain_automl.run/9"}))
    with pytest.raises(UsageError, match="another version of finegrain-automl.*run the search again"):
        predict(registry, run_dir=old, data_path=tmp_path / "new.csv")

    # Predicting the held-out test rows from a file reproduces the reported test F1.
    test_rows = prepared.data.take(prepared.splits.test)
    test_rows.features.to_csv(tmp_path / "test.csv", index=False)
    on_test = predict(registry, run_dir=run_dir, data_path=tmp_path / "test.csv")
    assert prepared.task.metrics(test_rows, on_test)["f1"] == pytest.approx(best["test_f1"])

    names = [name for name, _ in observer.calls]
    assert names[0] == "fg_automl_search_start" and names[-1] == "fg_automl_search_end"
    trial_results = [payload for name, payload in observer.calls if name == "fg_automl_trial_result"]
    assert len(trial_results) >= 3  # at least one report per trial
    assert {"trial_id", "config", "folds_done", "cv_f1"} <= set(trial_results[0])


def _explode(n_inputs: int, *, size: int = 1) -> Any:
    raise RuntimeError("this architecture cannot be built")


class _BrokenFamilyTask(ToyTask):
    name = "toy_broken"

    def model_families(self):
        return {"explode": ModelFamily(name="explode", build=_explode)}

    def default_space(self):
        from finegrain_automl.space import Space

        return Space.from_dict({"epochs": 1, "lr": 0.01, "model": {"choice": {"explode": None}}})


class _BrokenPlugin:
    @hookimpl
    def fg_automl_tasks(self):
        return [_BrokenFamilyTask()]


def test_search_where_every_trial_fails_keeps_the_run_directory(tmp_path: Path) -> None:
    registry = make_registry(plugins=[("broken", _BrokenPlugin())], autoload=False)
    settings = SearchSettings(trials=1, folds=2, repeats=3, time_budget_s=300, concurrency=1, dashboard=False)
    prepared = prepare_search(registry, task_name="toy_broken", settings=settings, data=DataOptions())
    with pytest.raises(NoCompletedTrialError, match=r"No trial completed all 6 folds of 2-fold CV repeated 3 times \(0 pruned, 1 failed\)"):
        run_prepared_search(prepared, registry, output=tmp_path)
    (run_dir,) = tmp_path.iterdir()
    assert (run_dir / "leaderboard.csv").exists() and (run_dir / "run.json").exists()
    assert not (run_dir / MODEL_FILE).exists()


@pytest.mark.parametrize(("searcher", "scheduler"), [("random", "hyperband"), ("gp", "median")])
def test_other_searchers_and_schedulers_run_and_are_recorded(tmp_path: Path, searcher: str, scheduler: str) -> None:
    registry = make_registry(plugins=[("toy", _ToyPlugin())], autoload=False)
    settings = SearchSettings(trials=3, folds=2, repeats=1, time_budget_s=300, concurrency=2, dashboard=False,
                              searcher=searcher, scheduler=scheduler, ensemble=0)
    prepared = prepare_search(registry, task_name="toy", settings=settings, data=DataOptions())
    summary = run_prepared_search(prepared, registry, output=tmp_path / "runs").to_dict()
    assert summary["settings"]["searcher"] == searcher and summary["settings"]["scheduler"] == scheduler
    assert summary["trials"]["total"] == 3 and summary["trials"]["completed"] >= 1
    report = (Path(summary["run_dir"]) / "report.md").read_text()
    assert f"searcher: {searcher} (" in report and f"scheduler: {scheduler} (" in report
    study = open_study(Path(summary['run_dir']))
    assert len(study.trials) == 3


@pytest.mark.parametrize(
    ("address", "error", "fragment"),
    [
        (None, "RayStartError", "Ray did not start on this machine: The current node timed out during startup."),
        ("LISTENING", "UsageError", "Could not join the Ray cluster at --address 127.0.0.1:"),
    ],
)
def test_ray_that_does_not_start_is_a_one_line_error(monkeypatch, address, error, fragment) -> None:
    import socket

    import ray

    from finegrain_automl.errors import FgAutomlError
    from finegrain_automl.search import SearchSettings, ray_session

    listener = socket.create_server(("127.0.0.1", 0))  # something answers, but it is not a Ray head
    if address == "LISTENING":
        address = f"127.0.0.1:{listener.getsockname()[1]}"

    def fail(**_):
        raise Exception("The current node timed out during startup.")  # what Ray raises on a loaded machine

    shutdowns = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda address=None, **options: fail())
    monkeypatch.setattr(ray, "shutdown", lambda: shutdowns.append(True))
    with pytest.raises(FgAutomlError) as caught, ray_session(SearchSettings(address=address, dashboard=False)):
        pass
    listener.close()
    assert type(caught.value).__name__ == error and str(caught.value).startswith(fragment)
    assert "\n" not in str(caught.value) and shutdowns == [True]  # a half-started local instance is stopped


def test_an_address_nothing_answers_is_a_one_line_error_before_ray_is_called(monkeypatch) -> None:
    import socket

    import ray

    from finegrain_automl.errors import UsageError
    from finegrain_automl.search import SearchSettings, ray_session

    with socket.create_server(("127.0.0.1", 0)) as probe:  # a loopback port that is then closed
        port = probe.getsockname()[1]
    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **options: calls.append(options))
    for address, fragment in [(f"127.0.0.1:{port}", f"Nothing answers at --address 127.0.0.1:{port} (connection "
                                                   "refused)"),
                              ("127.0.0.1", "--address 127.0.0.1 is not host:port")]:
        with pytest.raises(UsageError) as caught, ray_session(SearchSettings(address=address, dashboard=False)):
            pass
        assert str(caught.value).startswith(fragment) and "\n" not in str(caught.value), caught.value
    assert calls == []  # Ray, which would wait for ever, is never asked


def test_the_dashboard_token_file_is_made_readable_by_its_owner_only(monkeypatch, tmp_path: Path) -> None:
    from finegrain_automl.search import secure_auth_token

    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    assert secure_auth_token(create=False) is None  # nothing to secure yet
    created = secure_auth_token(create=True)
    assert created == tmp_path / ".ray" / "auth_token" and created.stat().st_mode & 0o777 == 0o600
    assert len(created.read_text().strip()) >= 32  # Ray's own generator
    created.chmod(0o644)  # as Ray writes it
    token = created.read_text()
    assert secure_auth_token(create=True) == created and created.stat().st_mode & 0o777 == 0o600
    assert created.read_text() == token  # kept, not replaced
    elsewhere = tmp_path / "token"
    elsewhere.write_text("abc")
    elsewhere.chmod(0o644)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(elsewhere))
    assert secure_auth_token(create=False) == elsewhere and elsewhere.stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("RAY_AUTH_TOKEN", "in-the-environment")
    assert secure_auth_token(create=True) is None
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    assert secure_auth_token(create=True) is None


@pytest.mark.ray
def test_a_local_ray_with_its_dashboard_uses_an_owner_only_token_and_says_how_to_sign_in(tmp_path: Path) -> None:
    """In a fresh process (Ray caches the token it first read for the life of the process)."""
    import json
    import os
    import subprocess
    import sys

    token = tmp_path / ".ray" / "auth_token"
    token.parent.mkdir()
    token.write_text("0123456789abcdef0123456789abcdef")
    token.chmod(0o644)  # what Ray 2.60 leaves
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")}
    completed = subprocess.run([sys.executable, "-c", _DASHBOARD_CHECK], env={**env, "HOME": str(tmp_path)},
                               capture_output=True, text=True, timeout=240, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    seen = json.loads(completed.stdout.strip().splitlines()[-1])
    assert seen["mode"] == 0o600 and seen["token"] == "0123456789abcdef0123456789abcdef"
    assert seen["url"].startswith("http://127.0.0.1:")
    assert str(token) in seen["sign_in"] and "Bearer" in seen["sign_in"]
    assert seen["without"] == 401 and seen["with"] == 200  # Ray uses that token for its dashboard
    assert seen["after"] is False


_DASHBOARD_CHECK = """
import json, pathlib, time, urllib.error, urllib.request
import ray
from finegrain_automl.search import SearchSettings, ray_session

def status(url, headers):
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(url + "/api/version", headers=headers), timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)

token = pathlib.Path.home() / ".ray" / "auth_token"
with ray_session(SearchSettings(dashboard=True)) as session:
    seen = {"mode": token.stat().st_mode & 0o777, "token": token.read_text(), "url": session.dashboard_url,
            "sign_in": session.dashboard_sign_in, "without": status(session.dashboard_url, {}),
            "with": status(session.dashboard_url, {"Authorization": "Bearer " + token.read_text()})}
seen["after"] = ray.is_initialized()
print(json.dumps(seen))
"""
