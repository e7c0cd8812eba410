"""``fg-automl export --format onnx`` of tabular binary models: the numpy/pandas
preprocessing against TabularPreprocessor.transform, every family and numeric
embedding through the core's export and loader against the torch model
(probabilities, labels, int8), an ensemble, and the fraud and disease_risk tasks."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fg_automl_tabular import (
    TABULAR_FAMILIES,
    TabularBinaryTask,
    TabularPreprocessor,
    binary_metrics,
    fit_binary_classifier,
    onnx_preprocess,
)
from fg_automl_tabular.onnx_preprocess import normal_quantile, preprocess

from finegrain_automl import hookimpl
from finegrain_automl.data import Dataset
from finegrain_automl.ensemble import EnsembleModel
from finegrain_automl.errors import DataError
from finegrain_automl.export import ExportNotSupported, export_onnx, foreign_imports, read_pipeline
from finegrain_automl.export.loader import OnnxModel
from finegrain_automl.plugins import make_registry
from finegrain_automl.record import SCHEMA
from finegrain_automl.results import RUN_FILE, save_model, write_json
from finegrain_automl.space import Space
from finegrain_automl.task import FitContext

#: Largest |probability difference| of the ONNX networks (float32, as torch) and of int8 ones
#: (dynamic int8 quantises a batch's activations on one scale: close, not equal; up to ~0.05 seen).
ONNX_TOLERANCE = 1e-4
INT8_TOLERANCE = 0.1
#: What the export must run without (the preprocessing module and the loader).
HEAVY = ("torch", "scipy", "sklearn", "finegrain_automl", "fg_automl_tabular", "pytorch_lightning")
#: Largest test F1 difference of int8 against torch (about 20 positive test rows: one label is ~0.03).
INT8_F1_TOLERANCE = 0.1


class _Task(TabularBinaryTask):
    """The toolkit's task as a plugin subclasses it (no built-in data needed here)."""

    name = "tabular_onnx_test"

    def default_space(self):
        return Space.from_dict({"epochs": {"int": [1, 3]}, "model": {"choice": {"linear": None}}})

    def load_default(self, *, seed):
        raise NotImplementedError


TASK = _Task()


class _Plugin:
    @hookimpl
    def fg_automl_tasks(self):
        return [TASK]


