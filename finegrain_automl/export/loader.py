"""Run an fg-automl ONNX export with onnxruntime, numpy and pandas only.

This file is copied, as ``fg_automl_onnx.py``, into every folder that
``fg-automl export --format onnx`` writes, beside ``pipeline.json``, the
networks (``member-0.onnx``...) and the task's preprocessing module. It
needs neither torch nor finegrain-automl::

    from fg_automl_onnx import OnnxModel

    model = OnnxModel("fg-runs/fraud-.../onnx")          # int8=True: the quantised networks
    table = model.predict(pandas.read_csv("new.csv"))     # label, probability, prediction
    probabilities = model.predict_proba(frame)            # [n, classes]

``pipeline.json`` (format ``finegrain_automl.onnx/1``) says what runs:

- ``classes``: the label of each probability column;
- ``decision``: ``{"threshold": t}`` (two classes: the second class where
  its probability is at least ``t``) or ``{}`` (the most probable class);
- ``preprocess``: the task's module (a ``.py`` file here, numpy and pandas
  only) whose ``preprocess(frame, spec) -> {input name: array}`` turns rows
  into each network's inputs;
- ``members``: one entry per network, ``{"file", "int8_file", "weight",
  "outputs", "activation" ("sigmoid": a logit per row, the second class's
  probability; "softmax": a logit per class), "spec"}`` (``spec``: that
  network's preprocessing statistics, for ``preprocess``). The probabilities
  are the weighted mean of the members'.

A task whose predictions are not class probabilities (a recommender's top-K
lists, a detector's boxes) has ``activation`` null and one member; its
module's ``predict(frame, spec, run)`` makes the predictions, ``run(inputs)``
running the network, and :meth:`OnnxModel.predict_proba` returns None.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FORMAT", "OnnxModel"]

FORMAT = "finegrain_automl.onnx/1"


class OnnxModel:
    """An exported fg-automl model.

    Args:
        directory: The export folder (holding ``pipeline.json``).
        int8: Run the int8-quantised networks (``--quantize int8``).
        threads: onnxruntime's intra-op threads per network (0: its default).
    """

    def __init__(self, directory: str | Path, *, int8: bool = False, threads: int = 0) -> None:
        import onnxruntime

        self.directory = Path(directory)
        self.pipeline = json.loads((self.directory / "pipeline.json").read_text())
        if self.pipeline.get("format") != FORMAT:
            raise ValueError(f"{self.directory / 'pipeline.json'} is not an fg-automl ONNX export "
                             f"(format {self.pipeline.get('format')!r}, this loader reads {FORMAT!r})")
        self.classes = list(self.pipeline["classes"])
        self.decision = dict(self.pipeline.get("decision", {}))
        self._module = _load_module(self.directory / self.pipeline["preprocess"])
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._sessions = []
        for member in self.pipeline["members"]:
            name = member["int8_file"] if int8 else member["file"]
            if not name:
                raise ValueError(f"{self.directory} has no int8 networks; export again with --quantize int8")
            session = onnxruntime.InferenceSession(str(self.directory / name), options,
                                                   providers=["CPUExecutionProvider"])
            self._sessions.append((member, session))

    @property
    def classifier(self) -> bool:
        """Whether the networks give class probabilities (else the task's module predicts)."""
        return self._sessions[0][0]["activation"] is not None

    def run(self, inputs: dict[str, np.ndarray], *, member: int = 0) -> dict[str, np.ndarray]:
        """Runs network ``member`` on prepared ``inputs``; returns its outputs by name."""
        entry, session = self._sessions[member]
        names = {i.name for i in session.get_inputs()}
        values = session.run(entry["outputs"], {k: v for k, v in inputs.items() if k in names})
        return dict(zip(entry["outputs"], values, strict=True))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Class probabilities ``[n, len(classes)]`` (float64), columns in
        ``classes`` order; None for a model that is not a classifier."""
        if not self.classifier:
            return None
        total = np.zeros((len(frame), len(self.classes)))
        for index, (member, _) in enumerate(self._sessions):
            (logits,) = self.run(self._module.preprocess(frame, member["spec"]), member=index).values()
            total += member["weight"] * _probabilities(np.asarray(logits, dtype=np.float64), member["activation"])
        return total

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A classifier's ``label``, ``probability`` (of the label for several
        classes; of the second class for two) and ``prediction`` (the class's
        position), by row; another model's predictions as its task writes them."""
        if not self.classifier:
            return self._module.predict(frame, self._sessions[0][0]["spec"], self.run)
        probabilities = self.predict_proba(frame)
        if "threshold" in self.decision:
            codes = (probabilities[:, 1] >= self.decision["threshold"]).astype(np.int64)
            shown = probabilities[:, 1]
        else:
            codes = probabilities.argmax(axis=1)
            shown = probabilities[np.arange(len(codes)), codes]
        labels = np.asarray(self.classes, dtype=object)[codes]
        return pd.DataFrame({"label": labels, "probability": shown, "prediction": codes}, index=frame.index)


def _probabilities(logits: np.ndarray, activation: str) -> np.ndarray:
    if activation == "sigmoid":
        positive = 1.0 / (1.0 + np.exp(-logits.reshape(-1)))
        return np.stack([1.0 - positive, positive], axis=1)
    if activation == "softmax":
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    raise ValueError(f"activation must be 'sigmoid' or 'softmax', got {activation!r}")


def _load_module(path: Path) -> Any:
    """The task's preprocessing module, by file (it sits beside this one)."""
    spec = importlib.util.spec_from_file_location(f"_fg_automl_onnx_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot load the preprocessing module {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
