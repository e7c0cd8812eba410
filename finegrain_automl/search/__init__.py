"""The search: Ray Tune with Optuna's TPE as searcher and ASHA as scheduler.

Every trial cross-validates one configuration (:mod:`finegrain_automl.trial`)
and reports its running mean F1 after each fold; ASHA stops configurations
that trail their peers at the same fold; only trials with every fold done are
ranked. Trial workers are reused between trials (``reuse_actors=True``): a new
worker process costs seconds of start-up and imports on small machines.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from finegrain_automl.errors import FgAutomlError, UsageError
from finegrain_automl.search._study import ResumeState, prepare_resume
from finegrain_automl.task import DEFAULT_TIME_BUDGET_S
from finegrain_automl.trial import METRIC, TrialPayload, tune_trainable

__all__ = [
    "RayStartError",
    "ResumeState",
    "SearchProgress",
    "SearchSettings",
    "SearchTerminated",
    "TrialRecord",
    "prepare_resume",
    "ray_session",
    "run_search",
    "trial_resources",
]



@dataclass(frozen=True, kw_only=True)
class SearchSettings:
    """How a search runs. Every field is a CLI option of ``fg-automl search``."""

    trials: int = 40
    #: Seconds of trials; None: no limit. The CLI's default is the task's
    #: (:attr:`finegrain_automl.task.Task.time_budget_s`).
    time_budget_s: float | None = DEFAULT_TIME_BUDGET_S
    #: Folds; None: the task's (:attr:`finegrain_automl.cv.SplitStrategy.folds`),
    #: else 5, resolved when the search is prepared.
    folds: int | None = None
    #: Passes of the k folds, each with its own shuffle; None: the task's, else
    #: chosen from the data size (:func:`finegrain_automl.cv.auto_repeats`) when
    #: the search is prepared.
    repeats: int | None = None
    seed: int = 0
    test_fraction: float = 0.2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    concurrency: int | None = None
    address: str | None = None
    dashboard: bool = True
    max_epochs: int | None = None
    early_stopping: bool = True
    #: The Optuna sampler (:mod:`finegrain_automl.search.searchers`).
    searcher: str = "tpe"
    #: The Ray Tune scheduler (:mod:`finegrain_automl.search.schedulers`);
    #: ``early_stopping=False`` makes it ``"fifo"``.
    scheduler: str = "asha"
    #: Which leaderboard row is refit: ``"one-se"`` (the simplest model family
    #: within one standard error of the best) or ``"best"`` (rank 1); see
    #: :func:`finegrain_automl.results.select_winner`.
    select: str = "one-se"
    #: Trials an ensemble may draw from: the final model is a greedy ensemble
    #: selection over the out-of-fold predictions of the best ``ensemble``
    #: trials (:mod:`finegrain_automl.ensemble`); 0 refits one trial (``select``).
    ensemble: int = 5
    #: Keep the ensemble only if it beats the best single trial on out-of-fold
    #: rows it was not chosen on (:func:`finegrain_automl.ensemble.check_selection`);
    #: otherwise the ``select`` winner is refit. An ensemble of one is never kept.
    ensemble_check: bool = True

    @property
    def effective_scheduler(self) -> str:
        """The scheduler that runs: ``scheduler``, or ``"fifo"`` without early stopping."""
        return self.scheduler if self.early_stopping else "fifo"

    @property
    def total_folds(self) -> int:
        """Fits per trial: ``folds`` times ``repeats`` (5 and 1 while unresolved)."""
        from finegrain_automl.cv import DEFAULT_FOLDS

        return (self.folds or DEFAULT_FOLDS) * (self.repeats or 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, as saved in the run directory."""
        return asdict(self)


@dataclass(kw_only=True)
class TrialRecord:
    """The outcome of one trial, as the leaderboard needs it."""

    trial_id: str
    config: dict[str, Any]
    status: str  # "completed", "pruned" (stopped by ASHA or the time budget), "failed"
    folds_done: int = 0
    cv_f1: float | None = None
    cv_f1_std: float | None = None
    cv_metrics: dict[str, float] = field(default_factory=dict)
    seconds: float | None = None
    error: str | None = None


