"""Test F1 of each task's default search against classical baselines on the same test split.

For every task and seed named, this runs the default search (``fg-automl
search --task T --seed S`` with its defaults: built-in data, 5 folds, 180 s
budget) and, on the SAME held-out test split and development rows
(``prepare_search(...).splits``, i.e. ``make_splits(..., seed=S)``),
classical baselines that learn from the development rows only:

- ``linear``: for disease_risk and fraud, logistic regression on standardised
  numeric and one-hot categorical features (median / most-frequent
  imputation), decision threshold tuned for F1 on the development rows
  (``TunedThresholdClassifierCV``, 5 folds); for text, TF-IDF (word 1-2 grams)
  + logistic regression, macro F1. No tuning, no budget.

For disease_risk and fraud also gradient boosting (``benchmarks/_baselines.py``;
string and boolean columns as pandas ``category`` columns, split on natively;
missing values left to the models):

- ``HGB``: ``HistGradientBoostingClassifier`` with the fixed setting
  ``HGB_SETTINGS["hgb"]`` of ``benchmarks/fraud_baseline.py``, threshold tuned
  for F1 on the development rows (``TunedThresholdClassifierCV``, 5 seeded
  stratified folds). No tuning, no budget.
- ``HGB tuned`` and ``LightGBM tuned``: Optuna's TPE (seeded with S) searches
  the learning rate, number of iterations, leaves, minimum rows per leaf, L2
  regularisation, feature fraction, class weight and, for LightGBM, bagging;
  it starts from the fixed setting above. A configuration's score is its mean
  F1 over the search's own folds (``splits.folds``: 5 folds, repeated on
  small data, as the search's trials are scored). In each fold, as in a
  search trial, the model learns from 80 % of the fold's training rows and
  its threshold is the F1-best (``TunedThresholdClassifierCV(cv="prefit")``'s
  rule) on the other 20 %; the fold's validation rows never choose anything.
  Each gets the search's measured wall time: ``summary["elapsed_s"]`` less the
  final model's refit (so Ray's start and stop and all trials), or
  ``--baseline-budget SECONDS``, or ``--time-budget`` with ``--skip-search``.
  The best configuration is then refit on all development rows with its
  threshold tuned there (``TunedThresholdClassifierCV``, 5 seeded stratified
  folds), outside the budget as the search's refit is, and scored once on
  the test rows.

Every gradient-boosting fit is single-threaded and as many run side by side
(worker processes) as the search has one-CPU trials running (the machine's
cores, 2 here); LightGBM gets ``n_jobs=1``, ``verbose=-1``. Tuning takes
``lightgbm`` (``pip install -e .[bench]``).

Usage::

    .venv/bin/python benchmarks/quality.py [--tasks disease_risk text] [--time-budget 240] [--seeds 0 1 2]
        [--baseline-budget SECONDS] [--skip-search] [--output DIR]

Issue 8's table is ``--tasks fraud disease_risk --seeds 0 1 2`` (about an hour
on 2 cores: per task and seed, the search and two tunings of its length).
``--skip-search --time-budget 30`` checks the baselines alone, quickly.

The search's final model is the refit winner that the default ``--select
one-se`` picks (or the final ensemble where the search builds one); when that
is not rank 1 of the leaderboard, rank 1 is refit too (outside the search's
timing) and its test F1 shown beside it, so selection rules are compared on
the same search.

Prints a line as each model finishes, then a table of test F1 per task and
seed (with a row of means over several seeds) and one of differences: per
task and baseline, the mean of (search - baseline) over seeds with its
standard error (std ddof=1 / sqrt(n)) and wins/ties/losses (one test patient
moves a small task's F1 by about 0.01, so single seeds decide little).
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
    import pandas as pd
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import TunedThresholdClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = data.features.copy()
    for column in features.columns:  # strings and booleans are categories
        dtype = features[column].dtype
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            features[column] = features[column].astype("object").astype(str)
    columns = make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
         make_column_selector(dtype_include=np.number)),
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
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                          LogisticRegression(max_iter=5000))
    model.fit(texts[development], data.target[development])
    return float(f1_score(data.target[test], model.predict(texts[test]), average="macro"))


BASELINES = {
    "disease_risk": ("logistic regression, tuned threshold", tabular_baseline),
    "fraud": ("logistic regression, tuned threshold", tabular_baseline),
    "text": ("TF-IDF + logistic regression", text_baseline),
}
#: Tasks that also get the gradient-boosting baselines (``benchmarks/_baselines.py``).
BOOSTED_TASKS = ("disease_risk", "fraud")
#: Table columns of the baselines: the linear one of :data:`BASELINES`, then the boosted ones.
COLUMNS = {"linear": "linear", "hgb": "HGB", "hgb tuned": "HGB tuned", "lightgbm tuned": "LightGBM tuned"}
TIE = 1e-6  # F1 in float32


def search_cores(settings) -> int:
    """CPU cores a local search with ``settings`` keeps busy (Ray offers every core)."""
    cores = os.cpu_count() or 1
    per_trial = max(settings.cpus_per_trial, 1.0)
    slots = settings.concurrency or int(cores // per_trial) or 1
    return max(1, min(cores, int(slots * per_trial)))


def run_seed(task_name: str, seed: int, args, registry, console) -> dict:
    """One search (unless ``--skip-search``) and every baseline of ``task_name`` on seed ``seed``'s splits."""
    from finegrain_automl.api import DataOptions, make_payload, prepare_search, run_prepared_search
    from finegrain_automl.results import refit
    from finegrain_automl.search import SearchSettings

    settings = SearchSettings(seed=seed, time_budget_s=args.time_budget, dashboard=False)
    prepared = prepare_search(registry, task_name=task_name, settings=settings, data=DataOptions())
    splits = prepared.splits
    row = {"task": task_name, "seed": seed, "search": None, "scores": {}, "tuned": {}}
    budget = args.time_budget
    if not args.skip_search:
        console.print(f"[bold]{task_name}[/], seed {seed}: default search ({len(prepared.data)} rows) ...")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            summary = run_prepared_search(prepared, registry, output=args.output or Path(tmp)).to_dict()
            wall = time.perf_counter() - started
            best = summary["best"]
            # The final model: summary["final"] where a search can end in an ensemble, else the refit winner.
            final = summary.get("final") or {**best, "kind": "single"}
            first_f1 = final["test_f1"]
            if final["kind"] != "single" or best["rank"] != 1:  # what --select best (one model) would refit
                first = json.loads((Path(summary["run_dir"]) / "leaderboard.json").read_text())[0]
                first_f1 = refit(make_payload(prepared), first["config"], development=splits.development,
                                 test=splits.test).test_metrics["f1"]
        budget = summary["elapsed_s"] - final["refit_seconds"]  # Ray start and stop, trials; not the refit
        ensemble = summary.get("ensemble") if final["kind"] == "ensemble" else None
        row["search"] = {"test_f1": final["test_f1"], "wall_s": wall, "first_f1": first_f1}
        if ensemble:
            row["search"] |= {"cv": f"{ensemble['oof_f1']:.4f} (OOF)",
                              "final": f"ensemble of {len(ensemble['members'])}"}
        else:
            row["search"] |= {"cv": f"{best['cv_f1_mean']:.4f} ± {best['cv_f1_std']:.4f}",
                              "final": f"{best['config']['model']} ({best['rank']})"}
        console.print(
            f"{task_name}, seed {seed}: search test F1 {final['test_f1']:.4f} (CV {row['search']['cv']}, "
            f"{row['search']['final']}, {wall:.0f} s; rank 1: {first_f1:.4f})"
        )
    row["budget_s"] = budget = args.baseline_budget or budget
    name, baseline = BASELINES[task_name]
    row["scores"]["linear"] = baseline(prepared.data, splits.development, splits.test, seed=seed)
    console.print(f"{task_name}, seed {seed}: {name}: {row['scores']['linear']:.4f}")
    if task_name not in BOOSTED_TASKS:
        return row
    from _baselines import hgb_fixed, tune

    cores = search_cores(prepared.settings)
    row["scores"]["hgb"] = hgb_fixed(prepared.data, splits.development, splits.test, seed=seed, n_jobs=cores)
    console.print(f"{task_name}, seed {seed}: HGB, fixed setting: {row['scores']['hgb']:.4f}")
    for kind in ("hgb", "lightgbm"):
        column = f"{kind} tuned"
        tuned = tune(kind, prepared.data, development=splits.development, test=splits.test,
                     folds=splits.folds, seed=seed, budget_s=budget, n_jobs=cores)
        row["scores"][column], row["tuned"][column] = tuned.test_f1, tuned
        console.print(
            f"{task_name}, seed {seed}: {COLUMNS[column]}: {tuned.test_f1:.4f} (CV {tuned.cv_f1:.4f} over "
            f"{len(splits.folds)} folds, {tuned.trials} configurations in {tuned.seconds:.0f} s of "
            f"{budget:.0f} s, {cores} fits at a time; refit {tuned.refit_seconds:.0f} s)"
        )
    return row


