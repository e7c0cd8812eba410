"""The Python API behind ``fg-automl search`` and ``fg-automl predict``.

Everything a user can get wrong is checked before the run directory is
created, so a bad option never leaves a half-written run behind, and a run
directory is only ever added to, never overwritten.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from finegrain_automl import results
from finegrain_automl.cv import describe_cv, make_splits
from finegrain_automl.data import Dataset, DataSource
from finegrain_automl.errors import FgAutomlError, UsageError, collect_notes
from finegrain_automl.options import resolve_options
from finegrain_automl.plugins import Registry
from finegrain_automl.record import (
    DataRecord,
    EnsembleCheckRecord,
    EnsembleRecord,
    FinalModel,
    RunRecord,
    TrialCounts,
    Winner,
)
from finegrain_automl.search import SearchProgress, SearchSettings, schedulers, searchers
from finegrain_automl.space import Space, load_space
from finegrain_automl.task import Task, check_space, check_space_values, starting_points
from finegrain_automl.trial import TrialPayload

__all__ = [
    "DataOptions",
    "NoCompletedTrialError",
    "SearchInterrupted",
    "check_output",
    "make_payload",
    "predict",
    "prepare_resumed_search",
    "prepare_search",
    "resume_search",
    "run_prepared_search",
    "write_predictions",
]

ProgressView = Callable[[SearchProgress], AbstractContextManager[Any]]


class NoCompletedTrialError(FgAutomlError):
    """The search ended without any trial finishing every fold."""


class SearchInterrupted(FgAutomlError):
    """The user stopped the search (Ctrl-C, or SIGTERM: ``terminated``);
    finished trials are ranked and saved."""

    def __init__(self, message: str, *, terminated: bool = False) -> None:
        super().__init__(message)
        self.terminated = terminated


@dataclass(frozen=True, kw_only=True)
class DataOptions:
    """The user's data choice: a file (or ``None`` for the task's default),
    and the task's data options as the command line gave them (raw strings, or
    ``True``/``False`` for a flag; checked against ``Task.data_options``)."""

    path: Path | None = None
    target: str | None = None
    drop_columns: tuple[str, ...] = ()
    options: dict[str, str | bool] | None = None


@dataclass(frozen=True, kw_only=True)
class PreparedSearch:
    """A validated search: task, space, data and splits, ready to run."""

    task: Task
    families: dict[str, Any]
    space: Space
    data: Dataset
    data_source: str
    splits: Any
    settings: SearchSettings
    drop_columns: tuple[str, ...] = ()
    #: The task's data options, typed, defaults filled in (recorded with the run).
    data_options: dict[str, Any] = field(default_factory=dict)
    #: The split strategy, in words (``"stratified by the target"``).
    split: str = ""
    #: The task's starting points that the space can start from, tried first.
    starting_points: tuple[dict[str, Any], ...] = ()
    #: What the reader changed in the data and said so (:class:`~finegrain_automl.errors.DataNote`).
    notes: tuple[str, ...] = ()
    #: The data are the user's file (not the task's built-in set): the report shows no picture of them.
    private_data: bool = True


def _validate_settings(settings: SearchSettings) -> None:
    checks = [
        (settings.trials >= 1, f"--trials must be at least 1, got {settings.trials}. Use --trials 1 or more."),
        (settings.seed >= 0, f"--seed cannot be negative, got {settings.seed}. Use 0 or a positive integer."),
        (
            settings.address is not None or settings.cpus_per_trial <= (os.cpu_count() or 1),
            f"--cpus-per-trial {settings.cpus_per_trial:g} asks for more CPUs than this machine has "
            f"({os.cpu_count()}). Use --cpus-per-trial {os.cpu_count()} or less.",
        ),
        (settings.folds is None or settings.folds >= 2, f"--folds must be at least 2, got {settings.folds}. Use --folds 2 or more."),
        (
            settings.repeats is None or settings.repeats >= 1,
            f"--repeats must be at least 1, got {settings.repeats}. Use --repeats 1 for plain k-fold CV.",
        ),
        (
            settings.time_budget_s is None or settings.time_budget_s > 0,
            f"--time-budget must be positive, got {settings.time_budget_s}. Give seconds, e.g. --time-budget 180.",
        ),
        (
            settings.cpus_per_trial > 0,
            f"--cpus-per-trial must be positive, got {settings.cpus_per_trial}. Use e.g. --cpus-per-trial 1.",
        ),
        (
            settings.gpus_per_trial >= 0,
            f"--gpus-per-trial cannot be negative, got {settings.gpus_per_trial}. Use 0 for CPU only.",
        ),
        (
            settings.concurrency is None or settings.concurrency >= 1,
            f"--concurrency must be at least 1, got {settings.concurrency}.",
        ),
        (
            settings.max_epochs is None or settings.max_epochs >= 1,
            f"--max-epochs must be at least 1, got {settings.max_epochs}.",
        ),
        (
            settings.ensemble >= 0,
            f"--ensemble cannot be negative, got {settings.ensemble}. Use 0 for a single model, or e.g. 5.",
        ),
        (
            settings.searcher in searchers.available(),
            f"--searcher {settings.searcher!r} is not a searcher. Use one of: {', '.join(searchers.available())}.",
        ),
        (
            settings.scheduler in schedulers.available(),
            f"--scheduler {settings.scheduler!r} is not a scheduler. Use one of: "
            f"{', '.join(schedulers.available())}.",
        ),
        (
            settings.select in results.SELECTION_RULES,
            f"--select {settings.select!r} is not a selection rule. Use one of: {', '.join(results.SELECTION_RULES)}.",
        ),
    ]
    checks.append(
        (
            not (settings.address or "").startswith("ray://"),
            f"--address {settings.address}: Ray Client (ray://) addresses are not supported, since the run "
            "directory and live progress live on this machine. Run fg-automl on a machine of the cluster "
            "and pass the head node's host:port (e.g. --address 10.0.0.5:6379, or --address auto).",
        )
    )
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    if settings.address is None and settings.gpus_per_trial > 0:
        import torch

        if settings.gpus_per_trial > torch.cuda.device_count():
            raise UsageError(
                f"--gpus-per-trial {settings.gpus_per_trial:g} asks for more GPUs than this machine has "
                f"({torch.cuda.device_count()}). "
                + ("Drop --gpus-per-trial." if not torch.cuda.device_count() else f"Use at most {torch.cuda.device_count()}.")
            )


def check_output(output: Path) -> Path:
    """Returns ``output`` resolved, creating it if needed.

    Raises:
        UsageError: It is a file, or it cannot be created or written.
    """
    output = output.expanduser().resolve()
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output {output} is a file; give a folder for run directories.")
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--output {output} cannot be created ({exc.strerror}); choose a writable folder.") from None
    if not os.access(output, os.W_OK | os.X_OK):
        raise UsageError(f"--output {output} is not writable; choose a writable folder.")
    return output


def make_payload(prepared: PreparedSearch) -> TrialPayload:
    """What every trial of ``prepared`` receives besides its configuration."""
    settings = prepared.settings
    return TrialPayload(
        task=prepared.task,
        families=prepared.families,
        data=prepared.data,
        folds=prepared.splits.folds,
        seed=settings.seed,
        accelerator="gpu" if settings.gpus_per_trial > 0 else "cpu",
        num_threads=max(1, int(settings.cpus_per_trial)),
        max_epochs_cap=settings.max_epochs,
    )


def prepare_search(
    registry: Registry,
    *,
    task_name: str,
    settings: SearchSettings,
    data: DataOptions,
    space_path: Path | None = None,
    other_options: Sequence[str] = (),
    recorded_options: Mapping[str, Any] | None = None,
) -> PreparedSearch:
    """Resolves and validates everything a search needs; writes nothing.

    ``other_options`` are the command's own option names, suggested when a
    task option is misspelt; ``recorded_options`` are typed task options of a
    run being resumed.
    """
    _validate_settings(settings)
    task = registry.task(task_name)
    families = dict(registry.families[task_name])
    space = load_space(space_path) if space_path is not None else registry.default_space(task_name)
    check_space(space, task=task, families=families)
    options = resolve_options(
        task.data_options, data.options or {}, task_name=task.name, command="search",
        with_data=data.path is not None, other_options=other_options, recorded=recorded_options,
    )
    if data.path is None:
        for given, option in [(data.target, "--target"), (data.drop_columns, "--drop")]:
            if given:
                raise UsageError(
                    f"{option} only applies with --data FILE; the built-in data set has its own columns. "
                    f"Remove {option} or pass --data."
                )
        builtin = {option.name for option in task.data_options if option.builtin}
        with collect_notes() as notes:
            if builtin:  # only then: tasks without such options keep load_default(*, seed)
                dataset = task.load_default(seed=settings.seed,
                                            options={k: v for k, v in options.items() if k in builtin})
            else:
                dataset = task.load_default(seed=settings.seed)
        source = f"built-in data of task {task.name!r} (seed {settings.seed})"
    else:
        path = data.path.expanduser().resolve()  # trials run in other working directories
        with collect_notes() as notes:
            dataset = task.read_file(
                DataSource(path=path, target=data.target, drop_columns=data.drop_columns, options=options)
            )
        source = str(path)
    check_space_values(space, task=task, families=families)  # after the data: its errors are cheaper to find
    strategy = task.split_strategy(dataset)
    splits = make_splits(
        dataset,
        n_folds=settings.folds,
        test_fraction=settings.test_fraction,
        seed=settings.seed,
        strategy=strategy,
        repeats=settings.repeats,  # None: the task's, or chosen from the number of development rows
    )

    settings = dataclasses.replace(settings, folds=splits.n_folds, repeats=splits.repeats)
    if len(splits.train_only):
        column = dataset.info.get("group_column", "group")
        groups = len(set(dataset.groups[splits.train_only].tolist()))
        notes.append(
            f"{groups} {column} value{'s' * (groups > 1)} with fewer than {settings.folds + 1} rows "
            f"({len(splits.train_only)} rows) {'are' if groups > 1 else 'is'} only trained on, never scored."
        )
    return PreparedSearch(
        task=task,
        families=families,
        space=space,
        data=dataset,
        data_source=source,
        splits=splits,
        settings=settings,
        drop_columns=data.drop_columns,
        data_options=options,
        split=strategy.describe(dataset.info.get("group_column", "group")),
        starting_points=tuple(starting_points(space, task=task, limit=settings.trials)),
        notes=tuple(notes),
        private_data=data.path is not None,
    )


#: Settings ``--resume`` may change: where and how wide the search runs, not what it searches.
RESUME_CHANGEABLE = ("address", "dashboard", "concurrency")


def prepare_resumed_search(
    registry: Registry, *, run_dir: Path, changes: Mapping[str, Any] | None = None
) -> PreparedSearch:
    """The search of ``run_dir`` (stopped by Ctrl-C, SIGTERM or a crash),
    prepared from what the run recorded: task, data, space, settings, splits.

    ``changes`` are settings given again (``SearchSettings`` field names):
    those of :data:`RESUME_CHANGEABLE` replace the recorded ones, any other
    must equal what the run recorded.

    Raises:
        UsageError: ``run_dir`` is not a run that can be resumed (none, one
            that finished, one without a study), a change conflicts with the
            run, or the data no longer splits as recorded (it changed).
    """
    import json

    from finegrain_automl.search._study import STUDY_FILE

    run_dir = run_dir.expanduser().resolve()
    run_file = run_dir / results.RUN_FILE
    if not run_file.is_file():
        raise UsageError(f"--resume {run_dir}: not a run directory (no {results.RUN_FILE}). Pass a folder under "
                         "fg-runs/ that a search wrote.")
    try:
        record = RunRecord.from_dict(json.loads(run_file.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise UsageError(f"--resume {run_dir}: {results.RUN_FILE} cannot be read ({exc}). Start a new search.") from None
    if record.final is not None:
        raise UsageError(f"--resume {run_dir}: that search finished (its model is refit). Start a new search, "
                         "with more --trials or --time-budget if it needs more.")
    if not (run_dir / STUDY_FILE).is_file():
        raise UsageError(f"--resume {run_dir}: no {STUDY_FILE}, so no trial ever started; start a new search.")
    known = {f.name for f in dataclasses.fields(SearchSettings)}
    recorded = {k: v for k, v in record.settings.items() if k in known}
    for name, value in (changes or {}).items():
        if name not in RESUME_CHANGEABLE and name in recorded and value != recorded[name]:
            option = "--" + name.removesuffix("_s").replace("_", "-")
            raise UsageError(
                f"{option} {value} conflicts with the run being resumed ({option} {recorded[name]}): --resume takes "
                f"the search's settings from the run. Drop {option}, or start a new search to change it."
            )
    settings = dataclasses.replace(
        SearchSettings(**recorded), **{k: v for k, v in (changes or {}).items() if k in RESUME_CHANGEABLE}
    )
    return prepare_recorded_search(registry, run_dir=run_dir, record=record, settings=settings, command="--resume")


def prepare_recorded_search(
    registry: Registry, *, run_dir: Path, record: RunRecord, settings: SearchSettings, command: str
) -> PreparedSearch:
    """The search of ``run_dir`` prepared again from what its record says:
    the same task, data (the built-in set by its seed, or the recorded file),
    space and splits (checked against ``splits.json``).

    Raises:
        UsageError: The data file is gone, or the data no longer split as
            recorded; the message starts with ``command`` (``--resume``).
    """
    import json

    source = record.data.source
    path = Path(source) if Path(source).is_absolute() else None
    if path is not None and not path.is_file():
        raise UsageError(f"{command} {run_dir}: its data file {path} is gone. Put it back and try again.")
    prepared = prepare_search(
        registry, task_name=record.task, settings=settings,
        data=DataOptions(path=path, target=record.data.facts.get("target") if path else None,
                         drop_columns=tuple(record.data.drop_columns)),
        space_path=run_dir / "space.yaml", recorded_options=record.data.options,
    )
    recorded_splits = json.loads((run_dir / results.SPLITS_FILE).read_text())
    if results.splits_json(prepared.splits) != recorded_splits:
        raise UsageError(f"{command} {run_dir}: the data ({source}) no longer splits into the run's test rows and "
                         "folds, so it changed since the search began. Restore it, or start a new search.")
    return prepared


def run_prepared_search(
    prepared: PreparedSearch,
    registry: Registry,
    *,
    output: Path,
    view: ProgressView | None = None,
) -> RunRecord:
    """Runs a new search in a new run directory under ``output``; see :func:`_run`."""
    return _run(prepared, registry, output=output, view=view)


def resume_search(
    prepared: PreparedSearch,
    registry: Registry,
    *,
    run_dir: Path,
    view: ProgressView | None = None,
) -> RunRecord:
    """Continues the search of ``run_dir`` (``prepared`` by :func:`prepare_resumed_search`)."""
    return _run(prepared, registry, output=run_dir.parent, view=view, resume_dir=run_dir)


def _run(
    prepared: PreparedSearch,
    registry: Registry,
    *,
    output: Path,
    view: ProgressView | None = None,
    resume_dir: Path | None = None,
) -> RunRecord:
    """Runs the search, writes the run directory, and returns the run record.

    The steps, in order: start Ray, open the run directory (created once Ray
    is up, so a cluster that cannot be reached leaves nothing behind; with
    ``resume_dir``, that run's, continued), search, select the winner (and an
    ensemble), refit, save. Each fills its part of the
    :class:`~finegrain_automl.record.RunRecord`.

    Raises:
        NoCompletedTrialError: No trial completed every fold; the run
            directory (with its leaderboard of partial trials) is kept.
        SearchInterrupted: Ctrl-C; the completed trials are ranked and saved.
    """
    from finegrain_automl.search import ray_session

    output = check_output(output)
    progress = _progress(prepared)
    started = time.monotonic()
    with (view(progress) if view else contextlib.nullcontext()), ray_session(prepared.settings) as session:
        progress.dashboard_url, progress.dashboard_sign_in = session.dashboard_url, session.dashboard_sign_in
        if resume_dir is None:
            run, resume = _open_run(prepared, output=output, dashboard_url=session.dashboard_url), None
        else:
            run, resume = _reopen_run(resume_dir, progress=progress, dashboard_url=session.dashboard_url)
        rows, payload = _search(prepared, registry, run, progress=progress, resume=resume)
        winner, selection = _select(prepared, run, rows)
        refit = _refit(prepared, payload, run, rows, winner=winner, selection=selection, progress=progress)
    _save(run, refit, started=started)
    registry.notify("fg_automl_search_end", task_name=prepared.task.name, run_dir=run.path,
                    summary=run.record.to_dict())
    return run.record


def _progress(prepared: PreparedSearch) -> SearchProgress:
    """What the live view shows before the first trial reports."""
    info = prepared.data.info
    target = f", target {info['target']!r}" if "target" in info else ""
    return SearchProgress(
        total=prepared.settings.trials,
        folds=prepared.settings.total_folds,
        time_budget_s=prepared.settings.time_budget_s,
        data_description=(
            f"{prepared.data_source}{target}; {len(prepared.data)} rows, {len(prepared.splits.test)} held out "
            f"for the final test, {describe_cv(prepared.settings.folds, prepared.settings.repeats)} on the rest"
        ),
    )


def _open_run(prepared: PreparedSearch, *, output: Path, dashboard_url: str | None) -> results.RunDirectory:
    """Step 1: the run directory with its space, splits and the record of what is searched."""
    import numpy as np

    task, data, splits = prepared.task, prepared.data, prepared.splits
    run = results.RunDirectory.create(output, task.name)
    run.write_space(prepared.space)
    run.write_splits(splits)
    run.record = RunRecord(
        run_dir=str(run.path),
        task=task.name,
        data=DataRecord(
            source=prepared.data_source,
            rows=len(data),
            test_rows=len(splits.test),
            split=prepared.split,
            train_only_rows=len(splits.train_only),
            train_only_groups=0 if data.groups is None else len(np.unique(data.groups[splits.train_only])),
            positive_label=data.positive_label,
            drop_columns=list(prepared.drop_columns),
            options=dict(prepared.data_options),
            facts=dict(data.info),
            notes=list(prepared.notes),
        ),
        settings=prepared.settings.to_dict(),
        starting_points=list(prepared.starting_points),
        versions=_versions(),
        leaderboard_metrics=list(task.leaderboard_metrics),
        dashboard_url=dashboard_url,
    )
    run.write_record()
    return run


def _reopen_run(
    run_dir: Path, *, progress: SearchProgress, dashboard_url: str | None
) -> tuple[results.RunDirectory, Any]:
    """Step 1 of a resumed search: its run directory and study, readied to continue."""
    import json

    from finegrain_automl.search import prepare_resume
    from finegrain_automl.search._study import load_records

    record = RunRecord.from_dict(json.loads((run_dir / results.RUN_FILE).read_text()))
    record.resumed += 1
    record.interrupted = False
    record.dashboard_url = dashboard_url
    run = results.RunDirectory(run_dir, record=record)
    resume = prepare_resume(run_dir)
    for trial in load_records(run_dir, folds=progress.folds):  # the live view counts the earlier runs' trials
        progress.records[trial.trial_id] = trial
        progress.completed += trial.status == "completed"
        progress.pruned += trial.status == "pruned"
        progress.failed += trial.status == "failed"
        if trial.status == "completed" and (progress.best is None or (trial.cv_f1 or -1) > (progress.best.cv_f1 or -1)):
            progress.best = trial
    run.write_record()
    return run, resume


def _search(
    prepared: PreparedSearch,
    registry: Registry,
    run: results.RunDirectory,
    *,
    progress: SearchProgress,
    resume: Any = None,
) -> tuple[list[dict[str, Any]], TrialPayload]:
    """Step 2: the trials; returns the leaderboard rows (best first) and the trials' payload."""
    import ray

    from finegrain_automl.ensemble import start_prediction_store
    from finegrain_automl.search import run_search

    settings, task = prepared.settings, prepared.task
    progress.phase = "searching"
    progress.started = time.monotonic()
    registry.notify("fg_automl_search_start", task_name=task.name, run_dir=run.path, settings=settings.to_dict())
    store = start_prediction_store(run.predictions) if settings.ensemble > 0 else None
    payload = dataclasses.replace(make_payload(prepared), predictions=store)
    try:
        records = run_search(
            payload=payload,
            define_by_run=prepared.space.define_by_run(),
            starting_points=prepared.starting_points,
            settings=settings,
            run_dir=run.path,
            progress=progress,
            on_result=lambda trial: registry.notify(
                "fg_automl_trial_result", task_name=task.name, run_dir=run.path, trial=trial
            ),
            resume=resume,
        )
    except KeyboardInterrupt as exc:
        from finegrain_automl.search import SearchTerminated
        from finegrain_automl.search._study import load_records

        rows = _tally(run, load_records(run.path, folds=settings.total_folds))
        run.record.interrupted = True
        run.finish(started=progress.started)
        terminated = isinstance(exc, SearchTerminated)
        raise SearchInterrupted(
            f"{'Terminated (SIGTERM)' if terminated else 'Interrupted'}: {len(rows)} trials that completed every "
            f"fold are ranked in {run.path / 'leaderboard.csv'}; no model was refit. Continue with "
            f"`fg-automl search --resume {run.path}`.",
            terminated=terminated,
        ) from None
    finally:
        if store is not None:
            ray.kill(store)
    rows = _tally(run, records)
    if not rows:
        run.finish(started=progress.started)
        counts, errors = run.record.trials, run.record.errors
        cause = (
            f" First error: {errors[0]}" if counts.failed == counts.total and errors
            else " Raise --time-budget, or lower --folds or --repeats."
        )
        passes = f" of {describe_cv(settings.folds, settings.repeats)}" if (settings.repeats or 1) > 1 else ""
        raise NoCompletedTrialError(
            f"No trial completed all {settings.total_folds} folds{passes} ({counts.pruned} pruned, "
            f"{counts.failed} failed); partial results are in {run.path}.{cause}"
        )
    return rows, payload