@dataclass(kw_only=True)
class SearchProgress:
    """Live counters of a running search, updated from Tune's callbacks."""

    total: int
    folds: int
    time_budget_s: float | None
    launched: float = field(default_factory=time.monotonic)
    started: float = field(default_factory=time.monotonic)  # reset when the trials start
    running: set[str] = field(default_factory=set)
    completed: int = 0
    pruned: int = 0
    failed: int = 0
    best: TrialRecord | None = None
    dashboard_url: str | None = None
    #: How to sign in to the dashboard (token authentication), if it needs it.
    dashboard_sign_in: str | None = None
    phase: str = "starting Ray"
    data_description: str = ""
    records: dict[str, TrialRecord] = field(default_factory=dict)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def remaining(self) -> float | None:
        if self.time_budget_s is None:
            return None
        return max(0.0, self.time_budget_s - self.elapsed)


def _configure_environment(*, local: bool) -> None:
    """Environment Ray reads at import time; set before ``import ray``."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # users' data is often private
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # legacy reporter: verbose=0 prints nothing
    # Ctrl-C stops the search (KeyboardInterrupt) instead of ending it early and refitting.
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")
    if local:
        # A local instance listens on loopback only.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


class RayStartError(FgAutomlError):
    """A local Ray instance could not start (an overloaded machine, no memory or disk)."""


class SearchTerminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, ``docker stop``, Slurm) reached the driver: the
    search stops as it does on Ctrl-C, and the CLI exits with 143."""


def _terminate(signum: int, frame: Any) -> None:
    raise SearchTerminated()


class ray_session:  # noqa: N801 - used as a context manager, like open()
    """Starts (or joins) Ray for one search and shuts it down afterwards.

    Without ``address`` a new local instance starts on 127.0.0.1 with the
    dashboard on loopback; with ``address`` the search joins that cluster.
    An instance someone else started in this process is used and left running.
    While the session is open, SIGTERM in the main thread raises
    :class:`SearchTerminated` (a ``KeyboardInterrupt``): the search ends as on
    Ctrl-C instead of through Ray's own handler, which aborts the process
    with a native stack dump and saves nothing.
    """

    def __init__(self, settings: SearchSettings) -> None:
        self.settings = settings
        self.dashboard_url: str | None = None
        self.dashboard_sign_in: str | None = None
        self._started = False
        self._previous_sigterm: Any = None

    def __enter__(self) -> ray_session:
        _configure_environment(local=self.settings.address is None)
        import optuna  # noqa: F401 - first, so a broken Optuna shows its real error (ray#65376)
        import ray

        if ray.is_initialized():
            return self
        options: dict[str, Any] = {
            "log_to_driver": False,
            "logging_level": logging.ERROR,
        }
        if self.settings.address is None:
            options |= {
                "include_dashboard": self.settings.dashboard,
                "dashboard_host": "127.0.0.1",
            }
        else:
            # Trials may run on other machines: they must not change directory either.
            options["runtime_env"] = {"env_vars": {"RAY_CHDIR_TO_TRIAL_DIR": "0"}}
        if self.settings.address is not None:
            _probe_address(self.settings.address)  # ray.init waits for ever on an address nothing answers
        else:
            secure_auth_token(create=True)  # before Ray writes one readable by every user
        try:
            # "local": a new instance even where `ray start` left one running (ray.init() would join it).
            context = ray.init(address=self.settings.address or "local", **options)
        except Exception as exc:  # noqa: BLE001 - Ray raises bare Exceptions too ("node timed out during startup")
            ray.shutdown()  # whatever part of a local instance did start
            reason = " ".join(str(exc).split())[:200]
            if self.settings.address is not None:
                raise UsageError(
                    f"Could not join the Ray cluster at --address {self.settings.address}: {reason}. Check the "
                    "address (host:port of the head node, e.g. 10.0.0.5:6379) and that the cluster is up."
                ) from None
            raise RayStartError(
                f"Ray did not start on this machine: {reason}. It needs free memory, a few seconds of CPU and "
                "space in /tmp; close other heavy work and run the search again, or start Ray yourself "
                "(`ray start --head --node-ip-address 127.0.0.1`) and pass --address auto."
            ) from None
        self._started = True
        try:
            _check_resources(self.settings)
        except UsageError:
            self.__exit__(None, None, None)
            raise
        url = getattr(context, "dashboard_url", None)
        self.dashboard_url = f"http://{url}" if url else None
        if self.dashboard_url and self.settings.address is None:
            token = secure_auth_token(create=False)
            if token is not None:
                self.dashboard_sign_in = (
                    f"the token in {token} (`ray get-auth-token`), as the ray-authentication-token cookie "
                    "or an Authorization: Bearer header"
                )
        self._catch_sigterm()
        return self

    def _catch_sigterm(self) -> None:
        """After ``ray.init``, which installs Ray's handler: ours replaces it."""
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, _terminate)

    def __exit__(self, *exc: object) -> None:
        import signal

        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None
        if self._started:
            import ray

            ray.shutdown()


