"""TabularPreprocessor: statistics from training rows only, encoding, state."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch

from finegrain_automl.errors import DataError
from fg_automl_tabular import TabularPreprocessor, TabularSpec


@pytest.fixture
def train_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    colour = np.array(["red"] * 90 + ["green"] * 60 + ["blue"] * 47 + ["violet"] * 3, dtype=object)
    return pd.DataFrame(
        {
            "x": rng.normal(10.0, 2.0, size=n),
            "with_gaps": np.where(np.arange(n) % 10 == 0, np.nan, rng.normal(size=n)),
            "amount": rng.lognormal(3.0, 1.5, size=n),
            "colour": colour,
            "flag": np.arange(n) % 3 == 0,
        }
    )


@pytest.fixture
def other_frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 50
    return pd.DataFrame(
        {
            "x": rng.normal(-40.0, 9.0, size=n),
            "with_gaps": rng.normal(5.0, 1.0, size=n),
            "amount": np.where(np.arange(n) % 5 == 0, np.nan, rng.lognormal(6.0, 1.0, size=n)),
            "colour": rng.choice(["red", "black", "violet"], size=n).astype(object),
            "flag": np.arange(n) % 2 == 0,
        }
    )


def test_statistics_come_from_the_fitted_frame_only(train_frame, other_frame):
    fitted = TabularPreprocessor().fit(train_frame)
    stats = fitted.numeric_statistics
    assert stats["median"]["x"] == pytest.approx(train_frame["x"].median())
    assert stats["median"]["with_gaps"] == pytest.approx(train_frame["with_gaps"].median())
    assert stats["mean"]["x"] == pytest.approx(train_frame["x"].mean())
    assert stats["std"]["x"] == pytest.approx(train_frame["x"].std(ddof=0))
    assert fitted.vocabularies == {"colour": ["red", "green", "blue"], "flag": ["False", "True"]}

    x_num, _ = fitted.transform(other_frame)
    expected = (other_frame["x"] - train_frame["x"].mean()) / train_frame["x"].std(ddof=0)
    np.testing.assert_allclose(x_num[:, 0].numpy(), np.clip(expected, -10, 10), rtol=1e-5)

    # Transforming another frame changes nothing that was learned.
    fitted.transform(other_frame)
    assert fitted.numeric_statistics == stats
    refit_on_other = TabularPreprocessor().fit(other_frame).numeric_statistics
    assert refit_on_other["median"]["x"] != pytest.approx(stats["median"]["x"])


def test_unknown_rare_and_missing_categories_get_code_zero(train_frame):
    fitted = TabularPreprocessor(min_category_count=5).fit(train_frame)
    frame = train_frame.head(5).copy()
    frame["colour"] = ["red", "violet", None, "black", "blue"]  # violet is rare in training
    _, x_cat = fitted.transform(frame)
    assert x_cat[:, 0].tolist() == [1, 0, 0, 0, 3]
    assert fitted.spec.cardinalities == (4, 3)


def test_missing_numbers_get_median_and_an_indicator(train_frame, other_frame):
    fitted = TabularPreprocessor().fit(train_frame)
    spec = fitted.spec
    # Only 'with_gaps' had missing values in training: one indicator column.
    assert spec.n_numeric == 3 + 1
    assert spec.missing_indicators == (1,)
    x_num, _ = fitted.transform(train_frame)
    gaps = np.array(train_frame["with_gaps"].isna())
    assert x_num[:, 3].numpy().tolist() == gaps.astype(np.float32).tolist()
    imputed = x_num[gaps, 1].numpy()
    assert np.allclose(imputed, imputed[0])
    # 'amount' is missing only in the new frame: imputed, no new indicator.
    x_new, _ = fitted.transform(other_frame)
    assert x_new.shape == (len(other_frame), 4)
    assert torch.isfinite(x_new).all()


def test_skewed_column_is_log_transformed(train_frame):
    fitted = TabularPreprocessor().fit(train_frame)
    assert fitted.numeric_statistics["log"] == {"x": False, "with_gaps": False, "amount": True}


def test_infinite_values_count_as_missing(train_frame):
    fitted = TabularPreprocessor().fit(train_frame)
    frame = train_frame.head(3).assign(x=[np.inf, -np.inf, 1.0])
    x_num, _ = fitted.transform(frame)
    assert torch.isfinite(x_num).all()


def test_missing_column_is_a_data_error(train_frame):
    fitted = TabularPreprocessor().fit(train_frame)
    with pytest.raises(DataError, match="lack column 'amount'"):
        fitted.transform(train_frame.drop(columns=["amount"]))


def test_numeric_column_as_text(train_frame):
    fitted = TabularPreprocessor().fit(train_frame)
    as_text = train_frame.head(4).assign(x=["1.5", "2", None, "3"])
    x_num, _ = fitted.transform(as_text)
    assert x_num.shape == (4, 4)
    with pytest.raises(DataError, match="Column 'x' was numeric in training but holds 'abc'"):
        fitted.transform(train_frame.head(2).assign(x=["abc", "1"]))


def test_zero_numeric_or_zero_categorical_columns(train_frame):
    only_cat = TabularPreprocessor().fit(train_frame[["colour"]])
    x_num, x_cat = only_cat.transform(train_frame)
    assert x_num.shape == (200, 0) and x_cat.shape == (200, 1)
    assert only_cat.spec == TabularSpec(n_numeric=0, cardinalities=(4,))
    only_num = TabularPreprocessor().fit(train_frame[["x"]])
    x_num, x_cat = only_num.transform(train_frame)
    assert x_num.shape == (200, 1) and x_cat.shape == (200, 0) and x_cat.dtype == torch.int64


def test_state_round_trip_through_weights_only_load(train_frame, other_frame):
    fitted = TabularPreprocessor().fit(train_frame)
    buffer = io.BytesIO()
    torch.save(fitted.to_state(), buffer)
    buffer.seek(0)
    loaded = TabularPreprocessor.from_state(torch.load(buffer, weights_only=True))
    for a, b in zip(fitted.transform(other_frame), loaded.transform(other_frame), strict=True):
        assert torch.equal(a, b)
    assert loaded.spec == fitted.spec


def test_unfitted_preprocessor_refuses_to_transform(train_frame):
    with pytest.raises(RuntimeError, match="not fitted"):
        TabularPreprocessor().transform(train_frame)


def test_quantile_scaling_matches_scikit_learn(train_frame, other_frame):
    from sklearn.preprocessing import QuantileTransformer

    fitted = TabularPreprocessor(scaling="quantile").fit(train_frame)
    reference = QuantileTransformer(n_quantiles=len(train_frame), output_distribution="normal")
    reference.fit(train_frame[["x", "amount"]])
    for frame in (train_frame, other_frame.fillna({"amount": 1.0})):
        x_num, _ = fitted.transform(frame)
        np.testing.assert_allclose(x_num[:, [0, 2]].numpy(), reference.transform(frame[["x", "amount"]]), atol=1e-5)


def test_robust_scaling_centres_divides_by_the_iqr_and_clips_smoothly(train_frame, other_frame):
    fitted = TabularPreprocessor(scaling="robust").fit(train_frame)
    q1, median, q3 = np.quantile(train_frame["x"], [0.25, 0.5, 0.75])
    scaled = (other_frame["x"].to_numpy() - median) / (q3 - q1)
    x_num, _ = fitted.transform(other_frame)
    np.testing.assert_allclose(x_num[:, 0].numpy(), scaled / np.sqrt(1 + (scaled / 3) ** 2), rtol=1e-5)
    assert np.abs(x_num[:, :3].numpy()).max() < 3  # the smooth clip bounds every value by 3


@pytest.mark.parametrize("scaling", ["standard", "quantile", "robust"])
def test_bin_quantiles_come_from_the_training_rows_only(train_frame, other_frame, scaling):
    fitted = TabularPreprocessor(scaling=scaling).fit(train_frame)
    encoded, _ = fitted.transform(train_frame)
    expected = np.quantile(encoded.numpy().astype(np.float64), np.linspace(0, 1, 129), axis=0).T
    np.testing.assert_allclose(np.asarray(fitted.spec.quantiles), expected, rtol=1e-5, atol=1e-6)
    fitted.transform(other_frame)  # scoring rows changes nothing
    np.testing.assert_allclose(np.asarray(fitted.spec.quantiles), expected, rtol=1e-5, atol=1e-6)
    both = TabularPreprocessor(scaling=scaling).fit(pd.concat([train_frame, other_frame], ignore_index=True))
    assert not np.allclose(np.asarray(both.spec.quantiles)[:3], expected[:3])  # the value columns


@pytest.mark.parametrize("scaling", ["quantile", "robust"])
def test_every_scaling_survives_the_state_round_trip(train_frame, other_frame, scaling):
    fitted = TabularPreprocessor(scaling=scaling).fit(train_frame)
    buffer = io.BytesIO()
    torch.save(fitted.to_state(), buffer)
    buffer.seek(0)
    loaded = TabularPreprocessor.from_state(torch.load(buffer, weights_only=True))
    assert loaded.spec == fitted.spec
    for a, b in zip(loaded.transform(other_frame), fitted.transform(other_frame), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("scaling", ["standard", "quantile", "robust"])
def test_a_table_of_categorical_columns_only_survives_the_state_round_trip(train_frame, other_frame, scaling):
    fitted = TabularPreprocessor(scaling=scaling).fit(train_frame[["colour", "flag"]])
    loaded = TabularPreprocessor.from_state(fitted.to_state())  # no numeric column: empty quantile grids
    assert loaded.spec == fitted.spec and loaded.spec.n_numeric == 0
    for a, b in zip(loaded.transform(other_frame), fitted.transform(other_frame), strict=True):
        assert torch.equal(a, b)


def test_unknown_scaling_is_refused():
    with pytest.raises(ValueError, match="scaling must be one of"):
        TabularPreprocessor(scaling="minmax")
