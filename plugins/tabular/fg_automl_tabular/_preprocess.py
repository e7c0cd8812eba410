"""Turning a table into the tensors a tabular network reads.

:class:`TabularPreprocessor` learns every statistic (medians, skew decisions,
means, standard deviations, quantiles, vocabularies, the quantile grid that
piecewise-linear embeddings take their bins from) from the rows it is fit on
and nothing else, so fitting it on the training folds keeps scored rows unseen.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from finegrain_automl.errors import DataError
from fg_automl_tabular._columns import column_kind, split_columns
from fg_automl_tabular._config import NUMERIC_SCALINGS
from fg_automl_tabular._spec import TabularSpec
# One copy of the numeric steps: the ONNX export's numpy-only module runs them too.
from fg_automl_tabular.onnx_preprocess import quantile_normal, signed_log1p

__all__ = ["BIN_QUANTILE_LEVELS", "NUMERIC_SCALINGS", "TabularPreprocessor"]

_STATE_FORMAT = "fg_automl_tabular.preprocessor/1"
#: Levels of the quantile grid of each encoded numeric column, from which
#: piecewise-linear embeddings take bins of any number up to 128.
BIN_QUANTILE_LEVELS = 129
#: Most quantiles the ``quantile`` scaling keeps per column (as scikit-learn's
#: ``QuantileTransformer(n_quantiles=1000)``).
_MAX_QUANTILES = 1000
#: Scale of RealMLP's smooth clipping ``x / sqrt(1 + (x / 3) ** 2)``.
_SMOOTH_CLIP = 3.0


class TabularPreprocessor:
    """Encodes numeric and categorical columns with statistics of training rows.

    Numeric columns: missing and infinite values become the training median,
    and a 0/1 missing-indicator column is added for each column that had
    missing values in training. Then, by ``scaling``:

    - ``"standard"``: a column whose training skewness exceeds
      ``skew_threshold`` in absolute value is passed through the signed
      ``log1p`` when that reduces its skewness (heavy-tailed amounts); values
      are standardised with the training mean and standard deviation and
      clipped to ``[-clip, clip]``;
    - ``"quantile"``: each value is mapped through the training column's
      empirical distribution function to a standard normal (scikit-learn's
      ``QuantileTransformer(output_distribution="normal")``, up to 1,000
      quantiles, ties averaged the same way);
    - ``"robust"``: RealMLP's robust scaling and smooth clipping
      (Holzmüller et al., 2024): centred on the training median, divided by
      the interquartile range (half the range when that is 0), then
      ``x / sqrt(1 + (x / 3) ** 2)``.

    The grid of :data:`BIN_QUANTILE_LEVELS` quantiles of every encoded
    numeric column over the training rows is kept in :attr:`spec` for
    piecewise-linear embeddings (Gorishniy et al., 2022), whose bins must
    come from training rows only.

    Categorical columns (strings, objects, pandas categoricals, booleans):
    each value seen at least ``min_category_count`` times in training gets a
    code from 1 up; code 0 stands for missing, rare and unseen values.

    Args:
        min_category_count: Training occurrences a category needs to get its
            own code.
        skew_threshold: Absolute skewness above which the signed log is tried.
        clip: Bound on standardised numeric values, so that one extreme value
            in scored rows cannot dominate a prediction.
        scaling: One of :data:`NUMERIC_SCALINGS`.
    """

    def __init__(
        self,
        *,
        min_category_count: int = 5,
        skew_threshold: float = 1.0,
        clip: float = 10.0,
        scaling: str = "standard",
    ) -> None:
        if min_category_count < 1:
            raise ValueError(f"min_category_count must be at least 1, but got {min_category_count=}.")
        if clip <= 0:
            raise ValueError(f"clip must be positive, but got {clip=}.")
        if scaling not in NUMERIC_SCALINGS:
            raise ValueError(f"scaling must be one of {NUMERIC_SCALINGS}, but got {scaling=}.")
        self.min_category_count = int(min_category_count)
        self.skew_threshold = float(skew_threshold)
        self.clip = float(clip)
        self.scaling = scaling
        self._quantiles = np.zeros((0, 0))  # "quantile" scaling: [n_quantiles, n_columns]
        self._bin_quantiles = np.zeros((BIN_QUANTILE_LEVELS, 0))
        self._fitted = False
        self.numeric_columns: list[Any] = []
        self.categorical_columns: list[Any] = []
        self._median = np.zeros(0)
        self._use_log = np.zeros(0, dtype=bool)
        self._mean = np.zeros(0)
        self._std = np.ones(0)
        self._indicator = np.zeros(0, dtype=bool)
        self._vocabularies: list[list[str]] = []

    # ------------------------------------------------------------------ fitting

    def fit(self, frame: pd.DataFrame) -> TabularPreprocessor:
        """Learns the statistics of ``frame``'s columns; returns ``self``.

        Raises:
            DataError: A column is neither numeric nor categorical.
        """
        numeric, categorical, unsupported = split_columns(frame)
        if unsupported:
            column = unsupported[0]
            raise DataError(
                f"Column {column!r} has type {frame[column].dtype}, which is neither numeric "
                f"nor categorical; convert it to numbers or ignore it with --drop {column}."
            )
        self.numeric_columns, self.categorical_columns = list(numeric), list(categorical)
        values = _numeric_matrix(frame, self.numeric_columns)
        self._fit_numeric(values)
        self._vocabularies = [self._fit_vocabulary(frame[c]) for c in self.categorical_columns]
        self._fitted = True
        encoded = self._encode_numeric(values)
        levels = np.linspace(0.0, 1.0, BIN_QUANTILE_LEVELS)
        self._bin_quantiles = (
            np.quantile(encoded, levels, axis=0) if len(encoded) else np.zeros((len(levels), encoded.shape[1]))
        )
        return self

    def _fit_numeric(self, values: np.ndarray) -> None:
        missing = np.isnan(values)
        n_present = (~missing).sum(axis=0)
        median = np.zeros(values.shape[1])
        for j in np.flatnonzero(n_present):
            median[j] = np.median(values[~missing[:, j], j])
        imputed = np.where(missing, median, values)
        self._median, self._indicator = median, missing.any(axis=0)
        n_columns = values.shape[1]
        self._use_log = np.zeros(n_columns, dtype=bool)
        self._mean, self._std = np.zeros(n_columns), np.ones(n_columns)
        if self.scaling == "standard":
            skew = _skewness(imputed)
            skew_log = _skewness(signed_log1p(imputed))
            self._use_log = (np.abs(skew) > self.skew_threshold) & (np.abs(skew_log) < np.abs(skew))
            transformed = np.where(self._use_log, signed_log1p(imputed), imputed)
            if len(values):
                std = transformed.std(axis=0)
                self._mean, self._std = transformed.mean(axis=0), np.where(std > 1e-12, std, 1.0)
        elif self.scaling == "quantile":
            n_quantiles = max(2, min(_MAX_QUANTILES, len(values)))
            self._quantiles = (
                np.quantile(imputed, np.linspace(0.0, 1.0, n_quantiles), axis=0)
                if len(values) else np.zeros((n_quantiles, n_columns))
            )
        elif len(values):  # robust: centre and interquartile range (RealMLP)
            q1, q3 = np.quantile(imputed, [0.25, 0.75], axis=0)
            half_range = (imputed.max(axis=0) - imputed.min(axis=0)) / 2
            scale = np.where(q3 - q1 > 1e-12, q3 - q1, half_range)
            self._mean, self._std = median, np.where(scale > 1e-12, scale, 1.0)

    def _fit_vocabulary(self, series: pd.Series) -> list[str]:
        counts = _category_strings(series).value_counts(dropna=True)
        kept = [(int(n), str(v)) for v, n in counts.items() if n >= self.min_category_count]
        return [value for _, value in sorted(kept, key=lambda item: (-item[0], item[1]))]

    # ------------------------------------------------------------- transforming

    def transform(self, frame: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """Encodes ``frame`` with the fitted statistics.

        Columns the preprocessor was not fit on are ignored.

        Returns:
            ``x_num``, float32 of shape ``[n, spec.n_numeric]`` (standardised
            numeric columns, then missing indicators), and ``x_cat``, int64 of
            shape ``[n, len(spec.cardinalities)]`` (0 for unknown or missing).

        Raises:
            DataError: ``frame`` lacks a column the preprocessor was fit on, or
                a numeric column holds text.
        """
        self._check_fitted()
        absent = [c for c in (*self.numeric_columns, *self.categorical_columns) if c not in frame.columns]
        if absent:
            raise DataError(
                f"The rows lack column {absent[0]!r}, which the model was trained on; "
                "add that column (its values may be empty)."
            )
        return self._transform_numeric(frame), self._transform_categorical(frame)

    def fit_transform(self, frame: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """Fits on ``frame`` and encodes it; see :meth:`transform`."""
        return self.fit(frame).transform(frame)

    def _transform_numeric(self, frame: pd.DataFrame) -> torch.Tensor:
        encoded = self._encode_numeric(_numeric_matrix(frame, self.numeric_columns))
        return torch.from_numpy(np.ascontiguousarray(encoded, dtype=np.float32))

    def _encode_numeric(self, values: np.ndarray) -> np.ndarray:
        """Scaled values, then the missing indicators: float64 ``[n, spec.n_numeric]``."""
        missing = np.isnan(values)
        imputed = np.where(missing, self._median, values)
        if self.scaling == "quantile":
            scaled = quantile_normal(imputed, self._quantiles)
        else:
            if self._use_log.any():
                imputed = np.where(self._use_log, signed_log1p(imputed), imputed)
            scaled = (imputed - self._mean) / self._std
            if self.scaling == "robust":
                scaled = scaled / np.sqrt(1 + (scaled / _SMOOTH_CLIP) ** 2)
            scaled = np.clip(scaled, -self.clip, self.clip)
        return np.concatenate([scaled, missing[:, self._indicator]], axis=1)

    def _transform_categorical(self, frame: pd.DataFrame) -> torch.Tensor:
        codes = np.zeros((len(frame), len(self.categorical_columns)), dtype=np.int64)
        columns = zip(self.categorical_columns, self._vocabularies, strict=True)
        for j, (column, vocabulary) in enumerate(columns):
            strings = _category_strings(frame[column])
            codes[:, j] = pd.Categorical(strings, categories=vocabulary).codes.astype(np.int64) + 1
        return torch.from_numpy(codes)

    # ---------------------------------------------------------------- describing

    @property
    def spec(self) -> TabularSpec:
        """The input a network needs for the encoded tensors."""
        self._check_fitted()
        return TabularSpec(
            n_numeric=len(self.numeric_columns) + int(self._indicator.sum()),
            cardinalities=tuple(len(v) + 1 for v in self._vocabularies),
            missing_indicators=tuple(int(i) for i in np.flatnonzero(self._indicator)),
            quantiles=tuple(tuple(column) for column in self._bin_quantiles.T.tolist()),
        )

    @property
    def vocabularies(self) -> dict[Any, list[str]]:
        """Known categories per categorical column (code ``i + 1`` for item ``i``)."""
        return {c: list(v) for c, v in zip(self.categorical_columns, self._vocabularies, strict=True)}

    @property
    def numeric_statistics(self) -> dict[str, dict[Any, Any]]:
        """Per numeric column: ``median``, ``log`` (signed log1p used),
        ``mean`` and ``std`` (after the log), and ``indicator``."""
        self._check_fitted()
        names = self.numeric_columns
        return {
            "median": dict(zip(names, self._median.tolist(), strict=True)),
            "log": dict(zip(names, self._use_log.tolist(), strict=True)),
            "mean": dict(zip(names, self._mean.tolist(), strict=True)),
            "std": dict(zip(names, self._std.tolist(), strict=True)),
            "indicator": dict(zip(names, self._indicator.tolist(), strict=True)),
        }

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise RuntimeError("The TabularPreprocessor is not fitted; call fit() first.")

    # ------------------------------------------------------------------ state

    def to_state(self) -> dict[str, Any]:
        """Returns the fitted statistics as numbers, strings, lists and dicts."""
        self._check_fitted()
        return {
            "format": _STATE_FORMAT,
            "min_category_count": self.min_category_count,
            "skew_threshold": self.skew_threshold,
            "clip": self.clip,
            "scaling": self.scaling,
            "quantiles": self._quantiles.tolist(),
            "bin_quantiles": self._bin_quantiles.tolist(),
            "numeric_columns": list(self.numeric_columns),
            "median": self._median.tolist(),
            "use_log": self._use_log.tolist(),
            "mean": self._mean.tolist(),
            "std": self._std.tolist(),
            "indicator": self._indicator.tolist(),
            "categorical_columns": list(self.categorical_columns),
            "vocabularies": [list(v) for v in self._vocabularies],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TabularPreprocessor:
        """Rebuilds a fitted preprocessor from :meth:`to_state` output."""
        if state.get("format") != _STATE_FORMAT:
            raise ValueError(
                f"Preprocessor state has format {state.get('format')!r}, expected "
                f"{_STATE_FORMAT!r}; save it again with this version of finegrain-automl."
            )
        self = cls(
            min_category_count=state["min_category_count"],
            skew_threshold=state["skew_threshold"],
            clip=state["clip"],
            scaling=state.get("scaling", "standard"),
        )
        n_columns = len(state["numeric_columns"])
        self._quantiles = _grid(state.get("quantiles", []), n_columns)
        n_encoded = n_columns + int(np.sum(state["indicator"]))
        self._bin_quantiles = _grid(state.get("bin_quantiles", []), n_encoded)
        self.numeric_columns = list(state["numeric_columns"])
        self.categorical_columns = list(state["categorical_columns"])
        self._median = np.asarray(state["median"], dtype=np.float64)
        self._use_log = np.asarray(state["use_log"], dtype=bool)
        self._mean = np.asarray(state["mean"], dtype=np.float64)
        self._std = np.asarray(state["std"], dtype=np.float64)
        self._indicator = np.asarray(state["indicator"], dtype=bool)
        self._vocabularies = [list(v) for v in state["vocabularies"]]
        self._fitted = True
        return self


def _grid(rows: list[Any], n_columns: int) -> np.ndarray:
    """Saved quantiles as float64 ``[n_quantiles, n_columns]`` (``n_columns`` may be 0:
    a table of categorical columns only)."""
    grid = np.asarray(rows, dtype=np.float64)
    return grid.reshape(-1, n_columns) if n_columns else grid.reshape(len(rows), 0)


def _numeric_matrix(frame: pd.DataFrame, columns: list[Any]) -> np.ndarray:
    """Returns ``columns`` as float64 ``[n, k]``, NaN for missing or infinite values."""
    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        series = frame[column]
        if column_kind(series) != "numeric":
            series = _parse_numbers(series, column)
        out[:, j] = series.to_numpy(dtype=np.float64, na_value=np.nan)
    out[~np.isfinite(out)] = np.nan
    return out


def _parse_numbers(series: pd.Series, column: Any) -> pd.Series:
    """Parses a column that was numeric in training but arrives as text."""
    parsed = pd.to_numeric(series, errors="coerce")
    bad = parsed.isna() & series.notna()
    if bad.any():
        example = series[bad].iloc[0]
        raise DataError(
            f"Column {column!r} was numeric in training but holds {example!r} in "
            f"{int(bad.sum())} rows; write numbers there or leave those cells empty."
        )
    return parsed


def _category_strings(series: pd.Series) -> pd.Series:
    """Returns ``series`` as strings, keeping missing values missing."""
    return series.astype("string")


def _skewness(values: np.ndarray) -> np.ndarray:
    """Returns the per-column sample skewness (0 for constant or empty columns)."""
    if len(values) == 0:
        return np.zeros(values.shape[1])
    centred = values - values.mean(axis=0)
    std = centred.std(axis=0)
    safe = np.where(std > 1e-12, std, 1.0)
    skew = ((centred / safe) ** 3).mean(axis=0)
    return np.where(std > 1e-12, skew, 0.0)
