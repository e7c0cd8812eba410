"""A search observer: one JSON line per search event, appended to a file.

The plugin implements the three observer hooks of
:mod:`finegrain_automl.hookspecs` and writes, for each call, one line::

    {"event": "start", "time": "2026-12-07T08:53:20.123+00:00", "task": "fraud",
     "run_dir": "...", "settings": {...}}
    {"event": "trial_result", "time": ..., "task": "fraud", "trial_id": "98ef7587",
     "config": {...}, "folds_done": 1, "cv_f1": 0.71, "cv_f1_std": 0.0, "fold_seconds": 4.2}
    {"event": "end", "time": ..., "task": "fraud", "run_dir": "...", "trials": {...},
     "best": {...}, "final": {...}, "elapsed_s": 81.3}

(each on one line) to ``<run_dir>/trial-log.jsonl``, or to the file the
environment variable ``FG_TRIAL_LOG`` names (read at each event; its folder
is created). Each line goes to the file in one ``write`` call on a file opened
for appending, with no buffer in between, so ``tail -f`` shows it at once and
searches that share a file do not split each other's lines.

Writing never raises into the search: a line that cannot be written is
dropped, with one warning per file on this module's logger.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finegrain_automl import hookimpl

__all__ = [
    "END_KEYS",
    "FILE_NAME",
    "LOG_ENV",
    "fg_automl_search_end",
    "fg_automl_search_start",
    "fg_automl_trial_result",
    "log_path",
]

#: The finegrain-automl plugin API this plugin was written for.
fg_automl_api = "1.0"

#: The log's name in the run directory.
FILE_NAME = "trial-log.jsonl"
#: The environment variable that names another file for the log.
LOG_ENV = "FG_TRIAL_LOG"
#: The sections of the run record (``summary``) an ``end`` line carries, those present;
#: the whole record is the run directory's ``run.json``.
END_KEYS: tuple[str, ...] = ("run_dir", "trials", "best", "ensemble", "final", "elapsed_s", "interrupted")

log = logging.getLogger(__name__)
_warned: set[str] = set()


def log_path(run_dir: Path) -> Path:
    """The file the events of the search in ``run_dir`` go to: ``$FG_TRIAL_LOG`` when set
    and not empty (relative to the working directory), else ``run_dir/trial-log.jsonl``."""
    named = os.environ.get(LOG_ENV, "").strip()
    return Path(named).expanduser().absolute() if named else Path(run_dir) / FILE_NAME


@hookimpl
def fg_automl_search_start(task_name: str, run_dir: Path, settings: Mapping[str, Any]) -> None:
    """Called before the first trial: writes a ``start`` line with the run directory and settings."""
    _append(run_dir, "start", task_name, {"run_dir": str(run_dir), "settings": dict(settings)})


@hookimpl
def fg_automl_trial_result(task_name: str, run_dir: Path, trial: Mapping[str, Any]) -> None:
    """Called each time a trial reports a fold: writes a ``trial_result`` line with the trial's fields."""
    _append(run_dir, "trial_result", task_name, dict(trial))


@hookimpl
def fg_automl_search_end(task_name: str, run_dir: Path, summary: Mapping[str, Any]) -> None:
    """Called once the winner is saved: writes an ``end`` line with the :data:`END_KEYS` of the summary."""
    _append(run_dir, "end", task_name, {key: summary[key] for key in END_KEYS if key in summary})


def _append(run_dir: Path, event: str, task_name: str, payload: Mapping[str, Any]) -> None:
    """Appends one event line; logs a warning (once per file) instead of raising."""
    path = log_path(run_dir)
    time = datetime.now(UTC).isoformat(timespec="milliseconds")
    fields = {"event": event, "time": time, "task": task_name}
    # The event's own fields first, for `tail -f`; a payload key of the same name cannot replace them.
    event_line = {**fields, **{key: value for key, value in payload.items() if key not in fields}}
    line = json.dumps(_json_safe(event_line), allow_nan=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, (line + "\n").encode("utf-8"))
        finally:
            os.close(descriptor)
    except OSError as exc:
        if str(path) not in _warned:
            _warned.add(str(path))
            log.warning("trial-log: cannot write %s (%s: %s); search events are not logged there. "
                        "Set %s to a writable file.", path, type(exc).__name__, exc, LOG_ENV)


def _json_safe(value: Any) -> Any:
    """``value`` as strict JSON: NaN and infinities become ``null``, numpy scalars and
    arrays plain numbers and lists, anything else unknown its ``str``."""
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if hasattr(value, "tolist") and hasattr(value, "ndim"):  # numpy scalars and arrays (no numpy import)
        return _json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float)):
        return value
    return str(value)
