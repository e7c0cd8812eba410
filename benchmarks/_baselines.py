"""Gradient-boosting baselines of ``benchmarks/quality.py`` for the tabular tasks.

Three baselines, each scored once on the search's test split after learning
from the search's development rows only:

- :func:`hgb_fixed`: ``HistGradientBoostingClassifier`` with the fixed setting
  ``HGB_SETTINGS["hgb"]`` of ``benchmarks/fraud_baseline.py``;
- :func:`tune` with ``kind="hgb"`` or ``kind="lightgbm"``: Optuna's TPE
  (seeded) searches the usual hyperparameters of the model (:data:`SPACES`)
  for the given wall time; a configuration's score is its mean F1 over the
  search's own folds (``prepared.splits.folds``), each fold scored as a search
  trial scores it (:func:`fold_f1`).

Categorical columns (strings, booleans) are pandas ``category`` columns with
the categories seen in the development rows; both models split on them
natively. Missing values stay missing (both models route them).

Every threshold is chosen on rows the model is not scored on. A final model
learns from all development rows, with its threshold tuned for F1 by
``TunedThresholdClassifierCV`` on 5 seeded stratified folds of those rows.

Every fit is single-threaded; ``n_jobs`` of them run side by side in joblib's
worker processes (the folds of a configuration, the folds of a threshold), as
the search runs one-CPU trials side by side.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from fraud_baseline import HGB_SETTINGS  # the fixed setting, kept in one place

__all__ = ["SPACES", "Tuned", "boosting_features", "fold_f1", "hgb_fixed", "prefit_threshold", "tune"]

#: Share of a fold's training rows held out to choose its threshold, as a
#: search trial does (``fit_binary_classifier(validation_fraction=0.2)``).
THRESHOLD_HOLDOUT = 0.2
#: Folds of the development rows that choose a final model's threshold.
REFIT_THRESHOLD_FOLDS = 5


@dataclass(frozen=True, kw_only=True)
class Tuned:
    """What :func:`tune` found and how the refit winner scored.

    Attributes:
        test_f1: F1 of the refit best configuration on the test rows.
        cv_f1: Its mean F1 over the search's folds.
        params: Its hyperparameters.
        trials: Configurations scored on every fold.
        seconds: Wall time of the tuning (the refit not included).
        refit_seconds: Wall time of the final refit and its threshold.
    """

    test_f1: float
    cv_f1: float
    params: dict[str, Any]
    trials: int
    seconds: float
    refit_seconds: float


def boosting_features(features: pd.DataFrame, development: np.ndarray) -> pd.DataFrame:
    """``features`` with every string or boolean column as a pandas ``category``.

    The categories are the values of the development rows (others become
    missing), so nothing is learned from the test rows.
    """
    features = features.copy()
    for column in features.columns:
        dtype = features[column].dtype
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            continue
        values = features[column].astype("object")
        values = values.where(values.isna(), values.astype(str))
        categories = sorted(values.iloc[development].dropna().unique())
        features[column] = values.astype(pd.CategoricalDtype(categories))
    return features


def _model(kind: str, params: dict[str, Any], *, seed: int):
    """A single-threaded, unfitted model of ``kind`` (``"hgb"`` or ``"lightgbm"``) with ``params``."""
    if kind == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed, **params)
    import lightgbm

    return lightgbm.LGBMClassifier(random_state=seed, n_jobs=1, verbose=-1, **params)


@contextmanager
def _one_thread():
    """One OpenMP thread per fit, warnings off: fits run side by side in processes, as search trials do.

    (Two OpenMP threads per fit on a busy 2-core machine made a small fit 50 times slower.)
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _hgb_space(trial, *, max_leaf_size: int) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "max_iter": trial.suggest_int("max_iter", 30, 1000, log=True),
        "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 4, 128, log=True),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 2, max_leaf_size, log=True),
        "l2_regularization": trial.suggest_float("l2_regularization", 1e-3, 30.0, log=True),
        "max_features": trial.suggest_float("max_features", 0.3, 1.0),
        "class_weight": _class_weight(trial.suggest_categorical("class_weight", ["none", "balanced"])),
        "early_stopping": False,  # a fold holds few positives; the number of iterations is tuned instead
    }


