"""read_table: formats, target encoding, and one-line DataErrors."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finegrain_automl.data import DataSource
from finegrain_automl.errors import DataError
from fg_automl_tabular import read_table


def _source(path: Path, **options) -> DataSource:
    return DataSource(path=path, **options)


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def basic_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [30, 41, np.nan, 25, 52, 60],
            "city": ["Oslo", "Rome", "Oslo", None, "Rome", "Oslo"],
            "label": [0, 1, 0, 0, 1, 0],
        }
    )


def test_reads_csv_with_zero_one_target(tmp_path, basic_frame):
    data = read_table(_source(_write_csv(tmp_path / "d.csv", basic_frame)), default_target="label")
    assert list(data.features.columns) == ["age", "city"]
    assert data.target.tolist() == [0, 1, 0, 0, 1, 0]
    assert data.positive_label == 1
    info = data.info
    assert info["source"] == "d.csv"
    assert (info["n_rows"], info["n_positive"], info["n_negative"]) == (6, 2, 4)
    assert info["numeric_columns"] == ["age"] and info["categorical_columns"] == ["city"]
    assert info["positive_label"] == 1 and info["negative_label"] == 0
    assert info["missing_values"] == {"age": 1, "city": 1}


@pytest.mark.parametrize("suffix", [".parquet", ".pq", ".csv.gz", ".tsv"])
def test_reads_every_supported_format(tmp_path, basic_frame, suffix):
    path = tmp_path / f"d{suffix}"
    if suffix in (".parquet", ".pq"):
        basic_frame.to_parquet(path)
    elif suffix == ".tsv":
        basic_frame.to_csv(path, sep="\t", index=False)
    else:
        basic_frame.to_csv(path, index=False, compression="gzip")
    data = read_table(_source(path), default_target="label")
    assert data.target.tolist() == [0, 1, 0, 0, 1, 0]
    assert data.features.shape == (6, 2)


def test_two_string_labels_make_the_minority_positive(tmp_path):
    frame = pd.DataFrame({"x": range(8), "diagnosis": ["B", "M", "B", "B", "M", "B", "B", "M"]})
    data = read_table(_source(_write_csv(tmp_path / "d.csv", frame), target="diagnosis"), default_target=None)
    assert data.positive_label == "M"
    assert data.info["negative_label"] == "B"
    assert data.info["positive_rule"] == "minority class is positive"
    assert data.target.tolist() == [0, 1, 0, 0, 1, 0, 0, 1]


def test_boolean_target_has_true_positive(tmp_path):
    frame = pd.DataFrame({"x": range(5), "flag": [True, False, False, True, False]})
    data = read_table(_source(_write_csv(tmp_path / "d.csv", frame)), default_target="flag")
    assert data.positive_label is True
    assert data.target.tolist() == [1, 0, 0, 1, 0]


def test_credit_card_layout_reads_with_class_target(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    frame = pd.DataFrame({"Time": np.arange(n, dtype=float) * 3.5})
    for i in range(1, 29):
        frame[f"V{i}"] = rng.normal(size=n)
    frame["Amount"] = rng.lognormal(3, 1, size=n).round(2)
    frame["Class"] = (np.arange(n) % 20 == 0).astype(int)
    data = read_table(_source(_write_csv(tmp_path / "creditcard.csv", frame)), default_target="Class")
    assert data.features.shape == (n, 30)
    assert data.info["numeric_columns"] == ["Time", *[f"V{i}" for i in range(1, 29)], "Amount"]
    assert data.info["n_positive"] == 2 and data.positive_label == 1


def test_drop_columns_removes_them(tmp_path, basic_frame):
    path = _write_csv(tmp_path / "d.csv", basic_frame)
    data = read_table(_source(path, drop_columns=("city",)), default_target="label")
    assert list(data.features.columns) == ["age"]
    assert data.info["dropped_columns"] == ["city"]


def test_rows_to_predict_may_lack_the_target(tmp_path, basic_frame):
    without = _write_csv(tmp_path / "new.csv", basic_frame.drop(columns=["label"]))
    data = read_table(_source(without, require_target=False), default_target="label")
    assert data.target is None and list(data.features.columns) == ["age", "city"]
    with_target = _write_csv(tmp_path / "new2.csv", basic_frame)
    data = read_table(_source(with_target, require_target=False), default_target="label")
    assert data.target is None and "label" not in data.features.columns


def _expect_error(source: DataSource, *fragments: str, default_target: str | None = "label") -> str:
    with pytest.raises(DataError) as info:
        read_table(source, default_target=default_target)
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_missing_file(tmp_path):
    _expect_error(_source(tmp_path / "nope.csv"), "does not exist", "nope.csv")


def test_directory(tmp_path):
    folder = tmp_path / "data.csv"
    folder.mkdir()
    _expect_error(_source(folder), "is a directory")


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "d.xlsx"
    path.write_bytes(b"PK\x03\x04")
    _expect_error(_source(path), "unsupported suffix '.xlsx'", ".parquet")


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "d.parquet"
    path.write_bytes(b"this is not parquet at all")
    _expect_error(_source(path), "d.parquet cannot be read as PARQUET")


def test_truncated_gzip(tmp_path, basic_frame):
    path = tmp_path / "d.csv.gz"
    path.write_bytes(gzip.compress(basic_frame.to_csv(index=False).encode())[:20])
    _expect_error(_source(path), "d.csv.gz cannot be read as CSV")


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("name,label\nJosé,1\nRenée,0\n".encode("latin-1"))
    _expect_error(_source(path), "latin.csv is not valid UTF-8", "0xe9", "re-save it as UTF-8")


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_repeated_column_names_are_an_error_not_renamed(tmp_path, suffix):
    """pandas would read the second 'amount' as 'amount.1' and train on both."""
    path = tmp_path / f"dup{suffix}"
    sep = "\t" if suffix == ".tsv" else ","
    path.write_text(sep.join(["amount", "age", "amount", "age", "label"]) + "\n" + sep.join("12301") + "\n")
    _expect_error(_source(path), f"dup{suffix} repeats the column names 'age', 'amount'", "its own name")


def test_infinite_values_count_as_missing(tmp_path, basic_frame):
    """The preprocessor imputes +-inf like NaN, so the run's missing-value counts include them."""
    frame = basic_frame.assign(ratio=[1.0, np.inf, 2.0, -np.inf, np.nan, 3.0])
    data = read_table(_source(_write_csv(tmp_path / "d.csv", frame)), default_target="label")
    assert data.info["missing_values"] == {"age": 1, "city": 1, "ratio": 3}


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    _expect_error(_source(path), "empty.csv is empty")