def _table(n: int, *, seed: int) -> Dataset:
    """Mixed columns with missing values, a heavy tail, a rare category; a learnable target."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    noise = rng.normal(size=n)
    noise[rng.random(n) < 0.1] = np.nan
    colour = rng.choice(["red", "green", "blue"], size=n).astype(object)
    colour[rng.random(n) < 0.05] = None
    colour[:3] = "teal"  # fewer than min_category_count: code 0
    frame = pd.DataFrame({
        "signal": signal + rng.normal(scale=0.5, size=n),
        "amount": rng.lognormal(3.0, 1.5, size=n),
        "noise": noise,
        "count": rng.integers(0, 5, size=n),
        "colour": colour,
        "online": rng.random(n) < 0.5,
    })
    return Dataset(features=frame, target=(signal >= np.quantile(signal, 0.8)).astype(np.int64))


def _scored_rows(n: int, *, seed: int) -> Dataset:
    """Rows to predict, with what training never showed: unknown, missing and rare
    categories, missing values where training had none, infinities, far outliers."""
    data = _table(n, seed=seed)
    frame = data.features
    frame.loc[0, "colour"], frame.loc[1, "colour"], frame.loc[2, "colour"] = "purple", None, "teal"
    frame.loc[3, "amount"], frame.loc[4, "amount"], frame.loc[5, "amount"] = np.inf, -np.inf, np.nan
    frame.loc[6, "signal"], frame.loc[7, "signal"], frame.loc[8, "noise"] = np.nan, 1e6, -1e6
    return data


TRAIN = _table(300, seed=0)
TEST = _scored_rows(150, seed=1)


def _fit(family: str, params: dict, *, scaling: str, train: Dataset = TRAIN):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_binary_classifier(
            config={"epochs": 10, "batch_size": 32, "lr": 1e-1 if family == "linear" else 1e-2,
                    "preprocessing": scaling},
            family=TABULAR_FAMILIES[family],
            family_params=params,
            train=train,
            context=FitContext(seed=0, num_threads=1),
        )


def _export(model, directory: Path, *, task: TabularBinaryTask = TASK, registry=None) -> Path:
    """Exports ``model`` with the core's ``export_onnx`` (int8 too) from a run directory
    holding what export reads: ``run.json`` naming the task and ``model.pt``."""
    run_dir = directory / "run"
    run_dir.mkdir(parents=True)
    write_json(run_dir / RUN_FILE, {"schema": SCHEMA, "task": task.name})
    save_model(run_dir, task_name=task.name, state=model.to_state())
    registry = registry or make_registry(plugins=[("tabular_onnx_test", _Plugin())], autoload=False)
    return export_onnx(run_dir, quantize="int8", registry=registry).directory


def _compare(model, directory: Path, rows: Dataset, *, ties: float = 0.0) -> dict[str, float]:
    """The export (float and int8) against ``model`` on ``rows``; asserts the float export's labels
    (except, with ``ties``, on rows whose torch probability is that close to the threshold)."""
    expected, predicted = model.predict_proba(rows.features), model.predict(rows.features)
    compared = np.abs(expected[:, 1] - read_pipeline(directory)["decision"]["threshold"]) >= ties
    found = {}
    for int8 in (False, True):
        exported = OnnxModel(directory, int8=int8)
        table = exported.predict(rows.features)
        difference = np.abs(exported.predict_proba(rows.features) - expected)
        found["int8" if int8 else "onnx"] = float(difference.max())
        if int8:
            found["int8_f1"] = binary_metrics(rows.target, table)["f1"]
        else:
            assert table["label"][compared].tolist() == predicted["label"][compared].tolist()
            assert (table["prediction"].to_numpy() == predicted["prediction"].to_numpy())[compared].all()
    one_row = rows.features.iloc[[len(rows) - 1]]  # the batch axis is dynamic, down to one row
    np.testing.assert_allclose(OnnxModel(directory).predict_proba(one_row), model.predict_proba(one_row),
                               rtol=0, atol=ONNX_TOLERANCE)
    found["torch_f1"] = binary_metrics(rows.target, predicted)["f1"]
    return found


def _assert_close(found: dict[str, float]) -> None:
    assert found["onnx"] < ONNX_TOLERANCE, found
    assert found["int8"] < INT8_TOLERANCE, found
    assert abs(found["int8_f1"] - found["torch_f1"]) <= INT8_F1_TOLERANCE, found


# ------------------------------------------------------------- the preprocessing


def test_normal_quantile_is_scipys_ndtri():
    from scipy.special import ndtri

    rng = np.random.default_rng(0)
    p = np.concatenate([
        rng.random(200_000),
        np.linspace(1e-7, 1 - 1e-7, 100_001),  # the range the quantile scaling uses
        np.logspace(-300, np.log10(0.5), 5_000),  # far tails: the third approximation
        1 - np.logspace(-16, np.log10(0.5), 5_000),
        [0.075, 0.0749999999, 0.0750000001, 0.925, 0.5, 1e-7, 1 - 1e-7],  # branch boundaries
    ])
    found, expected = normal_quantile(p), ndtri(p)
    np.testing.assert_allclose(found, expected, rtol=5e-15, atol=0)
    assert normal_quantile(np.array([0.5]))[0] == 0.0
    np.testing.assert_array_equal(normal_quantile(np.array([0.0, 1.0, -0.1, 1.1, np.nan])),
                                  [-np.inf, np.inf, np.nan, np.nan, np.nan])


def _spec(preprocessor: TabularPreprocessor) -> dict:
    """The spec as the loader reads it: through ``pipeline.json``, from the saved state."""
    from fg_automl_tabular._export import preprocess_spec

    return json.loads(json.dumps(preprocess_spec(TabularPreprocessor.from_state(preprocessor.to_state()))))


@pytest.mark.parametrize("scaling", ["standard", "quantile", "robust"])
def test_preprocess_gives_exactly_what_the_preprocessor_gives(scaling):
    fitted = TabularPreprocessor(scaling=scaling).fit(TRAIN.features)
    rows = TEST.features.copy()
    rows["extra"] = "ignored"
    rows = rows[list(rows.columns[::-1])]  # any column order
    rows["count"] = rows["count"].astype(str).where(rows.index % 7 != 0, None)  # numbers as text, some empty
    rows["online"] = rows["online"].astype(object).where(rows.index % 5 != 0, None)
    rows["noise"] = rows["noise"].astype("Float64")  # pandas' nullable floats: NA for missing
    inputs = preprocess(rows, _spec(fitted))
    x_num, x_cat = fitted.transform(rows)
    assert set(inputs) == {"x_num", "x_cat"}
    assert inputs["x_num"].dtype == np.float32 and inputs["x_cat"].dtype == np.int64
    np.testing.assert_array_equal(inputs["x_num"], x_num.numpy())  # bit for bit, quantile scaling included
    np.testing.assert_array_equal(inputs["x_cat"], x_cat.numpy())
    colour = fitted.categorical_columns.index("colour")
    assert (inputs["x_cat"][:3, colour] == 0).all()  # unknown, missing and rare colours
    assert fitted.spec.missing_indicators and inputs["x_num"].shape[1] == fitted.spec.n_numeric


def test_columns_are_read_as_numbers_where_the_plugin_reads_them_so():
    from fg_automl_tabular._columns import column_kind
    from fg_automl_tabular.onnx_preprocess import _is_numeric

    columns = [
        pd.Series([1, 2]), pd.Series([1.0, None]), pd.Series([1, None], dtype="Int64"),
        pd.Series([1.5, None], dtype="Float64"), pd.Series([1, 2], dtype="uint8"), pd.Series([True, False]),
        pd.Series([True, None], dtype="boolean"), pd.Series(["1", "2"]),
        pd.Series(["1", None], dtype="string"),
        pd.Series([1, 2], dtype="category"), pd.Series([1, "a"], dtype=object),
        pd.Series(pd.to_datetime(["2020-01-01", "2021-01-01"])), pd.Series([1 + 2j, 3j]),
    ]
    for column in columns:
        assert _is_numeric(column.dtype) == (column_kind(column) == "numeric"), column.dtype


@pytest.mark.parametrize("columns", [["colour", "online"], ["signal", "amount"]],
                         ids=["categorical", "numeric"])
@pytest.mark.parametrize("scaling", ["standard", "quantile"])
def test_preprocess_of_tables_with_one_kind_of_column(columns, scaling):
    fitted = TabularPreprocessor(scaling=scaling).fit(TRAIN.features[columns])
    inputs = preprocess(TEST.features, _spec(fitted))
    x_num, x_cat = fitted.transform(TEST.features)
    assert inputs["x_num"].shape == tuple(x_num.shape) and inputs["x_cat"].shape == tuple(x_cat.shape)
    np.testing.assert_array_equal(inputs["x_num"], x_num.numpy())
    np.testing.assert_array_equal(inputs["x_cat"], x_cat.numpy())


def test_preprocess_refuses_what_the_preprocessor_refuses():
    fitted = TabularPreprocessor().fit(TRAIN.features)
    spec = _spec(fitted)
    cases = [
        (TEST.features.drop(columns="noise"), r"lack column 'noise'"),
        (TEST.features.assign(count=["many"] + ["1"] * (len(TEST) - 1)),
         r"Column 'count' was numeric.*'many'"),
    ]
    for rows, message in cases:
        with pytest.raises(DataError, match=message):
            fitted.transform(rows)
        with pytest.raises(ValueError, match=message):
            preprocess(rows, spec)
    with pytest.raises(ValueError, match="spec format"):
        preprocess(TEST.features, {**spec, "format": "other/9"})


def test_the_preprocessing_module_imports_only_numpy_pandas_and_the_standard_library():
    path = Path(onnx_preprocess.__file__)
    assert foreign_imports(path) == set()  # numpy, pandas and the standard library only
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('pre', {str(path)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))\n"
    )
    done = subprocess.run([sys.executable, "-I", "-c", script], check=False, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr[-2000:]


# ------------------------------------------------------------ networks, exported

SMALL = {
    "linear": {},
    "realmlp": {"width": 16, "depth": 2},
    "resmlp": {"hidden": 16, "depth": 1},
    "tabm": {"k": 4, "d_block": 16, "n_blocks": 1},
    "ft_transformer": {"d_token": 8, "n_layers": 2, "n_heads": 2},
}
#: Every family of the default spaces, each numeric embedding, each scaling somewhere.
CASES = {
    "linear-quantile": ("linear", {}, "quantile"),
    "realmlp-robust": ("realmlp", {}, "robust"),
    "resmlp-none-quantile": ("resmlp", {"numeric_embedding": "none"}, "quantile"),
    "resmlp-periodic-standard": ("resmlp", {"numeric_embedding": "periodic"}, "standard"),
    "resmlp-ple-robust": ("resmlp", {"numeric_embedding": "ple", "n_bins": 8}, "robust"),
    "tabm-mini-none-standard": ("tabm", {"numeric_embedding": "none", "arch_type": "tabm-mini"}, "standard"),
    "tabm-periodic-quantile": ("tabm", {"numeric_embedding": "periodic"}, "quantile"),
    "tabm-ple-standard": ("tabm", {"numeric_embedding": "ple", "n_bins": 8}, "standard"),
    "ft_transformer-none-robust": ("ft_transformer", {"numeric_embedding": "none"}, "robust"),
    "ft_transformer-periodic-quantile": ("ft_transformer", {"numeric_embedding": "periodic"}, "quantile"),
    "ft_transformer-ple-standard": ("ft_transformer", {"numeric_embedding": "ple", "n_bins": 8}, "standard"),
}


@functools.cache
def _fitted(case: str):
    family, params, scaling = CASES[case]
    return _fit(family, {**SMALL[family], **params}, scaling=scaling)


@pytest.mark.parametrize("case", list(CASES))
def test_every_family_exports_and_predicts_as_torch(case, tmp_path):
    model = _fitted(case)
    directory = _export(model, tmp_path)
    pipeline = read_pipeline(directory)
    assert pipeline["classes"] == [0, 1] and pipeline["decision"] == {"threshold": model.threshold}
    assert pipeline["preprocess"] == "onnx_preprocess.py" and (directory / "onnx_preprocess.py").is_file()
    (member,) = pipeline["members"]
    assert member["activation"] == "sigmoid" and member["spec"]["scaling"] == CASES[case][2]
    _assert_close(_compare(model, directory, TEST))


def test_an_ensemble_of_two_members_with_their_own_preprocessing(tmp_path):
    members = [_fitted("resmlp-ple-robust"), _fitted("tabm-periodic-quantile")]
    weights = [0.75, 0.25]
    probabilities = sum(w * m.predict_proba(TRAIN.features) for m, w in zip(members, weights, strict=True))
    decision = TASK.fit_decision(probabilities, TRAIN.target)  # as the core chooses it (there: out of fold)
    ensemble = EnsembleModel(task=TASK, members=members, weights=weights, decision=decision,
                             trial_ids=["a", "b"])
    directory = _export(ensemble, tmp_path)
    pipeline = read_pipeline(directory)
    assert pipeline["decision"] == decision and decision["threshold"] not in (m.threshold for m in members)
    assert [m["weight"] for m in pipeline["members"]] == [0.75, 0.25]
    assert [m["spec"]["scaling"] for m in pipeline["members"]] == ["robust", "quantile"]
    _assert_close(_compare(ensemble, directory, TEST))


@pytest.mark.parametrize(("family", "columns"), [
    ("ft_transformer", ["colour", "online"]),  # x_num has no column, and still gives the batch size
    ("tabm", ["colour", "online"]),
    ("tabm", ["signal", "amount", "noise"]),
], ids=["ft_transformer-categorical", "tabm-categorical", "tabm-numeric"])
def test_tables_with_one_kind_of_column_export(family, columns, tmp_path):
    train = Dataset(features=TRAIN.features[columns], target=TRAIN.target)
    model = _fit(family, SMALL[family], scaling="quantile", train=train)
    directory = _export(model, tmp_path)
    # Categorical columns alone give a few distinct probabilities, and torch itself computes one of
    # them a few 1e-8 apart in different rows of a batch; the threshold may fall inside such a spread.
    _assert_close(_compare(model, directory, TEST, ties=1e-6))


def test_labels_keep_their_values_in_the_export(tmp_path):
    labelled = Dataset(features=TRAIN.features, target=TRAIN.target, positive_label="sick",
                       info={"negative_label": "well"})
    model = _fit("linear", {}, scaling="standard", train=labelled)
    directory = _export(model, tmp_path)
    assert read_pipeline(directory)["classes"] == ["well", "sick"]
    table = OnnxModel(directory).predict(TEST.features)
    assert table["label"].tolist() == model.predict(TEST.features)["label"].tolist()
    assert set(table["label"]) == {"well", "sick"}


def test_the_export_predicts_without_torch_scipy_or_the_plugin(tmp_path):
    model = _fitted("tabm-periodic-quantile")  # the quantile scaling: the inverse normal CDF of the module
    directory = _export(model, tmp_path)
    TEST.features.to_pickle(tmp_path / "rows.pkl")
    np.save(tmp_path / "expected.npy", model.predict_proba(TEST.features))
    script = f"""