def _select(
    prepared: PreparedSearch, run: results.RunDirectory, rows: list[dict[str, Any]]
) -> tuple[dict[str, Any], Any]:
    """Step 3: the winner by the selection rule, and the ensemble to refit (or None)."""
    import numpy as np

    from finegrain_automl.ensemble import select_from_files

    settings = prepared.settings
    complexity = {name: family.complexity for name, family in prepared.families.items()}
    winner, how = results.select_winner(rows, rule=settings.select, complexity=complexity)
    run.record.best = Winner(
        **{k: winner[k] for k in ("trial_id", "rank", "config", "cv_f1_mean", "cv_f1_std", "cv_metrics")},
        selection=how,
    )
    if winner["rank"] > len(run.record.leaderboard):  # shown after the top 10, marked as refit
        run.record.leaderboard.append(winner)
    if settings.ensemble == 0:
        return winner, None
    selection = select_from_files(  # None when no trial kept predictions (models without class probabilities)
        prepared.task, prepared.data, np.sort(prepared.splits.development), run.predictions,
        trial_ids=[row["trial_id"] for row in rows], limit=settings.ensemble, check=settings.ensemble_check,
    )
    if selection is None:
        return winner, None
    if settings.ensemble_check:
        run.record.ensemble_check = _check_record(selection)
        if not selection.kept:
            return winner, None
    return winner, selection


