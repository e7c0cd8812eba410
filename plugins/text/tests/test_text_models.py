"""The text task's tokenizer, model families, macro F1 and safe saving."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import optuna
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from fg_automl_text import TEXT_FAMILIES, TEXT_FEATURE, TextSpec, TextTask
from fg_automl_text._tokenizer import CLS_ID, UNK_ID, train_tokenizer
from sklearn.metrics import f1_score

from finegrain_automl import Dataset, FitContext, SpaceError
from finegrain_automl.space import branch_params

FAMILIES = ("bag", "cnn", "rnn", "transformer")


def _dataset(frame: pd.DataFrame) -> Dataset:
    classes = sorted(frame["label"].unique())
    codes = frame["label"].map({label: code for code, label in enumerate(classes)}).to_numpy()
    info = {"classes": classes, "target": "label", "text_column": "text"}
    return Dataset(features=pd.DataFrame({TEXT_FEATURE: frame["text"].to_numpy()}), target=codes, info=info)


def test_tokenizer_learns_from_training_rows_only(small_sms: pd.DataFrame) -> None:
    train = small_sms.iloc[:200]
    scoring = small_sms.iloc[200:].copy()
    scoring["text"] = scoring["text"] + " zqxvjkwp ж"  # a word and a letter only the scoring rows have
    model = TextTask().fit(
        config={"epochs": 1, "vocab_size": 2000, "max_length": 64},
        family=TEXT_FAMILIES["bag"],
        family_params={},
        train=_dataset(train),
        context=FitContext(seed=0),
    )
    assert model.tokenizer.token_to_id("zqxvjkwp") is None
    assert model.tokenizer.encode("ж").ids == [CLS_ID, UNK_ID]
    # Had the scoring rows been seen, the word would have become one token.
    leaky = train_tokenizer([*train["text"], *scoring["text"]], vocab_size=2000, max_length=64)
    assert leaky.token_to_id("zqxvjkwp") is not None
    assert model.predict(_dataset(scoring).features)["label"].isin(["ham", "spam"]).all()


def test_tokenizer_training_is_deterministic(small_sms: pd.DataFrame) -> None:
    texts = small_sms["text"].tolist()
    first = train_tokenizer(texts, vocab_size=1000, max_length=32)
    assert first.to_str() == train_tokenizer(texts, vocab_size=1000, max_length=32).to_str()
    assert len(first.encode(" ".join(texts[:20])).ids) == 32


@pytest.mark.parametrize("n_classes", [2, 3])
def test_macro_f1_matches_scikit_learn(n_classes: int) -> None:
    rng = np.random.default_rng(n_classes)
    target = rng.integers(0, n_classes, 200)
    predicted = np.where(rng.random(200) < 0.7, target, rng.integers(0, n_classes, 200))
    data = Dataset(
        features=pd.DataFrame({TEXT_FEATURE: ["x"] * 200}),
        target=target,
        info={"classes": [f"c{i}" for i in range(n_classes)]},
    )
    metrics = TextTask().metrics(data, pd.DataFrame({"prediction": predicted}))
    assert metrics["f1"] == pytest.approx(f1_score(target, predicted, average="macro"), abs=1e-6)
    assert metrics["accuracy"] == pytest.approx(float(np.mean(target == predicted)), abs=1e-6)


def _sampled_config(family: str) -> dict:
    """A configuration of the default space, sampled at random with ``model`` forced to ``family``."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=FAMILIES.index(family)))
    study.enqueue_trial({"model": family})
    return TextTask().default_space().sample(study.ask())


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_trains_one_step_and_saves_safely(family: str, three_class: pd.DataFrame) -> None:
    task = TextTask()
    config = _sampled_config(family)
    name, params = branch_params(config, "model")
    assert name == family
    task.check_config(config=config, family=TEXT_FAMILIES[name], family_params=params)
    batch = config["batch_size"]
    train = _dataset(three_class.iloc[:batch])  # one batch, one epoch: exactly one optimiser step
    model = task.fit(
        config=config,
        family=TEXT_FAMILIES[name],
        family_params=params,
        train=train,
        context=FitContext(seed=3, max_epochs_cap=1),
    )
    pl.seed_everything(3, verbose=False)
    untrained = TEXT_FAMILIES[name].build(model.spec, **params)
    assert any(
        not torch.equal(a, b)
        for a, b in zip(untrained.state_dict().values(), model.network.state_dict().values(), strict=True)
    )

    scoring = _dataset(three_class.iloc[batch:])
    predictions = model.predict(scoring.features)
    assert list(predictions.columns) == ["label", "probability", "prediction"]
    assert predictions["label"].isin(["other", "question", "spam"]).all()
    assert predictions["probability"].between(1 / 3 - 1e-6, 1).all()
    classes = np.array(model.classes)
    assert (classes[predictions["prediction"]] == predictions["label"]).all()

    # A row's prediction does not depend on the other rows of its batch (padding).
    alone = model.predict(scoring.features.iloc[:3])
    np.testing.assert_allclose(
        alone["probability"], predictions["probability"].iloc[:3], rtol=1e-5, atol=1e-6
    )

    buffer = io.BytesIO()
    torch.save(model.to_state(), buffer)
    buffer.seek(0)
    restored = task.load_model(torch.load(buffer, weights_only=True), families=TEXT_FAMILIES)
    again = restored.predict(scoring.features)
    np.testing.assert_array_equal(again["probability"], predictions["probability"])
    assert (again["label"] == predictions["label"]).all()


