"""Test F1 of each task's default search against a classical baseline.

For every task and seed named, this runs the default search (``fg-automl
search --task T --seed S`` with its defaults: built-in data, 5 folds, 180 s
budget) and, on the SAME held-out test split (``make_splits(..., seed=S)``), a
classical baseline trained on the same development rows:

- disease_risk, fraud: logistic regression on standardised numeric and one-hot
  categorical features (median / most-frequent imputation), decision
  threshold tuned for F1 on the development rows (``TunedThresholdClassifierCV``);
- text: TF-IDF (word 1-2 grams) + logistic regression, macro F1.

Usage::

    .venv/bin/python benchmarks/quality.py [--tasks disease_risk text] [--time-budget 180] [--seeds 0 1 2] [--output DIR]

The refit winner is the one the default ``--select one-se`` picks; when that
is not rank 1 of the leaderboard, rank 1 is refit too (outside the search's
timing) and its test F1 shown beside it, so both selection rules are compared
on the same search.

Prints one table; with several seeds, each task also gets a row of means,
wins/ties/losses and the standard error of the mean difference (one test
patient moves a small task's F1 by about 0.01, so single seeds decide little).
Not a test: a search takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
warnings.filterwarnings("ignore", message=".*LeafSpec.*")


def tabular_baseline(data, development: np.ndarray, test: np.ndarray, *, seed: int) -> float:
    """F1 of the positive class: logistic regression with a threshold tuned on development rows."""
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import TunedThresholdClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    import pandas as pd

    features = data.features.copy()
    for column in features.columns:  # strings and booleans are categories
        dtype = features[column].dtype
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            features[column] = features[column].astype("object").astype(str)
    columns = make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), make_column_selector(dtype_include=np.number)),
        (make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
         make_column_selector(dtype_exclude=np.number)),
    )
    model = TunedThresholdClassifierCV(
        make_pipeline(columns, LogisticRegression(max_iter=5000)), scoring="f1", cv=5, random_state=seed
    )
    model.fit(features.iloc[development], data.target[development])
    return float(f1_score(data.target[test], model.predict(features.iloc[test])))


def text_baseline(data, development: np.ndarray, test: np.ndarray, *, seed: int) -> float:
    """Macro F1 of TF-IDF (1-2 grams) + logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline

    texts = data.features[data.info.get("text_column", "text")].astype(str).to_numpy()
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(max_iter=5000))
    model.fit(texts[development], data.target[development])
    return float(f1_score(data.target[test], model.predict(texts[test]), average="macro"))


BASELINES = {
    "disease_risk": ("logistic regression, tuned threshold", tabular_baseline),
    "fraud": ("logistic regression, tuned threshold", tabular_baseline),
    "text": ("TF-IDF + logistic regression", text_baseline),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["disease_risk", "text"], choices=sorted(BASELINES))
    parser.add_argument("--time-budget", type=float, default=180.0)
    parser.add_argument("--output", type=Path, default=None,
                        help="Keep each search's run directory (leaderboard, report) under this folder.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="Seeds of the split and the search; several give a per-seed table and the means.")
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    from finegrain_automl.api import DataOptions, make_payload, prepare_search, run_prepared_search
    from finegrain_automl.plugins import make_registry
    from finegrain_automl.results import refit
    from finegrain_automl.search import SearchSettings

    console = Console(width=160)
    registry = make_registry()
    table = Table(title="Test F1: default search against a classical baseline (same test split per seed)")
    for column in ("task", "seed", "metric", "search test F1", "search CV F1", "winner (rank)", "rank 1 test F1",
                   "search wall s", "baseline", "baseline test F1", "search - baseline"):
        table.add_column(column)
    for task_name in args.tasks:
        name, baseline = BASELINES[task_name]
        differences, searched, based, walls, firsts = [], [], [], [], []
        for seed in args.seeds:
            settings = SearchSettings(seed=seed, time_budget_s=args.time_budget, dashboard=False)
            prepared = prepare_search(registry, task_name=task_name, settings=settings, data=DataOptions())
            console.print(f"[bold]{task_name}[/], seed {seed}: default search ({len(prepared.data)} rows) ...")
            started = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                summary = run_prepared_search(prepared, registry, output=args.output or Path(tmp))
                wall = time.perf_counter() - started
                best = summary["best"]
                first_f1 = best["test_f1"]
                if best["rank"] != 1:  # what --select best would have refit
                    first = json.loads((Path(summary["run_dir"]) / "leaderboard.json").read_text())[0]
                    first_f1 = refit(make_payload(prepared), first["config"], development=prepared.splits.development,
                                     test=prepared.splits.test).test_metrics["f1"]
            base_f1 = baseline(prepared.data, prepared.splits.development, prepared.splits.test, seed=seed)
            console.print(
                f"{task_name}, seed {seed}: search test F1 {best['test_f1']:.4f} (CV {best['cv_f1_mean']:.4f}, "
                f"{best['config']['model']}, rank {best['rank']}, {wall:.0f} s; rank 1: {first_f1:.4f}) "
                f"| {name}: {base_f1:.4f}"
            )
            table.add_row(
                task_name,
                str(seed),
                "macro F1" if task_name == "text" else "F1 (positive class)",
                f"{best['test_f1']:.4f}",
                f"{best['cv_f1_mean']:.4f} ± {best['cv_f1_std']:.4f}",
                f"{best['config']['model']} ({best['rank']})",
                f"{first_f1:.4f}",
                f"{wall:.0f}",
                name,
                f"{base_f1:.4f}",
                f"{best['test_f1'] - base_f1:+.4f}",
            )
            differences.append(best["test_f1"] - base_f1)
            searched.append(best["test_f1"])
            based.append(base_f1)
            walls.append(wall)
            firsts.append(first_f1)
        if len(args.seeds) > 1:
            diff = np.asarray(differences)
            wins, ties = int((diff > 1e-6).sum()), int((np.abs(diff) <= 1e-6).sum())  # F1 in float32
            table.add_row(
                task_name,
                f"mean of {len(diff)}",
                f"{wins} wins, {ties} ties, {len(diff) - wins - ties} losses",
                f"{np.mean(searched):.4f}",
                "",
                "",
                f"{np.mean(firsts):.4f}",
                f"{np.mean(walls):.0f} (max {np.max(walls):.0f})",
                name,
                f"{np.mean(based):.4f}",
                f"{diff.mean():+.4f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.4f} (s.e.)",
                end_section=True,
            )
    console.print(table)


if __name__ == "__main__":
    main()
