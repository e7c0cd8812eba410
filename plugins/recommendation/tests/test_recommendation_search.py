"""A tiny real recommendation search through the CLI and Ray Tune on a
MovieLens-layout file, then ``predict``: top-K lists per user."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from fg_automl_recommendation._data import generate_interactions
from typer.testing import CliRunner

from finegrain_automl.cli import app
from finegrain_automl.record import validate as validate_record

pytestmark = pytest.mark.ray
runner = CliRunner()


def test_tiny_recommendation_search_then_predict(tmp_path: Path) -> None:
    frame = generate_interactions(0, users=150, items=120, categories=5)
    ratings = (frame.index % 5 + 1).astype(int)  # MovieLens 100K's u.data: user, item, rating, time; no header
    rows = pd.DataFrame({"u": frame["user"], "i": frame["item"], "r": ratings, "t": frame["timestamp"]})
    rows = pd.concat([rows, rows.head(3)])  # three repeated interactions: removed with a note, not an error
    rows.to_csv(tmp_path / "u.data", sep="\t", header=False, index=False)
    result = runner.invoke(
        app,
        ["search", "--task", "recommendation", "--data", str(tmp_path / "u.data"), "--k", "5",
         "--trials", "3", "--folds", "2", "--max-epochs", "1", "--no-dashboard", "--select", "best", "--json",
         "--output", str(tmp_path / "runs")],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    validate_record(summary)
    data = summary["data"]
    assert data["layout"] == "MovieLens u.data" and data["options"]["k"] == 5 and data["k"] == 5
    assert data["split"] == "spread by user_id" and data["rows"] == len(frame) and data["duplicates_removed"] == 3
    assert any(note.startswith("3 duplicated interactions") for note in data["notes"]), data["notes"]
    assert "Note: 3 duplicated interactions" in " ".join(result.output.split())
    assert data["train_only_groups"] >= 0 and data["train_only_rows"] >= data["train_only_groups"]
    assert summary["trials"]["completed"] >= 1
    assert summary["starting_points"][0] == {"model": "ease", "model.ease.l2": 300.0, "model.ease.solver": "closed"}
    assert summary["best"]["config"]["model"] in {"ease", "multvae", "mf"}  # the first three starting points
    final = summary["final"]
    assert final["kind"] == "single" and 0.0 < final["test_f1"] <= 1.0
    assert set(final["test_metrics"]) == {"f1", "p@k", "r@k", "ndcg@k"}
    run_dir = Path(summary["run_dir"])
    board = pd.read_csv(run_dir / "leaderboard.csv")
    assert {"cv_p@k", "cv_r@k", "cv_ndcg@k"} <= set(board.columns)
    assert not (run_dir / "predictions").exists() or not any((run_dir / "predictions").iterdir())

    # predict: a known user (with an item to leave out) and a user the model never saw.
    pd.DataFrame({"u": ["1", "1", "99999"], "i": ["3", "7", "5"], "r": [4, 4, 4], "t": [1, 2, 3]}).to_csv(
        tmp_path / "new.data", sep="\t", header=False, index=False
    )
    out = tmp_path / "lists.csv"
    predicted = runner.invoke(app, ["predict", "--run", str(run_dir), "--data", str(tmp_path / "new.data"),
                                    "--output", str(out)])
    assert predicted.exit_code == 0, predicted.output
    assert "1 of 2 users are not in the model's training data" in " ".join(predicted.output.split())
    lists = pd.read_csv(out, dtype={"user": str, "item": str})
    assert list(lists.columns) == ["user", "rank", "item", "score", "source"]
    assert lists.groupby("user").size().to_dict() == {"1": 5, "99999": 5}
    known = lists[lists["user"] == "1"]
    assert (known["source"] == "model").all() and not {"3", "7"} & set(known["item"])
    assert (lists.loc[lists["user"] == "99999", "source"] == "popularity").all()
