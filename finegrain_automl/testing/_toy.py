"""The smallest complete task: binary classification of numeric rows.

Copy this module to start a task plugin. It shows every part of the
:class:`~finegrain_automl.Task` contract: data (built-in and a user's CSV), one
PyTorch Lightning model family, the F1 definition, a default space, and safe
saving. The core's tests use it to exercise the search without real data.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch

from finegrain_automl.data import Dataset, DataSource
from finegrain_automl.errors import DataError
from finegrain_automl.options import DataOption
from finegrain_automl.space import Space
from finegrain_automl.task import FitContext, FittedModel, ModelFamily, Task

__all__ = ["TOY_CLI", "ToyTask", "make_toy_data"]

_SPACE = {
    "epochs": 2,
    "lr": {"loguniform": [1e-3, 1e-1]},
    "model": {"choice": {"mlp": {"hidden": {"int": [2, 16]}}, "linear": None}},
}


def make_toy_data(*, n_rows: int = 200, seed: int = 0) -> pd.DataFrame:
    """Two informative numeric columns and a 0/1 ``label`` (about 30 % positive)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_rows, 2))
    label = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=n_rows) > 0.5).astype(int)
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "label": label})


def _build_linear(n_inputs: int) -> Any:
    return torch.nn.Linear(n_inputs, 1)


def _build_mlp(n_inputs: int, *, hidden: int = 8) -> Any:
    return torch.nn.Sequential(torch.nn.Linear(n_inputs, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))


class _ToyModel(FittedModel):
    def __init__(self, *, family: str, params: dict[str, Any], network: Any, columns: list[str]) -> None:
        self.family, self.params, self.network, self.columns = family, params, network, columns

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.columns if c not in features.columns]
        if missing:
            raise DataError(f"Column {missing[0]!r} is missing from the rows to predict. Add it.")
        x = torch.tensor(features[self.columns].to_numpy(np.float32))
        with torch.no_grad():
            probability = torch.sigmoid(self.network(x)).squeeze(1).numpy()
        prediction = (probability >= 0.5).astype(int)
        return pd.DataFrame({"label": prediction, "prediction": prediction, "probability": probability})

    def to_state(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "params": self.params,
            "columns": self.columns,
            "weights": self.network.state_dict(),
        }


class ToyTask(Task):
    """Binary classification of numeric columns; F1 of class 1."""

    name = "toy"
    description = "Tiny numeric binary classification (for tests and as a template)."
    hyperparameters = frozenset({"epochs", "lr"})
    metric = "F1 of class 1"
    data_options = (
        DataOption(name="sep", default=",", help="Field separator of --data.", predict=True),
        DataOption(name="max_rows", type=int, builtin=True,
                   help="Use only the first rows of --data or of the built-in data; default: all."),
    )

    def model_families(self) -> Mapping[str, ModelFamily]:
        return {
            "linear": ModelFamily(name="linear", build=_build_linear, description="Logistic regression.", complexity=0),
            "mlp": ModelFamily(name="mlp", build=_build_mlp, description="One hidden layer.", complexity=1),
        }

    def default_space(self) -> Space:
        return Space.from_dict(_SPACE, source="toy default space")

    def starting_points(self) -> list[dict[str, Any]]:
        """Tried first: a mid-sized MLP at a usual learning rate."""
        return [{"model": "mlp", "model.mlp.hidden": 8, "lr": 0.05}]

    def load_default(self, *, seed: int, options: Mapping[str, Any] | None = None) -> Dataset:
        """The generated rows; ``options`` holds the ``builtin`` data options (``max_rows``)."""
        frame = make_toy_data(seed=seed)
        return self._dataset(frame.head((options or {}).get("max_rows", len(frame))), target="label")

    def read_file(self, source: DataSource) -> Dataset:
        if not source.path.is_file():
            raise DataError(f"Data file {source.path} does not exist. Check the path.")
        frame = pd.read_csv(source.path, sep=source.options.get("sep", ","), nrows=source.options.get("max_rows"))
        return self._dataset(frame, target=source.target or "label", require=source.require_target)

    def _dataset(self, frame: pd.DataFrame, *, target: str, require: bool = True) -> Dataset:
        if target not in frame.columns:
            if require:
                raise DataError(f"Target column {target!r} is not in the data. Pass --target.")
            return Dataset(features=frame, target=None, info={"target": target})
        return Dataset(
            features=frame.drop(columns=[target]),
            target=frame[target].to_numpy(int),
            info={"target": target},
        )

    def fit(
        self,
        *,
        config: Mapping[str, Any],
        family: ModelFamily,
        family_params: Mapping[str, Any],
        train: Dataset,
        context: FitContext,
    ) -> FittedModel:
        pl.seed_everything(context.seed, verbose=False)
        torch.set_num_threads(context.num_threads)
        columns = list(train.features.columns)
        network = family.build(len(columns), **family_params)
        x = torch.tensor(train.features[columns].to_numpy(np.float32))
        y = torch.tensor(train.target, dtype=torch.float32)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, shuffle=True)
        module = _ToyModule(network, lr=float(config["lr"]))
        context.trainer(max_epochs=context.epochs(int(config["epochs"]))).fit(module, loader)
        return _ToyModel(family=family.name, params=dict(family_params), network=network.eval(), columns=columns)

    def metrics(self, data: Dataset, predictions: pd.DataFrame) -> dict[str, float]:
        from sklearn.metrics import f1_score

        return {"f1": float(f1_score(data.target, predictions["prediction"], zero_division=0))}

    def onnx_network(self, model: FittedModel) -> Any:
        """The network (its logit squeezed to ``[n]``) on the columns it was trained on."""
        from importlib.resources import files

        from finegrain_automl.export import OnnxNetwork

        example = np.zeros((2, len(model.columns)), dtype=np.float32)
        return OnnxNetwork(
            module=_Squeezed(model.network), inputs={"x": example}, activation="sigmoid",
            decision={"threshold": 0.5}, classes=[0, 1], spec={"columns": list(model.columns)},
            preprocess=Path(str(files("finegrain_automl.testing") / "_toy_onnx.py")),
        )

    def load_model(self, state: Mapping[str, Any], *, families: Mapping[str, ModelFamily]) -> FittedModel:
        columns = list(state["columns"])
        network = families[state["family"]].build(len(columns), **state["params"])
        network.load_state_dict(state["weights"])
        return _ToyModel(family=state["family"], params=dict(state["params"]), network=network.eval(), columns=columns)


class _Squeezed(torch.nn.Module):
    """A network's ``[n, 1]`` logits as ``[n]``."""

    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x).squeeze(1)


class _ToyModule(pl.LightningModule):
    def __init__(self, network: torch.nn.Module, *, lr: float) -> None:
        super().__init__()
        self.network, self.lr = network, lr

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.binary_cross_entropy_with_logits(self.network(x).squeeze(1), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)


#: A Python script (``python -c TOY_CLI search --task toy ...``) that runs the
#: real ``fg-automl`` CLI with only the toy task registered: for tests that need
#: a search in a process of its own (signals, SIGKILL, resume).
TOY_CLI = """
import sys
from finegrain_automl import cli, hookimpl
from finegrain_automl.plugins import make_registry
from finegrain_automl.testing import ToyTask

class Plugin:
    @hookimpl
    def fg_automl_tasks(self):
        return [ToyTask()]

registry = make_registry(plugins=[("toy", Plugin())], autoload=False)
cli._registry = lambda: registry
sys.argv = ["fg-automl", *sys.argv[1:]]
cli.app()
"""
