"""The disease-risk task: discovery, data, metric definitions, model families."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from fg_automl_disease_risk import DiseaseRiskTask, breast_cancer_frame
from sklearn.metrics import brier_score_loss, f1_score, roc_auc_score

from finegrain_automl import Dataset, DataSource, FitContext
from finegrain_automl.plugins import make_registry
from finegrain_automl.space import branch_params


@pytest.fixture(scope="module")
def registry():
    return make_registry(allow=["disease_risk"])


@pytest.fixture(scope="module")
def task() -> DiseaseRiskTask:
    return DiseaseRiskTask()


def test_disease_risk_is_discovered_through_its_entry_point(registry) -> None:
    info = registry.plugins["disease_risk"]
    assert info.errors == []
    assert info.distribution == "fg-automl-disease-risk" and info.version == "0.1.0"
    assert info.tasks == ["disease_risk"]
    assert set(registry.families["disease_risk"]) == {"linear", "resmlp", "realmlp", "tabm", "ft_transformer"}
    assert registry.task("disease_risk").leaderboard_metrics == ("auroc", "brier")


def test_default_data_is_the_569_patients_with_malignant_as_positive(task: DiseaseRiskTask) -> None:
    data = task.load_default(seed=0)
    assert len(data) == 569 and data.features.shape[1] == 30
    assert int(data.target.sum()) == 212  # malignant; sklearn itself codes it as 0
    assert data.positive_label == "malignant"
    assert data.info["negative_label"] == "benign" and data.info["target"] == "diagnosis"
    assert "diagnosis" not in data.features.columns
    assert data.info["categorical_columns"] == [] and data.info["missing_values"] == {}
    # Same rows whatever the seed: the data are real and fixed.
    assert np.array_equal(task.load_default(seed=7).target, data.target)


def _patients_with_clinic_and_gaps(n: int = 300) -> pd.DataFrame:
    """The first ``n`` patients plus a categorical column and missing values."""
    frame = breast_cancer_frame().head(n).copy()
    rng = np.random.default_rng(0)
    frame.insert(0, "clinic", rng.choice(["north", "south", "east"], size=n))
    frame.loc[rng.random(n) < 0.1, "clinic"] = None
    frame.loc[rng.random(n) < 0.15, "mean radius"] = np.nan
    return frame


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_user_file_with_categorical_column_and_missing_values(
    task: DiseaseRiskTask, tmp_path: Path, suffix: str
) -> None:
    frame = _patients_with_clinic_and_gaps()
    path = tmp_path / f"patients{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    data = task.read_file(DataSource(path=path))  # no --target: `diagnosis` is recognised
    assert len(data) == len(frame) and data.info["target"] == "diagnosis"
    assert data.positive_label == "malignant"
    assert int(data.target.sum()) == int((frame["diagnosis"] == "malignant").sum())
    assert data.info["categorical_columns"] == ["clinic"]
    assert set(data.info["missing_values"]) == {"clinic", "mean radius"}


def test_other_usual_target_names_are_recognised(task: DiseaseRiskTask, tmp_path: Path) -> None:
    frame = _patients_with_clinic_and_gaps(100).rename(columns={"diagnosis": "outcome"})
    frame["outcome"] = (frame["outcome"] == "malignant").astype(int)
    path = tmp_path / "outcome.csv"
    frame.to_csv(path, index=False)
    data = task.read_file(DataSource(path=path))
    assert data.info["target"] == "outcome" and data.positive_label == 1
    assert int(data.target.sum()) == int(frame["outcome"].sum())


def test_metrics_match_scikit_learn(task: DiseaseRiskTask) -> None:
    rng = np.random.default_rng(3)
    target = (rng.random(200) < 0.37).astype(np.int64)
    probability = np.clip(0.35 * target + rng.random(200) * 0.65, 0, 1)
    decision = (probability >= 0.5).astype(np.int64)
    data = Dataset(features=pd.DataFrame({"x": np.zeros(200)}), target=target, positive_label="malignant")
    predictions = pd.DataFrame({"prediction": decision, "probability": probability})
    metrics = task.metrics(data, predictions)
    assert metrics["f1"] == pytest.approx(f1_score(target, decision), abs=1e-6)
    assert metrics["auroc"] == pytest.approx(roc_auc_score(target, probability), abs=1e-6)
    assert metrics["brier"] == pytest.approx(brier_score_loss(target, probability), abs=1e-9)


def _sampled_config(task: DiseaseRiskTask, family: str) -> dict:
    """A random configuration of the default space with ``model`` forced to ``family``."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial({"model": family})
    return task.default_space().sample(study.ask())


@pytest.mark.parametrize("family", ["resmlp", "ft_transformer"])
def test_each_family_trains_one_epoch_of_a_sampled_default_configuration(
    registry, task: DiseaseRiskTask, family: str, tmp_path: Path
) -> None:
    config = _sampled_config(task, family)
    name, params = branch_params(config, "model")
    assert name == family and params
    families = registry.families["disease_risk"]
    task.check_config(config=config, family=families[name], family_params=params)
    # A user's file with a categorical column and gaps: imputation is learned from `train` only.
    path = tmp_path / "patients.csv"
    _patients_with_clinic_and_gaps().to_csv(path, index=False)
    data = task.read_file(DataSource(path=path))
    train, valid = data.take(np.arange(0, 220)), data.take(np.arange(220, len(data)))
    model = task.fit(config=config, family=families[name], family_params=params, train=train,
                     context=FitContext(seed=0, max_epochs_cap=1))
    predictions = model.predict(valid.features)
    assert set(predictions["label"]) <= {"malignant", "benign"}
    assert predictions["probability"].between(0, 1).all()
    metrics = task.metrics(valid, predictions)
    expected_f1 = f1_score(valid.target, predictions["prediction"], zero_division=0)
    assert metrics["f1"] == pytest.approx(expected_f1, abs=1e-6)
    probability = predictions["probability"]
    assert metrics["auroc"] == pytest.approx(roc_auc_score(valid.target, probability), abs=1e-6)
    assert metrics["brier"] == pytest.approx(brier_score_loss(valid.target, probability))
