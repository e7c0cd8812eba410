"""fit_binary_classifier, TabularBinaryModel and their saved state."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from finegrain_automl.data import Dataset
from finegrain_automl.errors import UsageError
from finegrain_automl.space import SpaceError
from fg_automl_tabular import (
    TABULAR_FAMILIES,
    TABULAR_HYPERPARAMETERS,
    BinaryTrainingConfig,
    TabularBinaryModel,
    TabularPreprocessor,
    _binary,
    binary_labels,
    binary_metrics,
    fit_binary_classifier,
    load_binary_classifier,
)
from fg_automl_tabular._training import stratified_holdout
from finegrain_automl.task import FitContext

CONTEXT = FitContext(seed=0, num_threads=1)
SMALL_RESMLP = {"hidden": 16, "depth": 1}
SMALL_FT = {"d_token": 8, "n_layers": 1, "n_heads": 2}
SMALL_TABM = {"k": 4, "d_block": 16, "n_blocks": 1}
SMALL_REALMLP = {"width": 16, "depth": 2}


@pytest.fixture(autouse=True)
def _quiet_lightning():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _fit(train: Dataset, *, family: str = "resmlp", params=None, context=CONTEXT, **config):
    config = {"epochs": 2, "batch_size": 64, "lr": 3e-3, **config}
    return fit_binary_classifier(
        config=config,
        family=TABULAR_FAMILIES[family],
        family_params=params if params is not None else {
            "resmlp": SMALL_RESMLP, "ft_transformer": SMALL_FT, "tabm": SMALL_TABM, "realmlp": SMALL_REALMLP,
        }.get(family, {}),
        train=train,
        context=context,
    )


def test_hyperparameter_keys():
    expected = {
        "epochs", "batch_size", "lr", "weight_decay", "imbalance",
        "imbalance.class_weight.power", "imbalance.focal.gamma", "imbalance.focal.alpha",
        "imbalance.oversample.ratio", "preprocessing",
    }
    assert expected == TABULAR_HYPERPARAMETERS


def test_config_defaults_and_reading():
    assert BinaryTrainingConfig.from_config({}) == BinaryTrainingConfig()
    config = BinaryTrainingConfig.from_config(
        {"epochs": 3, "lr": 0.01, "imbalance": "focal", "imbalance.focal.gamma": 1.0,
         "imbalance.focal.alpha": 0.25, "model": "resmlp", "model.resmlp.hidden": 8}
    )
    assert (config.epochs, config.lr, config.imbalance) == (3, 0.01, "focal")
    assert (config.focal_gamma, config.focal_alpha) == (1.0, 0.25)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"imbalance": "smote"}, "imbalance"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"lr": -1.0}, "lr"),
        ({"imbalance.oversample.ratio": 1.5}, "imbalance.oversample.ratio"),
        ({"imbalance.focal.alpha": 1.0}, "imbalance.focal.alpha"),
        ({"preprocessing": "minmax"}, "preprocessing"),
    ],
)
def test_bad_config_values(config, key):
    with pytest.raises(SpaceError) as info:
        BinaryTrainingConfig.from_config(config)
    assert info.value.path == key and f"config: {key}:" in str(info.value)


@pytest.mark.parametrize(
    "imbalance",
    [
        {"imbalance": "none"},
        {"imbalance": "class_weight", "imbalance.class_weight.power": 1.0},
        {"imbalance": "focal", "imbalance.focal.gamma": 2.0},
        {"imbalance": "focal", "imbalance.focal.gamma": 1.0, "imbalance.focal.alpha": 0.75},
        {"imbalance": "oversample", "imbalance.oversample.ratio": 0.3},
    ],
    ids=lambda c: "-".join(str(v) for v in c.values()),
)
def test_every_imbalance_branch_fits_and_predicts(small_dataset, scored_dataset, imbalance):
    model = _fit(small_dataset, **imbalance)
    predictions = model.predict(scored_dataset.features)
    assert list(predictions.columns) == ["label", "probability", "prediction"]
    assert len(predictions) == len(scored_dataset)
    assert predictions["probability"].between(0, 1).all()
    assert (predictions["prediction"] == (predictions["probability"] >= model.threshold)).all()
    metrics = binary_metrics(scored_dataset.target, predictions)
    assert 0.0 <= metrics["f1"] <= 1.0


@pytest.mark.parametrize("family", ["linear", "resmlp", "realmlp", "tabm", "ft_transformer"])
def test_every_family_learns_the_signal(small_dataset, scored_dataset, family):
    lr = 1e-1 if family == "linear" else 1e-2  # a linear model needs larger steps in 80 updates
    model = _fit(small_dataset, family=family, epochs=10, batch_size=32, lr=lr)
    metrics = binary_metrics(scored_dataset.target, model.predict(scored_dataset.features))
    assert metrics["auroc"] > 0.8
    assert not model.network.training
    assert all(p.device.type == "cpu" for p in model.network.parameters())


@pytest.mark.parametrize("scaling", ["quantile", "robust"])
def test_every_preprocessing_fits_and_round_trips(small_dataset, scored_dataset, scaling):
    model = _fit(small_dataset, preprocessing=scaling)
    assert model.preprocessor.scaling == scaling
    buffer = io.BytesIO()
    torch.save(model.to_state(), buffer)
    buffer.seek(0)
    loaded = load_binary_classifier(torch.load(buffer, weights_only=True), families=TABULAR_FAMILIES)
    pd.testing.assert_frame_equal(loaded.predict(scored_dataset.features), model.predict(scored_dataset.features))


@pytest.mark.parametrize("family", ["resmlp", "tabm", "ft_transformer"])
def test_piecewise_linear_bins_are_fit_on_the_fit_rows_only(small_dataset, family):
    """The bins come from the preprocessor fit on the inner fit part; rows held out to
    choose the threshold (and any scored rows) never shape them."""
    from rtdl_num_embeddings import PiecewiseLinearEmbeddings

    from fg_automl_tabular._embeddings import piecewise_linear_bins

    params = {"resmlp": SMALL_RESMLP, "ft_transformer": SMALL_FT, "tabm": SMALL_TABM}[family]
    params = {**params, "numeric_embedding": "ple", "n_bins": 8}
    data = small_dataset.take(np.arange(len(small_dataset)))
    fit_rows, holdout_rows = stratified_holdout(data.target, fraction=0.2, seed=CONTEXT.seed)
    numeric = data.features.select_dtypes("number").columns[0]
    data.features.loc[data.features.index[holdout_rows], numeric] = 1e6  # a leak would move the top bins
    model = _fit(data, family=family, params=params)
    embedding = next(m for m in model.network.modules() if isinstance(m, PiecewiseLinearEmbeddings))

    def encoding_of(rows):
        spec = TabularPreprocessor().fit(data.features.iloc[rows]).spec
        return PiecewiseLinearEmbeddings(piecewise_linear_bins(spec, 8), 2, activation=False, version="B").impl

    expected, leaked = encoding_of(fit_rows), encoding_of(np.arange(len(data)))
    assert torch.equal(embedding.impl.weight, expected.weight) and torch.equal(embedding.impl.bias, expected.bias)
    assert not torch.equal(leaked.bias, expected.bias)  # the test can tell a leak apart


def test_same_seed_same_model(small_dataset, scored_dataset):
    first = _fit(small_dataset).predict(scored_dataset.features)
    second = _fit(small_dataset).predict(scored_dataset.features)
    pd.testing.assert_frame_equal(first, second)


def test_state_round_trip_gives_identical_predictions(small_dataset, scored_dataset):
    model = _fit(small_dataset, family="ft_transformer")
    buffer = io.BytesIO()
    torch.save(model.to_state(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    loaded = load_binary_classifier(state, families=TABULAR_FAMILIES)
    assert loaded.threshold == model.threshold
    pd.testing.assert_frame_equal(
        loaded.predict(scored_dataset.features), model.predict(scored_dataset.features)
    )


def test_loading_and_predicting_do_not_import_lightning(small_dataset, scored_dataset, tmp_path):
    # fg-automl predict only runs a forward pass: PyTorch Lightning (seconds to import) stays out.
    model = _fit(small_dataset, family="resmlp")
    torch.save(model.to_state(), tmp_path / "state.pt")
    scored_dataset.features.to_pickle(tmp_path / "rows.pkl")
    code = (
        "import sys, torch, pandas as pd\n"
        "from fg_automl_tabular import TABULAR_FAMILIES, load_binary_classifier\n"
        f"state = torch.load({str(tmp_path / 'state.pt')!r}, weights_only=True)\n"
        "model = load_binary_classifier(state, families=TABULAR_FAMILIES)\n"
        f"print(len(model.predict(pd.read_pickle({str(tmp_path / 'rows.pkl')!r}))))\n"
        "print('pytorch_lightning' in sys.modules, 'lightning' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(len(scored_dataset.features)), "False", "False"]


def test_loading_needs_the_family(small_dataset):
    state = _fit(small_dataset).to_state()
    with pytest.raises(UsageError, match=r"model family 'resmlp'.*available: ft_transformer"):
        load_binary_classifier(state, families={"ft_transformer": TABULAR_FAMILIES["ft_transformer"]})
    with pytest.raises(UsageError, match="format"):
        load_binary_classifier({"format": "other"}, families=TABULAR_FAMILIES)


def test_threshold_and_preprocessing_use_only_the_inner_split(small_dataset, scored_dataset, monkeypatch):
    seen: dict[str, object] = {}
    real_fit, real_threshold = TabularPreprocessor.fit, _binary.best_f1_threshold

    def spy_fit(self, frame):
        seen["fit_rows"] = frame.index.to_numpy().copy()
        return real_fit(self, frame)

    def spy_threshold(target, probability):
        seen["threshold_target"], seen["threshold_probability"] = np.array(target), np.array(probability)
        return real_threshold(target, probability)

    monkeypatch.setattr(TabularPreprocessor, "fit", spy_fit)
    monkeypatch.setattr(_binary, "best_f1_threshold", spy_threshold)
    model = _fit(small_dataset)
    model.predict(scored_dataset.features)  # scoring rows afterwards changes nothing

    fit_rows, holdout_rows = stratified_holdout(small_dataset.target, fraction=0.2, seed=CONTEXT.seed)
    assert np.array_equal(seen["fit_rows"], fit_rows)
    assert not set(fit_rows) & set(holdout_rows)
    assert model.threshold_source == "holdout"
    assert np.array_equal(seen["threshold_target"], small_dataset.target[holdout_rows])
    expected = model.predict_probability(small_dataset.features.iloc[holdout_rows])
    np.testing.assert_allclose(seen["threshold_probability"], expected)
    assert model.threshold == real_threshold(small_dataset.target[holdout_rows], expected)


def test_final_refit_learns_from_every_row_with_a_cross_fitted_threshold(small_dataset, monkeypatch):
    fitted_on: list[int] = []
    thresholds: list[np.ndarray] = []
    real_fit, real_threshold = TabularPreprocessor.fit, _binary.best_f1_threshold

    def spy_fit(self, frame):
        fitted_on.append(len(frame))
        return real_fit(self, frame)

    def spy_threshold(target, probability):
        thresholds.append(np.array(target))
        return real_threshold(target, probability)

    monkeypatch.setattr(TabularPreprocessor, "fit", spy_fit)
    monkeypatch.setattr(_binary, "best_f1_threshold", spy_threshold)
    model = _fit(small_dataset, context=FitContext(seed=0, num_threads=1, final=True))

    n = len(small_dataset)
    assert model.threshold_source == "cross-fitted"
    assert fitted_on[-1] == n, "the final network and preprocessing learn from every row"
    assert len(fitted_on) == _binary.CROSS_FIT_FOLDS + 1
    assert sum(fitted_on[:-1]) == (_binary.CROSS_FIT_FOLDS - 1) * n  # each row out of fold exactly once
    (threshold_target,) = thresholds
    assert np.array_equal(threshold_target, small_dataset.target), "threshold from out-of-fold rows of train"


def test_stratified_holdout_keeps_both_classes():
    target = np.array([1] * 3 + [0] * 97)
    fit, holdout = stratified_holdout(target, fraction=0.2, seed=0)
    assert target[fit].sum() == 2 and target[holdout].sum() == 1
    assert len(holdout) == 1 + round(0.2 * 97)
    single = np.array([1] + [0] * 9)
    fit, holdout = stratified_holdout(single, fraction=0.2, seed=0)
    assert single[fit].sum() == 1 and single[holdout].sum() == 0


def test_tiny_data_falls_back_to_training_rows(make_table):
    features, _ = make_table(12, seed=3)
    target = np.array([1] + [0] * 11)
    model = _fit(Dataset(features=features, target=target), epochs=1)
    assert model.threshold_source == "training"
    assert len(model.predict(features)) == 12


def test_labels_keep_their_original_values(small_dataset, scored_dataset):
    labelled = Dataset(
        features=small_dataset.features,
        target=small_dataset.target,
        positive_label="M",
        info={"negative_label": "B"},
    )
    model = _fit(labelled)
    predictions = model.predict(scored_dataset.features)
    assert set(predictions["label"]) <= {"M", "B"}
    assert ((predictions["label"] == "M") == (predictions["prediction"] == 1)).all()
    state = model.to_state()
    assert (state["positive_label"], state["negative_label"]) == ("M", "B")


def test_binary_labels_defaults():
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    assert binary_labels(Dataset(features=frame, target=None)) == (0, 1)
    assert binary_labels(Dataset(features=frame, target=None, positive_label=True)) == (False, True)
    fraud = Dataset(features=frame, target=None, positive_label="fraud")
    assert binary_labels(fraud) == ("not fraud", "fraud")


def test_epoch_cap_limits_training(small_dataset, monkeypatch):
    epochs: list[int] = []
    real_trainer = FitContext.trainer

    def spy(self, *, max_epochs, **options):
        epochs.append(max_epochs)
        return real_trainer(self, max_epochs=max_epochs, **options)

    monkeypatch.setattr(FitContext, "trainer", spy)
    model = _fit(small_dataset, context=FitContext(seed=0, max_epochs_cap=1), epochs=5)
    assert epochs == [1] and isinstance(model, TabularBinaryModel)


def test_with_groups_the_threshold_holdout_and_cross_fitting_keep_each_entity_on_one_side(small_dataset, monkeypatch):
    """With --group-column, the inner split that chooses the threshold holds out whole groups
    (stratified by whether a group has a positive), and so do the refit's cross-fitted folds."""
    import fg_automl_tabular._binary as binary

    groups = np.array([f"c{i // 4}" for i in range(len(small_dataset))])
    fit_rows, holdout_rows = stratified_holdout(small_dataset.target, fraction=0.2, seed=3, groups=groups)
    assert set(groups[fit_rows]).isdisjoint(groups[holdout_rows])
    assert len(fit_rows) + len(holdout_rows) == len(groups) and small_dataset.target[holdout_rows].any()
    grouped = dataclasses.replace(small_dataset, groups=groups)
    seen = []
    original = binary._cross_fitted_threshold

    def spy(fit_on, features, target, *, seed, folds=binary.CROSS_FIT_FOLDS, groups=None):
        seen.append(groups)
        return original(fit_on, features, target, seed=seed, folds=folds, groups=groups)

    monkeypatch.setattr(binary, "_cross_fitted_threshold", spy)
    model = _fit(grouped, context=dataclasses.replace(CONTEXT, final=True))
    assert model.threshold_source == "cross-fitted" and np.array_equal(seen[0], groups)