def _refit(
    prepared: PreparedSearch,
    payload: TrialPayload,
    run: results.RunDirectory,
    rows: list[dict[str, Any]],
    *,
    winner: dict[str, Any],
    selection: Any,
    progress: SearchProgress,
) -> results.RefitResult:
    """Step 4: the ensemble's members, or the winner, refit on every development row and tested once."""
    import ray

    settings, splits = prepared.settings, prepared.splits
    resources = {"num_cpus": settings.cpus_per_trial, "num_gpus": settings.gpus_per_trial}
    if selection is not None:
        n = len(selection.trial_ids)
        progress.phase = f"refitting the ensemble's {n} member{'s' * (n > 1)} on all development rows"
        refit, ensemble = results.refit_ensemble(
            payload, selection, rows, development=splits.development, test=splits.test,
            remote=ray.remote(**resources)(results.refit_member), private=prepared.private_data,
        )
        run.record.ensemble = EnsembleRecord(**ensemble)
        return refit
    progress.phase = "refitting the winner on all development rows"
    return ray.get(
        ray.remote(**resources)(results.refit).remote(
            payload, winner["config"], development=splits.development, test=splits.test,
            private=prepared.private_data,
        )
    )


def _save(run: results.RunDirectory, refit: results.RefitResult, *, started: float) -> None:
    """Step 5: the final model, the record of its test scores, the task's figures, the report."""
    run.save_model(refit.state)
    run.write_figures(refit.figures)
    metrics = refit.test_metrics
    kind = "ensemble" if run.record.ensemble is not None else "single"
    run.record.final = FinalModel(kind=kind, test_f1=metrics["f1"], test_metrics=metrics,
                                  refit_seconds=refit.seconds)
    if kind == "single":
        best = run.record.best
        best.test_f1, best.test_metrics, best.refit_seconds = metrics["f1"], metrics, refit.seconds
    run.finish(started=started)


