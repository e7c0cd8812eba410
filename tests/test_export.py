"""``fg-automl export --format onnx``: the final model as ONNX with a sidecar
and a loader that needs only onnxruntime, numpy and pandas, checked against
the torch model; int8 quantisation; clear errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finegrain_automl import hookimpl
from finegrain_automl.export import LOADER_FILE, PIPELINE_FILE, check_onnx, export_onnx
from finegrain_automl.plugins import make_registry
from finegrain_automl.testing import ToyTask

runner = CliRunner()
pytestmark = pytest.mark.ray  # the run comes from a real (small) search


class _Toy:
    @hookimpl
    def fg_automl_tasks(self):
        return [ToyTask()]


@pytest.fixture
def registry():
    return make_registry(plugins=[("toy", _Toy())], autoload=False)


@pytest.fixture
def run_dir(finished_toy_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(finished_toy_run, tmp_path / "run"))


def test_export_with_int8_matches_the_torch_model_on_the_test_rows(run_dir: Path, registry) -> None:
    result = export_onnx(run_dir, quantize="int8", registry=registry)
    assert result.directory == run_dir / "onnx"
    names = {p.name for p in result.files}
    assert {PIPELINE_FILE, LOADER_FILE, "member-0.onnx", "member-0.int8.onnx", "_toy_onnx.py"} <= names
    pipeline = json.loads((result.directory / PIPELINE_FILE).read_text())
    assert pipeline["format"] == "finegrain_automl.onnx/1" and pipeline["classes"] == [0, 1]
    assert pipeline["decision"] == {"threshold": 0.5} and pipeline["members"][0]["activation"] == "sigmoid"
    found = check_onnx(run_dir, result.directory, registry=registry)
    assert found.rows == 40  # the toy data's 200 rows, 20 % held out
    assert found.onnx_max_diff < 1e-4 and found.onnx_label_mismatches == 0
    assert found.onnx_f1 == found.torch_f1
    assert found.int8_max_diff is not None and found.int8_max_diff < 0.05  # quantised weights: close, not equal


def test_the_loader_runs_without_torch_or_finegrain_automl(run_dir: Path, registry) -> None:
    directory = export_onnx(run_dir, registry=registry).directory
    script = f"""
