"""Overhead of fg-automl's Ray Tune search against a plain Optuna loop.

Both sides run the same configurations (same model family, data, folds and
epochs; only the sampled learning rate, width, etc. differ) through the very
same trial code (:func:`finegrain_automl.trial.cross_validate`), with the same
concurrency, side by side in one process run:

- plain: one process, ``optuna.Study.optimize(n_jobs=concurrency)``;
- fg-automl: a local Ray instance, Ray Tune + OptunaSearch (the configurations
  enqueued in its study) with ASHA off, so both sides do identical work;
- ideal: the same configurations one after another in this (warm) process,
  with the thread count a trial gets, divided by the concurrency: what perfect
  parallel workers with no search machinery would take. Issue 12's target is
  fg-automl (Ray already up) within 1.1x of it at concurrency 2.
- forked workers: the same configurations split over ``concurrency`` processes
  forked from this warm one, each running its share one after another with
  no search machinery at all, then the same with each pinned to a core of its
  own: what this machine itself allows in parallel, so the gap between it and
  the ideal is the hardware's, not fg-automl's.

The fg-automl rows also split its time: the trials' own work (the sum of their
fold times, as the trials measured them, divided by the concurrency) and the
rest (worker start, scheduling, result round trips, the searcher).

Usage::

    .venv/bin/python benchmarks/overhead.py [--trials 20] [--concurrency 2] [--folds 5] [--epochs 2]

Prints a table of wall times and their ratio. Not a test: timings vary.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
warnings.filterwarnings("ignore", message=".*LeafSpec.*")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="fraud")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--model", default="resmlp")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import optuna
    from rich.console import Console
    from rich.table import Table

    from finegrain_automl.api import DataOptions, make_payload, prepare_search
    from finegrain_automl.plugins import make_registry
    from finegrain_automl.search import SearchProgress, SearchSettings, ray_session, run_search
    from finegrain_automl.space import Space
    from finegrain_automl.trial import cross_validate

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    console = Console()
    registry = make_registry()
    settings = SearchSettings(
        trials=args.trials,
        time_budget_s=None,
        folds=args.folds,
        seed=args.seed,
        concurrency=args.concurrency,
        dashboard=False,
        early_stopping=False,
    )
    started = time.perf_counter()
    prepared = prepare_search(registry, task_name=args.task, settings=settings, data=DataOptions())
    prepare_s = time.perf_counter() - started

    # One model family, fixed epochs: the configurations differ only in the family's
    # and the optimiser's hyperparameters.
    raw = prepared.space.to_dict()
    raw["model"] = {"choice": {args.model: raw["model"]["choice"][args.model]}}
    raw["epochs"] = args.epochs
    space = Space.from_dict(raw, source="benchmark space")
    sampler_study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=args.seed))
    configs = [space.sample(sampler_study.ask()) for _ in range(args.trials)]

    payload = make_payload(prepared)

    def run_all(to_run: list[dict]) -> None:
        for config in to_run:
            for _ in cross_validate(payload, config):
                pass

    # Ideal: one warm process, sequential (a first configuration warms it up untimed).
    console.print(f"[bold]ideal[/]: {args.trials} trials one after another, / {args.concurrency} ...")
    run_all(configs[:1])
    t0 = time.perf_counter()
    run_all(configs)
    ideal_s = (time.perf_counter() - t0) / args.concurrency

    forked_s = _forked(run_all, configs, workers=args.concurrency, pin=False)
    pinned_s = _forked(run_all, configs, workers=args.concurrency, pin=True)

    # Plain Optuna loop, one process, threads for concurrency.
    plain_study = optuna.create_study(direction="maximize")
    for config in configs:
        plain_study.enqueue_trial(config)

    def objective(trial: optuna.Trial) -> float:
        config = space.sample(trial)
        result = None
        for result in cross_validate(payload, config):
            pass
        return result.cv_f1

    console.print(f"[bold]plain Optuna loop[/]: {args.trials} trials, n_jobs={args.concurrency} ...")
    t0 = time.perf_counter()
    plain_study.optimize(objective, n_trials=args.trials, n_jobs=args.concurrency)
    plain_s = time.perf_counter() - t0

    # fg-automl: Ray Tune + OptunaSearch, the same configurations enqueued in its study.
    console.print(f"[bold]fg-automl (Ray Tune)[/]: {args.trials} trials, concurrency {args.concurrency} ...")
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        from finegrain_automl.search._study import STUDY_NAME, storage

        study = optuna.create_study(study_name=STUDY_NAME, storage=storage(run_dir), direction="maximize")
        for config in configs:
            study.enqueue_trial(config)
        progress = SearchProgress(total=args.trials, folds=args.folds, time_budget_s=None)
        fold_seconds: list[float] = []
        t0 = time.perf_counter()
        with ray_session(settings):
            t_ray = time.perf_counter()
            records = run_search(
                payload=payload,
                define_by_run=space.define_by_run(),
                settings=settings,
                run_dir=run_dir,
                progress=progress,
                on_result=lambda result: fold_seconds.append(float(result["fold_seconds"])),
            )
            search_s = time.perf_counter() - t_ray
        ray_total_s = time.perf_counter() - t0

    def key(config: dict) -> str:
        return repr(sorted((k, v) for k, v in config.items()))

    plain_by_config = {key(t.params | {"epochs": args.epochs}): t.value for t in plain_study.trials}
    ray_by_config = {key(r.config): r.cv_f1 for r in records}
    matched = [(plain_by_config[k], v) for k, v in ray_by_config.items() if k in plain_by_config]
    differences = [abs(a - b) for a, b in matched if a is not None and b is not None]

    table = Table(title=f"Overhead: {args.trials} trials x {args.folds} folds, {args.model}, "
                  f"{args.epochs} epochs, concurrency {args.concurrency}, {os.cpu_count()} CPUs")
    for column in ("runner", "wall s", "s / trial", "ratio to plain", "ratio to ideal"):
        table.add_column(column, justify="right")
    rows = [
        (f"ideal (sequential / {args.concurrency})", ideal_s),
        ("forked workers, no search machinery", forked_s),
        ("forked workers, each pinned to a core", pinned_s),
        ("plain Optuna loop", plain_s),
        ("fg-automl search (incl. Ray start)", ray_total_s),
        ("fg-automl search (Ray already up)", search_s),
    ]
    for name, seconds in rows:
        table.add_row(name, f"{seconds:.1f}", f"{seconds / args.trials:.2f}",
                      f"{seconds / plain_s:.2f}", f"{seconds / ideal_s:.2f}")
    console.print(table)
    work_s = sum(fold_seconds) / args.concurrency
    console.print(
        f"fg-automl, Ray up: the trials' folds took {work_s:.1f} s per worker "
        f"({work_s / ideal_s:.2f}x the ideal's; >1 means folds run slower in workers than in one process), "
        f"the rest {search_s - work_s:.1f} s ({len(fold_seconds)} fold results)"
    )
    console.print(f"data preparation (both sides, not timed above): {prepare_s:.1f} s")
    console.print(
        f"configurations run by both: {len(matched)} of {args.trials}; mean |CV F1 difference| "
        f"{sum(differences) / max(1, len(differences)):.4f} (the plain loop's threads share torch's "
        "global RNG, so its results are not reproducible; each Ray trial runs in its own process)"
    )
    sys.exit(0)


def _forked(run_all, configs: list[dict], *, workers: int, pin: bool) -> float:
    """Seconds for ``workers`` processes forked from this warm one to run
    ``configs`` (each every ``workers``-th one, in turn), side by side."""
    import multiprocessing

    def work(index: int, start) -> None:
        if pin:
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[index % len(os.sched_getaffinity(0))]})
        start.wait()
        run_all(configs[index::workers])

    context = multiprocessing.get_context("fork")
    start = context.Event()
    processes = [context.Process(target=work, args=(index, start)) for index in range(workers)]
    for process in processes:
        process.start()
    time.sleep(1.0)  # every worker forked and waiting
    t0 = time.perf_counter()
    start.set()
    for process in processes:
        process.join()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