def _check_record(selection: Any) -> EnsembleCheckRecord:
    """What the run record says about the ensemble's check, kept or not."""
    check = selection.check
    return EnsembleCheckRecord(
        kept=selection.kept,
        members=len(selection.trial_ids),
        ensemble_f1=check.ensemble_f1 if check else None,
        single_f1=check.single_f1 if check else None,
        folds=check.folds if check else None,
    )


def _versions() -> dict[str, str]:
    """Versions of the packages a result depends on, to repeat it later."""
    import importlib.metadata

    names = ["finegrain-automl", "torch", "pytorch-lightning", "ray", "optuna"]
    names += sorted({ep.dist.name for ep in importlib.metadata.entry_points(group="finegrain_automl") if ep.dist})
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _tally(run: results.RunDirectory, records: list[Any]) -> list[dict[str, Any]]:
    """Ranks the finished trials, writes the leaderboard, and counts outcomes."""
    rows = results.leaderboard_rows(records)
    run.write_leaderboard(rows)
    run.record.trials = TrialCounts(
        total=len(records),
        completed=sum(r.status == "completed" for r in records),
        pruned=sum(r.status == "pruned" for r in records),
        failed=sum(r.status == "failed" for r in records),
    )
    run.record.errors = sorted({r.error for r in records if r.error})[:5]
    run.record.leaderboard = rows[:10]
    return rows


