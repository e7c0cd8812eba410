"""Search efficiency: TPE + ASHA against random search without early stopping.

For every task and seed named, two searches of each task's default space run
one after the other on the same data, folds and time budget, with the same
settings except the searcher and scheduler:

- ``TPE+ASHA``: ``--searcher tpe --scheduler asha`` (the defaults);
- ``random``: ``--searcher random --scheduler fifo`` (every trial runs every fold).

Neither gets the task's starting points (hand-picked configurations would
measure the task author, not the searcher), and neither builds an ensemble.
An observer on the ``fg_automl_trial_result`` hook records when each trial
completes its last fold, so the best CV F1 so far is known against wall time
(from the first report of the search) and against completed trials.

Per task and seed it prints each arm's best CV F1, completed trials, and the
time TPE+ASHA took to reach random search's final best ("-" if it never did)
as a share of random search's wall time; then the means over seeds. The
issue's target: at most a third. TPE+ASHA's time is counted from its first
report (after Ray's start and the first fold); random search's wall time from
the start of its search to the end of its trials (Ray's start included, the
refit not), so the share favours TPE+ASHA by Ray's start and one fold, a few
seconds of a few minutes.

Usage::

    .venv/bin/python benchmarks/efficiency.py [--tasks fraud disease_risk] [--seeds 0 1 2] [--time-budget 240]

About ``2 x tasks x seeds x (budget + 30 s)`` on 2 cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from finegrain_automl import hookimpl  # noqa: E402  (after the Ray settings above)

ARMS = {"TPE+ASHA": ("tpe", "asha"), "random": ("random", "fifo")}


class _Completions:
    """Hook implementation: (seconds since the first report, CV F1) of each trial's last fold."""

    def __init__(self, folds: int) -> None:
        self.folds = folds
        self.started: float | None = None
        self.done: list[tuple[float, float]] = []

    @hookimpl
    def fg_automl_trial_result(self, trial: dict) -> None:
        now = time.monotonic()
        self.started = self.started if self.started is not None else now
        if int(trial.get("folds_done", 0)) >= self.folds and trial.get("cv_f1") is not None:
            self.done.append((now - self.started, float(trial["cv_f1"])))


def run_arm(task_name: str, seed: int, arm: str, budget: float) -> dict:
    """One search of ``task_name`` with ``arm``'s searcher and scheduler; its completions in time order."""
    from finegrain_automl.api import DataOptions, NoCompletedTrialError, prepare_search, run_prepared_search
    from finegrain_automl.plugins import make_registry
    from finegrain_automl.search import SearchSettings

    searcher, scheduler = ARMS[arm]
    observer = _Completions(folds=0)
    registry = make_registry(plugins=[("efficiency-observer", observer)])
    settings = SearchSettings(seed=seed, time_budget_s=budget, trials=1000, dashboard=False, ensemble=0,
                              searcher=searcher, scheduler=scheduler)
    prepared = prepare_search(registry, task_name=task_name, settings=settings, data=DataOptions())
    prepared = dataclasses.replace(prepared, starting_points=())
    observer.folds = prepared.settings.total_folds
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            record = run_prepared_search(prepared, registry, output=Path(tmp))
        except NoCompletedTrialError:  # nothing completed in the budget: an empty curve
            return {"done": [], "wall_s": time.monotonic() - started, "completed": 0, "total": None}
    wall = time.monotonic() - started - record.final.refit_seconds
    return {"done": sorted(observer.done), "wall_s": wall, "completed": record.trials.completed,
            "total": record.trials.total}


def best_so_far(done: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(time, best CV F1 up to then) at each completion."""
    curve, best = [], float("-inf")
    for t, f1 in done:
        best = max(best, f1)
        curve.append((t, best))
    return curve


def time_to_reach(done: list[tuple[float, float]], target: float) -> float | None:
    """When the best CV F1 first reached ``target`` (None if never)."""
    return next((t for t, best in best_so_far(done) if best >= target - 1e-12), None)


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["fraud", "disease_risk"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--time-budget", type=float, default=240.0, help="Seconds of trials per search.")
    args = parser.parse_args()
    console = Console()
    table = Table(title=f"TPE+ASHA against random search (no early stopping), {args.time_budget:.0f} s each")
    for column in ("task", "seed", "random best CV F1", "random trials", "TPE+ASHA best CV F1",
                   "TPE+ASHA trials (completed/started)", "TPE+ASHA time to random's best", "share of random's time"):
        table.add_column(column, justify="left" if column == "task" else "right")
    shares: dict[str, list[float]] = {}
    for task_name in args.tasks:
        for seed in args.seeds:
            runs = {}
            for arm in ARMS:
                console.print(f"{task_name}, seed {seed}: {arm} ...")
                runs[arm] = run_arm(task_name, seed, arm, args.time_budget)
                best = max((f1 for _, f1 in runs[arm]["done"]), default=float("nan"))
                console.print(f"  best CV F1 {best:.4f}, {runs[arm]['completed']} of {runs[arm]['total']} trials "
                              f"complete, {runs[arm]['wall_s']:.0f} s")
            random_best = max((f1 for _, f1 in runs["random"]["done"]), default=float("nan"))
            tpe = runs["TPE+ASHA"]
            reached = time_to_reach(tpe["done"], random_best)
            share = reached / runs["random"]["wall_s"] if reached is not None else None
            if share is not None:
                shares.setdefault(task_name, []).append(share)
            table.add_row(
                task_name, str(seed), f"{random_best:.4f}", str(runs["random"]["completed"]),
                f"{max((f1 for _, f1 in tpe['done']), default=float('nan')):.4f}",
                f"{tpe['completed']}/{tpe['total']}", "-" if reached is None else f"{reached:.0f} s",
                "-" if share is None else f"{share:.2f}",
            )
    console.print(table)
    for task_name, values in shares.items():
        console.print(f"{task_name}: TPE+ASHA reached random search's best in {statistics.mean(values):.2f} of its "
                      f"time on average ({len(values)} of {len(args.seeds)} seeds reached it)")


if __name__ == "__main__":
    main()
