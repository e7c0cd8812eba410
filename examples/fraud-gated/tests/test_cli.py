"""The plugin through the command line, in a subprocess, as a user runs it after `pip install`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from fg_automl_fraud.generator import generate_transactions
from fg_automl_fraud_gated import FAMILY_NAME, SPACE

README = Path(__file__).resolve().parents[1] / "README.md"


def fg_automl(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m finegrain_automl ARGS`` with this interpreter; checked, output as text."""
    env = {**os.environ, "COLUMNS": "200"}  # one table row per line
    done = subprocess.run([sys.executable, "-m", "finegrain_automl", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)
    command = " ".join(args)
    assert done.returncode == 0, f"fg-automl {command} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done


def readme_space() -> str:
    """The ``gated-only.yaml`` the README documents (its first YAML block)."""
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks, f"{README} has no ```yaml block"
    return blocks[0]


def test_plugins_lists_the_plugin_and_its_families() -> None:
    out = fg_automl("plugins").stdout
    row = next((line for line in out.splitlines() if "fraud_gated" in line), None)
    assert row is not None, out
    assert "fg-automl-fraud-gated" in row and "ok" in row
    assert f"fraud:{FAMILY_NAME}" in out and f"disease_risk:{FAMILY_NAME}" in out


def test_space_show_fraud_lists_the_family_and_its_keys() -> None:
    out = fg_automl("space", "show", "fraud").stdout
    model_row = next(line for line in out.splitlines() if re.search(r"\bmodel\b.*branch choice", line))
    assert FAMILY_NAME in model_row and "resmlp" in model_row
    for key in SPACE:
        assert f"model.{FAMILY_NAME}.{key}" in out


def test_the_readme_documents_every_key_of_the_family_space() -> None:
    text = README.read_text()
    for key in SPACE:
        assert f"`model.{FAMILY_NAME}.{key}`" in text, key


@pytest.mark.ray
def test_a_search_restricted_to_the_family_ranks_only_its_trials(tmp_path: Path) -> None:
    space = tmp_path / "gated-only.yaml"
    space.write_text(readme_space())
    fg_automl("space", "show", "fraud", "--space", str(space))  # the README's file passes the check
    data = tmp_path / "transactions.csv"
    generate_transactions(n_rows=2_000, fraud_rate=0.03, seed=3).to_csv(data, index=False)

    done = fg_automl(
        "search", "--task", "fraud", "--data", str(data), "--space", str(space), "--trials", "2",
        "--folds", "2", "--max-epochs", "1", "--time-budget", "90", "--no-dashboard", "--ensemble", "0",
        "--output", str(tmp_path / "runs"), "--json",
    )
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    board = pd.read_csv(Path(summary["run_dir"]) / "leaderboard.csv")
    assert len(board) >= 1
    assert set(board["model"]) == {FAMILY_NAME}
    assert summary["best"]["config"]["model"] == FAMILY_NAME
    assert summary["final"]["kind"] == "single" and 0.0 <= summary["final"]["test_f1"] <= 1.0
