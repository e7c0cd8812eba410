"""One trial: k folds of training, a running CV summary after each, out-of-fold predictions at the end."""

from __future__ import annotations

import numpy as np
import pytest

from finegrain_automl.cv import make_splits
from finegrain_automl.testing import ToyTask
from finegrain_automl.trial import TrialPayload, cross_validate


class _ProbabilityToy(ToyTask):
    """The toy task with class probabilities, as tasks that can be ensembled give them."""

    def fit(self, **kwargs):
        model = super().fit(**kwargs)

        def predict_proba(features):
            positive = model.predict(features)["probability"].to_numpy()
            return np.stack([1 - positive, positive], axis=1)

        model.predict_proba = predict_proba
        return model


@pytest.fixture(scope="module")
def payload() -> TrialPayload:
    task = _ProbabilityToy()
    data = task.load_default(seed=0)
    splits = make_splits(data, n_folds=3, seed=0)
    return TrialPayload(task=task, families=task.model_families(), data=data, folds=splits.folds, seed=5,
                        max_epochs_cap=2)


def test_running_summary_after_each_fold_and_out_of_fold_at_the_end(payload: TrialPayload) -> None:
    config = {"model": "linear", "lr": 0.05, "epochs": 2}
    results = list(cross_validate(payload, config))
    assert [r.fold for r in results] == [0, 1, 2]
    f1s = [r.metrics["f1"] for r in results]
    for i, result in enumerate(results):
        assert result.cv_f1 == pytest.approx(np.mean(f1s[: i + 1]))
        assert result.cv_f1_std == pytest.approx(np.std(f1s[: i + 1]))
    assert all(r.out_of_fold is None for r in results[:-1])
    development = np.sort(np.concatenate([valid for _, valid in payload.folds]))
    out_of_fold = results[-1].out_of_fold
    assert out_of_fold.shape == (len(development), 2) and out_of_fold.dtype == np.float32
    np.testing.assert_allclose(out_of_fold.sum(axis=1), 1.0, rtol=1e-5)


def test_a_fold_has_the_same_seed_in_every_trial(payload: TrialPayload) -> None:
    assert [payload.context(fold).seed for fold in range(3)] == [5, 6, 7]
    assert payload.context(1, final=True, decision=False).decision is False
    assert payload.context(0).epochs(10) == 2  # the cap applies


def test_no_out_of_fold_predictions_from_models_without_probabilities() -> None:
    task = ToyTask()
    data = task.load_default(seed=0)
    splits = make_splits(data, n_folds=2, seed=0)
    payload = TrialPayload(task=task, families=task.model_families(), data=data, folds=splits.folds, seed=0,
                           max_epochs_cap=1)
    results = list(cross_validate(payload, {"model": "linear", "lr": 0.05, "epochs": 1}))
    assert len(results) == 2 and results[-1].out_of_fold is None
