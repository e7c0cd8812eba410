"""Tests of the synthetic card-transaction generator of the ``fraud`` task."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fg_automl_fraud import generator as gen

NUMERIC_COLUMNS = [c for c in gen.FEATURE_COLUMNS if c not in ("merchant_category", "channel", "country")]
INT_COLUMNS = ["hour", "day_of_week", "new_merchant", "txn_count_1h", "txn_count_24h", "card_age_days"]
#: Columns with missing values and the range their missing share must fall in (default data).
MISSING_RATES = {
    "distance_from_home_km": (0.01, 0.10),
    "seconds_since_last_txn": (0.005, 0.10),
    "customer_avg_amount": (0.01, 0.10),
    "device_age_days": (0.50, 0.80),
    "customer_age_years": (0.01, 0.10),
    "credit_limit": (0.005, 0.06),
}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return gen.generate_transactions(seed=0, include_metadata=True)


def test_deterministic_per_seed_and_different_across_seeds():
    a = gen.generate_transactions(n_rows=5_000, seed=7)
    b = gen.generate_transactions(n_rows=5_000, seed=7)
    c = gen.generate_transactions(n_rows=5_000, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert not np.allclose(a["amount"].to_numpy(), c["amount"].to_numpy())


def test_metadata_only_adds_columns():
    plain = gen.generate_transactions(n_rows=3_000, seed=3)
    full = gen.generate_transactions(n_rows=3_000, seed=3, include_metadata=True)
    pd.testing.assert_frame_equal(plain, full[list(plain.columns)])
    assert list(full.columns[len(plain.columns) :]) == ["card_id", "timestamp", "fraud_pattern"]


def test_shape_columns_and_dtypes(data: pd.DataFrame):
    df = gen.generate_transactions(seed=0)
    assert df.shape == (50_000, len(gen.FEATURE_COLUMNS) + 1)
    assert list(df.columns) == [*gen.FEATURE_COLUMNS, gen.TARGET_COLUMN]
    assert isinstance(df.index, pd.RangeIndex)
    for col in NUMERIC_COLUMNS:
        assert pd.api.types.is_numeric_dtype(df[col]), col
    for col in INT_COLUMNS + [gen.TARGET_COLUMN]:
        assert pd.api.types.is_integer_dtype(df[col]), col
    for col in ("merchant_category", "channel", "country"):
        assert pd.api.types.is_string_dtype(df[col]), col
        assert df[col].notna().all(), col
    assert set(df[gen.TARGET_COLUMN].unique()) == {0, 1}
    assert set(df["channel"].unique()) == set(gen.CHANNELS)
    assert set(df["merchant_category"].unique()) == set(gen.CATEGORIES)
    assert 10 <= df["merchant_category"].nunique() <= 15
    counts = df["country"].value_counts()
    assert counts.index[0] == "US" and counts.iloc[0] / len(df) > 0.85
    assert (counts < 50).sum() >= 3  # some rare countries
    assert df["hour"].between(0, 23).all() and df["day_of_week"].between(0, 6).all()
    assert set(df["hour"].unique()) == set(range(24))
    assert (df["amount"] > 0).all()
    assert (df[["txn_count_1h", "txn_count_24h", "amount_sum_24h"]] >= 0).all().all()
    assert (df["txn_count_24h"] >= df["txn_count_1h"]).all()
    assert (df["card_age_days"] >= 0).all()
    assert (df["device_age_days"].dropna() >= 0).all()
    assert df["new_merchant"].isin([0, 1]).all()
    # Metadata: chronological order, patterns from the documented set.
    assert data["timestamp"].is_monotonic_increasing
    assert data["timestamp"].dt.normalize().nunique() == 60
    assert set(data["fraud_pattern"].unique()) == set(gen.FRAUD_PATTERNS)


@pytest.mark.parametrize(
    ("n_rows", "fraud_rate"), [(50_000, 0.005), (20_000, 0.02), (5_000, 0.005), (1_000, 0.1), (2_000, 0.0)]
)
def test_fraud_rate(n_rows: int, fraud_rate: float):
    df = gen.generate_transactions(n_rows=n_rows, fraud_rate=fraud_rate, seed=1)
    assert len(df) == n_rows
    assert abs(df[gen.TARGET_COLUMN].mean() - fraud_rate) <= 0.1 * fraud_rate + 1.0 / n_rows


def test_missing_values_where_specified(data: pd.DataFrame):
    features = data[list(gen.FEATURE_COLUMNS)]
    rates = features.isna().mean()
    assert set(rates[rates > 0].index) == set(MISSING_RATES)
    for col, (lo, hi) in MISSING_RATES.items():
        assert lo <= rates[col] <= hi, (col, rates[col])
    assert data[gen.TARGET_COLUMN].notna().all()
    # Device age is only known for online transactions, and missing for every card-present one.
    online = data["channel"] == "online"
    assert data.loc[~online, "device_age_days"].isna().all()
    assert data.loc[online, "device_age_days"].notna().mean() > 0.9


def test_fraud_patterns_are_distinguishable(data: pd.DataFrame):
    fraud = data[data[gen.TARGET_COLUMN] == 1]
    pattern = data["fraud_pattern"]
    testing = data[pattern == "card_testing"]
    takeover = data[pattern == "account_takeover"]
    stolen = data[pattern == "stolen_card"]
    friendly = data[pattern == "friendly_fraud"]
    assert len(testing) > 50 and len(takeover) > 50 and len(stolen) > 30
    # Label noise: legitimate rows are labelled 0 and friendly fraud 1; a few frauds go unreported.
    assert (data.loc[pattern == "none", gen.TARGET_COLUMN] == 0).all()
    assert (friendly[gen.TARGET_COLUMN] == 1).all() and len(friendly) > 0
    assert 0.8 < fraud["fraud_pattern"].isin(["card_testing", "account_takeover", "stolen_card"]).mean() < 1.0

    # Card testing: bursts of small online payments, often at night, from new or hidden devices.
    assert (testing["channel"] == "online").all()
    assert testing["amount"].median() < 6.0 and (testing["amount"] <= 25.0).all()
    assert (testing["txn_count_1h"] >= 1).mean() > 0.5
    assert testing["hour"].isin([22, 23, 0, 1, 2, 3, 4, 5]).mean() > 0.5
    assert ((testing["device_age_days"] < 2) | testing["device_age_days"].isna()).mean() > 0.6
    # Account takeover: large online purchases relative to the card's habit, from new devices.
    assert (takeover["channel"] == "online").all()
    ratio = takeover["amount"] / takeover["customer_avg_amount"]
    assert ratio.median() > 4.0
    assert takeover["amount"].median() > 5 * testing["amount"].median()
    assert (takeover["device_age_days"] < 2).mean() > 0.5
    # Stolen card: card-present sprees.
    assert (stolen["channel"] != "online").all() and stolen["device_age_days"].isna().all()
    assert stolen["channel"].isin(["swipe", "contactless"]).mean() > 0.7

    legit = data[pattern == "none"]
    assert legit["amount"].median() > 5 * testing["amount"].median()
    assert (legit["channel"] == "online").mean() < 0.5
    assert (legit["device_age_days"] < 2).mean() < 0.1


def test_interactions_carry_signal_and_look_alikes_exist(data: pd.DataFrame):
    y = data[gen.TARGET_COLUMN]
    base = y.mean()
    small_burst = (
        (data["amount"] < 6)
        & (data["channel"] == "online")
        & (data["txn_count_1h"] >= 1)
        & ~(data["device_age_days"] > 2)  # new or hidden device
    )
    assert y[small_burst].mean() > 20 * base
    # ...but each ingredient alone is common among legitimate transactions.
    legit = data[y == 0]
    assert ((legit["amount"] < 6) & (legit["channel"] == "online") & (legit["txn_count_1h"] >= 1)).sum() > 200
    assert (legit["device_age_days"] < 2).sum() > 300
    assert (legit["distance_from_home_km"] > 1_000).sum() > 300  # travellers, VPNs, relatives abroad
    assert ((legit["hour"] < 5) & (legit["channel"] != "online")).sum() > 300  # night-shift workers
    ratio = legit["amount"] / legit["customer_avg_amount"]
    assert (ratio > 5).sum() > 100  # big-ticket legitimate purchases


def test_velocity_features_match_the_card_history():
    df = gen.generate_transactions(n_rows=3_000, seed=5, include_metadata=True)
    t = (df["timestamp"] - df["timestamp"].iloc[0].normalize()).dt.total_seconds().to_numpy()
    card = df["card_id"].to_numpy()
    amount = df["amount"].to_numpy()
    rows = np.arange(len(df))
    # Timestamps are rounded to the second: allow one second either way at the window edges.
    # The first day also sees unobserved warm-up history, so check from day two on.
    for i in np.flatnonzero(t >= 86_400.0)[::5]:
        prior = (card == card[i]) & (rows < i)
        dt = t[i] - t[prior]
        for col, window in (("txn_count_1h", 3_600.0), ("txn_count_24h", 86_400.0)):
            assert np.sum(dt < window - 1.0) <= df[col].iloc[i] <= np.sum(dt <= window + 1.0), col
        total = df["amount_sum_24h"].iloc[i]
        low, high = amount[prior][dt < 86_399.0].sum(), amount[prior][dt <= 86_401.0].sum()
        assert low - 0.01 <= total <= high + 0.01
        if prior.any():
            assert abs(df["seconds_since_last_txn"].iloc[i] - dt.min()) <= 1.0


@pytest.mark.parametrize(
    "kwargs", [{"n_rows": 10}, {"n_rows": 1_000.5}, {"fraud_rate": -0.1}, {"fraud_rate": 0.9}]
)
def test_invalid_arguments(kwargs: dict[str, float]):
    with pytest.raises(ValueError):
        gen.generate_transactions(**kwargs)
