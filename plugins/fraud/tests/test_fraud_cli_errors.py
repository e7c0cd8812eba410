"""The fraud task through the command line: its files, its space, bad inputs.

Bad input must give one line naming the problem and the fix, exit code 2, no
traceback, and must not touch what earlier runs saved. (The core's own bad
inputs are tested with the toy task in tests/test_cli.py.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from finegrain_automl.cli import app

runner = CliRunner()


@pytest.fixture
def output(tmp_path: Path) -> Path:
    """An output folder that already holds an earlier run, which must survive."""
    earlier = tmp_path / "runs" / "fraud-earlier"
    earlier.mkdir(parents=True)
    (earlier / "leaderboard.csv").write_text("rank,trial_id\n1,abc\n")
    return tmp_path / "runs"


def _search(output: Path, *args: str):
    return runner.invoke(app, ["search", "--output", str(output), "--no-dashboard", *args])


def _assert_clean_failure(result, output: Path, *fragments: str) -> None:
    message = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0, f"expected one line, got: {result.output!r}"
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert sorted(p.name for p in output.iterdir()) == ["fraud-earlier"]
    assert (output / "fraud-earlier" / "leaderboard.csv").read_text() == "rank,trial_id\n1,abc\n"


def _fraud_csv(path: Path, **columns: object) -> Path:
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame(
        {
            "amount": rng.lognormal(3, 1, n),
            "channel": rng.choice(["online", "chip"], n),
            "is_fraud": (rng.random(n) < 0.2).astype(int),
        }
    )
    for name, values in columns.items():
        frame[name] = values
    frame.to_csv(path, index=False)
    return path


def test_plugins_lists_fraud_with_its_version() -> None:
    result = runner.invoke(app, ["plugins"])
    assert result.exit_code == 0, result.output
    assert "fraud" in result.output and "fg-automl-fraud" in result.output and "0.1.0" in result.output


def test_space_show_prints_the_default_space() -> None:
    result = runner.invoke(app, ["space", "show", "fraud"])
    assert result.exit_code == 0, result.output
    for key in ("model", "model.resmlp.hidden", "model.ft_transformer.d_token", "imbalance.focal.gamma", "lr"):
        assert key in result.output
    # The task's starting points are listed after the space, one per family.
    assert "Starting points" in result.output
    for family in ("model=linear", "model=resmlp", "model=ft_transformer"):
        assert family in result.output


def test_space_show_lists_only_the_starting_points_a_users_space_can_sample(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("lr: {loguniform: [1.0e-4, 2.0e-3]}\nmodel: {choice: {resmlp: {hidden: {int: [16, 32]}}}}\n")
    result = runner.invoke(app, ["space", "show", "fraud", "--space", str(space)], terminal_width=200)
    assert result.exit_code == 0, result.output
    # Only the resmlp point survives; its hidden=128 and the other keys are outside this space.
    assert "model=resmlp" in result.output and "model=linear" not in result.output
    assert "lr=0.001" in result.output and "hidden=128" not in result.output


def test_unreadable_data_file(output: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"this is not parquet")
    _assert_clean_failure(_search(output, "--task", "fraud", "--data", str(bad)), output, "broken.parquet")


def test_missing_target_column(output: Path, tmp_path: Path) -> None:
    data = _fraud_csv(tmp_path / "tx.csv")
    result = _search(output, "--task", "fraud", "--data", str(data), "--target", "label")
    _assert_clean_failure(result, output, "'label'", "--target")


def test_target_with_one_class(output: Path, tmp_path: Path) -> None:
    data = _fraud_csv(tmp_path / "tx.csv", is_fraud=0)
    _assert_clean_failure(_search(output, "--task", "fraud", "--data", str(data)), output, "one class")


def test_column_that_cannot_be_encoded(output: Path, tmp_path: Path) -> None:
    data = _fraud_csv(tmp_path / "tx.csv", empty=np.nan)
    _assert_clean_failure(_search(output, "--task", "fraud", "--data", str(data)), output, "'empty'", "--drop")


@pytest.mark.parametrize(
    ("space", "fragments"),
    [
        ("lr: {gaussian: [0, 1]}\n", ["lr", "choice"]),
        ("lr: {loguniform: [1.0e-2, 1.0e-4]}\n", ["lr", "low <= high"]),
        ("batch_size: {choice: []}\n", ["batch_size", "at least one value"]),
        ("colour: {choice: [red, blue]}\n", ["colour", "does not use this key"]),
        ("model: {choice: {resmlp: {width: {int: [8, 16]}}}}\n", ["model.resmlp.width", "hidden"]),
        ("model: {choice: [resmlp, bogus]}\n", ["model", "branch choice"]),
        ("imbalance: {choice: {smote: null}}\n", ["imbalance", "not a known strategy", "every configuration"]),
        ("epochs: {int: [0, 3]}\n", ["epochs", "at least 1"]),
        ("model: {choice: {ft_transformer: {d_token: 24, n_heads: {choice: [4, 16]}}}}\n",
         ["model.ft_transformer", "every configuration", "n_heads"]),
    ],
)
def test_invalid_space(output: Path, tmp_path: Path, space: str, fragments: list[str]) -> None:
    path = tmp_path / "space.yaml"
    base = "model: {choice: {resmlp: null}}\n" if not space.startswith("model") else ""
    path.write_text(base + space)
    _assert_clean_failure(_search(output, "--task", "fraud", "--space", str(path)), output, "space.yaml", *fragments)
