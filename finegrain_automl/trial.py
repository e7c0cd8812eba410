"""One trial: k folds of training, each scored with the task's F1.

:func:`cross_validate` is the whole trial and knows nothing about Ray, so the
overhead benchmark runs the very same code in a plain Optuna loop.
:func:`tune_trainable` wraps it for Ray Tune: after each fold it reports the
running mean F1, so ASHA can stop a hopeless configuration early.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from finegrain_automl.data import Dataset
from finegrain_automl.ensemble import OutOfFold
from finegrain_automl.space import branch_params
from finegrain_automl.task import MODEL_KEY, FitContext, FittedModel, ModelFamily, Task

__all__ = [
    "METRIC",
    "FailureNotes",
    "FoldResult",
    "TrialError",
    "TrialPayload",
    "cross_validate",
    "tune_trainable",
    "worker_accelerator",
]

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
    #: Where a trial notes an error of its own (a Ray actor handle of
    #: :class:`FailureNotes`), so that Tune's retry fails at once; None: not noted.
    failures: Any = None

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


class TrialError(RuntimeError):
    """A configuration's own failure (a fold scored NaN, or the error of an
    earlier attempt of the same trial): the trial is recorded as failed."""


def cross_validate(payload: TrialPayload, config: Mapping[str, Any]) -> Iterator[FoldResult]:
    """Fits and scores ``config`` on each fold in turn, yielding after each.

    Raises:
        TrialError: A fold's F1 is NaN or infinite (training diverged, or the
            task's metric had nothing to score).
    """
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
        if not np.isfinite(float(metrics["f1"])):
            raise TrialError(f"fold {fold + 1} scored F1 {float(metrics['f1'])} (training diverged?)")
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


def worker_accelerator(requested_gpus: float, *, gpu_ids: Sequence[Any], cuda_available: bool) -> str:
    """The Lightning accelerator of a trial worker: ``"gpu"`` when Ray assigned
    it a GPU (a whole one, or a share: Ray sets ``CUDA_VISIBLE_DEVICES`` to
    it, so Lightning's device 0 is that GPU), else ``"cpu"``.

    Raises:
        TrialError: GPUs were requested but Ray assigned none, or CUDA cannot
            see the one it assigned (a driver or CUDA build mismatch on that node).
    """
    if requested_gpus <= 0:
        return "cpu"
    if not gpu_ids:
        raise TrialError(f"the trial asked for {requested_gpus:g} GPU but Ray assigned it none")
    if not cuda_available:
        raise TrialError(f"Ray assigned GPU {', '.join(map(str, gpu_ids))} but torch cannot use CUDA on this node "
                         "(a CPU-only torch, or a driver older than its CUDA build)")
    return "gpu"


class FailureNotes:
    """The errors trials raised of their own, by trial id; a Ray actor on the driver's node.

    Tune retries a failed trial (``FailureConfig``) because a worker node may
    have died under it. An error the trial raised itself would only repeat,
    so its retry reads the note and fails at once with the same message.
    """

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}
        self.workers = 0

    def worker_slot(self) -> int:
        """A number for a new trial worker (1, 2...), which names it in the Ray dashboard."""
        self.workers += 1
        return self.workers

    def note(self, trial_id: str, message: str) -> None:
        self.errors[trial_id] = message

    def get(self, trial_id: str) -> str | None:
        return self.errors.get(trial_id)


def tune_trainable(config: dict[str, Any], payload: TrialPayload) -> None:
    """Ray Tune function trainable: one report per fold.

    Reports with ``ray.tune.report`` (Ray Train V2 rejects ``ray.train.report``
    inside Tune functions). An error of the configuration's own is noted in
    ``payload.failures`` before it propagates, so Tune's retry (meant for a
    worker that died) ends at once.
    """
    import ray
    from ray import tune

    trial_id = tune.get_context().get_trial_id()
    if payload.accelerator == "gpu":  # the GPU Ray assigned this worker, checked
        import torch

        gpus = tune.get_context().get_trial_resources().required_resources.get("GPU", 0.0)
        worker_accelerator(gpus, gpu_ids=ray.get_gpu_ids(), cuda_available=torch.cuda.is_available())
    if payload.failures is not None:
        earlier = ray.get(payload.failures.get.remote(trial_id))
        if earlier is not None:
            raise TrialError(f"{earlier} (again: an earlier attempt of this trial raised it; not retried)")
    node = ray.get_runtime_context().get_node_id()
    _log(f"trial {trial_id} starts on node {node[:12]}: {dict(config)}")
    try:
        for result in cross_validate(payload, config):
            if result.out_of_fold is not None and payload.predictions is not None:
                # Before the last report: once it is reported, Tune may end the trial at once.
                ray.get(payload.predictions.save.remote(trial_id, result.cv_f1, result.out_of_fold))
            _log(f"trial {trial_id} fold {result.fold + 1}/{len(payload.folds)}: F1 "
                 f"{float(result.metrics['f1']):.4f} in {result.seconds:.1f} s (running mean {result.cv_f1:.4f})")
            tune.report(
                {
                    METRIC: result.cv_f1,
                    "cv_f1_std": result.cv_f1_std,
                    "folds_done": result.fold + 1,
                    "fold_f1": float(result.metrics["f1"]),
                    "fold_seconds": result.seconds,
                    "node_id": node,  # which node ran it (a retry after a lost node runs elsewhere)
                    # The task's other metrics, averaged over the folds so far (cv_auroc, cv_brier...).
                    **{f"cv_{k}": v for k, v in result.cv_means.items() if k != "f1"},
                }
            )
    except Exception as exc:
        message = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        _log(f"trial {trial_id} failed: {message}")
        if payload.failures is not None:
            ray.get(payload.failures.note.remote(trial_id, message))
        raise
    _log(f"trial {trial_id} ends")


def _log(line: str) -> None:
    """One line of the worker's log (the Ray dashboard's Logs view shows it under the worker)."""
    print(f"[fg-automl] {line}", flush=True)
