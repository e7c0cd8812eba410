"""Scale of fg-automl's search on a simulated GPU cluster.

Starts a cluster of N Ray nodes on this machine with ``ray.cluster_utils``
(each node declares ``--gpus-per-node`` units of a custom resource,
``sim_gpu``, standing in for GPUs: a real ``GPU`` count would make Ray set
``CUDA_VISIBLE_DEVICES``), and runs a few hundred trials through the real
:func:`finegrain_automl.search.run_search` (Optuna TPE through Ray's
OptunaSearch on the run's study, the fold-aware searcher, ASHA). A trial's
work is a sleep per fold; its F1 is a fixed function of the configuration.
Two patches of this benchmark, undone afterwards: each trial also asks for
one ``sim_gpu`` (run_search asks for CPUs and GPUs only), and the searcher
and its study are timed.

Prints trials per minute, how busy the simulated GPUs were (measured from
the start and end of every fold's sleep, recorded by the workers), and the
searcher's time per call as the study grows, split into TPE, storage and
the rest; before the cluster, the same suggestions by Optuna alone
(``study.ask`` with the same sampler, 64 trials in flight) on SQLite as the
search opens it, SQLite in WAL mode, Optuna's journal file and in memory.
``--storage`` runs the search itself on one of those.

Usage::

    .venv/bin/python benchmarks/scale_sim.py --quick                 # 4 nodes, 40 trials
    .venv/bin/python benchmarks/scale_sim.py [--nodes 16] [--gpus-per-node 4] [--trials 300] [--sleep 2]
    .venv/bin/python benchmarks/scale_sim.py --alone "" --storage journal   # the cluster run only
    .venv/bin/python benchmarks/scale_sim.py --alone-only            # Optuna alone only, no cluster

Not a test: timings vary with the machine; all nodes share its cores, and
starting 64 trial workers on two cores takes minutes (Ray's worker
registration timeout is raised to 600 s for that).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import shutil
import signal
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import threading
import time
import warnings
import types
import zlib
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
warnings.filterwarnings("ignore", message=".*LeafSpec.*")
# Ray warns when the define-by-run space takes over 1 s; this benchmark times it itself.
warnings.filterwarnings("ignore", message="Define-by-run function passed")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from finegrain_automl.data import Dataset, DataSource  # noqa: E402
from finegrain_automl.space import Space  # noqa: E402
from finegrain_automl.task import FitContext, FittedModel, ModelFamily, Task  # noqa: E402

#: The custom resource that plays the GPU.
SIM_RESOURCE = "sim_gpu"

#: A space shaped like the built-in fraud space (a training block, a
#: conditional imbalance block and three architectures with their own
#: parameters), so that TPE models as many dimensions as in a real search.
SPACE: dict[str, Any] = {
    "epochs": {"int": [8, 40]},
    "batch_size": {"choice": [256, 512, 1024]},
    "lr": {"loguniform": [3.0e-4, 1.0e-2]},
    "weight_decay": {"loguniform": [1.0e-6, 1.0e-3]},
    "preprocessing": {"choice": ["standard", "quantile", "robust"]},
    "imbalance": {"choice": {"none": None, "class_weight": {"power": {"uniform": [0.25, 1.0]}},
                             "focal": {"gamma": {"uniform": [0.5, 3.0]}}}},
    "model": {"choice": {
        "linear": {"embedding_dim": {"choice": [2, 4, 8]}},
        "resmlp": {"hidden": {"int": [32, 256], "log": True}, "depth": {"int": [1, 3]},
                   "dropout": {"uniform": [0.0, 0.3]}, "activation": {"choice": ["relu", "gelu", "silu"]},
                   "n_bins": {"choice": [8, 16, 32, 48]}},
        "realmlp": {"width": {"choice": [128, 256]}, "depth": {"int": [2, 3]},
                    "dropout": {"uniform": [0.0, 0.3]}},
    }},
}


# --- the simulated task: a fit is a sleep

def _build_linear(spec: Any, *, embedding_dim: int = 4) -> dict[str, Any]:
    return {"embedding_dim": embedding_dim}


def _build_resmlp(spec: Any, *, hidden: int = 64, depth: int = 2, dropout: float = 0.1,
                  activation: str = "relu", n_bins: int = 16) -> dict[str, Any]:
    return {"hidden": hidden, "depth": depth, "dropout": dropout, "activation": activation, "n_bins": n_bins}


def _build_realmlp(spec: Any, *, width: int = 128, depth: int = 2, dropout: float = 0.1) -> dict[str, Any]:
    return {"width": width, "depth": depth, "dropout": dropout}


def synthetic_f1(config: Mapping[str, Any], fold: int) -> float:
    """A fixed F1 for ``config`` on ``fold``: best near lr 2e-3 with resmlp; fold noise of +-0.02."""
    score = 0.55 + 0.2 * math.exp(-((math.log10(float(config["lr"])) + 2.7) ** 2))
    score += {"linear": 0.0, "resmlp": 0.08, "realmlp": 0.05}[config["model"]]
    score += 0.03 * (config.get("preprocessing") == "quantile") - 0.02 * (config.get("imbalance") == "none")
    noise = zlib.crc32(repr((sorted(config.items()), fold)).encode()) / 2**32
    return float(min(1.0, score + 0.04 * (noise - 0.5)))


class _SleptModel(FittedModel):
    def __init__(self, config: Mapping[str, Any], fold: int) -> None:
        self.config, self.fold = dict(config), fold

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"label": np.zeros(len(features), int)}, index=features.index)

    def to_state(self) -> dict[str, Any]:
        return {"config": self.config}


class SleepTask(Task):
    """A task whose fit sleeps ``sleep_s`` and whose F1 is :func:`synthetic_f1`.

    Each fit appends ``[trial_id, fold, start, end, pid]`` (wall clock) to a
    file of its worker under ``timeline``, so the driver can tell how busy
    the simulated GPUs were. All nodes run on this machine: one clock.
    """

    name = "sleep"
    description = "Simulated trials: each fold sleeps."
    hyperparameters = frozenset({"epochs", "batch_size", "lr", "weight_decay", "preprocessing", "imbalance"})

    def __init__(self, *, sleep_s: float, timeline: str) -> None:
        self.sleep_s, self.timeline = sleep_s, timeline

    def model_families(self) -> Mapping[str, ModelFamily]:
        return {
            "linear": ModelFamily(name="linear", build=_build_linear, complexity=0),
            "resmlp": ModelFamily(name="resmlp", build=_build_resmlp, complexity=2),
            "realmlp": ModelFamily(name="realmlp", build=_build_realmlp, complexity=2),
        }

    def default_space(self) -> Space:
        return Space.from_dict(SPACE, source="scale_sim space")

    def load_default(self, *, seed: int) -> Dataset:
        return _dataset(100)

    def read_file(self, source: DataSource) -> Dataset:
        raise NotImplementedError

    def fit(self, *, config: Mapping[str, Any], family: ModelFamily, family_params: Mapping[str, Any],
            train: Dataset, context: FitContext) -> FittedModel:
        from ray import tune

        family.build(None, **family_params)
        fold = context.seed  # the payload's seed is 0: FitContext.seed is the fold
        start = time.time()
        time.sleep(self.sleep_s)
        end = time.time()
        line = json.dumps([tune.get_context().get_trial_id(), fold, start, end, os.getpid()]) + "\n"
        with open(os.path.join(self.timeline, f"{os.getpid()}.jsonl"), "a") as stream:
            stream.write(line)
        return _SleptModel(config, fold)

    def evaluate(self, model: FittedModel, data: Dataset) -> dict[str, float]:
        assert isinstance(model, _SleptModel)
        return {"f1": synthetic_f1(model.config, model.fold)}

    def metrics(self, data: Dataset, predictions: pd.DataFrame) -> dict[str, float]:
        raise NotImplementedError  # evaluate() scores without predictions

    def load_model(self, state: Mapping[str, Any], *, families: Mapping[str, ModelFamily]) -> FittedModel:
        return _SleptModel(state["config"], 0)


def _dataset(rows: int) -> Dataset:
    return Dataset(features=pd.DataFrame({"x": np.arange(rows, dtype=float)}), target=np.arange(rows) % 2)


def _folds(rows: int, k: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    parts = np.array_split(np.arange(rows), k)
    return tuple((np.concatenate([p for j, p in enumerate(parts) if j != i]), parts[i]) for i in range(k))


# --- timing of the searcher

@dataclass
class Call:
    """One timed searcher call: what, with how many trials in the study, and its parts (seconds)."""

    phase: str
    n_trials: int
    total: float
    at: float = 0.0  # wall clock (time.time()) at the start
    sampler: float = 0.0
    storage: float = 0.0
    sqlite: float = 0.0
    storage_in_sampler: float = 0.0


@dataclass
class Meter:
    """Times searcher calls and, inside them, the sampler's and the storage's methods."""

    calls: list[Call] = field(default_factory=list)
    #: Seconds and calls by (phase, kind, method), outermost calls of each kind only.
    by_method: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    _current: Call | None = None
    _depth: dict[str, int] = field(default_factory=lambda: {"sampler": 0, "storage": 0, "sqlite": 0})

    @contextlib.contextmanager
    def call(self, phase: str, n_trials: int) -> Iterator[None]:
        if self._current is not None:  # nested (e.g. FoldAware -> OptunaSearch): the outer one counts
            yield
            return
        self._current = current = Call(phase=phase, n_trials=n_trials, total=0.0, at=time.time())
        started = time.perf_counter()
        try:
            yield
        finally:
            current.total = time.perf_counter() - started
            self.calls.append(current)
            self._current = None

    def inner(self, kind: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        current = self._current
        if current is None or self._depth[kind]:
            return method(*args, **kwargs)
        self._depth[kind] += 1
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - started
            self._depth[kind] -= 1
            setattr(current, kind, getattr(current, kind) + elapsed)
            entry = self.by_method.setdefault((current.phase, kind, method.__name__), [0.0, 0])
            entry[0] += elapsed
            entry[1] += 1
            if kind == "storage" and self._depth["sampler"]:
                current.storage_in_sampler += elapsed


METER = Meter()
_SAMPLER_METHODS = ("infer_relative_search_space", "sample_relative", "sample_independent", "before_trial",
                    "after_trial")


def _methods(cls: type, *, private: bool) -> tuple[str, ...]:
    """Names of the plain functions of ``cls`` (and its bases); with ``private``, ``_name`` ones too."""
    return tuple(
        name for name in dir(cls)
        if not name.startswith("__") and (private or not name.startswith("_"))
        and isinstance(inspect.getattr_static(cls, name), types.FunctionType)
    )


def _timed_class(base: type, kind: str, names: tuple[str, ...]) -> type:
    """A subclass of ``base`` whose ``names`` go through ``METER.inner(kind, ...)``; a module
    global, so that pickling an instance (Tune saves the searcher) finds it by name."""
    name = f"_Timed_{kind}_{base.__name__}"
    if name in globals():
        return globals()[name]

    def timed(method_name: str) -> Any:
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            return METER.inner(kind, getattr(base, method_name), self, *args, **kwargs)

        method.__name__ = method_name
        return method

    cls = type(name, (base,), {n: timed(n) for n in names})
    cls.__module__, cls.__qualname__ = __name__, name
    globals()[name] = cls
    return cls


def instrument_study(study: Any) -> None:
    """Routes the study's sampler and storage (the cache and, all its methods, the SQLite
    backend) through ``METER``."""
    sampler = study.sampler
    if type(sampler).__name__.startswith("_Timed_"):
        return
    methods = tuple(n for n in _SAMPLER_METHODS
                    if isinstance(inspect.getattr_static(type(sampler), n, None), types.FunctionType))
    sampler.__class__ = _timed_class(type(sampler), "sampler", methods)
    storage = study._storage
    backend = getattr(storage, "_backend", None)
    storage.__class__ = _timed_class(type(storage), "storage", _methods(type(storage), private=False))
    if backend is not None:
        backend.__class__ = _timed_class(type(backend), "sqlite", _methods(type(backend), private=True))


def timed_searcher_factory(original: Any) -> Any:
    """Wraps ``fold_aware_searcher`` so its class times every call Tune makes into it."""

    def factory(base: type, **kwargs: Any) -> type:
        searcher_cls = original(base, **kwargs)

        class Timed(searcher_cls):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, **kw)
                instrument_study(self._ot_study)

            def suggest(self, trial_id: str) -> Any:
                with METER.call("suggest", len(self._ot_trials)):
                    return super().suggest(trial_id)

            def on_trial_result(self, trial_id: str, result: dict) -> None:
                with METER.call("result", len(self._ot_trials)):
                    super().on_trial_result(trial_id, result)

            def on_trial_complete(self, trial_id: str, result: dict | None = None,
                                  error: bool = False) -> None:
                with METER.call("complete", len(self._ot_trials)):
                    super().on_trial_complete(trial_id, result=result, error=error)

            def save(self, checkpoint_path: str) -> None:
                with METER.call("save", len(self._ot_trials)):
                    super().save(checkpoint_path)

        Timed.__qualname__ = f"Timed{searcher_cls.__qualname__}"
        return Timed

    return factory


@contextlib.contextmanager
def simulated_cluster_hooks(*, sim_per_trial: float) -> Iterator[None]:
    """While open, ``run_search`` asks each trial for ``sim_per_trial`` ``sim_gpu`` on top of its
    CPUs, and its searcher is timed. Both are patches of this benchmark: run_search takes
    neither custom resources nor an instrumented searcher."""
    import ray.tune

    from finegrain_automl.search import _ray_optuna

    original_with_resources = ray.tune.with_resources
    original_factory = _ray_optuna.fold_aware_searcher

    def with_resources(trainable: Any, resources: Any) -> Any:
        if isinstance(resources, dict):
            resources = {**resources, SIM_RESOURCE: sim_per_trial}
        return original_with_resources(trainable, resources)

    ray.tune.with_resources = with_resources
    _ray_optuna.fold_aware_searcher = timed_searcher_factory(original_factory)
    try:
        yield
    finally:
        ray.tune.with_resources = original_with_resources
        _ray_optuna.fold_aware_searcher = original_factory


# --- SQLite in WAL mode (the fix this benchmark evaluates with --sqlite wal)

def _sqlite_pragmas(connection: Any, record: Any) -> None:
    """WAL journal and synchronous=NORMAL: a commit no longer waits for fsync (about 19 ms on
    this machine's disk, 0.03 ms in WAL/NORMAL); an application crash loses nothing, a power
    loss at most the last commits."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _wal_storage_class() -> type:
    import optuna
    import sqlalchemy

    class WalRDBStorage(optuna.storages.RDBStorage):
        def __init__(self, url: str, *args: Any, **kwargs: Any) -> None:
            super().__init__(url, *args, **kwargs)
            self._listen()

        def _listen(self) -> None:
            if self.url.startswith("sqlite"):
                sqlalchemy.event.listen(self.engine, "connect", _sqlite_pragmas)
                self.engine.dispose()  # the connections made in __init__ had no pragmas

        def __setstate__(self, state: dict[str, Any]) -> None:
            super().__setstate__(state)
            self._listen()

    WalRDBStorage.__module__ = __name__
    globals()["WalRDBStorage"] = WalRDBStorage
    return WalRDBStorage


def _journal_storage(url: str) -> Any:
    """Optuna's journal storage (an append-only log file beside where the SQLite file would be;
    reads come from its in-memory replica) instead of the SQLite ``url``."""
    import optuna

    path = url.removeprefix("sqlite:///").removesuffix(".db") + ".journal"
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))


