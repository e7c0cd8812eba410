"""Test F1 of each task's default search against classical baselines on the same test split.

For every task and seed named, this runs the default search (``fg-automl
search --task T --seed S`` with its defaults: built-in data, 5 folds, 240 s
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

For recommendation (``benchmarks/_rec_baselines.py``), on the same spread
split (every scored user's interactions shared out over the test rows and
the development rows; ``splits.train_only`` users, with too few
interactions, are development rows only trained on), three recommenders
learn from the development rows and are scored on the test rows exactly as
the task scores its models: top-K lists over the whole training catalogue,
each user's training items excluded, K from the data (``--k``, default 10),
with the plugin's own ``top_k`` and ``frame_metrics``:

- ``popularity``: the most popular training items;
- ``ItemKNN (tuned)``: item-item cosine similarity (with a shrink term),
  each item's most similar items kept, scores = history @ similarity;
- ``EASE (tuned)``: EASE in closed form, L2 on a log grid (1 to 3000).

ItemKNN (neighbours 10 to 1000 x shrink 0 to 300) and EASE choose their
setting by F1@K on an inner split of the development rows (about 20 % of
each scored user's development rows held out, seeded); the best is refit on
all development rows and scored once on the test rows, which never choose
anything. No time budget: they take seconds. ``--data FILE`` (a MovieLens
``u.data``, ``ratings.csv`` or ``ratings.dat``, or any file the task reads)
replaces the task's built-in data, for this task only.

For detection (``benchmarks/_det_baselines.py``), the baselines are the
task's model families' untuned defaults (``{"model": family}``: the
builder's and the task's training defaults), each fitted on the development
rows exactly as the search refits its winner and scored once on the same
test images; the search runs with the task's defaults (3 folds, one pass).
Four fits of a few minutes each, two at a time.

Every gradient-boosting fit is single-threaded and as many run side by side
(worker processes) as the search has one-CPU trials running (the machine's
cores, 2 here); LightGBM gets ``n_jobs=1``, ``verbose=-1``. Tuning takes
``lightgbm`` (``pip install -e .[bench]``).

Usage::

    .venv/bin/python benchmarks/quality.py [--tasks disease_risk text] [--time-budget 240] [--seeds 0 1 2]
        [--baseline-budget SECONDS] [--skip-search] [--output DIR]
    .venv/bin/python benchmarks/quality.py --tasks recommendation [--seeds 0 1 2] [--data u.data] [--k 10]
    .venv/bin/python benchmarks/quality.py --tasks detection [--seeds 0]

Issue 8's table is ``--tasks fraud disease_risk --seeds 0 1 2`` (about an hour
on 2 cores: per task and seed, the search and two tunings of its length).
``--skip-search --time-budget 30`` checks the baselines alone, quickly
(``--tasks recommendation --skip-search``: the recommenders, in under a minute).

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

Recommendation has tables of its own: per seed, F1@K, P@K, R@K and NDCG@K of
the search's final model (the run record's ``final.test_metrics``) and of
each baseline, with the baselines' chosen settings and inner F1 (and means
over several seeds); then, per baseline (EASE first) and metric, the mean of
(search - baseline) over seeds with its standard error and wins/ties/losses.
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
from _det_baselines import DET_METRICS, DET_TASK

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
#: The task whose baselines are recommenders (``benchmarks/_rec_baselines.py``), scored by ranking metrics.
REC_TASK = "recommendation"
#: Ranking metrics of the recommendation tables (the task's names), as headed for a list length K.
REC_METRICS = {"f1": "F1@{k}", "p@k": "P@{k}", "r@k": "R@{k}", "ndcg@k": "NDCG@{k}"}
#: The recommendation baselines in the order of the difference table, the strongest expected first.
REC_DIFFERENCES = ("ease", "itemknn", "popularity")


def search_cores(settings) -> int:
    """CPU cores a local search with ``settings`` keeps busy (Ray offers every core)."""
    cores = os.cpu_count() or 1
    per_trial = max(settings.cpus_per_trial, 1.0)
    slots = settings.concurrency or int(cores // per_trial) or 1
    return max(1, min(cores, int(slots * per_trial)))


def run_seed(task_name: str, seed: int, args, registry, console) -> dict:
    """One search (unless ``--skip-search``) and every baseline of ``task_name`` on seed ``seed``'s splits."""
    from finegrain_automl.api import DataOptions, prepare_search
    from finegrain_automl.search import SearchSettings

    budget = args.time_budget if args.time_budget is not None else registry.task(task_name).time_budget_s
    settings = SearchSettings(seed=seed, time_budget_s=budget, dashboard=False)
    data = DataOptions()
    if task_name == REC_TASK:  # --data and --k apply to this task only
        data = DataOptions(path=args.data, options={"k": str(args.k)} if args.k is not None else None)
    prepared = prepare_search(registry, task_name=task_name, settings=settings, data=data)
    splits = prepared.splits
    row = {"task": task_name, "seed": seed, "search": None, "scores": {}, "tuned": {}}
    if not args.skip_search:
        row["search"], budget = search_seed(prepared, registry, args, console)
    if task_name == REC_TASK:
        return row | rec_seed(prepared, seed, console)
    if task_name == DET_TASK:
        return row | det_seed(prepared, seed, console)
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