def _lightgbm_space(trial, *, max_leaf_size: int) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "n_estimators": trial.suggest_int("n_estimators", 30, 1000, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, 128, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 2, max_leaf_size, log=True),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),  # bagging, redrawn every iteration
        "subsample_freq": 1,
        "class_weight": _class_weight(trial.suggest_categorical("class_weight", ["none", "balanced"])),
    }


def _class_weight(choice: str) -> str | None:
    return None if choice == "none" else choice


#: Per kind: its Optuna space and the first configuration tried
#: (for ``hgb`` the fixed setting of :func:`hgb_fixed`; for ``lightgbm`` the
#: same learning rate and iterations with LightGBM's default leaves).
SPACES: dict[str, tuple[Callable[..., dict[str, Any]], dict[str, Any]]] = {
    "hgb": (
        _hgb_space,
        {"max_leaf_nodes": 31, "max_features": 1.0, "class_weight": "none"}  # sklearn's defaults
        | {key: value for key, value in HGB_SETTINGS["hgb"].items() if key != "early_stopping"},
    ),
    "lightgbm": (
        _lightgbm_space,
        {"learning_rate": 0.05, "n_estimators": 400, "num_leaves": 31, "min_child_samples": 20,
         "reg_lambda": 1.0, "colsample_bytree": 1.0, "subsample": 1.0, "class_weight": "none"},
    ),
}


def fold_f1(
    kind: str,
    params: dict[str, Any],
    x: pd.DataFrame,
    y: np.ndarray,
    train: np.ndarray,
    valid: np.ndarray,
    *,
    seed: int,
    deadline: float | None = None,
) -> float | None:
    """F1 on ``valid`` of a model that saw only ``train``, scored as a search trial is.

    A seeded stratified :data:`THRESHOLD_HOLDOUT` of ``train`` is held out;
    the model learns from the rest, and its threshold is the one sklearn's
    ``TunedThresholdClassifierCV(cv="prefit")`` picks on the held-out part
    (:func:`prefit_threshold`).
    Returns ``None`` without fitting when ``time.time()`` is past ``deadline``.
    """
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedShuffleSplit

    if deadline is not None and time.time() > deadline:
        return None
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=THRESHOLD_HOLDOUT, random_state=seed)
    fit_part, held_out = (train[rows] for rows in next(splitter.split(np.zeros(len(train)), y[train])))
    with _one_thread():
        model = _model(kind, params, seed=seed).fit(x.iloc[fit_part], y[fit_part])
        threshold = prefit_threshold(y[held_out], model.predict_proba(x.iloc[held_out])[:, 1])
        predicted = model.predict_proba(x.iloc[valid])[:, 1] >= threshold
    return float(f1_score(y[valid], predicted, zero_division=0.0))


def prefit_threshold(target: np.ndarray, probability: np.ndarray, *, thresholds: int = 100) -> float:
    """The threshold ``TunedThresholdClassifierCV(model, scoring="f1", cv="prefit")`` picks on these rows.

    The first F1-best of ``thresholds`` evenly spaced values from the lowest to
    the highest probability (``>=`` is positive), vectorised: sklearn's 100
    ``f1_score`` calls took as long as a small fit. 0.5 when all
    probabilities are equal (sklearn refuses to choose).
    """
    grid = np.linspace(probability.min(), probability.max(), thresholds)
    if np.isclose(grid[0], grid[-1]):
        return 0.5
    positive = probability[None, :] >= grid[:, None]
    true_positives = (positive & (target[None, :] == 1)).sum(axis=1)
    denominator = positive.sum(axis=1) + int((target == 1).sum())
    f1 = np.divide(2.0 * true_positives, denominator, out=np.zeros(len(grid)), where=denominator > 0)
    return float(grid[int(np.argmax(f1))])


