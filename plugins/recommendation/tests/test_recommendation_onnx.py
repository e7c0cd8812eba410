"""``fg-automl export --format onnx`` of the recommendation task: every family
of the default space exports its catalogue scorer, and the export's numpy
module gives exactly the torch model's top-K lists (training items masked,
ties to the lower item, popularity lists for unknown users); int8 keeps F1."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import fg_automl_recommendation
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from fg_automl_recommendation import RECOMMENDATION_FAMILIES, RecommendationTask, RecommenderModel
from fg_automl_recommendation import _onnx as rec_onnx
from fg_automl_recommendation import _recommendation_onnx as module
from fg_automl_recommendation._data import ITEM, USER, _ids, generate_interactions
from fg_automl_recommendation._metrics import top_k

from finegrain_automl import Dataset, FitContext
from finegrain_automl.export import ExportNotSupported, export_onnx, foreign_imports, read_pipeline
from finegrain_automl.export.loader import OnnxModel
from finegrain_automl.plugins import make_registry
from finegrain_automl.record import SCHEMA
from finegrain_automl.results import RUN_FILE, save_model

K = 5
LIST_COLUMNS = [USER, "rank", ITEM, "source"]
#: One small fit of every family of the default space, and of the variants
#: that change what is exported (EASE's learned diagonal, towers without
#: layers): (family, task config, family parameters).
FITS = {
    "ease-closed": ("ease", {}, {"l2": 10.0, "solver": "closed"}),
    "ease-gradient": ("ease", {"epochs": 5, "lr": 0.01, "batch_size": 64},
                      {"l2": 10.0, "solver": "gradient"}),
    "mf": ("mf", {"epochs": 3}, {"dim": 16, "loss": "bpr", "negatives": 2, "reg": 1e-4}),
    "neumf": ("neumf", {"epochs": 3}, {"dim": 8, "depth": 2, "loss": "bce", "negatives": 2, "reg": 1e-5,
                                       "dropout": 0.1}),
    "two_tower": ("two_tower", {"epochs": 3}, {"dim": 16, "depth": 1, "loss": "softmax", "negatives": 2,
                                               "reg": 0.0, "temperature": 0.1}),
    "two_tower-no-layers": ("two_tower", {"epochs": 3}, {"dim": 16, "depth": 0, "loss": "bpr", "negatives": 2,
                                                         "reg": 1e-5, "temperature": 0.2}),
    "multvae": ("multvae", {"epochs": 3, "batch_size": 64}, {"hidden": 32, "latent": 8, "dropout": 0.5,
                                                             "beta": 0.2}),
}


def _dataset(features: pd.DataFrame) -> Dataset:
    features = features.reset_index(drop=True)
    return Dataset(features=features, target=None, groups=pd.factorize(features[USER])[0],
                   info={"k": K, "group_column": USER})


@pytest.fixture(scope="module")
def split() -> tuple[Dataset, Dataset]:
    """Generated interactions (120 users, 80 items): every user's fifth ones held out."""
    frame = generate_interactions(0, users=120, items=80, categories=4)
    held = (frame.groupby(USER).cumcount() % 5 == 4).to_numpy()
    return _dataset(frame[~held]), _dataset(frame[held])


@pytest.fixture(scope="module")
def models(split) -> dict:
    train, _ = split
    task, fitted = RecommendationTask(), {}
    for name, (family, config, params) in FITS.items():
        fitted[name] = task.fit(config={"model": family, "batch_size": 256, **config},
                                family=RECOMMENDATION_FAMILIES[family], family_params=params, train=train,
                                context=FitContext(seed=0))
    return fitted


def _export(model, folder: Path, *, quantize: str | None = "int8") -> Path:
    """``model`` saved as a finished run's ``model.pt`` and exported by the core."""
    folder.mkdir()
    save_model(folder, task_name="recommendation", state=model.to_state())
    (folder / RUN_FILE).write_text(json.dumps({"task": "recommendation", "schema": SCHEMA}))
    registry = make_registry(plugins=[("recommendation", fg_automl_recommendation)], autoload=False)
    return export_onnx(folder, quantize=quantize, registry=registry).directory


@contextmanager
def _quiet():
    """Ignores the notes on unknown users (the tests check them where they matter)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _predict(model, frame: pd.DataFrame) -> pd.DataFrame:
    """The torch model's lists."""
    with _quiet():
        return model.predict(frame)


