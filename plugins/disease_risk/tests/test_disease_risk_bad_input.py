"""Bad input through the CLI: one line naming the problem and the fix, exit code 2.

Every check here happens before Ray starts.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fg_automl_disease_risk import breast_cancer_frame
from typer.testing import CliRunner

from finegrain_automl.cli import app

runner = CliRunner()


def _search_fails(tmp_path: Path, path: Path, *args: str) -> str:
    result = runner.invoke(app, ["search", "--task", "disease_risk", "--data", str(path), "--no-dashboard",
                                 "--output", str(tmp_path / "runs"), *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0, f"expected one line, got: {result.output!r}"
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    return " ".join(result.output.split())


def test_a_class_with_fewer_rows_than_folds(tmp_path: Path) -> None:
    frame = breast_cancer_frame()
    benign, malignant = frame[frame["diagnosis"] == "benign"], frame[frame["diagnosis"] == "malignant"]
    few = pd.concat([benign.head(60), malignant.head(4)])
    few.to_csv(tmp_path / "few.csv", index=False)
    message = _search_fails(tmp_path, tmp_path / "few.csv", "--folds", "5")
    assert "has 4 rows" in message and "--folds" in message


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    text = "clinic,radius,diagnosis\nSão Paulo,12.1,benign\nMünchen,20.3,malignant\n"
    path.write_bytes(text.encode("latin-1"))
    message = _search_fails(tmp_path, path)
    assert "not valid UTF-8" in message and "re-save it as UTF-8" in message


def test_a_label_column_with_a_single_value(tmp_path: Path) -> None:
    frame = breast_cancer_frame().head(50)
    frame["diagnosis"] = "benign"
    frame.to_csv(tmp_path / "one.csv", index=False)
    message = _search_fails(tmp_path, tmp_path / "one.csv")
    assert "one class ('benign')" in message and "--target" in message


@pytest.mark.parametrize("target", [None, "label"])
def test_a_missing_target_column(tmp_path: Path, target: str | None) -> None:
    breast_cancer_frame().head(50).drop(columns=["diagnosis"]).to_csv(tmp_path / "x.csv", index=False)
    args = [] if target is None else ["--target", target]
    message = _search_fails(tmp_path, tmp_path / "x.csv", *args)
    assert f"no target column {target or 'diagnosis'!r}" in message and "--target COLUMN" in message
