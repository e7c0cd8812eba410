"""Ensembles of the best trials, chosen on their out-of-fold predictions.

Every completed trial leaves its out-of-fold class probabilities: each
development row predicted by the fold model that did not train on it
(averaged over the passes of repeated CV). After the search, greedy ensemble
selection (Caruana, Niculescu-Mizil, Crew & Ksikes, ICML 2004) builds a
weighted average of the top trials from those predictions alone, with no
retraining of the folds: starting from the best trial, each round adds (with
replacement) the trial that most improves the task's F1 of the averaged
probabilities, and the best round is kept. Its decision rule (a binary
task's threshold) is chosen on the same out-of-fold probabilities; each
member is then refit once on all development rows.

The task's side is small (see :class:`~finegrain_automl.task.FittedModel`
and :class:`~finegrain_automl.task.Task`): fitted models give class
probabilities (``predict_proba``) and their ``classes``; the task turns
probabilities into predictions (``predictions_from_probabilities``) and
chooses a decision rule from out-of-fold ones (``fit_decision``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from finegrain_automl.data import Dataset, plain_value
from finegrain_automl.task import FittedModel, ModelFamily, Task

__all__ = [
    "ENSEMBLE_FORMAT",
    "EnsembleModel",
    "EnsembleSelection",
    "OutOfFold",
    "PredictionFiles",
    "SelectionCheck",
    "greedy_selection",
    "load_ensemble",
    "select_ensemble",
    "check_selection",
    "select_from_files",
    "start_prediction_store",
]

ENSEMBLE_FORMAT = "finegrain_automl.ensemble/1"
#: Rounds of greedy selection (with replacement), as auto-sklearn's default of 50 at most.
ROUNDS = 25
#: Out-of-fold files kept in a run directory: those of the best trials by CV F1.
KEPT_PREDICTIONS = 25
#: Row folds of the nested check that an ensemble beats the best single trial.
CHECK_FOLDS = 5


class OutOfFold:
    """Collects a trial's out-of-fold probabilities, fold after fold.

    Args:
        n_rows: Rows of the whole data set (folds index it).
    """

    def __init__(self, n_rows: int) -> None:
        self.n_rows = n_rows
        self._sum: np.ndarray | None = None
        self._count = np.zeros(n_rows, dtype=np.int64)

    def add(self, rows: np.ndarray, probabilities: np.ndarray) -> None:
        """Records the probabilities ``[len(rows), C]`` of the validation ``rows``."""
        if self._sum is None:
            self._sum = np.zeros((self.n_rows, probabilities.shape[1]))
        self._sum[rows] += probabilities
        self._count[rows] += 1

    def result(self) -> np.ndarray | None:
        """Mean probabilities of every predicted row, in row order (the
        sorted development rows), as float32 ``[n, C]``; None if nothing was added."""
        if self._sum is None:
            return None
        rows = np.flatnonzero(self._count)
        return (self._sum[rows] / self._count[rows, None]).astype(np.float32)


class PredictionFiles:
    """The out-of-fold predictions of a search's trials, one ``.npy`` file each.

    It runs as a Ray actor on the driver's node (so trials on any node can
    hand their predictions to the run directory without a shared disk) and
    keeps the files of the :data:`KEPT_PREDICTIONS` best trials by CV F1
    only, so a long search stays bounded in size (float16: 2 bytes per row
    and class).
    """

    def __init__(self, directory: str, *, keep: int = KEPT_PREDICTIONS) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        index = self.directory / "index.json"
        self.scores: dict[str, float] = json.loads(index.read_text()) if index.is_file() else {}

    def save(self, trial_id: str, cv_f1: float, probabilities: np.ndarray) -> None:
        """Stores a completed trial's predictions; drops the worst beyond ``keep``."""
        np.save(self.directory / f"{trial_id}.npy", probabilities.astype(np.float16))
        self.scores[trial_id] = float(cv_f1)
        for worst in sorted(self.scores, key=lambda t: (-self.scores[t], t))[self.keep :]:
            (self.directory / f"{worst}.npy").unlink(missing_ok=True)
            del self.scores[worst]
        tmp = self.directory / ".index.json.tmp"
        tmp.write_text(json.dumps(self.scores, indent=1))
        os.replace(tmp, self.directory / "index.json")

    def ping(self) -> bool:
        """Returns ``True`` (lets the driver wait until the actor is up)."""
        return True

    @staticmethod
    def load(directory: Path, trial_id: str) -> np.ndarray | None:
        """A trial's predictions as float64 ``[n, C]``, or None if they were not kept."""
        path = directory / f"{trial_id}.npy"
        return np.load(path).astype(np.float64) if path.is_file() else None