def test_check_config_rejects_what_could_never_fit() -> None:
    task = TextTask()
    family = TEXT_FAMILIES["transformer"]
    with pytest.raises(ValueError, match="d_model must be divisible by n_heads"):
        task.check_config(config={}, family=family, family_params={"d_model": 30, "n_heads": 4})
    with pytest.raises(SpaceError, match="vocab_size"):
        task.check_config(config={"vocab_size": 10}, family=family, family_params={})
    with pytest.raises(ValueError, match="kernel_sizes"):
        task.check_config(config={}, family=TEXT_FAMILIES["cnn"], family_params={"kernel_sizes": "3,x"})
    with pytest.raises(ValueError, match="cell must be"):
        task.check_config(config={}, family=TEXT_FAMILIES["rnn"], family_params={"cell": "rnn"})


@pytest.mark.parametrize("family", FAMILIES)
def test_families_accept_a_one_token_sequence(family: str) -> None:
    network = TEXT_FAMILIES[family].build(TextSpec(vocab_size=10, max_length=8, n_classes=2))
    logits = network(torch.tensor([[2]]), torch.tensor([[True]]))
    assert logits.shape == (1, 2) and torch.isfinite(logits).all()


def test_loading_and_predicting_do_not_import_lightning(three_class: pd.DataFrame, tmp_path) -> None:
    # fg-automl predict only runs a forward pass: PyTorch Lightning (seconds to import) stays out.
    task = TextTask()
    config = _sampled_config("bag")
    name, params = branch_params(config, "model")
    model = task.fit(
        config=config,
        family=TEXT_FAMILIES[name],
        family_params=params,
        train=_dataset(three_class),
        context=FitContext(seed=0, max_epochs_cap=1),
    )
    torch.save(model.to_state(), tmp_path / "state.pt")
    _dataset(three_class).features.to_pickle(tmp_path / "rows.pkl")
    code = (
        "import sys, torch, pandas as pd\n"
        "from fg_automl_text import TEXT_FAMILIES, TextTask\n"
        f"state = torch.load({str(tmp_path / 'state.pt')!r}, weights_only=True)\n"
        "model = TextTask().load_model(state, families=TEXT_FAMILIES)\n"
        f"print(len(model.predict(pd.read_pickle({str(tmp_path / 'rows.pkl')!r}))))\n"
        "print('pytorch_lightning' in sys.modules, 'lightning' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(len(three_class)), "False", "False"]


def test_families_are_ordered_from_simplest_for_one_se_selection() -> None:
    complexity = {name: family.complexity for name, family in TEXT_FAMILIES.items()}
    assert complexity == {"bag": 0, "cnn": 1, "rnn": 2, "transformer": 3}