class _JournalInstead:
    """Stands for ``optuna.storages.RDBStorage`` while patched: makes a journal storage."""

    def __new__(cls, url: str, *args: Any, **kwargs: Any) -> Any:
        return _journal_storage(url)


def make_storage(kind: str, directory: Path) -> Any:
    """The study storage of ``kind``: ``default`` (SQLite as run_search opens it), ``wal``,
    ``journal`` or ``memory``."""
    import optuna

    url = f"sqlite:///{directory / f'study-{kind}.db'}"
    if kind == "memory":
        return optuna.storages.InMemoryStorage()
    if kind == "journal":
        return _journal_storage(url)
    return _wal_storage_class()(url) if kind == "wal" else optuna.storages.RDBStorage(url)


@contextlib.contextmanager
def storage_mode(kind: str) -> Iterator[None]:
    """With ``wal`` or ``journal``, the study storage run_search opens is SQLite in WAL mode, or
    a journal file. Patches ``finegrain_automl.search._study.storage(run_dir)`` where the core
    has it, else ``optuna.storages.RDBStorage`` (which run_search called directly before)."""
    import optuna.storages

    if kind == "default":
        yield
        return
    try:
        from finegrain_automl.search import _study
    except ImportError:
        _study = None
    if _study is not None and hasattr(_study, "storage"):
        original = _study.storage

        def storage(run_dir: Path) -> Any:
            if kind == "journal":
                return _journal_storage(f"sqlite:///{Path(run_dir) / 'study.db'}")
            made = original(run_dir)
            made.__class__ = _wal_storage_class()
            made._listen()
            return made

        _study.storage = storage
        try:
            yield
        finally:
            _study.storage = original
        return
    original_class = optuna.storages.RDBStorage
    optuna.storages.RDBStorage = _wal_storage_class() if kind == "wal" else _JournalInstead
    try:
        yield
    finally:
        optuna.storages.RDBStorage = original_class


