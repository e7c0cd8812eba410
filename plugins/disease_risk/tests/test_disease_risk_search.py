"""A tiny real disease-risk search through the CLI and Ray Tune: leaderboard, refit, predict."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from fg_automl_disease_risk import breast_cancer_frame
from typer.testing import CliRunner

from finegrain_automl.cli import app
from finegrain_automl.record import validate as validate_record

pytestmark = pytest.mark.ray
runner = CliRunner()


def test_tiny_search_on_the_built_in_data_then_predict(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["search", "--task", "disease_risk", "--trials", "2", "--folds", "2", "--max-epochs", "2",
         "--no-dashboard", "--json", "--output", str(tmp_path / "runs")],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    validate_record(summary)  # the published run-record schema
    assert summary["task"] == "disease_risk"
    assert summary["leaderboard_metrics"] == ["auroc", "brier"]
    assert summary["data"]["rows"] == 569 and summary["data"]["test_rows"] == 114
    assert summary["data"]["positive_label"] == "malignant"
    assert summary["trials"]["completed"] >= 1
    best = summary["best"]
    assert best["config"]["model"] in {"linear", "resmlp", "realmlp", "tabm", "ft_transformer"}
    # By default an ensemble of the best trials, if it beats the best single trial on
    # out-of-fold rows it was not chosen on; else the winner alone. The run record says which.
    final, check = summary["final"], summary["ensemble_check"]
    assert final["kind"] == ("ensemble" if check["kept"] else "single") and 0 <= final["test_f1"] <= 1
    assert ("ensemble" in summary) == check["kept"]
    if check["ensemble_f1"] is not None:
        assert check["kept"] == (check["ensemble_f1"] > check["single_f1"]) and check["folds"] == 5
    assert {"f1", "auroc", "brier"} <= set(final["test_metrics"])
    assert {"cv_auroc", "cv_brier"} <= set(best["cv_metrics"])

    run_dir = Path(summary["run_dir"])
    board = pd.read_csv(run_dir / "leaderboard.csv")
    assert len(board) == summary["trials"]["completed"]
    # The refit trial is the leaderboard row the selection rule names.
    assert best["selection"]["rule"] == "one-se" and best["selection"]["rank"] == best["rank"]
    assert board["trial_id"].iloc[best["rank"] - 1] == best["trial_id"]
    assert board["cv_f1_mean"].iloc[best["rank"] - 1] == pytest.approx(best["cv_f1_mean"])
    assert {"cv_auroc", "cv_brier"} <= set(board.columns)

    patients = breast_cancer_frame().sample(30, random_state=0).drop(columns=["diagnosis"])
    patients.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "predictions.csv"
    predicted = runner.invoke(app, ["predict", "--run", str(run_dir), "--data", str(tmp_path / "new.csv"),
                                    "--output", str(out)])
    assert predicted.exit_code == 0, predicted.output
    predictions = pd.read_csv(out)
    assert len(predictions) == 30
    assert set(predictions["label"]) <= {"malignant", "benign"}
    assert predictions["probability"].between(0, 1).all()
