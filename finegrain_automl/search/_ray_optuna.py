"""The one place that reaches into Ray's ``OptunaSearch`` internals.

Ray's ``OptunaSearch.on_trial_complete`` tells Optuna that every finished
trial is COMPLETE with its last reported value. A trial that ASHA stopped
before its last fold has only a running mean over some folds, which would
teach the sampler a partial score; it must be PRUNED instead. Ray offers no
hook for that, so :func:`fold_aware_searcher` uses three private attributes of
``OptunaSearch`` (``_ot_study``, ``_ot_trials``, ``_completed_trials``, as of
Ray 2.60). ``tests/test_ray_optuna.py`` fails loudly when an upgrade renames
or changes them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["PRIVATE_ATTRIBUTES", "fold_aware_searcher"]

#: What :func:`fold_aware_searcher` reads of ``OptunaSearch``.
PRIVATE_ATTRIBUTES = ("_ot_study", "_ot_trials", "_completed_trials")


def fold_aware_searcher(base: type, *, folds: int, finished: Callable[[dict[str, Any]], bool]) -> type:
    """``base`` (``OptunaSearch``) that reports a trial stopped before its last
    fold as PRUNED (its running mean is only an intermediate value).

    Args:
        base: Ray's ``OptunaSearch``.
        folds: Folds of a whole trial (for the class name only).
        finished: Whether a trial's last result covers every fold.
    """
    import optuna

    class FoldAwareOptunaSearch(base):  # type: ignore[misc, valid-type]
        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            if error or not result or finished(result):
                super().on_trial_complete(trial_id, result=result, error=error)
                return
            if trial_id in self._completed_trials:
                return
            self._ot_study.tell(self._ot_trials[trial_id], None, state=optuna.trial.TrialState.PRUNED)
            self._completed_trials.add(trial_id)

    FoldAwareOptunaSearch.__qualname__ = f"FoldAwareOptunaSearch[{folds} folds]"
    return FoldAwareOptunaSearch
