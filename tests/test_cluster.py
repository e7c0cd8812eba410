"""A search on an existing two-node Ray cluster (both nodes on this machine, on
loopback, one CPU each): trials run on both nodes, and a trial whose node is
lost mid-trial runs again on the other one."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import optuna
import pytest

from finegrain_automl import hookimpl
from finegrain_automl.api import DataOptions, prepare_search, run_prepared_search
from finegrain_automl.plugins import make_registry
from finegrain_automl.search import SearchSettings
from finegrain_automl.search._study import open_study
from finegrain_automl.testing import ToyTask

pytestmark = pytest.mark.ray


class _SlowToyTask(ToyTask):
    """The toy task with fits slow enough (1.5 s) to lose a node under one."""

    name = "slow_toy"

    def fit(self, **kwargs: Any):
        time.sleep(1.5)
        return super().fit(**kwargs)


class _Plugin:
    @hookimpl
    def fg_automl_tasks(self):
        return [_SlowToyTask()]


@pytest.fixture
def cluster():
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        yield cluster, worker
    finally:
        cluster.shutdown()


def _study_trials(study_file: Path) -> list[Any]:
    try:
        return open_study(study_file.parent).trials
    except Exception:  # noqa: BLE001 - not created yet
        return []


def test_a_search_on_a_two_node_cluster_uses_both_and_survives_losing_one(cluster, tmp_path: Path) -> None:
    cluster, worker = cluster
    head_id, worker_id = cluster.head_node.node_id, worker.node_id
    output = tmp_path / "runs"
    lost: dict[str, Any] = {}
    stop = threading.Event()

    def lose_the_worker_node_under_a_trial() -> None:
        """Once a trial has run on the worker node and another is running there, remove that node."""
        while not stop.wait(0.2):
            trials = [t for f in output.glob("*/study.journal") for t in _study_trials(f)]
            done_there = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE
                          and worker_id in t.user_attrs.get("nodes", [])]
            running_there = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING
                             and t.user_attrs.get("nodes") == [worker_id]]
            if done_there and running_there:
                lost["trial"] = running_there[0].number
                cluster.remove_node(worker, allow_graceful=False)
                return

    watcher = threading.Thread(target=lose_the_worker_node_under_a_trial, daemon=True)
    watcher.start()
    registry = make_registry(plugins=[("slow", _Plugin())], autoload=False)
    settings = SearchSettings(trials=8, folds=2, repeats=2, time_budget_s=400, address=cluster.address,
                              searcher="random", early_stopping=False, ensemble=0)
    prepared = prepare_search(registry, task_name="slow_toy", settings=settings, data=DataOptions())
    try:
        summary = run_prepared_search(prepared, registry, output=output).to_dict()
    finally:
        stop.set()
        watcher.join(timeout=10)

    assert "trial" in lost, "no trial ran on the worker node while another had completed there"
    study = open_study(Path(summary['run_dir']))
    nodes = [t.user_attrs.get("nodes", []) for t in study.trials]
    assert any(n == [worker_id] for n in nodes) and any(n == [head_id] for n in nodes)  # both nodes ran trials
    retried = study.trials[lost["trial"]]
    # The trial whose node was lost ran again on the head (FailureConfig) and completed every fold.
    assert retried.user_attrs["nodes"] == [worker_id, head_id]
    assert retried.state == optuna.trial.TrialState.COMPLETE and retried.user_attrs["folds_done"] == 4
    assert len(retried.user_attrs["fold_f1"]) == 4
    assert summary["trials"]["completed"] == 8 and summary["trials"]["failed"] == 0
    assert summary["final"]["test_f1"] >= 0
