"""The tabular tasks' preprocessing for their ONNX export (numpy and pandas only).

``fg-automl export --format onnx`` copies this file into the export, where the
loader (``fg_automl_onnx.py``) calls :func:`preprocess` with each network's
``spec`` from ``pipeline.json``. It repeats
:meth:`fg_automl_tabular.TabularPreprocessor.transform` step by step with the
statistics the fitted preprocessor saved (nothing is fit again): numbers
parsed, missing and infinite values replaced by the training median, missing
indicators, the signed ``log1p``, the ``standard``, ``quantile`` or
``robust`` scaling with its clipping, and categorical codes (0 for missing,
rare and unseen values). The one step the plugin takes from scipy, the
inverse of the normal distribution function, is :func:`normal_quantile`
here. Nothing in this file may import torch, scipy or finegrain-automl.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FORMAT", "normal_quantile", "preprocess", "quantile_normal", "signed_log1p"]

#: The ``spec["format"]`` this module reads.
FORMAT = "fg_automl_tabular.onnx_preprocess/1"
#: Bound of the ``quantile`` scaling's probabilities, as in the plugin.
_QUANTILE_BOUND = 1e-7
#: Scale of RealMLP's smooth clipping ``x / sqrt(1 + (x / 3) ** 2)``, as in the plugin.
_SMOOTH_CLIP = 3.0


def preprocess(frame: pd.DataFrame, spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """The network's inputs for the rows of ``frame``.

    Args:
        frame: Rows to predict; columns the model was not trained on are ignored.
        spec: The fitted preprocessor's statistics (format :data:`FORMAT`).

    Returns:
        ``x_num``, float32 ``[n, n_numeric]`` (scaled numeric columns, then
        missing indicators), and ``x_cat``, int64 ``[n, n_categorical]``.

    Raises:
        ValueError: ``spec`` is of another format, ``frame`` lacks a column
            the model was trained on, or a numeric column holds text.
    """
    if spec.get("format") != FORMAT:
        raise ValueError(f"This preprocessing reads spec format {FORMAT!r}, got {spec.get('format')!r}; "
                         "export the model again with the same version of fg-automl-tabular.")
    absent = [c for c in (*spec["numeric_columns"], *spec["categorical_columns"]) if c not in frame.columns]
    if absent:
        raise ValueError(f"The rows lack column {absent[0]!r}, which the model was trained on; "
                         "add that column (its values may be empty).")
    values = _numeric_matrix(frame, spec["numeric_columns"])
    x_num = np.ascontiguousarray(_encode_numeric(values, spec), dtype=np.float32)
    return {"x_num": x_num, "x_cat": _categorical_codes(frame, spec)}


# ----------------------------------------------------------------------- numbers


def _numeric_matrix(frame: pd.DataFrame, columns: list[Any]) -> np.ndarray:
    """``columns`` as float64 ``[n, k]``, NaN for missing or infinite values."""
    dtypes = dict(zip(frame.columns, frame.dtypes, strict=True))
    if len(dtypes) == len(frame.columns) and all(
        isinstance(dtypes.get(c), np.dtype) and dtypes[c].kind in "iuf" for c in columns
    ):  # plain numpy numbers (the usual case): one block copy, no per-column pandas calls
        positions = [frame.columns.get_loc(column) for column in columns]
        out = np.array(frame.iloc[:, positions].to_numpy(dtype=np.float64))
        out[~np.isfinite(out)] = np.nan
        return out
    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        series = frame[column]
        if not _is_numeric(series.dtype):
            series = _parse_numbers(series, column)
        out[:, j] = series.to_numpy(dtype=np.float64, na_value=np.nan)
    out[~np.isfinite(out)] = np.nan
    return out


def _is_numeric(dtype: Any) -> bool:
    """Whether the plugin reads a column of ``dtype`` as numbers as they are
    (integers and floats; not booleans, categoricals, strings or objects)."""
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return False
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        return False
    return pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype)


def _parse_numbers(series: pd.Series, column: Any) -> pd.Series:
    """A column that was numeric in training but arrives as text (or booleans), as numbers."""
    parsed = pd.to_numeric(series, errors="coerce")
    bad = parsed.isna() & series.notna()
    if bad.any():
        example = series[bad].iloc[0]
        raise ValueError(f"Column {column!r} was numeric in training but holds {example!r} in "
                         f"{int(bad.sum())} rows; write numbers there or leave those cells empty.")
    return parsed


def _encode_numeric(values: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Scaled values, then the missing indicators: float64 ``[n, n_numeric]``."""
    median = np.asarray(spec["median"], dtype=np.float64)
    indicator = np.asarray(spec["indicator"], dtype=bool)
    missing = np.isnan(values)
    imputed = np.where(missing, median, values)
    if spec["scaling"] == "quantile":
        scaled = quantile_normal(imputed, _quantile_grid(spec, values.shape[1]))
    else:
        use_log = np.asarray(spec["use_log"], dtype=bool)
        if use_log.any():
            imputed = np.where(use_log, signed_log1p(imputed), imputed)
        mean, std = np.asarray(spec["mean"], dtype=np.float64), np.asarray(spec["std"], dtype=np.float64)
        scaled = (imputed - mean) / std
        if spec["scaling"] == "robust":
            scaled = scaled / np.sqrt(1 + (scaled / _SMOOTH_CLIP) ** 2)
        scaled = np.clip(scaled, -spec["clip"], spec["clip"])
    return np.concatenate([scaled, missing[:, indicator]], axis=1)


