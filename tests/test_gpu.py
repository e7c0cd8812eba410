"""GPU requests and the accelerator a trial uses, checked on the CPU (no GPU needed)."""

from __future__ import annotations

import pytest
import ray

from finegrain_automl import UsageError
from finegrain_automl.search import SearchSettings, _check_resources, _concurrency, trial_resources
from finegrain_automl.trial import TrialError, worker_accelerator


@pytest.mark.parametrize(
    ("gpus", "expected"),
    [(0.0, {"cpu": 2.0}), (0.25, {"cpu": 2.0, "gpu": 0.25}), (0.5, {"cpu": 2.0, "gpu": 0.5}),
     (1.0, {"cpu": 2.0, "gpu": 1.0}), (2.0, {"cpu": 2.0, "gpu": 2.0})],
)
def test_each_trial_asks_ray_for_its_cpus_and_a_gpu_share(gpus: float, expected: dict) -> None:
    assert trial_resources(SearchSettings(cpus_per_trial=2, gpus_per_trial=gpus)) == expected


@pytest.mark.parametrize(
    ("cpus", "gpus", "per_trial_gpu", "slots"),
    [
        (16, 2, 0.5, 4),  # two trials share each GPU
        (16, 2, 0.25, 8),
        (4, 2, 0.25, 4),  # then CPUs bound it
        (16, 2, 1.0, 2),
        (16, 0, 0.0, 16),
    ],
)
def test_concurrency_follows_the_scarcer_of_cpus_and_gpu_shares(
    monkeypatch: pytest.MonkeyPatch, cpus: int, gpus: int, per_trial_gpu: float, slots: int
) -> None:
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": cpus, "GPU": gpus})
    assert _concurrency(SearchSettings(cpus_per_trial=1, gpus_per_trial=per_trial_gpu)) == slots


def _nodes(*resources: dict) -> list[dict]:
    return [{"Alive": True, "Resources": r} for r in resources]


def test_asking_for_a_gpu_where_no_node_has_one_fails_before_any_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray, "nodes", lambda: _nodes({"CPU": 8}, {"CPU": 8}))
    with pytest.raises(UsageError, match=r"--gpus-per-trial 0.5 asks for more GPUs than any Ray node has "
                                         r"\(largest: 0\)\. No Ray node has a GPU: drop --gpus-per-trial\."):
        _check_resources(SearchSettings(gpus_per_trial=0.5))


def test_a_gpu_share_fits_a_node_with_one_gpu_but_two_gpus_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray, "nodes", lambda: _nodes({"CPU": 8, "GPU": 1}, {"CPU": 8}))
    _check_resources(SearchSettings(gpus_per_trial=0.5))
    _check_resources(SearchSettings(gpus_per_trial=1))
    with pytest.raises(UsageError, match="Use --gpus-per-trial 1 or less"):
        _check_resources(SearchSettings(gpus_per_trial=2))


def test_the_accelerator_follows_the_gpu_ray_assigned() -> None:
    assert worker_accelerator(0.0, gpu_ids=[], cuda_available=False) == "cpu"
    assert worker_accelerator(0.0, gpu_ids=[0], cuda_available=True) == "cpu"  # not asked for: not used
    assert worker_accelerator(0.5, gpu_ids=[3], cuda_available=True) == "gpu"
    assert worker_accelerator(1.0, gpu_ids=[0], cuda_available=True) == "gpu"


def test_a_gpu_that_ray_did_not_assign_or_cuda_cannot_see_fails_the_trial_clearly() -> None:
    with pytest.raises(TrialError, match="asked for 0.5 GPU but Ray assigned it none"):
        worker_accelerator(0.5, gpu_ids=[], cuda_available=True)
    with pytest.raises(TrialError, match="Ray assigned GPU 1 but torch cannot use CUDA on this node"):
        worker_accelerator(1.0, gpu_ids=[1], cuda_available=False)


def test_the_payload_picks_the_gpu_only_when_trials_ask_for_one() -> None:
    from finegrain_automl.api import DataOptions, make_payload, prepare_search
    from finegrain_automl.plugins import make_registry
    from finegrain_automl.testing import ToyTask
    from finegrain_automl import hookimpl

    class Plugin:
        @hookimpl
        def fg_automl_tasks(self):
            return [ToyTask()]

    registry = make_registry(plugins=[("toy", Plugin())], autoload=False)
    cpu = prepare_search(registry, task_name="toy", settings=SearchSettings(cpus_per_trial=2), data=DataOptions())
    assert make_payload(cpu).accelerator == "cpu" and make_payload(cpu).num_threads == 2
    # On a cluster (--address) the driver need not have a GPU itself.
    gpu = prepare_search(registry, task_name="toy", data=DataOptions(),
                         settings=SearchSettings(gpus_per_trial=0.5, address="127.0.0.1:6379"))
    assert make_payload(gpu).accelerator == "gpu"
