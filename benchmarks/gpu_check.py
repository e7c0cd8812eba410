"""GPU check: a short real search of each task with 1, 2 and 4 trials per GPU.

For each task and each share of a GPU per trial (1, 0.5, 0.25) it runs the
task's default search on its built-in data, on a local Ray instance that
sees this machine's GPUs, for a fixed time budget, and prints:

- trials per minute (trials that ended, completed or pruned, per minute of
  the trial phase);
- how many trials completed and the best CV F1;
- the peak GPU memory in use (``nvidia-smi``, sampled every 0.5 s, all GPUs
  summed) and the GPUs' mean utilisation over the trial phase.

Usage (on a machine with an NVIDIA GPU)::

    .venv/bin/python benchmarks/gpu_check.py [--tasks fraud text ...] [--budget 90] [--trials 40]

Not a test. Without a GPU it says so and exits with 1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
warnings.filterwarnings("ignore", message=".*LeafSpec.*")

TASKS = ("fraud", "disease_risk", "text", "recommendation", "detection")
SHARES = (1.0, 0.5, 0.25)


class GpuSampler:
    """Samples ``nvidia-smi`` every ``period`` seconds in a thread: peak MiB used, mean utilisation."""

    def __init__(self, period: float = 0.5) -> None:
        self.period = period
        self.peak_mib = 0.0
        self.utilisation: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=memory.used,utilization.gpu", "--format=csv,noheader,nounits"],
                capture_output=True, text=True, check=False,
            ).stdout
            rows = [[float(x) for x in line.split(",")] for line in out.strip().splitlines() if line.strip()]
            if rows:
                self.peak_mib = max(self.peak_mib, sum(r[0] for r in rows))
                self.utilisation.append(sum(r[1] for r in rows) / len(rows))

    def __enter__(self) -> GpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--shares", nargs="+", type=float, default=list(SHARES),
                        help="GPU share per trial (1: one trial per GPU, 0.5: two...)")
    parser.add_argument("--budget", type=float, default=90.0, help="seconds of trials per search")
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args()

    import torch

    if shutil.which("nvidia-smi") is None or not torch.cuda.is_available():
        print("No NVIDIA GPU here (nvidia-smi or CUDA missing): run this on a GPU machine.", file=sys.stderr)
        return 1
    from rich.console import Console
    from rich.table import Table

    from finegrain_automl.api import DataOptions, prepare_search, run_prepared_search
    from finegrain_automl.plugins import make_registry
    from finegrain_automl.search import SearchSettings

    console = Console()
    gpus = torch.cuda.device_count()
    cpus = os.cpu_count() or 1
    console.print(f"{gpus} x {torch.cuda.get_device_name(0)}, {cpus} CPUs; {args.budget:g} s of trials per search")
    registry = make_registry()
    table = Table(title="fg-automl on GPUs: default searches, built-in data")
    for column in ("task", "trials/GPU", "concurrency", "ended", "completed", "trials/min", "best CV F1",
                   "peak GPU MiB", "mean GPU util %"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for task in args.tasks:
        for share in args.shares:
            per_gpu = round(1 / share)
            concurrency = gpus * per_gpu
            settings = SearchSettings(
                trials=args.trials, time_budget_s=args.budget, gpus_per_trial=share,
                cpus_per_trial=max(1.0, float(cpus // concurrency)), concurrency=concurrency,
                dashboard=False, ensemble=0,
            )
            prepared = prepare_search(registry, task_name=task, settings=settings, data=DataOptions())
            with tempfile.TemporaryDirectory() as output, GpuSampler() as sampler:
                started = time.monotonic()
                record = run_prepared_search(prepared, registry, output=Path(output))
                wall = time.monotonic() - started
            counts = record.trials
            ended = counts.completed + counts.pruned
            minutes = min(args.budget, wall) / 60
            util = sum(sampler.utilisation) / len(sampler.utilisation) if sampler.utilisation else float("nan")
            table.add_row(task, str(per_gpu), str(concurrency), str(ended), str(counts.completed),
                          f"{ended / minutes:.1f}", f"{record.best.cv_f1_mean:.4f}" if record.best else "-",
                          f"{sampler.peak_mib:.0f}", f"{util:.0f}")
            console.print(f"{task}, {per_gpu} trial(s) per GPU: {ended} trials ended, {counts.failed} failed, "
                          f"{wall:.0f} s with the refit")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
