"""The one place that reaches into Ray's ``OptunaSearch`` internals.

Ray's ``OptunaSearch.on_trial_complete`` tells Optuna that every finished
trial is COMPLETE with its last reported value. A trial that ASHA stopped
before its last fold has only a running mean over some folds, which would
teach the sampler a partial score; it must be PRUNED instead. Ray offers no
hook for that, so :func:`fold_aware_searcher` uses three private attributes of
``OptunaSearch`` (``_ot_study``, ``_ot_trials``, ``_completed_trials``, as of
Ray 2.60). ``tests/test_ray_optuna.py`` fails loudly when an upgrade renames
or changes them.

The same subclass keeps the study self-describing, so that optuna-dashboard
(``fg-automl dashboard``) and ``--resume`` need nothing else: each trial's
user attributes hold its Tune trial id, its whole configuration, its fold
scores so far, its other CV metrics and, when it failed, the error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["PRIVATE_ATTRIBUTES", "fold_aware_searcher"]


#: What :func:`fold_aware_searcher` reads of ``OptunaSearch``.
PRIVATE_ATTRIBUTES = ("_ot_study", "_ot_trials", "_completed_trials")


#: User attributes of each study trial (see the module's docstring).
TRIAL_ID_ATTR, CONFIG_ATTR, SESSION_ATTR = "tune_trial_id", "config", "session"
FOLDS_ATTR, FOLD_F1_ATTR, METRICS_ATTR, ERROR_ATTR = "folds_done", "fold_f1", "cv_metrics", "error"
SECONDS_ATTR, NODES_ATTR = "seconds", "nodes"


def fold_aware_searcher(
    base: type,
    *,
    folds: int,
    finished: Callable[[dict[str, Any]], bool],
    session: int = 1,
    error_of: Callable[[str], str | None] | None = None,
) -> type:
    """``base`` (``OptunaSearch``) that reports a trial stopped before its last
    fold as PRUNED (its running mean is only an intermediate value), and
    records each trial's details as user attributes of the study.

    Args:
        base: Ray's ``OptunaSearch``.
        folds: Folds of a whole trial (for the class name only).
        finished: Whether a trial's last result covers every fold.
        session: Which run of the search this is (1, then 2 after a
            ``--resume``...), recorded on each trial.
        error_of: The error message of a failed trial, by Tune trial id.
    """
    import optuna

    class FoldAwareOptunaSearch(base):  # type: ignore[misc, valid-type]
        #: What :meth:`_note` last wrote of each trial's attributes (the study need not be read back).
        _fg_written: dict[str, dict[str, Any]]

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._fg_written = {}
            super().__init__(*args, **kwargs)

        def suggest(self, trial_id: str) -> dict | None:
            config = super().suggest(trial_id)
            if config is not None and trial_id in self._ot_trials:
                trial = self._ot_trials[trial_id]
                trial.set_user_attr(TRIAL_ID_ATTR, trial_id)
                trial.set_user_attr(SESSION_ATTR, session)
                trial.set_user_attr(CONFIG_ATTR, config)
            return config

        def on_trial_result(self, trial_id: str, result: dict) -> None:
            super().on_trial_result(trial_id, result)
            self._note(trial_id, result)

        def _note(self, trial_id: str, result: dict | None) -> None:
            """Records a result's details on the study trial (Tune hands a trial's
            last result to ``on_trial_complete`` only)."""
            if not result or trial_id in self._completed_trials or trial_id not in self._ot_trials:
                return
            written = self._fg_written.setdefault(trial_id, {})
            scores = list(written.get(FOLD_F1_ATTR, []))
            done = int(result.get("folds_done", len(scores)))
            attrs: dict[str, Any] = {FOLDS_ATTR: done}
            if "fold_f1" in result and done >= 1:  # a retried trial starts again at fold 1
                attrs[FOLD_F1_ATTR] = [*scores[: done - 1], float(result["fold_f1"])]
            attrs[METRICS_ATTR] = {k: float(v) for k, v in result.items()
                                   if k.startswith("cv_") and isinstance(v, int | float)}
            if "time_total_s" in result:
                attrs[SECONDS_ATTR] = float(result["time_total_s"])
            nodes = list(written.get(NODES_ATTR, []))
            if result.get("node_id") and result["node_id"] not in nodes:
                attrs[NODES_ATTR] = [*nodes, result["node_id"]]
            trial = self._ot_trials[trial_id]
            for key, value in attrs.items():  # each write is a storage round trip: only what changed
                if key not in written or written[key] != value:
                    trial.set_user_attr(key, value)
                    written[key] = value

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            if trial_id in self._completed_trials:
                return
            self._note(trial_id, result)
            if error and trial_id in self._ot_trials:
                message = (error_of(trial_id) if error_of else None) or (
                    "the trial's worker process or node died; see error.txt in its folder of the Tune experiment")
                self._ot_trials[trial_id].set_user_attr(ERROR_ATTR, message)
            if error or not result or finished(result):
                super().on_trial_complete(trial_id, result=result, error=error)
                return
            self._ot_study.tell(self._ot_trials[trial_id], None, state=optuna.trial.TrialState.PRUNED)
            self._completed_trials.add(trial_id)

    FoldAwareOptunaSearch.__qualname__ = f"FoldAwareOptunaSearch[{folds} folds]"
    return FoldAwareOptunaSearch
