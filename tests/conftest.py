"""Shared test set-up: quiet, loopback-only Ray; no plugin autoload surprises."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Before anything imports ray: no usage statistics, local instances on 127.0.0.1.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")


@pytest.fixture
def toy_run(tmp_path: Path):
    """Makes a run directory without a search: ``run.json`` and a linear
    ``model.pt`` for a toy-like task whose probability is ``sigmoid(a)``
    (label 1 where column ``a`` is 0 or more)."""

    def make(task: str = "toy", *, options: dict | None = None) -> Path:
        import torch

        from finegrain_automl.results import RUN_FILE, save_model

        run_dir = tmp_path / f"{task}-run"
        run_dir.mkdir()
        linear = torch.nn.Linear(2, 1)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor([[1.0, 0.0]]))
            linear.bias.zero_()
        save_model(run_dir, task_name=task, state={"family": "linear", "params": {}, "columns": ["a", "b"],
                                                   "weights": linear.state_dict()})
        data = {"target": "label", "options": {"sep": ","} if options is None else options}
        (run_dir / RUN_FILE).write_text(json.dumps({"task": task, "data": data}))
        return run_dir

    return make
