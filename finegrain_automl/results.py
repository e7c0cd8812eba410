"""The run directory: leaderboard, refit winner, saved model, report.

One folder per search under ``fg-runs/`` holds everything needed to
understand or repeat it::

    run.json          the run record (finegrain_automl.record.RunRecord, schema-versioned)
    space.yaml        the space that was searched
    splits.json       the row positions of the test split and of every fold's validation part
    study.journal     the Optuna study (Optuna's journal file)
    tune/             Ray Tune's experiment directory
    leaderboard.csv   completed trials ranked by mean CV F1 (also .json)
    predictions/      out-of-fold class probabilities of the best completed trials
    model.pt          the refit winner or ensemble, loadable with weights_only=True
    report.md         a readable summary
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from finegrain_automl.cv import describe_cv
from finegrain_automl.errors import UsageError
from finegrain_automl.record import SCHEMA, RunRecord
from finegrain_automl.search import TrialRecord, schedulers, searchers
from finegrain_automl.task import MODEL_KEY, FittedModel, ModelFamily, Task
from finegrain_automl.trial import TrialPayload

__all__ = [
    "MODEL_FILE",
    "RUN_FILE",
    "SPLITS_FILE",
    "RunDirectory",
    "SELECTION_RULES",
    "RefitResult",
    "leaderboard_rows",
    "load_fitted_model",
    "new_run_dir",
    "read_run",
    "refit",
    "refit_ensemble",
    "refit_member",
    "save_model",
    "select_winner",
    "jsonable",
    "write_json",
    "write_leaderboard",
    "write_report",
]

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
MODEL_FILE = "model.pt"
#: Folder of the trials' out-of-fold predictions (:class:`~finegrain_automl.ensemble.PredictionFiles`).
PREDICTIONS_DIR = "predictions"
SPLITS_FILE = "splits.json"
SPLITS_FORMAT = "finegrain_automl.splits/1"
MODEL_FORMAT = 1


class RunDirectory:
    """One search's folder and its run record; it writes every file atomically.

    Args:
        path: The folder (made by :meth:`create`).
        record: The run record, filled in as the search's steps go.
    """

    def __init__(self, path: Path, record: RunRecord | None = None) -> None:
        self.path = path
        self.record = record

    @classmethod
    def create(cls, output: Path, task_name: str) -> RunDirectory:
        """A new, empty ``output/<task>-<timestamp>`` folder."""
        return cls(new_run_dir(output, task_name))

    @property
    def predictions(self) -> Path:
        """Folder of the trials' out-of-fold predictions."""
        return self.path / PREDICTIONS_DIR

    def write_space(self, space: Any) -> None:
        """``space.yaml``: the space that was searched."""
        import yaml

        with _atomic(self.path / "space.yaml") as tmp:
            tmp.write_text(yaml.safe_dump(space.to_dict(), sort_keys=False))

    def write_splits(self, splits: Any) -> None:
        """``splits.json``: which rows (0-based positions in the data as read,
        header excluded) formed the test split, each fold's validation part and
        the rows only ever trained on, so that a user can score their own
        baseline on the same rows. A fold trains on the other development rows."""
        write_json(self.path / SPLITS_FILE, splits_json(splits))

    def write_leaderboard(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """``leaderboard.csv`` and ``.json``."""
        write_leaderboard(self.path, rows)

    def write_record(self) -> None:
        """``run.json``: the record as it stands."""
        write_json(self.path / RUN_FILE, self.record.to_dict())

    def finish(self, *, started: float) -> None:
        """Stamps the elapsed time; writes ``run.json``, ``report.md`` and ``report.html``."""
        self.record.elapsed_s = time.monotonic() - started
        self.write_record()
        summary = self.record.to_dict()
        write_report(self.path, summary, summary.get("leaderboard", []))
        draw_report(self.path)

    def write_figures(self, figures: Sequence[Any]) -> None:
        """``figures.json``: the task's pictures of the final model on the test rows."""
        from finegrain_automl.report import write_figures

        write_figures(self.path, figures)

    def save_model(self, state: Mapping[str, Any]) -> Path:
        """``model.pt``: the final model, checked to load with ``weights_only=True``."""
        return save_model(self.path, task_name=self.record.task, state=state)


def splits_json(splits: Any) -> dict[str, Any]:
    """The JSON form of ``splits`` that ``splits.json`` holds."""
    n = splits.n_folds
    return {
        "format": SPLITS_FORMAT,
        "test": splits.test.tolist(),
        "development": splits.development.tolist(),
        "train_only": splits.train_only.tolist(),
        "folds": [
            {"pass": i // n, "fold": i % n, "validation": valid.tolist()}
            for i, (_, valid) in enumerate(splits.folds)
        ],
    }


def new_run_dir(output: Path, task_name: str) -> Path:
    """Creates and returns ``output/<task>-<timestamp>`` (never an existing one)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    output.mkdir(parents=True, exist_ok=True)
    for suffix in [""] + [f"-{i}" for i in range(2, 1000)]:
        candidate = output / f"{task_name}-{stamp}{suffix}"
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate.resolve()
    raise UsageError(f"Could not create a new run directory under {output}; clean it up.")


def write_json(path: Path, data: Any) -> None:
    """Writes ``data`` as indented JSON (NaN becomes null), atomically."""
    with _atomic(path) as tmp:
        tmp.write_text(json.dumps(jsonable(data), indent=2) + "\n")


def draw_report(run_dir: Path) -> Path | None:
    """Writes ``report.html``; a failure to draw is a warning, never a lost run."""
    from finegrain_automl.report import write_html_report

    try:
        return write_html_report(run_dir)
    except Exception as exc:  # noqa: BLE001 - the run's results are written; the picture of them is extra
        log.warning("report.html could not be drawn (%s: %s); `fg-automl report %s` tries again",
                    type(exc).__name__, exc, run_dir)
        return None


def write_text(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` atomically."""
    with _atomic(path) as tmp:
        tmp.write_text(text)


@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Yields a temporary sibling of ``path`` that replaces it once written, so
    an interrupted write never leaves a truncated file behind."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars, paths and non-finite floats made JSON-safe."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def leaderboard_rows(records: Sequence[TrialRecord]) -> list[dict[str, Any]]:
    """Completed trials, best mean CV F1 first, ties broken by lower std."""
    done = [r for r in records if r.status == "completed" and r.cv_f1 is not None]
    done.sort(key=lambda r: (-r.cv_f1, r.cv_f1_std or 0.0))
    rows = []
    for rank, record in enumerate(done, start=1):
        rows.append(
            {
                "rank": rank,
                "trial_id": record.trial_id,
                "model": record.config.get(MODEL_KEY),
                "cv_f1_mean": record.cv_f1,
                "cv_f1_std": record.cv_f1_std,
                "cv_metrics": dict(record.cv_metrics),
                "folds": record.folds_done,
                "seconds": record.seconds,
                "config": dict(sorted(record.config.items())),
            }
        )
    return rows


#: How the trial to refit is chosen from the leaderboard (``--select``).
SELECTION_RULES: tuple[str, ...] = ("one-se", "best")


def select_winner(
    rows: Sequence[Mapping[str, Any]], *, rule: str, complexity: Mapping[str, int | None]
) -> tuple[Mapping[str, Any], dict[str, Any]]:
    """Chooses the leaderboard row to refit; returns it and how it was chosen.

    ``best`` takes rank 1. ``one-se`` (the one-standard-error rule of
    Hastie, Tibshirani & Friedman, *Elements of Statistical Learning* 7.10,
    and of caret's ``oneSE``) takes, among the rows whose mean CV F1 is within
    one standard error of rank 1's, the one of the simplest model family
    (lowest ``complexity``), the best ranked of that family. The standard
    error is that of rank 1's mean over its ``n`` fold scores (folds times
    repeats): the sample standard deviation over ``sqrt(n)``, which is the
    population standard deviation shown as ``cv_f1_std`` over ``sqrt(n - 1)``.
    Fold scores share training rows, so this error is on the small side and
    the rule leans towards rank 1. When a few hundred rows make the folds
    disagree, trials a standard error apart are not really ranked, and the
    simpler model generalises more reliably.

    Args:
        rows: Leaderboard rows (:func:`leaderboard_rows`), rank 1 first; not empty.
        rule: One of :data:`SELECTION_RULES`.
        complexity: Each family's :attr:`ModelFamily.complexity`; a family
            that is missing here or ``None`` counts as more complex than
            every declared one.

    Returns:
        ``(row, selection)``; ``selection`` holds ``rule``, ``rank``,
        ``standard_error`` (None for ``best``) and a one-line ``explanation``.
    """
    if rule not in SELECTION_RULES:
        raise ValueError(f"rule must be one of {SELECTION_RULES}, but got {rule=}.")
    if not rows:
        raise ValueError("select_winner needs at least one leaderboard row.")
    top = rows[0]
    if rule == "best":
        return top, {"rule": rule, "rank": top["rank"], "standard_error": None,
                     "explanation": "rank 1: the best mean CV F1"}
    n_scores = int(top.get("folds") or 1)
    spread = float(top.get("cv_f1_std") or 0.0)
    error = spread / math.sqrt(n_scores - 1) if n_scores > 1 and math.isfinite(spread) else 0.0
    floor = top["cv_f1_mean"] - error - 1e-12

    def order(row: Mapping[str, Any]) -> tuple[float, int]:
        declared = complexity.get(str(row["model"]))
        return (math.inf if declared is None else declared, row["rank"])

    close = [top, *(row for row in rows[1:] if row["cv_f1_mean"] >= floor)]
    chosen = min(close, key=order)
    if chosen is top:
        explanation = (
            f"rank 1: the best mean CV F1; no trial of a simpler model family is within one standard "
            f"error ({error:.4f})"
        )
    else:
        explanation = (
            f"rank {chosen['rank']}: the simplest model family ({chosen['model']}) within one standard error "
            f"({error:.4f}) of the best mean CV F1 ({top['cv_f1_mean']:.4f}, rank 1, {top['model']})"
        )
    return chosen, {"rule": rule, "rank": chosen["rank"], "standard_error": error, "explanation": explanation}


def write_leaderboard(run_dir: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Writes ``leaderboard.csv`` (one column per hyperparameter) and ``.json``."""
    write_json(run_dir / "leaderboard.json", list(rows))
    keys = sorted({k for row in rows for k in row["config"]} - {MODEL_KEY})
    metric_keys = sorted({k for row in rows for k in row["cv_metrics"]})
    fixed = ["rank", "trial_id", "model", "cv_f1_mean", "cv_f1_std", "folds", "seconds"]
    with _atomic(run_dir / "leaderboard.csv") as tmp, tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(fixed + metric_keys + keys)
        for row in rows:
            writer.writerow(
                [row[k] for k in fixed]
                + [row["cv_metrics"].get(k, "") for k in metric_keys]
                + [row["config"].get(k, "") for k in keys]
            )


@dataclass(frozen=True, kw_only=True)
class RefitResult:
    """The winner refit on all development rows and scored once on the test rows."""

    state: dict[str, Any]
    test_metrics: dict[str, float]
    seconds: float
    #: The task's pictures of the model on the test rows (:meth:`Task.report_figures`).
    figures: list[Any] = field(default_factory=list)


def refit(
    payload: TrialPayload,
    config: Mapping[str, Any],
    *,
    development: np.ndarray,
    test: np.ndarray,
    private: bool = True,
) -> RefitResult:
    """Fits ``config`` on every development row, then scores the test rows
    once and draws the task's figures of them (``private``: the user's data)."""
    started = time.perf_counter()
    model = payload.fit(config, development, fold=0, final=True)
    test_rows = payload.data.take(test)
    metrics = payload.task.evaluate(model, test_rows)
    seconds = time.perf_counter() - started
    return RefitResult(
        state=model.to_state(),
        test_metrics={k: float(v) for k, v in metrics.items()},
        seconds=seconds,
        figures=task_figures(payload.task, model, test_rows, private=private),
    )


def task_figures(task: Task, model: FittedModel, data: Any, *, private: bool) -> list[Any]:
    """The task's report figures of ``model`` on ``data``; none, with a
    warning, if the task raises (the run is never lost for a picture)."""
    try:
        return list(task.report_figures(model, data, private=private))
    except Exception as exc:  # noqa: BLE001 - a plugin's figure code must not cost the run
        log.warning("task %r: report_figures raised %s: %s; the report goes without its figures",
                    task.name, type(exc).__name__, exc)
        return []


def refit_member(
    payload: TrialPayload, config: Mapping[str, Any], *, development: np.ndarray, test: np.ndarray
) -> tuple[dict[str, Any], np.ndarray, float]:
    """Fits an ensemble member on every development row (no decision rule of
    its own); returns its state, its class probabilities of the test rows and
    the seconds it took."""
    started = time.perf_counter()
    model = payload.fit(config, development, fold=0, final=True, decision=False)
    probabilities = model.predict_proba(payload.data.take(test).features)
    return model.to_state(), probabilities, time.perf_counter() - started


def refit_ensemble(
    payload: TrialPayload,
    selection: Any,
    rows: Sequence[Mapping[str, Any]],
    *,
    development: np.ndarray,
    test: np.ndarray,
    remote: Any,
    private: bool = True,
) -> tuple[RefitResult, dict[str, Any]]:
    """Refits the members of ``selection`` (an
    :class:`~finegrain_automl.ensemble.EnsembleSelection`) in parallel with
    ``remote`` (:func:`refit_member` as a Ray task), scores the ensemble and
    each member once on the test rows (a member with the rule chosen on its
    own out-of-fold predictions), and returns the ensemble and its summary."""
    import ray

    from finegrain_automl.ensemble import EnsembleModel

    started = time.perf_counter()
    task, by_id = payload.task, {row["trial_id"]: row for row in rows}
    fitted = ray.get(
        [remote.remote(payload, by_id[t]["config"], development=development, test=test) for t in selection.trial_ids]
    )
    members = [task.load_model(state, families=payload.families) for state, _, _ in fitted]
    model = EnsembleModel(
        task=task, members=members, weights=selection.weights, decision=selection.decision,
        trial_ids=selection.trial_ids,
    )
    test_rows = payload.data.take(test)
    metrics = {k: float(v) for k, v in task.evaluate(model, test_rows).items()}
    member_rows = []
    for trial_id, weight, member, (_, probabilities, seconds) in zip(
        selection.trial_ids, selection.weights, members, fitted, strict=True
    ):
        predicted = task.predictions_from_probabilities(
            probabilities, decision=selection.member_decisions[trial_id], classes=member.classes,
            index=test_rows.features.index,
        )
        row = by_id[trial_id]
        member_rows.append({
            "trial_id": trial_id, "rank": row["rank"], "model": row["model"], "weight": weight,
            "cv_f1_mean": row["cv_f1_mean"], "oof_f1": selection.candidates_cv_f1[trial_id],
            "test_f1": float(task.metrics(test_rows, predicted)["f1"]), "refit_seconds": seconds,
        })
    summary = {
        "members": member_rows,
        "oof_f1": selection.cv_f1,
        "candidates": [{"trial_id": t, "rank": by_id[t]["rank"], "oof_f1": f1}
                       for t, f1 in selection.candidates_cv_f1.items()],
        "decision": dict(selection.decision),
        "test_f1": metrics["f1"],
        "test_metrics": metrics,
    }
    seconds = time.perf_counter() - started
    figures = task_figures(task, model, test_rows, private=private)
    return RefitResult(state=model.to_state(), test_metrics=metrics, seconds=seconds, figures=figures), summary


def save_model(run_dir: Path, *, task_name: str, state: Mapping[str, Any]) -> Path:
    """Saves a fitted model's state as ``model.pt`` and checks it loads safely."""
    import torch

    path = run_dir / MODEL_FILE
    with _atomic(path) as tmp:
        torch.save({"format": MODEL_FORMAT, "task": task_name, "model": dict(state)}, tmp)
        torch.load(tmp, weights_only=True)  # fail now, not when a user predicts
    return path


def read_run(run_dir: Path) -> dict[str, Any]:
    """Reads ``run.json`` of a finished search.

    Raises:
        UsageError: The folder is not a run directory or holds no model yet.
    """
    run_file = run_dir / RUN_FILE
    if not run_dir.is_dir():
        raise UsageError(f"Run directory {run_dir} does not exist. Pass a folder under fg-runs/.")
    if not run_file.is_file():
        raise UsageError(f"{run_dir} is not a run directory (no {RUN_FILE}). Pass a folder under fg-runs/.")
    if not (run_dir / MODEL_FILE).is_file():
        raise UsageError(
            f"{run_dir} has no {MODEL_FILE}: the search did not finish or no trial completed. "
            "Run the search again."
        )
    try:
        run = json.loads(run_file.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{run_file} cannot be read ({exc}); re-run the search.") from None
    schema = run.get("schema", SCHEMA)  # runs written before the schema existed carry none; they still load
    if schema != SCHEMA:
        raise UsageError(
            f"{run_dir} was written by another version of finegrain-automl (run record {schema!r}, this version "
            f"reads {SCHEMA!r}). Predict with that version, or run the search again with this one."
        )
    return run


def load_fitted_model(
    run_dir: Path, *, task: Task, families: Mapping[str, ModelFamily]
) -> FittedModel:
    """Loads ``model.pt`` with ``weights_only=True`` (no arbitrary unpickling)."""
    import torch

    try:
        saved = torch.load(run_dir / MODEL_FILE, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated, foreign or unsafe file
        reason = " ".join(str(exc).split())[:200]
        raise UsageError(
            f"{run_dir / MODEL_FILE} is not a complete fg-automl model ({type(exc).__name__}: {reason}); "
            "re-run the search."
        ) from None
    if not isinstance(saved, dict) or saved.get("format") != MODEL_FORMAT or saved.get("task") != task.name:
        raise UsageError(
            f"{run_dir / MODEL_FILE} was saved by another version or task "
            f"(format {saved.get('format')}, task {saved.get('task')!r}). Re-run the search."
        )
    from finegrain_automl.ensemble import ENSEMBLE_FORMAT, load_ensemble

    if saved["model"].get("format") == ENSEMBLE_FORMAT:
        return load_ensemble(saved["model"], task=task, families=families)
    return task.load_model(saved["model"], families=families)


def ensemble_check_line(check: Mapping[str, Any]) -> str:
    """One sentence on the ensemble's nested check (``summary["ensemble_check"]``)."""
    if check["ensemble_f1"] is None:
        return (f"Ensemble not kept: greedy selection chose {check['members']} trial"
                f"{'s' * (check['members'] != 1)}; the winner is refit alone.")
    scores = (f"F1 {check['ensemble_f1']:.4f} against {check['single_f1']:.4f} for the best single trial, on "
              f"out-of-fold rows neither was chosen on ({check['folds']}-part check)")
    if check["kept"]:
        return f"Ensemble kept: {scores}."
    return f"Ensemble not kept: {scores}; the winner is refit alone (--no-ensemble-check keeps it)."


def _ensemble_lines(ensemble: Mapping[str, Any] | None) -> list[str]:
    """The report's section on the final ensemble: members, weights, scores."""
    if not ensemble:
        return []
    lines = [
        "",
        "## Final model: ensemble of the best trials",
        "",
        "Greedy ensemble selection (Caruana et al., 2004) over the out-of-fold predictions of the best "
        "trials; its decision rule was chosen on those predictions, and each member was refit on all "
        "development rows. The saved model (`model.pt`) and `fg-automl predict` use it. Each member is "
        "scored the same way (a rule chosen on its own out-of-fold predictions).",
        "",
        "| | rank | model | weight | out-of-fold F1 | test F1 | trial |",
        "|---|---|---|---|---|---|---|",
        f"| **ensemble** | | | 1.00 | {ensemble['oof_f1']:.4f} | {ensemble['test_f1']:.4f} | |",
    ]
    for member in ensemble["members"]:
        lines.append(
            f"| member | {member['rank']} | {member['model']} | {member['weight']:.2f} | {member['oof_f1']:.4f} | "
            f"{member['test_f1']:.4f} | {member['trial_id']} |"
        )
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in ensemble["test_metrics"].items())
    return [*lines, "", f"- Decision rule: `{json.dumps(jsonable(ensemble['decision']))}`", f"- Test metrics: {metrics}"]


def _described(package: Any, settings: Mapping[str, Any], key: str, default: str) -> str:
    """``tpe (Optuna TPE ...)`` for the report; runs from before the choice existed used the default."""
    name = settings.get(key, default)
    if key == "scheduler" and settings.get("early_stopping") is False:
        name = "fifo"
    module = package.available().get(name)
    return f"{name} ({module.DESCRIPTION})" if module else name


def write_report(run_dir: Path, summary: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> None:
    """Writes ``report.md``: what was searched, how, the top 10 and the winner."""
    best = summary.get("best") or {}
    trials = summary["trials"]
    lines = [
        f"# fg-automl search: {summary['task']}",
        "",
        f"- Run directory: `{summary['run_dir']}`",
        f"- Data: {summary['data']['source']} ({summary['data']['rows']} rows; "
        f"{summary['data']['test_rows']} held out for the final test)",
        f"- Protocol: F1 by {describe_cv(summary['settings']['folds'], summary['settings'].get('repeats'))}, seed "
        f"{summary['settings']['seed']}; searcher: {_described(searchers, summary['settings'], 'searcher', 'tpe')}; "
        f"scheduler: {_described(schedulers, summary['settings'], 'scheduler', 'asha')}",
        f"- Splits: {summary['data'].get('split') or 'by rows'}; the rows of the test split and of every fold "
        f"are in `{SPLITS_FILE}`",
        f"- Trials: {trials['completed']} completed, {trials['pruned']} pruned, "
        f"{trials['failed']} failed in {summary['elapsed_s']:.0f} s",
    ]
    data = summary["data"]
    if data.get("train_only_rows"):
        groups = f" of {data['train_only_groups']} groups" if data.get("train_only_groups") else ""
        lines.append(f"- Only trained on, never scored: {data['train_only_rows']} rows{groups} "
                     "(too few rows to spread over the test split and every fold)")
    lines += [f"- Note: {note}" for note in data.get("notes", [])]
    lines += ["", "## Winner", ""]
    if best:
        lines += [
            f"- Model: `{best['config'].get(MODEL_KEY)}`; CV F1 {best['cv_f1_mean']:.4f} "
            f"± {best['cv_f1_std']:.4f}",
            f"- Chosen by `--select {best['selection']['rule']}`: {best['selection']['explanation']}",
        ]
        if best.get("test_metrics"):  # refit alone (with an ensemble, its section below has the scores)
            lines.append("- Test metrics (refit on all development rows, scored once): "
                         + ", ".join(f"{k} {v:.4f}" for k, v in best["test_metrics"].items()))
        lines += [
            "",
            "```json",
            json.dumps(jsonable(best["config"]), indent=2),
            "```",
        ]
        lines += _ensemble_lines(summary.get("ensemble"))
        if summary.get("ensemble_check"):
            lines += ["", f"- {ensemble_check_line(summary['ensemble_check'])}"]
    elif summary.get("interrupted"):
        lines.append(
            f"The search was interrupted (Ctrl-C) after {trials['completed']} trials completed every fold"
            + ("; they are ranked below" if rows else "")
            + ". No model was refit: run the search again for one."
        )
    else:
        lines.append("No trial completed every fold; nothing was refit.")
    extra = sorted({k for row in rows for k in row["cv_metrics"]})
    lines += [
        "",
        "## Leaderboard (top 10, and the refit trial if it ranks lower)",
        "",
        "| rank | model | CV F1 | std | " + "".join(f"{k} | " for k in extra) + "trial |",
        "|---" * (5 + len(extra)) + "|",
    ]
    for previous, row in zip([None, *rows], rows):
        if previous is not None and row["rank"] > previous["rank"] + 1:
            lines.append("| ... |" + " |" * (4 + len(extra)))
        cells = "".join(f"{row['cv_metrics'].get(k, float('nan')):.4f} | " for k in extra)
        mark = " (refit)" if row["trial_id"] == best.get("trial_id") else ""
        lines.append(
            f"| {row['rank']}{mark} | {row['model']} | {row['cv_f1_mean']:.4f} | "
            f"{row['cv_f1_std']:.4f} | {cells}{row['trial_id']} |"
        )
    (run_dir / "report.md").write_text("\n".join(lines) + "\n")