def search_seed(prepared, registry, args, console) -> tuple[dict, float]:
    """The default search of ``prepared``: its final model's test scores (``test_f1``, ``test_metrics``),
    CV, rank 1's test F1, wall time; and the time the tuned baselines get (the search's, less the refit)."""
    from finegrain_automl.api import make_payload, run_prepared_search
    from finegrain_automl.results import refit

    task_name, seed, splits = prepared.task.name, prepared.settings.seed, prepared.splits
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
    search = {"test_f1": final["test_f1"], "test_metrics": final["test_metrics"], "wall_s": wall,
              "first_f1": first_f1}
    if ensemble:
        search |= {"cv": f"{ensemble['oof_f1']:.4f} (OOF)",
                   "final": f"ensemble of {len(ensemble['members'])}"}
    else:
        search |= {"cv": f"{best['cv_f1_mean']:.4f} ± {best['cv_f1_std']:.4f}",
                   "final": f"{best['config']['model']} ({best['rank']})"}
    console.print(
        f"{task_name}, seed {seed}: search test F1 {final['test_f1']:.4f} (CV {search['cv']}, "
        f"{search['final']}, {wall:.0f} s; rank 1: {first_f1:.4f})"
    )
    return search, budget


def rec_seed(prepared, seed: int, console) -> dict:
    """The recommendation baselines (``benchmarks/_rec_baselines.py``) on ``prepared``'s splits:
    ``rec`` (key: :class:`Scored`), ``k`` and the data's ``source``."""
    from _rec_baselines import REC_BASELINES, rec_baselines

    splits, k = prepared.splits, int(prepared.data.info["k"])

    def report(key: str, scored) -> None:
        metrics = ", ".join(f"{heading.format(k=k)} {scored.test[name]:.4f}"
                            for name, heading in REC_METRICS.items())
        console.print(f"{REC_TASK}, seed {seed}: {REC_BASELINES[key][0]}: {metrics} ({_setting(scored)}, "
                      f"{scored.seconds:.1f} s)")

    console.print(f"{REC_TASK}, seed {seed}: {prepared.data_source}: {prepared.data.info['users']} users, "
                  f"{prepared.data.info['items']} items, {len(prepared.data)} interactions; "
                  f"{len(splits.development)} development rows ({len(splits.train_only)} only trained on), "
                  f"{len(splits.test)} test rows")
    scored = rec_baselines(prepared.data, splits.development, splits.test, train_only=splits.train_only,
                           seed=seed, report=report)
    return {"rec": dict(scored), "k": k, "source": prepared.data_source}


def det_seed(prepared, seed: int, console) -> dict:
    """Each detection family's untuned default on ``prepared``'s split (``benchmarks/_det_baselines.py``)."""
    from _det_baselines import family_defaults

    def report(family: str, scored: dict) -> None:
        metrics = ", ".join(f"{heading} {scored['test'][name]:.4f}" for name, heading in DET_METRICS.items())
        console.print(f"{DET_TASK}, seed {seed}: {family} default: {metrics} ({scored['seconds']:.0f} s)")

    families = list(prepared.task.model_families())
    return {"det": family_defaults(families, seed, workers=search_cores(prepared.settings), report=report)}


def _setting(scored) -> str:
    """``l2=300, inner F1 0.1086 of 8``: the chosen setting, its inner F1 and how many were tried."""
    if scored.inner_f1 is None:
        return "untuned"
    chosen = ", ".join(f"{name}={value:g}" for name, value in scored.setting.items())
    edge = " (grid edge)" if scored.grid_edge else ""
    return f"{chosen}{edge}; inner F1 {scored.inner_f1:.4f} of {scored.tried}"


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


def rec_table(rows: list[dict], *, seeds: int):
    """Test ranking metrics of the search's final model and of every recommendation baseline, per seed."""
    from _rec_baselines import REC_BASELINES
    from rich.table import Table

    k = rows[0]["k"]
    sources = list(dict.fromkeys(row["source"] for row in rows))
    source = sources[0] if len(sources) == 1 else "the task's built-in data, generated with each seed"
    table = Table(
        title=f"Recommendation, test metrics (K = {k}, full catalogue, training items excluded): default "
        f"search and baselines on the same test split per seed",
        caption=f"Data: {source}. Baselines learn from the development rows; ItemKNN and EASE "
        "choose their setting by F1@K on an inner split of those rows (inner F1 of n settings tried), "
        "then are refit on all of them.",
    )
    for column in ("seed", "model", *(name.format(k=k) for name in REC_METRICS.values()), "how chosen", "s"):
        table.add_column(column, justify="left" if column in ("model", "how chosen") else "right")

    def metric_cells(scores: dict) -> list[str]:
        return [f"{scores[name]:.4f}" for name in REC_METRICS]

    for row in rows:
        search = row["search"]
        if search is not None:
            how = f"final {search['final']}; CV F1 {search['cv']}; rank 1 F1 {search['first_f1']:.4f}"
            table.add_row(str(row["seed"]), "search", *metric_cells(search["test_metrics"]), how,
                          f"{search['wall_s']:.0f}")
        for key, scored in row["rec"].items():
            table.add_row(str(row["seed"]), REC_BASELINES[key][0], *metric_cells(scored.test),
                          _setting(scored), f"{scored.seconds:.1f}", end_section=key == list(row["rec"])[-1])
    if seeds > 1:
        models = ([("search", [row["search"]["test_metrics"] for row in rows])] if rows[0]["search"] else [])
        models += [(REC_BASELINES[key][0], [row["rec"][key].test for row in rows]) for key in rows[0]["rec"]]
        for model, scores in models:
            means = {name: np.mean([score[name] for score in scores]) for name in REC_METRICS}
            table.add_row(f"mean of {len(rows)}", model, *metric_cells(means), "", "")
    return table


