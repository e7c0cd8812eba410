"""Failures and crash recovery: a trial that raises or scores NaN fails alone,
a worker that dies is retried, and a search killed with SIGKILL resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest

from finegrain_automl import hookimpl
from finegrain_automl.api import DataOptions, prepare_search, run_prepared_search
from finegrain_automl.plugins import make_registry
from finegrain_automl.record import validate as validate_record
from finegrain_automl.search import SearchSettings
from finegrain_automl.search._study import open_study
from finegrain_automl.space import Space
from finegrain_automl.testing import ToyTask

pytestmark = pytest.mark.ray

State = optuna.trial.TrialState


class _FlakyTask(ToyTask):
    """The toy task with a ``mode`` hyperparameter: ``raise`` fails in fit,
    ``nan`` scores NaN, ``die`` kills its worker process on the first attempt
    of a trial only; each fit leaves a file in ``MARKS`` to count attempts."""

    name = "flaky"
    hyperparameters = frozenset({"epochs", "lr", "mode"})

    def default_space(self) -> Space:
        return Space.from_dict({
            "epochs": 1, "lr": 0.05, "mode": {"choice": ["ok", "raise", "nan", "die"]},
            "model": {"choice": {"linear": None}},
        })

    def starting_points(self) -> list[dict[str, Any]]:
        return [{"mode": "raise"}, {"mode": "nan"}, {"mode": "die"}, {"mode": "ok"}]

    def fit(self, *, config, family, family_params, train, context):
        mode = config["mode"]
        marks = Path(os.environ["FG_TEST_MARKS"])
        attempt = len(list(marks.glob(f"{mode}-*"))) + 1
        (marks / f"{mode}-{attempt}-{os.getpid()}-{time.monotonic_ns()}").touch()
        if mode == "raise":
            raise ValueError("this configuration cannot be fitted")
        if mode == "die" and attempt == 1:
            os._exit(1)  # the worker process dies mid-trial, as on a lost node
        model = super().fit(config=config, family=family, family_params=family_params, train=train,
                            context=context)
        model.mode = mode
        return model

    def evaluate(self, model, data):
        metrics = super().evaluate(model, data)
        if getattr(model, "mode", "ok") == "nan":
            metrics["f1"] = float("nan")
        return metrics


class _FlakyPlugin:
    @hookimpl
    def fg_automl_tasks(self):
        return [_FlakyTask()]


def test_failing_trials_are_recorded_with_their_errors_and_a_dead_worker_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("FG_TEST_MARKS", str(marks))  # inherited by the local Ray's workers
    registry = make_registry(plugins=[("flaky", _FlakyPlugin())], autoload=False)
    settings = SearchSettings(trials=4, folds=2, repeats=1, time_budget_s=None, concurrency=1, dashboard=False,
                              searcher="random", ensemble=0)
    prepared = prepare_search(registry, task_name="flaky", settings=settings, data=DataOptions())
    summary = run_prepared_search(prepared, registry, output=tmp_path / "runs").to_dict()
    validate_record(json.loads(json.dumps(summary)))

    assert summary["trials"] == {"total": 4, "completed": 2, "pruned": 0, "failed": 2}
    assert summary["best"]["config"]["mode"] in ("ok", "die")
    errors = " | ".join(summary["errors"])
    assert "ValueError: this configuration cannot be fitted" in errors and "scored F1 nan" in errors
    study = open_study(Path(summary['run_dir']))
    by_mode = {t.params["mode"]: t for t in study.trials}
    assert by_mode["raise"].state == by_mode["nan"].state == State.FAIL
    assert "cannot be fitted" in by_mode["raise"].user_attrs["error"]
    assert by_mode["die"].state == by_mode["ok"].state == State.COMPLETE
    assert by_mode["ok"].user_attrs["folds_done"] == 2 and len(by_mode["ok"].user_attrs["fold_f1"]) == 2
    attempts = {mode: len(list(marks.glob(f"{mode}-*"))) for mode in ("raise", "nan", "die", "ok")}
    # The dead worker's trial ran again (FailureConfig) and completed; an error of the
    # configuration's own was not fitted again (its retries failed at once).
    refit = {mode: int(summary["best"]["config"]["mode"] == mode) for mode in ("die", "ok")}
    assert attempts["die"] == 3 + refit["die"]  # fold 1 died, then folds 1 and 2 of the retry
    assert attempts["raise"] == 1
    assert attempts["nan"] == 1  # the NaN came after fold 1's fit; no retry fitted again
    assert attempts["ok"] == 2 + refit["ok"]


from finegrain_automl.testing import TOY_CLI as _TOY_CLI  # noqa: E402


def _cli(*args: str, **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _TOY_CLI, *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=600, **kwargs)


def _finished(study_file: Path) -> list[Any]:
    try:
        study = open_study(study_file.parent)
    except Exception:  # noqa: BLE001 - the study is being created
        return []
    return [t for t in study.trials if t.state in (State.COMPLETE, State.PRUNED, State.FAIL)]


def test_a_search_killed_with_sigkill_resumes_without_losing_or_repeating_trials(tmp_path: Path) -> None:
    output = tmp_path / "runs"
    trials = 14
    process = subprocess.Popen(
        [sys.executable, "-c", _TOY_CLI, "search", "--task", "toy", "--trials", str(trials), "--time-budget", "400",
         "--folds", "2", "--no-dashboard", "--ensemble", "0", "--output", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        before: list[Any] = []
        while time.monotonic() < deadline and len(before) < 3 and process.poll() is None:
            time.sleep(0.5)
            before = [t for f in output.glob("*/study.journal") for t in _finished(f)]
        if process.poll() is not None:
            pytest.fail(f"the search exited ({process.returncode}) before it was killed: {process.stderr.read()[-3000:]}")
        assert len(before) >= 3, "3 trials did not end within 240 s"
        os.kill(process.pid, signal.SIGKILL)  # the driver only: Ray's own processes are left as a crash leaves them
        process.wait(timeout=30)
        (run_dir,) = output.iterdir()
        before = _finished(run_dir / "study.journal")
        assert len(before) < trials, "the search ended before it was killed: raise --trials"
        assert not (run_dir / "model.pt").exists()

        conflict = _cli("search", "--resume", str(run_dir), "--trials", "3")
        assert conflict.returncode == 2 and "Traceback" not in conflict.stderr
        assert "--trials 3 conflicts with the run being resumed (--trials 14)" in " ".join(conflict.stderr.split())

        resumed = _cli("search", "--resume", str(run_dir), "--json")
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        summary = json.loads(resumed.stdout)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # whatever the killed driver's Ray left behind
        except ProcessLookupError:
            pass
    validate_record(summary)
    assert summary["resumed"] == 1 and summary["trials"]["total"] == trials
    assert (run_dir / "model.pt").exists()

    study = open_study(run_dir)
    outcomes = [t for t in study.trials if not t.user_attrs.get("interrupted")]
    assert len(outcomes) == trials and all(t.state != State.RUNNING for t in study.trials)
    # No completed trial lost: each one that ended before the kill is unchanged and ranked.
    after = {t.number: t for t in study.trials}
    for trial in before:
        assert after[trial.number].state == trial.state and after[trial.number].value == trial.value
    leaderboard = pd.read_csv(run_dir / "leaderboard.csv")
    ranked_before = {t.user_attrs["tune_trial_id"] for t in before if t.state == State.COMPLETE}
    assert ranked_before <= set(leaderboard["trial_id"])
    # None run again: a trial that was running at the kill is marked and its configuration re-run once.
    interrupted = [t for t in study.trials if t.user_attrs.get("interrupted")]
    assert all(t.state == State.FAIL for t in interrupted)
    assert [t.user_attrs["session"] for t in outcomes].count(1) == len(before)
    # The resumed run is its own Tune experiment, and it agrees with the study: each of its
    # Tune trial folders is a study trial of session 2, and each such trial that ended has its folder.
    assert (run_dir / "tune").is_dir()
    folders = [p.name for p in (run_dir / "tune-2").iterdir() if p.is_dir()]
    resumed_trials = [t for t in study.trials if t.user_attrs.get("session") == 2]
    ids = {t.user_attrs["tune_trial_id"] for t in resumed_trials}
    assert folders and all(sum(i in f for i in ids) == 1 for f in folders), (folders, ids)
    assert all(any(t.user_attrs["tune_trial_id"] in f for f in folders) for t in resumed_trials)