def secure_auth_token(*, create: bool) -> Path | None:
    """Makes Ray's dashboard token file readable by its owner only; returns its path.

    Ray (2.59 and later) turns token authentication on for a new local
    instance and writes the token to ``~/.ray/auth_token`` (or
    ``RAY_AUTH_TOKEN_PATH``) readable by every user of the machine; since the
    dashboard accepts job submissions, whoever reads it can run code as this
    user. With ``create`` a missing token is generated here first, with
    Ray's own generator and owner-only permissions, for Ray to use. Returns
    ``None`` when no file holds the token (``RAY_AUTH_MODE=disabled``, a
    token in ``RAY_AUTH_TOKEN``, or a Ray without token authentication).
    """
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled" or os.environ.get("RAY_AUTH_TOKEN"):
        return None
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token").expanduser()
    if create and not path.exists():
        try:
            from ray._private.authentication.authentication_token_generator import (
                generate_new_authentication_token,
            )
        except ImportError:  # a Ray without token authentication
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(generate_new_authentication_token())
    if not path.exists():
        return None
    path.chmod(0o600)
    return path


#: Seconds to wait for a TCP connection to ``--address`` before calling it unreachable.
PROBE_TIMEOUT_S = 5.0


def _probe_address(address: str) -> None:
    """Raises a one-line :class:`UsageError` unless something accepts a TCP
    connection at ``address`` (``host:port``; ``auto`` and ``ray://`` addresses
    are left to Ray, which fails fast for them)."""
    import socket

    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--address {address} is not host:port; give the head node's address, e.g. "
                         "--address 10.0.0.5:6379, or --address auto for a cluster started on this machine.")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as exc:  # TimeoutError included
        reason = (f"no answer within {PROBE_TIMEOUT_S:g} s" if isinstance(exc, TimeoutError)
                  else (exc.strerror or type(exc).__name__).lower())
        raise UsageError(
            f"Nothing answers at --address {address} ({reason}). Check the "
            "head node's host and port (`ray status` on the head prints them) and that the cluster is up, or "
            "drop --address to run on this machine."
        ) from None


def _check_resources(settings: SearchSettings) -> None:
    """Fails fast when no node can ever run one trial (Tune would wait forever)."""
    import ray

    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    for kind, wanted, option in (
        ("CPU", settings.cpus_per_trial, "--cpus-per-trial"),
        ("GPU", settings.gpus_per_trial, "--gpus-per-trial"),
    ):
        largest = max((node.get(kind, 0.0) for node in nodes), default=0.0)
        if wanted > largest:
            fix = f"Use {option} {largest:g} or less." if largest else f"No Ray node has a {kind}: drop {option}."
            raise UsageError(
                f"{option} {wanted:g} asks for more {kind}s than any Ray node has (largest: {largest:g}). {fix}"
            )


def _concurrency(settings: SearchSettings) -> int:
    import ray

    if settings.concurrency is not None:
        return settings.concurrency
    resources = ray.cluster_resources()
    slots = resources.get("CPU", 1) / max(settings.cpus_per_trial, 1e-9)
    if settings.gpus_per_trial > 0:
        slots = min(slots, resources.get("GPU", 0) / settings.gpus_per_trial)
    return max(1, int(math.floor(slots + 1e-9)))


#: Times Tune runs a trial again after it failed for a reason not its own
#: (its worker process or node died); an error of the configuration's own is not retried.
MAX_RETRIES = 2