def _assert_same_lists(found: pd.DataFrame, expected: pd.DataFrame) -> float:
    """Same users, ranks, items and sources in the same order; returns the largest score difference."""
    assert list(found.columns) == list(expected.columns) == [USER, "rank", ITEM, "score", "source"]
    pd.testing.assert_frame_equal(found[LIST_COLUMNS].reset_index(drop=True),
                                  expected[LIST_COLUMNS].reset_index(drop=True))
    a, b = found["score"].to_numpy(np.float64), expected["score"].to_numpy(np.float64)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    return float(np.nanmax(np.abs(a - b), initial=0.0))


def _f1(split, table: pd.DataFrame) -> float:
    return RecommendationTask().metrics(split[1], table)["f1"]


@pytest.mark.parametrize("name", list(FITS))
def test_every_family_exports_lists_equal_to_torchs_and_int8_keeps_f1(name, models, split, tmp_path) -> None:
    model, (_, test) = models[name], split
    directory = _export(model, tmp_path / "run")
    member = read_pipeline(directory)["members"][0]
    assert member["activation"] is None and member["outputs"] == ["scores"]
    assert member["spec"]["input"] == ("history" if FITS[name][0] in ("ease", "multvae") else "users")
    exported, int8 = OnnxModel(directory), OnnxModel(directory, int8=True)
    assert exported.predict_proba(test.features) is None
    users = model.vocabulary.user_index(test.features[USER].unique())
    with torch.no_grad():
        expected_scores = model.scores(users[users >= 0]).numpy()
    found_scores = exported.run(module.preprocess(test.features, member["spec"]))["scores"]
    assert found_scores.shape == expected_scores.shape and np.abs(found_scores - expected_scores).max() < 1e-4
    first = test.features.iloc[0]
    frames = {
        "test rows (their items left out)": test.features,
        "users only (as evaluate ranks them)": test.features[[USER]],
        "unknown user and item": pd.DataFrame({USER: [first[USER], "stranger", "stranger", first[USER]],
                                               ITEM: ["no-such-item", first[ITEM], None, first[ITEM]]}),
    }
    for label, frame in frames.items():
        expected = _predict(model, frame)
        with _quiet():
            difference = _assert_same_lists(exported.predict(frame), expected)
        assert difference < 1e-4, label
    torch_f1 = _f1(split, _predict(model, test.features[[USER]]))
    with _quiet():
        int8_f1 = _f1(split, int8.predict(test.features[[USER]]))
    assert torch_f1 > 0.0 and abs(int8_f1 - torch_f1) <= 0.02, (torch_f1, int8_f1)


def test_unknown_users_get_the_popular_items_less_their_own(models, split, tmp_path) -> None:
    model = models["ease-closed"]
    exported = OnnxModel(_export(model, tmp_path / "run", quantize=None))
    counts = split[0].features[ITEM].value_counts(sort=False)
    order = list(counts.index)
    popular = sorted(order, key=lambda item: (-counts[item], order.index(item)))
    known = split[0].features[USER].iloc[0]
    frame = pd.DataFrame({USER: ["stranger", "stranger", known, "newcomer"],
                          ITEM: [popular[0], None, None, None]})
    with pytest.warns(UserWarning, match="2 of 3 users are not in the model's training data and got the 5"):
        lists = exported.predict(frame)
    _assert_same_lists(lists, _predict(model, frame))
    stranger, newcomer = lists[lists[USER] == "stranger"], lists[lists[USER] == "newcomer"]
    assert stranger[ITEM].tolist() == popular[1:6] and newcomer[ITEM].tolist() == popular[:5]
    assert (stranger["source"] == "popularity").all() and stranger["score"].isna().all()
    assert (lists.loc[lists[USER] == known, "source"] == "model").all()
    assert lists[USER].unique().tolist() == ["stranger", known, "newcomer"]