def _refit_and_test(
    kind: str, params: dict[str, Any], x: pd.DataFrame, y: np.ndarray, development: np.ndarray,
    test: np.ndarray, *, seed: int, n_jobs: int,
) -> float:
    """Test F1 of the model fit on the development rows, threshold tuned there (``n_jobs`` fits at a time)."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold, TunedThresholdClassifierCV

    folds = StratifiedKFold(n_splits=REFIT_THRESHOLD_FOLDS, shuffle=True, random_state=seed)
    with _one_thread():  # the threshold's fits run in joblib's worker processes, one thread each
        final = TunedThresholdClassifierCV(_model(kind, params, seed=seed), scoring="f1", cv=folds,
                                           n_jobs=n_jobs).fit(x.iloc[development], y[development])
        return float(f1_score(y[test], final.predict(x.iloc[test]), zero_division=0.0))


def hgb_fixed(data, development: np.ndarray, test: np.ndarray, *, seed: int, n_jobs: int) -> float:
    """Test F1 of ``HistGradientBoostingClassifier(**HGB_SETTINGS["hgb"])``,
    threshold tuned on the development rows.

    The fixed setting, for reference: no tuning and no budget.
    """
    x, y = boosting_features(data.features, development), np.asarray(data.target)
    params = dict(HGB_SETTINGS["hgb"])
    return _refit_and_test("hgb", params, x, y, development, test, seed=seed, n_jobs=n_jobs)


def tune(
    kind: str,
    data,
    *,
    development: np.ndarray,
    test: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    seed: int,
    budget_s: float,
    n_jobs: int,
) -> Tuned:
    """Tunes ``kind`` (a key of :data:`SPACES`) for ``budget_s`` s, refits the best, scores it on ``test``.

    The objective is the mean :func:`fold_f1` over ``folds`` (positions into
    ``data``, as :class:`finegrain_automl.cv.Splits` holds them), ``n_jobs``
    folds at a time in worker processes with one thread each (as the search
    runs ``n_jobs`` one-CPU trials at a time). Once the budget is spent, no
    trial starts and a running one is dropped (its folds not yet started are
    skipped), unless no configuration has been scored yet: the first one,
    :data:`SPACES`'s starting point, always completes. The best configuration
    is refit on all development rows with a threshold tuned on them and
    scored once on ``test``.
    """
    import optuna
    from joblib import Parallel, delayed

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space, first = SPACES[kind]
    x, y = boosting_features(data.features, development), np.asarray(data.target)
    smallest_fit = int(min(len(train) for train, _ in folds) * (1 - THRESHOLD_HOLDOUT))
    max_leaf_size = int(np.clip(smallest_fit // 10, 8, 200))  # leaves that can still split the smallest fit
    started = time.perf_counter()
    deadline = time.time() + budget_s  # wall clock: compared in the worker processes
    complete = (optuna.trial.TrialState.COMPLETE,)

    def objective(trial) -> float:
        params = space(trial, max_leaf_size=max_leaf_size)
        until = deadline if trial.study.get_trials(deepcopy=False, states=complete) else None
        scores = parallel(
            delayed(fold_f1)(kind, params, x, y, train, valid, seed=seed, deadline=until)
            for train, valid in folds
        )
        if any(score is None for score in scores):
            done = sum(score is not None for score in scores)
            raise optuna.TrialPruned(f"budget spent after {done} of {len(folds)} folds")
        return float(np.mean(scores))

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    leaf_size = "min_samples_leaf" if kind == "hgb" else "min_child_samples"
    study.enqueue_trial({**first, leaf_size: min(first[leaf_size], max_leaf_size)})
    with Parallel(n_jobs=n_jobs) as parallel, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        study.optimize(objective, timeout=budget_s)
    seconds = time.perf_counter() - started
    best = study.best_trial
    params = space(optuna.trial.FixedTrial(best.params), max_leaf_size=max_leaf_size)
    refit_started = time.perf_counter()
    test_f1 = _refit_and_test(kind, params, x, y, development, test, seed=seed, n_jobs=n_jobs)
    return Tuned(
        test_f1=test_f1,
        cv_f1=float(best.value),
        params=params,
        trials=len(study.get_trials(deepcopy=False, states=complete)),
        seconds=seconds,
        refit_seconds=time.perf_counter() - refit_started,
    )
