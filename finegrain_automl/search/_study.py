"""The run's Optuna study (``study.journal``) as the record of every trial.

The study is written as the search goes (each result, each ending), so it
is what survives a crash of the driver. The leaderboard is read from it, and
``--resume`` reads it to know what is done: trials that were running when
the search stopped are marked failed (``interrupted``) and their
configurations queued again; unstarted starting points are still queued.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finegrain_automl.search._ray_optuna import (
    CONFIG_ATTR,
    ERROR_ATTR,
    FOLDS_ATTR,
    METRICS_ATTR,
    SECONDS_ATTR,
    SESSION_ATTR,
    TRIAL_ID_ATTR,
)

__all__ = ["INTERRUPTED_ATTR", "STUDY_FILE", "STUDY_NAME", "ResumeState", "load_records", "open_study",
           "prepare_resume", "stop_running"]

#: Optuna's journal storage: an append-only log that several processes may
#: read and write (the search, ``fg-automl dashboard``), and that a crash
#: leaves whole up to its last complete record.
STUDY_FILE = "study.journal"
STUDY_NAME = "search"
#: Set on a trial that was running when the search stopped; it is not an outcome.
INTERRUPTED_ATTR = "interrupted"


def storage(run_dir: Path) -> Any:
    """The study's storage: ``run_dir/study.journal``.

    Not SQLite (DESIGN.md's default): Optuna's RDB storage rereads every
    running trial with all its parameters and attributes several times per
    suggestion, so with 64 trials at once the searcher took 1.8 s per trial
    and kept the workers 32 % busy; with the journal, 0.2 s and 94 %
    (``benchmarks/scale_sim.py``, 16 simulated nodes, 10 s folds).
    """
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(run_dir / STUDY_FILE)))


def open_study(run_dir: Path) -> Any:
    """The run's study (it must exist)."""
    import optuna

    return optuna.load_study(study_name=STUDY_NAME, storage=storage(run_dir))


@dataclass(frozen=True, kw_only=True)
class ResumeState:
    """What a resumed search starts from."""

    #: This run of the search: 2 for the first resume.
    session: int
    #: Trials that ended (completed, pruned or failed) before.
    finished: int
    #: Trials that were running when the search stopped; their configurations run again.
    requeued: int
    #: Seconds of trials spent before, summed over the earlier runs.
    spent_s: float


def prepare_resume(run_dir: Path) -> ResumeState:
    """Marks the trials that were running when the search stopped as failed
    (``interrupted``), queues their configurations again, and returns what
    the resumed search starts from."""
    import optuna

    State = optuna.trial.TrialState
    study = open_study(run_dir)
    trials = study.get_trials(deepcopy=False)
    sessions = [int(t.user_attrs.get(SESSION_ATTR, 1)) for t in trials]
    requeued = 0
    for trial in trials:
        if trial.state != State.RUNNING:
            continue
        study._storage.set_trial_user_attr(trial._trial_id, INTERRUPTED_ATTR, True)
        study._storage.set_trial_user_attr(
            trial._trial_id, ERROR_ATTR, "interrupted: the search stopped while this trial ran; "
            "its configuration ran again after --resume")
        study.tell(trial.number, state=State.FAIL)
        study.enqueue_trial(trial.params, skip_if_exists=False)
        requeued += 1
    trials = study.get_trials(deepcopy=False)
    finished = sum(t.state in (State.COMPLETE, State.PRUNED, State.FAIL) and not t.user_attrs.get(INTERRUPTED_ATTR)
                   for t in trials)
    return ResumeState(session=max(sessions, default=1) + 1, finished=finished, requeued=requeued,
                       spent_s=_spent(trials))


def stop_running(run_dir: Path, *, session: int) -> int:
    """Tells the study that this run's trials still running when Tune returned
    (the time budget stopped them) were pruned; returns how many."""
    import optuna

    study = open_study(run_dir)
    running = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
               if int(t.user_attrs.get(SESSION_ATTR, 1)) == session]
    for trial in running:
        study.tell(trial.number, state=optuna.trial.TrialState.PRUNED)
    return len(running)


def _spent(trials: list[Any]) -> float:
    """Seconds from each earlier run's first trial start to its last event."""
    by_session: dict[int, list[datetime.datetime]] = {}
    for trial in trials:
        times = [t for t in (trial.datetime_start, trial.datetime_complete) if t is not None]
        by_session.setdefault(int(trial.user_attrs.get(SESSION_ATTR, 1)), []).extend(times)
    return sum((max(times) - min(times)).total_seconds() for times in by_session.values() if times)


def load_records(run_dir: Path, *, folds: int) -> list[Any]:
    """One :class:`~finegrain_automl.search.TrialRecord` per trial that ended,
    in the order the trials started; interrupted and unstarted ones are left out."""
    import optuna

    from finegrain_automl.search import TrialRecord

    State = optuna.trial.TrialState
    status = {State.COMPLETE: "completed", State.PRUNED: "pruned", State.FAIL: "failed"}
    records = []
    for trial in open_study(run_dir).get_trials(deepcopy=False, states=tuple(status)):
        attrs = trial.user_attrs
        if attrs.get(INTERRUPTED_ATTR):
            continue
        metrics = dict(attrs.get(METRICS_ATTR, {}))
        done = int(attrs.get(FOLDS_ATTR, 0))
        state = status[trial.state]
        if state == "completed" and done < folds:  # told COMPLETE by Ray's own code path: partial
            state = "pruned"
        records.append(TrialRecord(
            trial_id=str(attrs.get(TRIAL_ID_ATTR, f"optuna-{trial.number}")),
            config=dict(attrs.get(CONFIG_ATTR, trial.params)),
            status=state,
            folds_done=done,
            cv_f1=metrics.pop("cv_f1", trial.value),
            cv_f1_std=metrics.pop("cv_f1_std", None),
            cv_metrics=metrics,
            seconds=attrs.get(SECONDS_ATTR),
            error=attrs.get(ERROR_ATTR) if state == "failed" else None,
        ))
    return records
