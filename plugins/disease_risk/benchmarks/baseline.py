"""Logistic-regression baseline of the disease-risk task, on the search's test split.

Scores, on the stratified 20 % test split that ``fg-automl search --task
disease_risk`` holds out (``make_splits(..., n_folds=5, test_fraction=0.2,
seed=SEED)``), a logistic regression on standardised features:

* with its decision threshold tuned for F1 on the development rows only
  (scikit-learn's ``TunedThresholdClassifierCV``, 5 stratified folds);
* at the fixed threshold 0.5, for reference.

Each baseline is also scored by the search's own protocol: mean F1 over the
search's 5 folds of the development rows (``cv_f1``), fitted and thresholded
on each training fold only.

With ``--run RUN_DIR`` the refit winner of a default search is shown in the
same table (its test metrics, read from the run's ``run.json``).

Usage::

    .venv/bin/python plugins/disease_risk/benchmarks/baseline.py [--seed 0] [--run fg-runs/disease_risk-...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from fg_automl_disease_risk import DEFAULT_SOURCE, DiseaseRiskTask
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, TunedThresholdClassifierCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from finegrain_automl.cv import make_splits

#: Folds and test share of the default search (``fg-automl search`` defaults).
FOLDS, TEST_FRACTION = 5, 0.2


def _logistic(seed: int):
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5_000, random_state=seed))


def _scores(target: np.ndarray, decision: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    return {
        "test_f1": f1_score(target, decision),
        "test_auroc": roc_auc_score(target, probability),
        "test_brier": brier_score_loss(target, probability),
    }


def _tuned_logistic(seed: int) -> TunedThresholdClassifierCV:
    return TunedThresholdClassifierCV(
        _logistic(seed), scoring="f1", cv=StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    )


def _cv_f1(make_model, x: pd.DataFrame, y: np.ndarray, folds) -> float:
    """Mean F1 over the search's folds, each model fitted on its training fold only."""
    scores = [f1_score(y[valid], make_model().fit(x.iloc[train], y[train]).predict(x.iloc[valid]))
              for train, valid in folds]
    return float(np.mean(scores))


def evaluate(*, seed: int) -> list[dict[str, object]]:
    """Fits the baselines on the development rows and scores them on the test split.

    Args:
        seed: Seed of the split (as ``fg-automl search --seed``), the inner folds and the models.

    Returns:
        One table row per baseline.
    """
    data = DiseaseRiskTask().load_default(seed=seed)
    splits = make_splits(data, n_folds=FOLDS, test_fraction=TEST_FRACTION, seed=seed)
    x_dev, y_dev = data.features.iloc[splits.development], data.target[splits.development]
    x_test, y_test = data.features.iloc[splits.test], data.target[splits.test]

    tuned = _tuned_logistic(seed).fit(x_dev, y_dev)
    fixed = _logistic(seed).fit(x_dev, y_dev)
    rows = []
    for name, model, make_model, threshold in [
        ("logistic regression, threshold tuned on development rows", tuned, lambda: _tuned_logistic(seed),
         tuned.best_threshold_),
        ("logistic regression, threshold 0.5", fixed, lambda: _logistic(seed), 0.5),
    ]:
        probability = model.predict_proba(x_test)[:, 1]
        rows.append({"model": name, "threshold": threshold,
                     "cv_f1": _cv_f1(make_model, data.features, data.target, splits.folds),
                     **_scores(y_test, model.predict(x_test), probability)})
    return rows


def search_row(run_dir: Path, *, seed: int) -> dict[str, object]:
    """Returns the refit winner's test metrics from a run directory of the default search.

    Raises:
        SystemExit: The run is not a default ``disease_risk`` search with this seed, so
            its test split would differ from the baseline's.
    """
    run = json.loads((run_dir / "run.json").read_text())
    settings = run["settings"]
    same_split = (
        run["task"] == "disease_risk"
        and settings["seed"] == seed
        and settings["folds"] == FOLDS
        and settings["test_fraction"] == TEST_FRACTION
        # run.json's data source is the data set's own name (info["source"] wins over the core's label).
        and (run["data"]["source"] == DEFAULT_SOURCE or run["data"]["source"].startswith("built-in"))
    )
    if not same_split:
        raise SystemExit(
            f"{run_dir} must be a disease_risk search on the built-in data with --seed {seed} and "
            f"--folds {FOLDS}, so that its test split is the baseline's; got task {run['task']!r}, "
            f"seed {settings['seed']}, folds {settings['folds']}, data {run['data']['source']!r}. "
            "Pass a matching run or change --seed."
        )
    best = run["best"]
    metrics = best["test_metrics"]
    return {
        "model": f"search winner ({best['config']['model']}, CV F1 {best['cv_f1_mean']:.4f})",
        "threshold": float("nan"),
        "cv_f1": best["cv_f1_mean"],
        "test_f1": metrics["f1"],
        "test_auroc": metrics["auroc"],
        "test_brier": metrics["brier"],
    }


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Prints the baseline table (and the search's row with ``--run``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run", type=Path, default=None, help="Run directory of a default search.")
    args = parser.parse_args(argv)
    rows = evaluate(seed=args.seed)
    if args.run is not None:
        rows.append(search_row(args.run, seed=args.seed))
    table = pd.DataFrame(rows)
    with pd.option_context("display.float_format", "{:.4f}".format, "display.width", 160,
                           "display.max_colwidth", 80):
        print(table.to_string(index=False))
    return table


if __name__ == "__main__":
    main()