def run_search(
    *,
    payload: TrialPayload,
    define_by_run: Callable[[Any], dict[str, Any]],
    settings: SearchSettings,
    starting_points: Sequence[Mapping[str, Any]] = (),
    run_dir: Path,
    progress: SearchProgress,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    resume: ResumeState | None = None,
) -> list[TrialRecord]:
    """Runs the trials and returns one record per trial that ended, in start order.

    Must run inside :class:`ray_session`. The Optuna study lives in
    ``run_dir/study.journal`` (Optuna's journal file) and holds every trial's details (see
    :mod:`finegrain_automl.search._study`); Tune's experiment is
    ``run_dir/tune`` (``tune-2`` and on for resumed runs). ``starting_points``
    (flat, possibly partial configurations the space can sample) are
    enqueued in the study and run first; the sampler fills in what they
    leave out. With ``resume`` (:func:`_study.prepare_resume`) the study
    continues: only the trials and seconds left are run, and the records
    include the earlier runs' trials.
    """
    import optuna
    import ray
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from finegrain_automl.search import _study, schedulers, searchers
    from finegrain_automl.search._ray_optuna import fold_aware_searcher
    from finegrain_automl.trial import FailureNotes

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    session = resume.session if resume else 1
    trials = settings.trials - (resume.finished if resume else 0)
    budget = settings.time_budget_s
    if budget is not None and resume is not None:
        budget = budget - resume.spent_s
    folds = settings.total_folds
    if trials <= 0 or (budget is not None and budget <= 0):  # a resumed search that had nothing left
        return _study.load_records(run_dir, folds=folds)
    concurrency = _concurrency(settings)
    sampler = searchers.get(settings.searcher).make_sampler(
        # A resumed run draws anew: the same seed would repeat the first run's random start.
        seed=settings.seed + 1000 * (session - 1), trials=settings.trials, concurrency=concurrency
    )
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(
        ray.get_runtime_context().get_node_id(), soft=False)
    notes = ray.remote(num_cpus=0)(FailureNotes).options(scheduling_strategy=here).remote()
    payload = dataclasses.replace(payload, failures=notes)
    searcher = fold_aware_searcher(
        OptunaSearch, folds=folds, finished=lambda result: _finished_status(result, folds=folds) == "completed",
        session=session, error_of=lambda trial_id: ray.get(notes.get.remote(trial_id)),
    )(
        space=define_by_run,
        metric=METRIC,
        mode="max",
        sampler=sampler,
        study_name=_study.STUDY_NAME,
        storage=_study.storage(run_dir),
        # Resumed: unstarted starting points are still queued in the study.
        points_to_evaluate=[dict(point) for point in starting_points] if starting_points and not resume else None,
    )
    scheduler = schedulers.get(settings.effective_scheduler).make_scheduler(
        folds=folds, first_rung=first_rung(settings)
    )
    trainable = _worker_class(payload, notes, resources=trial_resources(settings))
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="max",
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=trials,
            max_concurrent_trials=concurrency,
            time_budget_s=budget,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name="tune" if session == 1 else f"tune-{session}",
            storage_path=str(run_dir),
            verbose=0,
            callbacks=[_progress_callback(progress, folds=settings.total_folds, on_result=on_result)],
            failure_config=tune.FailureConfig(max_failures=MAX_RETRIES, fail_fast=False),
        ),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        searcher._ot_study.set_metric_names([METRIC])  # optuna-dashboard's name for the value
    try:
        tuner.fit()
    finally:
        ray.kill(notes)
    _study.stop_running(run_dir, session=session)  # what the time budget cut short
    return _study.load_records(run_dir, folds=folds)


def _worker_class(payload: TrialPayload, notes: Any, *, resources: Mapping[str, float]) -> type:
    """Tune's trainable for ``payload``'s trials, as a class whose workers are
    named ``fg-automl worker N`` in the Ray dashboard.

    Workers are reused from trial to trial (``reuse_actors=True``) and an
    actor's name is fixed when it starts, so naming it after its first trial
    would be wrong from its second trial on; the worker's log says which
    trial it runs (:func:`~finegrain_automl.trial.tune_trainable`).
    """
    import ray
    from ray import tune
    from ray.tune.trainable import wrap_function

    base = wrap_function(tune.with_parameters(tune_trainable, payload=payload))
    request = tune.PlacementGroupFactory([{key.upper(): value for key, value in resources.items()}])

    class TrialWorker(base):  # type: ignore[misc, valid-type]
        @classmethod
        def default_resource_request(cls, config: dict[str, Any]) -> Any:
            return request  # what tune.with_resources would set, without renaming the class

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._slot = ray.get(notes.worker_slot.remote())
            super().__init__(*args, **kwargs)

        def __repr__(self) -> str:
            return f"fg-automl worker {getattr(self, '_slot', '?')}"

    TrialWorker.__name__ = "fg_automl_trial"  # Tune names trials and their folders after it
    TrialWorker.__qualname__ = "FgAutomlTrialWorker"  # the actors' class in the Ray dashboard
    return TrialWorker