def rec_difference_table(rows: list[dict]):
    """Per recommendation baseline and metric: mean of (search - baseline) over seeds, its standard
    error, wins."""
    from _rec_baselines import REC_BASELINES
    from rich.table import Table

    k = rows[0]["k"]
    table = Table(title=f"Recommendation: search minus baseline, test metrics (K = {k}) over seeds "
                  "(± standard error: std ddof=1 / sqrt(n))")
    columns = ("baseline", "metric", "seeds", "search", "baseline score", "search - baseline",
               "wins/ties/losses")
    for column in columns:
        table.add_column(column, justify="left" if column in ("baseline", "metric") else "right")
    for key in REC_DIFFERENCES:
        for name, heading in REC_METRICS.items():
            searched = np.array([row["search"]["test_metrics"][name] for row in rows])
            scores = np.array([row["rec"][key].test[name] for row in rows])
            diff = searched - scores
            wins, ties = int((diff > TIE).sum()), int((np.abs(diff) <= TIE).sum())
            error = f" ± {diff.std(ddof=1) / np.sqrt(len(diff)):.4f}" if len(diff) > 1 else " (one seed)"
            table.add_row(REC_BASELINES[key][0], heading.format(k=k), str(len(diff)),
                          f"{searched.mean():.4f}", f"{scores.mean():.4f}", f"{diff.mean():+.4f}{error}",
                          f"{wins}/{ties}/{len(diff) - wins - ties}",
                          end_section=name == list(REC_METRICS)[-1])
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["disease_risk", "text"],
                        choices=sorted([*BASELINES, REC_TASK, DET_TASK]))
    parser.add_argument("--time-budget", type=float, default=None,
                        help="The search's time budget in seconds (with --skip-search: the tuning budget); "
                        "default: the task's (240 s; detection 360 s).")
    parser.add_argument("--baseline-budget", type=float, default=None, metavar="SECONDS",
                        help="Tuning time of each tuned baseline, instead of the search's measured time.")
    parser.add_argument("--skip-search", action="store_true",
                        help="Baselines only (each tuned one gets --time-budget seconds); a quick check.")
    parser.add_argument("--output", type=Path, default=None,
                        help="Keep each search's run directory (leaderboard, report) under this folder.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="Seeds of the split, the search and the baselines; several give a per-seed "
                        "table and the means. Issue 8's table: --tasks fraud disease_risk --seeds 0 1 2.")
    parser.add_argument("--data", type=Path, default=None, metavar="FILE",
                        help=f"The {REC_TASK} task's interactions (e.g. a MovieLens u.data) instead of its "
                        "built-in data; the other tasks keep theirs.")
    parser.add_argument("--k", type=int, default=None,
                        help=f"List length K of the {REC_TASK} task (default: the task's, 10).")
    args = parser.parse_args()
    if args.k is not None and args.k < 1:
        parser.error(f"--k is the length of each user's list and must be at least 1, but got {args.k}.")
    for given, option in [(args.data, "--data"), (args.k, "--k")]:
        if given is not None and REC_TASK not in args.tasks:
            parser.error(f"{option} applies to the {REC_TASK} task only; add it to --tasks or remove "
                         f"{option}.")
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
    classified = [row for row in rows if row["task"] not in (REC_TASK, DET_TASK)]
    recommended = [row for row in rows if row["task"] == REC_TASK]
    detected = [row for row in rows if row["task"] == DET_TASK]
    if classified:
        console.print(f1_table(classified, seeds=len(args.seeds), skip_search=args.skip_search))
        if not args.skip_search:
            console.print(difference_table(classified))
    if recommended:
        console.print(rec_table(recommended, seeds=len(args.seeds)))
        if not args.skip_search:
            console.print(rec_difference_table(recommended))
    if detected:
        from _det_baselines import det_difference_table, det_table

        console.print(det_table(detected))
        if not args.skip_search:
            console.print(det_difference_table(detected))


if __name__ == "__main__":
    main()
