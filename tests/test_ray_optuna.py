"""The private parts of Ray's OptunaSearch that finegrain_automl relies on.

If a Ray upgrade renames or changes them, these tests fail first and say where.
"""

from __future__ import annotations

import optuna
from ray.tune.search.optuna import OptunaSearch

from finegrain_automl.search._ray_optuna import PRIVATE_ATTRIBUTES, fold_aware_searcher


def _searcher():
    cls = fold_aware_searcher(OptunaSearch, folds=3, finished=lambda result: result["folds_done"] >= 3)
    return cls(space=lambda trial: {"lr": trial.suggest_float("lr", 1e-3, 1e-1, log=True)}, metric="cv_f1",
               mode="max", sampler=optuna.samplers.RandomSampler(seed=0))


def test_optuna_search_still_has_the_private_attributes_we_use() -> None:
    searcher = _searcher()
    assert searcher.suggest("t1") is not None
    missing = [name for name in PRIVATE_ATTRIBUTES if not hasattr(searcher, name)]
    assert not missing, f"Ray's OptunaSearch no longer has {missing}: update finegrain_automl/search/_ray_optuna.py"
    assert isinstance(searcher._ot_study, optuna.Study)
    assert "t1" in searcher._ot_trials and isinstance(searcher._completed_trials, set)


def test_a_trial_stopped_before_its_last_fold_is_pruned_and_a_whole_one_complete() -> None:
    searcher = _searcher()
    for trial_id in ("stopped", "whole"):
        searcher.suggest(trial_id)
    searcher.on_trial_complete("stopped", result={"cv_f1": 0.9, "folds_done": 1})
    searcher.on_trial_complete("stopped", result={"cv_f1": 0.9, "folds_done": 1})  # told once only
    searcher.on_trial_complete("whole", result={"cv_f1": 0.7, "folds_done": 3})
    trials = searcher._ot_study.trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.COMPLETE]
    assert trials[0].value is None and trials[1].value == 0.7  # the partial 0.9 never reaches the sampler
