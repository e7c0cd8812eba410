"""Greedy ensemble selection, out-of-fold collection, prediction files, ensemble models."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch

from finegrain_automl.data import Dataset
from finegrain_automl.ensemble import (
    EnsembleModel,
    OutOfFold,
    PredictionFiles,
    check_selection,
    greedy_selection,
    load_ensemble,
    select_ensemble,
)
from finegrain_automl.task import FittedModel


def _accuracy(target: np.ndarray):
    return lambda p: float((p.argmax(axis=1) == target).mean())


def test_greedy_selection_against_a_hand_computed_example():
    """Four rows, class 1 for rows 0 and 1. Alone, A and B each get 3 of 4 right
    (A misses row 1, B row 0), C gets 2. Round 1 takes A (the first of the best),
    round 2 adds B: (A + B) / 2 gets all 4 right; round 3 cannot beat that, so the
    kept ensemble is A and B, one vote each."""
    target = np.array([1, 1, 0, 0])
    a = np.array([[0.1, 0.9], [0.6, 0.4], [0.8, 0.2], [0.9, 0.1]])
    b = np.array([[0.6, 0.4], [0.1, 0.9], [0.7, 0.3], [0.8, 0.2]])
    c = np.array([[0.4, 0.6], [0.6, 0.4], [0.4, 0.6], [0.9, 0.1]])
    score = _accuracy(target)
    assert [score(p) for p in (a, b, c)] == [0.75, 0.75, 0.5]
    assert score((a + b) / 2) == 1.0
    assert greedy_selection([a, b, c], score, rounds=5) == [1, 1, 0]
    assert greedy_selection([a, b, c], score, rounds=1) == [1, 0, 0]


def test_greedy_selection_adds_with_replacement():
    """Rows 0-2 are class 1. A is right on rows 0-2 and narrowly wrong on row 3; B is
    right on rows 0, 1, 3 and clearly wrong on row 2. (A + B) / 2 is still wrong on
    row 2, (2A + B) / 3 right on every row. Round 1 takes A (the first of equals),
    round 2 A again (A + B is no better), round 3 B: A is chosen twice."""
    target = np.array([1, 1, 1, 0])
    a = np.array([[0.3, 0.7], [0.3, 0.7], [0.25, 0.75], [0.45, 0.55]])
    b = np.array([[0.1, 0.9], [0.1, 0.9], [0.9, 0.1], [0.9, 0.1]])
    score = _accuracy(target)
    assert score(a) == score(b) == score((a + b) / 2) == 0.75 and score((2 * a + b) / 3) == 1.0
    assert greedy_selection([a, b], score, rounds=3) == [2, 1]
    assert greedy_selection([a, b], score, rounds=2) == [1, 0]  # nothing better than A alone yet


def test_greedy_selection_bad_arguments():
    with pytest.raises(ValueError, match="at least one candidate"):
        greedy_selection([], lambda p: 0.0)
    with pytest.raises(ValueError, match="rounds must be at least 1"):
        greedy_selection([np.zeros((1, 2))], lambda p: 0.0, rounds=0)


def test_out_of_fold_averages_repeated_passes_in_row_order():
    collected = OutOfFold(6)
    assert collected.result() is None
    collected.add(np.array([4, 1]), np.array([[0.2, 0.8], [0.6, 0.4]]))  # pass 1 (rows 0, 3, 5 are test rows)
    collected.add(np.array([2]), np.array([[1.0, 0.0]]))
    collected.add(np.array([1, 2, 4]), np.array([[0.4, 0.6], [0.0, 1.0], [0.4, 0.6]]))  # pass 2
    np.testing.assert_allclose(collected.result(), [[0.5, 0.5], [0.5, 0.5], [0.3, 0.7]])
    assert collected.result().dtype == np.float32


def test_prediction_files_keep_the_best_trials_only(tmp_path):
    files = PredictionFiles(str(tmp_path / "predictions"), keep=2)
    for trial_id, score in [("a", 0.5), ("b", 0.7), ("c", 0.6)]:
        files.save(trial_id, score, np.full((3, 2), score))
    assert sorted(p.stem for p in (tmp_path / "predictions").glob("*.npy")) == ["b", "c"]
    assert PredictionFiles.load(tmp_path / "predictions", "a") is None
    np.testing.assert_allclose(PredictionFiles.load(tmp_path / "predictions", "b"), np.full((3, 2), 0.7), rtol=1e-3)
    assert PredictionFiles(str(tmp_path / "predictions"), keep=2).scores == {"b": 0.7, "c": 0.6}  # reopened


class _Constant(FittedModel):
    """A model that predicts fixed class probabilities."""

    classes = ["no", "yes"]

    def __init__(self, probabilities):
        self.probabilities = np.asarray(probabilities, dtype=np.float64)

    def predict_proba(self, features):
        return self.probabilities[: len(features)]

    def predict(self, features):
        raise AssertionError("an ensemble predicts from its members' probabilities")

    def to_state(self):
        return {"probabilities": torch.tensor(self.probabilities)}


class _BinaryToy:
    """The parts of a binary task an ensemble uses: threshold rule, F1."""

    def fit_decision(self, probabilities, target):
        return {"threshold": 0.5}

    def predictions_from_probabilities(self, probabilities, *, decision, classes, index):
        positive = probabilities[:, 1] >= decision["threshold"]
        return pd.DataFrame(
            {"label": np.where(positive, classes[1], classes[0]), "probability": probabilities[:, 1],
             "prediction": positive.astype(int)},
            index=index,
        )

    def metrics(self, data, predictions):
        predicted, target = predictions["prediction"].to_numpy(), np.asarray(data.target)
        tp = int(((predicted == 1) & (target == 1)).sum())
        return {"f1": 2 * tp / max(1, int(predicted.sum() + target.sum()))}

    def load_model(self, state, *, families):
        return _Constant(state["probabilities"].numpy())


def test_ensemble_model_averages_with_weights_and_round_trips():
    task = _BinaryToy()
    members = [_Constant([[0.9, 0.1], [0.2, 0.8]]), _Constant([[0.3, 0.7], [0.6, 0.4]])]
    model = EnsembleModel(task=task, members=members, weights=[0.75, 0.25], decision={"threshold": 0.5},
                          trial_ids=["a", "b"])
    features = pd.DataFrame({"x": [0, 1]}, index=[10, 11])
    np.testing.assert_allclose(model.predict_proba(features), [[0.75, 0.25], [0.3, 0.7]])
    predicted = model.predict(features)
    assert predicted["label"].tolist() == ["no", "yes"] and predicted.index.tolist() == [10, 11]
    buffer = io.BytesIO()
    torch.save(model.to_state(), buffer)
    buffer.seek(0)
    loaded = load_ensemble(torch.load(buffer, weights_only=True), task=task, families={})
    pd.testing.assert_frame_equal(loaded.predict(features), predicted)
    with pytest.raises(ValueError, match="one weight and one trial id per member"):
        EnsembleModel(task=task, members=members, weights=[1.0], decision={}, trial_ids=["a", "b"])


def test_select_ensemble_reports_members_weights_and_comparable_scores():
    target = np.array([1, 1, 0, 0])
    data = Dataset(features=pd.DataFrame({"x": range(4)}), target=target)
    candidates = {
        "a": np.array([[0.1, 0.9], [0.6, 0.4], [0.8, 0.2], [0.9, 0.1]]),
        "b": np.array([[0.6, 0.4], [0.1, 0.9], [0.7, 0.3], [0.8, 0.2]]),
        "c": np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9]]),
    }
    selection = select_ensemble(_BinaryToy(), data, candidates)
    assert selection.trial_ids == ("a", "b") and selection.weights == (0.5, 0.5)
    assert selection.cv_f1 == 1.0
    assert selection.candidates_cv_f1 == {"a": pytest.approx(2 / 3), "b": pytest.approx(2 / 3), "c": 0.0}
    assert selection.decision == {"threshold": 0.5} and set(selection.member_decisions) == {"a", "b"}


def _two_columns(positive: np.ndarray) -> np.ndarray:
    return np.stack([1 - positive, positive], axis=1)


def test_check_keeps_an_ensemble_whose_members_complement_each_other():
    """A is confidently right on rows 0-19 and mildly wrong on rows 20-39, B the
    reverse; their average is right everywhere. On every part of the check the
    ensemble is chosen again and predicts the left-out rows perfectly, while
    the best single candidate is wrong on about half of them."""
    n = 40
    target = np.arange(n) % 2
    right, wrong = np.where(target == 1, 0.9, 0.1), np.where(target == 1, 0.4, 0.6)
    first = np.arange(n) < 20
    candidates = {"a": _two_columns(np.where(first, right, wrong)), "b": _two_columns(np.where(first, wrong, right))}
    data = Dataset(features=pd.DataFrame({"x": range(n)}), target=target)
    check = check_selection(_BinaryToy(), data, candidates)
    assert check.folds == 5 and check.ensemble_f1 == 1.0 and check.single_f1 < 0.7
    assert check.ensemble_wins
    selection = select_ensemble(_BinaryToy(), data, candidates, check=True)
    assert selection.trial_ids == ("a", "b") and selection.check == check and selection.kept


@pytest.mark.parametrize("seed", [0, 2, 3, 4, 5])
def test_check_rejects_an_ensemble_that_only_fits_noise(seed):
    """One informative candidate and four of pure noise on 60 rows: greedy
    selection adds noise that happens to raise F1 on the rows it was chosen on,
    but on rows it was not chosen on the ensemble scores below the single trial."""
    rng = np.random.default_rng(seed)
    n = 60
    target = (np.arange(n) % 3 == 0).astype(int)
    informative = np.clip(0.5 + (target - 0.5) * 0.5 + rng.normal(0, 0.25, n), 0.01, 0.99)
    candidates = {"a": _two_columns(informative)} | {k: _two_columns(rng.uniform(0, 1, n)) for k in "bcde"}
    data = Dataset(features=pd.DataFrame({"x": range(n)}), target=target)
    selection = select_ensemble(_BinaryToy(), data, candidates, check=True)
    assert len(selection.trial_ids) > 1 and selection.cv_f1 > selection.candidates_cv_f1["a"]
    assert selection.check.ensemble_f1 < selection.check.single_f1
    assert not selection.check.ensemble_wins and not selection.kept


def test_check_needs_two_candidates_and_enough_rows_per_class():
    data = Dataset(features=pd.DataFrame({"x": range(6)}), target=np.array([1, 0, 0, 0, 0, 1]))
    two = {"a": _two_columns(np.full(6, 0.6)), "b": _two_columns(np.full(6, 0.4))}
    assert check_selection(_BinaryToy(), data, two) is None  # 2 positives for 5 parts
    assert check_selection(_BinaryToy(), data, two, folds=2) is not None
    assert check_selection(_BinaryToy(), data, {"a": two["a"]}, folds=2) is None
    single = select_ensemble(_BinaryToy(), data, {"a": two["a"]}, check=True)
    assert single.check is None and not single.kept  # an ensemble of one is not kept


def test_check_holds_out_whole_groups() -> None:
    """With groups (--group-column), no entity has rows in two parts of the check."""
    from finegrain_automl.ensemble import _check_parts

    groups = np.repeat([f"c{i}" for i in range(12)], 5)
    part = _check_parts(np.arange(60) % 2, groups, folds=5, seed=0)
    for name in np.unique(groups):
        assert len(set(part[groups == name])) == 1
    assert set(part.tolist()) == set(range(5))
    data = Dataset(features=pd.DataFrame({"x": range(60)}), target=np.arange(60) % 2, groups=groups)
    two = {"a": _two_columns(np.full(60, 0.6)), "b": _two_columns(np.full(60, 0.4))}
    assert check_selection(_BinaryToy(), data, two) is not None
    few = Dataset(features=data.features, target=data.target, groups=np.repeat(["x", "y", "z"], 20))
    assert check_selection(_BinaryToy(), few, two) is None  # 3 groups for 5 parts
