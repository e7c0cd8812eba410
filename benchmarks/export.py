"""Size, speed and test F1 of each task's exported winner: torch against ONNX and ONNX int8.

For each run directory given (or, with ``--search TASK ...``, a default
search of each task run first, with ``--time-budget`` seconds of trials), it
exports the final model (``fg-automl export --format onnx --quantize
int8``) and prints, side by side in one process on one CPU thread:

- size: ``model.pt``, the ONNX networks, the int8 networks;
- rows per second at batch 1 (one row per call, preprocessing included, as
  a service answering single requests) and at batch 1024, for torch (the
  task's own ``predict_proba``), ONNX and ONNX int8 (the export's loader);
- test F1 of each, with the largest probability difference to torch.

Targets (issue 14): int8 at least 3x smaller than ``model.pt``, ONNX at
least as fast as torch at batch 1, int8's test F1 within 0.005 of torch's.

Usage::

    .venv/bin/python benchmarks/export.py --run fg-runs/fraud-... [--run ...]
    .venv/bin/python benchmarks/export.py --search fraud disease_risk text --time-budget 240

Not a test: timings vary with the machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
warnings.filterwarnings("ignore")

#: Single-row calls timed per runner (after 20 untimed ones), and the large batch.
SINGLE_ROWS, BATCH = 300, 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, action="append", default=[], help="a finished run directory")
    parser.add_argument("--search", nargs="*", default=[], help="tasks whose default search to run first")
    parser.add_argument("--time-budget", type=float, default=None, help="seconds of trials of each search")
    parser.add_argument("--output", type=Path, default=None, help="where searches write (default: a temp folder)")
    args = parser.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table

    from finegrain_automl.plugins import make_registry

    torch.set_num_threads(1)
    console, registry = Console(), make_registry()
    runs = list(args.run)
    output = args.output or Path(tempfile.mkdtemp(prefix="fg-export-bench-"))
    for task in args.search:
        console.print(f"[bold]default search of {task}[/] ...")
        runs.append(_search(registry, task, output=output, time_budget=args.time_budget))
    table = Table(title=f"Exported winners: torch, ONNX and ONNX int8 on 1 CPU thread ({os.cpu_count()} CPUs)")
    for column in ("task", "model", "MB", "model.pt / MB", "rows/s, 1", "rows/s, 1024", "test F1",
                   "max diff vs torch"):
        table.add_column(column, justify="right")
    for run in runs:
        try:
            measured = _measure(run, registry, console)
        except Exception as exc:  # noqa: BLE001 - one task's failure must not hide the others' figures
            console.print(f"[red]{run}: {type(exc).__name__}: {exc}[/]")
            continue
        for row in measured:
            table.add_row(*row)
            console.print(" | ".join(row), highlight=False)
    console.print(table)


def _search(registry, task: str, *, output: Path, time_budget: float | None) -> Path:
    import dataclasses

    from finegrain_automl.api import DataOptions, prepare_search, run_prepared_search
    from finegrain_automl.search import SearchSettings

    settings = SearchSettings(dashboard=False)
    if time_budget is not None:
        settings = dataclasses.replace(settings, time_budget_s=time_budget)
    else:
        settings = dataclasses.replace(settings, time_budget_s=registry.task(task).time_budget_s)
    prepared = prepare_search(registry, task_name=task, settings=settings, data=DataOptions())
    return Path(run_prepared_search(prepared, registry, output=output).run_dir)


def _measure(run_dir: Path, registry, console) -> list[tuple[str, ...]]:
    import numpy as np

    from finegrain_automl.api import prepare_recorded_search
    from finegrain_automl.export import export_onnx, table_difference
    from finegrain_automl.export.loader import OnnxModel
    from finegrain_automl.record import RunRecord
    from finegrain_automl.results import RUN_FILE, load_fitted_model
    from finegrain_automl.search import SearchSettings

    import json

    record = RunRecord.from_dict(json.loads((run_dir / RUN_FILE).read_text()))
    known = set(SearchSettings.__dataclass_fields__)
    settings = SearchSettings(**{k: v for k, v in record.settings.items() if k in known})
    prepared = prepare_recorded_search(registry, run_dir=run_dir, record=record, settings=settings,
                                       command="benchmarks/export.py")
    task, test = prepared.task, prepared.data.take(prepared.splits.test)
    model = load_fitted_model(run_dir, task=task, families=registry.families[task.name])
    console.print(f"[bold]{task.name}[/] ({run_dir.name}): exporting ...")
    result = export_onnx(run_dir, quantize="int8", registry=registry, output=run_dir / "onnx-bench")
    onnx, int8 = OnnxModel(result.directory, threads=1), OnnxModel(result.directory, int8=True, threads=1)
    rows_to_predict = task.prediction_rows(test)
    classifier = onnx.classifier
    reference = model.predict_proba(rows_to_predict) if classifier else model.predict(rows_to_predict)
    name = "ensemble" if getattr(model, "members", None) else str(record.best.config.get("model"))
    sizes = {"torch": result.model_pt_bytes, "ONNX": result.onnx_bytes, "ONNX int8": result.int8_bytes}
    runners = {"torch": model, "ONNX": onnx, "ONNX int8": int8}
    rows = []
    for label, runner in runners.items():
        single, batched = _rows_per_second(runner, rows_to_predict, classifier=classifier)
        predictions = runner.predict(rows_to_predict)
        f1 = float(task.metrics(test, predictions)["f1"])
        if classifier:
            shown = f"{np.abs(np.asarray(runner.predict_proba(rows_to_predict)) - reference).max():.1e}"
        else:  # prediction tables, row by row: the largest difference of a number, rows that differ
            difference, differing = table_difference(reference, predictions)
            shown = f"{difference:.1e}, {differing} of {len(predictions)} rows differ"
        rows.append((
            task.name, f"{name}: {label}", f"{sizes[label] / 1e6:.3f}",
            f"{result.model_pt_bytes / sizes[label]:.1f}", f"{single:,.0f}", f"{batched:,.0f}", f"{f1:.4f}",
            "-" if label == "torch" else shown,
        ))
    return rows


def _rows_per_second(runner, features, *, classifier: bool) -> tuple[float, float]:
    """Rows per second one row at a time, and in batches of :data:`BATCH` rows
    (``predict_proba`` of a classifier, else ``predict``)."""
    call = runner.predict_proba if classifier else runner.predict
    rows = [features.iloc[[i % len(features)]] for i in range(SINGLE_ROWS + 20)]
    for row in rows[:20]:
        call(row)
    started = time.perf_counter()
    for row in rows[20:]:
        call(row)
    single = SINGLE_ROWS / (time.perf_counter() - started)
    batch = features.sample(n=BATCH, replace=len(features) < BATCH, random_state=0)
    call(batch)
    repeats, started = 5, time.perf_counter()
    for _ in range(repeats):
        call(batch)
    return single, repeats * BATCH / (time.perf_counter() - started)


if __name__ == "__main__":
    main()