import sys
sys.path.insert(0, {str(directory)!r})
import numpy as np, pandas as pd
from fg_automl_onnx import OnnxModel
found = OnnxModel({str(directory)!r}).predict_proba(pd.read_pickle({str(tmp_path / 'rows.pkl')!r}))
print(float(np.abs(found - np.load({str(tmp_path / 'expected.npy')!r})).max()))
print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))
"""
    done = subprocess.run([sys.executable, "-I", "-c", script], check=False, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    difference, heavy = done.stdout.strip().splitlines()
    assert float(difference) < ONNX_TOLERANCE and heavy == "[]"


def test_only_tabular_binary_models_export():
    with pytest.raises(ExportNotSupported, match="TabularBinaryModel networks, but got a dict"):
        TASK.onnx_network({})


# ---------------------------------------------------------------- built-in tasks


@pytest.mark.parametrize("name", ["fraud", "disease_risk"])
def test_the_built_in_tabular_tasks_export(name, tmp_path):
    registry = make_registry()
    task = registry.task(name)  # the built-in plugins are installed with the core (scripts/install)
    data = task.load_default(seed=0)
    rng = np.random.default_rng(0)
    positives, negatives = np.flatnonzero(data.target == 1), np.flatnonzero(data.target == 0)
    picked = np.concatenate([rng.permutation(positives)[:120], rng.permutation(negatives)[:330]])
    rows = rng.permutation(picked)
    train, test = data.take(rows[:300]), data.take(rows[300:])
    model = _fit("resmlp", {**SMALL["resmlp"], "numeric_embedding": "ple", "n_bins": 8}, scaling="quantile",
                 train=train)
    directory = _export(model, tmp_path, task=task, registry=registry)
    assert read_pipeline(directory)["task"] == name
    _assert_close(_compare(model, directory, test))