def _quantile_grid(spec: dict[str, Any], n_columns: int) -> np.ndarray:
    """The ``quantile`` scaling's training quantiles, ``[n_quantiles, n_columns]``."""
    grid = np.asarray(spec["quantiles"], dtype=np.float64)
    return grid.reshape(-1, n_columns) if n_columns else grid.reshape(len(spec["quantiles"]), 0)


def quantile_normal(values: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Each column through its empirical distribution function to a standard normal,
    averaged forwards and backwards (scikit-learn's ``QuantileTransformer``)."""
    references = np.linspace(0.0, 1.0, len(quantiles))
    out = np.empty_like(values)
    for j in range(values.shape[1]):
        column = quantiles[:, j]
        forward = np.interp(values[:, j], column, references)
        backward = -np.interp(-values[:, j], -column[::-1], -references[::-1])
        out[:, j] = (forward + backward) / 2
    return normal_quantile(np.clip(out, _QUANTILE_BOUND, 1 - _QUANTILE_BOUND))


def signed_log1p(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


# -------------------------------------------------------------------- categories


def _categorical_codes(frame: pd.DataFrame, spec: dict[str, Any]) -> np.ndarray:
    """Code ``i + 1`` for the ``i``-th known category of each column, 0 for the rest."""
    columns = zip(spec["categorical_columns"], spec["vocabularies"], strict=True)
    codes = np.zeros((len(frame), len(spec["categorical_columns"])), dtype=np.int64)
    for j, (column, vocabulary) in enumerate(columns):
        strings = frame[column].astype("string")  # missing values stay missing
        codes[:, j] = pd.Categorical(strings, categories=vocabulary).codes.astype(np.int64) + 1
    return codes


# ------------------------------------------------------- the normal distribution

# Wichura's algorithm AS 241 (PPND16, Applied Statistics 37, 1988): rational
# approximations of the normal quantile with about 1e-16 relative error.
# Coefficients from the highest power down, as np.polyval reads them.
_CENTRAL = (
    (2.5090809287301226727e3, 3.3430575583588128105e4, 6.7265770927008700853e4, 4.5921953931549871457e4,
     1.3731693765509461125e4, 1.9715909503065514427e3, 1.3314166789178437745e2, 3.3871328727963666080e0),
    (5.2264952788528545610e3, 2.8729085735721942674e4, 3.9307895800092710610e4, 2.1213794301586595867e4,
     5.3941960214247511077e3, 6.8718700749205790830e2, 4.2313330701600911252e1, 1.0),
)
_INTERMEDIATE = (
    (7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1,
     1.27045825245236838258e0, 3.64784832476320460504e0, 5.76949722146069140550e0,
     4.63033784615654529590e0, 1.42343711074968357734e0),
    (1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2,
     1.48103976427480074590e-1, 6.89767334985100004550e-1, 1.67638483018380384940e0,
     2.05319162663775882187e0, 1.0),
)
_TAIL = (
    (2.01033439929228813265e-7, 2.71155556874348757815e-5, 1.24266094738807843860e-3,
     2.65321895265761230930e-2, 2.96560571828504891230e-1, 1.78482653991729133580e0,
     5.46378491116411436990e0, 6.65790464350110377720e0),
    (2.04426310338993978564e-15, 1.42151175831644588870e-7, 1.84631831751005468180e-5,
     7.86869131145613259100e-4, 1.48753612908506148525e-2, 1.36929880922735805310e-1,
     5.99832206555887937690e-1, 1.0),
)


def normal_quantile(p: np.ndarray) -> np.ndarray:
    """The standard normal quantile of each probability (scipy's ``ndtri``).

    Wichura's AS 241, vectorised: ``-inf`` at 0, ``inf`` at 1, NaN outside ``[0, 1]``.
    """
    p = np.asarray(p, dtype=np.float64)
    q = p - 0.5
    out = np.full(p.shape, np.nan)
    central = np.abs(q) <= 0.425
    r = 0.180625 - q[central] ** 2
    out[central] = q[central] * _ratio(_CENTRAL, r)
    tails = ~central & (p > 0) & (p < 1)
    tail_p = np.minimum(p[tails], 1 - p[tails])  # 1 - p is exact for p >= 0.5
    r = np.sqrt(-np.log(tail_p))
    near = r <= 5.0
    value = np.empty_like(r)
    value[near] = _ratio(_INTERMEDIATE, r[near] - 1.6)
    value[~near] = _ratio(_TAIL, r[~near] - 5.0)
    out[tails] = np.where(q[tails] < 0, -value, value)
    out[p == 0] = -np.inf
    out[p == 1] = np.inf
    return out


def _ratio(coefficients: tuple[tuple[float, ...], tuple[float, ...]], r: np.ndarray) -> np.ndarray:
    numerator, denominator = coefficients
    return np.polyval(numerator, r) / np.polyval(denominator, r)
