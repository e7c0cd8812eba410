"""A tiny real search in a subprocess, with the plugin installed: its run directory gets the log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest
from fg_automl_trial_log import FILE_NAME, LOG_ENV

pytestmark = pytest.mark.ray


def test_a_search_logs_its_start_each_reported_fold_and_its_end(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != LOG_ENV}
    done = subprocess.run(
        [sys.executable, "-m", "finegrain_automl", "search", "--task", "disease_risk", "--trials", "2",
         "--folds", "2", "--max-epochs", "1", "--time-budget", "60", "--no-dashboard", "--ensemble", "0",
         "--output", str(tmp_path / "runs"), "--json"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    run_dir = Path(json.loads(done.stdout.strip().splitlines()[-1])["run_dir"])
    record = json.loads((run_dir / "run.json").read_text())
    lines = [json.loads(line) for line in (run_dir / FILE_NAME).read_text().splitlines()]

    events = [line["event"] for line in lines]
    assert events[0] == "start" and events[-1] == "end"
    assert events.count("start") == 1 and events.count("end") == 1
    assert set(events[1:-1]) == {"trial_result"}
    assert all(line["task"] == "disease_risk" for line in lines)
    assert lines[0]["run_dir"] == str(run_dir) and lines[0]["settings"] == record["settings"]
    assert lines[-1]["best"] == record["best"] and lines[-1]["trials"] == record["trials"]

    # One trial_result line per fold a trial reported, as Ray Tune recorded the reports (result.json).
    reported = [json.loads(line) for path in (run_dir / "tune").glob("*/result.json")
                for line in path.read_text().splitlines()]
    assert reported, "Ray Tune recorded no result"
    key = ("trial_id", "folds_done", "cv_f1")
    assert sorted(tuple(line[k] for k in key) for line in lines[1:-1]) == sorted(
        tuple(result[k] for k in key) for result in reported
    )
    # Each trial's folds arrive in order, and a ranked trial reported every one of its folds.
    folds: dict[str, list[int]] = defaultdict(list)
    for line in lines[1:-1]:
        folds[line["trial_id"]].append(line["folds_done"])
    assert all(reports == list(range(1, len(reports) + 1)) for reports in folds.values())
    for row in pd.read_csv(run_dir / "leaderboard.csv").itertuples():
        assert len(folds[row.trial_id]) == row.folds
