"""Detection baselines of ``benchmarks/quality.py``: each family's untuned default.

A family's default configuration is ``{"model": family}``: its builder's
defaults (``fg_automl_detection._networks``) and the task's training defaults
(``fg_automl_detection._detector.training_options``: torchvision's reference
recipe where it applies to training from scratch). Each is fitted exactly as
the search refits its winner (``finegrain_automl.results.refit``: every
development row, the fit's own held-out share for the best epoch and the
score threshold) and scored once on the test rows of the same split. The fits
run in ``workers`` processes (one thread each, as a search trial), each
preparing the same seeded split again.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

DET_TASK = "detection"
#: The detection tables' metrics: the task's names and their headings.
DET_METRICS = {"f1": "F1", "map_50": "mAP@0.5", "map": "mAP"}


def _default_fit(family: str, seed: int) -> tuple[dict[str, float], float]:
    """Test metrics and seconds of ``family``'s default configuration on seed ``seed``'s split."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from finegrain_automl.api import DataOptions, make_payload, prepare_search
    from finegrain_automl.plugins import make_registry
    from finegrain_automl.results import refit
    from finegrain_automl.search import SearchSettings

    registry = make_registry()
    prepared = prepare_search(registry, task_name=DET_TASK, settings=SearchSettings(seed=seed, dashboard=False),
                              data=DataOptions())
    started = time.perf_counter()
    result = refit(make_payload(prepared), {"model": family}, development=prepared.splits.development,
                   test=prepared.splits.test)
    return result.test_metrics, time.perf_counter() - started


def family_defaults(families: list[str], seed: int, *, workers: int, report: Any = None
                    ) -> dict[str, dict[str, Any]]:
    """``{family: {"test": metrics, "seconds": s}}`` for each family's default configuration."""
    results: dict[str, dict[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {family: pool.submit(_default_fit, family, seed) for family in families}
        for family, future in futures.items():
            metrics, seconds = future.result()
            results[family] = {"test": metrics, "seconds": seconds}
            if report is not None:
                report(family, results[family])
    return results


def det_table(rows: list[dict]):
    """Per seed: the search's final model and each family's default, test F1, mAP@0.5 and mAP."""
    from rich.table import Table

    table = Table(title="detection: test metrics of the default search and of each family's untuned default "
                        "(same split)")
    for column in ("seed", "model", "setting", *DET_METRICS.values(), "seconds"):
        table.add_column(column, justify="left" if column in ("model", "setting") else "right")
    for row in rows:
        search = row.get("search")
        if search:
            table.add_row(str(row["seed"]), "search", f"{search['final']}, CV {search['cv']}",
                          *(f"{search['test_metrics'][m]:.4f}" for m in DET_METRICS), f"{search['wall_s']:.0f}")
        for family, scored in row["det"].items():
            table.add_row(str(row["seed"]), f"{family} default", "untuned",
                          *(f"{scored['test'][m]:.4f}" for m in DET_METRICS), f"{scored['seconds']:.0f}")
    return table


def det_difference_table(rows: list[dict]):
    """Per family: mean over seeds of (search - the family's default) test F1 and mAP@0.5, with wins."""
    import numpy as np
    from rich.table import Table

    table = Table(title="detection: search - each family's untuned default, mean over seeds (± standard error)")
    for column in ("baseline", "F1 diff", "mAP@0.5 diff", "wins/ties/losses (F1)"):
        table.add_column(column, justify="left" if column == "baseline" else "right")
    searched = [row for row in rows if row.get("search")]
    for family in (searched[0]["det"] if searched else {}):
        cells = []
        for metric in ("f1", "map_50"):
            diffs = np.array([r["search"]["test_metrics"][metric] - r["det"][family]["test"][metric] for r in searched])
            error = f" ± {diffs.std(ddof=1) / np.sqrt(len(diffs)):.4f}" if len(diffs) > 1 else " (one seed)"
            cells.append(f"{diffs.mean():+.4f}{error}")
        f1 = [r["search"]["test_metrics"]["f1"] - r["det"][family]["test"]["f1"] for r in searched]
        cells.append(f"{sum(d > 0 for d in f1)}/{sum(d == 0 for d in f1)}/{sum(d < 0 for d in f1)}")
        table.add_row(f"{family} default", *cells)
    return table
