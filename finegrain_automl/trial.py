"""One trial: k folds of training, each scored with the task's F1.

:func:`cross_validate` is the whole trial and knows nothing about Ray, so the
overhead benchmark runs the very same code in a plain Optuna loop.
:func:`tune_trainable` wraps it for Ray Tune: after each fold it reports the
running mean F1, so ASHA can stop a hopeless configuration early.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from finegrain_automl.data import Dataset
from finegrain_automl.ensemble import OutOfFold
from finegrain_automl.space import branch_params
from finegrain_automl.task import MODEL_KEY, FitContext, FittedModel, ModelFamily, Task

__all__ = ["METRIC", "FoldResult", "TrialPayload", "cross_validate", "tune_trainable"]

#: The metric every trial reports and the search maximises.
METRIC = "cv_f1"


@dataclass(frozen=True, kw_only=True)
class TrialPayload:
    """Everything a trial needs besides its configuration.

    Sent to the cluster's object store once per search
    (``tune.with_parameters``), never regenerated per trial.
    """

    task: Task
    families: Mapping[str, ModelFamily]
    data: Dataset
    folds: tuple[tuple[np.ndarray, np.ndarray], ...]
    seed: int
    accelerator: str = "cpu"
    num_threads: int = 1
    max_epochs_cap: int | None = None
    #: Where a completed trial hands its out-of-fold predictions (a Ray actor
    #: handle of :class:`~finegrain_automl.ensemble.PredictionFiles`); None: not kept.
    predictions: Any = None

    def context(self, fold: int, *, final: bool = False, decision: bool = True) -> FitContext:
        """The fit context of ``fold``: the same seed for a fold in every trial."""
        return FitContext(
            seed=self.seed + fold,
            accelerator=self.accelerator,
            num_threads=self.num_threads,
            max_epochs_cap=self.max_epochs_cap,
            final=final,
            decision=decision,
        )

    def fit(
        self, config: Mapping[str, Any], rows: np.ndarray, *, fold: int, final: bool = False, decision: bool = True
    ) -> FittedModel:
        """Fits ``config`` on the data rows at positions ``rows`` (see :class:`FitContext`)."""
        family_name, family_params = branch_params(config, MODEL_KEY)
        return self.task.fit(
            config=config,
            family=self.families[family_name],
            family_params=family_params,
            train=self.data.take(rows),
            context=self.context(fold, final=final, decision=decision),
        )


@dataclass(frozen=True, kw_only=True)
class FoldResult:
    """Scores of one fold and the running cross-validation summary."""

    fold: int
    metrics: dict[str, float]
    seconds: float
    cv_f1: float
    cv_f1_std: float
    cv_means: dict[str, float]
    #: After the last fold, for models with class probabilities: the mean
    #: out-of-fold probabilities of every development row, float32 ``[n, C]``.
    out_of_fold: np.ndarray | None = None


def cross_validate(payload: TrialPayload, config: Mapping[str, Any]) -> Iterator[FoldResult]:
    """Fits and scores ``config`` on each fold in turn, yielding after each."""
    scores: list[float] = []
    history: list[dict[str, float]] = []
    out_of_fold = OutOfFold(len(payload.data))
    for fold, (train_rows, valid_rows) in enumerate(payload.folds):
        started = time.perf_counter()
        model = payload.fit(config, train_rows, fold=fold)
        valid = payload.data.take(valid_rows)
        metrics = payload.task.evaluate(model, valid)
        probabilities = model.predict_proba(valid.features)
        if probabilities is not None:
            out_of_fold.add(valid_rows, np.asarray(probabilities))
        scores.append(float(metrics["f1"]))
        history.append({k: float(v) for k, v in metrics.items()})
        yield FoldResult(
            fold=fold,
            metrics=metrics,
            seconds=time.perf_counter() - started,
            cv_f1=float(np.mean(scores)),
            cv_f1_std=float(np.std(scores)),
            cv_means={k: float(np.nanmean([h.get(k, np.nan) for h in history])) for k in history[0]},
            out_of_fold=out_of_fold.result() if fold == len(payload.folds) - 1 else None,
        )


def tune_trainable(config: dict[str, Any], payload: TrialPayload) -> None:
    """Ray Tune function trainable: one report per fold.

    Reports with ``ray.tune.report`` (Ray Train V2 rejects ``ray.train.report``
    inside Tune functions).
    """
    import ray
    from ray import tune

    for result in cross_validate(payload, config):
        if result.out_of_fold is not None and payload.predictions is not None:
            # Before the last report: once it is reported, Tune may end the trial at once.
            trial_id = tune.get_context().get_trial_id()
            ray.get(payload.predictions.save.remote(trial_id, result.cv_f1, result.out_of_fold))
        tune.report(
            {
                METRIC: result.cv_f1,
                "cv_f1_std": result.cv_f1_std,
                "folds_done": result.fold + 1,
                "fold_f1": float(result.metrics["f1"]),
                "fold_seconds": result.seconds,
                # The task's other metrics, averaged over the folds so far (cv_auroc, cv_brier...).
                **{f"cv_{k}": v for k, v in result.cv_means.items() if k != "f1"},
            }
        )