def _task_rows(rows: list[dict]) -> dict[str, list[dict]]:
    """``rows`` grouped by task, in the order given."""
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row["task"], []).append(row)
    return grouped


def f1_table(rows: list[dict], *, seeds: int, skip_search: bool):
    """Test F1 of the search and of every baseline, one row per task and seed (and a row of means)."""
    from rich.table import Table

    table = Table(
        title="Test F1: default search and baselines on the same test split per seed",
        caption="linear: logistic regression (text: TF-IDF + LR, macro F1); HGB: fixed setting; tuned: "
        "Optuna TPE on the search's folds for 'budget s' each, (n) configurations scored on every fold. "
        "Every threshold is tuned on training rows.",
    )
    search_columns = [] if skip_search else ["search", "search CV", "final (rank)", "rank 1", "search s"]
    for column in ("task", "seed", *search_columns, "budget s", *COLUMNS.values()):
        table.add_column(column, justify="left" if column in ("task", "final (rank)") else "right")

    def cells(scores: dict, trials: dict) -> list[str]:
        """``0.9512 (23)``: test F1 and configurations tuned; ``—`` where a task has no such baseline."""
        shown = {key: f"{score:.4f}" for key, score in scores.items()}
        shown |= {key: f"{shown[key]} ({n})" for key, n in trials.items()}
        return [shown.get(key, "—") for key in COLUMNS]

    for task_name, task_rows in _task_rows(rows).items():
        for row in task_rows:
            search = row["search"]
            searched = [] if skip_search else [f"{search['test_f1']:.4f}", search["cv"], search["final"],
                                                f"{search['first_f1']:.4f}", f"{search['wall_s']:.0f}"]
            trials = {key: tuned.trials for key, tuned in row["tuned"].items()}
            table.add_row(task_name, str(row["seed"]), *searched, f"{row['budget_s']:.0f}",
                          *cells(row["scores"], trials), end_section=seeds == 1)
        if seeds > 1:
            def mean(key: str, *, rows=task_rows) -> float:
                return float(np.mean([row["search"][key] for row in rows]))

            scores = {key: np.mean([row["scores"][key] for row in task_rows])
                      for key in task_rows[0]["scores"]}
            searched = [] if skip_search else [f"{mean('test_f1'):.4f}", "", "", f"{mean('first_f1'):.4f}",
                                               f"{mean('wall_s'):.0f}"]
            table.add_row(task_name, f"mean of {len(task_rows)}", *searched,
                          f"{np.mean([row['budget_s'] for row in task_rows]):.0f}", *cells(scores, {}),
                          end_section=True)
    return table


