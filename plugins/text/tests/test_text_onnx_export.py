"""Every family of the text task exports to ONNX through the core's ``export_onnx``; the export's
loader gives the torch model's probabilities and labels (int8: its F1) without torch or ``tokenizers``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fg_automl_text import TEXT_FAMILIES, TEXT_FEATURE, TextTask, onnx_preprocess
from fg_automl_text._classifier import TextClassifier
from typer.testing import CliRunner

from finegrain_automl import Dataset, FitContext
from finegrain_automl.ensemble import EnsembleModel
from finegrain_automl.export import ExportNotSupported, check_onnx, export_onnx, read_pipeline
from finegrain_automl.export.loader import OnnxModel
from finegrain_automl.plugins import make_registry
from finegrain_automl.results import save_model

#: The default space's families, with the variants that change the exported graph.
VARIANTS = {
    "bag with bigrams": ("bag", {"embedding_dim": 32, "bigrams": True}),
    "cnn": ("cnn", {"embedding_dim": 32, "filters": 32, "kernel_sizes": "2,3,4"}),
    "lstm, bidirectional": (
        "rnn",
        {"cell": "lstm", "bidirectional": True, "embedding_dim": 32, "hidden": 32},
    ),
    "gru": ("rnn", {"cell": "gru", "bidirectional": False, "embedding_dim": 32, "hidden": 32}),
    "gru, bidirectional, 2 layers": (
        "rnn",
        {"cell": "gru", "bidirectional": True, "n_layers": 2, "embedding_dim": 32, "hidden": 32},
    ),
    "transformer, mean pooling": (
        "transformer",
        {"d_model": 32, "n_heads": 2, "n_layers": 2, "pooling": "mean"},
    ),
    "transformer, [CLS] pooling": (
        "transformer",
        {"d_model": 32, "n_heads": 4, "n_layers": 1, "pooling": "cls"},
    ),
}
CONFIG = {"epochs": 3, "lr": 1e-2, "vocab_size": 2000, "max_length": 64, "batch_size": 32}
#: Texts that stress the tokeniser: unknown characters, empty, very long, special tokens.
HARD_TEXTS = [
    "",
    "   ",
    "Ça coûte 10€‼ 我爱北京 😀👍🏽",
    "[CLS] free [PAD] prize [UNK]",
    "ＦＲＥＥ ＰＲＩＺＥ！！！",
    "win " * 500,
    "x" * 3000,
    "\x00\u200b\ue000\u0378",
]


@pytest.fixture(scope="module")
def registry():
    return make_registry(allow=["text"])


@pytest.fixture(scope="module")
def split(sms: pd.DataFrame) -> tuple[Dataset, Dataset]:
    """800 training and 300 test messages of the SMS data (seeded)."""
    data = TextTask().load_default(seed=0)
    order = np.random.default_rng(0).permutation(len(sms))
    return data.take(order[:800]), data.take(order[800:1100])


@pytest.fixture(scope="module")
def fitted(split: tuple[Dataset, Dataset]) -> dict[str, TextClassifier]:
    """A tiny fit of each variant, made when a test first asks for it."""

    class Fits(dict):
        def __missing__(self, name: str) -> TextClassifier:
            family, params = VARIANTS[name]
            self[name] = TextTask().fit(
                config=CONFIG,
                family=TEXT_FAMILIES[family],
                family_params=params,
                train=split[0],
                context=FitContext(seed=0, num_threads=1),
            )
            return self[name]

    return Fits()


def _run_dir(path: Path, state: dict) -> Path:
    """A run folder holding just what ``export_onnx`` reads: the run's task and the saved model."""
    path.mkdir()
    (path / "run.json").write_text(json.dumps({"task": "text"}))
    save_model(path, task_name="text", state=state)
    return path


def _rows(test: Dataset) -> pd.DataFrame:
    """The test rows, then the hard texts."""
    return pd.concat([test.features, pd.DataFrame({TEXT_FEATURE: HARD_TEXTS})], ignore_index=True)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_family_exports_and_matches_torch(variant: str, fitted, split, registry, tmp_path: Path) -> None:
    model, test = fitted[variant], split[1]
    result = export_onnx(_run_dir(tmp_path / "run", model.to_state()), quantize="int8", registry=registry)
    pipeline = read_pipeline(result.directory)
    assert pipeline["classes"] == ["ham", "spam"] and pipeline["decision"] == {}
    (member,) = pipeline["members"]
    assert member["activation"] == "softmax" and member["int8_file"]
    assert pipeline["preprocess"] == Path(onnx_preprocess.__file__).name
    assert (result.directory / pipeline["preprocess"]).read_text() == Path(
        onnx_preprocess.__file__
    ).read_text()

    rows = _rows(test)
    expected, labels = model.predict_proba(rows), model.predict(rows)["label"].to_numpy()
    exported = OnnxModel(result.directory)
    difference = np.abs(exported.predict_proba(rows) - expected).max()
    assert difference < 1e-4
    assert (exported.predict(rows)["label"].to_numpy() == labels).all()
    alone = exported.predict_proba(rows.iloc[[5]])  # one row: the graph's batch size is free
    np.testing.assert_allclose(alone, expected[[5]], atol=1e-4)

    int8 = OnnxModel(result.directory, int8=True)
    task = TextTask()
    torch_f1 = task.metrics(test, model.predict(test.features))["f1"]
    int8_f1 = task.metrics(test, int8.predict(test.features))["f1"]
    int8_difference = np.abs(int8.predict_proba(rows) - expected).max()
    print(
        f"\n{variant}: ONNX max |p - torch| {difference:.2e}; int8 {int8_difference:.2e}, "
        f"F1 torch {torch_f1:.4f} int8 {int8_f1:.4f}"
    )
    assert int8_difference < 0.1 and abs(int8_f1 - torch_f1) <= 0.05