def test_ids_are_read_as_the_task_reads_them(models, split, tmp_path) -> None:
    """Integer ids match the model's text ids; rows without a user are dropped with a warning."""
    model = models["mf"]
    exported = OnnxModel(_export(model, tmp_path / "run", quantize=None))
    users = split[1].features[USER].drop_duplicates().head(4)
    as_numbers = pd.DataFrame({USER: [*users.astype(int).tolist(), None]}, dtype="Float64")
    with pytest.warns(UserWarning, match="1 rows without a user were removed"):
        lists = exported.predict(as_numbers)
    _assert_same_lists(lists, _predict(model, pd.DataFrame({USER: users.tolist()})))
    for values in (pd.Series([12, 7]), pd.Series([12.0, np.nan, 3.0]), pd.Series([" a ", "", None, "b"]),
                   pd.Series(["1", 2, 3.5], dtype=object), pd.Series([1.5, 2.0])):
        pd.testing.assert_series_equal(module.ids(values), _ids(values))


def test_ties_go_to_the_lower_item_in_torch_and_in_the_export(tmp_path) -> None:
    """EASE on two groups of items no user mixes: a user's scores of the other
    group are exactly 0, so lists run into ties that both rank alike."""
    rows = [(f"u{u}", f"i{i}") for u in range(12) for i in range(6 * (u % 2), 6 * (u % 2) + 4 + u % 3)]
    train = _dataset(pd.DataFrame(rows, columns=[USER, ITEM]))
    model = RecommendationTask().fit(config={"model": "ease"}, family=RECOMMENDATION_FAMILIES["ease"],
                                     family_params={"l2": 1.0, "solver": "closed"}, train=train,
                                     context=FitContext(seed=0))
    users = pd.DataFrame({USER: [f"u{u}" for u in range(12)]})
    expected = _predict(model, users)
    zero = expected[expected["score"] == 0.0]
    assert len(zero) > 12  # ties at 0 fill the lists
    for _, tied in zero.groupby(USER):  # the tied items of a list come in item order
        assert (np.diff(model.vocabulary.item_index(tied[ITEM].to_numpy(object))) > 0).all()
    _assert_same_lists(OnnxModel(_export(model, tmp_path / "run", quantize=None)).predict(users), expected)


def test_top_k_and_the_exports_best_items_follow_one_rule() -> None:
    """Many ties, masked items, NaN scores: the plugin's ranking and the export's
    numpy one both give the items by score, then by lower index."""
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(64, 30)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.05] = np.nan
    mask = rng.random(scores.shape) < 0.3
    mask[3, :] = True  # nothing left for user 3
    mask[4, 2:] = True  # two items left for user 4
    exclude = sp.csr_matrix(mask.astype(np.float32))
    users = np.arange(len(scores))
    tensor = torch.from_numpy(scores)
    items, values = top_k(lambda block: tensor[torch.from_numpy(block)].clone(), users, exclude=exclude, k=K,
                          rows_per_block=7)
    masked = np.where(exclude.toarray() > 0, -np.inf, scores).astype(np.float32)
    found_items, found_values = module.best_items(masked, K)
    assert np.array_equal(items, found_items) and np.array_equal(values, found_values, equal_nan=True)
    for user in users:
        allowed = [i for i in range(scores.shape[1]) if np.isfinite(masked[user, i])]
        expected = sorted(allowed, key=lambda i: (-masked[user, i], i))[:K]
        assert items[user].tolist() == expected + [-1] * (K - len(expected))
    assert items[3].tolist() == [-1] * K and (items[4, 2:] == -1).all()


def test_the_export_runs_with_numpy_pandas_and_onnxruntime_only(models, split, tmp_path) -> None:
    assert foreign_imports(Path(module.__file__)) == set()  # numpy, pandas and the standard library only
    directory = _export(models["multvae"], tmp_path / "run", quantize=None)
    moved = Path(shutil.copytree(directory, tmp_path / "elsewhere"))
    users = pd.DataFrame({USER: split[1].features[USER].unique()})
    _predict(models["multvae"], users).to_csv(tmp_path / "expected.csv", index=False)
    script = f"""
import sys
sys.path.insert(0, {str(moved)!r})
import numpy as np, pandas as pd
from fg_automl_onnx import OnnxModel
expected = pd.read_csv({str(tmp_path / "expected.csv")!r}, dtype={{"user": str, "item": str}})
table = OnnxModel({str(moved)!r}).predict(pd.DataFrame({{"user": expected["user"].unique()}}))
columns = ["user", "rank", "item", "source"]
assert table[columns].equals(expected[columns]), (table.head(), expected.head())
assert np.abs(table["score"].to_numpy() - expected["score"].to_numpy()).max() < 1e-4
heavy = sorted(m for m in sys.modules
               if m.split(".")[0] in ("torch", "scipy", "finegrain_automl", "fg_automl_recommendation",
                                      "pytorch_lightning", "sklearn"))
assert not heavy, heavy
print(len(table))
"""
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.strip()) == K * len(users)


