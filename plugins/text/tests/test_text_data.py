"""The text task's discovery and data: bundled SMS spam, users' CSV and JSONL files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fg_automl_text import TEXT_FEATURE, TextTask

from finegrain_automl import DataError, DataSource
from finegrain_automl.plugins import make_registry


def test_text_is_discovered_through_its_entry_point() -> None:
    registry = make_registry(allow=["text"])
    info = registry.plugins["text"]
    assert info.errors == []
    assert info.distribution == "fg-automl-text" and info.version == "0.1.0"
    assert info.tasks == ["text"]
    assert set(registry.families["text"]) == {"bag", "cnn", "rnn", "transformer"}
    task = registry.task("text")
    assert task.leaderboard_metrics == ("accuracy",)
    assert {"vocab_size", "max_length", "lr", "batch_size", "epochs", "weight_decay"} <= task.hyperparameters


def test_default_data_is_the_sms_spam_collection() -> None:
    data = TextTask().load_default(seed=0)
    assert len(data) == 5574
    assert data.info["classes"] == ["ham", "spam"]
    assert int(data.target.sum()) == 747 and data.info["class_counts"] == {"ham": 4827, "spam": 747}
    assert data.info["target"] == "label" and data.info["text_column"] == "text"
    assert "CC BY 4.0" in data.info["source"]
    assert list(data.features.columns) == [TEXT_FEATURE]
    assert data.features[TEXT_FEATURE].iloc[1] == "Ok lar... Joking wif u oni..."
    json.dumps(data.info)  # the run directory stores it as JSON


def test_binary_csv_with_named_columns(tmp_path: Path, small_sms: pd.DataFrame) -> None:
    path = tmp_path / "messages.csv"
    small_sms.rename(columns={"text": "message", "label": "kind"}).assign(id=range(300)).to_csv(
        path, index=False
    )
    source = DataSource(path=path, target="kind", options={"text_column": "message"})
    data = TextTask().read_file(source)
    assert len(data) == 300 and data.info["classes"] == ["ham", "spam"]
    assert data.info["text_column"] == "message" and data.info["target"] == "kind"
    assert (data.features[TEXT_FEATURE] == small_sms["text"]).all()
    np.testing.assert_array_equal(data.target, (small_sms["label"] == "spam").astype(int))


def test_three_class_jsonl_codes_follow_sorted_labels(tmp_path: Path, three_class: pd.DataFrame) -> None:
    path = tmp_path / "messages.jsonl"
    three_class.to_json(path, orient="records", lines=True)
    data = TextTask().read_file(DataSource(path=path))
    assert data.info["classes"] == ["other", "question", "spam"]
    assert data.info["class_counts"] == {"other": 80, "question": 80, "spam": 80}
    expected = three_class["label"].map({"other": 0, "question": 1, "spam": 2})
    np.testing.assert_array_equal(data.target, expected)


def test_integer_labels_stay_integers_and_gzip_is_read(tmp_path: Path) -> None:
    lines = [json.dumps({"text": f"message number {i}", "label": [3, 1, 2][i % 3]}) for i in range(30)]
    path = tmp_path / "rows.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    data = TextTask().read_file(DataSource(path=path))
    assert data.info["classes"] == [1, 2, 3]
    assert data.target[:3].tolist() == [2, 0, 1]


def test_texts_are_kept_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text('text,label\nNA,a\n0012,b\n"line one\nline two",a\nnull,b\n', encoding="utf-8")
    data = TextTask().read_file(DataSource(path=path))
    assert data.features[TEXT_FEATURE].tolist() == ["NA", "0012", "line one\nline two", "null"]


def test_rows_to_predict_need_no_label_and_keep_their_order(tmp_path: Path) -> None:
    path = tmp_path / "new.csv"
    pd.DataFrame({"body": ["win a prize now", "see you at 5"]}).to_csv(path, index=False)
    source = DataSource(path=path, target="label", require_target=False, options={"text_column": "body"})
    data = TextTask().read_file(source)
    assert data.target is None
    assert data.features[TEXT_FEATURE].tolist() == ["win a prize now", "see you at 5"]


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (
            "text,label\nhello,a\n   ,b\nhi,a\n\t,b\n",
            ["empty or whitespace-only in 2 of 4 rows", "row 2", "remove"],
        ),
        ("text,label\nhello,a\nhi,\nhey,b\n", ["missing in 1 of 3 rows", "row 2", "fill in"]),
        ("text,label\nhello,a\nhi,a\n", ["one class ('a')", "--target"]),
        ("body,label\nhello,a\n", ["no text column 'text'", "body, label", "--text-column"]),
        ("text,kind\nhello,a\n", ["no label column 'label'", "text, kind", "--target"]),
        ("text,label,text\nhello,a,x\nhi,b,y\n", ["bad.csv repeats the column name 'text'", "its own name"]),
    ],
)
def test_bad_rows_are_one_line_data_errors(tmp_path: Path, content: str, fragments: list[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as error:
        TextTask().read_file(DataSource(path=path))
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a", "label": 1}\n\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 3 holds a JSON list, not an object"):
        TextTask().read_file(DataSource(path=path))
    path.write_text('{"text": "a", "label": 1}\n{"text": "b", label: 2}\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        TextTask().read_file(DataSource(path=path))
