"""Bad input to ``fg-automl search --task text``: exit code 2, one line, no traceback.

Every case fails while the search is prepared, before Ray starts.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from finegrain_automl.cli import app

runner = CliRunner()


def _search(tmp_path: Path, *args: str):
    return runner.invoke(
        app, ["search", "--task", "text", "--no-dashboard", "--output", str(tmp_path / "runs"), *args]
    )


def _assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0, f"expected one line, got: {result.output!r}"
    message = " ".join(result.output.split())
    for fragment in fragments:
        assert fragment in message, message


def _csv(tmp_path: Path, content: str, name: str = "data.csv") -> str:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return str(path)


def test_missing_file(tmp_path: Path) -> None:
    _assert_one_line_error(_search(tmp_path, "--data", str(tmp_path / "nope.csv")), "does not exist")


@pytest.mark.parametrize("name", ["data.parquet", "data.json", "data.txt"])
def test_a_file_that_is_not_csv_or_jsonl(tmp_path: Path, name: str) -> None:
    result = _search(tmp_path, "--data", _csv(tmp_path, "text,label\na,b\n", name=name))
    _assert_one_line_error(result, "unsupported suffix", "CSV or JSONL")


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\nhello,a\nun caf\u00e9 cr\u00e8me,b\n".encode("latin-1"))
    _assert_one_line_error(
        _search(tmp_path, "--data", str(path)), "not valid UTF-8", "line 3", "re-save it as UTF-8"
    )


def test_a_missing_text_column(tmp_path: Path) -> None:
    result = _search(tmp_path, "--data", _csv(tmp_path, "body,label\nhello,a\n"))
    _assert_one_line_error(result, "no text column 'text'", "its columns are: body, label", "--text-column")
    result = _search(tmp_path, "--data", _csv(tmp_path, "body,label\nhello,a\n"), "--text-column", "message")
    _assert_one_line_error(result, "no text column 'message'", "--text-column")


def test_a_missing_label_column(tmp_path: Path) -> None:
    result = _search(tmp_path, "--data", _csv(tmp_path, "text,kind\nhello,a\n"))
    _assert_one_line_error(result, "no label column 'label'", "text, kind", "--target")


def test_empty_and_whitespace_only_texts(tmp_path: Path) -> None:
    rows = "".join(f"message {i},{'ab'[i % 2]}\n" for i in range(40))
    result = _search(tmp_path, "--data", _csv(tmp_path, f'text,label\n{rows}"  ",a\n,b\n'))
    _assert_one_line_error(
        result, "empty or whitespace-only in 2 of 42 rows", "row 41", "remove those rows or fill"
    )


def test_a_label_column_with_a_single_value(tmp_path: Path) -> None:
    rows = "".join(f"message {i},spam\n" for i in range(40))
    _assert_one_line_error(
        _search(tmp_path, "--data", _csv(tmp_path, f"text,label\n{rows}")),
        "has one class ('spam') in all 40 rows",
    )


def test_missing_labels(tmp_path: Path) -> None:
    rows = "".join(f"message {i},{'ab'[i % 2] if i != 7 else ''}\n" for i in range(40))
    _assert_one_line_error(
        _search(tmp_path, "--data", _csv(tmp_path, f"text,label\n{rows}")),
        "missing in 1 of 40 rows",
        "row 8",
        "fill in those labels",
    )


def test_a_class_with_fewer_rows_than_folds(tmp_path: Path) -> None:
    rows = [*(f"message {i},ham" for i in range(60)), *(f"offer {i},spam" for i in range(4))]
    result = _search(tmp_path, "--data", _csv(tmp_path, "text,label\n" + "\n".join(rows) + "\n"))
    # The core names the class by its code (1 is spam, the second label in sorted order).
    _assert_one_line_error(result, "has 4 rows", "5 stratified folds", "fewer --folds")


def test_a_bad_jsonl_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, '{"text": "hi", "label": "a"}\n{"text": "yo" "label": "b"}\n', name="rows.jsonl")
    _assert_one_line_error(_search(tmp_path, "--data", path), "line 2 is not valid JSON")


def test_text_column_without_data(tmp_path: Path) -> None:
    _assert_one_line_error(
        _search(tmp_path, "--text-column", "body"), "--text-column only applies with --data"
    )


def test_a_space_whose_transformer_width_does_not_split_into_heads(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(
        "model:\n  choice:\n    transformer:\n      d_model: {choice: [30]}\n      n_heads: {choice: [4]}\n"
    )
    frame = pd.DataFrame({"text": [f"message {i}" for i in range(40)], "label": ["a", "b"] * 20})
    frame.to_csv(tmp_path / "ok.csv", index=False)
    result = _search(tmp_path, "--data", str(tmp_path / "ok.csv"), "--space", str(space))
    _assert_one_line_error(result, "model.transformer", "d_model must be divisible by n_heads")