def test_a_network_onnx_cannot_hold_is_refused_with_the_reason(models, monkeypatch) -> None:
    task = RecommendationTask()
    monkeypatch.setattr(rec_onnx, "ONNX_MAX_BYTES", 1000)
    with pytest.raises(ExportNotSupported, match=r"the ease network has .* GiB of weights \(80 items\)"):
        task.onnx_network(models["ease-closed"])


def test_a_network_without_an_onnx_scorer_is_refused_with_the_reason(models) -> None:
    from fg_automl_recommendation._networks import Recommender

    class _Other(Recommender):
        pass

    model = models["mf"]
    foreign = RecommenderModel(family_name="custom", family_params={}, vocabulary=model.vocabulary,
                               history=model.history, network=_Other(), k=K)
    with pytest.raises(ExportNotSupported, match="model family 'custom' \\(_Other\\) has no ONNX scorer"):
        RecommendationTask().onnx_network(foreign)


@pytest.mark.ray
def test_a_searched_run_exports_and_the_cores_check_agrees(tmp_path) -> None:
    """A tiny real search (CLI, Ray Tune), then ``fg-automl export --quantize
    int8``: the core's check on the run's test rows, and the lists that
    ``evaluate`` scores (the test users, their held-out items not left out)."""
    from typer.testing import CliRunner

    from finegrain_automl import cli
    from finegrain_automl.api import prepare_recorded_search
    from finegrain_automl.export import check_onnx
    from finegrain_automl.record import RunRecord
    from finegrain_automl.results import load_fitted_model
    from finegrain_automl.search import SearchSettings

    frame = generate_interactions(0, users=150, items=120, categories=5)
    frame[[USER, ITEM, "timestamp"]].to_csv(tmp_path / "clicks.csv", index=False)
    runner = CliRunner()
    searched = runner.invoke(cli.app, [
        "search", "--task", "recommendation", "--data", str(tmp_path / "clicks.csv"), "--k", str(K),
        "--trials", "1", "--folds", "2", "--max-epochs", "1", "--no-dashboard", "--select", "best", "--json",
        "--output", str(tmp_path / "runs")])
    assert searched.exit_code == 0, searched.output
    summary = json.loads(searched.stdout.strip().splitlines()[-1])
    run_dir = Path(summary["run_dir"])
    registry = make_registry(plugins=[("recommendation", fg_automl_recommendation)], autoload=False)
    directory = export_onnx(run_dir, quantize="int8", registry=registry).directory
    found = check_onnx(run_dir, directory, registry=registry)  # the test users alone (Task.prediction_rows)
    assert found.onnx_max_diff < 1e-4 and found.onnx_f1 == found.torch_f1
    assert found.torch_f1 == pytest.approx(summary["final"]["test_f1"])  # as the search scored it
    assert found.int8_f1 is not None and abs(found.int8_f1 - found.torch_f1) <= 0.02

    # The same lists, compared item by item.
    record = RunRecord.from_dict(json.loads((run_dir / RUN_FILE).read_text()))
    known = set(SearchSettings.__dataclass_fields__)
    settings = SearchSettings(**{k: v for k, v in record.settings.items() if k in known})
    prepared = prepare_recorded_search(registry, run_dir=run_dir, record=record, settings=settings,
                                       command="test")
    test = prepared.data.take(prepared.splits.test)
    model = load_fitted_model(run_dir, task=prepared.task, families=registry.families["recommendation"])
    users = test.features[[USER]]
    expected = _predict(model, users)
    with _quiet():
        assert _assert_same_lists(OnnxModel(directory).predict(users), expected) < 1e-4
        int8_f1 = prepared.task.metrics(test, OnnxModel(directory, int8=True).predict(users))["f1"]
    torch_f1 = prepared.task.metrics(test, expected)["f1"]
    assert torch_f1 == pytest.approx(summary["final"]["test_f1"]) and abs(int8_f1 - torch_f1) <= 0.02