def test_an_ensemble_of_two_families_exports_member_by_member(
    fitted, split, registry, tmp_path: Path
) -> None:
    # Two members with tokenizers of their own (each fit trains one), weighted unequally.
    members = [fitted["bag with bigrams"], fitted["transformer, mean pooling"]]
    ensemble = EnsembleModel(
        task=TextTask(), members=members, weights=[0.3, 0.7], decision={}, trial_ids=["t1", "t2"]
    )
    result = export_onnx(_run_dir(tmp_path / "run", ensemble.to_state()), registry=registry)
    pipeline = read_pipeline(result.directory)
    assert [m["weight"] for m in pipeline["members"]] == [0.3, 0.7]
    vocabularies = [m["spec"]["tokenizer"]["model"]["vocab"] for m in pipeline["members"]]
    assert vocabularies[0] == json.loads(members[0].tokenizer.to_str())["model"]["vocab"]
    assert vocabularies[1] == json.loads(members[1].tokenizer.to_str())["model"]["vocab"]

    rows = _rows(split[1])
    exported = OnnxModel(result.directory)
    difference = np.abs(exported.predict_proba(rows) - ensemble.predict_proba(rows)).max()
    print(f"\nensemble: ONNX max |p - torch| {difference:.2e}")
    assert difference < 1e-4
    assert (exported.predict(rows)["label"].to_numpy() == ensemble.predict(rows)["label"].to_numpy()).all()


def test_the_export_runs_without_torch_or_tokenizers(fitted, split, registry, tmp_path: Path) -> None:
    model, rows = fitted["cnn"], _rows(split[1])
    directory = export_onnx(_run_dir(tmp_path / "run", model.to_state()), registry=registry).directory
    rows.to_pickle(tmp_path / "rows.pkl")
    np.save(tmp_path / "expected.npy", model.predict_proba(rows))
    script = f"""
import sys
sys.path.insert(0, {str(directory)!r})
import numpy as np, pandas as pd
from fg_automl_onnx import OnnxModel
found = OnnxModel({str(directory)!r}).predict_proba(pd.read_pickle({str(tmp_path / "rows.pkl")!r}))
print(float(np.abs(found - np.load({str(tmp_path / "expected.npy")!r})).max()))
heavy = ("torch", "tokenizers", "fg_automl_text", "finegrain_automl", "pytorch_lightning")
print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
"""
    done = subprocess.run(
        [sys.executable, "-I", "-c", script],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    difference, heavy = done.stdout.strip().splitlines()[-2:]
    assert float(difference) < 1e-4 and heavy == "[]"


def test_a_tokenizer_the_loader_cannot_reproduce_is_not_exported(fitted) -> None:
    from tokenizers import Tokenizer

    model = fitted["cnn"]
    state = json.loads(model.tokenizer.to_str())
    state["model"]["byte_fallback"] = True
    changed = TextClassifier(
        family_name=model.family_name,
        family_params=model.family_params,
        spec=model.spec,
        tokenizer=Tokenizer.from_str(json.dumps(state)),
        network=model.network,
        classes=model.classes,
    )
    with pytest.raises(
        ExportNotSupported, match="tokenizer cannot be exported: the tokenizer's BPE byte_fallback"
    ):
        TextTask().onnx_network(changed)


@pytest.mark.ray
def test_fg_automl_export_of_a_text_search(tmp_path: Path, small_sms: pd.DataFrame) -> None:
    # A tiny real search, the CLI's export, and the core's check on the run's test rows.
    from finegrain_automl.cli import app

    small_sms.to_csv(tmp_path / "small.csv", index=False)
    runner = CliRunner()
    searched = runner.invoke(
        app,
        [
            "search",
            "--task",
            "text",
            "--data",
            str(tmp_path / "small.csv"),
            "--trials",
            "2",
            "--folds",
            "2",
            "--max-epochs",
            "1",
            "--no-dashboard",
            "--no-ensemble-check",
            "--json",
            "--output",
            str(tmp_path / "runs"),
        ],
    )
    assert searched.exit_code == 0, searched.output
    run_dir = Path(json.loads(searched.stdout.strip().splitlines()[-1])["run_dir"])
    exported = runner.invoke(
        app, ["export", "--run", str(run_dir), "--format", "onnx", "--quantize", "int8", "--no-check"]
    )
    assert exported.exit_code == 0, exported.output
    pipeline = read_pipeline(run_dir / "onnx")
    assert pipeline["members"] and pipeline["classes"] == ["ham", "spam"]
    found = check_onnx(run_dir, run_dir / "onnx", registry=make_registry(allow=["text"]))
    print(f"\nsearch export: {found}")
    assert found.rows == 60  # 20 % of the 300 rows held out
    assert found.onnx_max_diff < 1e-4 and found.onnx_label_mismatches == 0 and found.onnx_f1 == found.torch_f1
    assert found.int8_max_diff is not None and found.int8_max_diff < 0.1
    assert abs(found.int8_f1 - found.torch_f1) <= 0.05


def test_a_missing_text_is_the_same_clear_error_for_torch_and_the_export(fitted) -> None:
    from finegrain_automl.errors import DataError
    from fg_automl_text.onnx_preprocess import preprocess

    model = fitted[next(iter(VARIANTS))]
    frame = pd.DataFrame({"text": ["free prize now", None, "see you at 5"]})
    with pytest.raises(DataError, match=r"has no text in 1 of 3 rows \(first: row 2"):
        model.predict(frame)
    with pytest.raises(ValueError, match=r"has no text in 1 of 3 rows \(first: row 2"):
        preprocess(frame, dict(TextTask().onnx_network(model).spec))