def difference_table(rows: list[dict]):
    """Per task and baseline: mean of (search - baseline) test F1 over seeds, its standard error, wins."""
    from rich.table import Table

    table = Table(title="Search minus baseline, test F1 over seeds (± standard error: std ddof=1 / sqrt(n))")
    columns = ("task", "baseline", "seeds", "search", "baseline F1", "search - baseline", "wins/ties/losses")
    for column in columns:
        table.add_column(column, justify="left" if column in ("task", "baseline") else "right")
    for task_name, task_rows in _task_rows(rows).items():
        searched = np.array([row["search"]["test_f1"] for row in task_rows])
        keys = list(task_rows[0]["scores"])
        for key in keys:
            diff = searched - np.array([row["scores"][key] for row in task_rows])
            wins, ties = int((diff > TIE).sum()), int((np.abs(diff) <= TIE).sum())
            error = f" ± {diff.std(ddof=1) / np.sqrt(len(diff)):.4f}" if len(diff) > 1 else " (one seed)"
            table.add_row(
                task_name, COLUMNS[key], str(len(diff)), f"{searched.mean():.4f}",
                f"{np.mean([row['scores'][key] for row in task_rows]):.4f}", f"{diff.mean():+.4f}{error}",
                f"{wins}/{ties}/{len(diff) - wins - ties}", end_section=key == keys[-1],
            )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["disease_risk", "text"], choices=sorted(BASELINES))
    parser.add_argument("--time-budget", type=float, default=240.0,
                        help="The search's time budget in seconds (with --skip-search: the tuning budget).")
    parser.add_argument("--baseline-budget", type=float, default=None, metavar="SECONDS",
                        help="Tuning time of each tuned baseline, instead of the search's measured time.")
    parser.add_argument("--skip-search", action="store_true",
                        help="Baselines only (each tuned one gets --time-budget seconds); a quick check.")
    parser.add_argument("--output", type=Path, default=None,
                        help="Keep each search's run directory (leaderboard, report) under this folder.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="Seeds of the split, the search and the baselines; several give a per-seed "
                        "table and the means. Issue 8's table: --tasks fraud disease_risk --seeds 0 1 2.")
    args = parser.parse_args()
    if args.baseline_budget is not None and args.baseline_budget <= 0:
        parser.error(f"--baseline-budget must be positive, got {args.baseline_budget:g}.")
    if any(task in BOOSTED_TASKS for task in args.tasks):
        try:
            import lightgbm  # noqa: F401
        except ImportError:
            parser.error("the LightGBM baseline needs lightgbm: .venv/bin/pip install -e '.[bench]'")

    from rich.console import Console

    from finegrain_automl.plugins import make_registry

    console = Console(width=160)
    registry = make_registry()
    rows = [run_seed(task, seed, args, registry, console) for task in args.tasks for seed in args.seeds]
    console.print(f1_table(rows, seeds=len(args.seeds), skip_search=args.skip_search))
    if not args.skip_search:
        console.print(difference_table(rows))


if __name__ == "__main__":
    main()
