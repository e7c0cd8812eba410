"""Tests of the seeded subscriber generator of the ``churn`` task."""

from __future__ import annotations

import pandas as pd
import pytest
from fg_automl_churn import generator as gen

INT_COLUMNS = ["tenure_months", "add_on_services", "support_calls_90d", "paperless_billing", "senior_citizen"]
FLOAT_COLUMNS = ["monthly_charges", "total_charges", "satisfaction_score"]
#: Columns with missing values and the range their missing share must fall in (default data).
MISSING_RATES = {"total_charges": (0.02, 0.10), "satisfaction_score": (0.25, 0.45)}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return gen.generate_customers(seed=0)


def test_the_same_seed_gives_the_same_table_and_another_seed_another() -> None:
    a = gen.generate_customers(n_rows=2_000, seed=7)
    b = gen.generate_customers(n_rows=2_000, seed=7)
    c = gen.generate_customers(n_rows=2_000, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not a["monthly_charges"].equals(c["monthly_charges"])
    assert not a[gen.TARGET_COLUMN].equals(c[gen.TARGET_COLUMN])


def test_columns_dtypes_and_values(data: pd.DataFrame) -> None:
    assert data.shape == (gen.DEFAULT_ROWS, len(gen.FEATURE_COLUMNS) + 1)
    assert list(data.columns) == [*gen.FEATURE_COLUMNS, gen.TARGET_COLUMN]
    assert isinstance(data.index, pd.RangeIndex)
    for column in [*INT_COLUMNS, gen.TARGET_COLUMN]:
        assert pd.api.types.is_integer_dtype(data[column]), column
    for column in FLOAT_COLUMNS:
        assert pd.api.types.is_float_dtype(data[column]), column
    assert set(INT_COLUMNS + FLOAT_COLUMNS) | set(gen.CATEGORICAL_COLUMNS) == set(gen.FEATURE_COLUMNS)
    for column, values in (
        ("contract", gen.CONTRACTS),
        ("internet_service", gen.INTERNET_SERVICES),
        ("payment_method", gen.PAYMENT_METHODS),
    ):
        assert pd.api.types.is_string_dtype(data[column]), column
        assert set(data[column]) == set(values), column
    assert set(data[gen.TARGET_COLUMN]) == {0, 1}
    assert data["tenure_months"].between(0, 72).all()
    assert data["add_on_services"].between(0, 4).all()
    assert (data.loc[data["internet_service"] == "none", "add_on_services"] == 0).all()
    assert (data["monthly_charges"] >= 15).all() and (data["support_calls_90d"] >= 0).all()
    assert data["satisfaction_score"].dropna().isin([1.0, 2.0, 3.0, 4.0, 5.0]).all()
    for column in ("paperless_billing", "senior_citizen"):
        assert set(data[column]) == {0, 1}, column
    # The total charge is about tenure times the monthly charge: lower, as earlier bills were (before price rises).
    billed = data.dropna(subset=["total_charges"])
    ratio = billed["total_charges"] / (billed["tenure_months"] * billed["monthly_charges"])
    assert ratio.between(0.25, 1.2).all() and 0.8 < ratio.median() < 1.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_default_churn_rate_is_between_15_and_25_percent(seed: int) -> None:
    rate = gen.generate_customers(seed=seed)[gen.TARGET_COLUMN].mean()
    assert 0.15 <= rate <= 0.25


@pytest.mark.parametrize(("n_rows", "churn_rate"), [(5_000, 0.1), (5_000, 0.3), (1_000, 0.2)])
def test_churn_rate_follows_the_argument(n_rows: int, churn_rate: float) -> None:
    rate = gen.generate_customers(n_rows=n_rows, churn_rate=churn_rate, seed=1)[gen.TARGET_COLUMN].mean()
    # Four standard deviations of a binomial share: the expected rate is exact, the draw is not.
    assert abs(rate - churn_rate) <= 4 * (churn_rate * (1 - churn_rate) / n_rows) ** 0.5


def test_missing_values_where_documented(data: pd.DataFrame) -> None:
    rates = data.isna().mean()
    assert set(rates[rates > 0].index) == set(MISSING_RATES)
    for column, (low, high) in MISSING_RATES.items():
        assert low <= rates[column] <= high, (column, rates[column])
    # Customers not billed yet (tenure 0) have no total charge.
    assert data.loc[data["tenure_months"] == 0, "total_charges"].isna().all()
    assert (data["tenure_months"] == 0).sum() > 50


def test_churn_is_driven_by_the_documented_columns(data: pd.DataFrame) -> None:
    churn = data[gen.TARGET_COLUMN]
    by_contract = churn.groupby(data["contract"]).mean()
    assert by_contract["month-to-month"] > 2 * by_contract["one year"] > 3 * by_contract["two year"]
    new, long_standing = data["tenure_months"] <= 6, data["tenure_months"] > 48
    assert churn[new].mean() > 2.5 * churn[long_standing].mean()
    # Support calls matter above a threshold, not linearly.
    few, many = data["support_calls_90d"] <= 2, data["support_calls_90d"] >= 4
    assert churn[many].mean() > churn[few].mean() + 0.2
    assert (
        abs(churn[data["support_calls_90d"] == 0].mean() - churn[data["support_calls_90d"] == 2].mean())
        < 0.08
    )
    # One-year customers are likeliest to leave in the last two months before their renewal.
    one_year = data[data["contract"] == "one year"]
    due = one_year["tenure_months"] % 12 >= 10
    assert one_year.loc[due, gen.TARGET_COLUMN].mean() > 1.5 * one_year.loc[~due, gen.TARGET_COLUMN].mean()
    # Electronic checks churn more than automatic payments.
    by_payment = churn.groupby(data["payment_method"]).mean()
    assert by_payment["electronic check"] > by_payment[["bank transfer", "credit card"]].max() + 0.08


def test_no_single_column_separates_the_classes(data: pd.DataFrame) -> None:
    churn = data[gen.TARGET_COLUMN]
    # Even the riskiest groups keep many stayers, and the safest some churners: the labels are noisy.
    riskiest = (data["contract"] == "month-to-month") & (data["support_calls_90d"] >= 4)
    assert 0.4 < churn[riskiest].mean() < 0.9
    assert churn[data["contract"] == "two year"].sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"n_rows": 10}, "n_rows"),
        ({"n_rows": 1_000.5}, "n_rows"),
        ({"churn_rate": 0.0}, "churn_rate"),
        ({"churn_rate": 0.9}, "churn_rate"),
        ({"seed": -1}, "seed"),
    ],
)
def test_invalid_arguments_name_the_rule_and_the_value(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment) as error:
        gen.generate_customers(**kwargs)
    assert repr(next(iter(kwargs.values()))) in str(error.value)