def predict(
    registry: Registry,
    *,
    run_dir: Path,
    data_path: Path,
    options: dict[str, str | bool] | None = None,
    other_options: Sequence[str] = (),
    as_table: bool = False,
) -> pd.DataFrame:
    """Applies a run's refit model to the rows of ``data_path``; returns what
    its :meth:`FittedModel.predict` returns or, with ``as_table``, what
    ``fg-automl predict`` writes (:meth:`~finegrain_automl.task.Task.prediction_table`).

    ``options`` (raw, as the command line gave them) override the task data
    options saved with the run (for example another ``text_column``); only
    those the task declares with ``predict=True`` are accepted.
    """
    task, _, predictions, _ = _predict(registry, run_dir=run_dir, data_path=data_path, options=options,
                                       other_options=other_options)
    return task.prediction_table(predictions) if as_table else predictions


def write_predictions(
    registry: Registry,
    *,
    run_dir: Path,
    data_path: Path,
    output: Path | None,
    options: dict[str, str | bool] | None = None,
    other_options: Sequence[str] = (),
    stdout: TextIO | None = None,
) -> list[str]:
    """What ``fg-automl predict`` does: predicts the rows of ``data_path`` (as
    :func:`predict`), writes the task's prediction table to ``output`` (stdout
    when ``None``: ``stdout``, default ``sys.stdout``) in the task's format
    (:meth:`~finegrain_automl.task.Task.write_predictions`), then whatever the
    task's ``predict``-only options ask for (:meth:`~finegrain_automl.task.Task.after_predict`).

    Returns:
        One line per thing written, for the user.
    """
    task, dataset, predictions, resolved = _predict(registry, run_dir=run_dir, data_path=data_path,
                                                    options=options, other_options=other_options)
    table = task.prediction_table(predictions)
    written = []
    if output is None:
        stream = stdout or sys.stdout
        task.write_predictions(table, stream)
        stream.flush()
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("w", encoding="utf-8", newline="") as stream:
            task.write_predictions(table, stream)
        written.append(f"Wrote {len(table)} rows of predictions ({task.prediction_format}) to {output}")
    return written + task.after_predict(predictions, data=dataset, options=resolved)


def _predict(
    registry: Registry,
    *,
    run_dir: Path,
    data_path: Path,
    options: dict[str, str | bool] | None,
    other_options: Sequence[str],
) -> tuple[Task, Dataset, pd.DataFrame, dict[str, Any]]:
    """The task, the rows read from ``data_path``, the model's predictions and the resolved options."""
    run_dir = run_dir.expanduser().resolve()
    run = results.read_run(run_dir)
    task = registry.task(run["task"])
    model = results.load_fitted_model(run_dir, task=task, families=registry.families[task.name])
    resolved = resolve_options(
        task.data_options, options or {}, task_name=task.name, command="predict", with_data=True,
        recorded=run["data"].get("options", {}), other_options=other_options,
    )
    dataset = task.read_file(
        DataSource(
            path=data_path.expanduser().resolve(),
            target=run["data"].get("target"),
            require_target=False,
            drop_columns=tuple(run["data"].get("drop_columns", ())),
            options=resolved,
        )
    )
    return task, dataset, model.predict(dataset.features), resolved
