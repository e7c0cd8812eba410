"""A tiny real fraud search through the CLI and Ray Tune: leaderboard, ensemble, refit, predict.

Also the same search joining an already running Ray instance with --address,
with --ensemble 0 (one refit trial).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from fg_automl_fraud.generator import generate_transactions
from typer.testing import CliRunner

from finegrain_automl.cli import app
from finegrain_automl.record import validate as validate_record

pytestmark = pytest.mark.ray
runner = CliRunner()


@pytest.fixture(scope="module")
def transactions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    frame = generate_transactions(n_rows=3_000, fraud_rate=0.03, seed=4)
    frame.to_csv(folder / "train.csv", index=False)
    frame.drop(columns=["is_fraud"]).head(40).to_csv(folder / "new.csv", index=False)
    return folder


def _search(*args: str):
    return runner.invoke(
        app,
        ["search", "--task", "fraud", "--trials", "3", "--folds", "2", "--max-epochs", "1",
         "--no-dashboard", "--json", *args],
    )


def test_tiny_fraud_search_then_predict(transactions: Path, tmp_path: Path) -> None:
    # --no-ensemble-check: the ensemble is kept even where it does not beat the best single trial.
    result = _search("--data", str(transactions / "train.csv"), "--output", str(tmp_path / "runs"),
                     "--no-ensemble-check")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    validate_record(summary)  # the published run-record schema
    assert summary["task"] == "fraud" and "ensemble_check" not in summary
    assert {"completed", "pruned", "failed"} <= set(summary["trials"])
    assert summary["trials"]["completed"] >= 1
    best = summary["best"]
    assert {"config", "cv_f1_mean", "cv_f1_std"} <= set(best)
    assert best["config"]["model"] in {"linear", "resmlp", "realmlp", "tabm", "ft_transformer"}
    run_dir = Path(summary["run_dir"])
    # The saved model is an ensemble of the best trials, chosen on their
    # out-of-fold predictions, which the run directory keeps (one file per completed trial).
    ensemble, final = summary["ensemble"], summary["final"]
    assert final["kind"] == "ensemble" and final["test_f1"] == pytest.approx(ensemble["test_f1"])
    members = {m["trial_id"] for m in ensemble["members"]}
    assert members <= set(pd.read_csv(run_dir / "leaderboard.csv")["trial_id"])
    assert sum(m["weight"] for m in ensemble["members"]) == pytest.approx(1.0)
    assert 0 < ensemble["decision"]["threshold"] < 1
    kept = {p.stem for p in (run_dir / "predictions").glob("*.npy")}
    assert members <= kept and len(kept) == summary["trials"]["completed"]
    assert "## Final model: ensemble of the best trials" in (run_dir / "report.md").read_text()
    board = pd.read_csv(run_dir / "leaderboard.csv")
    assert len(board) == summary["trials"]["completed"]
    # The refit trial is the leaderboard row the selection rule names.
    assert best["selection"]["rule"] == "one-se" and best["selection"]["rank"] == best["rank"]
    assert board["trial_id"].iloc[best["rank"] - 1] == best["trial_id"]
    assert board["cv_f1_mean"].iloc[best["rank"] - 1] == pytest.approx(best["cv_f1_mean"])

    out = tmp_path / "predictions.csv"
    predicted = runner.invoke(app, ["predict", "--run", str(run_dir), "--data", str(transactions / "new.csv"),
                                    "--output", str(out)])
    assert predicted.exit_code == 0, predicted.output
    predictions = pd.read_csv(out)
    assert len(predictions) == 40
    assert set(predictions["label"]) <= {0, 1}
    assert predictions["probability"].between(0, 1).all()

    # Rows that lack a column the model was trained on: a clear error, not a traceback.
    pd.read_csv(transactions / "new.csv").drop(columns=["amount"]).to_csv(tmp_path / "bad.csv", index=False)
    bad = runner.invoke(app, ["predict", "--run", str(run_dir), "--data", str(tmp_path / "bad.csv")])
    assert bad.exit_code == 2 and "amount" in bad.output and "Traceback" not in bad.output


_CLUSTER = """
import os, sys, time, ray
ray.init(num_cpus=2, include_dashboard=False)
print(ray.get_runtime_context().gcs_address, flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.2)
ray.shutdown()
"""


def test_search_joins_an_existing_ray_instance_with_address(transactions: Path, tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    cluster = subprocess.Popen([sys.executable, "-c", _CLUSTER, str(stop)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        ready, _, _ = select.select([cluster.stdout], [], [], 120)
        assert ready, "the Ray instance did not start within 120 s"
        address = cluster.stdout.readline().strip()
        assert address.startswith("127.0.0.1:"), address
        result = _search("--data", str(transactions / "train.csv"), "--output", str(tmp_path / "runs"),
                         "--address", address, "--ensemble", "0")
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        validate_record(summary)  # the published run-record schema
        assert summary["settings"]["address"] == address
        # --ensemble 0: one trial is refit and saved, and no predictions are kept.
        assert summary["final"]["kind"] == "single" and "ensemble" not in summary
        assert summary["best"]["test_f1"] == summary["final"]["test_f1"]
        assert not (Path(summary["run_dir"]) / "predictions").exists()
    finally:
        stop.touch()
        try:
            cluster.wait(timeout=60)
        except subprocess.TimeoutExpired:
            cluster.kill()
        time.sleep(0.5)