import sys
sys.path.insert(0, {str(directory)!r})
import pandas as pd
from fg_automl_onnx import OnnxModel
frame = pd.DataFrame({{"a": [2.0, -2.0, 0.1], "b": [0.5, -0.5, 0.0], "extra": ["x", "y", "z"]}})
table = OnnxModel({str(directory)!r}).predict(frame)
assert list(table.columns) == ["label", "probability", "prediction"], table.columns
assert table["label"].tolist()[:2] == [1, 0], table
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "finegrain_automl", "pytorch_lightning"))
assert not heavy, heavy
print("ok")
"""
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=directory.parent)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_fg_automl_export_prints_sizes_and_the_check(run_dir: Path, registry, monkeypatch) -> None:
    from finegrain_automl import cli

    monkeypatch.setattr(cli, "_registry", lambda: registry)
    result = runner.invoke(cli.app, ["export", "--run", str(run_dir), "--quantize", "int8"],
                           env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"Wrote {run_dir / 'onnx'}" in text and "int8" in text
    assert "Checked on 40 test rows against torch: ONNX max |probability difference|" in text
    assert "0 labels differ" in text and "Test F1: torch" in text
    # Exporting again replaces the earlier export; a folder holding something else is refused.
    again = runner.invoke(cli.app, ["export", "--run", str(run_dir), "--no-check"])
    assert again.exit_code == 0, again.output
    other = run_dir / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    refused = runner.invoke(cli.app, ["export", "--run", str(run_dir), "--output", str(other), "--no-check"])
    assert refused.exit_code == 2 and "is not an fg-automl export" in " ".join(refused.output.split())
    assert (other / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize(("args", "fragment"), [
    (["--quantize", "int4"], "--quantize must be one of int8, got 'int4'"),
    (["--format", "tflite"], "--format must be onnx, got 'tflite'"),
])
def test_bad_export_options_are_one_line_errors(run_dir: Path, registry, monkeypatch, args, fragment) -> None:
    from finegrain_automl import cli

    monkeypatch.setattr(cli, "_registry", lambda: registry)
    result = runner.invoke(cli.app, ["export", "--run", str(run_dir), *args])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert fragment in " ".join(result.output.split())
    assert not (run_dir / "onnx").exists()


def test_a_task_without_an_onnx_export_says_so_and_an_earlier_export_is_kept(
    run_dir: Path, registry, monkeypatch
) -> None:
    from finegrain_automl import Task, cli

    earlier = export_onnx(run_dir, registry=registry).directory
    before = {p.name: p.read_bytes() for p in earlier.iterdir()}

    class _NoExport(_Toy):
        @hookimpl
        def fg_automl_tasks(self):
            task = ToyTask()
            task.onnx_network = lambda model: Task.onnx_network(task, model)  # the default: no export
            return [task]

    monkeypatch.setattr(cli, "_registry", lambda: make_registry(plugins=[("toy", _NoExport())], autoload=False))
    result = runner.invoke(cli.app, ["export", "--run", str(run_dir)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "task 'toy' does not export to ONNX (it defines no onnx_network)" in " ".join(result.output.split())
    assert {p.name: p.read_bytes() for p in earlier.iterdir()} == before  # the failed export lost nothing
    assert sorted(p.name for p in run_dir.iterdir() if "onnx" in p.name) == ["onnx"]  # nor left a partial one


def test_table_difference_compares_numbers_cell_by_cell_and_refuses_other_forms() -> None:
    import numpy as np
    import pandas as pd

    from finegrain_automl.export import table_difference

    boxes = pd.DataFrame({"boxes": [np.array([[1.0, 2.0, 3.0, 4.0]]), np.zeros((0, 4))],
                          "category": [["cat"], []], "score": [0.9, np.nan]})
    moved = boxes.copy()
    moved["boxes"] = [np.array([[1.0, 2.0, 3.0, 4.25]]), np.zeros((0, 4))]
    assert table_difference(boxes, boxes) == (0.0, 0)
    assert table_difference(boxes, moved) == (0.25, 1)  # beyond the tolerance: that row differs
    nudged = boxes.assign(score=[0.9 + 1e-6, np.nan])
    assert table_difference(boxes, nudged)[1] == 0 and table_difference(boxes, nudged)[0] < 1e-5
    renamed = boxes.assign(category=[["dog"], []])
    assert table_difference(boxes, renamed) == (0.0, 1)  # not a number: must be equal
    more = boxes.assign(boxes=[np.zeros((2, 4)), np.zeros((0, 4))])
    assert table_difference(boxes, more) == (0.0, 1)  # another number of boxes
    assert table_difference(boxes, boxes.assign(score=[0.9, 0.5]))[1] == 1  # a missing value filled in
    assert table_difference(boxes, boxes.drop(columns="score")) == (float("inf"), 2)


def test_a_task_module_that_imports_more_than_numpy_and_pandas_is_refused(run_dir: Path, tmp_path: Path) -> None:
    import dataclasses

    from finegrain_automl.export import ExportNotSupported, foreign_imports

    module = tmp_path / "needs_torch.py"
    module.write_text("import json\nimport numpy as np\nimport torch\nfrom . import helpers\n")
    assert foreign_imports(module) == {"torch", "."}

    class _Heavy(_Toy):
        @hookimpl
        def fg_automl_tasks(self):
            task = ToyTask()
            task.onnx_network = lambda model: dataclasses.replace(ToyTask.onnx_network(task, model), preprocess=module)
            return [task]

    registry = make_registry(plugins=[("toy", _Heavy())], autoload=False)
    with pytest.raises(ExportNotSupported, match=r"needs_torch.py, the task's module for the export, imports \., "
                                                   r"torch; it may import only numpy, pandas"):
        export_onnx(run_dir, registry=registry)
