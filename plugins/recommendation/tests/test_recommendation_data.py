"""The recommendation task's data: the built-in generator and users' interaction files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fg_automl_recommendation import _data
from fg_automl_recommendation._data import (
    CATEGORY,
    DATA_OPTIONS,
    DEFAULT_K,
    ITEM,
    TIME,
    USER,
    generate_interactions,
    load_builtin,
    read_interactions,
)

from finegrain_automl import DataError, DataNote, DataSource, UsageError
from finegrain_automl.errors import collect_notes

# Six interactions of three users: (user, item, rating, timestamp).
ROWS = [(1, 10, 5, 100), (1, 20, 3, 200), (2, 10, 4, 300), (2, 30, 1, 400), (3, 20, 5, 500), (3, 30, 2, 600)]


def read(path: Path, *, predict: bool = False, target: str | None = None, **options: Any) -> Any:
    """Reads ``path`` as the task does: ``k`` filled in, None-valued options left out."""
    options = {"k": 2} | {name: value for name, value in options.items() if value is not None}
    source = DataSource(path=path, target=target, require_target=not predict, options=options)
    return read_interactions(source)


def write_udata(path: Path, rows: list[tuple[Any, ...]] = ROWS) -> Path:
    path.write_text("".join("\t".join(map(str, row)) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def builtin() -> pd.DataFrame:
    return generate_interactions(0)


# --------------------------------------------------------------------------- options


def test_data_options_are_declared_for_the_cli() -> None:
    by_name = {option.name: option for option in DATA_OPTIONS}
    assert set(by_name) == {"user_column", "item_column", "rating_column", "min_rating", "timestamp_column",
                            "category_column", "k"}
    assert by_name["k"].type is int and by_name["k"].default == DEFAULT_K == 10 and by_name["k"].builtin
    assert by_name["k"].help == "Length K of each user's recommendation list (F1@K)."
    assert by_name["min_rating"].type is float
    assert by_name["user_column"].predict and by_name["item_column"].predict
    assert not any(option.required for option in DATA_OPTIONS)
    assert [o.name for o in DATA_OPTIONS if o.builtin] == ["k"]


# --------------------------------------------------------------------------- recognised layouts


def test_movielens_udata_is_recognised_without_options(tmp_path: Path) -> None:
    data = read(write_udata(tmp_path / "u.data"))
    assert data.target is None and len(data) == 6
    assert list(data.features.columns) == [USER, ITEM, TIME]
    assert data.features[USER].dtype == object and data.features[ITEM].dtype == object
    assert data.features[USER].tolist() == ["1", "1", "2", "2", "3", "3"]  # ids as str, in the file's order
    assert data.features[ITEM].map(type).eq(str).all()
    assert data.features[TIME].dtype == np.int64
    assert data.features[TIME].tolist() == [100, 200, 300, 400, 500, 600]
    assert data.groups.dtype == np.int64 and data.groups.tolist() == [0, 0, 1, 1, 2, 2]
    assert data.info == {
        "source": "u.data", "group_column": "user_id", "layout": "MovieLens u.data", "min_rating": None,
        "dropped_below_min_rating": 0, "duplicates_removed": 0, "k": 2, "users": 3, "items": 3,
        "interactions": 6, "item_categories": False, "timestamps": True,
    }
    json.dumps(data.info)


def test_movielens_ratings_csv_with_min_rating(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    lines = ["userId,movieId,rating,timestamp"] + [f"{u},{i},{r - 0.5},{t}" for u, i, r, t in ROWS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = read(path, min_rating=4.0)
    assert data.info["layout"] == "MovieLens ratings.csv" and data.info["group_column"] == "userId"
    assert data.info["min_rating"] == 4.0 and data.info["dropped_below_min_rating"] == 4
    assert list(zip(data.features[USER], data.features[ITEM], strict=True)) == [("1", "10"), ("3", "20")]
    assert data.info["users"] == 2 and data.info["items"] == 2 and data.info["interactions"] == 2
    assert data.groups.tolist() == [0, 1]


def test_movielens_1m_ratings_dat(tmp_path: Path) -> None:
    path = tmp_path / "ratings.dat"
    path.write_text("".join("::".join(map(str, row)) + "\n" for row in ROWS), encoding="utf-8")
    data = read(path, min_rating=4.0)
    assert data.info["layout"] == "MovieLens ratings.dat" and data.info["group_column"] == "UserID"
    assert data.features[ITEM].tolist() == ["10", "10", "20"]
    assert data.features[TIME].tolist() == [100, 300, 500]


def test_ids_are_the_same_text_in_every_layout(tmp_path: Path) -> None:
    udata = read(write_udata(tmp_path / "u.data"))
    frame = pd.DataFrame(ROWS, columns=["user", "item", "rating", "timestamp"])
    frame.to_csv(tmp_path / "plain.csv", index=False)
    frame.to_parquet(tmp_path / "plain.parquet")
    for name in ("plain.csv", "plain.parquet"):
        other = read(tmp_path / name)
        assert other.info["layout"] == "columns user and item"
        pd.testing.assert_frame_equal(other.features, udata.features)


# --------------------------------------------------------------------------- files described by options


def test_csv_with_columns_chosen_by_options(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_text(
        "customer,product,stars,when,genre,note\n"
        "007,A1,5,2024-01-02,books,x\n"
        "007,B2,2,2024-01-03,music,\n"
        " 12,A1,4,2024-01-01T12:00:00,books,y\n",
        encoding="utf-8",
    )
    data = read(path, user_column="customer", item_column="product", rating_column="stars", min_rating=3.0,
                timestamp_column="when", category_column="genre", k=1)
    assert data.info["layout"] == "columns chosen by options" and data.info["group_column"] == "customer"
    assert list(data.features.columns) == [USER, ITEM, TIME, CATEGORY]
    assert data.features[USER].tolist() == ["007", "12"]  # kept verbatim, only trimmed
    assert data.features[CATEGORY].tolist() == ["books", "books"]
    assert data.features[TIME].tolist() == [1704153600, 1704110400]
    assert data.info["item_categories"] and data.info["timestamps"]
    assert data.info["dropped_below_min_rating"] == 1


def test_parquet_with_options_and_native_types(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pd.DataFrame({
        "member": [12, 12, 7, 7],
        "sku": [1.0, 2.0, 1.0, 3.0],  # integer ids stored as floats
        "at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]),
    }).to_parquet(path)
    data = read(path, user_column="member", item_column="sku", timestamp_column="at")
    assert data.features[USER].tolist() == ["12", "12", "7", "7"]
    assert data.features[ITEM].tolist() == ["1", "2", "1", "3"]
    assert data.features[TIME].tolist() == [1704067200 + day * 86400 for day in range(4)]
    assert data.info["users"] == 2 and data.info["items"] == 3 and not data.info["item_categories"]


def test_options_override_a_recognised_layout(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,rating,timestamp,stars\n1,10,1,5,9\n2,10,5,6,1\n", encoding="utf-8")
    data = read(path, rating_column="stars", min_rating=5.0, k=1)
    assert data.info["layout"] == "MovieLens ratings.csv" and data.features[USER].tolist() == ["1"]
    swapped = read(path, user_column="movieId", item_column="userId", k=1)
    assert swapped.info["layout"] == "columns chosen by options" and swapped.info["group_column"] == "movieId"


# --------------------------------------------------------------------------- cleaning, with notes


def test_duplicated_pairs_keep_the_latest_with_a_note(tmp_path: Path) -> None:
    rows = [*ROWS, (1, 10, 1, 50), (1, 10, 2, 900), (3, 30, 2, 10)]
    note = r"^3 duplicated interactions \(same user and item\) were removed from u.data; each pair is kept"
    with pytest.warns(DataNote, match=note):
        data = read(write_udata(tmp_path / "u.data", rows), min_rating=2.0)
    assert data.info["duplicates_removed"] == 3
    assert data.info["interactions"] == 5  # and (2, 30), rated 1, is dropped
    pairs = list(zip(data.features[USER], data.features[ITEM], data.features[TIME], strict=True))
    assert ("1", "10", 900) in pairs and ("3", "30", 600) in pairs
    assert data.features[TIME].tolist() == [200, 300, 500, 600, 900]  # the kept rows in the file's order


def test_duplicates_without_timestamps_keep_the_last_row(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("user,item,rating\n1,a,1\n2,a,5\n1,a,5\n", encoding="utf-8")
    with collect_notes() as notes:
        data = read(path, min_rating=5.0, k=1)
    expected = (
        "1 duplicated interactions (same user and item) were removed from plain.csv; "
        "each pair is kept once (the last in the file)."
    )
    assert notes == [expected]
    assert data.features[USER].tolist() == ["2", "1"] and data.info["dropped_below_min_rating"] == 0


def test_rows_without_a_user_or_an_item_are_dropped_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("user,item\n1,a\n,b\n2,\n2,b\n", encoding="utf-8")
    with pytest.warns(DataNote, match="^2 rows of plain.csv without both a user and an item were removed"):
        data = read(path, k=1)
    assert data.features[USER].tolist() == ["1", "2"] and data.groups.tolist() == [0, 1]


def test_items_without_a_category_are_uncategorised_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("user,item,genre\n1,a,books\n1,b,\n2,a,books\n", encoding="utf-8")
    with pytest.warns(DataNote, match="^1 interactions of plain.csv have no item category in 'genre'"):
        data = read(path, category_column="genre", k=1)
    assert data.features[CATEGORY].tolist() == ["books", None, "books"]


def test_without_a_rating_column_every_row_is_a_positive(tmp_path: Path) -> None:
    path = tmp_path / "clicks.csv"
    path.write_text("who,what\nu1,i1\nu1,i2\nu2,i1\n", encoding="utf-8")
    data = read(path, user_column="who", item_column="what")
    assert len(data) == 3 and data.info["min_rating"] is None and not data.info["timestamps"]


# --------------------------------------------------------------------------- errors a user can cause


@pytest.mark.parametrize(
    ("content", "options", "match"),
    [
        ("user,item\n1,a\n", {"min_rating": 4.0}, r"--min-rating 4 needs ratings.*--rating-column COLUMN"),
        ("user,item,rating\n1,a,2\n1,b,3.5\n", {"min_rating": 4.0},
         r"No interaction of f.csv is rated 4 or more: all 2 rows were dropped.*largest rating.* is 3.5"),
        ("user,item,rating\n1,a,5\n1,b,great\n", {},
         r"Rating column 'rating' .* not numbers \(for example 'great'\)"),
        ("who,what\n1,a\n", {},
         (r"not in a layout this task recognises \(MovieLens u.data, ratings.csv or ratings.dat.*"
          r"its columns are: who, what; name the columns with --user-column COLUMN and --item-column")),
        ("1,10,5,100\n2,20,4,200\n", {}, r"its first line looks like data: add a header line"),
        ("who,what\n1,a\n", {"user_column": "who", "item_column": "product"},
         r"f.csv has no item column 'product'; its columns are: who, what; .*--item-column COLUMN"),
        ("user,item\n1,a\n", {"user_column": "item"}, r"'item' .* both the user and the item column"),
        ("user,item,timestamp\n1,a,noon\n", {}, r"Timestamp column 'timestamp' .*for example 'noon'"),
        ("user,item,timestamp\n1,a,\n", {}, r"Timestamp column 'timestamp' of f.csv is missing in 1 of 1"),
        ("user,item\n,\n", {}, r"no row with both a user and an item"),
        ("user,item\n", {}, r"has a header but no rows"),
        ("\n\n", {}, r"f.csv is empty"),
        ("user,user,item\n1,1,a\n", {}, r"repeats the column name 'user'"),
    ],
)
def test_bad_files_name_the_problem_and_the_fix(
    tmp_path: Path, content: str, options: dict[str, Any], match: str
) -> None:
    path = tmp_path / "f.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=match) as caught:
        read(path, **({"k": 1} | options))
    assert "\n" not in str(caught.value)


def test_missing_unreadable_and_odd_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist; check the path"):
        read(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a directory"):
        read(tmp_path)
    (tmp_path / "latin.csv").write_bytes("user,item\nJos\xe9,a\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"not valid UTF-8 text \(found byte 0xe9\)"):
        read(tmp_path / "latin.csv")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"broken\.parquet cannot be read"):
        read(tmp_path / "broken.parquet")


def test_a_target_is_refused_with_the_options_to_use_instead(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no target column .*--rating-column COLUMN and --min-rating NUMBER"):
        read(write_udata(tmp_path / "u.data"), target="rating")


def test_k_is_checked_against_the_catalogue(tmp_path: Path) -> None:
    path = write_udata(tmp_path / "u.data")
    assert read(path, k=3).info["k"] == 3
    message = r"^--k 5000 is larger than the catalogue \(3 items\); use --k 3 or less\.$"
    with pytest.raises(DataError, match=message):
        read(path, k=5000)
    with pytest.raises(UsageError, match="at least 1, but got 0"):
        read(path, k=0)
    assert read(path, k=5000, predict=True).info["k"] == 5000  # rows to predict: no catalogue to check


# --------------------------------------------------------------------------- rows to predict


def test_predicting_needs_only_the_users(tmp_path: Path) -> None:
    path = tmp_path / "who.csv"
    path.write_text("user\n3\n1\n3\n\n", encoding="utf-8")
    data = read(path, predict=True, target="label")
    assert list(data.features.columns) == [USER] and data.features[USER].tolist() == ["3", "1", "3"]
    assert data.groups.tolist() == [0, 1, 0] and data.info["items"] == 0
    named = tmp_path / "members.csv"
    named.write_text("member,extra\n7,x\n,y\n", encoding="utf-8")
    with pytest.warns(DataNote, match="1 rows of members.csv without a user were removed"):
        data = read(named, predict=True, user_column="member", item_column="sku", rating_column="stars",
                    min_rating=4.0, category_column="genre")
    assert data.features[USER].tolist() == ["7"] and data.info["min_rating"] is None


def test_predicting_keeps_items_and_duplicates_as_given(tmp_path: Path) -> None:
    rows = [*ROWS, (1, 10, 1, 50)]
    data = read(write_udata(tmp_path / "u.data", rows), predict=True, min_rating=5.0)
    assert len(data) == 7 and list(data.features.columns) == [USER, ITEM, TIME]
    users = tmp_path / "users.data"
    users.write_text("5\n6\n", encoding="utf-8")
    assert read(users, predict=True).features[USER].tolist() == ["5", "6"]
    with pytest.raises(DataError, match="--user-column COLUMN"):
        read(tmp_path / "users.data")  # training needs items


# --------------------------------------------------------------------------- built-in data


def test_generator_sizes_and_types(builtin: pd.DataFrame) -> None:
    assert list(builtin.columns) == [USER, ITEM, TIME, CATEGORY]
    assert [str(builtin[c].dtype) for c in builtin.columns] == ["object", "object", "int64", "object"]
    assert isinstance(builtin[USER].iloc[0], str) and isinstance(builtin[CATEGORY].iloc[0], str)
    assert 50_000 <= len(builtin) <= 70_000
    assert 2_900 <= builtin[USER].nunique() <= 3_000 and 1_900 <= builtin[ITEM].nunique() <= 2_000
    assert builtin[CATEGORY].nunique() == 20
    assert not builtin.duplicated([USER, ITEM]).any()
    assert builtin[TIME].is_monotonic_increasing
    assert 300 * 86400 < builtin[TIME].max() - builtin[TIME].min() <= 365 * 86400


def test_generator_has_power_law_users_and_items(builtin: pd.DataFrame) -> None:
    per_user = builtin[USER].value_counts()
    per_item = builtin[ITEM].value_counts()
    assert per_user.min() >= 3 and per_user.max() > 10 * per_user.median()
    assert 0.05 < (per_user < 6).mean() < 0.4  # some users too light for a 6-way spread
    assert per_item.iloc[: len(per_item) // 10].sum() > 0.3 * len(builtin)  # top 10 % of items: far over 10 %
    categories = builtin.groupby(ITEM)[CATEGORY].nunique()
    assert (categories == 1).all()  # each item has one category


def test_generator_is_deterministic_per_seed(builtin: pd.DataFrame) -> None:
    again = generate_interactions(0)
    pd.testing.assert_frame_equal(again, builtin)
    small = {"users": 60, "items": 50, "categories": 4}
    assert not generate_interactions(1, **small).equals(generate_interactions(2, **small))
    pd.testing.assert_frame_equal(generate_interactions(1, **small), generate_interactions(1, **small))
    tiny = generate_interactions(3, users=5, items=3)
    assert not tiny.duplicated([USER, ITEM]).any() and tiny[USER].value_counts().min() == 3


def test_load_builtin_is_a_dataset_of_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the built-in data raise no notes
        data = load_builtin(seed=0, k=20)
    assert data.target is None and data.info["k"] == 20
    assert data.info["layout"] == "built-in generator" and data.info["group_column"] == USER
    assert data.info["item_categories"] and data.info["timestamps"] and data.info["min_rating"] is None
    assert data.info["interactions"] == len(data) and data.info["users"] == data.features[USER].nunique()
    assert data.groups.dtype == np.int64
    np.testing.assert_array_equal(data.groups, pd.factorize(data.features[USER])[0])
    json.dumps(data.info)
    small = generate_interactions(0, users=40, items=30)
    monkeypatch.setattr(_data, "generate_interactions", lambda seed: small)  # tests the check, fast
    n_items = small[ITEM].nunique()
    with pytest.raises(DataError, match=rf"^--k 5000 is larger than the catalogue \({n_items} items\)"):
        load_builtin(seed=0, k=5000)
    with pytest.raises(UsageError, match="at least 1"):
        load_builtin(seed=0, k=0)