# --- Optuna alone

def optuna_alone(*, storage: str, trials: int, concurrency: int, folds: int, first_rung: int, seed: int,
                 sample: Any, run_dir: Path) -> None:
    """The same suggestions without Ray: ``study.ask`` + ``sample(trial)`` (the space), with
    ``concurrency`` trials in flight (the constant liar sees them), each reporting one value
    per fold and told COMPLETE, or PRUNED at the first rung when below the running median."""
    import optuna

    from finegrain_automl.search import searchers

    sampler = searchers.get("tpe").make_sampler(seed=seed, trials=trials, concurrency=concurrency)
    backend = make_storage(storage, run_dir)
    study = optuna.create_study(study_name="alone", storage=backend, sampler=sampler, direction="maximize",
                                pruner=optuna.pruners.NopPruner())
    instrument_study(study)
    running: deque[tuple[Any, dict[str, Any]]] = deque()
    finished: list[float] = []
    asked = [0]  # trials in the study

    def finish() -> None:
        trial, config = running.popleft()
        scores = [synthetic_f1(config, fold) for fold in range(folds)]
        stop = first_rung if finished and np.mean(scores[:first_rung]) < np.median(finished) else folds
        for step in range(stop):
            with METER.call(f"{storage}:result", asked[0]):
                trial.report(float(np.mean(scores[: step + 1])), step + 1)
        with METER.call(f"{storage}:complete", asked[0]):
            if stop < folds:
                study.tell(trial, None, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, float(np.mean(scores)))
        finished.append(float(np.mean(scores[:stop])))

    for i in range(trials):
        if len(running) >= concurrency:
            finish()
        with METER.call(f"{storage}:suggest", i):
            trial = study.ask()
            config = sample(trial)
        asked[0] += 1
        running.append((trial, config))
    while running:
        finish()


