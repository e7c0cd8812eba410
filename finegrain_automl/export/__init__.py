"""``fg-automl export``: a run's final model as ONNX, runnable without the training stack.

A task describes each of its fitted networks for export
(:meth:`finegrain_automl.Task.onnx_network`): the torch module, example
inputs, the activation of its output, the statistics its preprocessing
needs, and a preprocessing module of its own that imports only numpy and
pandas. The core exports every network (one, or each member of an ensemble)
with ``torch.onnx.export``, quantises it on request (onnxruntime's dynamic
int8 quantisation), and writes beside them ``pipeline.json`` (the documented
sidecar: classes, decision rule, members, their weights and preprocessing
statistics), the task's preprocessing module and the loader
(:mod:`finegrain_automl.export.loader`, as ``fg_automl_onnx.py``), which
needs only onnxruntime, numpy and pandas.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from finegrain_automl.errors import FgAutomlError

__all__ = ["ExportCheck", "ExportNotSupported", "ExportResult", "OnnxNetwork", "check_onnx", "export_onnx",
           "foreign_imports", "onnx_members", "table_difference"]

#: What a task's export module may import besides the standard library (the loader's own needs).
MODULE_IMPORTS = frozenset({"numpy", "pandas"})
#: Quantisations ``--quantize`` accepts.
QUANTIZATIONS = ("int8",)
#: The ONNX operator set the networks are exported with.
OPSET = 17
LOADER_FILE = "fg_automl_onnx.py"
PIPELINE_FILE = "pipeline.json"


class ExportNotSupported(FgAutomlError):
    """The task (or this model of it) cannot be exported; the message says why."""


@dataclass(frozen=True, kw_only=True)
class OnnxNetwork:
    """One fitted network of a task, as the export needs it.

    A classifier's network returns logits and the loader turns them into
    probabilities and labels (``activation``, ``decision``, ``classes``);
    ensembles of classifiers export member by member. A task whose
    predictions are something else (top-K lists, boxes) sets ``activation``
    to None and gives its module a ``predict`` function as well (below).

    Attributes:
        module: The network (a ``torch.nn.Module``), on the CPU in eval mode;
            its ``forward`` takes ``inputs`` in their order and returns
            ``outputs``: for a classifier, logits ``[n]`` with
            ``activation="sigmoid"``, ``[n, C]`` with ``"softmax"``.
        inputs: Example inputs by name, in ``forward``'s order, batch on axis 0
            (at least two rows): they fix the graph's input names, types and shapes.
        spec: What the task's module needs for this network (JSON: column
            names, statistics, a vocabulary...), passed to its functions.
        preprocess: The task's module (a ``.py`` file importing only numpy,
            pandas and the standard library), copied into the export. It has
            ``preprocess(frame, spec) -> {input name: numpy array}``; with
            ``activation`` None also ``predict(frame, spec, run) -> DataFrame``,
            which the loader's ``predict`` returns (``run(inputs)`` runs the
            network: ``{output name: array}``).
        activation: ``"sigmoid"`` (two classes: the logit of the second),
            ``"softmax"``, or None (not a classifier).
        decision: A classifier's rule from probabilities to labels, as the
            loader reads it: ``{"threshold": t}`` or ``{}`` (the most probable class).
        classes: A classifier's label of each probability column.
        outputs: The graph's output names, in ``forward``'s order.
        dynamic_axes: ``torch.onnx.export``'s dynamic axes; default: axis 0 of
            every input and output (the rows).
    """

    module: Any
    inputs: Mapping[str, np.ndarray]
    spec: Mapping[str, Any]
    preprocess: Path
    activation: str | None = None
    decision: Mapping[str, Any] = field(default_factory=dict)
    classes: list[Any] = field(default_factory=list)
    outputs: tuple[str, ...] = ("logits",)
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None


@dataclass(kw_only=True)
class ExportResult:
    """What ``fg-automl export`` wrote and measured."""

    directory: Path
    files: list[Path] = field(default_factory=list)
    #: Bytes of ``model.pt``, of the ONNX networks and of the int8 ones (None: not quantised).
    model_pt_bytes: int = 0
    onnx_bytes: int = 0
    int8_bytes: int | None = None
    seconds: float = 0.0


def onnx_members(model: Any) -> list[tuple[Any, float]]:
    """``(fitted model, weight)`` of each network in ``model`` (an ensemble's members, or the model)."""
    from finegrain_automl.ensemble import EnsembleModel

    if isinstance(model, EnsembleModel):
        return list(zip(model.members, model.weights, strict=True))
    return [(model, 1.0)]


def export_onnx(
    run_dir: Path,
    *,
    output: Path | None = None,
    quantize: str | None = None,
    registry: Any = None,
    progress: Callable[[str], None] = lambda message: None,
) -> ExportResult:
    """Exports the final model of the search in ``run_dir`` (default folder: ``run_dir/onnx``).

    Raises:
        UsageError: Not a finished run, an unknown ``quantize``, or an output
            folder that holds something else.
        ExportNotSupported: The task cannot export this model (the message says why).
    """
    from finegrain_automl.errors import UsageError
    from finegrain_automl.plugins import make_registry
    from finegrain_automl.results import MODEL_FILE, load_fitted_model, read_run, write_json

    if quantize is not None and quantize not in QUANTIZATIONS:
        raise UsageError(f"--quantize must be one of {', '.join(QUANTIZATIONS)}, got {quantize!r}.")
    started = time.perf_counter()
    run = read_run(run_dir)
    registry = registry or make_registry()
    task = registry.task(run["task"])
    model = load_fitted_model(run_dir, task=task, families=registry.families[task.name])
    target = _check_output(output or run_dir / "onnx")
    # Written beside the target and moved into place at the end: a failed export leaves an earlier one intact.
    directory = target.with_name(f".{target.name}.partial")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    try:
        entries, classes, decision, preprocess = _export_members(task, model, directory, quantize, progress)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    from finegrain_automl.export import loader

    shutil.copyfile(loader.__file__, directory / LOADER_FILE)
    shutil.copyfile(preprocess, directory / preprocess.name)
    write_json(directory / PIPELINE_FILE, {
        "format": loader.FORMAT, "task": task.name, "classes": classes, "decision": dict(decision),
        "preprocess": preprocess.name, "members": entries,
        "run": {"run_dir": str(run_dir), "trial_ids": getattr(model, "trial_ids", None)},
    })
    shutil.rmtree(target, ignore_errors=True)
    directory = directory.rename(target)
    files = sorted(p for p in directory.iterdir() if p.is_file())
    onnx = [directory / e["file"] for e in entries]
    int8 = [directory / e["int8_file"] for e in entries if e["int8_file"]]
    return ExportResult(
        directory=directory, files=files, model_pt_bytes=(run_dir / MODEL_FILE).stat().st_size,
        onnx_bytes=sum(p.stat().st_size for p in onnx),
        int8_bytes=sum(p.stat().st_size for p in int8) if int8 else None,
        seconds=time.perf_counter() - started,
    )


def _export_members(
    task: Any, model: Any, directory: Path, quantize: str | None, progress: Callable[[str], None]
) -> tuple[list[dict[str, Any]], list[Any], Mapping[str, Any], Path]:
    """Exports each network of ``model`` into ``directory``; returns the members'
    entries of ``pipeline.json``, the classes, the decision rule and the task's module."""
    members, entries, preprocess, classes = onnx_members(model), [], None, []
    decision: Mapping[str, Any] = getattr(model, "decision", None) or {}
    for index, (member, weight) in enumerate(members):
        progress(f"exporting network {index + 1} of {len(members)}")
        network = task.onnx_network(member)
        if network.activation is None and len(members) > 1:
            raise ExportNotSupported("an ensemble of a task whose predictions are not class probabilities")
        if preprocess is not None and network.preprocess != preprocess:
            raise ExportNotSupported("the ensemble's members use different preprocessing modules")
        foreign = foreign_imports(network.preprocess)
        if foreign:
            raise ExportNotSupported(
                f"{network.preprocess.name}, the task's module for the export, imports {', '.join(sorted(foreign))}; "
                "it may import only numpy, pandas and the standard library (the loader runs it without the rest)")
        preprocess, classes = network.preprocess, network.classes
        if len(members) == 1:
            decision = network.decision
        path = directory / f"member-{index}.onnx"
        _export_network(network, path)
        entry = {"file": path.name, "int8_file": None, "weight": float(weight), "outputs": list(network.outputs),
                 "activation": network.activation, "spec": network.spec}
        if quantize == "int8":
            progress(f"quantising network {index + 1} to int8")
            entry["int8_file"] = _quantize_int8(path).name
        entries.append(entry)
    if preprocess is None:
        raise ExportNotSupported("the model has no network to export")
    return entries, classes, decision, preprocess


def foreign_imports(path: Path) -> set[str]:
    """What the module at ``path`` imports that an export's loader may not
    have: any top-level package but numpy, pandas and the standard library
    (``"."`` for a relative import: the file runs alone in an export). Read
    from the source, so nothing runs."""
    import ast
    import sys

    found: set[str] = set()
    for node in ast.walk(ast.parse(Path(path).read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add("." if node.level else (node.module or "").split(".")[0])
    return found - MODULE_IMPORTS - set(sys.stdlib_module_names)


def _check_output(path: Path) -> Path:
    """``path``, which may hold nothing but an earlier export (replaced once the new one is written)."""
    from finegrain_automl.errors import UsageError

    if path.exists() and (not path.is_dir() or (not (path / PIPELINE_FILE).is_file() and any(path.iterdir()))):
        raise UsageError(f"--output {path} exists and is not an fg-automl export; choose an empty or new folder.")
    return path


def _export_network(network: OnnxNetwork, path: Path) -> None:
    import torch

    names = list(network.inputs)
    example = tuple(torch.from_numpy(np.ascontiguousarray(network.inputs[name])) for name in names)
    dynamic = network.dynamic_axes
    if dynamic is None:
        dynamic = {name: {0: "rows"} for name in (*names, *network.outputs)}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's advice on Python values and RNN batch sizes
            torch.onnx.export(network.module.eval(), example, str(path), input_names=names,
                              output_names=list(network.outputs), dynamic_axes=dict(dynamic), opset_version=OPSET,
                              dynamo=False)
    except Exception as exc:  # noqa: BLE001 - an operator ONNX lacks, a shape it cannot trace...
        reason = " ".join(str(exc).split())[:300]
        raise ExportNotSupported(f"the network {type(network.module).__name__} cannot be exported to ONNX "
                                 f"(opset {OPSET}): {type(exc).__name__}: {reason}") from None


def _quantize_int8(path: Path) -> Path:
    """``member-i.int8.onnx``: dynamic int8 quantisation of the weights of ``path``
    (onnxruntime; activations are quantised on the fly, per batch)."""
    import logging
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    target = path.with_suffix(".int8.onnx")
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / path.name
        try:  # shape inference and graph optimisation first, as onnxruntime recommends
            quant_pre_process(str(path), str(prepared), skip_symbolic_shape=True)
        except Exception:  # noqa: BLE001 - an optimisation only: quantise the network as exported
            prepared = path
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # its "consider pre-processing" advice, given all the same
        try:
            quantize_dynamic(str(prepared), str(target), weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
    return target


@dataclass(frozen=True, kw_only=True)
class ExportCheck:
    """The exported networks against the torch model, on the run's test rows."""

    rows: int
    #: Largest absolute difference of any class probability, ONNX against torch (and int8 against
    #: torch); for a task that is not a classifier, of any number of its predictions.
    onnx_max_diff: float
    #: Rows whose label differs; for a task that is not a classifier, rows whose
    #: predictions differ (:func:`table_difference`).
    onnx_label_mismatches: int
    int8_max_diff: float | None
    int8_label_mismatches: int | None
    #: The test F1 of the torch model, of ONNX and of int8 (the task's own metric).
    torch_f1: float
    onnx_f1: float
    int8_f1: float | None
    #: What the differences are of: ``"probabilities"`` (a classifier's, and the
    #: mismatches count labels), or ``"prediction"`` (the prediction tables, row by row).
    compared: str = "probabilities"


def check_onnx(run_dir: Path, directory: Path, *, registry: Any = None) -> ExportCheck:
    """Predicts the run's test rows with the torch model and with the export
    (through its own loader), and compares probabilities, labels and F1.

    Raises:
        UsageError: The run's data cannot be loaded again (a file gone or changed).
    """
    from finegrain_automl.api import prepare_recorded_search
    from finegrain_automl.export.loader import OnnxModel
    from finegrain_automl.plugins import make_registry
    from finegrain_automl.record import RunRecord
    from finegrain_automl.results import RUN_FILE, load_fitted_model
    from finegrain_automl.search import SearchSettings

    registry = registry or make_registry()
    record = RunRecord.from_dict(json.loads((run_dir / RUN_FILE).read_text()))
    known = {f for f in SearchSettings.__dataclass_fields__}
    settings = SearchSettings(**{k: v for k, v in record.settings.items() if k in known})
    prepared = prepare_recorded_search(registry, run_dir=run_dir, record=record, settings=settings,
                                       command="fg-automl export")
    task, test = prepared.task, prepared.data.take(prepared.splits.test)
    rows = task.prediction_rows(test)
    model = load_fitted_model(run_dir, task=task, families=registry.families[task.name])
    predicted = model.predict(rows)
    matrix = model.predict_proba(rows)  # None where the model gives no class probabilities
    labels = predicted["label"].to_numpy() if "label" in predicted else None

    def compare(int8: bool) -> tuple[float, int, float]:
        exported = OnnxModel(directory, int8=int8)
        table = exported.predict(rows)
        if exported.classifier:  # class probabilities (or the predicted class's, where torch gives no matrix)
            found = exported.predict_proba(rows) if matrix is not None else table["probability"].to_numpy()
            wanted = matrix if matrix is not None else predicted["probability"].to_numpy()
            difference = float(np.abs(np.asarray(found, dtype=np.float64) - np.asarray(wanted)).max())
            differ = int((table["label"].to_numpy() != labels).sum()) if labels is not None else 0
        else:
            difference, differ = table_difference(predicted, table)
        return difference, differ, float(task.metrics(test, table)["f1"])

    onnx = compare(False)
    has_int8 = all(member["int8_file"] for member in read_pipeline(directory)["members"])
    int8 = compare(True) if has_int8 else (None, None, None)
    return ExportCheck(
        rows=len(test), onnx_max_diff=onnx[0], onnx_label_mismatches=onnx[1], int8_max_diff=int8[0],
        int8_label_mismatches=int8[1], torch_f1=float(task.metrics(test, predicted)["f1"]),
        onnx_f1=onnx[2], int8_f1=int8[2],
        compared="probabilities" if read_pipeline(directory)["members"][0]["activation"] else "prediction",
    )


#: Numbers of two prediction tables closer than this count as equal (:func:`table_difference`).
TABLE_TOLERANCE = 1e-4


def table_difference(expected: Any, found: Any) -> tuple[float, int]:
    """Compares two prediction tables row by row (a recommender's lists, a
    detector's boxes): the largest absolute difference of their numbers (arrays
    included) over the rows of the same form, and how many rows differ: in
    form, in a cell that is not a number (items, classes, in order), or by more
    than :data:`TABLE_TOLERANCE`. Tables of other columns or lengths: ``(inf,
    rows)``."""
    if list(expected.columns) != list(found.columns) or len(expected) != len(found):
        return float("inf"), max(len(expected), len(found))
    largest, differing = 0.0, 0
    for want_row, got_row in zip(expected.itertuples(index=False), found.itertuples(index=False), strict=True):
        gap = _row_gap(want_row, got_row)
        if gap is None or gap > TABLE_TOLERANCE:
            differing += 1
        if gap is not None:
            largest = max(largest, gap)
    return largest, differing


def _row_gap(want_row: Any, got_row: Any) -> float | None:
    """The largest difference between the numbers of two rows; None where they differ otherwise."""
    largest = 0.0
    for want, got in zip(want_row, got_row, strict=True):
        want_array, got_array = np.asarray(want), np.asarray(got)
        if want_array.shape != got_array.shape:
            return None
        if want_array.dtype.kind in "fiub" and got_array.dtype.kind in "fiub":
            want_array, got_array = want_array.astype(np.float64), got_array.astype(np.float64)
            if not np.array_equal(np.isnan(want_array), np.isnan(got_array)):
                return None
            gaps = np.abs(want_array - got_array)[~np.isnan(want_array)]
            largest = max(largest, float(gaps.max()) if gaps.size else 0.0)
        elif not np.array_equal(want_array, got_array):
            return None
    return largest


def read_pipeline(directory: Path) -> dict[str, Any]:
    """``pipeline.json`` of an export."""
    return json.loads((directory / PIPELINE_FILE).read_text())
