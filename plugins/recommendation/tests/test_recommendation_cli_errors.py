"""Bad input to ``fg-automl search --task recommendation``: exit code 2, one
line, no traceback, nothing written. Every case fails before Ray starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from finegrain_automl.cli import app

runner = CliRunner()


def _search(tmp_path: Path, *args: str):
    return runner.invoke(
        app, ["search", "--task", "recommendation", "--no-dashboard", "--output", str(tmp_path / "runs"), *args]
    )


def _file(tmp_path: Path, content: str, name: str = "data.csv") -> str:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return str(path)


RATINGS = "userId,movieId,rating,timestamp\n" + "".join(
    f"{u},{i},{(u + i) % 5 + 1},{1000 + u * 10 + i}\n" for u in range(1, 9) for i in range(1, 8)
)


@pytest.mark.parametrize(
    ("content", "args", "fragments"),
    [
        ("person,thing\n1,2\n", ["--user-column", "user_id", "--item-column", "thing"],
         ["'user_id'", "person, thing"]),
        ("person,thing\n1,2\n", [], ["--user-column", "--item-column"]),
        (RATINGS, ["--min-rating", "9"], ["--min-rating", "5"]),
        ("u,i,r\n1,2,good\n3,4,5\n", ["--user-column", "u", "--item-column", "i", "--rating-column", "r"],
         ["'good'", "numbers"]),
        (RATINGS, ["--k", "500"], ["--k 500 is larger than the catalogue (7 items)"]),
        (RATINGS, ["--target", "rating"], ["--rating-column"]),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, content: str, args: list[str], fragments: list[str]) -> None:
    result = _search(tmp_path, "--data", _file(tmp_path, content), *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.strip().count("\n") == 0, result.output
    message = " ".join(result.output.split())
    for fragment in fragments:
        assert fragment in message, message
    assert not (tmp_path / "runs").exists()


def test_k_applies_to_the_built_in_data_and_is_checked(tmp_path: Path) -> None:
    for k, fragment in [("5000", "--k 5000 is larger than the catalogue"), ("0", "at least 1")]:
        result = _search(tmp_path, "--k", k)
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert fragment in " ".join(result.output.split()), result.output
    result = _search(tmp_path, "--min-rating", "4")  # a file option without a file
    assert result.exit_code == 2 and "--min-rating only applies with --data FILE" in " ".join(result.output.split())
