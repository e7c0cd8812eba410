"""A tiny real text search through the CLI and Ray Tune: JSON summary, leaderboard, refit, predict."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from finegrain_automl.cli import app
from finegrain_automl.record import validate as validate_record

pytestmark = pytest.mark.ray
runner = CliRunner()


def test_tiny_text_search_then_predict(tmp_path: Path, small_sms: pd.DataFrame) -> None:
    # The user's own column names, passed with --text-column and --target, are saved for predict.
    small_sms.rename(columns={"text": "message", "label": "kind"}).to_csv(tmp_path / "small.csv", index=False)
    new = pd.DataFrame(
        {"message": ["WINNER! Claim your free prize now, call 0800 123 456", "See you at lunch?"]}
    )
    new.to_csv(tmp_path / "new.csv", index=False)
    result = runner.invoke(
        app,
        [
            "search",
            "--task",
            "text",
            "--data",
            str(tmp_path / "small.csv"),
            "--text-column",
            "message",
            "--target",
            "kind",
            "--trials",
            "2",
            "--folds",
            "2",
            "--max-epochs",
            "1",
            "--no-dashboard",
            "--select",
            "best",
            "--no-ensemble-check",
            "--json",
            "--output",
            str(tmp_path / "runs"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    validate_record(summary)  # the published run-record schema
    assert summary["task"] == "text"
    assert summary["data"]["classes"] == ["ham", "spam"] and summary["data"]["rows"] == 300
    assert summary["data"]["text_column"] == "message" and summary["data"]["target"] == "kind"
    assert summary["trials"]["completed"] >= 1
    best = summary["best"]
    assert best["config"]["model"] in {"bag", "cnn", "rnn", "transformer"}
    # The saved model is an ensemble of the best trials (argmax of the averaged probabilities),
    # kept without the check against the best single trial (--no-ensemble-check).
    final = summary["final"]
    assert final["kind"] == "ensemble" and summary["ensemble"]["decision"] == {}
    assert 0.0 <= final["test_f1"] <= 1.0 and "accuracy" in final["test_metrics"]
    run_dir = Path(summary["run_dir"])
    board = pd.read_csv(run_dir / "leaderboard.csv")
    assert len(board) == summary["trials"]["completed"]
    # --select best refits rank 1, and says so.
    assert best["selection"] == {"rule": "best", "rank": 1, "standard_error": None,
                                 "explanation": "rank 1: the best mean CV F1"}
    assert summary["settings"]["select"] == "best" and best["rank"] == 1
    assert board["trial_id"].iloc[best["rank"] - 1] == best["trial_id"]
    assert board["cv_f1_mean"].iloc[best["rank"] - 1] == pytest.approx(best["cv_f1_mean"])

    out = tmp_path / "predictions.csv"
    predicted = runner.invoke(
        app, ["predict", "--run", str(run_dir), "--data", str(tmp_path / "new.csv"), "--output", str(out)]
    )
    assert predicted.exit_code == 0, predicted.output
    predictions = pd.read_csv(out)
    assert len(predictions) == 2
    assert set(predictions["label"]) <= {"ham", "spam"}
    assert predictions["probability"].between(0.5, 1).all()

    # Rows without the text column the search was run with: one clear line.
    pd.DataFrame({"text": ["hello"]}).to_csv(tmp_path / "bad.csv", index=False)
    bad = runner.invoke(app, ["predict", "--run", str(run_dir), "--data", str(tmp_path / "bad.csv")])
    assert bad.exit_code == 2 and "no text column 'message'" in bad.output and "Traceback" not in bad.output