def test_header_without_rows(tmp_path):
    path = tmp_path / "head.csv"
    path.write_text("a,b,label\n")
    _expect_error(_source(path), "no data rows")


def test_target_missing_lists_columns(tmp_path, basic_frame):
    path = _write_csv(tmp_path / "d.csv", basic_frame)
    _expect_error(
        _source(path, target="outcome"), "no target column 'outcome'", "age, city, label", "--target"
    )


def test_no_target_named(tmp_path, basic_frame):
    path = _write_csv(tmp_path / "d.csv", basic_frame)
    _expect_error(_source(path), "none was named", "--target", default_target=None)


def test_one_class_target(tmp_path, basic_frame):
    path = _write_csv(tmp_path / "d.csv", basic_frame.assign(label=0))
    _expect_error(_source(path), "one class (0)", "all 6 rows", "two classes")


def test_three_class_target(tmp_path, basic_frame):
    path = _write_csv(tmp_path / "d.csv", basic_frame.assign(label=["a", "b", "c", "a", "b", "c"]))
    _expect_error(_source(path), "has 3 classes", "binary", "--target")


def test_target_with_missing_values(tmp_path, basic_frame):
    path = _write_csv(tmp_path / "d.csv", basic_frame.assign(label=[0, 1, None, 0, None, 1]))
    _expect_error(_source(path), "missing in 2 of 6 rows")


def test_all_missing_column(tmp_path, basic_frame):
    path = _write_csv(tmp_path / "d.csv", basic_frame.assign(empty=np.nan))
    _expect_error(_source(path), "Column 'empty'", "all 6 rows missing", "--drop empty")


def test_identifier_column(tmp_path):
    n = 2500
    frame = pd.DataFrame(
        {"txn_id": [f"T{i:06d}" for i in range(n)], "x": np.arange(n) % 7, "label": np.arange(n) % 2}
    )
    path = _write_csv(tmp_path / "d.csv", frame)
    _expect_error(_source(path), "Column 'txn_id'", "2500 distinct values", "--drop txn_id")
    data = read_table(_source(path, drop_columns=("txn_id",)), default_target="label")
    assert list(data.features.columns) == ["x"]


def test_unsupported_column_type(tmp_path, basic_frame):
    path = tmp_path / "d.parquet"
    basic_frame.assign(when=pd.date_range("2024-01-01", periods=6)).to_parquet(path)
    _expect_error(_source(path), "Column 'when'", "--drop when")


def test_drop_unknown_column(tmp_path, basic_frame):
    path = _write_csv(tmp_path / "d.csv", basic_frame)
    _expect_error(_source(path, drop_columns=("citty",)), "--drop names column 'citty'", "age, city, label")


def test_only_target_column(tmp_path):
    path = _write_csv(tmp_path / "d.csv", pd.DataFrame({"label": [0, 1, 0]}))
    _expect_error(_source(path), "no feature columns")


def test_importing_the_package_does_not_import_torch():
    code = "import sys, fg_automl_tabular; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_group_column_becomes_the_groups_and_is_not_a_feature(tmp_path, basic_frame):
    frame = basic_frame.assign(patient=["p1", "p2", "p1", "p3", "p2", "p3"])
    path = _write_csv(tmp_path / "d.csv", frame)
    data = read_table(_source(path, options={"group_column": "patient"}), default_target="label")
    assert list(data.features.columns) == ["age", "city"]
    assert data.groups.tolist() == ["p1", "p2", "p1", "p3", "p2", "p3"]
    assert data.info["group_column"] == "patient" and data.info["n_groups"] == 3
    # Rows to predict may lack it; if they have it, it is not a feature either.
    rows = read_table(_source(path, require_target=False, options={"group_column": "patient"}), default_target="label")
    assert list(rows.features.columns) == ["age", "city"]
    no_group = _write_csv(tmp_path / "new.csv", basic_frame.drop(columns=["label"]))
    read_table(_source(no_group, require_target=False, options={"group_column": "patient"}), default_target="label")


@pytest.mark.parametrize(
    ("group_column", "fragments"),
    [
        ("visit", ["d.csv has no group column 'visit'", "age, city, label, patient", "--group-column COLUMN"]),
        ("label", ["--group-column 'label' is the target column"]),
        ("patient", ["Group column 'patient' of d.csv is missing in 1 of 6 rows"]),
    ],
)
def test_group_column_errors(tmp_path, basic_frame, group_column, fragments):
    frame = basic_frame.assign(patient=["p1", "p2", None, "p3", "p2", "p3"])
    path = _write_csv(tmp_path / "d.csv", frame)
    _expect_error(_source(path, options={"group_column": group_column}), *fragments)