def trial_resources(settings: SearchSettings) -> dict[str, float]:
    """What each trial asks Ray for: ``--cpus-per-trial`` CPUs and
    ``--gpus-per-trial`` GPUs, fractions kept (0.5: two trials share a GPU)."""
    resources = {"cpu": float(settings.cpus_per_trial)}
    if settings.gpus_per_trial > 0:
        resources["gpu"] = float(settings.gpus_per_trial)
    return resources


def first_rung(settings: SearchSettings) -> int:
    """Folds a trial completes before ASHA may stop it.

    Half the folds, rounded up (3 of 5); with repeated folds, one whole pass
    (every development row scored once). One fold's F1 is too noisy to stop a
    configuration on: on the fraud data, with ASHA's first rung after one
    fold, 1 of 19 trials completed in the default budget, and the stopped ones
    included a starting point with fold F1 0.720 while the one that completed
    ended at 0.692.
    """
    from finegrain_automl.cv import DEFAULT_FOLDS

    folds = settings.folds or DEFAULT_FOLDS
    return folds if (settings.repeats or 1) > 1 else math.ceil(folds / 2)


def _finished_status(result: dict[str, Any], *, folds: int) -> str:
    """A trial that ended without error: ``completed`` if every fold ran, else ``pruned``."""
    return "completed" if int(result.get("folds_done", 0)) >= folds else "pruned"


def _make_record(
    trial_id: str, config: dict[str, Any], metrics: dict[str, Any], *, error: Any, folds: int
) -> TrialRecord:
    message = None
    if error is not None:
        lines = str(error).strip().splitlines()
        message = lines[-1][:300] if lines else type(error).__name__
    return TrialRecord(
        trial_id=trial_id,
        config=dict(config),
        status="failed" if error is not None else _finished_status(metrics, folds=folds),
        folds_done=int(metrics.get("folds_done", 0)),
        cv_f1=metrics.get(METRIC),
        cv_f1_std=metrics.get("cv_f1_std"),
        cv_metrics={k: v for k, v in metrics.items() if k.startswith("cv_") and k not in (METRIC, "cv_f1_std")},
        seconds=metrics.get("time_total_s"),
        error=message,
    )


def _progress_callback(
    progress: SearchProgress,
    *,
    folds: int,
    on_result: Callable[[dict[str, Any]], None] | None,
) -> Any:
    """Returns a Tune callback that keeps ``progress`` current (driver side).

    The class is built here because ``ray`` may only be imported after
    :func:`_configure_environment`.
    """
    from ray.tune import Callback

    class ProgressCallback(Callback):
        def __init__(self) -> None:
            self.progress = progress
            self.folds = folds
            self.on_result = on_result

        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self.progress.running.add(trial.trial_id)

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            if self.on_result is not None:
                self.on_result(
                    {
                        "trial_id": trial.trial_id,
                        "config": dict(trial.config),
                        "folds_done": result.get("folds_done"),
                        "cv_f1": result.get(METRIC),
                        "cv_f1_std": result.get("cv_f1_std"),
                        "fold_seconds": result.get("fold_seconds"),
                    }
                )

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            record = self._finished(trial, error=None)
            if record.status == "completed":
                self.progress.completed += 1
                best = self.progress.best
                if record.cv_f1 is not None and (best is None or record.cv_f1 > (best.cv_f1 or -1.0)):
                    self.progress.best = record
            else:
                self.progress.pruned += 1

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._finished(trial, error=getattr(trial, "error_msg", None) or "trial failed")
            self.progress.failed += 1

        def _finished(self, trial: Any, *, error: Any) -> TrialRecord:
            self.progress.running.discard(trial.trial_id)
            record = _make_record(
                trial.trial_id, trial.config, trial.last_result or {}, error=error, folds=self.folds
            )
            self.progress.records[trial.trial_id] = record
            return record

    return ProgressCallback()
