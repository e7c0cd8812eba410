"""A tiny churn search through the command line, in a process of its own, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.ray


def test_tiny_search_on_the_built_in_data_writes_a_leaderboard(tmp_path: Path) -> None:
    output = tmp_path / "runs"
    command = [
        sys.executable, "-m", "finegrain_automl", "search", "--task", "churn", "--trials", "2", "--folds", "2",
        "--max-epochs", "1", "--time-budget", "60", "--no-dashboard", "--ensemble", "0", "--json",
        "--output", str(output),
    ]  # fmt: skip
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["task"] == "churn"
    assert summary["trials"]["completed"] >= 1
    run_dir = Path(summary["run_dir"])
    assert run_dir.parent == output
    board = pd.read_csv(run_dir / "leaderboard.csv")
    assert len(board) == summary["trials"]["completed"]
    assert board["cv_f1_mean"].between(0, 1).all()
    assert set(board["model"]) <= {"linear", "resmlp", "tabm", "ft_transformer"}
    # --ensemble 0: one trial is refit on the development rows and scored once on the test rows.
    assert summary["final"]["kind"] == "single"
    assert 0.0 <= summary["final"]["test_f1"] <= 1.0