def start_prediction_store(directory: Path) -> Any:
    """Starts :class:`PredictionFiles` over ``directory`` as a Ray actor on this
    (the driver's) node and returns its handle, once it is up."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    store = ray.remote(num_cpus=0)(PredictionFiles).options(scheduling_strategy=here).remote(str(directory))
    ray.get(store.ping.remote())
    return store


def greedy_selection(
    predictions: Sequence[np.ndarray], score: Callable[[np.ndarray], float], *, rounds: int = ROUNDS
) -> list[int]:
    """Greedy ensemble selection with replacement (Caruana et al., 2004).

    Starts from the best single candidate; each round adds the candidate
    whose inclusion gives the highest ``score`` of the averaged predictions
    (the first of equals); the round with the highest score (the earliest of
    equals) is kept.

    Args:
        predictions: One ``[n, C]`` array per candidate, same rows.
        score: Higher is better; called on averaged predictions.
        rounds: Members added in all, the first included.

    Returns:
        How often each candidate was chosen (its weight times the total).
    """
    if not predictions:
        raise ValueError("greedy_selection needs at least one candidate.")
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, but got {rounds=}.")
    counts = [0] * len(predictions)
    total = np.zeros_like(predictions[0], dtype=np.float64)
    best_score, best_counts = -np.inf, counts
    for size in range(1, rounds + 1):
        scores = [score((total + p) / size) for p in predictions]
        chosen = int(np.argmax(scores))
        counts = [*counts]
        counts[chosen] += 1
        total = total + predictions[chosen]
        if scores[chosen] > best_score + 1e-12:
            best_score, best_counts = scores[chosen], counts
    return best_counts


@dataclass(frozen=True, kw_only=True)
class EnsembleSelection:
    """The members and weights chosen from out-of-fold predictions.

    Attributes:
        trial_ids: Member trials, in leaderboard order.
        weights: Their weights (sum 1).
        decision: The task's decision rule, chosen on the ensemble's
            out-of-fold probabilities.
        cv_f1: The ensemble's F1 on the out-of-fold predictions, with that rule.
        candidates_cv_f1: Each candidate's F1 on its own out-of-fold
            predictions with a rule chosen the same way (comparable to ``cv_f1``).
        member_decisions: Each member's own rule, chosen on its predictions.
        check: The nested check against the best single trial
            (:func:`check_selection`), when it was asked for and could run.
    """

    trial_ids: tuple[str, ...]
    weights: tuple[float, ...]
    decision: dict[str, Any]
    cv_f1: float
    candidates_cv_f1: dict[str, float]
    member_decisions: dict[str, dict[str, Any]]
    check: SelectionCheck | None = None

    @property
    def kept(self) -> bool:
        """Whether the ensemble should be the final model: more than one member,
        and no check or a check it won."""
        return len(self.trial_ids) > 1 and (self.check is None or self.check.ensemble_wins)


@dataclass(frozen=True, kw_only=True)
class SelectionCheck:
    """Whether greedy selection beats picking the best single trial, on rows it did not see.

    Both procedures run on the out-of-fold predictions of all but one of
    :data:`CHECK_FOLDS` stratified parts of the rows, decision rule included,
    and predict the part left out; ``ensemble_f1`` and ``single_f1`` are the
    F1 of those pooled predictions. Selection and threshold measured on the
    same rows flatter an ensemble (most on small data); this does not.

    Attributes:
        ensemble_f1: F1 of the greedy ensembles' held-out predictions.
        single_f1: F1 of the best single candidates' held-out predictions.
        folds: Parts of the rows.
    """

    ensemble_f1: float
    single_f1: float
    folds: int

    @property
    def ensemble_wins(self) -> bool:
        """The ensemble's held-out F1 is higher than the single trial's."""
        return self.ensemble_f1 > self.single_f1 + 1e-12


def check_selection(
    task: Task,
    development: Dataset,
    candidates: Mapping[str, np.ndarray],
    *,
    rounds: int = ROUNDS,
    folds: int = CHECK_FOLDS,
    seed: int = 0,
) -> SelectionCheck | None:
    """Compares greedy selection with the best single candidate on held-out rows
    (see :class:`SelectionCheck`); with ``development.groups``, whole groups are
    held out. None when a class has fewer rows than ``folds``, or there are
    fewer groups."""
    target = np.asarray(development.target)
    if len(candidates) < 2 or np.bincount(target.astype(np.int64)).min(initial=len(target)) < folds:
        return None
    if development.groups is not None and len(np.unique(np.asarray(development.groups))) < folds:
        return None
    part = _check_parts(target, development.groups, folds=folds, seed=seed)
    ids = list(candidates)
    pieces: dict[str, list[pd.DataFrame]] = {"ensemble": [], "single": []}
    order = np.argsort(np.concatenate([np.flatnonzero(part == k) for k in range(folds)]), kind="stable")
    for k in range(folds):
        fit, out = np.flatnonzero(part != k), np.flatnonzero(part == k)
        fit_rows, out_index = development.take(fit), development.features.index[out]
        singles = {t: _f1_and_decision(task, fit_rows, candidates[t][fit]) for t in ids}
        best = max(ids, key=lambda t: singles[t][0])  # the first of equals
        counts = greedy_selection(
            [candidates[t][fit] for t in ids], lambda p, rows=fit_rows: _f1_and_decision(task, rows, p)[0],
            rounds=rounds,
        )
        averaged = sum(c * candidates[t] for t, c in zip(ids, counts, strict=True)) / sum(counts)
        for name, probabilities, decision in (
            ("single", candidates[best], singles[best][1]),
            ("ensemble", averaged, _f1_and_decision(task, fit_rows, averaged[fit])[1]),
        ):
            pieces[name].append(_predicted(task, probabilities[out], decision, out_index))
    scores = {}
    for name, parts in pieces.items():  # the pooled predictions, back in row order
        pooled = pd.concat(parts).iloc[order]
        pooled.index = development.features.index
        scores[name] = float(task.metrics(development, pooled)["f1"])
    return SelectionCheck(ensemble_f1=scores["ensemble"], single_f1=scores["single"], folds=folds)


def _check_parts(target: np.ndarray, groups: np.ndarray | None, *, folds: int, seed: int) -> np.ndarray:
    """The part of each row: stratified by class, or whole groups dealt out (no entity in two parts)."""
    rng = np.random.default_rng(seed)
    if groups is not None:
        names, group_of = np.unique(np.asarray(groups), return_inverse=True)
        return (rng.permutation(len(names)) % folds)[group_of]
    part = np.empty(len(target), dtype=np.int64)
    for value in np.unique(target):  # each class spread evenly over the parts
        rows = rng.permutation(np.flatnonzero(target == value))
        part[rows] = np.arange(len(rows)) % folds
    return part


def select_ensemble(
    task: Task,
    development: Dataset,
    candidates: Mapping[str, np.ndarray],
    *,
    rounds: int = ROUNDS,
    check: bool = False,
) -> EnsembleSelection:
    """Chooses an ensemble of ``candidates`` (trial id -> out-of-fold
    probabilities of the ``development`` rows, best trial first); with
    ``check``, an ensemble of two or more members is also checked against the
    best single trial on rows it was not chosen on (:func:`check_selection`)."""
    def f1(probabilities: np.ndarray) -> tuple[float, dict[str, Any]]:
        return _f1_and_decision(task, development, probabilities)

    ids = list(candidates)
    counts = greedy_selection([candidates[t] for t in ids], lambda p: f1(p)[0], rounds=rounds)
    chosen = [(t, c) for t, c in zip(ids, counts, strict=True) if c]
    total = sum(c for _, c in chosen)
    weights = tuple(c / total for _, c in chosen)
    averaged = sum(w * candidates[t] for (t, _), w in zip(chosen, weights, strict=True))
    cv_f1, decision = f1(averaged)
    singles = {t: f1(candidates[t]) for t in ids}
    return EnsembleSelection(
        trial_ids=tuple(t for t, _ in chosen),
        weights=weights,
        decision=decision,
        cv_f1=cv_f1,
        candidates_cv_f1={t: score for t, (score, _) in singles.items()},
        member_decisions={t: singles[t][1] for t, _ in chosen},
        check=check_selection(task, development, candidates, rounds=rounds) if check and len(chosen) > 1 else None,
    )


def _predicted(task: Task, probabilities: np.ndarray, decision: Mapping[str, Any], index: pd.Index) -> pd.DataFrame:
    """The task's predictions from class-code probabilities under ``decision``."""
    return task.predictions_from_probabilities(
        probabilities, decision=decision, classes=list(range(probabilities.shape[1])), index=index
    )


