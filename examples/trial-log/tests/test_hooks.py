"""The observer hooks called directly, and through a plugin manager, with a temporary run directory."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import fg_automl_trial_log
import numpy as np
import pytest
from fg_automl_trial_log import (
    END_KEYS,
    FILE_NAME,
    LOG_ENV,
    fg_automl_search_end,
    fg_automl_search_start,
    fg_automl_trial_result,
)

from finegrain_automl.plugins import make_registry

SETTINGS = {"trials": 2, "folds": 2, "seed": 0, "address": None}
SUMMARY = {
    "schema": "run/1",
    "run_dir": "RUN",
    "task": "toy",
    "settings": SETTINGS,
    "leaderboard": [{"rank": 1}],
    "trials": {"total": 2, "completed": 2, "pruned": 0, "failed": 0},
    "best": {"trial_id": "b", "config": {"model": "mlp"}, "cv_f1_mean": 0.5},
    "final": {"kind": "single", "test_f1": 0.4},
    "elapsed_s": 3.5,
}


def trial(trial_id: str, folds_done: int, cv_f1: float) -> dict[str, Any]:
    return {"trial_id": trial_id, "config": {"model": "mlp", "lr": 0.01}, "folds_done": folds_done,
            "cv_f1": cv_f1, "cv_f1_std": 0.0, "fold_seconds": 1.25}


def strict_lines(path: Path) -> list[dict[str, Any]]:
    """The file's lines as strict JSON objects (NaN or Infinity would fail)."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line, parse_constant=refuse) for line in text.splitlines()]


@pytest.fixture(autouse=True)
def no_log_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LOG_ENV, raising=False)


def test_one_line_per_event_in_order_in_the_run_directory(tmp_path: Path) -> None:
    fg_automl_search_start(task_name="toy", run_dir=tmp_path, settings=SETTINGS)
    fg_automl_trial_result(task_name="toy", run_dir=tmp_path, trial=trial("a", 1, 0.25))
    fg_automl_trial_result(task_name="toy", run_dir=tmp_path, trial=trial("a", 2, 0.5))
    fg_automl_search_end(task_name="toy", run_dir=tmp_path, summary=SUMMARY)

    lines = strict_lines(tmp_path / FILE_NAME)
    assert [line["event"] for line in lines] == ["start", "trial_result", "trial_result", "end"]
    for line in lines:
        assert list(line)[:3] == ["event", "time", "task"] and line["task"] == "toy"
        assert datetime.fromisoformat(line["time"]).utcoffset() is not None  # ISO 8601, with its time zone
    times = [datetime.fromisoformat(line["time"]) for line in lines]
    assert times == sorted(times)
    assert lines[0]["run_dir"] == str(tmp_path) and lines[0]["settings"] == SETTINGS
    assert {k: v for k, v in lines[2].items() if k not in ("event", "time", "task")} == trial("a", 2, 0.5)
    # The end line: the summary's outcome, not the whole run record (that is run.json).
    end = lines[3]
    assert set(end) - {"event", "time", "task"} == set(END_KEYS) & set(SUMMARY)
    assert end["best"] == SUMMARY["best"] and end["trials"] == SUMMARY["trials"]
    assert "leaderboard" not in end and "settings" not in end


def test_lines_are_appended_to_an_existing_log(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text('{"event": "earlier"}\n')
    fg_automl_trial_result(task_name="toy", run_dir=tmp_path, trial=trial("a", 1, 0.25))
    assert [line["event"] for line in strict_lines(tmp_path / FILE_NAME)] == ["earlier", "trial_result"]


def test_values_that_are_not_strict_json_are_made_so(tmp_path: Path) -> None:
    odd = {**trial("a", 1, float("nan")), "cv_f1_std": np.float32(0.125), "fold_seconds": np.inf,
           "config": {"model": "mlp", "sizes": np.array([1, 2]), "path": Path("/x")}}
    fg_automl_trial_result(task_name="toy", run_dir=tmp_path, trial=odd)
    [line] = strict_lines(tmp_path / FILE_NAME)
    assert line["cv_f1"] is None and line["fold_seconds"] is None and line["cv_f1_std"] == 0.125
    assert line["config"] == {"model": "mlp", "sizes": [1, 2], "path": "/x"}


def test_the_environment_variable_names_another_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir, elsewhere = tmp_path / "run", tmp_path / "logs" / "all-searches.jsonl"
    run_dir.mkdir()
    monkeypatch.setenv(LOG_ENV, str(elsewhere))
    fg_automl_search_start(task_name="toy", run_dir=run_dir, settings=SETTINGS)
    fg_automl_search_start(task_name="other", run_dir=run_dir, settings=SETTINGS)
    assert [line["task"] for line in strict_lines(elsewhere)] == ["toy", "other"]
    assert not (run_dir / FILE_NAME).exists()


def test_a_relative_file_name_is_taken_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(LOG_ENV, "search.jsonl")
    fg_automl_search_start(task_name="toy", run_dir=tmp_path / "run", settings=SETTINGS)
    assert strict_lines(tmp_path / "search.jsonl")[0]["event"] == "start"


def test_a_file_that_cannot_be_written_warns_once_and_never_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "not-a-folder").write_text("a file where the log's folder should be")
    monkeypatch.setenv(LOG_ENV, str(tmp_path / "not-a-folder" / "log.jsonl"))
    with caplog.at_level(logging.WARNING, logger=fg_automl_trial_log.__name__):
        fg_automl_search_start(task_name="toy", run_dir=tmp_path, settings=SETTINGS)
        fg_automl_trial_result(task_name="toy", run_dir=tmp_path, trial=trial("a", 1, 0.25))
        fg_automl_search_end(task_name="toy", run_dir=tmp_path, summary=SUMMARY)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "not-a-folder" in warnings[0].getMessage() and LOG_ENV in warnings[0].getMessage()


def test_the_core_calls_the_hooks_through_its_plugin_manager(tmp_path: Path) -> None:
    registry = make_registry(plugins=[("trial_log", fg_automl_trial_log)], autoload=False)
    assert registry.plugins["trial_log"].errors == []
    registry.notify("fg_automl_search_start", task_name="toy", run_dir=tmp_path, settings=SETTINGS)
    registry.notify("fg_automl_trial_result", task_name="toy", run_dir=tmp_path, trial=trial("a", 1, 0.25))
    registry.notify("fg_automl_search_end", task_name="toy", run_dir=tmp_path, summary=SUMMARY)
    assert [line["event"] for line in strict_lines(tmp_path / FILE_NAME)] == ["start", "trial_result", "end"]


def test_the_installed_plugin_is_found_through_its_entry_point() -> None:
    info = make_registry().plugins["trial_log"]
    assert info.errors == [] and info.api == "1.0" and info.distribution == "fg-automl-trial-log"