# --- reading the timeline

def read_timeline(directory: Path) -> list[tuple[str, int, float, float, int]]:
    rows = []
    for path in directory.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            trial_id, fold, start, end, pid = json.loads(line)
            rows.append((trial_id, int(fold), float(start), float(end), int(pid)))
    return sorted(rows, key=lambda row: row[2])


def busy(intervals: list[tuple[float, float]], start: float, end: float, slots: int) -> float:
    """Slot-seconds of work inside [start, end] over slots x (end - start)."""
    if end <= start:
        return float("nan")
    work = sum(max(0.0, min(b, end) - max(a, start)) for a, b in intervals)
    return work / (slots * (end - start))


def gaps(rows: list[tuple[str, int, float, float, int]]) -> tuple[list[float], list[float]]:
    """Idle time of a worker between two folds of one trial, and between two trials."""
    by_pid: dict[int, list[tuple[str, int, float, float, int]]] = {}
    for row in rows:
        by_pid.setdefault(row[4], []).append(row)
    within, between = [], []
    for worker_rows in by_pid.values():
        worker_rows.sort(key=lambda row: row[2])
        for before, after in zip(worker_rows, worker_rows[1:]):
            (within if before[0] == after[0] else between).append(after[2] - before[3])
    return within, between


class MemoryWatch(threading.Thread):
    """Lowest MemAvailable seen, sampled every second."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.lowest_mib = float("inf")
        self.stop = threading.Event()

    @staticmethod
    def available_mib() -> float:
        with open("/proc/meminfo") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.lowest_mib = min(self.lowest_mib, self.available_mib())


def cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    with open("/proc/stat") as stream:
        fields = [float(x) for x in stream.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


# --- main

@dataclass
class Outcome:
    """What a search on the simulated cluster measured."""

    records: list[Any]
    rows: list[tuple[str, int, float, float, int]]
    nodes_up: int
    slots: int
    cluster_start_s: float
    idle_cores: float
    search_s: float
    epoch0: float
    epoch1: float
    driver_cpu: float
    machine_cpu: float
    lowest_mib: float


def run_cluster(args: argparse.Namespace, *, console: Any, run_dir: Path, cpus_per_node: int) -> Outcome:
    import ray
    from ray.cluster_utils import Cluster

    from finegrain_automl.search import SearchProgress, ray_session, run_search, secure_auth_token
    from finegrain_automl.trial import TrialPayload

    memory = MemoryWatch()
    memory.start()
    secure_auth_token(create=True)
    timeline = run_dir / "timeline"
    timeline.mkdir()
    started = time.perf_counter()
    cluster = Cluster(initialize_head=True, shutdown_at_exit=True, head_node_args={
        "num_cpus": 0, "node_ip_address": "127.0.0.1", "include_dashboard": False})
    nodes_up = 0
    try:
        for i in range(args.nodes):
            try:
                cluster.add_node(num_cpus=cpus_per_node, num_gpus=0, node_ip_address="127.0.0.1",
                                 resources={SIM_RESOURCE: args.gpus_per_node})
            except Exception as exc:  # noqa: BLE001 - report how far it got
                console.print(f"[red]node {i + 1} did not start: {exc}[/]")
                break
            nodes_up += 1
        cluster_start_s = time.perf_counter() - started
        slots = nodes_up * args.gpus_per_node
        settings = search_settings(args, cpus_per_node=cpus_per_node, slots=slots)
        ray.init(address=cluster.address, log_to_driver=False, logging_level=logging.ERROR)
        signal.signal(signal.SIGTERM, _interrupt)  # Ray's own handler aborts: the cluster would stay up
        resources = ray.cluster_resources()
        console.print(f"cluster: {nodes_up} nodes up in {cluster_start_s:.0f} s; "
                      f"{resources.get('CPU', 0):g} CPU, "
                      f"{resources.get(SIM_RESOURCE, 0):g} {SIM_RESOURCE}; MemAvailable "
                      f"{memory.available_mib():.0f} MiB")
        busy0 = machine_busy_seconds()
        time.sleep(5.0)
        idle_cores = (machine_busy_seconds() - busy0) / 5.0
        console.print(f"idle cluster: {idle_cores:.2f} of {os.cpu_count()} cores busy "
                      "(5 s before the search); "
                      f"load average {os.getloadavg()[0]:.1f}")

        task = SleepTask(sleep_s=args.sleep, timeline=str(timeline))
        payload = TrialPayload(task=task, families=task.model_families(), data=_dataset(100),
                               folds=_folds(100, args.folds), seed=0)
        progress = SearchProgress(total=args.trials, folds=args.folds, time_budget_s=None)
        space = Space.from_dict(SPACE, source="scale_sim space")
        console.print(f"search: {args.trials} trials x {args.folds} folds x {args.sleep:g} s, "
                      f"{slots} concurrent, "
                      f"{args.searcher} + {settings.effective_scheduler}, study storage {args.storage!r} ...")
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
        cpu0, machine0 = cpu_seconds(), machine_busy_seconds()
        wall0, epoch0 = time.perf_counter(), time.time()
        with ray_session(settings), simulated_cluster_hooks(sim_per_trial=1.0), storage_mode(args.storage):
            if profiler:
                profiler.enable()
            try:
                records = run_search(payload=payload, define_by_run=space.define_by_run(), settings=settings,
                                     run_dir=run_dir, progress=progress)
            finally:
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(str(args.profile))
        search_s, epoch1 = time.perf_counter() - wall0, time.time()
        driver_cpu, machine_cpu = cpu_seconds() - cpu0, machine_busy_seconds() - machine0
    finally:
        memory.stop.set()
        ray.shutdown()
        cluster.shutdown()
    return Outcome(records=records, rows=read_timeline(timeline), nodes_up=nodes_up, slots=slots,
                   cluster_start_s=cluster_start_s, idle_cores=idle_cores, search_s=search_s,
                   epoch0=epoch0, epoch1=epoch1, driver_cpu=driver_cpu, machine_cpu=machine_cpu,
                   lowest_mib=memory.lowest_mib)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def search_settings(args: argparse.Namespace, *, cpus_per_node: int, slots: int) -> Any:
    from finegrain_automl.search import SearchSettings

    return SearchSettings(
        trials=args.trials, time_budget_s=None, folds=args.folds, repeats=1, seed=0,
        cpus_per_trial=cpus_per_node / args.gpus_per_node, gpus_per_trial=0.0, concurrency=slots,
        dashboard=False, searcher=args.searcher, scheduler=args.scheduler, ensemble=0,
    )


def report_cluster(out: Outcome, args: argparse.Namespace, *, console: Any, cpus_per_node: int,
                   load_start: float) -> None:
    from rich.table import Table

    from finegrain_automl.search import first_rung

    slots, records, rows = out.slots, out.records, out.rows
    settings = search_settings(args, cpus_per_node=cpus_per_node, slots=slots)
    statuses = {s: sum(r.status == s for r in records) for s in ("completed", "pruned", "failed")}
    table = Table(title="Settings", show_header=False)
    for key, value in [
        ("machine", f"{os.cpu_count()} cores, {MemoryWatch.available_mib() / 1024:.0f} GiB available now; "
                    f"load average at the start {load_start:.1f} (other work on the machine skews timings)"),
        ("cluster", f"ray.cluster_utils on 127.0.0.1: head (0 CPU) + {out.nodes_up} nodes x "
                    f"{cpus_per_node} CPU "
                    f"+ {args.gpus_per_node} '{SIM_RESOURCE}' (a custom resource simulating GPUs); up in "
                    f"{out.cluster_start_s:.0f} s; idle, it kept {out.idle_cores:.2f} cores busy"),
        ("trial", f"{settings.cpus_per_trial:g} CPU + 1 {SIM_RESOURCE}; {args.folds} folds, each a "
                  f"sleep of {args.sleep:g} s"),
        ("search", f"run_search: {args.searcher} (OptunaSearch + fold-aware, "
                   f"study storage {args.storage!r}), "
                   f"{settings.effective_scheduler} (first rung {first_rung(settings)} folds), reuse_actors, "
                   f"max_concurrent_trials {slots}"),
        ("trials", f"{len(records)} ({statuses['completed']} completed, {statuses['pruned']} pruned, "
                   f"{statuses['failed']} failed); {len(rows)} folds run"),
        ("memory", f"lowest MemAvailable during the run {out.lowest_mib:.0f} MiB"),
    ]:
        table.add_row(key, value)
    console.print(table)
    if not rows:
        console.print("[red]no fold ran: nothing to measure[/]")
        return

    intervals = [(row[2], row[3]) for row in rows]
    first_start: dict[str, float] = {}
    for row in rows:
        first_start.setdefault(row[0], row[2])
    starts = sorted(first_start.values())
    phase_start, phase_end = starts[0], max(b for _, b in intervals)
    phase_s = phase_end - phase_start
    work_s = sum(b - a for a, b in intervals)
    steady = (starts[slots - 1], starts[-1]) if len(starts) > slots else (phase_start, phase_start)
    held_s = sum(r.seconds or 0.0 for r in records)
    within, between = gaps(rows)
    folds_per_trial = len(rows) / len(first_start)
    steady_busy = busy(intervals, *steady, slots)

    table = Table(title=f"Throughput and busy {SIM_RESOURCE} ({slots} slots)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in [
        ("run_search wall", f"{out.search_s:.1f} s"),
        ("  run_search start -> first fold (Tune start, trial actors start)",
         f"{phase_start - out.epoch0:.1f} s"),
        (f"  ramp: first fold -> {slots}th trial's first fold", f"{steady[0] - phase_start:.1f} s"),
        (f"  steady: {slots}th trial start -> last trial start", f"{steady[1] - steady[0]:.1f} s"),
        ("  tail: last trial start -> last fold end", f"{phase_end - starts[-1]:.1f} s"),
        ("  last fold end -> run_search returns", f"{out.epoch1 - phase_end:.1f} s"),
        ("trials per minute: over run_search wall / first fold -> last fold",
         f"{len(records) / out.search_s * 60:.0f} / {len(first_start) / phase_s * 60:.0f}"),
        ("trials per minute if every slot were always busy",
         f"{slots * 60 / (folds_per_trial * args.sleep):.0f}"),
        ("busy: fold work / (slots x run_search wall)", f"{work_s / (slots * out.search_s):.1%}"),
        ("busy: first fold -> last fold", f"{busy(intervals, phase_start, phase_end, slots):.1%}"),
        ("busy: steady state", f"{steady_busy:.1%}"),
        ("held by trials: Tune time_total_s / (slots x first -> last fold)",
         f"{held_s / (slots * phase_s):.1%}"),
        ("worker idle between two folds of a trial: mean / p95 / max", _spread(within)),
        ("worker idle between two trials (reused actor): mean / p95 / max", _spread(between)),
        ("driver process CPU / run_search wall", f"{out.driver_cpu / out.search_s:.0%} of one core"),
        ("machine CPU busy / run_search wall",
         f"{out.machine_cpu / out.search_s:.2f} of {os.cpu_count()} cores"),
    ]:
        table.add_row(key, value)
    console.print(table)
    console.print(f"target: {slots} concurrent trials at least {args.target:.0%} busy in steady state: "
                  + ("[green]met[/]" if steady_busy >= args.target else "[red]not met[/]")
                  + f" ({steady_busy:.1%})")

    in_steady = sum(max(0.0, min(c.at + c.total, steady[1]) - max(c.at, steady[0])) for c in METER.calls
                    if ":" not in c.phase)
    console.print(f"searcher calls took {in_steady / max(1e-9, steady[1] - steady[0]):.0%} of the driver's "
                  "time in steady state")
    console.print(_ray_searcher_table(args.bucket, args.trials))
    totals = {phase: sum(c.total for c in METER.calls if c.phase == phase)
              for phase in ("suggest", "result", "complete", "save")}
    for phase in ("suggest", "result", "complete"):
        n = max(1, sum(c.phase == phase for c in METER.calls))
        top = sorted(((v[0], v[1], k[2]) for k, v in METER.by_method.items() if k[:2] == (phase, "sqlite")),
                     reverse=True)[:3]
        if top:
            console.print(f"storage backend in {phase}: " + "; ".join(
                f"{name} {seconds / n * 1000:.0f} ms per call ({count / n:.1f}x)"
                for seconds, count, name in top))
    console.print("searcher time on the driver: " + ", ".join(f"{k} {v:.1f} s" for k, v in totals.items())
                  + f"; {sum(totals.values()) / out.search_s:.0%} of run_search wall, "
                  f"{sum(totals.values()) / len(records) * 1000:.0f} ms per trial")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 nodes, 40 trials (a check of the script)")
    parser.add_argument("--nodes", type=int, default=16)
    parser.add_argument("--gpus-per-node", type=int, default=4, help=f"'{SIM_RESOURCE}' units per node")
    parser.add_argument("--cpus-per-node", type=int, default=None, help="default: --gpus-per-node")
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--sleep", type=float, default=2.0, help="seconds of 'GPU work' per fold")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--bucket", type=int, default=50, help="trials per row of the searcher tables")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--searcher", default="tpe")
    parser.add_argument("--scheduler", default="asha")
    parser.add_argument("--storage", choices=("default", "wal", "journal"), default="default",
                        help="the study as run_search opens it (SQLite), SQLite in WAL mode with "
                             "synchronous=NORMAL, or Optuna's journal file")
    parser.add_argument("--alone", default="default,wal,journal,memory",
                        help="storages of the Optuna-alone runs, comma-separated; '' for none")
    parser.add_argument("--alone-only", action="store_true", help="only the Optuna-alone runs, no cluster")
    parser.add_argument("--profile", type=Path, default=None, help="write a cProfile of the driver here")
    parser.add_argument("--target", type=float, default=0.95, help="busy fraction to meet")
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.trials, args.bucket = 4, 40, 10
    cpus_per_node = args.cpus_per_node or args.gpus_per_node
    load_start = os.getloadavg()[0]
    slots = args.nodes * args.gpus_per_node

    from finegrain_automl.search import _configure_environment

    _configure_environment(local=True)
    # 64 workers starting at once on a few shared cores take minutes to register (default: 60 s).
    os.environ.setdefault("RAY_worker_register_timeout_seconds", "600")
    import optuna
    from rich.console import Console

    from finegrain_automl.search import first_rung

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    console = Console(width=160)
    rung = first_rung(search_settings(args, cpus_per_node=cpus_per_node, slots=slots))
    kinds = [kind for kind in args.alone.split(",") if kind]
    with tempfile.TemporaryDirectory(prefix="fg-scale-sim-") as tmp:
        # Optuna alone first, before any Ray process competes for the cores.
        for kind in kinds:
            console.print(f"Optuna alone ({kind}): {args.trials} trials, {slots} in flight ...")
            started = time.perf_counter()
            optuna_alone(storage=kind, trials=args.trials, concurrency=slots, folds=args.folds,
                         first_rung=rung, seed=args.seed, sample=Space.from_dict(SPACE).sample,
                         run_dir=Path(tmp))
            console.print(f"  {time.perf_counter() - started:.1f} s")
        if kinds:
            console.print(_alone_table(args.bucket, args.trials, kinds, slots))
        if args.alone_only:
            return
        # The cluster's files, and the address file cluster_utils writes, in a folder of its own
        # (set before ray is imported): in /tmp/ray, any ray.init() on this machine would join
        # this cluster while it runs.
        ray_tmp = tempfile.mkdtemp(prefix="fgss-")
        os.environ["RAY_TMPDIR"] = ray_tmp
        try:
            outcome = run_cluster(args, console=console, run_dir=Path(tmp), cpus_per_node=cpus_per_node)
        finally:
            shutil.rmtree(ray_tmp, ignore_errors=True)
    report_cluster(outcome, args, console=console, cpus_per_node=cpus_per_node, load_start=load_start)


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    values = sorted(values)
    return (f"{statistics.mean(values) * 1000:.0f} / {values[int(0.95 * (len(values) - 1))] * 1000:.0f} / "
            f"{values[-1] * 1000:.0f} ms (n={len(values)})")


def _pick(phase: str, low: int, high: int) -> list[Call]:
    return [c for c in METER.calls if c.phase == phase and low <= c.n_trials < high]


def _ms(values: list[float], how: Any = statistics.mean) -> str:
    return f"{how(values) * 1000:.1f}" if values else "-"


def _tpe(call: Call) -> float:
    return call.sampler - call.storage_in_sampler


def _ray_searcher_table(bucket: int, trials: int) -> Any:
    from rich.table import Table

    table = Table(title="Ray's OptunaSearch on the driver: ms per call, by trials already in the study")
    for column in ("trials", "suggest mean", "max", "of it TPE", "storage", "of it backend", "Ray+other",
                   "on_trial_result mean", "on_trial_complete mean", "save mean"):
        table.add_column(column, justify="right")
    for low in range(0, trials, bucket):
        calls = _pick("suggest", low, low + bucket)
        table.add_row(
            f"{low}-{low + bucket - 1}", _ms([c.total for c in calls]), _ms([c.total for c in calls], max),
            _ms([_tpe(c) for c in calls]), _ms([c.storage for c in calls]), _ms([c.sqlite for c in calls]),
            _ms([c.total - _tpe(c) - c.storage for c in calls]),
            *(_ms([c.total for c in _pick(phase, low, low + bucket)])
              for phase in ("result", "complete", "save")),
        )
    return table


def _alone_table(bucket: int, trials: int, kinds: list[str], slots: int) -> Any:
    from rich.table import Table

    table = Table(title=f"Optuna alone (study.ask + the space, {slots} trials in flight): ms per ask "
                        "(mean / max; TPE = the sampler less its storage reads), and per report + tell")
    table.add_column("trials", justify="right")
    for kind in kinds:
        table.add_column(f"{kind}: ask", justify="right")
        table.add_column("TPE", justify="right")
        table.add_column("report+tell", justify="right")
    for low in range(0, trials, bucket):
        cells = [f"{low}-{low + bucket - 1}"]
        for kind in kinds:
            asks = _pick(f"{kind}:suggest", low, low + bucket)
            rest = _pick(f"{kind}:result", low, low + bucket) + _pick(f"{kind}:complete", low, low + bucket)
            per_trial = sum(c.total for c in rest) / max(1, len(_pick(f"{kind}:complete", low, low + bucket)))
            cells += [f"{_ms([c.total for c in asks])} / {_ms([c.total for c in asks], max)}",
                      _ms([_tpe(c) for c in asks]), f"{per_trial * 1000:.1f}" if rest else "-"]
        table.add_row(*cells)
    return table


if __name__ == "__main__":
    main()