def _f1_and_decision(task: Task, rows: Dataset, probabilities: np.ndarray) -> tuple[float, dict[str, Any]]:
    """The task's F1 of ``probabilities`` of ``rows`` under the rule chosen on them, and that rule."""
    decision = task.fit_decision(probabilities, np.asarray(rows.target))
    predicted = _predicted(task, probabilities, decision, rows.features.index)
    return float(task.metrics(rows, predicted)["f1"]), decision


def select_from_files(
    task: Task,
    data: Dataset,
    development: np.ndarray,
    directory: Path,
    *,
    trial_ids: Sequence[str],
    limit: int,
    check: bool = False,
) -> EnsembleSelection | None:
    """:func:`select_ensemble` over the first ``limit`` of ``trial_ids`` (best
    first) whose out-of-fold predictions of the sorted ``development`` rows
    are in ``directory``; None when none are (models without class probabilities)."""
    candidates: dict[str, np.ndarray] = {}
    for trial_id in trial_ids:
        predictions = PredictionFiles.load(directory, trial_id)
        if predictions is not None and len(predictions) == len(development):
            candidates[trial_id] = predictions
        if len(candidates) == limit:
            break
    return select_ensemble(task, data.take(development), candidates, check=check) if candidates else None


class EnsembleModel(FittedModel):
    """A weighted average of fitted models' class probabilities and a decision rule.

    Args:
        task: The task, which turns probabilities into predictions.
        members: Fitted models with ``predict_proba`` and the same ``classes``.
        weights: One per member, summing to 1.
        decision: The rule chosen on out-of-fold probabilities.
        trial_ids: The trials the members were refit from.
    """

    def __init__(
        self,
        *,
        task: Task,
        members: Sequence[FittedModel],
        weights: Sequence[float],
        decision: Mapping[str, Any],
        trial_ids: Sequence[str],
    ) -> None:
        if not members or len(members) != len(weights) or len(members) != len(trial_ids):
            raise ValueError(
                f"An ensemble needs one weight and one trial id per member, but got {len(members)} members, "
                f"{len(weights)} weights and {len(trial_ids)} trial ids."
            )
        self.task = task
        self.members = list(members)
        self.weights = [float(w) for w in weights]
        self.decision = dict(decision)
        self.trial_ids = list(trial_ids)
        self.classes = list(members[0].classes)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """The weighted mean of the members' class probabilities ``[n, C]``."""
        return sum(w * m.predict_proba(features) for m, w in zip(self.members, self.weights, strict=True))

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Predictions in the task's usual columns, from the averaged probabilities."""
        return self.task.predictions_from_probabilities(
            self.predict_proba(features), decision=self.decision, classes=self.classes, index=features.index
        )

    def to_state(self) -> dict[str, Any]:
        """The members' states, weights, rule and trial ids (tensors, numbers, strings only)."""
        return {
            "format": ENSEMBLE_FORMAT,
            "members": [m.to_state() for m in self.members],
            "weights": list(self.weights),
            "decision": {k: plain_value(v) for k, v in self.decision.items()},
            "trial_ids": list(self.trial_ids),
        }


def load_ensemble(state: Mapping[str, Any], *, task: Task, families: Mapping[str, ModelFamily]) -> EnsembleModel:
    """Rebuilds an :class:`EnsembleModel` from its :meth:`~EnsembleModel.to_state`."""
    return EnsembleModel(
        task=task,
        members=[task.load_model(member, families=families) for member in state["members"]],
        weights=state["weights"],
        decision=state["decision"],
        trial_ids=state["trial_ids"],
    )
